//! Starting environments: from a function version to a launch spec (its command, its
//! layout, Lambda's environment variables), through the launcher, to an adopted
//! [`Environment`] registered with the [`PoolRegistry`]; and asking the launcher to keep
//! runtimes started ahead of time.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lamina_model::runtime::RuntimeId;
use lamina_runtime_api::egress::EgressPolicy;
use lamina_runtime_api::{Extensions, FunctionInfo};

use crate::config::ExecutorConfig;
use crate::environment::{Environment, LogTarget};
use crate::error::{ExecutorError, StartFailure};
use crate::lambda_env::{AWAIT_FUNCTION_VAR, environment_variables};
use crate::launcher::{ExtensionsLaunch, LaunchError, LaunchSpec, Launcher, Layout};
use crate::logs::LogSink;
use crate::pool::Pool;
use crate::registry::PoolRegistry;
use crate::runtimes::{
    JAVA_AWAIT_LIBRARY, RuntimeCatalog, RuntimeCommand, RuntimeError, count_extensions,
};
use crate::version::FunctionVersion;

/// Starts environments.
#[derive(Debug)]
pub(crate) struct ColdStart {
    config: Arc<ExecutorConfig>,
    launcher: Arc<dyn Launcher>,
    catalog: RuntimeCatalog,
    sink: Arc<dyn LogSink>,
    registry: Arc<PoolRegistry>,
    egress_policy: Arc<EgressPolicy>,
    /// Managed runtimes (and memory sizes) the launcher was asked to keep started ahead of
    /// time.
    ready_runtimes: Mutex<HashSet<(RuntimeId, u32)>>,
}

impl ColdStart {
    pub(crate) fn new(
        config: Arc<ExecutorConfig>,
        launcher: Arc<dyn Launcher>,
        catalog: RuntimeCatalog,
        sink: Arc<dyn LogSink>,
        registry: Arc<PoolRegistry>,
    ) -> ColdStart {
        ColdStart {
            config,
            launcher,
            catalog,
            sink,
            registry,
            egress_policy: Arc::new(EgressPolicy::for_this_host()),
            ready_runtimes: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn launcher(&self) -> &Arc<dyn Launcher> {
        &self.launcher
    }

    pub(crate) fn catalog(&self) -> &RuntimeCatalog {
        &self.catalog
    }

    /// What the launcher needs to start an environment of `version` with `command`, through
    /// the extension launcher when `extensions_dir` (a host path) holds extensions.
    fn launch_spec(
        &self,
        version: &FunctionVersion,
        command: &RuntimeCommand,
        (stream, provisioned): (&str, bool),
        extensions_dir: Option<&Path>,
    ) -> LaunchSpec {
        let host = Layout {
            task_root: version.code_dir.clone(),
            runtime_dir: command
                .runtime_dir
                .clone()
                .unwrap_or_else(|| self.catalog.runtime_dir().to_path_buf()),
            opt: version
                .opt_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/opt")),
            egress_proxy: None,
        };
        let seen = self.launcher.layout(&host);
        // An interpreter outside /usr (a version manager's install) is mounted where it is.
        let extra_ro = command
            .bin_dir
            .as_ref()
            .and_then(|bin| bin.parent())
            .filter(|prefix| !prefix.starts_with("/usr") && *prefix != Path::new("/"))
            .map(|prefix| vec![prefix.to_path_buf()])
            .unwrap_or_default();
        let seen_command = |c: &RuntimeCommand| {
            let args: Vec<OsString> = c
                .args
                .iter()
                .map(|a| seen.map(&host, Path::new(a)).into_os_string())
                .collect();
            (seen.map(&host, &c.program), args)
        };
        let (runtime, runtime_args) = seen_command(command);
        let (program, args, extensions) = match extensions_dir {
            None => (runtime, runtime_args, None),
            Some(dir) => {
                let launcher = RuntimeCommand::extension_launcher(&host.runtime_dir, dir);
                let (program, alone) = seen_command(&launcher);
                let mut args = alone.clone();
                args.push(runtime.clone().into_os_string());
                args.extend(runtime_args.iter().cloned());
                let extensions = ExtensionsLaunch {
                    runtime,
                    runtime_args,
                    alone,
                };
                (program, args, Some(extensions))
            }
        };
        LaunchSpec {
            program,
            args,
            env: environment_variables(
                version,
                stream,
                command,
                &seen,
                self.config.egress,
                provisioned,
            ),
            runtime_base: command
                .runtime_dir
                .as_ref()
                .map(|_| self.catalog.runtime_dir().to_path_buf()),
            host,
            opt_dir: version.opt_dir.clone(),
            extra_ro,
            memory_mb: version.memory_mb,
            ephemeral_storage_mb: version.ephemeral_storage_mb,
            egress: version.egress && self.config.egress,
            extensions,
        }
    }

    /// Asks the launcher to keep runtimes of `runtime` started ahead of time, from a
    /// template: the environment of a function with no variables of its own, plus the
    /// bootstraps' signal to wait for their function on standard input. Once per runtime,
    /// and for Java once per memory size (`memory_mb`): a JVM's heap is fixed at its start.
    pub(crate) fn keep_runtime_ready(&self, runtime: RuntimeId, memory_mb: u32) {
        // Even with no runtime kept waiting the template matters: a launcher may fork
        // runtimes of it from a zygote. Java waits for its function only where Lamina was
        // built with the library it needs for that.
        let memory_mb = match runtime {
            RuntimeId::Provided(_) => return,
            RuntimeId::Java { .. } if JAVA_AWAIT_LIBRARY.is_empty() => return,
            RuntimeId::Java { .. } => memory_mb,
            _ => lamina_model::limits::MEMORY_DEFAULT_MB,
        };
        if !self
            .ready_runtimes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((runtime, memory_mb))
        {
            return;
        }
        let template = FunctionVersion {
            memory_mb,
            ..FunctionVersion::runtime_template(runtime)
        };
        let Ok(command) = self
            .catalog
            .command(runtime, &template.code_dir, None, memory_mb)
        else {
            return;
        };
        let mut spec = self.launch_spec(&template, &command, ("", false), None);
        spec.env.push((AWAIT_FUNCTION_VAR.into(), "stdin".into()));
        self.launcher.keep_ready(spec, self.config.runtime_pool);
    }

    /// Starts an environment of the pool's version (counted in the pool already).
    pub(crate) async fn start(
        &self,
        pool: &Arc<Pool>,
        provisioned: bool,
    ) -> Result<Arc<Environment>, StartFailure> {
        let version = &pool.version;
        if let Some(work) = self.catalog.preparation(version.runtime) {
            let _ = tokio::task::spawn_blocking(work).await;
        }
        let command = self
            .catalog
            .command(
                version.runtime,
                &version.code_dir,
                version.opt_dir.as_deref(),
                version.memory_mb,
            )
            .map_err(|e| match e {
                RuntimeError::NoBootstrap { .. } => {
                    StartFailure::Function("Runtime.InvalidEntrypoint", e.to_string())
                }
                RuntimeError::Unavailable { .. } => {
                    StartFailure::Platform(ExecutorError::Runtime(e))
                }
            })?;
        let extensions = count_extensions(version.opt_dir.as_deref());
        let extensions_dir = version
            .opt_dir
            .as_ref()
            .filter(|_| extensions > 0)
            .map(|opt| opt.join("extensions"));
        let env_id = uuid::Uuid::new_v4().simple().to_string();
        let stream = format!(
            "{}/[{}]{}",
            chrono::Utc::now().format("%Y/%m/%d"),
            version.version,
            env_id
        );
        let spec = self.launch_spec(
            version,
            &command,
            (&stream, provisioned),
            extensions_dir.as_deref(),
        );
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
        let weak_registry = Arc::downgrade(&self.registry);
        let env = Environment::adopt(
            launched,
            init_started,
            env_id,
            provisioned,
            LogTarget {
                group: version.log_group.clone(),
                stream,
                sink: self.sink.clone(),
                logging: version.logging,
            },
            self.config.max_response_bytes,
            Extensions::new(
                extensions,
                FunctionInfo {
                    function_name: version.name.clone(),
                    function_version: version.version.clone(),
                    handler: version.handler.clone(),
                    account_id: version.arn.split(':').nth(4).unwrap_or_default().into(),
                },
            ),
            self.egress_policy.clone(),
            self.config.function_connections.for_environment(),
            move |env| {
                if let Some(pool) = weak_pool.upgrade() {
                    pool.forget(env);
                }
                if let Some(registry) = weak_registry.upgrade() {
                    registry.ended(env);
                }
            },
        )
        .map_err(|e| StartFailure::Platform(ExecutorError::Launch(LaunchError::Setup(e))))?;
        pool.adopted(&env);
        self.registry.adopted(&env);
        tracing::debug!(function = %version.name, env = %env.id, "environment started");
        Ok(env)
    }
}
