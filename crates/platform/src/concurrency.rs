//! Concurrency controls: the server's concurrent-execution limit, functions' reserved
//! concurrency (PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency),
//! and admission of each invocation. An invocation over its function's reservation, or over
//! the unreserved pool, is refused at once with 429 and Lambda's `Reason`, before any
//! environment is started; each function counts its throttles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lamina_model::{FunctionRef, LambdaError};
use serde::{Deserialize, Serialize};

use crate::Platform;

/// Reserved concurrency (Put, Get and DeleteFunctionConcurrency) and throttle counts. A view of the platform: `platform.reservations()`.
#[derive(Debug, Clone, Copy)]
pub struct Reservations<'a> {
    pub(crate) p: &'a Platform,
}

/// PutFunctionConcurrency's body and Put/GetFunctionConcurrency's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConcurrency {
    /// Reserved concurrent executions; absent when none is reserved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<i64>,
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
    /// Invocations in flight that count against the unreserved pool.
    unreserved_in_flight: AtomicU32,
    /// Set while queued events wait for room: then an invocation's end wakes their
    /// dispatcher (`freed`).
    pub(crate) watched: std::sync::atomic::AtomicBool,
    pub(crate) freed: tokio::sync::Notify,
    // Short critical sections only.
    functions: Mutex<HashMap<String, Arc<Counter>>>,
}

/// One function's invocations in flight (all versions), throttles, and the metrics of the
/// invocations that ran (kept since start, for `lamina ps`): the invocation path reaches them
/// through its [`Admission`], with no lookup of its own.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    in_flight: AtomicU32,
    pub(crate) throttles: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) cold_starts: AtomicU64,
    pub(crate) duration_us: AtomicU64,
    pub(crate) billed_mb_ms: AtomicU64,
}

/// An admitted invocation; its slot is given back when dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    state: Arc<Concurrency>,
    counter: Arc<Counter>,
    unreserved: bool,
}

impl Admission {
    /// Counts the invocation, which ran, with its REPORT figures.
    pub(crate) fn record(&self, report: &lamina_executor::Report, failed: bool) {
        let c = &self.counter;
        c.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        if report.init_ms.is_some() {
            c.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
        c.duration_us
            .fetch_add((report.duration_ms * 1000.0) as u64, Ordering::Relaxed);
        c.billed_mb_ms.fetch_add(
            report.billed_ms * u64::from(report.memory_mb),
            Ordering::Relaxed,
        );
    }

    /// Counts a throttle decided after admission (no environment could be had in time).
    pub(crate) fn count_throttle(&self) {
        self.counter.throttles.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.counter.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.unreserved {
            self.state
                .unreserved_in_flight
                .fetch_sub(1, Ordering::SeqCst);
        }
        if self.state.watched.load(Ordering::Relaxed) {
            self.state.freed.notify_one();
        }
    }
}

fn throttled(reason: &str) -> LambdaError {
    LambdaError::TooManyRequests {
        reason: reason.into(),
        message: "Rate Exceeded.".into(),
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
            unreserved_in_flight: AtomicU32::new(0),
            watched: std::sync::atomic::AtomicBool::new(false),
            freed: tokio::sync::Notify::new(),
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
    ) -> Result<Admission, LambdaError> {
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
    ) -> Result<Admission, LambdaError> {
        let counter = self.counter(function);
        let unreserved = match reserved {
            Some(r) => {
                if !take(&counter.in_flight, r) {
                    if count {
                        counter.throttles.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(throttled(
                        "ReservedFunctionConcurrentInvocationLimitExceeded",
                    ));
                }
                false
            }
            None => {
                let pool = self
                    .limit
                    .saturating_sub(self.reserved_total.load(Ordering::SeqCst));
                if !take(&self.unreserved_in_flight, pool) {
                    if count {
                        counter.throttles.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(throttled("ConcurrentInvocationLimitExceeded"));
                }
                counter.in_flight.fetch_add(1, Ordering::SeqCst);
                true
            }
        };
        Ok(Admission {
            state: self.clone(),
            counter,
            unreserved,
        })
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

    /// Forgets a deleted function's counters; a function created again under its name
    /// starts from zero.
    pub(crate) fn forget(&self, function: &str) {
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(function);
    }
}

impl Reservations<'_> {
    /// PutFunctionConcurrency.
    pub async fn put_function_concurrency(
        &self,
        name: &str,
        req: FunctionConcurrency,
    ) -> Result<FunctionConcurrency, LambdaError> {
        let function = self.concurrency_function(name)?;
        let wanted = LambdaError::count_at_least(
            req.reserved_concurrent_executions,
            "reservedConcurrentExecutions",
            0,
        )?;
        let state = self.p.inner.concurrency.clone();
        self.change_reservation(&function, |old| {
            let others = state.reserved_total.load(Ordering::SeqCst) - old.unwrap_or(0);
            if state.limit.saturating_sub(others.saturating_add(wanted)) < state.unreserved_minimum
            {
                return Err(LambdaError::InvalidParameterValue(format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's \
                     UnreservedConcurrentExecution below its minimum value of [{}].",
                    state.unreserved_minimum
                )));
            }
            Ok(Some(wanted))
        })
        .await?;
        Ok(FunctionConcurrency {
            reserved_concurrent_executions: Some(i64::from(wanted)),
        })
    }

    /// GetFunctionConcurrency.
    pub fn get_function_concurrency(&self, name: &str) -> Result<FunctionConcurrency, LambdaError> {
        let function = self.concurrency_function(name)?;
        let entry = self.p.registry().lookup(&function, None)?;
        Ok(FunctionConcurrency {
            reserved_concurrent_executions: entry.config.reserved_concurrency.map(i64::from),
        })
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(&self, name: &str) -> Result<(), LambdaError> {
        let function = self.concurrency_function(name)?;
        self.change_reservation(&function, |_| Ok(None)).await
    }

    /// Throttled invocations of `name` since the server started.
    pub fn throttle_count(&self, name: &str) -> u64 {
        self.p.inner.concurrency.throttles(name)
    }

    /// Concurrent executions of the whole server.
    pub fn concurrency_limit(&self) -> u32 {
        self.p.inner.concurrency.limit
    }

    fn concurrency_function(&self, name: &str) -> Result<String, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        if r.qualifier.is_some() {
            return Err(LambdaError::InvalidParameterValue(
                "Reserved concurrency applies to the whole function: give the unqualified \
                 function name."
                    .into(),
            ));
        }
        self.p.registry().lookup(&r.name, None)?;
        Ok(r.name)
    }

    async fn change_reservation(
        &self,
        function: &str,
        decide: impl FnOnce(Option<u32>) -> Result<Option<u32>, LambdaError>,
    ) -> Result<(), LambdaError> {
        let (old, new) = self
            .p
            .registry()
            .change_record(function, |_, config| {
                let old = config.reserved_concurrency;
                config.reserved_concurrency = decide(old)?;
                Ok((old, config.reserved_concurrency))
            })
            .await?;
        let total = &self.p.inner.concurrency.reserved_total;
        total.fetch_add(new.unwrap_or(0), Ordering::SeqCst);
        total.fetch_sub(old.unwrap_or(0), Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_and_the_unreserved_pool() {
        let c = Arc::new(Concurrency::new(3));
        c.reserved_total.store(1, Ordering::SeqCst);
        // The reserved function: one at a time.
        let a = c.admit("r", Some(1)).unwrap();
        let e = c.admit("r", Some(1)).unwrap_err();
        assert!(
            matches!(e, LambdaError::TooManyRequests { reason, .. } if reason == "ReservedFunctionConcurrentInvocationLimitExceeded")
        );
        // The others share 3 - 1 = 2.
        let b = c.admit("x", None).unwrap();
        let d = c.admit("y", None).unwrap();
        let e = c.admit("z", None).unwrap_err();
        assert!(
            matches!(e, LambdaError::TooManyRequests { reason, .. } if reason == "ConcurrentInvocationLimitExceeded")
        );
        assert_eq!((c.throttles("r"), c.throttles("z")), (1, 1));
        drop((a, b));
        assert!(c.admit("r", Some(1)).is_ok() && c.admit("z", None).is_ok());
        drop(d);
        assert!(c.admit("r", Some(0)).is_err(), "0 stops every invocation");
    }
}
