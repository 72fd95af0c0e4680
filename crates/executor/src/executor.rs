//! Pools of environments per function version and the path of one invocation through them.
//!
//! An invocation takes an idle environment of its function version if there is one (warm),
//! else starts a new one (cold) within the function's limit and scaling rate, else waits a
//! bounded time for one (see [`crate::pool`]); past that it is throttled.
//! It is handed to the environment's Runtime API session, fetched by the runtime, and
//! answered, timed out, or ended by the runtime's exit. The environment then goes back to
//! the idle list, or is retired if it died, was killed, or its pool was retired by an update.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lamina_model::limits::{INIT_TIMEOUT_S, LOG_TAIL_BYTES, RESPONSE_PAYLOAD_MAX_BYTES};
use lamina_model::runtime::RuntimeId;
use lamina_runtime_api::{Invocation, PickedUp, PickupHook, Reply};
use tokio::sync::{Notify, oneshot};

use crate::environment::{Environment, LogTarget};
use crate::launcher::{LaunchError, LaunchSpec, Launcher, Layout, Prestarted};
use crate::logs::{self, LogSink};
pub use crate::pool::PoolStats;
use crate::pool::{Acquire, Bucket, Pool, Scaling};
use crate::runtimes::{RuntimeCatalog, RuntimeCommand, RuntimeError};
use crate::version::FunctionVersion;

/// Set in the environment of a runtime started ahead of time: its function's environment
/// arrives on standard input (a JSON object) once it is claimed. The bootstraps wait for it.
pub const AWAIT_FUNCTION_VAR: &str = "LAMINA_AWAIT_FUNCTION";

/// Tunables of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Most environments one function version may have at once; invocations beyond are
    /// throttled.
    pub max_environments_per_function: usize,
    /// Idle environments older than this are stopped.
    pub idle_timeout: Duration,
    /// Longest time a runtime may take to ask for its first invocation.
    pub init_timeout: Duration,
    /// Largest response a runtime may post.
    pub max_response_bytes: usize,
    /// Whether functions may reach other networks at all (each may still opt out).
    pub egress: bool,
    /// Runtimes kept started ahead of time, without code, per managed runtime (where the
    /// launcher can hand code over to a running runtime).
    pub runtime_pool: usize,
    /// New environments per function per 10 seconds, refilled continuously (Lambda: 1,000).
    pub scale_rate_per_10s: u32,
    /// Most invocations of one function version waiting for an environment.
    pub scale_queue: usize,
    /// Longest an invocation waits for an environment before it is throttled.
    pub scale_wait: Duration,
    /// Idle environments are frozen once unused this long; `None` never freezes.
    pub freeze_after: Option<Duration>,
    /// Most memory (MB, as configured) all environments may have together; past it, the
    /// least recently used idle environments are stopped to make room. 0: no budget.
    pub memory_budget_mb: u64,
    /// When the host's available memory falls below this (MB), idle environments are
    /// stopped, least recently used first. 0: never.
    pub memory_reserve_mb: u64,
    /// The server's descriptors that functions' connections (Runtime API, egress) may hold,
    /// all environments together.
    pub function_connections: lamina_runtime_api::ConnectionBudget,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_environments_per_function: 64,
            idle_timeout: Duration::from_secs(600),
            init_timeout: Duration::from_secs(INIT_TIMEOUT_S),
            max_response_bytes: RESPONSE_PAYLOAD_MAX_BYTES,
            egress: true,
            runtime_pool: 0,
            scale_rate_per_10s: 1000,
            scale_queue: 64,
            scale_wait: Duration::from_secs(10),
            freeze_after: None,
            memory_budget_mb: 0,
            memory_reserve_mb: 0,
            function_connections: Default::default(),
        }
    }
}

/// Why an invocation could not be run at all. A function's own failure is not one of these:
/// it is an [`InvokeResult`] with `function_error` set.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No environment could be had: the function is at its environment limit or scaling
    /// rate, and the wait for one is full or over.
    #[error("Rate Exceeded.")]
    Throttled,
    /// The executor is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The host cannot run the function's runtime.
    #[error(transparent)]
    Runtime(RuntimeError),
    /// The platform could not set an environment up.
    #[error(transparent)]
    Launch(LaunchError),
}

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Request id.
    pub request_id: String,
    /// Event payload (JSON).
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// The ARN the caller used.
    pub invoked_arn: String,
    /// Whether to return the tail of the log.
    pub tail: bool,
}

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

/// The outcome of an invocation.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    /// Response payload, or the error document.
    pub payload: Bytes,
    /// `Unhandled` when the function or its runtime failed.
    pub function_error: Option<&'static str>,
    /// The last 4 KB of this invocation's log, when asked for.
    pub log_tail: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// Figures of the REPORT line.
    pub report: Report,
}

/// The execution-environment manager. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ExecutorConfig,
    launcher: Arc<dyn Launcher>,
    catalog: RuntimeCatalog,
    sink: Arc<dyn LogSink>,
    // Keyed by function name and version; short critical sections only.
    pools: Mutex<HashMap<(String, String), Arc<Pool>>>,
    /// Each function's scaling budget, shared by its versions.
    buckets: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
    /// Provisioned concurrency wanted, by function name and version.
    pub(crate) provisioned: Mutex<HashMap<(String, String), crate::provisioned::Target>>,
    /// Wakes the task that keeps provisioned environments at their targets.
    pub(crate) provision_wake: Notify,
    pub(crate) counters: crate::housekeeping::Counters,
    all: Mutex<HashMap<String, Arc<Environment>>>,
    live: AtomicUsize,
    gone: Notify,
    closing: AtomicBool,
    egress_policy: Arc<lamina_runtime_api::egress::EgressPolicy>,
    /// Managed runtimes the launcher was asked to keep started ahead of time.
    ready_runtimes: Mutex<std::collections::HashSet<RuntimeId>>,
}

impl Executor {
    /// An executor; must be created within a Tokio runtime (it starts the idle reaper).
    pub fn new(
        config: ExecutorConfig,
        launcher: Arc<dyn Launcher>,
        catalog: RuntimeCatalog,
        sink: Arc<dyn LogSink>,
    ) -> Executor {
        let inner = Arc::new(Inner {
            config,
            launcher,
            catalog,
            sink,
            pools: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            provisioned: Mutex::new(HashMap::new()),
            provision_wake: Notify::new(),
            counters: Default::default(),
            all: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            gone: Notify::new(),
            closing: AtomicBool::new(false),
            egress_policy: Arc::new(lamina_runtime_api::egress::EgressPolicy::for_this_host()),
            ready_runtimes: Mutex::new(std::collections::HashSet::new()),
        });
        crate::housekeeping::spawn(&inner);
        crate::provisioned::spawn(&inner);
        Executor { inner }
    }

    /// A function of `runtime` exists: from now on, keep runtimes of it started ahead of time
    /// (as configured), so that its cold starts skip the runtime's own start.
    pub fn expect_runtime(&self, runtime: RuntimeId) {
        self.inner.keep_runtime_ready(runtime);
    }

    /// The runtime catalog in use.
    pub fn catalog(&self) -> &RuntimeCatalog {
        &self.inner.catalog
    }

    /// What isolation the launcher gives.
    pub fn isolation(&self) -> String {
        self.inner.launcher.describe()
    }

    /// Environments of a function version, for visibility and tests.
    pub fn stats(&self, name: &str, version: &str) -> PoolStats {
        let pool = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(name.to_string(), version.to_string()))
            .cloned();
        pool.map(|p| p.stats()).unwrap_or_default()
    }

    /// Environments of every function version, by function name and version.
    pub fn all_stats(&self) -> Vec<(String, String, PoolStats)> {
        let pools: Vec<Arc<Pool>> = self.inner.pool_list();
        let mut out: Vec<_> = pools
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
    pub fn housekeeping(&self) -> crate::housekeeping::HousekeepingStats {
        self.inner.counters.snapshot()
    }

    /// Live environments across all functions.
    pub fn live_environments(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Retires every environment of a function: idle ones stop now, busy ones when their
    /// invocation ends. Called when its code or configuration changes or it is deleted.
    pub fn retire_function(&self, name: &str) {
        let retired: Vec<Arc<Pool>> = {
            let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<_> = pools.keys().filter(|(n, _)| n == name).cloned().collect();
            keys.into_iter().filter_map(|k| pools.remove(&k)).collect()
        };
        for pool in retired {
            retire_pool(&pool);
        }
    }

    /// Retires the environments of one version of a function (`$LATEST` or a number).
    pub fn retire_version(&self, name: &str, version: &str) {
        let retired = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(name.to_string(), version.to_string()));
        if let Some(pool) = retired {
            retire_pool(&pool);
        }
    }

    /// Runs one synchronous invocation.
    pub async fn invoke(
        &self,
        version: Arc<FunctionVersion>,
        req: InvokeRequest,
    ) -> Result<InvokeResult, ExecutorError> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Err(ExecutorError::ShuttingDown);
        }
        let pool = self.inner.pool_for(&version);
        let scaling = self.inner.scaling();
        let wait_until = tokio::time::Instant::now() + self.inner.config.scale_wait;
        loop {
            // Registered before looking, so that room made meanwhile is not missed.
            let room = pool.capacity.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let env = match pool.acquire(&scaling) {
                Acquire::Full => return Err(ExecutorError::Throttled),
                Acquire::Warm(env) => env,
                Acquire::Cold => return self.inner.cold(&pool, &req).await,
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
            match self.inner.run(&pool, env, false, &req).await {
                Some(result) => return Ok(result),
                // The environment died between its last invocation and this one: take
                // another, as if it had never been idle.
                None => continue,
            }
        }
    }

    /// Prepares a newly stored package for environments (a sandbox launcher builds and mounts
    /// its image), so that no cold start pays for it.
    pub async fn prepare_package(&self, task_dir: &std::path::Path) {
        let launcher = self.inner.launcher.clone();
        let dir = task_dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || launcher.prepare_package(&dir)).await;
    }

    /// Lets go of what was prepared for a package that is about to be removed (a sandbox
    /// launcher unmounts its image). Blocking.
    pub fn release_package(&self, task_dir: &std::path::Path) {
        self.inner.launcher.release_package(task_dir);
    }

    /// Stops every environment and waits (up to `grace`) until all are gone. New
    /// invocations are refused from now on.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let pools: Vec<Arc<Pool>> = {
            let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.drain().map(|(_, p)| p).collect()
        };
        for pool in &pools {
            retire_pool(pool);
        }
        let all: Vec<Arc<Environment>> = {
            let all = self.inner.all.lock().unwrap_or_else(|p| p.into_inner());
            all.values().cloned().collect()
        };
        for env in all {
            env.kill();
        }
        let deadline = Instant::now() + grace;
        while self.inner.live.load(Ordering::SeqCst) > 0 {
            let notified = self.inner.gone.notified();
            if self.inner.live.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                break;
            }
        }
        // Last, what the launcher keeps ready, and its own host resources.
        let launcher = self.inner.launcher.clone();
        let _ = tokio::task::spawn_blocking(move || launcher.shutdown()).await;
    }
}

fn retire_pool(pool: &Pool) {
    for env in pool.retire() {
        env.kill();
    }
}

pub(crate) enum StartFailure {
    /// The function cannot start (bad bootstrap): reported as the invocation's error.
    Function(&'static str, String),
    /// The platform failed.
    Platform(ExecutorError),
}

impl Inner {
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn pool_for(&self, version: &Arc<FunctionVersion>) -> Arc<Pool> {
        let key = (version.name.clone(), version.version.clone());
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        // The same snapshot (the same Arc, on the fast path): anything that changes what an
        // environment runs with (code, configuration, the egress tag) makes a new one.
        if let Some(pool) = pools.get(&key)
            && (Arc::ptr_eq(&pool.version, version) || *pool.version == **version)
        {
            return pool.clone();
        }
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(version.name.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Bucket::full(self.config.scale_rate_per_10s))))
            .clone();
        let pool = Arc::new(Pool::new(version.clone(), bucket));
        if let Some(old) = pools.insert(key, pool.clone()) {
            retire_pool(&old);
        }
        drop(pools);
        // A provisioned target of this version now applies to the new pool.
        self.provision_wake.notify_one();
        pool
    }

    /// Every pool, for a pass over all of them.
    pub(crate) fn pool_list(&self) -> Vec<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().cloned().collect()
    }

    /// The pool of a version, if there is one.
    pub(crate) fn existing_pool(&self, name: &str, version: &str) -> Option<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.get(&(name.to_string(), version.to_string())).cloned()
    }

    fn scaling(&self) -> Scaling {
        Scaling {
            max_environments: self.config.max_environments_per_function,
            rate_per_10s: self.config.scale_rate_per_10s.max(1),
            queue: self.config.scale_queue,
        }
    }

    /// A cold start for `req`, counted in the pool already: start an environment and run the
    /// invocation on it.
    async fn cold(
        self: &Arc<Self>,
        pool: &Arc<Pool>,
        req: &InvokeRequest,
    ) -> Result<InvokeResult, ExecutorError> {
        let version = &pool.version;
        self.make_room(pool);
        let env = match self.start(pool, false).await {
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
        env.set_state(crate::environment::EnvState::Busy);
        match self.run(pool, env, true, req).await {
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

    /// What the launcher needs to start an environment of `version`.
    fn launch_spec(
        &self,
        version: &FunctionVersion,
        command: &RuntimeCommand,
        stream: &str,
        provisioned: bool,
    ) -> LaunchSpec {
        let host = Layout {
            task_root: version.code_dir.clone(),
            runtime_dir: self.catalog.runtime_dir().to_path_buf(),
            opt: version
                .opt_dir
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("/opt")),
            egress_proxy: None,
        };
        let seen = self.launcher.layout(&host);
        // An interpreter outside /usr (a version manager's install) is mounted where it is.
        let extra_ro = command
            .bin_dir
            .as_ref()
            .and_then(|bin| bin.parent())
            .filter(|prefix| !prefix.starts_with("/usr") && *prefix != std::path::Path::new("/"))
            .map(|prefix| vec![prefix.to_path_buf()])
            .unwrap_or_default();
        LaunchSpec {
            program: seen.map(&host, &command.program),
            args: command
                .args
                .iter()
                .map(|a| seen.map(&host, std::path::Path::new(a)).into_os_string())
                .collect(),
            env: environment_variables(
                version,
                stream,
                command,
                &seen,
                self.config.egress,
                provisioned,
            ),
            host,
            opt_dir: version.opt_dir.clone(),
            extra_ro,
            memory_mb: version.memory_mb,
            ephemeral_storage_mb: version.ephemeral_storage_mb,
            egress: version.egress && self.config.egress,
        }
    }

    /// Asks the launcher to keep runtimes of `runtime` started ahead of time, from a
    /// template: the environment of a function with no variables of its own, plus the
    /// bootstraps' signal to wait for their function on standard input. Once per runtime.
    fn keep_runtime_ready(&self, runtime: RuntimeId) {
        if self.config.runtime_pool == 0
            || matches!(runtime, RuntimeId::Provided(_))
            || !self
                .ready_runtimes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(runtime)
        {
            return;
        }
        // No code: a path that maps to nothing, so no argument is rewritten under it.
        let code_dir = std::path::PathBuf::from("/nonexistent/lamina-template");
        let Ok(command) = self.catalog.command(runtime, &code_dir, None) else {
            return;
        };
        let blank = FunctionVersion {
            name: String::new(),
            version: "$LATEST".into(),
            revision_id: String::new(),
            arn: String::new(),
            runtime,
            handler: String::new(),
            memory_mb: lamina_model::limits::MEMORY_DEFAULT_MB,
            ephemeral_storage_mb: lamina_model::limits::EPHEMERAL_MIN_MB,
            timeout: Duration::from_secs(3),
            environment: Default::default(),
            code_dir,
            opt_dir: None,
            log_group: String::new(),
            region: String::new(),
            egress: true,
        };
        let mut spec = self.launch_spec(&blank, &command, "", false);
        spec.env.push((AWAIT_FUNCTION_VAR.into(), "stdin".into()));
        self.launcher.keep_ready(spec, self.config.runtime_pool);
    }

    /// Starts an environment of the pool's version (counted in the pool already).
    pub(crate) async fn start(
        self: &Arc<Self>,
        pool: &Arc<Pool>,
        provisioned: bool,
    ) -> Result<Arc<Environment>, StartFailure> {
        let version = &pool.version;
        let command = self
            .catalog
            .command(
                version.runtime,
                &version.code_dir,
                version.opt_dir.as_deref(),
            )
            .map_err(|e| match e {
                RuntimeError::NoBootstrap { .. } => {
                    StartFailure::Function("Runtime.InvalidEntrypoint", e.to_string())
                }
                RuntimeError::Unavailable { .. } => {
                    StartFailure::Platform(ExecutorError::Runtime(e))
                }
            })?;
        let env_id = uuid::Uuid::new_v4().simple().to_string();
        let stream = format!(
            "{}/[{}]{}",
            chrono::Utc::now().format("%Y/%m/%d"),
            version.version,
            env_id
        );
        let spec = self.launch_spec(version, &command, &stream, provisioned);
        let launcher = self.launcher.clone();
        // Init Duration counts from here: sandbox set-up is part of the init phase.
        let init_started = Instant::now();
        let launched = tokio::task::spawn_blocking(move || launcher.launch(&spec))
            .await
            .map_err(|e| {
                StartFailure::Platform(ExecutorError::Launch(LaunchError::Setup(
                    std::io::Error::other(e.to_string()),
                )))
            })?
            .map_err(|e| match e {
                LaunchError::InvalidEntrypoint { .. } => {
                    StartFailure::Function("Runtime.InvalidEntrypoint", e.to_string())
                }
                other => StartFailure::Platform(ExecutorError::Launch(other)),
            })?;
        let weak_pool = Arc::downgrade(pool);
        let weak_inner = Arc::downgrade(self);
        let env = Environment::adopt(
            launched,
            init_started,
            env_id.clone(),
            provisioned,
            LogTarget {
                group: version.log_group.clone(),
                stream,
                sink: self.sink.clone(),
            },
            self.config.max_response_bytes,
            self.egress_policy.clone(),
            self.config.function_connections.for_environment(),
            move |env| {
                if let Some(pool) = weak_pool.upgrade() {
                    pool.forget(env);
                }
                if let Some(inner) = weak_inner.upgrade() {
                    inner
                        .all
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&env.id);
                    inner.live.fetch_sub(1, Ordering::SeqCst);
                    inner.gone.notify_waiters();
                    // A provisioned one is kept at the requested number: replaced.
                    inner.provision_wake.notify_one();
                }
            },
        )
        .map_err(|e| StartFailure::Platform(ExecutorError::Launch(LaunchError::Setup(e))))?;
        pool.adopted(&env);
        self.live.fetch_add(1, Ordering::SeqCst);
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env_id, env.clone());
        tracing::debug!(function = %version.name, env = %env.id, "environment started");
        Ok(env)
    }

    /// Runs `req` on `env`. `None` means the environment was already closed and never saw the
    /// invocation, so the caller may try another.
    async fn run(
        &self,
        pool: &Arc<Pool>,
        env: Arc<Environment>,
        cold: bool,
        req: &InvokeRequest,
    ) -> Option<InvokeResult> {
        let version = &pool.version;
        if !cold {
            env.log.reset_tail();
        }
        let start_log = env.log.clone();
        let sample_env = Arc::downgrade(&env);
        let start_line = logs::start_line(&req.request_id, &version.version);
        let (picked_tx, picked_rx) = oneshot::channel();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: req.request_id.clone(),
            payload: req.payload.clone(),
            timeout: version.timeout,
            invoked_function_arn: req.invoked_arn.clone(),
            trace_id: trace_id(),
            client_context: req.client_context.clone(),
            picked_up: picked_tx,
            reply: reply_tx,
            on_pickup: Some(PickupHook(Box::new(move || {
                start_log.platform_lines(&[start_line]);
                if cold && let Some(env) = sample_env.upgrade() {
                    // One sample per environment once init is done, so that a runtime
                    // that dies in its first invocation still reports its memory.
                    env.peak_memory_mb();
                }
            }))),
        };
        let assigned_at = Instant::now();
        if env.session.assign(invocation).is_err() {
            pool.forget(&env);
            return None;
        }

        // A new environment has the init phase to reach /next; a warm one is already there
        // or on its way back, so its invocation is bounded by the function's own timeout.
        let pickup_limit = if cold {
            self.config.init_timeout
        } else {
            version.timeout
        };
        let picked: Option<PickedUp> = match tokio::time::timeout(pickup_limit, picked_rx).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(_)) => None,
            Err(_) => {
                env.kill();
                let outcome = if cold {
                    Outcome::InitTimeout
                } else {
                    Outcome::Timeout
                };
                return Some(
                    self.finish(pool, &env, req, None, assigned_at, outcome)
                        .await,
                );
            }
        };
        if let Some(p) = picked {
            let outcome = match tokio::time::timeout_at(p.deadline.into(), &mut reply_rx).await {
                Ok(Ok(reply)) => Outcome::Reply(reply),
                Ok(Err(_)) => Outcome::Reply(Reply::Closed),
                Err(_) => {
                    env.kill();
                    Outcome::Timeout
                }
            };
            return Some(
                self.finish(pool, &env, req, Some(p), assigned_at, outcome)
                    .await,
            );
        }
        // Not fetched: the runtime failed its init or exited first.
        let reply = reply_rx.await.unwrap_or(Reply::Closed);
        if matches!(reply, Reply::Closed) && !cold {
            // A warm environment that ended before its runtime fetched this invocation (reaped
            // or retired just before, or killed while frozen, which takes effect at the thaw):
            // the function never saw it, so another environment takes it.
            pool.forget(&env);
            return None;
        }
        env.log
            .platform_lines(&[logs::start_line(&req.request_id, &version.version)]);
        Some(
            self.finish(pool, &env, req, None, assigned_at, Outcome::Reply(reply))
                .await,
        )
    }

    async fn finish(
        &self,
        pool: &Arc<Pool>,
        env: &Arc<Environment>,
        req: &InvokeRequest,
        picked: Option<PickedUp>,
        assigned_at: Instant,
        outcome: Outcome,
    ) -> InvokeResult {
        let version = &pool.version;
        let started = picked.map(|p| p.at).unwrap_or(assigned_at);
        let ended = Instant::now();
        let id = &req.request_id;
        let mut extra_lines = Vec::new();
        let (payload, function_error) = match outcome {
            Outcome::Reply(Reply::Response(body)) => (body, None),
            Outcome::Reply(Reply::Error { body, .. }) => (body, Some("Unhandled")),
            Outcome::Reply(Reply::InitError { body, .. }) => {
                env.kill();
                (body, Some("Unhandled"))
            }
            Outcome::Reply(Reply::ResponseTooLarge) => {
                let doc = error_doc(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        self.config.max_response_bytes
                    ),
                );
                (doc, Some("Unhandled"))
            }
            Outcome::Reply(Reply::Closed) => {
                let how = tokio::time::timeout(Duration::from_secs(2), env.exited())
                    .await
                    .unwrap_or_else(|_| "unknown".into());
                let message = format!("RequestId: {id} Error: Runtime exited with error: {how}");
                let error_type = if env.out_of_memory() {
                    "Runtime.OutOfMemory"
                } else {
                    "Runtime.ExitError"
                };
                extra_lines.push(message.clone());
                extra_lines.push(error_type.into());
                (error_doc(error_type, &message), Some("Unhandled"))
            }
            Outcome::Timeout => {
                let secs = version.timeout.as_secs_f64();
                extra_lines.push(format!(
                    "{} {id} Task timed out after {secs:.2} seconds",
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
                ));
                let message =
                    format!("RequestId: {id} Error: Task timed out after {secs:.2} seconds");
                (error_doc("Sandbox.Timedout", &message), Some("Unhandled"))
            }
            Outcome::InitTimeout => {
                let secs = self.config.init_timeout.as_secs_f64();
                let message =
                    format!("RequestId: {id} Error: Init phase timed out after {secs:.2} seconds");
                extra_lines.push(message.clone());
                (error_doc("Sandbox.Timedout", &message), Some("Unhandled"))
            }
        };
        let duration = ended.duration_since(started);
        // Lambda bills the Duration its REPORT line shows (hundredths of a millisecond),
        // rounded up to the next millisecond, so both come from one rounded figure.
        let hundredths = (duration.as_secs_f64() * 100_000.0).round() as u64;
        let duration_ms = hundredths as f64 / 100.0;
        let init_ms = match picked {
            Some(p) if p.first_fetch && !env.initialised_ahead => Some(
                p.init_done
                    .saturating_duration_since(env.started)
                    .as_secs_f64()
                    * 1000.0,
            ),
            Some(_) => None,
            None if env.initialised_ahead => None,
            // Never fetched: init failed or timed out; report how long it ran.
            None => Some(ended.duration_since(env.started).as_secs_f64() * 1000.0),
        };
        let setup_ms = init_ms.map(|_| {
            env.launched
                .saturating_duration_since(env.started)
                .as_secs_f64()
                * 1000.0
        });
        let report = Report {
            duration_ms,
            billed_ms: hundredths.div_ceil(100).max(1),
            memory_mb: version.memory_mb,
            max_memory_mb: env.peak_memory_mb(),
            init_ms,
            setup_ms,
            prestarted: init_ms.map(|_| env.prestarted),
        };
        extra_lines.push(logs::end_line(id));
        extra_lines.push(logs::report_line(
            id,
            report.duration_ms,
            report.billed_ms,
            report.memory_mb,
            report.max_memory_mb,
            report.init_ms,
        ));
        env.log.platform_lines(&extra_lines);
        let log_tail = req.tail.then(|| env.log.tail(LOG_TAIL_BYTES));
        if pool.release(env) {
            self.counters.idle_now();
        } else {
            env.kill();
        }
        InvokeResult {
            payload,
            function_error,
            log_tail,
            executed_version: version.version.clone(),
            report,
        }
    }
}

enum Outcome {
    Reply(Reply),
    Timeout,
    InitTimeout,
}

fn error_doc(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

fn start_failure(
    version: &FunctionVersion,
    req: &InvokeRequest,
    error_type: &str,
    message: &str,
) -> InvokeResult {
    let message = format!("RequestId: {} Error: {message}", req.request_id);
    let tail = format!(
        "{}\n{message}\n{error_type}\n{}\n{}\n",
        logs::start_line(&req.request_id, &version.version),
        logs::end_line(&req.request_id),
        logs::report_line(&req.request_id, 0.0, 1, version.memory_mb, 0, None)
    );
    InvokeResult {
        payload: error_doc(error_type, &message),
        function_error: Some("Unhandled"),
        log_tail: req.tail.then_some(tail),
        executed_version: version.version.clone(),
        report: Report {
            duration_ms: 0.0,
            billed_ms: 1,
            memory_mb: version.memory_mb,
            max_memory_mb: 0,
            init_ms: None,
            setup_ms: None,
            prestarted: None,
        },
    }
}

/// An X-Ray style trace header for the invocation.
fn trace_id() -> String {
    let now = chrono::Utc::now().timestamp() as u32;
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{now:08x}-{};Parent={};Sampled=0;Lineage=1:{}:0",
        &a[..24],
        &b[..16],
        &b[16..24]
    )
}

/// The environment Lambda gives a runtime, built from scratch: nothing of the platform's own
/// environment is passed on.
fn environment_variables(
    version: &FunctionVersion,
    stream: &str,
    command: &RuntimeCommand,
    seen: &Layout,
    egress_allowed: bool,
    provisioned: bool,
) -> Vec<(String, String)> {
    let task_root = seen.task_root.display().to_string();
    let runtime_dir = seen.runtime_dir.display().to_string();
    let opt = seen.opt.display().to_string();
    let mut path = String::new();
    if let Some(bin) = &command.bin_dir {
        path.push_str(&bin.display().to_string());
        path.push(':');
    }
    path.push_str(&format!("/usr/local/bin:/usr/bin/:/bin:{opt}/bin"));
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), version.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            version.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".into(),
            version.version.clone(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            version.log_group.clone(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream.to_string()),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
            if provisioned {
                "provisioned-concurrency"
            } else {
                "on-demand"
            }
            .into(),
        ),
        ("AWS_REGION".into(), version.region.clone()),
        ("AWS_DEFAULT_REGION".into(), version.region.clone()),
        ("LAMBDA_TASK_ROOT".into(), task_root.clone()),
        ("LAMBDA_RUNTIME_DIR".into(), runtime_dir.clone()),
        ("_HANDLER".into(), version.handler.clone()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("PATH".into(), path),
        (
            "LD_LIBRARY_PATH".into(),
            format!(
                "/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task_root}:{task_root}/lib:{opt}/lib"
            ),
        ),
        ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
    ];
    if let Some(exec_env) = version.runtime.execution_env() {
        env.push(("AWS_EXECUTION_ENV".into(), exec_env));
    }
    match version.runtime {
        RuntimeId::Python { minor } => {
            // As Lambda: layers' packages under /opt/python come before the runtime's.
            env.push((
                "PYTHONPATH".into(),
                format!(
                    "{runtime_dir}/python:{opt}/python/lib/python3.{minor}/site-packages:{opt}/python"
                ),
            ));
        }
        RuntimeId::Node { major } => {
            env.push((
                "NODE_PATH".into(),
                                format!("{opt}/nodejs/node{major}/node_modules:{opt}/nodejs/node_modules:{runtime_dir}/node:{task_root}"),
            ));
        }
        RuntimeId::Provided(_) => {}
    }
    // The only way out of a sandbox is its proxy: say where it is, as clients expect.
    if let Some(proxy) = seen
        .egress_proxy
        .as_ref()
        .filter(|_| version.egress && egress_allowed)
    {
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push((key.into(), proxy.clone()));
        }
        for key in ["NO_PROXY", "no_proxy"] {
            env.push((key.into(), "localhost,127.0.0.1".into()));
        }
    }
    // The user's variables come last: they may override the unreserved defaults (PATH, TZ,
    // ...); reserved names were refused when the configuration was saved.
    for (k, v) in &version.environment {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}
