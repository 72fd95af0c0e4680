//! Turns the counters' current minute into the store's rows ([`Minute`]s), with Lambda's
//! metric names and the values CloudWatch would have been sent: Invocations and Errors
//! one value per invocation (an error is a 1, a success a 0), Duration per invocation,
//! counts for throttles and asynchronous events, and peaks for concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;

use lamina_store::{Minute, SeriesKey};

use crate::metrics::Counter;
use crate::metrics::minutes::{Taken, encode};

/// Units of Lambda's metrics: milliseconds for times, counts for the rest.
pub(crate) fn unit_of(metric: &str) -> &'static str {
    match metric {
        "Duration" | "AsyncEventAge" => "Milliseconds",
        _ => "Count",
    }
}

/// Metrics whose figure for the whole account is a row of its own (a peak sampled for the
/// account), not the sum of the functions' rows.
pub(crate) const ACCOUNT_ROWS: [&str; 2] =
    ["ConcurrentExecutions", "UnreservedConcurrentExecutions"];

/// The account's peaks within the minute.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AccountPeaks {
    pub(crate) concurrent: u32,
    pub(crate) unreserved: u32,
}

fn key(metric: &str, function: &str, resource: &str, version: &str) -> SeriesKey {
    SeriesKey {
        metric: metric.to_string(),
        function: function.to_string(),
        resource: resource.to_string(),
        version: version.to_string(),
    }
}

fn row(start: i64, key: SeriesKey, t: Taken) -> Minute {
    Minute {
        start,
        key,
        count: t.count as f64,
        sum: t.sum,
        min: t.min,
        max: t.max,
        buckets: encode(&t.buckets),
    }
}

/// A value seen `n` times in a minute, each time `value` (a count's one, a peak).
fn repeated(n: u64, value: f64) -> Taken {
    Taken {
        count: n,
        sum: n as f64 * value,
        min: value,
        max: value,
        buckets: BTreeMap::new(),
    }
}

/// The rows of the minute starting at `start`: taken from the counters (emptying them,
/// `take`) or read as they stand (a query's look at the minute not yet written).
pub(crate) fn rows(
    start: i64,
    counters: &[(String, Arc<Counter>)],
    account: AccountPeaks,
    take: bool,
) -> Vec<Minute> {
    let mut out = Vec::new();
    for (function, c) in counters {
        for (resource, version, m) in c.minutes() {
            let duration = if take {
                m.duration.take()
            } else {
                m.duration.peek()
            };
            let errors = m.errors.read(take);
            let init = if take { m.init.take() } else { m.init.peek() };
            let Some(duration) = duration else { continue };
            let n = duration.count;
            let k = |metric| key(metric, function, &resource, &version);
            out.push(row(start, k("Invocations"), repeated(n, 1.0)));
            out.push(row(
                start,
                k("Errors"),
                Taken {
                    count: n,
                    sum: errors as f64,
                    min: if errors >= n { 1.0 } else { 0.0 },
                    max: if errors > 0 { 1.0 } else { 0.0 },
                    buckets: BTreeMap::new(),
                },
            ));
            out.push(row(start, k("Duration"), duration));
            if let Some(init) = init {
                out.push(row(start, k("InitDuration"), init));
            }
        }
        let f = &c.minute;
        let k = |metric| key(metric, function, "", "");
        for (metric, count) in [
            ("Throttles", &f.throttles),
            ("AsyncEventsReceived", &f.async_received),
            ("AsyncEventsDropped", &f.async_dropped),
            ("DeadLetterErrors", &f.dead_letter_errors),
            ("DestinationDeliveryFailures", &f.destination_failures),
        ] {
            let n = count.read(take);
            if n > 0 {
                out.push(row(start, k(metric), repeated(n, 1.0)));
            }
        }
        let age = if take {
            f.async_age.take()
        } else {
            f.async_age.peek()
        };
        if let Some(age) = age {
            out.push(row(start, k("AsyncEventAge"), age));
        }
        let now = c.in_flight.load(std::sync::atomic::Ordering::Relaxed);
        let peak = f.read_peak(take, now);
        if peak > 0 {
            out.push(row(
                start,
                k("ConcurrentExecutions"),
                repeated(1, peak.into()),
            ));
        }
    }
    for (metric, peak) in [
        ("ConcurrentExecutions", account.concurrent),
        ("UnreservedConcurrentExecutions", account.unreserved),
    ] {
        if peak > 0 {
            out.push(row(
                start,
                key(metric, "", "", ""),
                repeated(1, peak.into()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ms: f64) -> lamina_executor::Report {
        lamina_executor::Report {
            duration_ms: ms,
            billed_ms: ms.ceil() as u64,
            memory_mb: 128,
            max_memory_mb: 20,
            init_ms: None,
            setup_ms: None,
            prestarted: None,
        }
    }

    #[test]
    fn a_minute_becomes_lambdas_metrics_and_is_taken_once() {
        let c = Arc::new(Counter::default());
        c.record("1", "live", &report(2.0), false);
        c.record("1", "live", &report(4.0), true);
        c.record("$LATEST", "", &report(1.0), false);
        c.throttled();
        c.running(3);
        let counters = vec![("f".to_string(), c)];
        let peaks = AccountPeaks {
            concurrent: 5,
            unreserved: 2,
        };
        let rows = rows(600, &counters, peaks, false);
        let find = |metric: &str, function: &str, resource: &str| {
            rows.iter()
                .find(|m| {
                    m.key.metric == metric
                        && m.key.function == function
                        && m.key.resource == resource
                })
                .unwrap_or_else(|| panic!("no {metric} {function} {resource}: {rows:?}"))
        };
        let inv = find("Invocations", "f", "live");
        assert_eq!(
            (inv.count, inv.sum, inv.key.version.as_str()),
            (2.0, 2.0, "1")
        );
        let err = find("Errors", "f", "live");
        assert_eq!((err.count, err.sum, err.min, err.max), (2.0, 1.0, 0.0, 1.0));
        let dur = find("Duration", "f", "live");
        assert_eq!((dur.sum, dur.min, dur.max), (6.0, 2.0, 4.0));
        assert_eq!(find("Errors", "f", "").sum, 0.0);
        assert_eq!(find("Throttles", "f", "").sum, 1.0);
        assert_eq!(find("ConcurrentExecutions", "f", "").max, 3.0);
        assert_eq!(find("ConcurrentExecutions", "", "").max, 5.0);
        assert_eq!(find("UnreservedConcurrentExecutions", "", "").max, 2.0);
        assert!(rows.iter().all(|m| m.start == 600));
        // A look leaves the minute; a take empties it.
        let taken = super::rows(600, &counters, AccountPeaks::default(), true);
        assert_eq!(taken.len(), rows.len() - 2);
        let again = super::rows(660, &counters, AccountPeaks::default(), true);
        assert_eq!(again, [], "nothing ran since");
    }
}
