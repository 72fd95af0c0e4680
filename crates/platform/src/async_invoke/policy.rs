//! What becomes of a queued event after an attempt, as pure functions of its history, the
//! function's EventInvokeConfig and the server's [`AsyncConfig`] (Lambda's rules):
//! - success: acknowledged;
//! - a function error: retried up to MaximumRetryAttempts, after one, then two retry delays;
//! - a throttle or a platform error: retried after a pause that grows with the event's age
//!   (from the first backoff to the longest), while the event would still be younger than
//!   MaximumEventAgeInSeconds when it runs;
//! - otherwise it failed for good, with Lambda's condition.

use std::time::Duration;

use lamina_model::event_invoke::EventInvokeConfig;

use super::AsyncConfig;

/// How an attempt ended, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    Success,
    FunctionError,
    /// Throttled, or the platform failed: says nothing about the event.
    Retryable,
}

/// What to do with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settlement {
    Ack,
    /// Run it again at `due_ms`, having run it `attempts` times.
    RetryAt {
        due_ms: u64,
        attempts: u32,
    },
    /// It failed for good, for Lambda's `condition`.
    Fail {
        condition: &'static str,
    },
}

/// An event's history when it is settled.
#[derive(Debug, Clone, Copy)]
pub(super) struct History {
    /// When it was accepted, epoch ms.
    pub enqueued_ms: u64,
    /// Times the function ran it before this attempt.
    pub attempts: u32,
    /// When this attempt started, epoch ms.
    pub started_ms: u64,
    /// Now, epoch ms.
    pub now_ms: u64,
}

/// The event's maximum age, in ms (MaximumEventAgeInSeconds, in the server's seconds).
pub(super) fn max_age_ms(event: &EventInvokeConfig, config: &AsyncConfig) -> u64 {
    u64::from(event.max_age_s()) * config.age_second.as_millis() as u64
}

/// Whether an event accepted at `enqueued_ms` is too old to run at `now_ms`.
pub(super) fn expired(
    enqueued_ms: u64,
    now_ms: u64,
    event: &EventInvokeConfig,
    config: &AsyncConfig,
) -> bool {
    now_ms.saturating_sub(enqueued_ms) > max_age_ms(event, config)
}

/// What becomes of the event after `attempt`.
pub(super) fn settle(
    attempt: Attempt,
    h: History,
    event: &EventInvokeConfig,
    config: &AsyncConfig,
) -> Settlement {
    match attempt {
        Attempt::Success => Settlement::Ack,
        Attempt::FunctionError => {
            let attempts = h.attempts + 1;
            if attempts <= event.retries() {
                let delay = config.retry_delay * attempts;
                Settlement::RetryAt {
                    due_ms: h.now_ms + delay.as_millis() as u64,
                    attempts,
                }
            } else {
                Settlement::Fail {
                    condition: "RetriesExhausted",
                }
            }
        }
        Attempt::Retryable => {
            // Doubling with the event's age: 1 s, 1 s, 2 s, 4 s, ... up to the cap.
            let age = Duration::from_millis(h.started_ms.saturating_sub(h.enqueued_ms));
            let backoff = age.clamp(config.backoff, config.backoff_max);
            let due_ms = h.now_ms + backoff.as_millis() as u64;
            if due_ms.saturating_sub(h.enqueued_ms) > max_age_ms(event, config) {
                Settlement::Fail {
                    condition: "EventAgeExceeded",
                }
            } else {
                // A throttle is not a run of the function: the count stays.
                Settlement::RetryAt {
                    due_ms,
                    attempts: h.attempts,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AsyncConfig {
        AsyncConfig {
            retry_delay: Duration::from_secs(60),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            age_second: Duration::from_secs(1),
            ..AsyncConfig::default()
        }
    }

    fn event(retries: Option<u32>, max_age_s: Option<u32>) -> EventInvokeConfig {
        EventInvokeConfig {
            maximum_retry_attempts: retries,
            maximum_event_age_s: max_age_s,
            ..EventInvokeConfig::default()
        }
    }

    const T0: u64 = 1_000_000_000;

    fn at(attempts: u32, age_s: u64) -> History {
        let now = T0 + age_s * 1000;
        History {
            enqueued_ms: T0,
            attempts,
            started_ms: now,
            now_ms: now,
        }
    }

    #[test]
    fn function_errors_retry_twice_by_default_after_one_then_two_delays() {
        let (e, c) = (event(None, None), config());
        // (attempts before, expected)
        let cases = [
            (
                0,
                Settlement::RetryAt {
                    due_ms: T0 + 60_000,
                    attempts: 1,
                },
            ),
            (
                1,
                Settlement::RetryAt {
                    due_ms: T0 + 120_000,
                    attempts: 2,
                },
            ),
            (
                2,
                Settlement::Fail {
                    condition: "RetriesExhausted",
                },
            ),
        ];
        for (before, expected) in cases {
            assert_eq!(
                settle(Attempt::FunctionError, at(before, 0), &e, &c),
                expected,
                "{before}"
            );
        }
    }

    #[test]
    fn maximum_retry_attempts_is_honoured() {
        let c = config();
        for (retries, before, retried) in [(0, 0, false), (1, 0, true), (1, 1, false)] {
            let s = settle(
                Attempt::FunctionError,
                at(before, 0),
                &event(Some(retries), None),
                &c,
            );
            assert_eq!(
                matches!(s, Settlement::RetryAt { .. }),
                retried,
                "{retries} {before}"
            );
        }
    }

    #[test]
    fn success_is_acknowledged_whatever_the_history() {
        let s = settle(
            Attempt::Success,
            at(5, 10_000),
            &event(Some(0), Some(60)),
            &config(),
        );
        assert_eq!(s, Settlement::Ack);
    }

    #[test]
    fn throttles_back_off_with_age_and_keep_the_count() {
        let (e, c) = (event(None, None), config());
        // (age in s, pause in s)
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (4, 4),
            (100, 100),
            (1_000, 300),
            (20_000, 300),
        ];
        for (age, pause) in cases {
            let h = at(1, age);
            assert_eq!(
                settle(Attempt::Retryable, h, &e, &c),
                Settlement::RetryAt {
                    due_ms: h.now_ms + pause * 1000,
                    attempts: 1
                },
                "age {age}"
            );
        }
    }

    #[test]
    fn a_throttled_event_fails_once_its_next_run_would_be_too_old() {
        let c = config();
        let e = event(None, Some(60));
        // At 50 s the pause is 50 s: the next run would be at 100 s, past 60 s.
        assert_eq!(
            settle(Attempt::Retryable, at(0, 50), &e, &c),
            Settlement::Fail {
                condition: "EventAgeExceeded"
            }
        );
        // At 20 s, the next run at 40 s is still in time.
        assert!(matches!(
            settle(Attempt::Retryable, at(0, 20), &e, &c),
            Settlement::RetryAt { .. }
        ));
    }

    #[test]
    fn age_is_measured_in_the_servers_seconds() {
        let c = AsyncConfig {
            age_second: Duration::from_millis(10),
            ..config()
        };
        let e = event(None, Some(60));
        assert_eq!(max_age_ms(&e, &c), 600);
        assert!(!expired(T0, T0 + 600, &e, &c));
        assert!(expired(T0, T0 + 601, &e, &c));
        // Six hours by default.
        assert_eq!(max_age_ms(&event(None, None), &config()), 6 * 3600 * 1000);
    }
}
