//! CloudWatch's metric history of Lambda's metrics (namespace `AWS/Lambda`): a task
//! writes each minute's figures to the [`MetricSeries`] store (SQLite or, in a cluster,
//! PostgreSQL, where every node writes its own rows), keeps 15 days of them, and answers
//! GetMetricStatistics, GetMetricData and ListMetrics from it. A query also reads the
//! minute not yet written from this node's counters, so figures show at once rather than
//! a minute or two later as in CloudWatch.
//!
//! - `collect`: the counters' minute as rows with Lambda's metric names.
//! - `aggregate`: dimensions, periods, statistics, and what ListMetrics names.

mod aggregate;
mod collect;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use lamina_model::cloudwatch::{
    CloudWatchError, Datapoint, GetMetricDataInput, GetMetricDataOutput, GetMetricStatisticsInput,
    GetMetricStatisticsOutput, LAMBDA_NAMESPACE, ListMetricsInput, ListMetricsOutput, Metric,
    MetricDataResult, Statistic, Timestamp, check_range, returns_data,
};
use lamina_store::{MetricSeries, Minute};

use crate::Platform;
use aggregate::{Period, Selection};
use collect::AccountPeaks;

/// The store, and what the writing task shares with queries.
#[derive(Debug)]
pub(crate) struct SeriesState {
    store: Arc<dyn MetricSeries>,
    /// Held by the flush while it takes a minute and writes it, and by queries while they
    /// read the store and the minute not yet written: a query sees a minute once.
    flushing: tokio::sync::RwLock<()>,
    /// Start of the minute the counters hold.
    open: AtomicI64,
}

impl SeriesState {
    pub(crate) fn new(store: Arc<dyn MetricSeries>) -> SeriesState {
        SeriesState {
            store,
            flushing: tokio::sync::RwLock::new(()),
            open: AtomicI64::new(minute_of(now())),
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn minute_of(t: f64) -> i64 {
    (t as i64).div_euclid(60) * 60
}

/// ListMetrics' page size, as CloudWatch's.
const LIST_PAGE: usize = 500;

/// The most data points GetMetricData answers in one call (CloudWatch's 100,800).
const MAX_DATA_POINTS: i64 = 100_800;

fn store_failed(e: lamina_store::StoreError) -> CloudWatchError {
    CloudWatchError::Internal(format!("The metric store failed: {e}"))
}

fn missing(name: &str) -> CloudWatchError {
    CloudWatchError::MissingParameter(format!("The parameter {name} is required."))
}

/// CloudWatch's metric API. A view of its own, `CloudWatch::of(&platform)`, not a
/// `Platform` method: it reads what the invocation path counted and adds nothing to it.
pub struct CloudWatch<'a> {
    p: &'a Platform,
}

impl CloudWatch<'_> {
    /// The metric API of `p`.
    pub fn of(p: &Platform) -> CloudWatch<'_> {
        CloudWatch { p }
    }

    fn state(&self) -> &SeriesState {
        &self.p.inner.series
    }

    /// This node's name among the writers of the store.
    fn node(&self) -> &str {
        self.p
            .inner
            .grants
            .as_ref()
            .map_or("", |g| g.members().id())
    }

    /// The rows of `metric` from `from` to `to` (seconds), the minute not yet written
    /// included.
    async fn minutes(
        &self,
        metric: &str,
        function: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Minute>, CloudWatchError> {
        let state = self.state();
        let _held = state.flushing.read().await;
        let mut rows = state
            .store
            .read(metric, function, from, to)
            .await
            .map_err(store_failed)?;
        let open = state.open.load(Ordering::Relaxed);
        // With `--metrics off`, nothing is counted per minute: only what was stored.
        if self.p.inner.concurrency.detailed && open >= from && open < to {
            let counters = match function {
                Some(f) => vec![(f.to_string(), self.p.inner.concurrency.counters(f))],
                None => self.p.inner.concurrency.every_counter(),
            };
            let unwritten = collect::rows(open, &counters, self.peaks(false), false);
            rows.extend(unwritten.into_iter().filter(|m| m.key.metric == metric));
        }
        Ok(rows)
    }

    /// The account's peaks of the open minute (restarted when `take`n).
    fn peaks(&self, take: bool) -> AccountPeaks {
        let (concurrent, unreserved) = self.p.inner.concurrency.peaks(take);
        AccountPeaks {
            concurrent,
            unreserved,
        }
    }

    /// The periods of one metric.
    async fn read(
        &self,
        metric: &Metric,
        start: f64,
        end: f64,
        period: i64,
    ) -> Result<(String, std::collections::BTreeMap<i64, Period>), CloudWatchError> {
        let name = metric
            .metric_name
            .clone()
            .ok_or_else(|| missing("MetricName"))?;
        let namespace = metric
            .namespace
            .as_deref()
            .ok_or_else(|| missing("Namespace"))?;
        let selection = Selection::of(&metric.dimensions);
        let Some(selection) = selection.filter(|_| namespace == LAMBDA_NAMESPACE) else {
            return Ok((name, Default::default()));
        };
        let from = minute_of(start);
        let to = end.ceil() as i64;
        let rows = self
            .minutes(&name, selection.function.as_deref(), from, to)
            .await?;
        Ok((
            name,
            aggregate::periods(&rows, &selection, start, end, period),
        ))
    }

    /// GetMetricStatistics.
    pub async fn get_metric_statistics(
        &self,
        input: GetMetricStatisticsInput,
    ) -> Result<GetMetricStatisticsOutput, CloudWatchError> {
        let start = input.start_time.ok_or_else(|| missing("StartTime"))?.0;
        let end = input.end_time.ok_or_else(|| missing("EndTime"))?.0;
        let period = input.period.ok_or_else(|| missing("Period"))?;
        let (basic, extended) = (&input.statistics, &input.extended_statistics);
        if basic.is_empty() == extended.is_empty() {
            return Err(CloudWatchError::InvalidParameterCombination(
                "Must specify either Statistics or ExtendedStatistics, but not both.".into(),
            ));
        }
        if basic.len() > 5 || extended.len() > 10 {
            return Err(CloudWatchError::InvalidParameterValue(
                "At most 5 Statistics and 10 ExtendedStatistics may be asked for.".into(),
            ));
        }
        let mut stats = Vec::new();
        for (i, s) in basic.iter().enumerate() {
            match Statistic::parse(s) {
                Some(st) if !matches!(st, Statistic::Percentile(_)) => stats.push((s, st)),
                _ => {
                    return Err(CloudWatchError::InvalidParameterValue(format!(
                        "The parameter Statistics.member.{} must be a value in the set \
                         [ Maximum, Sum, SampleCount, Average, Minimum ].",
                        i + 1
                    )));
                }
            }
        }
        let mut percentiles = Vec::new();
        for s in extended {
            match Statistic::percentile(s) {
                Some(st) => percentiles.push((s, st)),
                None => {
                    return Err(CloudWatchError::InvalidParameterValue(format!(
                        "The value {s} for parameter ExtendedStatistics is not supported."
                    )));
                }
            }
        }
        check_range(start, end, period)?;
        let metric = Metric {
            namespace: input.namespace,
            metric_name: input.metric_name,
            dimensions: input.dimensions,
        };
        let (label, periods) = self.read(&metric, start, end, period).await?;
        let unit = collect::unit_of(&label);
        if input.unit.as_deref().is_some_and(|u| u != unit) {
            return Ok(GetMetricStatisticsOutput {
                label,
                datapoints: Vec::new(),
            });
        }
        let datapoints = periods
            .iter()
            .map(|(at, p)| {
                let get = |want: Statistic| {
                    stats
                        .iter()
                        .find(|(_, s)| *s == want)
                        .map(|(_, s)| p.stat(*s))
                };
                Datapoint {
                    timestamp: Timestamp(*at as f64),
                    sample_count: get(Statistic::SampleCount),
                    average: get(Statistic::Average),
                    sum: get(Statistic::Sum),
                    minimum: get(Statistic::Minimum),
                    maximum: get(Statistic::Maximum),
                    unit: unit.to_string(),
                    extended_statistics: percentiles
                        .iter()
                        .map(|(name, s)| (name.to_string(), p.stat(*s)))
                        .collect(),
                }
            })
            .collect();
        Ok(GetMetricStatisticsOutput { label, datapoints })
    }

    /// GetMetricData: `MetricStat` queries (metric math is refused with a clear message).
    pub async fn get_metric_data(
        &self,
        input: GetMetricDataInput,
    ) -> Result<GetMetricDataOutput, CloudWatchError> {
        let start = input.start_time.ok_or_else(|| missing("StartTime"))?.0;
        let end = input.end_time.ok_or_else(|| missing("EndTime"))?.0;
        let queries = &input.metric_data_queries;
        if queries.is_empty() || queries.len() > 500 {
            return Err(CloudWatchError::InvalidParameterValue(
                "The parameter MetricDataQueries must hold 1 to 500 queries.".into(),
            ));
        }
        if input.next_token.is_some() {
            return Err(CloudWatchError::InvalidNextToken(
                "This server answers every data point at once and gives no NextToken.".into(),
            ));
        }
        let ascending = match input.scan_by.as_deref() {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => {
                return Err(CloudWatchError::InvalidParameterValue(format!(
                    "The parameter ScanBy must be TimestampDescending or TimestampAscending, \
                     not {other}."
                )));
            }
        };
        let mut results = Vec::new();
        let mut points = 0;
        for (i, q) in queries.iter().enumerate() {
            let field = |name: &str| format!("MetricDataQueries.member.{}.{name}", i + 1);
            let id = q.id.clone().ok_or_else(|| missing(&field("Id")))?;
            let id_ok = id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !id_ok {
                return Err(CloudWatchError::InvalidParameterValue(format!(
                    "The value {id} for parameter {} must start with a lower-case letter and \
                     hold only letters, digits and underscores.",
                    field("Id")
                )));
            }
            if q.expression.is_some() {
                return Err(CloudWatchError::InvalidParameterValue(format!(
                    "{}: metric math expressions are not supported by this server; use \
                     MetricStat queries.",
                    field("Expression")
                )));
            }
            let stat = q
                .metric_stat
                .as_ref()
                .ok_or_else(|| missing(&field("MetricStat")))?;
            let period = stat
                .period
                .or(q.period)
                .ok_or_else(|| missing(&field("MetricStat.Period")))?;
            let name = stat
                .stat
                .as_deref()
                .ok_or_else(|| missing(&field("MetricStat.Stat")))?;
            let statistic = Statistic::parse(name).ok_or_else(|| {
                CloudWatchError::InvalidParameterValue(format!(
                    "The value {name} for parameter {} is not a statistic this server knows \
                     (SampleCount, Average, Sum, Minimum, Maximum, pNN).",
                    field("MetricStat.Stat")
                ))
            })?;
            check_range(start, end, period).or_else(|e| match e {
                // GetMetricData answers up to 100,800 points, not 1,440.
                CloudWatchError::InvalidParameterCombination(_) => Ok(()),
                e => Err(e),
            })?;
            points += ((end - start) / period as f64).ceil() as i64;
            if points > MAX_DATA_POINTS {
                return Err(CloudWatchError::InvalidParameterCombination(format!(
                    "The queries ask for more than {MAX_DATA_POINTS} data points; narrow \
                     the range or widen the periods."
                )));
            }
            let (metric_name, periods) = self.read(&stat.metric, start, end, period).await?;
            let unit_mismatch = stat
                .unit
                .as_deref()
                .is_some_and(|u| u != collect::unit_of(&metric_name));
            if !returns_data(q) {
                continue;
            }
            let mut pairs: Vec<(i64, f64)> = if unit_mismatch {
                Vec::new()
            } else {
                periods
                    .iter()
                    .map(|(at, p)| (*at, p.stat(statistic)))
                    .collect()
            };
            if !ascending {
                pairs.reverse();
            }
            results.push(MetricDataResult {
                id,
                label: q.label.clone().unwrap_or(metric_name),
                timestamps: pairs.iter().map(|(t, _)| Timestamp(*t as f64)).collect(),
                values: pairs.iter().map(|(_, v)| *v).collect(),
                status_code: "Complete".into(),
                messages: Vec::new(),
            });
        }
        Ok(GetMetricDataOutput {
            metric_data_results: results,
            next_token: None,
            messages: Vec::new(),
        })
    }

    /// ListMetrics: the metrics with data in the last 15 days (3 hours with
    /// `RecentlyActive: PT3H`), 500 per page.
    pub async fn list_metrics(
        &self,
        input: ListMetricsInput,
    ) -> Result<ListMetricsOutput, CloudWatchError> {
        let empty = ListMetricsOutput {
            metrics: Vec::new(),
            next_token: None,
        };
        if input
            .namespace
            .as_deref()
            .is_some_and(|n| n != LAMBDA_NAMESPACE)
        {
            return Ok(empty);
        }
        let since = match input.recently_active.as_deref() {
            None => now() as i64 - lamina_store::series::RETENTION_SECS,
            Some("PT3H") => now() as i64 - 3 * 3600,
            Some(other) => {
                return Err(CloudWatchError::InvalidParameterValue(format!(
                    "The parameter RecentlyActive must be PT3H, not {other}."
                )));
            }
        };
        let skip = match &input.next_token {
            None => 0,
            Some(t) => t
                .strip_prefix("lamina-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    CloudWatchError::InvalidNextToken(format!("Invalid NextToken: {t}"))
                })?,
        };
        let mut keys = {
            let state = self.state();
            let _held = state.flushing.read().await;
            state.store.keys(since).await.map_err(store_failed)?
        };
        let unwritten = collect::rows(
            self.state().open.load(Ordering::Relaxed),
            &self.p.inner.concurrency.every_counter(),
            self.peaks(false),
            false,
        );
        if self.p.inner.concurrency.detailed {
            keys.extend(unwritten.into_iter().map(|m| m.key));
        }
        let all: Vec<Metric> = aggregate::published(&keys)
            .into_iter()
            .filter(|m| aggregate::listed(m, input.metric_name.as_deref(), &input.dimensions))
            .map(aggregate::as_metric)
            .collect();
        let metrics: Vec<Metric> = all.iter().skip(skip).take(LIST_PAGE).cloned().collect();
        let next = skip + metrics.len();
        Ok(ListMetricsOutput {
            metrics,
            next_token: (next < all.len()).then(|| format!("lamina-{next}")),
        })
    }

    /// Writes the open minute now (at shutdown, so that it outlives the process).
    pub(crate) async fn flush(&self) {
        let state = self.state();
        let _held = state.flushing.write().await;
        let open = state.open.load(Ordering::Relaxed);
        let rows = collect::rows(
            open,
            &self.p.inner.concurrency.every_counter(),
            self.peaks(true),
            true,
        );
        state
            .open
            .store(minute_of(now()).max(open), Ordering::Relaxed);
        if let Err(e) = state.store.add(self.node(), &rows).await {
            tracing::warn!(error = %e, rows = rows.len(), "could not write a minute of metrics; it is lost");
        }
    }
}

/// At each minute's end (looked at every second), writes the minute; every hour, drops
/// what is older than 15 days. Ends with the platform.
pub(crate) fn start(p: &Platform) {
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        let mut last_prune = 0.0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(inner) = weak.upgrade() else { return };
            let p = Platform { inner };
            let t = now();
            if minute_of(t) > p.inner.series.open.load(Ordering::Relaxed) {
                CloudWatch::of(&p).flush().await;
            }
            if t - last_prune > 3600.0 {
                last_prune = t;
                let before = t as i64 - lamina_store::series::RETENTION_SECS;
                if let Err(e) = p.inner.series.store.prune(before).await {
                    tracing::warn!(error = %e, "could not drop old metrics");
                }
            }
        }
    });
}
