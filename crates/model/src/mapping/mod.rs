//! Event source mappings: the request members of Create/UpdateEventSourceMapping, checked as
//! Lambda checks them for the kind of source they name, the stored record, and its wire
//! shape (`EventSourceMappingConfiguration`). Lamina consumes its own SQS queues; other
//! kinds of source are refused with a message that says so.

mod records;
mod sources;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::LambdaError;

pub use records::{batch_item_failures, filterable, sqs_record};
use sources::{check_kafka, check_rabbitmq};

/// `FilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterCriteria {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// One filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// `ScalingConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<u32>,
}

/// The members of CreateEventSourceMapping and UpdateEventSourceMapping Lamina reads;
/// the others are kept and echoed as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRequest {
    pub event_source_arn: Option<String>,
    pub function_name: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<u32>,
    pub filter_criteria: Option<FilterCriteria>,
    pub maximum_batching_window_in_seconds: Option<u32>,
    pub scaling_config: Option<ScalingConfig>,
    pub function_response_types: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A stored mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingRecord {
    pub uuid: String,
    pub event_source_arn: String,
    /// The function's ARN as given (qualified when a version or alias was).
    pub function_arn: String,
    pub enabled: bool,
    pub state: String,
    pub state_transition_reason: String,
    pub last_modified: f64,
    pub batch_size: u32,
    pub batching_window_s: u32,
    pub filter_criteria: Option<FilterCriteria>,
    pub report_batch_item_failures: bool,
    pub maximum_concurrency: Option<u32>,
    /// Members Lamina keeps without using (DestinationConfig, MetricsConfig, Tags, ...).
    #[serde(default)]
    pub other: Map<String, Value>,
}

/// The kinds of source Lamina consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An SQS queue (this server's, or another endpoint's).
    Sqs,
    /// A RabbitMQ broker, named as Amazon MQ names one.
    RabbitMq,
    /// A self-managed Kafka cluster, named by its bootstrap servers.
    Kafka,
}

/// The kind of source an `EventSourceArn` names.
fn kind_of(arn: &str) -> Result<SourceKind, LambdaError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" {
        return Err(invalid("Unrecognized event source."));
    }
    match (parts[2], parts.len()) {
        ("sqs", 6) => Ok(SourceKind::Sqs),
        ("mq", 8) if parts[5] == "broker" => Ok(SourceKind::RabbitMq),
        _ => Err(invalid(format!(
            "Event source {arn} is not supported: this server consumes SQS queues \
             (arn:aws:sqs:REGION:ACCOUNT:NAME), RabbitMQ brokers \
             (arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID) and self-managed Kafka \
             (SelfManagedEventSource)."
        ))),
    }
}

/// The longest a mapping's batch may wait to fill, in seconds.
pub const BATCHING_WINDOW_MAX_S: u32 = 300;

fn invalid(why: impl Into<String>) -> LambdaError {
    LambdaError::InvalidParameterValue(why.into())
}

/// Members that only apply to kinds of source Lamina does not consume (yet).
const OTHER_SOURCES: &[&str] = &[
    "Topics",
    "Queues",
    "SelfManagedEventSource",
    "SelfManagedKafkaEventSourceConfig",
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "MaximumRetryAttempts",
    "DestinationConfig",
];

impl MappingRequest {
    /// Checks the members as Lambda does for an SQS source, and applies them to `base` (an
    /// update) or to the defaults (a create, when `base` is `None`).
    pub fn apply(self, base: Option<&MappingRecord>) -> Result<MappingRecord, LambdaError> {
        let kind = match (&self.event_source_arn, base) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "EventSourceArn cannot be updated: delete the mapping and make another.",
                ));
            }
            (None, Some(b)) => b.kind(),
            (Some(_), None) if self.other.contains_key("SelfManagedEventSource") => {
                return Err(invalid(
                    "EventSourceArn and SelfManagedEventSource cannot both be given.",
                ));
            }
            (Some(arn), None) => kind_of(arn)?,
            (None, None) if self.other.contains_key("SelfManagedEventSource") => SourceKind::Kafka,
            (None, None) => return Err(invalid("Unrecognized event source.")),
        };
        let arn = match (&self.event_source_arn, base) {
            (Some(arn), _) => arn.clone(),
            (None, Some(b)) => b.event_source_arn.clone(),
            (None, None) => String::new(),
        };
        let allowed: &[&str] = match kind {
            SourceKind::Sqs => &[],
            SourceKind::RabbitMq => &["Queues", "SourceAccessConfigurations"],
            SourceKind::Kafka => &[
                "Topics",
                "SelfManagedEventSource",
                "SelfManagedKafkaEventSourceConfig",
                "StartingPosition",
                "StartingPositionTimestamp",
                "SourceAccessConfigurations",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "DestinationConfig",
            ],
        };
        if let Some(k) = OTHER_SOURCES
            .iter()
            .find(|k| self.other.contains_key(**k) && !allowed.contains(k))
        {
            return Err(invalid(format!(
                "{k} is not valid for this kind of event source."
            )));
        }
        match kind {
            SourceKind::RabbitMq => check_rabbitmq(&self, base)?,
            SourceKind::Kafka => check_kafka(&self, base)?,
            SourceKind::Sqs => {}
        }
        let fifo = arn.ends_with(".fifo");
        let default_batch = if kind == SourceKind::Sqs { 10 } else { 100 };
        let batch_size = self
            .batch_size
            .or(base.map(|b| b.batch_size))
            .unwrap_or(default_batch);
        let window = self
            .maximum_batching_window_in_seconds
            .or(base.map(|b| b.batching_window_s))
            .unwrap_or(0);
        let max_batch = if fifo { 10 } else { 10_000 };
        if !(1..=max_batch).contains(&batch_size) {
            return Err(invalid(format!(
                "BatchSize must be between 1 and {max_batch} for this event source."
            )));
        }
        if window > BATCHING_WINDOW_MAX_S {
            return Err(invalid(
                "MaximumBatchingWindowInSeconds must be between 0 and 300.",
            ));
        }
        if kind == SourceKind::Sqs && batch_size > 10 && window == 0 {
            return Err(invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            ));
        }
        let filter_criteria = match self.filter_criteria {
            // An empty FilterCriteria on update removes the filters.
            Some(f) if f.filters.is_empty() => None,
            Some(f) => {
                if f.filters.len() > 5 {
                    return Err(invalid("A mapping has at most 5 filters."));
                }
                for filter in &f.filters {
                    let pattern = filter.pattern.as_deref().unwrap_or_default();
                    if pattern.chars().count() > 4096
                        || lamina_pattern::Pattern::parse(pattern).is_err()
                    {
                        return Err(invalid("Invalid filter pattern definition."));
                    }
                }
                Some(f)
            }
            None => base.and_then(|b| b.filter_criteria.clone()),
        };
        let report = match &self.function_response_types {
            Some(types) if kind != SourceKind::Sqs && !types.is_empty() => {
                return Err(invalid(
                    "FunctionResponseTypes is only taken for an SQS event source.",
                ));
            }
            Some(types) => {
                if types.len() > 1 || types.iter().any(|t| t != "ReportBatchItemFailures") {
                    return Err(invalid(
                        "FunctionResponseTypes may only hold ReportBatchItemFailures.",
                    ));
                }
                !types.is_empty()
            }
            None => base.is_some_and(|b| b.report_batch_item_failures),
        };
        let maximum_concurrency = match self.scaling_config {
            Some(s) if kind != SourceKind::Sqs && s.maximum_concurrency.is_some() => {
                return Err(invalid(
                    "ScalingConfig is only valid for an SQS event source.",
                ));
            }
            Some(s) => match s.maximum_concurrency {
                Some(c) if !(2..=1000).contains(&c) => {
                    return Err(invalid(
                        "ScalingConfig.MaximumConcurrency must be between 2 and 1000.",
                    ));
                }
                c => c,
            },
            None => base.and_then(|b| b.maximum_concurrency),
        };
        let mut other = base.map(|b| b.other.clone()).unwrap_or_default();
        other.extend(self.other);
        let enabled = self.enabled.or(base.map(|b| b.enabled)).unwrap_or(true);
        Ok(MappingRecord {
            uuid: base.map(|b| b.uuid.clone()).unwrap_or_default(),
            event_source_arn: arn,
            function_arn: base.map(|b| b.function_arn.clone()).unwrap_or_default(),
            enabled,
            state: String::new(),
            state_transition_reason: "USER_INITIATED".into(),
            last_modified: 0.0,
            batch_size,
            batching_window_s: window,
            filter_criteria,
            report_batch_item_failures: report,
            maximum_concurrency,
            other,
        })
    }
}

impl MappingRecord {
    /// The kind of source it consumes.
    pub fn kind(&self) -> SourceKind {
        if self.other.contains_key("SelfManagedEventSource") {
            SourceKind::Kafka
        } else if self.event_source_arn.starts_with("arn:aws:mq:") {
            SourceKind::RabbitMq
        } else {
            SourceKind::Sqs
        }
    }

    /// The name of the SQS queue it consumes.
    pub fn queue(&self) -> &str {
        self.event_source_arn.rsplit(':').next().unwrap_or_default()
    }

    /// `EventSourceMappingConfiguration`, with the last processing result.
    pub fn to_wire(&self, mapping_arn: &str, last_result: &str) -> Value {
        let mut v = json!({
            "UUID": self.uuid,
            "EventSourceMappingArn": mapping_arn,
            "FunctionArn": self.function_arn,
            "State": self.state,
            "StateTransitionReason": self.state_transition_reason,
            "LastModified": self.last_modified,
            "LastProcessingResult": last_result,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window_s,
            "FunctionResponseTypes": if self.report_batch_item_failures {
                vec!["ReportBatchItemFailures"]
            } else {
                Vec::new()
            },
        });
        if !self.event_source_arn.is_empty() {
            v["EventSourceArn"] = json!(self.event_source_arn);
        }
        if let Some(f) = &self.filter_criteria {
            v["FilterCriteria"] = serde_json::to_value(f).unwrap_or_default();
        }
        if let Some(c) = self.maximum_concurrency {
            v["ScalingConfig"] = json!({"MaximumConcurrency": c});
        }
        for (k, value) in &self.other {
            if k != "Tags" && k != "FunctionName" && k != "Enabled" {
                v[k] = value.clone();
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> MappingRequest {
        serde_json::from_value(v).unwrap()
    }

    const Q: &str = "arn:aws:sqs:us-east-1:000000000000:jobs";

    #[test]
    fn sqs_mappings_are_checked_as_lambda_checks_them() {
        let m = req(json!({"EventSourceArn": Q, "FunctionName": "f"}))
            .apply(None)
            .unwrap();
        assert_eq!(
            (m.batch_size, m.batching_window_s, m.enabled),
            (10, 0, true)
        );
        for bad in [
            json!({"FunctionName": "f"}),
            json!({"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "FunctionName": "f"}),
            json!({"EventSourceArn": Q, "BatchSize": 100}),
            json!({"EventSourceArn": Q, "BatchSize": 0}),
            json!({"EventSourceArn": Q, "BatchSize": 10001, "MaximumBatchingWindowInSeconds": 1}),
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q.fifo", "BatchSize": 11, "MaximumBatchingWindowInSeconds": 1}),
            json!({"EventSourceArn": Q, "MaximumBatchingWindowInSeconds": 301}),
            json!({"EventSourceArn": Q, "FunctionResponseTypes": ["Everything"]}),
            json!({"EventSourceArn": Q, "ScalingConfig": {"MaximumConcurrency": 1}}),
            json!({"EventSourceArn": Q, "FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}),
            json!({"EventSourceArn": Q, "StartingPosition": "LATEST"}),
        ] {
            assert!(req(bad.clone()).apply(None).is_err(), "{bad}");
        }
        // An update keeps what it does not name; an empty FilterCriteria removes filters.
        let with = req(json!({"EventSourceArn": Q, "BatchSize": 100, "MaximumBatchingWindowInSeconds": 2,
                              "FilterCriteria": {"Filters": [{"Pattern": "{\"body\": {\"a\": [1]}}"}]}}))
        .apply(None)
        .unwrap();
        let updated = req(json!({"BatchSize": 50})).apply(Some(&with)).unwrap();
        assert_eq!((updated.batch_size, updated.batching_window_s), (50, 2));
        assert!(updated.filter_criteria.is_some());
        let cleared = req(json!({"FilterCriteria": {}}))
            .apply(Some(&with))
            .unwrap();
        assert!(cleared.filter_criteria.is_none());
        assert!(
            req(json!({"EventSourceArn": Q}))
                .apply(Some(&with))
                .is_err()
        );
    }
}
