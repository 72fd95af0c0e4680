//! Who owns the executor's pools and environments: the pool of each function version, each
//! function's scaling budget, and every live environment. The other modules (cold start,
//! invocation, provisioning, housekeeping) reach pools and environments only through it.
//!
//! Lock order: `pools` before `buckets`; `all` alone. Each is held for a short section and
//! never across an `.await`; a pool's own lock is never taken while holding one of these.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::environment::Environment;
use crate::pool::{Bucket, Pool, Scaling};
use crate::version::FunctionVersion;

/// The pools, scaling budgets and live environments.
#[derive(Debug)]
pub(crate) struct PoolRegistry {
    scaling: Scaling,
    /// By function name, then version: found from borrowed names on every invocation.
    pools: Mutex<HashMap<String, HashMap<String, Arc<Pool>>>>,
    /// Each function's scaling budget, shared by its versions.
    buckets: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
    all: Mutex<HashMap<String, Arc<Environment>>>,
    live: AtomicUsize,
    /// Woken whenever an environment is gone (for shutdown).
    gone: Notify,
    /// Woken whenever a pool is replaced or an environment is gone (for provisioning).
    changed: Notify,
    closing: AtomicBool,
}

impl PoolRegistry {
    pub(crate) fn new(scaling: Scaling) -> PoolRegistry {
        PoolRegistry {
            scaling,
            pools: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            all: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            gone: Notify::new(),
            changed: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    /// How far and how fast functions may scale.
    pub(crate) fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The pool of `version`'s snapshot, made (and the previous one retired) when the
    /// snapshot changed.
    pub(crate) fn pool_for(&self, version: &Arc<FunctionVersion>) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        // The same snapshot (the same Arc, on the fast path): anything that changes what an
        // environment runs with (code, configuration, the egress tag) makes a new one.
        if let Some(pool) = pools
            .get(&version.name)
            .and_then(|v| v.get(&version.version))
            && (Arc::ptr_eq(&pool.version, version) || *pool.version == **version)
        {
            return pool.clone();
        }
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(version.name.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Bucket::full(self.scaling.rate_per_10s))))
            .clone();
        let pool = Arc::new(Pool::new(version.clone(), bucket));
        let versions = pools.entry(version.name.clone()).or_default();
        if let Some(old) = versions.insert(version.version.clone(), pool.clone()) {
            retire_pool(&old);
        }
        drop(pools);
        // A provisioned target of this version now applies to the new pool.
        self.changed.notify_one();
        pool
    }

    /// Every pool, for a pass over all of them.
    pub(crate) fn pool_list(&self) -> Vec<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().flat_map(HashMap::values).cloned().collect()
    }

    /// The pool of a version, if there is one.
    pub(crate) fn existing_pool(&self, name: &str, version: &str) -> Option<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.get(name)?.get(version).cloned()
    }

    /// Retires every pool of a function.
    pub(crate) fn retire_function(&self, name: &str) {
        let retired: Vec<Arc<Pool>> = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools
                .remove(name)
                .map(|versions| versions.into_values().collect())
                .unwrap_or_default()
        };
        for pool in retired {
            retire_pool(&pool);
        }
    }

    /// Retires the pool of one version.
    pub(crate) fn retire_version(&self, name: &str, version: &str) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let Some(versions) = pools.get_mut(name) else {
            return;
        };
        let retired = versions.remove(version);
        if versions.is_empty() {
            pools.remove(name);
        }
        drop(pools);
        if let Some(pool) = retired {
            retire_pool(&pool);
        }
    }

    /// Refuses new invocations from now on, retires every pool and kills every environment.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let pools: Vec<Arc<Pool>> = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.drain().flat_map(|(_, v)| v.into_values()).collect()
        };
        for pool in &pools {
            retire_pool(pool);
        }
        let all: Vec<Arc<Environment>> = {
            let all = self.all.lock().unwrap_or_else(|p| p.into_inner());
            all.values().cloned().collect()
        };
        for env in all {
            env.retire();
        }
    }

    /// Waits until no environment is left, or `deadline`.
    pub(crate) async fn all_gone(&self, deadline: Instant) {
        while self.live() > 0 {
            let notified = self.gone.notified();
            if self.live() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                break;
            }
        }
    }

    /// A new environment runs.
    pub(crate) fn adopted(&self, env: &Arc<Environment>) {
        self.live.fetch_add(1, Ordering::SeqCst);
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env.id.clone(), env.clone());
    }

    /// An environment's process ended.
    pub(crate) fn ended(&self, env: &Environment) {
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&env.id);
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.gone.notify_waiters();
        // A provisioned one is kept at the requested number: replaced.
        self.changed.notify_one();
    }

    /// Live environments across all functions.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Resolves once a pool was replaced or an environment ended (or has been since the last
    /// wait), or when `notify_changed` is called.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }

    /// Wakes whoever waits in [`PoolRegistry::changed`].
    pub(crate) fn notify_changed(&self) {
        self.changed.notify_one();
    }
}

fn retire_pool(pool: &Pool) {
    for env in pool.retire() {
        env.retire();
    }
}
