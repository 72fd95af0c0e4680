//! Schedule expressions, as EventBridge Scheduler and EventBridge rules take them:
//! `at(yyyy-mm-ddThh:mm:ss)`, `rate(n unit)` and `cron(minutes hours day-of-month month
//! day-of-week year)` in AWS's dialect (day-of-week 1 = Sunday; `?`, `L`, `W`, `#`; one of
//! day-of-month and day-of-week must be `?`; a year field), parsed and checked as AWS checks
//! them, and the next time each fires in a time zone (IANA names, daylight-saving changes
//! as AWS documents them: a local time the clocks skip does not fire that day, a local time
//! they pass twice fires once).

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
pub use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The time zone named `name` (an IANA name such as `Europe/Lisbon`), as
/// `ScheduleExpressionTimezone` takes it.
pub fn time_zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// Why an expression is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid Schedule Expression {expression}: {why}")]
pub struct ScheduleError {
    /// The expression as given.
    pub expression: String,
    /// What is wrong with it.
    pub why: String,
}

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Once, at this time.
    At(NaiveDateTime),
    /// Every this long, from the schedule's start.
    Rate(Duration),
    /// At every time the pattern matches.
    Cron(Box<Cron>),
}

fn refuse(expression: &str, why: impl Into<String>) -> ScheduleError {
    ScheduleError {
        expression: expression.to_string(),
        why: why.into(),
    }
}

impl Schedule {
    /// Parses `expression`.
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        let inner = |prefix: &str| {
            expression
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
        };
        if let Some(at) = inner("at(") {
            return NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
                .map(Schedule::At)
                .map_err(|_| refuse(expression, "at() takes yyyy-mm-ddThh:mm:ss"));
        }
        if let Some(rate) = inner("rate(") {
            return parse_rate(expression, rate).map(Schedule::Rate);
        }
        if let Some(cron) = inner("cron(") {
            return parse_cron(expression, cron).map(|c| Schedule::Cron(Box::new(c)));
        }
        Err(refuse(
            expression,
            "a schedule expression is at(...), rate(...) or cron(...)",
        ))
    }

    /// The first time it fires after `after` (strictly), if it ever does again, with
    /// `at()` and `cron()` read in UTC; a rate's times are counted from `start`.
    pub fn next_after(&self, start: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after_in(start, after, Tz::UTC)
    }

    /// As [`Schedule::next_after`], with `at()` and `cron()` read as local times of `zone`.
    /// A rate is a fixed duration whatever the zone (`rate(1 day)` is 24 hours, as AWS).
    pub fn next_after_in(
        &self,
        start: DateTime<Utc>,
        after: DateTime<Utc>,
        zone: Tz,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::At(at) => {
                // A local time the clocks skip is read as the same reading after the jump.
                let at = zone
                    .from_local_datetime(at)
                    .earliest()
                    .or_else(|| {
                        zone.from_local_datetime(&(*at + chrono::Duration::hours(1)))
                            .earliest()
                    })?
                    .with_timezone(&Utc);
                (at > after).then_some(at)
            }
            Schedule::Rate(every) => {
                let every = chrono::Duration::from_std(*every).ok()?;
                if after < start {
                    return Some(start);
                }
                let periods = (after - start).num_milliseconds() / every.num_milliseconds() + 1;
                Some(start + every * periods as i32)
            }
            Schedule::Cron(cron) => {
                let mut from = after.with_timezone(&zone);
                let after_local = from.naive_local();
                // croner moves a local time the clocks skip to just after the jump, and
                // may find a local time again when the clocks go back; AWS skips the first
                // and fires the second once, so a time the pattern does not match, or a
                // local time not later than `after`'s, is passed over.
                for _ in 0..4 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    if next.year() > 2199 {
                        // AWS's years stop at 2199.
                        return None;
                    }
                    if next.naive_local() > after_local
                        && cron.is_time_matching(&next).unwrap_or(false)
                    {
                        return Some(next.with_timezone(&Utc));
                    }
                    from = next;
                }
                None
            }
        }
    }
}

fn parse_rate(expression: &str, rate: &str) -> Result<Duration, ScheduleError> {
    let bad = || {
        refuse(
            expression,
            "rate() takes a positive whole number and a unit: minute(s), hour(s) or day(s)",
        )
    };
    let (n, unit) = rate.trim().split_once(' ').ok_or_else(bad)?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    // AWS: the singular for 1, the plural otherwise.
    let seconds = match (unit, n == 1) {
        ("minute", true) | ("minutes", false) => 60,
        ("hour", true) | ("hours", false) => 3600,
        ("day", true) | ("days", false) => 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n * seconds))
}

fn parse_cron(expression: &str, cron: &str) -> Result<Cron, ScheduleError> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(refuse(
            expression,
            "cron() takes 6 fields: minutes hours day-of-month month day-of-week year",
        ));
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err(refuse(
            expression,
            "one of day-of-month and day-of-week must be ?, and not both",
        ));
    }
    if dow.matches('#').count() > 1 {
        return Err(refuse(expression, "# may be used once in day-of-week"));
    }
    // croner has no `?`: it stands for "any", which the other field then decides.
    let any = |f: &str| {
        if f == "?" {
            "*".to_string()
        } else {
            f.to_string()
        }
    };
    let pattern = format!(
        "0 {} {} {} {} {} {}",
        fields[0],
        fields[1],
        any(dom),
        fields[3],
        any(dow),
        fields[5]
    );
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&pattern)
        .map_err(|e| refuse(expression, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_utc()
    }

    fn next(expr: &str, after: &str) -> Option<String> {
        let s = Schedule::parse(expr).unwrap();
        s.next_after(utc("2026-01-01T00:00:00"), utc(after))
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
    }

    #[test]
    fn aws_examples_fire_when_aws_says() {
        let cases = [
            // 10:15 UTC every day.
            (
                "cron(15 10 * * ? *)",
                "2026-12-04T11:00:00",
                "2026-12-05T10:15:00",
            ),
            // 18:00 Monday to Friday (2-6 in AWS's numbering).
            (
                "cron(0 18 ? * MON-FRI *)",
                "2026-12-04T19:00:00",
                "2026-12-07T18:00:00",
            ),
            (
                "cron(0 18 ? * 2-6 *)",
                "2026-12-04T19:00:00",
                "2026-12-07T18:00:00",
            ),
            // 8:00 on the first day of every month.
            (
                "cron(0 8 1 * ? *)",
                "2026-12-04T00:00:00",
                "2027-01-01T08:00:00",
            ),
            // Every 10 minutes, Quartz's 0/10.
            (
                "cron(0/10 * ? * MON-FRI *)",
                "2026-12-04T10:01:00",
                "2026-12-04T10:10:00",
            ),
            // The last day of the month, the first Monday, the weekday nearest the 15th.
            (
                "cron(0 0 L * ? *)",
                "2026-02-02T00:00:00",
                "2026-02-28T00:00:00",
            ),
            (
                "cron(0 9 ? * 2#1 *)",
                "2026-12-04T00:00:00",
                "2026-12-07T09:00:00",
            ),
            (
                "cron(0 9 15W * ? *)",
                "2026-08-01T00:00:00",
                "2026-08-14T09:00:00",
            ),
            // A year field.
            (
                "cron(0 0 1 1 ? 2028)",
                "2026-12-04T00:00:00",
                "2028-01-01T00:00:00",
            ),
        ];
        for (expr, after, want) in cases {
            assert_eq!(
                next(expr, after).as_deref(),
                Some(want),
                "{expr} after {after}"
            );
        }
        assert_eq!(next("cron(0 0 1 1 ? 2025)", "2026-12-04T00:00:00"), None);
    }

    #[test]
    fn rates_and_ats() {
        assert_eq!(
            next("rate(5 minutes)", "2026-01-01T00:07:00").as_deref(),
            Some("2026-01-01T00:10:00")
        );
        assert_eq!(
            next("rate(1 day)", "2026-01-01T00:00:00").as_deref(),
            Some("2026-01-02T00:00:00")
        );
        assert_eq!(
            next("at(2026-12-24T18:30:00)", "2026-12-04T00:00:00").as_deref(),
            Some("2026-12-24T18:30:00")
        );
        assert_eq!(next("at(2026-12-24T18:30:00)", "2026-12-25T00:00:00"), None);
    }

    fn local(expr: &str, zone: &str, after: &str) -> Vec<String> {
        let s = Schedule::parse(expr).unwrap();
        let zone = time_zone(zone).unwrap();
        let mut t = utc(after);
        (0..4)
            .map(|_| {
                t = s
                    .next_after_in(utc("2026-01-01T00:00:00"), t, zone)
                    .unwrap();
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            })
            .collect()
    }

    #[test]
    fn daylight_saving_changes_are_handled_as_aws_documents() {
        // New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist that
        // day, and the schedule skips it.
        assert_eq!(
            local(
                "cron(30 2 * * ? *)",
                "America/New_York",
                "2026-03-06T12:00:00"
            ),
            [
                "2026-03-07T07:30:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-10T06:30:00Z",
                "2026-03-11T06:30:00Z"
            ]
        );
        // It falls back at 02:00 on 1 November 2026: 01:30 happens twice, and fires once.
        assert_eq!(
            local(
                "cron(30 1 * * ? *)",
                "America/New_York",
                "2026-10-30T12:00:00"
            ),
            [
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
                "2026-11-03T06:30:00Z"
            ]
        );
        // Hourly through Lisbon's fall back (02:00 WEST to 01:00 WET on 25 October 2026):
        // 01:00 comes twice and fires once.
        assert_eq!(
            local("cron(0 * * * ? *)", "Europe/Lisbon", "2026-10-24T23:30:00"),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z",
                "2026-10-25T04:00:00Z"
            ]
        );
        // A rate is a duration: 24 hours across the change.
        let s = Schedule::parse("rate(1 day)").unwrap();
        let zone = time_zone("America/New_York").unwrap();
        let start = utc("2026-03-07T12:00:00");
        assert_eq!(
            s.next_after_in(start, utc("2026-03-07T12:00:00"), zone),
            Some(utc("2026-03-08T12:00:00"))
        );
        // at() is a local time.
        let at = Schedule::parse("at(2026-07-01T09:00:00)").unwrap();
        assert_eq!(
            at.next_after_in(start, start, time_zone("Europe/Lisbon").unwrap()),
            Some(utc("2026-07-01T08:00:00"))
        );
        assert!(time_zone("Mars/Olympus").is_none());
    }

    #[test]
    fn what_aws_refuses_is_refused() {
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 hours)",
            "rate(5 seconds)",
            "rate(five minutes)",
            "cron(0 18 * * * *)",
            "cron(0 18 ? * ? *)",
            "cron(0 18 ? * MON-FRI)",
            "cron(0 0 18 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1,6#3 *)",
            "at(2026-12-24 18:30)",
            "every(5 minutes)",
            "",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(
                e.to_string().starts_with("Invalid Schedule Expression"),
                "{bad}: {e}"
            );
        }
    }
}
