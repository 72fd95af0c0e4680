//! Per-function figures kept since the server started, for `lamina ps` and the Prometheus
//! export ([`export`]): invocations, errors, cold starts by what was started ahead, time,
//! billed memory-time and throttles, per function and per version; asynchronous events
//! received, dropped, their age, and failed deliveries to dead-letter queues and
//! destinations.
//!
//! The invocation path only adds to atomics: it reaches its function's `Counter` through
//! its admission (one lookup it already makes), and a version's figures, with the current
//! minute's for CloudWatch ([`minutes`]), through the counter's short lists, under one
//! short lock.

pub mod export;
mod histogram;
pub mod minutes;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use histogram::{Histogram, Snapshot};
use minutes::{FunctionMinute, InvocationMinute};

/// One function's invocations in flight (all versions), throttles, and the metrics of the
/// invocations that ran (kept since start): the invocation path reaches them through its
/// [`Admission`](crate::admission::Admission), with no lookup of its own.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub(crate) in_flight: AtomicU32,
    pub(crate) throttles: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) cold_starts: AtomicU64,
    pub(crate) duration_us: AtomicU64,
    pub(crate) billed_mb_ms: AtomicU64,
    /// Asynchronous events accepted (AsyncEventsReceived).
    pub(crate) async_received: AtomicU64,
    /// Asynchronous events given up with nowhere to go but the failed-events store
    /// (AsyncEventsDropped).
    pub(crate) async_dropped: AtomicU64,
    /// How long events waited from their acceptance to their run (AsyncEventAge).
    pub(crate) async_age: Histogram,
    /// Events the dead-letter queue would not take (DeadLetterErrors).
    pub(crate) dead_letter_errors: AtomicU64,
    /// Records a destination would not take (DestinationDeliveryFailures).
    pub(crate) destination_failures: AtomicU64,
    /// The current minute's figures that are not per version.
    pub(crate) minute: FunctionMinute,
    /// Each version that ran, and each qualifier it ran through; a few per function, so
    /// short lists.
    lists: Mutex<Lists>,
}

/// Per version (for the export) and per qualifier invoked and version (for CloudWatch's
/// minutes).
#[derive(Debug, Default)]
struct Lists {
    versions: Vec<(String, Arc<VersionMetrics>)>,
    minutes: Vec<(String, String, Arc<InvocationMinute>)>,
}

/// What ran of one version.
#[derive(Debug, Default)]
pub struct VersionMetrics {
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
    /// Duration of each invocation.
    pub duration: Histogram,
    /// Init Duration of each cold start.
    pub init: Histogram,
    /// Of each cold start, the environment's set-up before its runtime ran.
    pub setup: Histogram,
    /// Cold starts by what had been started ahead: nothing, the sandbox, the runtime, the
    /// interpreter (a runtime forked from a zygote).
    pub cold_starts: [AtomicU64; 4],
    pub billed_mb_ms: AtomicU64,
}

/// What [`VersionMetrics::cold_starts`] counts by.
pub const PRESTARTED: [&str; 4] = ["none", "sandbox", "runtime", "forked"];

impl Counter {
    /// Counts an invocation of `version` through `resource` (the qualifier invoked, empty
    /// for none) that ran, with its REPORT figures.
    pub(crate) fn record(
        &self,
        version: &str,
        resource: &str,
        report: &lamina_executor::Report,
        failed: bool,
    ) {
        let billed = self.record_totals(report, failed);
        let (v, minute) = self.entries(version, resource);
        minute.duration.observe(report.duration_ms);
        v.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            v.errors.fetch_add(1, Ordering::Relaxed);
            minute.errors.add();
        }
        v.duration.observe(report.duration_ms);
        v.billed_mb_ms.fetch_add(billed, Ordering::Relaxed);
        if let Some(init) = report.init_ms {
            minute.init.observe(init);
            v.init.observe(init);
            if let Some(setup) = report.setup_ms {
                v.setup.observe(setup);
            }
            let ahead = report.prestarted.map_or("none", |p| p.as_str());
            let i = PRESTARTED.iter().position(|p| *p == ahead).unwrap_or(0);
            v.cold_starts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an invocation in the function's totals alone (what `lamina ps` shows); its
    /// billed MB-ms.
    pub(crate) fn record_totals(&self, report: &lamina_executor::Report, failed: bool) -> u64 {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if report.init_ms.is_some() {
            self.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
        let billed = report.billed_ms * u64::from(report.memory_mb);
        self.duration_us
            .fetch_add((report.duration_ms * 1000.0) as u64, Ordering::Relaxed);
        self.billed_mb_ms.fetch_add(billed, Ordering::Relaxed);
        billed
    }

    /// The figures of `version`, and of its current minute through `resource`, each made
    /// on its first invocation.
    fn entries(
        &self,
        version: &str,
        resource: &str,
    ) -> (Arc<VersionMetrics>, Arc<InvocationMinute>) {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let v = match lists.versions.iter().find(|(n, _)| n == version) {
            Some((_, v)) => v.clone(),
            None => {
                let v = Arc::new(VersionMetrics::default());
                lists.versions.push((version.to_string(), v.clone()));
                v
            }
        };
        let m = match lists
            .minutes
            .iter()
            .find(|(r, n, _)| r == resource && n == version)
        {
            Some((_, _, m)) => m.clone(),
            None => {
                let m = Arc::new(InvocationMinute::default());
                lists
                    .minutes
                    .push((resource.to_string(), version.to_string(), m.clone()));
                m
            }
        };
        (v, m)
    }

    /// Every version that ran, with its figures.
    pub(crate) fn versions(&self) -> Vec<(String, Arc<VersionMetrics>)> {
        self.lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .versions
            .clone()
    }

    /// Every (qualifier invoked, version) that ran, with its current minute.
    pub(crate) fn minutes(&self) -> Vec<(String, String, Arc<InvocationMinute>)> {
        self.lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .minutes
            .clone()
    }

    /// Forgets a version that was deleted (its figures leave the export; a minute not yet
    /// written is lost with it).
    pub(crate) fn forget_version(&self, version: &str) {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists.versions.retain(|(n, _)| n != version);
        lists.minutes.retain(|(_, n, _)| n != version);
    }

    /// Counts a throttle.
    pub(crate) fn throttled(&self) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
        self.minute.throttles.add();
    }

    /// Notes `in_flight` invocations running at once (ConcurrentExecutions' peak).
    pub(crate) fn running(&self, in_flight: u32) {
        self.minute.peak.fetch_max(in_flight, Ordering::Relaxed);
    }

    /// Counts an asynchronous event accepted (AsyncEventsReceived).
    pub(crate) fn event_received(&self) {
        self.async_received.fetch_add(1, Ordering::Relaxed);
        self.minute.async_received.add();
    }

    /// Counts an event given up with nowhere to go (AsyncEventsDropped).
    pub(crate) fn event_dropped(&self) {
        self.async_dropped.fetch_add(1, Ordering::Relaxed);
        self.minute.async_dropped.add();
    }

    /// Notes how long an event waited before it ran (AsyncEventAge).
    pub(crate) fn event_aged(&self, ms: f64) {
        self.async_age.observe(ms);
        self.minute.async_age.observe(ms);
    }

    /// Counts an event its dead-letter queue would not take (DeadLetterErrors).
    pub(crate) fn dead_letter_failed(&self) {
        self.dead_letter_errors.fetch_add(1, Ordering::Relaxed);
        self.minute.dead_letter_errors.add();
    }

    /// Counts a record its destination would not take (DestinationDeliveryFailures).
    pub(crate) fn destination_failed(&self) {
        self.destination_failures.fetch_add(1, Ordering::Relaxed);
        self.minute.destination_failures.add();
    }
}
