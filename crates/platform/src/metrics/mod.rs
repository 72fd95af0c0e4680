//! Per-function figures kept since the server started, for `lamina ps` and the Prometheus
//! export ([`export`]): invocations, errors, cold starts by what was started ahead, time,
//! billed memory-time and throttles, per function and per version; asynchronous events
//! received, dropped, their age, and failed deliveries to dead-letter queues and
//! destinations.
//!
//! The invocation path only adds to atomics: it reaches its function's [`Counter`] through
//! its admission (one lookup it already makes), and a version's figures through the
//! counter's short list of versions.

pub mod export;
mod histogram;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use histogram::{Histogram, Snapshot};

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
    /// Each version that ran, with its figures; a few per function, so a short list.
    versions: Mutex<Vec<(String, Arc<VersionMetrics>)>>,
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
    /// Cold starts by what had been started ahead: nothing, the sandbox, the runtime.
    pub cold_starts: [AtomicU64; 3],
    pub billed_mb_ms: AtomicU64,
}

/// What [`VersionMetrics::cold_starts`] counts by.
pub const PRESTARTED: [&str; 3] = ["none", "sandbox", "runtime"];

impl Counter {
    /// Counts an invocation of `version` that ran, with its REPORT figures.
    pub(crate) fn record(&self, version: &str, report: &lamina_executor::Report, failed: bool) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let billed = report.billed_ms * u64::from(report.memory_mb);
        self.duration_us
            .fetch_add((report.duration_ms * 1000.0) as u64, Ordering::Relaxed);
        self.billed_mb_ms.fetch_add(billed, Ordering::Relaxed);
        let v = self.version(version);
        v.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            v.errors.fetch_add(1, Ordering::Relaxed);
        }
        v.duration.observe(report.duration_ms);
        v.billed_mb_ms.fetch_add(billed, Ordering::Relaxed);
        if let Some(init) = report.init_ms {
            self.cold_starts.fetch_add(1, Ordering::Relaxed);
            v.init.observe(init);
            if let Some(setup) = report.setup_ms {
                v.setup.observe(setup);
            }
            let ahead = report.prestarted.map_or("none", |p| p.as_str());
            let i = PRESTARTED.iter().position(|p| *p == ahead).unwrap_or(0);
            v.cold_starts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The figures of `version`, made on its first invocation.
    fn version(&self, version: &str) -> Arc<VersionMetrics> {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = versions.iter().find(|(n, _)| n == version) {
            return v.clone();
        }
        let v = Arc::new(VersionMetrics::default());
        versions.push((version.to_string(), v.clone()));
        v
    }

    /// Every version that ran, with its figures.
    pub(crate) fn versions(&self) -> Vec<(String, Arc<VersionMetrics>)> {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets a version that was deleted (its figures leave the export).
    pub(crate) fn forget_version(&self, version: &str) {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(n, _)| n != version);
    }

    /// Counts a throttle.
    pub(crate) fn throttled(&self) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
    }
}
