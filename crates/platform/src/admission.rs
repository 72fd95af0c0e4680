//! Admission: the server's concurrent-execution limit and functions' reserved concurrency.
//! An invocation over its function's reservation, or over the unreserved pool, is refused at
//! once (a [`Throttle`], Lambda's 429 with its `Reason`), before any environment is looked
//! for; an admitted one holds an [`Admission`] that gives its slot back when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::metrics::Counter;

/// Why an invocation was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Throttle {
    /// Its function is at its reserved concurrency.
    #[error("Rate Exceeded.")]
    Reserved,
    /// The unreserved pool is used up.
    #[error("Rate Exceeded.")]
    Unreserved,
    /// No environment could be had within the scaling rate and wait.
    #[error("Rate Exceeded.")]
    Scaling,
}

impl Throttle {
    /// Lambda's `Reason` for it.
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::Unreserved => "ConcurrentInvocationLimitExceeded",
            Throttle::Scaling => "FunctionInvocationRateLimitExceeded",
        }
    }
}

impl From<Throttle> for lamina_model::LambdaError {
    fn from(t: Throttle) -> Self {
        lamina_model::LambdaError::TooManyRequests {
            reason: t.reason().into(),
            message: t.to_string(),
        }
    }
}

/// The server's concurrency state.
#[derive(Debug)]
pub(crate) struct Concurrency {
    /// Concurrent executions of the whole server.
    pub(crate) limit: u32,
    /// The least that reservations must leave unreserved.
    pub(crate) unreserved_minimum: u32,
    /// Sum of every function's reservation.
    pub(crate) reserved_total: AtomicU32,
    /// Whether invocations are counted per version and per minute as well.
    pub(crate) detailed: bool,
    /// Invocations in flight that count against the unreserved pool.
    unreserved_in_flight: AtomicU32,
    /// Every invocation in flight, reserved or not.
    total_in_flight: AtomicU32,
    /// The most of each at once since the last [`Concurrency::peaks`] that took them
    /// (CloudWatch's account-wide ConcurrentExecutions and UnreservedConcurrentExecutions).
    peak_total: AtomicU32,
    peak_unreserved: AtomicU32,
    /// In a cluster, the slots of the account's limit this node holds (`u32::MAX`: no
    /// bound beyond the limit itself, as for one node).
    unreserved_held: AtomicU32,
    /// Set while someone waits for a slot to be given back ([`Concurrency::watch_releases`]).
    watched: AtomicBool,
    released: Notify,
    // Short critical sections only.
    functions: Mutex<HashMap<String, Arc<Counter>>>,
}

/// An admitted invocation; its slot is given back when dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    state: Arc<Concurrency>,
    counter: Arc<Counter>,
    unreserved: bool,
}

impl Admission {
    /// Counts the invocation of `version` through `resource` (the qualifier invoked, empty
    /// for none), which ran, with its REPORT figures.
    pub(crate) fn record(
        &self,
        version: &str,
        resource: &str,
        report: &lamina_executor::Report,
        failed: bool,
    ) {
        if self.state.detailed {
            self.counter.record(version, resource, report, failed);
        } else {
            self.counter.record_totals(report, failed);
        }
    }

    /// Counts a throttle decided after admission (no environment could be had in time).
    pub(crate) fn count_throttle(&self) {
        self.counter.throttled();
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.counter.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.state.total_in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.unreserved {
            self.state
                .unreserved_in_flight
                .fetch_sub(1, Ordering::SeqCst);
        }
        if self.state.watched.load(Ordering::Relaxed) {
            self.state.released.notify_one();
        }
    }
}

/// Takes one slot of `counter` if fewer than `cap` are taken.
fn take(counter: &AtomicU32, cap: u32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

impl Concurrency {
    /// A server allowing `limit` concurrent executions, a tenth of which (at least one)
    /// reservations must leave unreserved, as Lambda's 100 of 1,000.
    pub(crate) fn new(limit: u32) -> Concurrency {
        Concurrency {
            limit,
            unreserved_minimum: (limit / 10).max(1),
            reserved_total: AtomicU32::new(0),
            detailed: true,
            unreserved_in_flight: AtomicU32::new(0),
            total_in_flight: AtomicU32::new(0),
            peak_total: AtomicU32::new(0),
            peak_unreserved: AtomicU32::new(0),
            unreserved_held: AtomicU32::new(u32::MAX),
            watched: AtomicBool::new(false),
            released: Notify::new(),
            functions: Mutex::new(HashMap::new()),
        }
    }

    fn counter(&self, function: &str) -> Arc<Counter> {
        let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        // Every invocation comes here: no allocation once the function has a counter.
        if let Some(c) = functions.get(function) {
            return c.clone();
        }
        functions.entry(function.to_string()).or_default().clone()
    }

    /// Admits one invocation of `function`, whose reservation is `reserved`; a refusal is
    /// counted as a throttle.
    pub(crate) fn admit(
        self: &Arc<Self>,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<Admission, Throttle> {
        self.admit_counted(function, reserved, true)
    }

    /// Admits one queued event if there is room now; a refusal is not a throttle (the
    /// event simply stays queued).
    pub(crate) fn try_admit(
        self: &Arc<Self>,
        function: &str,
        reserved: Option<u32>,
    ) -> Option<Admission> {
        self.admit_counted(function, reserved, false).ok()
    }

    fn admit_counted(
        self: &Arc<Self>,
        function: &str,
        reserved: Option<u32>,
        count: bool,
    ) -> Result<Admission, Throttle> {
        let counter = self.counter(function);
        let unreserved = match reserved {
            Some(r) => {
                if !take(&counter.in_flight, r) {
                    if count {
                        counter.throttled();
                    }
                    return Err(Throttle::Reserved);
                }
                false
            }
            None => {
                let pool = self
                    .unreserved_pool()
                    .min(self.unreserved_held.load(Ordering::SeqCst));
                if !take(&self.unreserved_in_flight, pool) {
                    if count {
                        counter.throttled();
                    }
                    return Err(Throttle::Unreserved);
                }
                counter.in_flight.fetch_add(1, Ordering::SeqCst);
                true
            }
        };
        let total = self.total_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if self.detailed {
            counter.running(counter.in_flight.load(Ordering::Relaxed));
            self.peak_total.fetch_max(total, Ordering::Relaxed);
            if unreserved {
                let running = self.unreserved_in_flight.load(Ordering::Relaxed);
                self.peak_unreserved.fetch_max(running, Ordering::Relaxed);
            }
        }
        Ok(Admission {
            state: self.clone(),
            counter,
            unreserved,
        })
    }

    /// The unreserved pool: the limit less every reservation.
    pub(crate) fn unreserved_pool(&self) -> u32 {
        self.limit
            .saturating_sub(self.reserved_total.load(Ordering::SeqCst))
    }

    /// Invocations running now against the unreserved pool.
    pub(crate) fn unreserved_in_flight(&self) -> u32 {
        self.unreserved_in_flight.load(Ordering::SeqCst)
    }

    /// In a cluster, how many of the unreserved pool this node may run (the account slots
    /// it holds); `u32::MAX` for no bound beyond the pool.
    pub(crate) fn set_unreserved_held(&self, held: u32) {
        self.unreserved_held.store(held, Ordering::SeqCst);
    }

    /// What [`Concurrency::set_unreserved_held`] set.
    pub(crate) fn unreserved_held(&self) -> u32 {
        self.unreserved_held.load(Ordering::SeqCst)
    }

    /// Throttles counted for `function` since the server started.
    pub(crate) fn throttles(&self, function: &str) -> u64 {
        self.counter(function).throttles.load(Ordering::Relaxed)
    }

    /// The counters of `function`, to read.
    pub(crate) fn counters(&self, function: &str) -> Arc<Counter> {
        self.counter(function)
    }

    /// Invocations of `function` running now.
    pub(crate) fn in_flight(&self, function: &str) -> u32 {
        self.counter(function).in_flight.load(Ordering::SeqCst)
    }

    /// Every function's counters.
    pub(crate) fn every_counter(&self) -> Vec<(String, Arc<Counter>)> {
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect()
    }

    /// The most invocations in flight at once, all and unreserved, since the peaks were
    /// last taken; taking them starts them again from what runs now.
    pub(crate) fn peaks(&self, take: bool) -> (u32, u32) {
        if !take {
            let load = |a: &AtomicU32| a.load(Ordering::Relaxed);
            return (load(&self.peak_total), load(&self.peak_unreserved));
        }
        let now = |a: &AtomicU32| a.load(Ordering::Relaxed);
        (
            self.peak_total
                .swap(now(&self.total_in_flight), Ordering::Relaxed),
            self.peak_unreserved
                .swap(now(&self.unreserved_in_flight), Ordering::Relaxed),
        )
    }

    /// Forgets a deleted function's counters; a function created again under its name
    /// starts from zero.
    pub(crate) fn forget(&self, function: &str) {
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(function);
    }

    /// While `watching`, every slot given back wakes [`Concurrency::released`]'s waiter
    /// (the dispatcher sets it while queued events wait for room; otherwise an invocation's
    /// end costs one relaxed load).
    pub(crate) fn watch_releases(&self, watching: bool) {
        self.watched.store(watching, Ordering::SeqCst);
    }

    /// Resolves once a slot was given back while watched.
    pub(crate) async fn released(&self) {
        self.released.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_peaks_hold_the_most_at_once_until_taken() {
        let c = Arc::new(Concurrency::new(10));
        let a = c.admit("f", None).unwrap();
        let b = c.admit("g", Some(3)).unwrap();
        drop(a);
        assert_eq!(
            c.peaks(false),
            (2, 1),
            "two at once, one of them unreserved"
        );
        assert_eq!(c.peaks(true), (2, 1));
        // Taken: they start again from what runs now (b, reserved).
        assert_eq!(c.peaks(false), (1, 0));
        drop(b);
        assert_eq!(c.peaks(true), (1, 0));
        assert_eq!(c.peaks(false), (0, 0));
    }

    #[test]
    fn reservations_and_the_unreserved_pool() {
        let c = Arc::new(Concurrency::new(3));
        c.reserved_total.store(1, Ordering::SeqCst);
        // The reserved function: one at a time.
        let a = c.admit("r", Some(1)).unwrap();
        let e = c.admit("r", Some(1)).unwrap_err();
        assert!(
            e == Throttle::Reserved
                && e.reason() == "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        // The others share 3 - 1 = 2.
        let b = c.admit("x", None).unwrap();
        let d = c.admit("y", None).unwrap();
        let e = c.admit("z", None).unwrap_err();
        assert!(e == Throttle::Unreserved && e.reason() == "ConcurrentInvocationLimitExceeded");
        assert_eq!((c.throttles("r"), c.throttles("z")), (1, 1));
        drop((a, b));
        assert!(c.admit("r", Some(1)).is_ok() && c.admit("z", None).is_ok());
        drop(d);
        assert!(c.admit("r", Some(0)).is_err(), "0 stops every invocation");
    }
}
