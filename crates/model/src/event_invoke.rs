//! Asynchronous invocation's configuration per function and qualifier
//! (Put/Update/Get/List/DeleteFunctionEventInvokeConfig), its wire shapes, and the
//! invocation record Lambda sends to destinations; events that failed for good, as
//! Lamina lists and replays them.

use serde::{Deserialize, Serialize};

use crate::LambdaError;
use crate::limits::{ASYNC_RETRIES_MAX, EVENT_AGE_MAX_S, EVENT_AGE_MIN_S};

/// What is stored for one qualifier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    /// MaximumRetryAttempts (0-2); the default (2) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    /// MaximumEventAgeInSeconds (60-21,600); the default (21,600) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_s: Option<u32>,
    /// OnSuccess destination ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// OnFailure destination ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// When it last changed, in epoch seconds.
    pub last_modified: f64,
}

impl EventInvokeConfig {
    /// Retries after a function error.
    pub fn retries(&self) -> u32 {
        self.maximum_retry_attempts.unwrap_or(ASYNC_RETRIES_MAX)
    }

    /// Longest an event is kept, in seconds.
    pub fn max_age_s(&self) -> u32 {
        self.maximum_event_age_s.unwrap_or(EVENT_AGE_MAX_S)
    }
}

/// One destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Destination {
    /// The target's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// `DestinationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    /// For invocations that succeeded.
    #[serde(default)]
    pub on_success: Option<Destination>,
    /// For invocations that failed for good.
    #[serde(default)]
    pub on_failure: Option<Destination>,
}

/// Put/UpdateFunctionEventInvokeConfig's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigRequest {
    /// 0-2.
    pub maximum_retry_attempts: Option<i64>,
    /// 60-21,600.
    pub maximum_event_age_in_seconds: Option<i64>,
    /// Destinations.
    pub destination_config: Option<DestinationConfig>,
}

impl EventInvokeConfigRequest {
    /// Applies the request onto `base` (Put starts from nothing, Update from what is stored),
    /// checking every value as Lambda does; `destination` checks one destination ARN.
    pub fn apply(
        &self,
        mut base: EventInvokeConfig,
        destination: impl Fn(&str) -> Result<(), LambdaError>,
    ) -> Result<EventInvokeConfig, LambdaError> {
        if let Some(n) = self.maximum_retry_attempts {
            base.maximum_retry_attempts = Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= ASYNC_RETRIES_MAX)
                    .ok_or_else(|| {
                        LambdaError::invalid_member(
                            Some(&n.to_string()),
                            "maximumRetryAttempts",
                            &format!(
                                "Member must have value less than or equal to {ASYNC_RETRIES_MAX}"
                            ),
                        )
                    })?,
            );
        }
        if let Some(n) = self.maximum_event_age_in_seconds {
            base.maximum_event_age_s = Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| (EVENT_AGE_MIN_S..=EVENT_AGE_MAX_S).contains(n))
                    .ok_or_else(|| {
                        LambdaError::invalid_member(Some(&n.to_string()), "maximumEventAgeInSeconds", &format!("Member must have value between {EVENT_AGE_MIN_S} and {EVENT_AGE_MAX_S}"))
                    })?,
            );
        }
        if let Some(d) = &self.destination_config {
            if let Some(on) = &d.on_success {
                base.on_success = on.destination.clone().filter(|a| !a.is_empty());
            }
            if let Some(on) = &d.on_failure {
                base.on_failure = on.destination.clone().filter(|a| !a.is_empty());
            }
        }
        for arn in base.on_success.iter().chain(base.on_failure.iter()) {
            destination(arn)?;
        }
        Ok(base)
    }
}

/// What the API answers (`FunctionEventInvokeConfig`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionEventInvokeConfig {
    /// Epoch seconds (a timestamp in the API model).
    pub last_modified: f64,
    /// The qualified function ARN.
    pub function_arn: String,
    /// When set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    /// When set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    /// Always present, with empty members when unset, as Lambda answers.
    pub destination_config: DestinationConfig,
}

impl FunctionEventInvokeConfig {
    /// The answer for `config` stored on `function_arn`.
    pub fn new(function_arn: String, config: &EventInvokeConfig) -> FunctionEventInvokeConfig {
        FunctionEventInvokeConfig {
            last_modified: config.last_modified,
            function_arn,
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_event_age_in_seconds: config.maximum_event_age_s,
            destination_config: DestinationConfig {
                on_success: Some(Destination {
                    destination: config.on_success.clone(),
                }),
                on_failure: Some(Destination {
                    destination: config.on_failure.clone(),
                }),
            },
        }
    }
}

/// The invocation record Lambda sends to a destination: what was asked, why it was sent,
/// and (when the function ran) what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRecord {
    /// Always `1.0`.
    pub version: String,
    /// When the record was made (`2019-11-24T21:52:47.333Z`).
    pub timestamp: String,
    /// The invocation.
    pub request_context: RecordRequestContext,
    /// The event, as JSON (a string when it was not JSON).
    pub request_payload: serde_json::Value,
    /// How the function answered, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_context: Option<RecordResponseContext>,
    /// What the function answered, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_payload: Option<serde_json::Value>,
}

/// `requestContext` of a [`DestinationRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRequestContext {
    /// The request id the event was accepted with.
    pub request_id: String,
    /// The function and qualifier invoked.
    pub function_arn: String,
    /// `Success`, `RetriesExhausted`, `EventAgeExceeded`, ...
    pub condition: String,
    /// Times the function ran the event.
    pub approximate_invoke_count: u32,
}

/// `responseContext` of a [`DestinationRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordResponseContext {
    /// Always 200: the invocation itself succeeded.
    pub status_code: u16,
    /// The version that ran.
    pub executed_version: String,
    /// `Unhandled` when the function failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

impl DestinationRecord {
    /// Bytes as a record carries them: JSON where they are JSON, else a string.
    pub fn payload(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into()))
    }
}

/// A failed event, as `GET /_lamina/events/failed` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedEvent {
    /// Id, for replay.
    pub id: i64,
    /// Function.
    pub function_name: String,
    /// Qualifier invoked, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// The request id the event was accepted with.
    pub request_id: String,
    /// The event.
    pub payload: String,
    /// Times the function ran it.
    pub attempts: u32,
    /// Accepted at, epoch ms.
    pub enqueued_at: u64,
    /// Failed at, epoch ms.
    pub failed_at: u64,
    /// Why (the condition and the last error).
    pub reason: String,
}

/// `GET /_lamina/events/failed`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedEventsResponse {
    /// Oldest first.
    pub failed_events: Vec<FailedEvent>,
}

/// `POST /_lamina/events/failed/{id}/replay`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplayedEvent {
    /// The id of the event queued again.
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> EventInvokeConfigRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn put_checks_and_update_merges() {
        let ok = |_: &str| Ok(());
        let put = req(serde_json::json!({"MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:f"}}}))
        .apply(EventInvokeConfig::default(), ok)
        .unwrap();
        assert_eq!((put.retries(), put.max_age_s()), (0, 21_600));
        assert_eq!(put.on_failure.as_deref(), Some("arn:f"));
        let updated = req(serde_json::json!({"MaximumEventAgeInSeconds": 60}))
            .apply(put.clone(), ok)
            .unwrap();
        assert_eq!((updated.retries(), updated.max_age_s()), (0, 60));
        assert_eq!(
            updated.on_failure.as_deref(),
            Some("arn:f"),
            "kept by an update"
        );
        for bad in [
            serde_json::json!({"MaximumRetryAttempts": 3}),
            serde_json::json!({"MaximumRetryAttempts": -1}),
            serde_json::json!({"MaximumEventAgeInSeconds": 59}),
            serde_json::json!({"MaximumEventAgeInSeconds": 21_601}),
        ] {
            assert!(matches!(
                req(bad.clone()).apply(EventInvokeConfig::default(), ok),
                Err(LambdaError::Validation(_))
            ));
        }
        let refuse = |a: &str| Err(LambdaError::InvalidParameterValue(a.to_string()));
        assert!(
            req(serde_json::json!({"DestinationConfig": {"OnSuccess": {"Destination": "x"}}}))
                .apply(EventInvokeConfig::default(), refuse)
                .is_err()
        );
        let wire =
            serde_json::to_value(FunctionEventInvokeConfig::new("arn".into(), &put)).unwrap();
        assert_eq!(
            wire["DestinationConfig"]["OnSuccess"],
            serde_json::json!({})
        );
        assert_eq!(
            wire["DestinationConfig"]["OnFailure"]["Destination"],
            "arn:f"
        );
    }

    #[test]
    fn destination_record_has_lambdas_shape() {
        let record = DestinationRecord {
            version: "1.0".into(),
            timestamp: "2026-12-04T10:00:00.000Z".into(),
            request_context: RecordRequestContext {
                request_id: "r".into(),
                function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
                condition: "RetriesExhausted".into(),
                approximate_invoke_count: 3,
            },
            request_payload: DestinationRecord::payload(br#"{"a":1}"#),
            response_context: Some(RecordResponseContext {
                status_code: 200,
                executed_version: "$LATEST".into(),
                function_error: Some("Unhandled".into()),
            }),
            response_payload: Some(DestinationRecord::payload(b"not json")),
        };
        let wire = serde_json::to_value(&record).unwrap();
        assert_eq!(wire["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(wire["requestPayload"]["a"], 1);
        assert_eq!(wire["responseContext"]["statusCode"], 200);
        assert_eq!(wire["responseContext"]["functionError"], "Unhandled");
        assert_eq!(wire["responsePayload"], "not json");
        let success = DestinationRecord {
            response_context: None,
            response_payload: None,
            ..record
        };
        let wire = serde_json::to_value(&success).unwrap();
        assert!(wire.get("responseContext").is_none() && wire.get("responsePayload").is_none());
    }
}
