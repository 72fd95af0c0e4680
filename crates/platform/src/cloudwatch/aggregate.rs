//! CloudWatch's arithmetic on stored minutes, without IO: which rows a metric's dimensions
//! select, how minutes fold into periods, each period's statistics (percentiles from the
//! merged buckets), and which metrics ListMetrics names for the series kept.
//!
//! Dimension sets are Lambda's: none (the account), `FunctionName`, `FunctionName` +
//! `Resource` (`name:qualifier`, for invocations through an alias or a version), and
//! `FunctionName` + `Resource` + `ExecutedVersion` (for invocations through an alias).

use std::collections::{BTreeMap, BTreeSet};

use lamina_model::cloudwatch::{Dimension, DimensionFilter, Metric, Statistic};
use lamina_store::{Minute, SeriesKey};

use super::collect::ACCOUNT_ROWS;
use crate::metrics::minutes::{bucket_value, decode_into};

/// Lambda's three dimensions.
const DIMENSIONS: [&str; 3] = ["FunctionName", "Resource", "ExecutedVersion"];

/// What a metric's dimensions ask for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Selection {
    pub(crate) function: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) version: Option<String>,
}

impl Selection {
    /// Reads dimensions; `None` for a set Lambda never publishes (such a metric has no
    /// data, as in CloudWatch).
    pub(crate) fn of(dimensions: &[Dimension]) -> Option<Selection> {
        let mut s = Selection::default();
        for d in dimensions {
            let slot = match d.name.as_str() {
                "FunctionName" => &mut s.function,
                "Resource" => &mut s.resource,
                "ExecutedVersion" => &mut s.version,
                _ => return None,
            };
            if slot.replace(d.value.clone()).is_some() {
                return None;
            }
        }
        let published = match (&s.function, &s.resource, &s.version) {
            (None, None, None) | (Some(_), None, None) => true,
            (Some(f), Some(r), _) => r
                .strip_prefix(f.as_str())
                .and_then(|q| q.strip_prefix(':'))
                .is_some_and(|q| !q.is_empty()),
            _ => false,
        };
        published.then_some(s)
    }

    /// Whether the row is part of this selection's figure for `metric`.
    pub(crate) fn admits(&self, m: &Minute) -> bool {
        let Some(function) = &self.function else {
            // The account: its own row where it has one, else every function's.
            return if ACCOUNT_ROWS.contains(&m.key.metric.as_str()) {
                m.key.function.is_empty()
            } else {
                !m.key.function.is_empty()
            };
        };
        if &m.key.function != function {
            return false;
        }
        if let Some(resource) = &self.resource
            && format!("{}:{}", m.key.function, m.key.resource) != *resource
        {
            return false;
        }
        self.version.as_ref().is_none_or(|v| &m.key.version == v)
    }
}

/// One period's figures, merged from its minutes.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Period {
    pub(crate) count: f64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) buckets: BTreeMap<usize, u64>,
}

impl Period {
    fn merge(&mut self, m: &Minute) {
        if self.count == 0.0 {
            self.min = m.min;
            self.max = m.max;
        } else {
            self.min = self.min.min(m.min);
            self.max = self.max.max(m.max);
        }
        self.count += m.count;
        self.sum += m.sum;
        decode_into(&m.buckets, &mut self.buckets);
    }

    /// A statistic of the period.
    pub(crate) fn stat(&self, s: Statistic) -> f64 {
        match s {
            Statistic::SampleCount => self.count,
            Statistic::Sum => self.sum,
            Statistic::Average => self.sum / self.count.max(1.0),
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
            Statistic::Percentile(p) => self.percentile(p),
        }
    }

    /// The `p`th percentile: the bucket holding that rank, clamped to the exact extremes.
    /// Without buckets (counts and peaks, whose values are all alike), the maximum below
    /// 100 is as good as any.
    fn percentile(&self, p: f64) -> f64 {
        let total: u64 = self.buckets.values().sum();
        if p <= 0.0 {
            return self.min;
        }
        if p >= 100.0 || total == 0 {
            return self.max;
        }
        let rank = (p / 100.0 * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return bucket_value(*i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// Folds the selected minutes into periods of `period` seconds from `start` (rounded down
/// to its minute), keyed by each period's start.
pub(crate) fn periods(
    minutes: &[Minute],
    selection: &Selection,
    start: f64,
    end: f64,
    period: i64,
) -> BTreeMap<i64, Period> {
    let from = (start as i64).div_euclid(60) * 60;
    let mut out: BTreeMap<i64, Period> = BTreeMap::new();
    for m in minutes {
        if !selection.admits(m) || m.start < from || (m.start as f64) >= end {
            continue;
        }
        let at = from + (m.start - from) / period * period;
        out.entry(at).or_default().merge(m);
    }
    out
}

/// The metrics (with their dimension sets) that the kept `keys` publish.
pub(crate) fn published(keys: &[SeriesKey]) -> BTreeSet<(String, Vec<Dimension>)> {
    let dim = |name: &str, value: &str| Dimension {
        name: name.to_string(),
        value: value.to_string(),
    };
    let mut out = BTreeSet::new();
    for k in keys {
        let metric = || k.metric.clone();
        if k.function.is_empty() || !ACCOUNT_ROWS.contains(&k.metric.as_str()) {
            out.insert((metric(), Vec::new()));
        }
        if k.function.is_empty() {
            continue;
        }
        let f = dim("FunctionName", &k.function);
        out.insert((metric(), vec![f.clone()]));
        if k.resource.is_empty() {
            continue;
        }
        let r = dim("Resource", &format!("{}:{}", k.function, k.resource));
        out.insert((metric(), vec![f.clone(), r.clone()]));
        let alias = !k.resource.bytes().all(|b| b.is_ascii_digit()) && k.resource != "$LATEST";
        if alias && !k.version.is_empty() {
            out.insert((metric(), vec![f, r, dim("ExecutedVersion", &k.version)]));
        }
    }
    out
}

/// Whether a published metric passes ListMetrics' filters.
pub(crate) fn listed(
    metric: &(String, Vec<Dimension>),
    name: Option<&str>,
    filters: &[DimensionFilter],
) -> bool {
    name.is_none_or(|n| n == metric.0)
        && filters.iter().all(|f| {
            metric
                .1
                .iter()
                .any(|d| d.name == f.name && f.value.as_ref().is_none_or(|v| v == &d.value))
        })
}

/// A published metric as ListMetrics answers it.
pub(crate) fn as_metric(m: (String, Vec<Dimension>)) -> Metric {
    let mut dimensions = m.1;
    dimensions.sort_by_key(|d| DIMENSIONS.iter().position(|n| *n == d.name));
    Metric {
        namespace: Some(lamina_model::cloudwatch::LAMBDA_NAMESPACE.to_string()),
        metric_name: Some(m.0),
        dimensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::minutes::{BUCKETS, bucket_of, encode};

    fn minute(start: i64, metric: &str, f: &str, r: &str, v: &str, values: &[f64]) -> Minute {
        let mut buckets = BTreeMap::new();
        for x in values {
            *buckets.entry(bucket_of((x * 1000.0) as u64)).or_insert(0) += 1;
        }
        Minute {
            start,
            key: SeriesKey {
                metric: metric.into(),
                function: f.into(),
                resource: r.into(),
                version: v.into(),
            },
            count: values.len() as f64,
            sum: values.iter().sum(),
            min: values.iter().cloned().fold(f64::MAX, f64::min),
            max: values.iter().cloned().fold(0.0, f64::max),
            buckets: encode(&buckets),
        }
    }

    fn dims(pairs: &[(&str, &str)]) -> Vec<Dimension> {
        pairs
            .iter()
            .map(|(n, v)| Dimension {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn dimensions_select_as_lambda_publishes_them() {
        let rows = [
            minute(0, "Duration", "f", "", "$LATEST", &[1.0]),
            minute(0, "Duration", "f", "live", "1", &[2.0]),
            minute(0, "Duration", "f", "live", "2", &[4.0]),
            minute(0, "Duration", "f", "2", "2", &[8.0]),
            minute(0, "Duration", "g", "", "$LATEST", &[16.0]),
        ];
        let sum = |pairs: &[(&str, &str)]| -> Option<f64> {
            let s = Selection::of(&dims(pairs))?;
            Some(rows.iter().filter(|m| s.admits(m)).map(|m| m.sum).sum())
        };
        assert_eq!(sum(&[]), Some(31.0), "the account");
        assert_eq!(sum(&[("FunctionName", "f")]), Some(15.0));
        assert_eq!(
            sum(&[("FunctionName", "f"), ("Resource", "f:live")]),
            Some(6.0)
        );
        assert_eq!(
            sum(&[
                ("FunctionName", "f"),
                ("Resource", "f:live"),
                ("ExecutedVersion", "2")
            ]),
            Some(4.0)
        );
        assert_eq!(
            sum(&[("FunctionName", "f"), ("Resource", "f:2")]),
            Some(8.0)
        );
        assert_eq!(sum(&[("FunctionName", "h")]), Some(0.0));
        // Sets Lambda never publishes select nothing.
        assert_eq!(sum(&[("Resource", "f:live")]), None);
        assert_eq!(sum(&[("FunctionName", "f"), ("Resource", "g:live")]), None);
        assert_eq!(sum(&[("FunctionName", "f"), ("Color", "red")]), None);
        assert_eq!(sum(&[("FunctionName", "f"), ("FunctionName", "g")]), None);
    }

    #[test]
    fn the_account_reads_its_own_peak_where_it_has_one() {
        let rows = [
            minute(0, "ConcurrentExecutions", "f", "", "", &[3.0]),
            minute(0, "ConcurrentExecutions", "g", "", "", &[4.0]),
            minute(0, "ConcurrentExecutions", "", "", "", &[5.0]),
        ];
        let all = Selection::of(&[]).unwrap();
        let p = periods(&rows, &all, 0.0, 60.0, 60);
        assert_eq!(p[&0].max, 5.0);
        let f = Selection::of(&dims(&[("FunctionName", "f")])).unwrap();
        assert_eq!(periods(&rows, &f, 0.0, 60.0, 60)[&0].max, 3.0);
    }

    #[test]
    fn minutes_fold_into_periods_with_their_statistics() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let rows = [
            minute(60, "Duration", "f", "", "$LATEST", &values[..50]),
            minute(120, "Duration", "f", "", "$LATEST", &values[50..]),
            minute(180, "Duration", "f", "", "$LATEST", &[1000.0]),
            minute(600, "Duration", "f", "", "$LATEST", &[7.0]),
        ];
        let all = Selection::of(&[]).unwrap();
        // A start inside a minute is rounded down; the end is not reached.
        let p = periods(&rows, &all, 75.0, 600.0, 120);
        assert_eq!(p.keys().copied().collect::<Vec<_>>(), [60, 180]);
        let first = &p[&60];
        assert_eq!(first.stat(Statistic::SampleCount), 100.0);
        assert_eq!(first.stat(Statistic::Sum), 5050.0);
        assert_eq!(first.stat(Statistic::Average), 50.5);
        assert_eq!(first.stat(Statistic::Minimum), 1.0);
        assert_eq!(first.stat(Statistic::Maximum), 100.0);
        for (pct, want) in [(50.0, 50.0), (90.0, 90.0), (99.0, 99.0)] {
            let got = first.stat(Statistic::Percentile(pct));
            assert!((got / want - 1.0).abs() < 0.05, "p{pct}: {got}");
        }
        assert_eq!(first.stat(Statistic::Percentile(0.0)), 1.0);
        assert_eq!(first.stat(Statistic::Percentile(100.0)), 100.0);
        assert_eq!(p[&180].stat(Statistic::Percentile(50.0)), 1000.0, "clamped");
        assert!(BUCKETS > bucket_of(1_000_000));
    }

    #[test]
    fn list_metrics_names_every_published_set() {
        let keys = [
            SeriesKey {
                metric: "Invocations".into(),
                function: "f".into(),
                resource: "live".into(),
                version: "3".into(),
            },
            SeriesKey {
                metric: "Invocations".into(),
                function: "f".into(),
                resource: "3".into(),
                version: "3".into(),
            },
            SeriesKey {
                metric: "ConcurrentExecutions".into(),
                function: "f".into(),
                resource: String::new(),
                version: String::new(),
            },
            SeriesKey {
                metric: "ConcurrentExecutions".into(),
                function: String::new(),
                resource: String::new(),
                version: String::new(),
            },
        ];
        let p = published(&keys);
        let names: Vec<String> = p
            .iter()
            .map(|(m, d)| {
                let d: Vec<String> = d
                    .iter()
                    .map(|d| format!("{}={}", d.name, d.value))
                    .collect();
                format!("{m}[{}]", d.join(","))
            })
            .collect();
        assert_eq!(
            names,
            [
                "ConcurrentExecutions[]",
                "ConcurrentExecutions[FunctionName=f]",
                "Invocations[]",
                "Invocations[FunctionName=f]",
                "Invocations[FunctionName=f,Resource=f:3]",
                "Invocations[FunctionName=f,Resource=f:live]",
                "Invocations[FunctionName=f,Resource=f:live,ExecutedVersion=3]",
            ]
        );
        let filter = |name: &str, value: Option<&str>| DimensionFilter {
            name: name.into(),
            value: value.map(Into::into),
        };
        let n = |name: Option<&str>, filters: &[DimensionFilter]| {
            p.iter().filter(|m| listed(m, name, filters)).count()
        };
        assert_eq!(n(Some("Invocations"), &[]), 5);
        assert_eq!(n(None, &[filter("Resource", None)]), 3);
        assert_eq!(n(None, &[filter("FunctionName", Some("g"))]), 0);
        assert_eq!(n(None, &[filter("ExecutedVersion", Some("3"))]), 1);
    }
}
