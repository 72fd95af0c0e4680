//! A queue as SQS configures it: its name's rules, its settable attributes with AWS's
//! defaults and ranges (checked on CreateQueue and SetQueueAttributes), and the stored
//! record the service reads them from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SqsError;

/// A stored queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    pub name: String,
    pub arn: String,
    /// Epoch seconds.
    pub created: u64,
    /// Epoch seconds.
    pub modified: u64,
    /// The settable attributes, defaults filled in.
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Attributes CreateQueue and SetQueueAttributes take, with their defaults (`None`: no
/// default, absent until set).
const SETTABLE: &[(&str, Option<&str>)] = &[
    ("DelaySeconds", Some("0")),
    ("MaximumMessageSize", Some("262144")),
    ("MessageRetentionPeriod", Some("345600")),
    ("ReceiveMessageWaitTimeSeconds", Some("0")),
    ("VisibilityTimeout", Some("30")),
    ("Policy", None),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("KmsMasterKeyId", None),
    ("KmsDataKeyReusePeriodSeconds", None),
    ("SqsManagedSseEnabled", Some("true")),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
];

/// Attributes GetQueueAttributes computes.
pub const COMPUTED: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

fn invalid_value(name: &str, why: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}. {why}"))
}

/// Checks a queue name: 1-80 of `[A-Za-z0-9_-]`, with `.fifo` at the end of a FIFO queue's.
pub fn check_name(name: &str) -> Result<(), SqsError> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !base.is_empty()
        && name.len() <= 80
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ))
    }
}

fn in_range(name: &str, value: &str, lo: u64, hi: u64) -> Result<(), SqsError> {
    match value.parse::<u64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(()),
        _ => Err(invalid_value(
            name,
            &format!("Value must be between {lo} and {hi}."),
        )),
    }
}

/// Checks `given` (settable attributes) for the queue `name`, and gives the attributes to
/// store: `base` (the current ones, or none for a new queue) with `given` applied and the
/// defaults filled in.
pub fn apply_attributes(
    name: &str,
    base: Option<&BTreeMap<String, String>>,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SqsError> {
    let fifo_name = name.ends_with(".fifo");
    for (key, value) in given {
        if !SETTABLE.iter().any(|(k, _)| k == key) {
            return Err(SqsError::InvalidAttributeName(format!(
                "Unknown Attribute {key}."
            )));
        }
        match key.as_str() {
            "DelaySeconds" => in_range(key, value, 0, 900)?,
            "MaximumMessageSize" => in_range(key, value, 1024, 262_144)?,
            "MessageRetentionPeriod" => in_range(key, value, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => in_range(key, value, 0, 20)?,
            "VisibilityTimeout" => in_range(key, value, 0, 43_200)?,
            "RedrivePolicy" => {
                redrive_of(value)?;
            }
            "FifoQueue" => {
                if base.is_some() {
                    return Err(SqsError::InvalidAttributeName(
                        "Unknown Attribute FifoQueue.".into(),
                    ));
                }
                if value != "true" || !fifo_name {
                    return Err(invalid_value(
                        key,
                        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix.",
                    ));
                }
            }
            "ContentBasedDeduplication" | "SqsManagedSseEnabled" => {
                if value != "true" && value != "false" {
                    return Err(invalid_value(key, "Value must be true or false."));
                }
                if key == "ContentBasedDeduplication" && !fifo_name {
                    return Err(SqsError::InvalidAttributeName(
                        "Unknown Attribute ContentBasedDeduplication.".into(),
                    ));
                }
            }
            _ => {}
        }
    }
    if base.is_none() && fifo_name && given.get("FifoQueue").map(String::as_str) != Some("true") {
        return Err(invalid_value(
            "QueueName",
            "The name of a FIFO queue must be created with the FifoQueue attribute set to true.",
        ));
    }
    let mut out = match base {
        Some(b) => b.clone(),
        None => SETTABLE
            .iter()
            .filter_map(|(k, d)| d.map(|d| (k.to_string(), d.to_string())))
            .collect(),
    };
    if base.is_none() && fifo_name {
        out.insert("FifoQueue".into(), "true".into());
        out.entry("ContentBasedDeduplication".into())
            .or_insert_with(|| "false".into());
    }
    for (k, v) in given {
        if v.is_empty() && k == "RedrivePolicy" {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// A RedrivePolicy's dead-letter queue ARN and maxReceiveCount.
pub fn redrive_of(text: &str) -> Result<(String, u32), SqsError> {
    let bad = || {
        invalid_value(
            "RedrivePolicy",
            "Redrive policy is not a valid JSON map with deadLetterTargetArn and maxReceiveCount.",
        )
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let arn = v["deadLetterTargetArn"].as_str().ok_or_else(bad)?;
    let count = match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|c| (1..=1000).contains(c))
    .ok_or_else(|| {
        invalid_value(
            "RedrivePolicy",
            "Value for parameter maxReceiveCount must be between 1 and 1000.",
        )
    })?;
    Ok((arn.to_string(), count as u32))
}

impl QueueRecord {
    fn number(&self, key: &str, default: u64) -> u64 {
        self.attributes
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Whether it is a FIFO queue.
    pub fn fifo(&self) -> bool {
        self.attributes.get("FifoQueue").map(String::as_str) == Some("true")
    }

    /// Whether FIFO messages without a deduplication id are deduplicated by their body.
    pub fn content_based_dedup(&self) -> bool {
        self.attributes
            .get("ContentBasedDeduplication")
            .map(String::as_str)
            == Some("true")
    }

    pub fn visibility_timeout_s(&self) -> u64 {
        self.number("VisibilityTimeout", 30)
    }

    pub fn delay_s(&self) -> u64 {
        self.number("DelaySeconds", 0)
    }

    pub fn retention_s(&self) -> u64 {
        self.number("MessageRetentionPeriod", 345_600)
    }

    pub fn wait_s(&self) -> u64 {
        self.number("ReceiveMessageWaitTimeSeconds", 0)
    }

    pub fn max_size(&self) -> u64 {
        self.number("MaximumMessageSize", 262_144)
    }

    /// The dead-letter queue's ARN and maxReceiveCount, if any.
    pub fn redrive(&self) -> Option<(String, u32)> {
        self.attributes
            .get("RedrivePolicy")
            .and_then(|p| redrive_of(p).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_and_attributes_are_checked_as_sqs_does() {
        assert!(check_name("orders").is_ok());
        assert!(check_name("orders.fifo").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("bad name").is_err());
        assert!(check_name(&"x".repeat(81)).is_err());
        let made = apply_attributes("q", None, &attrs(&[("VisibilityTimeout", "5")])).unwrap();
        assert_eq!(made["VisibilityTimeout"], "5");
        assert_eq!(made["MessageRetentionPeriod"], "345600");
        for (k, v) in [
            ("VisibilityTimeout", "43201"),
            ("DelaySeconds", "-1"),
            ("MaximumMessageSize", "100"),
            ("RedrivePolicy", "{\"deadLetterTargetArn\": \"arn\"}"),
            (
                "RedrivePolicy",
                "{\"deadLetterTargetArn\": \"arn\", \"maxReceiveCount\": 0}",
            ),
            ("Colour", "blue"),
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "true"),
        ] {
            assert!(
                apply_attributes("q", None, &attrs(&[(k, v)])).is_err(),
                "{k}={v}"
            );
        }
        assert!(apply_attributes("q.fifo", None, &attrs(&[])).is_err());
        let fifo = apply_attributes("q.fifo", None, &attrs(&[("FifoQueue", "true")])).unwrap();
        assert_eq!(fifo["ContentBasedDeduplication"], "false");
        let record = QueueRecord {
            name: "q".into(),
            arn: "arn".into(),
            created: 0,
            modified: 0,
            attributes: apply_attributes(
                "q",
                None,
                &attrs(&[(
                    "RedrivePolicy",
                    "{\"deadLetterTargetArn\": \"arn:aws:sqs:us-east-1:000000000000:dlq\", \"maxReceiveCount\": \"3\"}",
                )]),
            )
            .unwrap(),
            tags: BTreeMap::new(),
        };
        assert_eq!(
            record.redrive(),
            Some(("arn:aws:sqs:us-east-1:000000000000:dlq".into(), 3))
        );
        assert!(!record.fifo());
    }
}
