//! What a schedule fires, as pure functions: when it is next due (its expression in its
//! zone, bounded by its dates, with a rate's minute as long as the server says), when
//! within its flexible window it fires, and the payload its target receives (the target's
//! Input with the Scheduler's context attributes replaced).

use std::time::Duration;

use chrono::{DateTime, Utc};
use lamina_model::delivery::Delivery;
use lamina_model::schedule::Schedule;
use lamina_model::scheduler::ScheduleRecord;

pub(crate) fn from_epoch_s(s: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((s * 1000.0) as i64)
}

/// When `record` is next due after `after` (strictly), if it fires again. `minute` is how
/// long a minute of `rate()` lasts (60 s, but in tests).
pub(super) fn next_due(
    record: &ScheduleRecord,
    after: DateTime<Utc>,
    minute: Duration,
) -> Option<DateTime<Utc>> {
    // A rate counts from its StartDate, else from its creation.
    let start = from_epoch_s(record.start_date.unwrap_or(record.creation_date))?;
    next_of(
        record.schedule()?,
        record.zone(),
        start,
        record.end_date.and_then(from_epoch_s),
        after,
        minute,
    )
}

/// When `schedule` (read in `zone`, a rate counted from `start`, none after `end`) is next
/// due after `after`.
pub(crate) fn next_of(
    schedule: Schedule,
    zone: lamina_model::schedule::Tz,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    after: DateTime<Utc>,
    minute: Duration,
) -> Option<DateTime<Utc>> {
    let schedule = match schedule {
        Schedule::Rate(every) => {
            let scaled = every.as_secs_f64() / 60.0 * minute.as_secs_f64();
            Schedule::Rate(Duration::from_secs_f64(scaled.max(0.001)))
        }
        other => other,
    };
    let next = schedule.next_after_in(start, after, zone)?;
    match end {
        Some(end) if next > end => None,
        _ => Some(next),
    }
}

/// When a fire due at `due` happens: at once, or at a random point of the flexible window
/// (`unit` in [0, 1)).
pub(super) fn fire_time(
    record: &ScheduleRecord,
    due: DateTime<Utc>,
    minute: Duration,
    unit: f64,
) -> DateTime<Utc> {
    match record.flexible_time_window.maximum_window_in_minutes {
        Some(m) if record.flexible_time_window.mode == "FLEXIBLE" => {
            let window_ms = minute.as_millis() as f64 * f64::from(m);
            due + chrono::Duration::milliseconds((window_ms * unit) as i64)
        }
        _ => due,
    }
}

/// The payload of the fire due at `due`: the target's Input with the context attributes
/// replaced, or `{}` when it has none.
pub(super) fn payload(record: &ScheduleRecord, due: DateTime<Utc>, execution_id: &str) -> String {
    match &record.target.input {
        None => "{}".to_string(),
        Some(input) => input
            .replace("<aws.scheduler.schedule-arn>", &record.arn)
            .replace(
                "<aws.scheduler.scheduled-time>",
                &due.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", "1"),
    }
}

/// The delivery policy its events carry.
pub(super) fn delivery(record: &ScheduleRecord) -> Delivery {
    Delivery::for_target(
        &record.arn,
        record.target.retry_policy,
        record.target.dead_letter_config.as_ref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_model::scheduler::ScheduleRequest;
    use serde_json::json;

    fn record(v: serde_json::Value) -> ScheduleRecord {
        let mut base = json!({
            "ScheduleExpression": "rate(1 minute)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                       "RoleArn": "arn:aws:iam::000000000000:role/r",
                       "Input": "{\"arn\":\"<aws.scheduler.schedule-arn>\",\"at\":\"<aws.scheduler.scheduled-time>\",\"id\":\"<aws.scheduler.execution-id>\",\"n\":<aws.scheduler.attempt-number>}"}
        });
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        serde_json::from_value::<ScheduleRequest>(base)
            .unwrap()
            .into_record("s", "arn:s".into(), 1_000.0, 1_000.0)
            .unwrap()
    }

    fn t(s: f64) -> DateTime<Utc> {
        from_epoch_s(s).unwrap()
    }

    #[test]
    fn rates_count_from_the_start_in_the_servers_minutes() {
        let r = record(json!({}));
        let minute = Duration::from_secs(60);
        assert_eq!(next_due(&r, t(1_000.0), minute), Some(t(1_060.0)));
        assert_eq!(next_due(&r, t(1_061.0), minute), Some(t(1_120.0)));
        // A minute of 500 ms, for tests.
        assert_eq!(
            next_due(&r, t(1_000.2), Duration::from_millis(500)),
            Some(t(1_000.5))
        );
        let started = record(json!({"StartDate": 5_000.0, "EndDate": 5_100.0}));
        assert_eq!(next_due(&started, t(1_000.0), minute), Some(t(5_000.0)));
        assert_eq!(next_due(&started, t(5_061.0), minute), None);
    }

    #[test]
    fn the_payload_is_the_input_with_its_context() {
        let r = record(json!({}));
        let p: serde_json::Value =
            serde_json::from_str(&payload(&r, t(1_060.0), "exec-1")).unwrap();
        assert_eq!(
            p,
            json!({"arn": "arn:s", "at": "1970-01-01T00:17:40Z", "id": "exec-1", "n": 1})
        );
        let mut none = r.clone();
        none.target.input = None;
        assert_eq!(payload(&none, t(0.0), "x"), "{}");
    }

    #[test]
    fn a_flexible_window_delays_within_it() {
        let r = record(
            json!({"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}}),
        );
        let minute = Duration::from_secs(60);
        assert_eq!(fire_time(&r, t(0.0), minute, 0.0), t(0.0));
        assert_eq!(fire_time(&r, t(0.0), minute, 0.5), t(300.0));
        assert!(fire_time(&r, t(0.0), minute, 0.999_999) < t(600.0));
        let off = record(json!({}));
        assert_eq!(fire_time(&off, t(0.0), minute, 0.5), t(0.0));
    }

    #[test]
    fn the_delivery_carries_the_targets_policy() {
        let r = record(json!({"Target": {
            "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
            "RoleArn": "arn:aws:iam::000000000000:role/r",
            "RetryPolicy": {"MaximumEventAgeInSeconds": 120},
            "DeadLetterConfig": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:dlq"}}}));
        let d = delivery(&r);
        assert_eq!((d.max_age_s, d.max_attempts), (120, 185));
        assert_eq!(
            d.dead_letter.as_deref(),
            Some("arn:aws:lambda:us-east-1:000000000000:function:dlq")
        );
    }
}
