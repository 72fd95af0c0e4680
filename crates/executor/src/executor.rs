//! The executor's handle: the entry point of an invocation (take an idle environment of its
//! function version (warm), else start one (cold) within the function's limit and scaling
//! rate, else wait a bounded time for one, else throttle; see `pool`), and what the
//! platform asks of environments as a whole: retiring a function's, provisioned targets,
//! figures, and shutdown.
//!
//! The parts it composes own the rest: `registry` the pools and environments,
//! `cold_start` starting one, `invocation` one invocation on one,
//! `provisioned` and `housekeeping` what happens between invocations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lamina_model::runtime::RuntimeId;

use crate::cold_start::ColdStart;
use crate::config::ExecutorConfig;
use crate::environment::{EnvState, Environment};
use crate::error::{ExecutorError, StartFailure};
use crate::housekeeping::{Counters, Housekeeper, HousekeepingStats};
use crate::invocation::{InvokeRequest, InvokeResult, Runner, start_failure};
use crate::launcher::Launcher;
use crate::logs::LogSink;
use crate::pool::{Acquire, Pool, PoolStats, Scaling};
use crate::provisioned::{ProvisionedStatus, Provisioning};
use crate::registry::PoolRegistry;
use crate::runtimes::RuntimeCatalog;
use crate::version::FunctionVersion;

/// The execution-environment manager. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<ExecutorConfig>,
    registry: Arc<PoolRegistry>,
    starter: Arc<ColdStart>,
    runner: Runner,
    provisioning: Arc<Provisioning>,
    housekeeper: Arc<Housekeeper>,
    counters: Arc<Counters>,
    placement: crate::placement::Placement,
}

impl Executor {
    /// An executor; must be created within a Tokio runtime (it starts its housekeeping and
    /// provisioning tasks, which end when the last clone is dropped).
    pub fn new(
        config: ExecutorConfig,
        launcher: Arc<dyn Launcher>,
        catalog: RuntimeCatalog,
        sink: Arc<dyn LogSink>,
    ) -> Executor {
        let config = Arc::new(config);
        let registry = Arc::new(PoolRegistry::new(Scaling {
            max_environments: config.max_environments_per_function,
            rate_per_10s: config.scale_rate_per_10s.max(1),
            queue: config.scale_queue,
        }));
        let counters = Arc::new(Counters::default());
        let starter = Arc::new(ColdStart::new(
            config.clone(),
            launcher,
            catalog,
            sink,
            registry.clone(),
        ));
        let provisioning = Provisioning::new(
            config.clone(),
            registry.clone(),
            starter.clone(),
            counters.clone(),
        );
        let housekeeper = Housekeeper::new(config.clone(), registry.clone(), counters.clone());
        housekeeper.spawn();
        provisioning.spawn();
        Executor {
            inner: Arc::new(Inner {
                runner: Runner::new(config.clone(), counters.clone()),
                placement: crate::placement::Placement::new(config.cores.clone()),
                config,
                registry,
                starter,
                provisioning,
                housekeeper,
                counters,
            }),
        }
    }

    /// A function of `runtime` with `memory_mb` of memory exists: from now on, keep runtimes
    /// of it started ahead of time (as configured), so that its cold starts skip the
    /// runtime's own start.
    pub fn expect_runtime(&self, runtime: RuntimeId, memory_mb: u32) {
        // What the runtime needs made first (a JVM's archive) is made off the async threads,
        // which serve every request meanwhile.
        let work = self.inner.starter.catalog().preparation(runtime);
        match (work, tokio::runtime::Handle::try_current()) {
            (Some(work), Ok(handle)) => {
                let inner = self.inner.clone();
                handle.spawn_blocking(move || {
                    work();
                    inner.starter.keep_runtime_ready(runtime, memory_mb);
                });
            }
            _ => self.inner.starter.keep_runtime_ready(runtime, memory_mb),
        }
    }

    /// The runtime catalog in use.
    pub fn catalog(&self) -> &RuntimeCatalog {
        self.inner.starter.catalog()
    }

    /// What isolation the launcher gives.
    pub fn isolation(&self) -> String {
        self.inner.starter.launcher().describe()
    }

    /// Environments of a function version, for visibility and tests.
    pub fn stats(&self, name: &str, version: &str) -> PoolStats {
        self.inner
            .registry
            .existing_pool(name, version)
            .map(|p| p.stats())
            .unwrap_or_default()
    }

    /// Environments of every function version, by function name and version.
    pub fn all_stats(&self) -> Vec<(String, String, PoolStats)> {
        let mut out: Vec<_> = self
            .inner
            .registry
            .pool_list()
            .iter()
            .map(|p| (p.version.name.clone(), p.version.version.clone(), p.stats()))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// The configuration in use.
    pub fn config(&self) -> &ExecutorConfig {
        &self.inner.config
    }

    /// What housekeeping (freezing, reaping, making room in memory) has done.
    pub fn housekeeping(&self) -> HousekeepingStats {
        self.inner.counters.snapshot()
    }

    /// Live environments across all functions.
    pub fn live_environments(&self) -> usize {
        self.inner.registry.live()
    }

    /// Retires every environment of a function: idle ones stop now, busy ones when their
    /// invocation ends. Called when its code or configuration changes or it is deleted.
    pub fn retire_function(&self, name: &str) {
        self.inner.registry.retire_function(name);
    }

    /// Retires the environments of one version of a function (`$LATEST` or a number).
    pub fn retire_version(&self, name: &str, version: &str) {
        self.inner.registry.retire_version(name, version);
    }

    /// Sets the provisioned concurrency of every version of function `name` (replacing what
    /// was set before; versions left out get none).
    pub fn set_provisioned(&self, name: &str, targets: Vec<(Arc<FunctionVersion>, usize)>) {
        self.inner.provisioning.set(name, targets);
    }

    /// Where the provisioned concurrency of a version stands (all zero when none is set).
    pub fn provisioned_status(&self, name: &str, version: &str) -> ProvisionedStatus {
        self.inner.provisioning.status(name, version)
    }

    /// Runs one synchronous invocation.
    pub async fn invoke(
        &self,
        version: Arc<FunctionVersion>,
        req: InvokeRequest,
    ) -> Result<InvokeResult, ExecutorError> {
        if self.inner.registry.is_closing() {
            return Err(ExecutorError::ShuttingDown);
        }
        let pool = self.inner.registry.pool_for(&version);
        let scaling = self.inner.registry.scaling();
        let wait_until = tokio::time::Instant::now() + self.inner.config.scale_wait;
        loop {
            // Registered before looking, so that room made meanwhile is not missed.
            let room = pool.capacity.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let env = match pool.acquire(scaling) {
                Acquire::Full => return Err(ExecutorError::Throttled),
                Acquire::Warm(env) => env,
                Acquire::Cold => return self.cold(&pool, &req).await,
                Acquire::Wait(mut handed, next_token) => {
                    let token = next_token
                        .map(tokio::time::Instant::from_std)
                        .unwrap_or(wait_until)
                        .min(wait_until);
                    let got = tokio::select! {
                        got = &mut handed => got.ok(),
                        _ = room => None,
                        _ = tokio::time::sleep_until(token) => None,
                    };
                    // Whatever woke us, an environment may have been handed over meanwhile.
                    handed.close();
                    match got.map_or_else(|| handed.try_recv(), Ok) {
                        Ok(env) => env,
                        Err(_) if tokio::time::Instant::now() >= wait_until => {
                            return Err(ExecutorError::Throttled);
                        }
                        Err(_) => continue,
                    }
                }
            };
            match env.take() {
                Ok(Some(thaw)) => self.inner.counters.thawed(thaw),
                Ok(None) => {}
                // Killed while frozen: it is going; take another.
                Err(_) => {
                    pool.forget(&env);
                    continue;
                }
            }
            let in_flight = self.inner.placement.begin();
            self.place(&env, pool.version.memory_mb, &in_flight);
            match self.inner.runner.run(&pool, env, false, &req).await {
                Some(result) => return Ok(result),
                // The environment died between its last invocation and this one: take
                // another, as if it had never been idle.
                None => continue,
            }
        }
    }

    /// Puts `env`'s processes, of a function of `memory_mb`, where the invocations in flight
    /// want them (`placement`; nothing when placement is off).
    fn place(&self, env: &Environment, memory_mb: u32, in_flight: &crate::placement::InFlight<'_>) {
        let vcpus = lamina_sandbox::cgroup::Limits::vcpus(memory_mb);
        self.inner
            .placement
            .place(&env.placed, vcpus, in_flight.count(), || env.processes());
    }

    /// A cold start for `req`, counted in the pool already: start an environment and run the
    /// invocation on it.
    async fn cold(
        &self,
        pool: &Arc<Pool>,
        req: &InvokeRequest,
    ) -> Result<InvokeResult, ExecutorError> {
        let version = &pool.version;
        self.inner.housekeeper.make_room(pool);
        let env = match self.inner.starter.start(pool, false).await {
            Ok(env) => env,
            Err(StartFailure::Function(error_type, message)) => {
                pool.start_failed(false);
                return Ok(start_failure(version, req, error_type, &message));
            }
            Err(StartFailure::Platform(e)) => {
                pool.start_failed(false);
                return Err(e);
            }
        };
        env.set_state(EnvState::Busy);
        let in_flight = self.inner.placement.begin();
        self.place(&env, version.memory_mb, &in_flight);
        match self.inner.runner.run(pool, env, true, req).await {
            Some(result) => Ok(result),
            None => Ok(start_failure(
                version,
                req,
                "Runtime.ExitError",
                &format!(
                    "RequestId: {} Error: Runtime exited before init",
                    req.request_id
                ),
            )),
        }
    }

    /// Prepares a newly stored package for environments (a sandbox launcher builds and mounts
    /// its image), so that no cold start pays for it.
    pub async fn prepare_package(&self, task_dir: &std::path::Path) {
        let launcher = self.inner.starter.launcher().clone();
        let dir = task_dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || launcher.prepare_package(&dir)).await;
    }

    /// Lets go of what was prepared for a package that is about to be removed (a sandbox
    /// launcher unmounts its image). Blocking.
    pub fn release_package(&self, task_dir: &std::path::Path) {
        self.inner.starter.launcher().release_package(task_dir);
    }

    /// Stops every environment and waits (up to `grace`) until all are gone. New
    /// invocations are refused from now on.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.registry.close();
        self.inner.registry.all_gone(Instant::now() + grace).await;
        // Last, what the launcher keeps ready, and its own host resources.
        let launcher = self.inner.starter.launcher().clone();
        let _ = tokio::task::spawn_blocking(move || launcher.shutdown()).await;
    }
}
