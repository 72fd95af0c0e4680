//! Statistics and the limits of a metric query: which statistics exist (`SampleCount`,
//! `Average`, `Sum`, `Minimum`, `Maximum`, and percentiles `p0`..`p100`), and the checks
//! CloudWatch makes on a period and a time range.

use super::CloudWatchError;

/// One statistic of a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// A percentile, 0 to 100.
    Percentile(f64),
}

/// The most data points one request may ask for.
pub const MAX_DATAPOINTS: i64 = 1440;

impl Statistic {
    /// Reads a statistic's name: one of the five, or a percentile (`p99`, `p99.9`).
    pub fn parse(name: &str) -> Option<Statistic> {
        Some(match name {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => return Self::percentile(name),
        })
    }

    /// Reads `pNN` or `pNN.NN` (at most two decimals, 0 to 100).
    pub fn percentile(name: &str) -> Option<Statistic> {
        let n = name.strip_prefix('p')?;
        let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 3 || frac.len() > 2 || !digits(whole) || !digits(frac)
        {
            return None;
        }
        let v: f64 = n.parse().ok()?;
        (0.0..=100.0)
            .contains(&v)
            .then_some(Statistic::Percentile(v))
    }
}

/// Checks a query's range and period as CloudWatch does: a period of a whole number of
/// minutes (Lambda's metrics have one-minute resolution), a start before the end, and at
/// most [`MAX_DATAPOINTS`] periods between them.
pub fn check_range(start: f64, end: f64, period: i64) -> Result<(), CloudWatchError> {
    if period < 1 {
        return Err(CloudWatchError::InvalidParameterValue(
            "The parameter Period must be greater than 0.".into(),
        ));
    }
    if period % 60 != 0 {
        return Err(CloudWatchError::InvalidParameterValue(
            "The parameter Period must be a multiple of 60.".into(),
        ));
    }
    if start >= end {
        return Err(CloudWatchError::InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        ));
    }
    let points = ((end - start) / period as f64).ceil() as i64;
    if points > MAX_DATAPOINTS {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "You have requested up to {points} datapoints, which exceeds the limit of 1,440. \
             You may reduce the datapoints requested by increasing Period, or decreasing the \
             time range."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_percentiles_are_read_as_cloudwatch_names_them() {
        for (name, want) in [
            ("Sum", Some(Statistic::Sum)),
            ("SampleCount", Some(Statistic::SampleCount)),
            ("p99", Some(Statistic::Percentile(99.0))),
            ("p99.9", Some(Statistic::Percentile(99.9))),
            ("p0", Some(Statistic::Percentile(0.0))),
            ("p100", Some(Statistic::Percentile(100.0))),
            ("p100.5", None),
            ("p99.999", None),
            ("p", None),
            ("sum", None),
            ("tm99", None),
            ("p-1", None),
        ] {
            assert_eq!(Statistic::parse(name), want, "{name}");
        }
    }

    #[test]
    fn ranges_and_periods_are_checked() {
        assert!(check_range(0.0, 3600.0, 60).is_ok());
        assert!(
            check_range(0.0, 86_400.0, 60).is_ok(),
            "1,440 points exactly"
        );
        let e = check_range(0.0, 86_460.0, 60).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterCombination");
        assert!(e.to_string().contains("1441 datapoints"), "{e}");
        assert_eq!(
            check_range(0.0, 60.0, 30).unwrap_err().code(),
            "InvalidParameterValue"
        );
        assert_eq!(
            check_range(60.0, 60.0, 60).unwrap_err().to_string(),
            "The parameter StartTime must be less than the parameter EndTime."
        );
        assert!(check_range(0.0, 60.0, 0).is_err());
    }
}
