//! Per-function figures kept since the server started (for `lamina ps` and a later export):
//! invocations, errors, cold starts, time and billed memory-time, throttles.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One function's invocations in flight (all versions), throttles, and the metrics of the
/// invocations that ran (kept since start, for `lamina ps`): the invocation path reaches them
/// through its [`Admission`], with no lookup of its own.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub(crate) in_flight: AtomicU32,
    pub(crate) throttles: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) cold_starts: AtomicU64,
    pub(crate) duration_us: AtomicU64,
    pub(crate) billed_mb_ms: AtomicU64,
}

impl Counter {
    /// Counts an invocation that ran, with its REPORT figures.
    pub(crate) fn record(&self, report: &lamina_executor::Report, failed: bool) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if report.init_ms.is_some() {
            self.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
        self.duration_us
            .fetch_add((report.duration_ms * 1000.0) as u64, Ordering::Relaxed);
        self.billed_mb_ms.fetch_add(
            report.billed_ms * u64::from(report.memory_mb),
            Ordering::Relaxed,
        );
    }

    /// Counts a throttle.
    pub(crate) fn throttled(&self) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
    }
}
