//! EventBridge's wire shapes (awsJson1.1, botocore's member names) and stored records: event
//! buses, rules and their targets, PutEvents' entries and the envelope a matched event
//! becomes; their checks as AWS makes them, and the service's errors. `transform` turns an
//! event into what a target receives (Input, InputPath, InputTransformer).
//!
//! Lamina delivers to Lamina functions only: a target naming anything else is refused with
//! a `ValidationException` that says so.

pub mod transform;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delivery::{DeadLetterConfig, RetryPolicy};
use crate::schedule::Schedule;

/// The bus every account has.
pub const DEFAULT_BUS: &str = "default";
/// Most targets per rule (AWS's quota).
pub const TARGETS_PER_RULE_MAX: usize = 5;
/// Most entries per PutEvents.
pub const PUT_EVENTS_ENTRIES_MAX: usize = 10;
/// The longest event pattern (the member's limit; the pattern's grammar is the pattern
/// engine's).
pub const EVENT_PATTERN_MAX_CHARS: usize = 4096;
/// Largest PutEvents request, in bytes (AWS: 256 KB).
pub const PUT_EVENTS_MAX_BYTES: usize = 256 * 1024;

/// EventBridge's errors (all HTTP 400 but `Internal`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidEventPattern(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Internal(String),
}

impl EventsError {
    /// The exception's name (`__type`).
    pub fn error_type(&self) -> &'static str {
        match self {
            EventsError::Validation(_) => "ValidationException",
            EventsError::InvalidEventPattern(_) => "InvalidEventPatternException",
            EventsError::NotFound(_) => "ResourceNotFoundException",
            EventsError::AlreadyExists(_) => "ResourceAlreadyExistsException",
            EventsError::LimitExceeded(_) => "LimitExceededException",
            EventsError::Internal(_) => "InternalException",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            EventsError::Internal(_) => 500,
            _ => 400,
        }
    }
}

fn invalid(why: impl Into<String>) -> EventsError {
    EventsError::Validation(why.into())
}

/// Checks a rule's or bus's name: 1..64 of `[\.\-_A-Za-z0-9]`.
pub fn check_name(member: &str, name: &str) -> Result<(), EventsError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ \
             and have length between 1 and 64"
        )))
    }
}

/// `{Key, Value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `InputTransformer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_paths_map: Option<std::collections::BTreeMap<String, String>>,
    pub input_template: String,
}

/// A rule's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// Target members of other kinds of target, which Lamina does not deliver to.
const OTHER_TARGETS: &[&str] = &[
    "KinesisParameters",
    "RunCommandParameters",
    "EcsParameters",
    "BatchParameters",
    "SqsParameters",
    "HttpParameters",
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "AppSyncParameters",
];

/// Checks one target of PutTargets: the error code and message of its failed entry.
pub fn check_target(value: &Value) -> Result<Target, (&'static str, String)> {
    let bad = |why: String| ("ValidationException", why);
    if let Some(other) = value
        .as_object()
        .and_then(|m| OTHER_TARGETS.iter().find(|k| m.contains_key(**k)))
    {
        return Err(bad(format!(
            "{other} is not supported: Lamina delivers to Lambda functions only"
        )));
    }
    let target: Target = serde_json::from_value(value.clone())
        .map_err(|e| bad(format!("Target is not valid: {e}")))?;
    if target.id.is_empty()
        || target.id.len() > 64
        || !target
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad(format!("Target Id '{}' is not valid", target.id)));
    }
    let parts: Vec<&str> = target.arn.split(':').collect();
    let is_function = target.arn.len() <= 1600
        && (7..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function";
    if !is_function {
        return Err(bad(format!(
            "Target {} is not supported: Lamina delivers to Lambda functions only (arn:aws:lambda:region:account:function:name)",
            target.arn
        )));
    }
    let ways = [
        target.input.is_some(),
        target.input_path.is_some(),
        target.input_transformer.is_some(),
    ];
    if ways.iter().filter(|w| **w).count() > 1 {
        return Err(bad(
            "Only one of Input, InputPath, or InputTransformer must be provided.".into(),
        ));
    }
    if let Some(input) = &target.input
        && (input.len() > 8192 || serde_json::from_str::<Value>(input).is_err())
    {
        return Err(bad("Input is not valid JSON text.".into()));
    }
    if let Some(path) = &target.input_path
        && (path.len() > 256 || transform::parse_path(path).is_none())
    {
        return Err(bad(format!("InputPath {path} is not a valid JSON path")));
    }
    if let Some(t) = &target.input_transformer {
        transform::check(t).map_err(bad)?;
    }
    if let Some(p) = &target.retry_policy {
        p.check().map_err(bad)?;
    }
    if let Some(d) = &target.dead_letter_config {
        d.check().map_err(bad)?;
    }
    Ok(target)
}

/// A stored event bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BusRecord {
    pub name: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub creation_time: f64,
    pub last_modified_time: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A stored rule, with its targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleRecord {
    pub name: String,
    pub arn: String,
    pub event_bus_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// When it was made (or last replaced), epoch seconds: a rate counts from it.
    pub created: f64,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl RuleRecord {
    /// The rule as DescribeRule and ListRules give it.
    pub fn describe(&self) -> Value {
        let mut v = serde_json::json!({
            "Name": self.name,
            "Arn": self.arn,
            "State": self.state,
            "EventBusName": self.event_bus_name,
        });
        for (k, value) in [
            ("EventPattern", &self.event_pattern),
            ("ScheduleExpression", &self.schedule_expression),
            ("Description", &self.description),
            ("RoleArn", &self.role_arn),
        ] {
            if let Some(value) = value {
                v[k] = Value::String(value.clone());
            }
        }
        v
    }
}

/// PutRule's request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRuleRequest {
    pub name: Option<String>,
    pub schedule_expression: Option<String>,
    pub event_pattern: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub event_bus_name: Option<String>,
}

impl PutRuleRequest {
    /// Checks the request as AWS does; the name, the bus, and the rule it describes
    /// (arn and dates are the caller's).
    pub fn check(&self) -> Result<(), EventsError> {
        let name = self.name.as_deref().unwrap_or_default();
        check_name("name", name)?;
        if self.event_pattern.is_none() && self.schedule_expression.is_none() {
            return Err(invalid(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        }
        if let Some(expr) = &self.schedule_expression {
            if expr.len() > 256 {
                return Err(invalid("ScheduleExpression is longer than 256 characters."));
            }
            match Schedule::parse(expr) {
                Ok(Schedule::At(_)) => {
                    return Err(invalid(
                        "Parameter ScheduleExpression is not valid: rules take rate() or cron()",
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(invalid("Parameter ScheduleExpression is not valid."));
                }
            }
            if self
                .event_bus_name
                .as_deref()
                .is_some_and(|b| b != DEFAULT_BUS)
            {
                return Err(invalid(
                    "ScheduleExpression is supported only on the default event bus.",
                ));
            }
        }
        if let Some(pattern) = &self.event_pattern
            && pattern.chars().count() > EVENT_PATTERN_MAX_CHARS
        {
            return Err(invalid("EventPattern is longer than 4096 characters."));
        }
        match self.state.as_deref() {
            None | Some("ENABLED") | Some("DISABLED") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
                )));
            }
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 512) {
            return Err(invalid("Description is longer than 512 characters."));
        }
        Ok(())
    }
}

/// One entry of PutEvents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsEntry {
    pub time: Option<f64>,
    pub source: Option<String>,
    pub resources: Option<Vec<String>>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub event_bus_name: Option<String>,
    pub trace_header: Option<String>,
}

impl PutEventsEntry {
    /// The entry's size as AWS counts it toward the 256 KB limit.
    pub fn size(&self) -> usize {
        14 + self.source.as_ref().map_or(0, String::len)
            + self.detail_type.as_ref().map_or(0, String::len)
            + self.detail.as_ref().map_or(0, String::len)
            + self
                .resources
                .as_ref()
                .map_or(0, |r| r.iter().map(String::len).sum())
    }

    /// The event this entry describes, or its failed entry's code and message.
    pub fn envelope(
        &self,
        id: &str,
        region: &str,
        account: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, (&'static str, String)> {
        let required = |v: &Option<String>, member: &str| match v {
            Some(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err((
                "InvalidArgument",
                format!(
                    "Parameter {member} is not valid. Reason: {member} is a required argument."
                ),
            )),
        };
        let source = required(&self.source, "Source")?;
        let detail_type = required(&self.detail_type, "DetailType")?;
        let detail_text = required(&self.detail, "Detail")?;
        let detail: Value = match serde_json::from_str(&detail_text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(("MalformedDetail", "Detail is malformed.".into())),
        };
        let time = self
            .time
            .and_then(|t| chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64))
            .unwrap_or(now);
        Ok(serde_json::json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": region,
            "resources": self.resources.clone().unwrap_or_default(),
            "detail": detail,
        }))
    }
}

/// The event a rule's schedule delivers (Lambda's "Scheduled Event").
pub fn scheduled_event(
    id: &str,
    rule_arn: &str,
    region: &str,
    account: &str,
    time: chrono::DateTime<chrono::Utc>,
) -> Value {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_rule_is_checked_as_aws_checks_it() {
        let ok = |v: Value| serde_json::from_value::<PutRuleRequest>(v).unwrap().check();
        assert!(ok(json!({"Name": "r", "ScheduleExpression": "rate(5 minutes)"})).is_ok());
        assert!(ok(json!({"Name": "r", "EventPattern": "{}"})).is_ok());
        for bad in [
            json!({"Name": "r"}),
            json!({"Name": "bad name", "EventPattern": "{}"}),
            json!({"Name": "r", "ScheduleExpression": "rate(5 minute)"}),
            json!({"Name": "r", "ScheduleExpression": "at(2030-01-01T00:00:00)"}),
            json!({"Name": "r", "ScheduleExpression": "rate(5 minutes)", "EventBusName": "other"}),
            json!({"Name": "r", "EventPattern": "{}", "State": "ON"}),
        ] {
            assert_eq!(
                ok(bad.clone()).unwrap_err().error_type(),
                "ValidationException",
                "{bad}"
            );
        }
    }

    #[test]
    fn targets_are_lambda_functions_with_one_way_of_input() {
        let f = "arn:aws:lambda:us-east-1:000000000000:function:f";
        assert!(check_target(&json!({"Id": "t1", "Arn": f})).is_ok());
        assert!(check_target(&json!({"Id": "t1", "Arn": f, "Input": "{\"a\":1}"})).is_ok());
        for bad in [
            json!({"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}),
            json!({"Id": "t 1", "Arn": f}),
            json!({"Id": "t1", "Arn": f, "Input": "nope"}),
            json!({"Id": "t1", "Arn": f, "Input": "{}", "InputPath": "$.detail"}),
            json!({"Id": "t1", "Arn": f, "InputPath": "detail"}),
            json!({"Id": "t1", "Arn": f, "SqsParameters": {"MessageGroupId": "g"}}),
            json!({"Id": "t1", "Arn": f, "RetryPolicy": {"MaximumEventAgeInSeconds": 10}}),
        ] {
            assert!(check_target(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_become_envelopes_or_failed_entries() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let entry = |v: Value| serde_json::from_value::<PutEventsEntry>(v).unwrap();
        let e = entry(json!({"Source": "app", "DetailType": "Order", "Detail": "{\"n\": 1}"}))
            .envelope("id-1", "us-east-1", "000000000000", now)
            .unwrap();
        assert_eq!(
            e,
            json!({"version": "0", "id": "id-1", "detail-type": "Order", "source": "app",
                   "account": "000000000000", "time": "2023-11-14T22:13:20Z",
                   "region": "us-east-1", "resources": [], "detail": {"n": 1}})
        );
        let code = |v: Value| entry(v).envelope("i", "r", "a", now).unwrap_err().0;
        assert_eq!(
            code(json!({"DetailType": "x", "Detail": "{}"})),
            "InvalidArgument"
        );
        assert_eq!(
            code(json!({"Source": "s", "DetailType": "x", "Detail": "[1]"})),
            "MalformedDetail"
        );
        assert_eq!(
            code(json!({"Source": "s", "DetailType": "x", "Detail": "{"})),
            "MalformedDetail"
        );
    }
}
