//! The figures of an invocation's REPORT line, which the log lines, the Telemetry API's
//! `platform.report` record and the metrics all take.

use crate::launcher::Prestarted;

/// Figures of the REPORT line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Handler time in ms.
    pub duration_ms: f64,
    /// Rounded up to the ms.
    pub billed_ms: u64,
    /// Configured memory.
    pub memory_mb: u32,
    /// Peak memory measured.
    pub max_memory_mb: u64,
    /// Init time on a cold start.
    pub init_ms: Option<f64>,
    /// Of `init_ms`, the time spent setting up the environment before its runtime ran.
    pub setup_ms: Option<f64>,
    /// On a cold start, what of the environment had been started ahead of time.
    pub prestarted: Option<Prestarted>,
}
