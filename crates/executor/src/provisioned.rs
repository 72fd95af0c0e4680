//! Provisioned concurrency: environments started and initialised ahead of time for a
//! function version, kept at the requested number (one that dies is replaced), never reaped,
//! and taken before any other by invocations of that version.
//!
//! One task reconciles every target with its pool: when a target is set, when a pool is
//! replaced, when an environment goes, and once a second. An environment counts as
//! allocated once its runtime asks for its first invocation; one whose init fails is
//! retried with a growing pause, and after three failures in a row the target reports
//! `FAILED` with the reason until one succeeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cold_start::ColdStart;
use crate::config::ExecutorConfig;
use crate::error::StartFailure;
use crate::housekeeping::Counters;
use crate::pool::Pool;
use crate::registry::PoolRegistry;
use crate::version::FunctionVersion;

/// Failures in a row after which a target reports `FAILED`.
const FAILURES_TO_FAIL: u32 = 3;

/// One version's provisioned concurrency.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    version: Arc<FunctionVersion>,
    count: usize,
    failures: u32,
    last_failure: Option<String>,
    retry_at: Option<Instant>,
}

/// Where a version's provisioned concurrency stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionedStatus {
    /// Environments requested.
    pub requested: usize,
    /// Environments initialised and ready (or running an invocation).
    pub allocated: usize,
    /// Why allocation keeps failing, once it has failed three times in a row.
    pub failure: Option<String>,
}

/// Keeps each version's provisioned environments at their target.
#[derive(Debug)]
pub(crate) struct Provisioning {
    config: Arc<ExecutorConfig>,
    registry: Arc<PoolRegistry>,
    starter: Arc<ColdStart>,
    counters: Arc<Counters>,
    /// Provisioned concurrency wanted, by function name and version.
    targets: Mutex<HashMap<(String, String), Target>>,
}

impl Provisioning {
    pub(crate) fn new(
        config: Arc<ExecutorConfig>,
        registry: Arc<PoolRegistry>,
        starter: Arc<ColdStart>,
        counters: Arc<Counters>,
    ) -> Arc<Provisioning> {
        Arc::new(Provisioning {
            config,
            registry,
            starter,
            counters,
            targets: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the task that reconciles targets with pools; it ends once `self` is dropped
    /// or the executor closes.
    pub(crate) fn spawn(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else { return };
                let _ = tokio::time::timeout(Duration::from_secs(1), this.registry.changed()).await;
                if this.registry.is_closing() {
                    return;
                }
                this.reconcile();
            }
        });
    }

    /// Sets the provisioned concurrency of every version of function `name` (replacing what
    /// was set before; versions left out get none).
    pub(crate) fn set(&self, name: &str, targets: Vec<(Arc<FunctionVersion>, usize)>) {
        let dropped: Vec<String> = {
            let mut all = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            let old: Vec<(String, String)> =
                all.keys().filter(|(n, _)| n == name).cloned().collect();
            let mut dropped = Vec::new();
            for key in old {
                if !targets.iter().any(|(v, _)| v.version == key.1) {
                    all.remove(&key);
                    dropped.push(key.1);
                }
            }
            for (version, count) in targets {
                let key = (name.to_string(), version.version.clone());
                match all.get_mut(&key) {
                    Some(t) if Arc::ptr_eq(&t.version, &version) || *t.version == *version => {
                        t.count = count;
                    }
                    _ => {
                        all.insert(
                            key,
                            Target {
                                version,
                                count,
                                failures: 0,
                                last_failure: None,
                                retry_at: None,
                            },
                        );
                    }
                }
            }
            dropped
        };
        for version in dropped {
            if let Some(pool) = self.registry.existing_pool(name, &version) {
                for env in pool.set_provisioned_target(0).0 {
                    env.kill();
                }
            }
        }
        self.registry.notify_changed();
    }

    /// Where the provisioned concurrency of a version stands (all zero when none is set).
    pub(crate) fn status(&self, name: &str, version: &str) -> ProvisionedStatus {
        let target = self
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(name.to_string(), version.to_string()))
            .cloned();
        let Some(target) = target else {
            return ProvisionedStatus::default();
        };
        let allocated = self
            .registry
            .existing_pool(name, version)
            .map(|p| p.stats().provisioned_ready)
            .unwrap_or(0);
        ProvisionedStatus {
            requested: target.count,
            allocated: allocated.min(target.count),
            failure: (target.failures >= FAILURES_TO_FAIL && allocated < target.count)
                .then(|| target.last_failure.clone().unwrap_or_default()),
        }
    }

    fn reconcile(self: &Arc<Self>) {
        let now = Instant::now();
        let targets: Vec<Target> = {
            let all = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            all.values()
                .filter(|t| t.retry_at.is_none_or(|at| at <= now))
                .cloned()
                .collect()
        };
        for target in targets {
            let pool = self.registry.pool_for(&target.version);
            let (extra, missing) = pool.set_provisioned_target(target.count);
            for env in extra {
                env.retire();
            }
            for _ in 0..missing {
                if !pool.reserve_provisioned() {
                    break;
                }
                let this = self.clone();
                let pool = pool.clone();
                tokio::spawn(async move { this.provision_one(pool).await });
            }
        }
    }

    /// Starts one provisioned environment (counted in the pool already) and waits for its
    /// init to end.
    async fn provision_one(self: Arc<Self>, pool: Arc<Pool>) {
        let failure = match self.starter.start(&pool, true).await {
            Ok(env) => {
                let ready =
                    tokio::time::timeout(self.config.init_timeout, env.session.initialized())
                        .await
                        .unwrap_or(false);
                if ready {
                    self.provision_result(&pool, None);
                    env.touch();
                    if pool.release(&env) {
                        self.counters.idle_now();
                    } else {
                        env.kill();
                    }
                    return;
                }
                env.kill();
                "FUNCTION_ERROR_INIT_FAILURE: the function's init failed or timed out".to_string()
            }
            Err(StartFailure::Function(error_type, message)) => {
                pool.start_failed(true);
                format!("FUNCTION_ERROR_INIT_FAILURE: {error_type}: {message}")
            }
            Err(StartFailure::Platform(e)) => {
                pool.start_failed(true);
                format!("Could not start an execution environment: {e}")
            }
        };
        tracing::warn!(function = %pool.version.name, version = %pool.version.version, %failure, "provisioned environment failed");
        self.provision_result(&pool, Some(failure));
    }

    fn provision_result(&self, pool: &Pool, failure: Option<String>) {
        let key = (pool.version.name.clone(), pool.version.version.clone());
        let mut all = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(t) = all.get_mut(&key) else { return };
        match failure {
            None => {
                t.failures = 0;
                t.retry_at = None;
            }
            Some(why) => {
                t.failures += 1;
                t.last_failure = Some(why);
                let pause = Duration::from_secs(u64::from(t.failures.min(30)));
                t.retry_at = Some(Instant::now() + pause);
            }
        }
    }
}
