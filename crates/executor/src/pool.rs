//! The environments of one function version: which are idle (provisioned ones first, then
//! the most recently used), how many are live, the invocations waiting for one, and the
//! function's scaling budget.
//!
//! An invocation takes an idle environment if there is one. Otherwise it may start a new one
//! if the function is below its environment limit and its scaling budget (a token bucket
//! shared by all versions of the function, refilled continuously, as Lambda's "1,000
//! environments every 10 seconds") has a token. Otherwise it waits, in a bounded queue, for
//! whichever comes first: an environment coming back from its invocation (handed over
//! directly, so a busy environment about to finish counts as available), a token, or room
//! under the limit; or gives up when its wait is over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::environment::{EnvState, Environment};
use crate::version::FunctionVersion;

/// CPU an environment left thawed while idle may use (beyond what its runtime does as it
/// goes idle) before it is frozen: a clock tick or two, so that a thread left running is
/// stopped within a housekeeping period or two.
const IDLE_CPU_ALLOWANCE: Duration = Duration::from_millis(10);

/// How fast and how far a function may scale out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scaling {
    /// Most on-demand environments of one version.
    pub max_environments: usize,
    /// New environments per function per 10 seconds (and the bucket's size).
    pub rate_per_10s: u32,
    /// Most invocations waiting for an environment, per version.
    pub queue: usize,
}

/// A function's scaling budget: a token bucket shared by its versions.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    pub(crate) fn full(rate_per_10s: u32) -> Bucket {
        Bucket {
            tokens: f64::from(rate_per_10s),
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self, rate_per_10s: u32, now: Instant) {
        let rate = f64::from(rate_per_10s);
        let earned = now.duration_since(self.refilled).as_secs_f64() * rate / 10.0;
        self.tokens = (self.tokens + earned).min(rate);
        self.refilled = now;
    }

    /// Takes a token if there is one; else says when the next one comes.
    fn take(&mut self, rate_per_10s: u32, now: Instant) -> Result<(), Instant> {
        self.refill(rate_per_10s, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) * 10.0 / f64::from(rate_per_10s.max(1));
        Err(now + Duration::from_secs_f64(wait))
    }
}

/// What an invocation gets from its pool.
pub(crate) enum Acquire {
    /// An environment that has run before (or a provisioned one), out of the idle list; the
    /// caller [takes](Environment::take) it.
    Warm(Arc<Environment>),
    /// Room and a token to start a new one; `live` is already counted.
    Cold,
    /// Nothing yet: wait for an environment handed over on the channel, for room (the
    /// pool's `capacity`), or until the instant, when the next token comes.
    Wait(oneshot::Receiver<Arc<Environment>>, Option<Instant>),
    /// The queue of waiting invocations is full.
    Full,
}

/// Counts of environments by state, for visibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// All live environments of the pool, including those being started.
    pub live: usize,
    /// Of which idle (frozen included).
    pub idle: usize,
    /// Of which starting or initialising.
    pub initialising: usize,
    /// Of which running an invocation.
    pub busy: usize,
    /// Of which idle and frozen.
    pub frozen: usize,
    /// Of which provisioned (at any stage).
    pub provisioned: usize,
    /// Provisioned environments that finished their init and are still there.
    pub provisioned_ready: usize,
    /// Invocations waiting for an environment.
    pub waiting: usize,
    /// Environments started since the pool was made.
    pub created: u64,
}

#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) version: Arc<FunctionVersion>,
    bucket: Arc<Mutex<Bucket>>,
    // Short critical sections only, never across an await.
    state: Mutex<PoolState>,
    /// Woken when room appears (an environment went away or failed to start).
    pub(crate) capacity: Notify,
}

#[derive(Debug, Default)]
pub(crate) struct PoolState {
    /// On-demand idle environments, least recently used first.
    idle: Vec<Arc<Environment>>,
    /// Provisioned idle environments.
    provisioned_idle: Vec<Arc<Environment>>,
    /// Every adopted environment, for visibility and freezing.
    envs: Vec<Arc<Environment>>,
    /// Live environments, counting those being started.
    live: usize,
    /// Of which provisioned.
    provisioned: usize,
    /// Provisioned environments wanted.
    pub(crate) provisioned_target: usize,
    waiters: VecDeque<oneshot::Sender<Arc<Environment>>>,
    created: u64,
    pub(crate) retired: bool,
}

impl Pool {
    pub(crate) fn new(version: Arc<FunctionVersion>, bucket: Arc<Mutex<Bucket>>) -> Pool {
        Pool {
            version,
            bucket,
            state: Mutex::new(PoolState::default()),
            capacity: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn acquire(&self, scaling: &Scaling) -> Acquire {
        let mut st = self.lock();
        // Provisioned first: they exist to take the load. Then the most recently used.
        while let Some(env) = st.provisioned_idle.pop().or_else(|| st.idle.pop()) {
            if env.is_alive() {
                return Acquire::Warm(env);
            }
        }
        let mut next_token = None;
        if st.live - st.provisioned < scaling.max_environments {
            let taken = self
                .bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(scaling.rate_per_10s, Instant::now());
            match taken {
                Ok(()) => {
                    st.live += 1;
                    st.created += 1;
                    return Acquire::Cold;
                }
                Err(at) => next_token = Some(at),
            }
        }
        st.waiters.retain(|w| !w.is_closed());
        if st.waiters.len() >= scaling.queue {
            return Acquire::Full;
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.push_back(tx);
        Acquire::Wait(rx, next_token)
    }

    /// Counts an environment about to be started for provisioned concurrency.
    pub(crate) fn reserve_provisioned(&self) -> bool {
        let mut st = self.lock();
        if st.retired || st.provisioned >= st.provisioned_target {
            return false;
        }
        st.live += 1;
        st.provisioned += 1;
        st.created += 1;
        true
    }

    /// A start counted by [`acquire`](Self::acquire) or
    /// [`reserve_provisioned`](Self::reserve_provisioned) failed before an environment
    /// existed.
    pub(crate) fn start_failed(&self, provisioned: bool) {
        {
            let mut st = self.lock();
            st.live = st.live.saturating_sub(1);
            if provisioned {
                st.provisioned = st.provisioned.saturating_sub(1);
            }
        }
        self.capacity.notify_waiters();
    }

    /// Records an environment just adopted.
    pub(crate) fn adopted(&self, env: &Arc<Environment>) {
        self.lock().envs.push(env.clone());
    }

    /// Makes an environment available after an invocation or its provisioned init: to the
    /// first waiting invocation, else to the idle list. False if it must be stopped instead.
    pub(crate) fn release(&self, env: &Arc<Environment>) -> bool {
        let mut st = self.lock();
        if st.retired || !env.is_alive() || env.was_killed() {
            return false;
        }
        if env.is_provisioned() && st.provisioned > st.provisioned_target && env.unprovision() {
            // Provisioned concurrency was lowered: this one goes.
            st.provisioned -= 1;
            return false;
        }
        env.touch();
        while let Some(waiter) = st.waiters.pop_front() {
            env.set_state(EnvState::Busy);
            match waiter.send(env.clone()) {
                Ok(()) => return true,
                Err(_) => continue,
            }
        }
        env.set_state(EnvState::Idle);
        if env.is_provisioned() {
            st.provisioned_idle.push(env.clone());
        } else {
            st.idle.push(env.clone());
        }
        true
    }

    /// Forgets an environment that is gone; exactly once per environment.
    pub(crate) fn forget(&self, env: &Arc<Environment>) {
        if env.forget_once() {
            let mut st = self.lock();
            st.live = st.live.saturating_sub(1);
            if env.unprovision() {
                st.provisioned = st.provisioned.saturating_sub(1);
            }
            st.idle.retain(|e| !Arc::ptr_eq(e, env));
            st.provisioned_idle.retain(|e| !Arc::ptr_eq(e, env));
            st.envs.retain(|e| !Arc::ptr_eq(e, env));
            drop(st);
            self.capacity.notify_waiters();
        }
    }

    /// Marks the pool retired and returns its idle environments, to be stopped.
    pub(crate) fn retire(&self) -> Vec<Arc<Environment>> {
        let mut st = self.lock();
        st.retired = true;
        st.waiters.clear();
        let mut idle = std::mem::take(&mut st.idle);
        idle.append(&mut st.provisioned_idle);
        drop(st);
        self.capacity.notify_waiters();
        idle
    }

    /// Sets the provisioned target; returns the idle provisioned environments beyond it, to
    /// be stopped, and how many more must be started.
    pub(crate) fn set_provisioned_target(&self, target: usize) -> (Vec<Arc<Environment>>, usize) {
        let mut st = self.lock();
        st.provisioned_target = target;
        let mut extra = Vec::new();
        while st.provisioned > target {
            let Some(env) = st.provisioned_idle.pop() else {
                break;
            };
            if env.unprovision() {
                st.provisioned -= 1;
            }
            extra.push(env);
        }
        let missing = if st.retired {
            0
        } else {
            target.saturating_sub(st.provisioned)
        };
        (extra, missing)
    }

    /// Idle on-demand environments unused for at least `age`, taken out of the pool.
    pub(crate) fn take_expired(&self, now: Instant, age: Duration) -> Vec<Arc<Environment>> {
        let mut st = self.lock();
        // Least recently used first: nothing has expired if the first has not.
        if st
            .idle
            .first()
            .is_none_or(|e| now.duration_since(e.last_used()) < age)
        {
            return Vec::new();
        }
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut st.idle)
            .into_iter()
            .partition(|e| now.duration_since(e.last_used()) >= age);
        st.idle = keep;
        old
    }

    /// Freezes the idle environments unused for at least `after`, but the one the next
    /// invocation takes while it is idle for less than `keep` and uses no CPU: a function
    /// called every second or so then finds it thawed. Returns how many were frozen now, and
    /// whether idle ones are left to freeze (or watch) later.
    pub(crate) fn freeze_idle(
        &self,
        now: Instant,
        after: Duration,
        keep: Duration,
    ) -> (usize, bool) {
        let st = self.lock();
        let (mut frozen, mut later) = (0, false);
        // The environment the next invocation takes (provisioned ones first, the most
        // recently used first) stays thawed while it uses no CPU, for up to `keep`.
        let next = st.provisioned_idle.last().or(st.idle.last());
        // Under the lock: nothing can take an environment while it is being frozen.
        for env in st.idle.iter().chain(st.provisioned_idle.iter()) {
            if env.state() != EnvState::Idle {
                continue;
            }
            let idle_for = now.duration_since(env.last_used());
            if idle_for < after {
                later = true;
                continue;
            }
            let kept = next.is_some_and(|n| Arc::ptr_eq(n, env))
                && idle_for < keep
                && !env.busy_while_idle(IDLE_CPU_ALLOWANCE);
            if kept {
                later = true;
            } else if env.freeze() {
                frozen += 1;
            }
        }
        (frozen, later)
    }

    /// The least recently used on-demand idle environment and when it was last used.
    pub(crate) fn oldest_idle(&self) -> Option<Instant> {
        self.lock().idle.first().map(|e| e.last_used())
    }

    /// Takes the least recently used on-demand idle environment out of the pool.
    pub(crate) fn take_oldest_idle(&self) -> Option<Arc<Environment>> {
        let mut st = self.lock();
        (!st.idle.is_empty()).then(|| st.idle.remove(0))
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.lock();
        let mut s = PoolStats {
            live: st.live,
            idle: st.idle.len() + st.provisioned_idle.len(),
            provisioned: st.provisioned,
            waiting: st.waiters.iter().filter(|w| !w.is_closed()).count(),
            created: st.created,
            // Counted but not adopted yet: being started.
            initialising: st.live.saturating_sub(st.envs.len()),
            ..PoolStats::default()
        };
        for env in &st.envs {
            match env.state() {
                EnvState::Initialising => s.initialising += 1,
                EnvState::Busy => s.busy += 1,
                EnvState::Frozen => s.frozen += 1,
                EnvState::Idle => {}
            }
            if env.is_provisioned() && env.session.is_initialized() && env.is_alive() {
                s.provisioned_ready += 1;
            }
        }
        s
    }

    /// Memory configured for the pool's live environments, in MB.
    pub(crate) fn memory_mb(&self) -> u64 {
        self.lock().live as u64 * u64::from(self.version.memory_mb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_continuously_up_to_its_size() {
        let mut b = Bucket::full(2);
        let t0 = b.refilled;
        assert!(b.take(2, t0).is_ok());
        assert!(b.take(2, t0).is_ok());
        // 2 per 10 s: the next token comes 5 s later.
        let next = b.take(2, t0).unwrap_err();
        assert_eq!(next.duration_since(t0), Duration::from_secs(5));
        assert!(b.take(2, t0 + Duration::from_secs(5)).is_ok());
        // A long pause does not accumulate more than the bucket holds.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.take(2, later).is_ok() && b.take(2, later).is_ok());
        assert!(b.take(2, later).is_err());
    }
}
