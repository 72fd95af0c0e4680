//! EventBridge Scheduler's wire shapes (rest-json, botocore's member names) and its stored
//! records: schedules and schedule groups, their checks as AWS makes them, and the
//! service's errors with their HTTP statuses.
//!
//! Lamina's Scheduler delivers to Lamina functions only: a target naming anything else is
//! refused with a `ValidationException` that says so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delivery::{DeadLetterConfig, RetryPolicy};
use crate::schedule::{Schedule, time_zone};

/// The group a schedule is in when none is named.
pub const DEFAULT_GROUP: &str = "default";

/// The Scheduler's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    /// 400.
    #[error("{0}")]
    Validation(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl SchedulerError {
    /// The exception's name on the wire.
    pub fn error_type(&self) -> &'static str {
        match self {
            SchedulerError::Validation(_) => "ValidationException",
            SchedulerError::Conflict(_) => "ConflictException",
            SchedulerError::NotFound(_) => "ResourceNotFoundException",
            SchedulerError::Internal(_) => "InternalServerException",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            SchedulerError::Validation(_) => 400,
            SchedulerError::Conflict(_) => 409,
            SchedulerError::NotFound(_) => 404,
            SchedulerError::Internal(_) => 500,
        }
    }
}

fn invalid(why: impl Into<String>) -> SchedulerError {
    SchedulerError::Validation(why.into())
}

/// Checks a schedule's or group's name: 1..64 of `[0-9a-zA-Z-_.]`.
pub fn check_name(member: &str, name: &str) -> Result<(), SchedulerError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$ \
             and have length between 1 and 64"
        )))
    }
}

/// `FlexibleTimeWindow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FlexibleTimeWindow {
    /// `OFF` or `FLEXIBLE`.
    pub mode: String,
    /// 1..=1440, with `FLEXIBLE` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_window_in_minutes: Option<u32>,
}

/// A schedule's `Target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// The function's ARN (optionally with a version or alias).
    pub arn: String,
    /// Accepted and kept; Lamina needs no role to invoke its own functions.
    pub role_arn: String,
    /// Delivered verbatim, context attributes replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Retries of a failed delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Where an event that cannot be delivered goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// The body of CreateSchedule and UpdateSchedule (the name is in the path).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleRequest {
    pub group_name: Option<String>,
    pub schedule_expression: Option<String>,
    pub start_date: Option<f64>,
    pub end_date: Option<f64>,
    pub description: Option<String>,
    pub schedule_expression_timezone: Option<String>,
    pub state: Option<String>,
    pub kms_key_arn: Option<String>,
    pub target: Option<Value>,
    pub flexible_time_window: Option<FlexibleTimeWindow>,
    pub client_token: Option<String>,
    pub action_after_completion: Option<String>,
}

/// A stored schedule; also GetSchedule's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleRecord {
    pub arn: String,
    pub name: String,
    pub group_name: String,
    pub schedule_expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression_timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    pub target: Target,
    pub flexible_time_window: FlexibleTimeWindow,
    pub action_after_completion: String,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds.
    pub last_modification_date: f64,
}

impl ScheduleRecord {
    /// The parsed expression (checked when the record was made).
    pub fn schedule(&self) -> Option<Schedule> {
        Schedule::parse(&self.schedule_expression).ok()
    }

    /// The zone its `at()` and `cron()` are read in (UTC when none is set).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.schedule_expression_timezone
            .as_deref()
            .and_then(time_zone)
            .unwrap_or(chrono_tz::Tz::UTC)
    }

    /// ListSchedules' summary.
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "Arn": self.arn,
            "Name": self.name,
            "GroupName": self.group_name,
            "State": self.state,
            "CreationDate": self.creation_date,
            "LastModificationDate": self.last_modification_date,
            "Target": {"Arn": self.target.arn},
        })
    }
}

/// A stored schedule group; also GetScheduleGroup's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRecord {
    pub arn: String,
    pub name: String,
    /// Always `ACTIVE` here: a group is deleted with its schedules at once.
    pub state: String,
    pub creation_date: f64,
    pub last_modification_date: f64,
}

/// `{Key, Value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Target members of other kinds of target, which Lamina does not deliver to.
const OTHER_TARGETS: &[&str] = &[
    "EcsParameters",
    "EventBridgeParameters",
    "EventBridgePutEventsV2Parameters",
    "EventBridgePutRawEventsParameters",
    "KinesisParameters",
    "SageMakerPipelineParameters",
    "SqsParameters",
];

impl ScheduleRequest {
    /// Checks the request as AWS does and makes the record it describes (an update
    /// replaces every member, as AWS's UpdateSchedule does). `arn` and the dates are the
    /// caller's.
    pub fn into_record(
        self,
        name: &str,
        arn: String,
        created: f64,
        now: f64,
    ) -> Result<ScheduleRecord, SchedulerError> {
        check_name("name", name)?;
        let group_name = self.group_name.unwrap_or_else(|| DEFAULT_GROUP.into());
        check_name("groupName", &group_name)?;
        let expression = self
            .schedule_expression
            .ok_or_else(|| invalid("ScheduleExpression is required"))?;
        if expression.is_empty() || expression.len() > 256 {
            return Err(invalid(
                "ScheduleExpression must have length between 1 and 256",
            ));
        }
        let schedule = Schedule::parse(&expression).map_err(|e| invalid(e.to_string()))?;
        if let Some(zone) = &self.schedule_expression_timezone
            && (zone.is_empty() || zone.len() > 50 || time_zone(zone).is_none())
        {
            return Err(invalid(format!("Invalid time zone: {zone}")));
        }
        let state = self.state.unwrap_or_else(|| "ENABLED".into());
        if state != "ENABLED" && state != "DISABLED" {
            return Err(invalid(format!(
                "Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 512) {
            return Err(invalid(
                "Description must have length less than or equal to 512",
            ));
        }
        let window = self
            .flexible_time_window
            .ok_or_else(|| invalid("FlexibleTimeWindow is required"))?;
        match (window.mode.as_str(), window.maximum_window_in_minutes) {
            ("OFF", None) => {}
            ("FLEXIBLE", Some(m)) if (1..=1440).contains(&m) => {}
            ("FLEXIBLE", _) => {
                return Err(invalid(
                    "MaximumWindowInMinutes between 1 and 1440 is required when FlexibleTimeWindow's Mode is FLEXIBLE",
                ));
            }
            ("OFF", Some(_)) => {
                return Err(invalid(
                    "MaximumWindowInMinutes is only allowed when FlexibleTimeWindow's Mode is FLEXIBLE",
                ));
            }
            (mode, _) => {
                return Err(invalid(format!(
                    "Value '{mode}' at 'flexibleTimeWindow.mode' failed to satisfy constraint: Member must satisfy enum value set: [OFF, FLEXIBLE]"
                )));
            }
        }
        let action = self
            .action_after_completion
            .unwrap_or_else(|| "NONE".into());
        if action != "NONE" && action != "DELETE" {
            return Err(invalid(format!(
                "Value '{action}' at 'actionAfterCompletion' failed to satisfy constraint: Member must satisfy enum value set: [NONE, DELETE]"
            )));
        }
        if let (Some(start), Some(end)) = (self.start_date, self.end_date)
            && end <= start
        {
            return Err(invalid("The EndDate must be after the StartDate."));
        }
        let target = check_target(self.target.ok_or_else(|| invalid("Target is required"))?)?;
        // A one-time schedule ignores its dates, as AWS's does.
        let (start_date, end_date) = match schedule {
            Schedule::At(_) => (None, None),
            _ => (self.start_date, self.end_date),
        };
        Ok(ScheduleRecord {
            arn,
            name: name.to_string(),
            group_name,
            schedule_expression: expression,
            schedule_expression_timezone: self.schedule_expression_timezone,
            start_date,
            end_date,
            description: self.description,
            state,
            kms_key_arn: self.kms_key_arn,
            target,
            flexible_time_window: window,
            action_after_completion: action,
            creation_date: created,
            last_modification_date: now,
        })
    }
}

fn check_target(value: Value) -> Result<Target, SchedulerError> {
    if let Some(other) = value
        .as_object()
        .and_then(|m| OTHER_TARGETS.iter().find(|k| m.contains_key(**k)))
    {
        return Err(invalid(format!(
            "{other} is not supported: Lamina's Scheduler delivers to Lambda functions only"
        )));
    }
    let mut target: Target =
        serde_json::from_value(value).map_err(|e| invalid(format!("Target is not valid: {e}")))?;
    let parts: Vec<&str> = target.arn.split(':').collect();
    let is_function = target.arn.len() <= 1600
        && (7..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function";
    if !is_function {
        return Err(invalid(format!(
            "Target Arn '{}' is not supported: Lamina's Scheduler delivers to Lambda functions only (arn:aws:lambda:region:account:function:name)",
            target.arn
        )));
    }
    if !role_arn_ok(&target.role_arn) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{}' at 'target.roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ^arn:aws(-[a-z]+)?:iam::\\d{{12}}:role\\/[\\w+=,.@\\/-]+$",
            target.role_arn
        )));
    }
    // Checked as the function will receive it: context attributes replaced.
    if let Some(input) = &target.input
        && (input.is_empty()
            || serde_json::from_str::<Value>(
                &input
                    .replace("<aws.scheduler.attempt-number>", "1")
                    .replace("<aws.scheduler.schedule-arn>", "a")
                    .replace("<aws.scheduler.scheduled-time>", "t")
                    .replace("<aws.scheduler.execution-id>", "e"),
            )
            .is_err())
    {
        return Err(invalid(
            "Target Input must be well-formed JSON for a Lambda function target",
        ));
    }
    if let Some(policy) = &target.retry_policy {
        policy.check().map_err(invalid)?;
    }
    target.retry_policy = Some(RetryPolicy::or_defaults(target.retry_policy));
    if let Some(dlq) = &target.dead_letter_config {
        dlq.check().map_err(invalid)?;
    }
    Ok(target)
}

/// `^arn:aws(-[a-z]+)?:iam::\d{12}:role\/[\w+=,.@\/-]+$`.
fn role_arn_ok(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let partition_ok = partition.is_empty()
        || partition
            .strip_prefix('-')
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()));
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    partition_ok
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_alphanumeric() || "_+=,.@/-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(v: Value) -> ScheduleRequest {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> Value {
        json!({
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                       "RoleArn": "arn:aws:iam::000000000000:role/scheduler"}
        })
    }

    fn make(v: Value) -> Result<ScheduleRecord, SchedulerError> {
        request(v).into_record("s", "arn".into(), 1.0, 1.0)
    }

    #[test]
    fn a_minimal_schedule_gets_aws_defaults() {
        let r = make(base()).unwrap();
        assert_eq!(r.group_name, "default");
        assert_eq!(r.state, "ENABLED");
        assert_eq!(r.action_after_completion, "NONE");
        assert_eq!(
            r.target.retry_policy,
            Some(RetryPolicy {
                maximum_event_age_in_seconds: Some(86_400),
                maximum_retry_attempts: Some(185)
            })
        );
    }

    #[test]
    fn invalid_members_are_refused() {
        let cases: Vec<(&str, Value)> = vec![
            ("ScheduleExpression", json!("rate(5 minute)")),
            ("ScheduleExpressionTimezone", json!("Mars/Olympus")),
            ("State", json!("PAUSED")),
            ("FlexibleTimeWindow", json!({"Mode": "FLEXIBLE"})),
            (
                "FlexibleTimeWindow",
                json!({"Mode": "OFF", "MaximumWindowInMinutes": 5}),
            ),
            ("FlexibleTimeWindow", json!({"Mode": "SOMETIMES"})),
            ("ActionAfterCompletion", json!("ARCHIVE")),
            ("GroupName", json!("bad name")),
            (
                "Target",
                json!({"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": "arn:aws:iam::000000000000:role/r"}),
            ),
            (
                "Target",
                json!({"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "RoleArn": "role"}),
            ),
            (
                "Target",
                json!({"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "RoleArn": "arn:aws:iam::000000000000:role/r", "Input": "not json"}),
            ),
            (
                "Target",
                json!({"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "RoleArn": "arn:aws:iam::000000000000:role/r", "SqsParameters": {}}),
            ),
            (
                "Target",
                json!({"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "RoleArn": "arn:aws:iam::000000000000:role/r", "RetryPolicy": {"MaximumRetryAttempts": 200}}),
            ),
            (
                "Target",
                json!({"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "RoleArn": "arn:aws:iam::000000000000:role/r", "DeadLetterConfig": {"Arn": "arn:aws:sns:us-east-1:000000000000:t"}}),
            ),
        ];
        for (member, value) in cases {
            let mut v = base();
            v[member] = value.clone();
            let e = make(v).expect_err(&format!("{member} = {value}"));
            assert_eq!(e.error_type(), "ValidationException", "{member}: {e}");
        }
        let mut no_target = base();
        no_target.as_object_mut().unwrap().remove("Target");
        assert!(make(no_target).is_err());
        assert!(
            request(base())
                .into_record("bad/name", "a".into(), 1.0, 1.0)
                .is_err()
        );
        let mut dates = base();
        dates["StartDate"] = json!(2000.0);
        dates["EndDate"] = json!(1000.0);
        assert!(make(dates).is_err());
    }

    #[test]
    fn one_time_schedules_ignore_their_dates() {
        let mut v = base();
        v["ScheduleExpression"] = json!("at(2030-01-01T00:00:00)");
        v["StartDate"] = json!(1000.0);
        let r = make(v).unwrap();
        assert_eq!(r.start_date, None);
    }

    #[test]
    fn role_arns_follow_aws_pattern() {
        assert!(role_arn_ok(
            "arn:aws:iam::123456789012:role/service-role/x+y=z"
        ));
        assert!(role_arn_ok("arn:aws-cn:iam::123456789012:role/r"));
        assert!(!role_arn_ok("arn:aws:iam::12345678901:role/r"));
        assert!(!role_arn_ok("arn:aws:iam::123456789012:user/r"));
        assert!(!role_arn_ok("arn:aws:iam::123456789012:role/"));
    }
}
