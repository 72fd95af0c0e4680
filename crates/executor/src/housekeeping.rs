//! What happens to environments between invocations: idle ones are frozen once unused for a
//! moment (so they use no CPU, as Lambda freezes its environments), except each function's
//! next one, kept thawed for a while as long as it uses no CPU, stopped once idle past
//! the idle timeout (provisioned ones excepted), and, when memory runs short (the server's
//! memory budget, or the host's available memory below its reserve), stopped least recently
//! used first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::ExecutorConfig;
use crate::pool::Pool;
use crate::registry::PoolRegistry;

/// What housekeeping did since the server started, and how to wake it.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Set while the task sleeps its long period, with no environment waiting to be frozen.
    resting: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
    reaped: AtomicU64,
    evicted: AtomicU64,
    frozen: AtomicU64,
    thaws: AtomicU64,
    thaw_ns: AtomicU64,
    thaw_max_ns: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HousekeepingStats {
    /// Idle environments stopped after the idle timeout.
    pub reaped: u64,
    /// Idle environments stopped to make room in memory.
    pub evicted: u64,
    /// Times an idle environment was frozen.
    pub frozen: u64,
    /// Times a frozen environment was thawed for an invocation.
    pub thaws: u64,
    /// Total time spent thawing, in nanoseconds.
    pub thaw_ns: u64,
    /// Longest thaw, in nanoseconds.
    pub thaw_max_ns: u64,
}

impl Counters {
    /// An environment became idle: if housekeeping rests, wake it so the environment is
    /// frozen on time. One atomic load on the invocation path otherwise.
    pub(crate) fn idle_now(&self) {
        if self.resting.load(Ordering::Relaxed) && self.resting.swap(false, Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    pub(crate) fn thawed(&self, took: Duration) {
        let ns = took.as_nanos() as u64;
        self.thaws.fetch_add(1, Ordering::Relaxed);
        self.thaw_ns.fetch_add(ns, Ordering::Relaxed);
        self.thaw_max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HousekeepingStats {
        HousekeepingStats {
            reaped: self.reaped.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            frozen: self.frozen.load(Ordering::Relaxed),
            thaws: self.thaws.load(Ordering::Relaxed),
            thaw_ns: self.thaw_ns.load(Ordering::Relaxed),
            thaw_max_ns: self.thaw_max_ns.load(Ordering::Relaxed),
        }
    }
}

/// Frees what idle environments hold: freezes, reaps and evicts them.
#[derive(Debug)]
pub(crate) struct Housekeeper {
    config: Arc<ExecutorConfig>,
    registry: Arc<PoolRegistry>,
    counters: Arc<Counters>,
    /// When the host's memory was last read. Passes run every 50 ms while environments
    /// wait to be frozen, but `/proc/meminfo` costs the kernel a walk of every block device
    /// (each sandbox's `/tmp` is a loop device), so it is read at most once per
    /// [`MEMORY_CHECK_EVERY`].
    memory_checked: std::sync::Mutex<Option<Instant>>,
}

/// How often the host's available memory is read at most.
const MEMORY_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether the memory check last made at `last` is due again at `now` (and records it).
fn memory_check_due(last: &mut Option<Instant>, now: Instant) -> bool {
    let due = last.is_none_or(|at| now.saturating_duration_since(at) >= MEMORY_CHECK_EVERY);
    if due {
        *last = Some(now);
    }
    due
}

impl Housekeeper {
    pub(crate) fn new(
        config: Arc<ExecutorConfig>,
        registry: Arc<PoolRegistry>,
        counters: Arc<Counters>,
    ) -> Arc<Housekeeper> {
        Arc::new(Housekeeper {
            config,
            registry,
            counters,
            memory_checked: std::sync::Mutex::new(None),
        })
    }

    /// Starts the housekeeping task; it ends once `self` is dropped. It runs often (half the
    /// freeze delay) only while some idle environment is still to be frozen, and otherwise
    /// rests for its long period (a quarter of the idle timeout, at most 1 s when watching
    /// memory) until an environment becomes idle.
    pub(crate) fn spawn(self: &Arc<Self>) {
        let config = &self.config;
        let mut long =
            (config.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        if config.memory_reserve_mb > 0 {
            long = long.min(Duration::from_secs(1));
        }
        let short = config
            .freeze_after
            .map(|after| (after / 2).max(Duration::from_millis(10)).min(long));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut period = long;
            if let Some(keeper) = weak.upgrade() {
                keeper.counters.resting.store(true, Ordering::SeqCst);
            }
            loop {
                let Some(keeper) = weak.upgrade() else { return };
                let counters = &keeper.counters;
                if period == long {
                    let _ = tokio::time::timeout(period, counters.wake.notified()).await;
                    counters.resting.store(false, Ordering::SeqCst);
                    // Woken by an environment that just became idle: give it its delay.
                    if let Some(short) = short {
                        tokio::time::sleep(short).await;
                    }
                } else {
                    tokio::time::sleep(period).await;
                }
                // Resting is declared before the pass, not after it: an environment that
                // becomes idle after the pass looked at its pool then always wakes the task
                // (a stored permit if it is not waiting yet), instead of waiting out the
                // long period unfrozen.
                counters.resting.store(true, Ordering::SeqCst);
                let to_freeze = keeper.housekeep();
                period = match short {
                    Some(short) if to_freeze => {
                        counters.resting.store(false, Ordering::SeqCst);
                        short
                    }
                    _ => long,
                };
            }
        });
    }

    /// One pass; returns whether an idle environment is still to be frozen.
    fn housekeep(&self) -> bool {
        let now = Instant::now();
        let pools = self.registry.pool_list();
        let mut to_freeze = false;
        for pool in &pools {
            for env in pool.take_expired(now, self.config.idle_timeout) {
                tracing::debug!(function = %pool.version.name, env = %env.id, "reaping idle environment");
                self.counters.reaped.fetch_add(1, Ordering::Relaxed);
                env.retire();
            }
            if let Some(after) = self.config.freeze_after {
                let (frozen, waiting) = pool.freeze_idle(now, after, self.config.keep_thawed);
                self.counters
                    .frozen
                    .fetch_add(frozen as u64, Ordering::Relaxed);
                to_freeze |= waiting;
            }
        }
        if self.config.memory_reserve_mb > 0
            && memory_check_due(
                &mut self
                    .memory_checked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
                now,
            )
            && let Some(available) = mem_available_mb()
            && available < self.config.memory_reserve_mb
        {
            let short = self.config.memory_reserve_mb - available;
            tracing::warn!(
                available_mb = available,
                short_mb = short,
                "memory is short: stopping idle environments"
            );
            self.evict(short, &pools, None);
        }
        to_freeze
    }

    /// Before a cold start in `pool` (already counted): keeps the memory configured for all
    /// environments within the budget by stopping the least recently used idle ones.
    pub(crate) fn make_room(&self, pool: &Arc<Pool>) {
        let budget = self.config.memory_budget_mb;
        if budget == 0 {
            return;
        }
        let pools = self.registry.pool_list();
        let used: u64 = pools.iter().map(|p| p.memory_mb()).sum();
        if used > budget {
            self.evict(used - budget, &pools, Some(pool));
        }
    }

    /// Stops idle on-demand environments, least recently used first across all pools (but
    /// `sparing`), until `mb` of configured memory is freed or none is left.
    fn evict(&self, mb: u64, pools: &[Arc<Pool>], sparing: Option<&Arc<Pool>>) {
        let mut freed = 0;
        while freed < mb {
            let oldest = pools
                .iter()
                .filter(|p| !sparing.is_some_and(|s| Arc::ptr_eq(s, p)))
                .filter_map(|p| p.oldest_idle().map(|at| (at, p)))
                .min_by_key(|(at, _)| *at);
            let Some((_, pool)) = oldest else { break };
            let Some(env) = pool.take_oldest_idle() else {
                continue;
            };
            tracing::info!(function = %pool.version.name, env = %env.id, "stopping the least recently used idle environment for memory");
            self.counters.evicted.fetch_add(1, Ordering::Relaxed);
            freed += u64::from(pool.version.memory_mb);
            env.retire();
        }
    }
}

/// The host's available memory, in MB.
fn mem_available_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_memory_is_read_at_most_once_a_second() {
        let start = Instant::now();
        let mut last = None;
        assert!(
            memory_check_due(&mut last, start),
            "the first pass reads it"
        );
        for ms in [50, 100, 500, 950] {
            assert!(
                !memory_check_due(&mut last, start + Duration::from_millis(ms)),
                "not again {ms} ms later"
            );
        }
        assert!(memory_check_due(
            &mut last,
            start + Duration::from_millis(1000)
        ));
        assert!(!memory_check_due(
            &mut last,
            start + Duration::from_millis(1050)
        ));
        assert!(memory_check_due(
            &mut last,
            start + Duration::from_millis(2100)
        ));
    }
}
