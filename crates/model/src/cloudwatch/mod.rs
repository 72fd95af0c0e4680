//! CloudWatch's metric API as Lamina serves it for namespace `AWS/Lambda`: the wire shapes
//! of GetMetricStatistics, GetMetricData and ListMetrics (botocore's member names), their
//! checks, and the service's errors with their wire names.
//!
//! - [`stat`]: statistics (`Sum`, `p99`, …) and the limits on periods and ranges.
//!
//! Timestamps arrive as epoch seconds (JSON, CBOR once its tags are read) or as ISO 8601
//! text (the query protocol): [`Timestamp`] takes both.

pub mod stat;

use serde::{Deserialize, Deserializer, Serialize};

pub use stat::{Statistic, check_range};

/// Lambda's namespace, the only one with data here.
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";

/// The errors CloudWatch answers, with the names its SDKs know them by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudWatchError {
    /// A value is malformed or out of range.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A required parameter is missing.
    #[error("{0}")]
    MissingParameter(String),
    /// Parameters that cannot go together.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// A `NextToken` this server did not give.
    #[error("{0}")]
    InvalidNextToken(String),
    /// The metric store failed.
    #[error("{0}")]
    Internal(String),
}

impl CloudWatchError {
    /// The error's code as the query protocol names it (`InvalidParameterValue`), which the
    /// JSON and CBOR protocols carry in `x-amzn-query-error`.
    pub fn code(&self) -> &'static str {
        match self {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValue",
            CloudWatchError::MissingParameter(_) => "MissingParameter",
            CloudWatchError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            CloudWatchError::InvalidNextToken(_) => "InvalidNextToken",
            CloudWatchError::Internal(_) => "InternalServiceError",
        }
    }

    /// The exception's shape name (`InvalidParameterValueException`).
    pub fn shape(&self) -> &'static str {
        match self {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValueException",
            CloudWatchError::MissingParameter(_) => "MissingRequiredParameterException",
            CloudWatchError::InvalidParameterCombination(_) => {
                "InvalidParameterCombinationException"
            }
            CloudWatchError::InvalidNextToken(_) => "InvalidNextToken",
            CloudWatchError::Internal(_) => "InternalServiceFault",
        }
    }

    /// Its HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            CloudWatchError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// Whether the caller is at fault (`Sender`) or the service (`Receiver`).
    pub fn fault(&self) -> &'static str {
        match self {
            CloudWatchError::Internal(_) => "Receiver",
            _ => "Sender",
        }
    }
}

/// A point in time, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Timestamp(pub f64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Seconds(f64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Seconds(s) => Ok(Timestamp(s)),
            Either::Text(t) => {
                if let Ok(s) = t.parse::<f64>() {
                    return Ok(Timestamp(s));
                }
                chrono::DateTime::parse_from_rfc3339(&t)
                    .map(|d| Timestamp(d.timestamp_millis() as f64 / 1000.0))
                    .map_err(|_| {
                        serde::de::Error::custom(format!("{t:?} is not an ISO 8601 timestamp"))
                    })
            }
        }
    }
}

/// A number that may come as text (the query protocol sends every value as text).
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not an integer"))),
    }
}

/// A dimension: a name and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

/// ListMetrics' filter on a dimension: its name, and its value when given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DimensionFilter {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A metric: namespace, name and dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

/// GetMetricStatistics' request.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricStatisticsInput {
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    pub period: Option<i64>,
    #[serde(default)]
    pub statistics: Vec<String>,
    #[serde(default)]
    pub extended_statistics: Vec<String>,
    pub unit: Option<String>,
}

/// One period's statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Datapoint {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    pub unit: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extended_statistics: std::collections::BTreeMap<String, f64>,
}

/// GetMetricStatistics' answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricStatisticsOutput {
    pub label: String,
    pub datapoints: Vec<Datapoint>,
}

/// A metric, a period and one statistic: what a GetMetricData query reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    pub metric: Metric,
    #[serde(default, deserialize_with = "lenient")]
    pub period: Option<i64>,
    pub stat: Option<String>,
    pub unit: Option<String>,
}

/// One query of GetMetricData.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    pub id: Option<String>,
    pub metric_stat: Option<MetricStat>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub period: Option<i64>,
}

/// GetMetricData's request.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricDataInput {
    #[serde(default)]
    pub metric_data_queries: Vec<MetricDataQuery>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub next_token: Option<String>,
    pub scan_by: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub max_datapoints: Option<i64>,
}

/// One query's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataResult {
    pub id: String,
    pub label: String,
    pub timestamps: Vec<Timestamp>,
    pub values: Vec<f64>,
    pub status_code: String,
    pub messages: Vec<serde_json::Value>,
}

/// GetMetricData's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricDataOutput {
    pub metric_data_results: Vec<MetricDataResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub messages: Vec<serde_json::Value>,
}

/// ListMetrics' request.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListMetricsInput {
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<DimensionFilter>,
    pub next_token: Option<String>,
    pub recently_active: Option<String>,
}

/// ListMetrics' answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMetricsOutput {
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// What `ReturnData` says: absent means true.
pub fn returns_data(q: &MetricDataQuery) -> bool {
    match &q.return_data {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s != "false",
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_come_as_seconds_or_as_iso_text() {
        let t: Timestamp = serde_json::from_str("1700000000.5").unwrap();
        assert_eq!(t.0, 1_700_000_000.5);
        let t: Timestamp = serde_json::from_str("\"2023-11-14T22:13:20Z\"").unwrap();
        assert_eq!(t.0, 1_700_000_000.0);
        let t: Timestamp = serde_json::from_str("\"2023-11-14T22:13:20.250+00:00\"").unwrap();
        assert_eq!(t.0, 1_700_000_000.25);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn the_query_protocol_sends_numbers_as_text() {
        let i: GetMetricStatisticsInput =
            serde_json::from_value(serde_json::json!({"Period": "300"})).unwrap();
        assert_eq!(i.period, Some(300));
        let i: GetMetricStatisticsInput =
            serde_json::from_value(serde_json::json!({"Period": 60})).unwrap();
        assert_eq!(i.period, Some(60));
    }
}
