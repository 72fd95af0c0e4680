//! Visibility: the status `lamina ps` shows: environments per version and state, the
//! per-function concurrency, throttles and invocation metrics kept since the server started
//! (counted in `admission`), and the event queue.

use std::sync::atomic::Ordering;

use lamina_model::status::{FunctionStatus, ServerStatus, VersionStatus};

use crate::Platform;

impl Platform {
    /// Everything `lamina ps` shows.
    pub fn status(&self) -> ServerStatus {
        let executor = self.executor();
        let house = executor.housekeeping();
        let mut functions: Vec<FunctionStatus> = {
            self.registry()
                .entries()
                .iter()
                .map(|c| FunctionStatus {
                    name: c.config.name.clone(),
                    reserved_concurrency: c.config.reserved_concurrency,
                    ..FunctionStatus::default()
                })
                .collect()
        };
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        let pools = executor.all_stats();
        let concurrency = &self.inner.concurrency;
        for f in &mut functions {
            f.concurrent_executions = concurrency.in_flight(&f.name);
            let c = concurrency.counters(&f.name);
            f.throttles = c.throttles.load(Ordering::Relaxed);
            f.invocations = c.invocations.load(Ordering::Relaxed);
            f.errors = c.errors.load(Ordering::Relaxed);
            f.cold_starts = c.cold_starts.load(Ordering::Relaxed);
            f.duration_ms = c.duration_us.load(Ordering::Relaxed) as f64 / 1000.0;
            f.billed_mb_ms = c.billed_mb_ms.load(Ordering::Relaxed);
            f.versions = pools
                .iter()
                .filter(|(name, _, s)| *name == f.name && s.live > 0)
                .map(|(_, version, s)| VersionStatus {
                    version: version.clone(),
                    initialising: s.initialising,
                    idle: s.idle - s.frozen.min(s.idle),
                    busy: s.busy,
                    frozen: s.frozen,
                    provisioned: s.provisioned,
                    waiting: s.waiting,
                    created: s.created,
                })
                .collect();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        let q = self.async_invoke().event_queue_stats();
        ServerStatus {
            concurrency_limit: concurrency.limit,
            unreserved_concurrency: concurrency
                .limit
                .saturating_sub(concurrency.reserved_total.load(Ordering::SeqCst)),
            concurrent_executions: functions.iter().map(|f| f.concurrent_executions).sum(),
            environments: executor.live_environments(),
            reaped: house.reaped,
            evicted: house.evicted,
            freezes: house.frozen,
            thaws: house.thaws,
            thaw_mean_us: if house.thaws == 0 {
                0.0
            } else {
                us(house.thaw_ns) / house.thaws as f64
            },
            thaw_max_us: us(house.thaw_max_ns),
            event_queue: lamina_model::status::EventQueueStatus {
                ready: q.ready,
                delayed: q.delayed,
                running: q.leased,
                bytes: q.bytes,
                max_events: q.max_messages,
                max_bytes: q.max_bytes,
                failed: q.failed,
                accepted: q.enqueued,
                refused: q.refused,
            },
            functions,
            // The nodes need the database: the status endpoint adds them.
            nodes: Vec::new(),
        }
    }
}
