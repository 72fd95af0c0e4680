//! SQS's vocabulary: message attributes, a queue's attributes with AWS's defaults and ranges,
//! and the service's errors with their JSON names, the legacy query codes botocore reads from
//! `x-amzn-query-error`, and their statuses. `digest` makes the MD5 digests the SDKs check.

pub mod digest;
pub mod queue;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// A message attribute (`MessageAttributeValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeValue {
    /// `String`, `Number` or `Binary`, optionally with a `.custom` suffix.
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// Raw bytes (base64 on the wire).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub binary_value: Option<Vec<u8>>,
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// Checks message attributes as SQS does: at most 10, names of 1-256 characters of
/// `[A-Za-z0-9_.-]` not starting with `AWS.` or `Amazon.` nor holding `..`, a known data type,
/// a value that fits it.
pub fn check_attributes(attributes: &BTreeMap<String, AttributeValue>) -> Result<(), SqsError> {
    if attributes.len() > 10 {
        return Err(SqsError::InvalidParameterValue(
            "Number of message attributes [11] exceeds the allowed maximum [10].".into(),
        ));
    }
    for (name, value) in attributes {
        let lower = name.to_ascii_lowercase();
        let name_ok = (1..=256).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.")
            && !name.contains("..")
            && !name.starts_with('.')
            && !name.ends_with('.');
        if !name_ok {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message attribute name '{name}' is invalid."
            )));
        }
        let base = value.data_type.split('.').next().unwrap_or_default();
        let fits = match base {
            "String" => value.string_value.as_ref().is_some_and(|s| !s.is_empty()),
            "Number" => value
                .string_value
                .as_ref()
                .is_some_and(|s| s.trim().parse::<f64>().is_ok()),
            "Binary" => value.binary_value.is_some(),
            _ => {
                return Err(SqsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                )));
            }
        };
        if !fits {
            return Err(SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' with type '{}' must use field '{}'.",
                value.data_type,
                if base == "Binary" { "Binary" } else { "String" }
            )));
        }
    }
    Ok(())
}

/// Whether `body` holds only the characters SQS allows: #x9, #xA, #xD, #x20 to #xD7FF,
/// #xE000 to #xFFFD, #x10000 to #x10FFFF.
pub fn body_allowed(body: &str) -> bool {
    body.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
    })
}

/// Checks the entries' ids of a batch request: 1 to 10, distinct, of `[A-Za-z0-9_-]{1,80}`.
pub fn check_batch_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Result<(), SqsError> {
    let ids: Vec<&str> = ids.collect();
    if ids.is_empty() {
        return Err(SqsError::EmptyBatchRequest(
            "There should be at least one entry in the request.".into(),
        ));
    }
    if ids.len() > 10 {
        return Err(SqsError::TooManyEntriesInBatchRequest(format!(
            "Maximum number of entries per request are 10. You have sent {}.",
            ids.len()
        )));
    }
    let mut seen = HashSet::new();
    for id in ids {
        let ok = (1..=80).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(SqsError::InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".into(),
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(format!(
                "Id {id} repeated."
            )));
        }
    }
    Ok(())
}

/// SQS's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsError {
    #[error("{0}")]
    QueueDoesNotExist(String),
    #[error("{0}")]
    QueueNameExists(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    MessageNotInflight(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("{0}")]
    TooManyEntriesInBatchRequest(String),
    #[error("{0}")]
    EmptyBatchRequest(String),
    #[error("{0}")]
    BatchEntryIdsNotDistinct(String),
    #[error("{0}")]
    InvalidBatchEntryId(String),
    #[error("{0}")]
    BatchRequestTooLong(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    Internal(String),
}

impl SqsError {
    /// The exception's name in the JSON protocol (`__type`).
    pub fn error_type(&self) -> &'static str {
        self.codes().0
    }

    /// The legacy query-protocol code, as `x-amzn-query-error` carries it (and the query
    /// protocol's `<Code>`).
    pub fn query_code(&self) -> &'static str {
        self.codes().1
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            SqsError::Internal(_) => 500,
            SqsError::OverLimit(_) => 403,
            _ => 400,
        }
    }

    /// Whether the caller is at fault (`Sender`) or the service (`Receiver`).
    pub fn sender_fault(&self) -> bool {
        !matches!(self, SqsError::Internal(_))
    }

    fn codes(&self) -> (&'static str, &'static str) {
        match self {
            SqsError::QueueDoesNotExist(_) => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            SqsError::QueueNameExists(_) => ("QueueNameExists", "QueueAlreadyExists"),
            SqsError::InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName"),
            SqsError::InvalidAttributeValue(_) => {
                ("InvalidAttributeValue", "InvalidAttributeValue")
            }
            SqsError::InvalidParameterValue(_) => {
                ("InvalidParameterValue", "InvalidParameterValue")
            }
            SqsError::MissingParameter(_) => ("MissingParameter", "MissingParameter"),
            SqsError::ReceiptHandleIsInvalid(_) => {
                ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
            }
            SqsError::MessageNotInflight(_) => (
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
            ),
            SqsError::InvalidMessageContents(_) => {
                ("InvalidMessageContents", "InvalidMessageContents")
            }
            SqsError::TooManyEntriesInBatchRequest(_) => (
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            SqsError::EmptyBatchRequest(_) => (
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
            ),
            SqsError::BatchEntryIdsNotDistinct(_) => (
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ),
            SqsError::InvalidBatchEntryId(_) => (
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
            ),
            SqsError::BatchRequestTooLong(_) => (
                "BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
            ),
            SqsError::OverLimit(_) => ("OverLimit", "OverLimit"),
            SqsError::PurgeQueueInProgress(_) => (
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            ),
            SqsError::UnsupportedOperation(_) => (
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
            ),
            SqsError::Internal(_) => ("InternalError", "InternalError"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(data_type: &str, s: Option<&str>, b: Option<&[u8]>) -> AttributeValue {
        AttributeValue {
            data_type: data_type.into(),
            string_value: s.map(str::to_string),
            binary_value: b.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn attributes_are_checked_as_sqs_checks_them() {
        let ok = |name: &str, v: AttributeValue| {
            check_attributes(&BTreeMap::from([(name.to_string(), v)])).is_ok()
        };
        assert!(ok("city", attr("String", Some("Évora"), None)));
        assert!(ok("n", attr("Number", Some("-1.5e3"), None)));
        assert!(ok("n", attr("Number.int", Some("3"), None)));
        assert!(ok("b", attr("Binary", None, Some(b"\x00\x01"))));
        assert!(!ok("n", attr("Number", Some("three"), None)));
        assert!(!ok("s", attr("String", Some(""), None)));
        assert!(!ok("b", attr("Binary", Some("x"), None)));
        assert!(!ok("x", attr("Date", Some("x"), None)));
        assert!(!ok("AWS.trace", attr("String", Some("x"), None)));
        assert!(!ok("a..b", attr("String", Some("x"), None)));
        assert!(!ok("sp ace", attr("String", Some("x"), None)));
        let eleven: BTreeMap<String, AttributeValue> = (0..11)
            .map(|i| (format!("a{i}"), attr("String", Some("x"), None)))
            .collect();
        assert!(check_attributes(&eleven).is_err());
    }

    #[test]
    fn bodies_and_errors() {
        assert!(body_allowed("plain text, ünïcode and \t tabs \n"));
        assert!(!body_allowed("\u{0}"));
        assert!(!body_allowed("\u{fffe}"));
        let e = SqsError::QueueDoesNotExist("The specified queue does not exist.".into());
        assert_eq!(
            (e.error_type(), e.query_code(), e.status()),
            (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                400
            )
        );
    }
}
