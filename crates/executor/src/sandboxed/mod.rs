//! [`SandboxLauncher`]: each environment in its own sandbox (network, mount, pid, ipc, uts
//! and cgroup namespaces, a minimal read-only root, an unprivileged uid without capabilities,
//! seccomp, cgroup limits), built by the re-executed `lamina sandbox-init`. The Runtime API
//! listener is created inside the sandbox's network namespace, at `127.0.0.1:9001`, so an
//! environment can reach nothing but its own API.
//!
//! Layout:
//! - `inits`: what every sandbox is started with; a sandbox init waiting ahead of time, and
//!   how it becomes an environment.
//! - `pool`: sandboxes kept ready for any function.
//! - `templates`: sandboxes whose managed runtime is already running, per template.
//! - `zygotes`: a template's zygote, which forks its runtimes into sandboxes built ahead.
//! - `images`: packages as mounted read-only images.
//! - `controls`: what the executor holds of a running sandbox.
//!
//! A launch takes, best first: a waiting runtime that serves its function, a runtime forked
//! at once from a zygote that serves it, a sandbox built to the end (only the code and the
//! program are added), a sandbox init from the pool, or a new one.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lamina_sandbox::SandboxSpec;
use lamina_sandbox::cgroup::{self, Cgroups};

mod controls;
mod images;
mod inits;
mod pool;
mod templates;
mod zygotes;

use crate::launcher::{LaunchError, LaunchSpec, Launched, Launcher, Layout, Prestarted};
use images::Images;
use inits::{Inits, Ready};
use pool::SandboxPool;
use templates::Templates;

/// Starts environments in sandboxes. Needs root.
#[derive(Debug, Clone)]
pub struct SandboxLauncher {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    inits: Arc<Inits>,
    pool: Arc<SandboxPool>,
    templates: Arc<Templates>,
    images: Images,
}

impl SandboxLauncher {
    /// A launcher that re-executes `exe` (the lamina binary), uses `work_dir` (the data
    /// directory, whose `runtimes/` holds the bootstraps) for an empty mount point and mounted
    /// package images, and keeps `pool_size` sandboxes ready; with `zygotes`, runtimes that
    /// can fork are forked from a zygote. Must be called within a Tokio runtime.
    pub fn new(
        exe: &Path,
        work_dir: &Path,
        pool_size: usize,
        zygotes: bool,
    ) -> std::io::Result<SandboxLauncher> {
        let root_mountpoint = work_dir.join("sandbox-root");
        std::fs::create_dir_all(&root_mountpoint)?;
        let cgroups = if nix::unistd::geteuid().is_root() {
            cgroup::detect(Path::new("/sys/fs/cgroup"))
        } else {
            cgroup::Layout::Unavailable("not root: cgroups cannot be created".into())
        };
        Cgroups::sweep(&cgroups);
        let images = Images::new(work_dir.join("mnt"));
        // The code of a pre-built sandbox comes in as a mount clone, which needs root; so do
        // cgroups.
        let prebuild = !matches!(cgroups, cgroup::Layout::Unavailable(_));
        let scratch =
            (prebuild && lamina_sandbox::scratch::available()).then(|| work_dir.join("scratch"));
        if let Some(dir) = &scratch {
            // This server holds the data directory: every image there is a dead one's.
            lamina_sandbox::scratch::sweep(dir);
        }
        let shared = Arc::new(Shared {
            inits: Arc::new(Inits::new(
                exe.to_path_buf(),
                root_mountpoint,
                cgroups,
                prebuild,
                work_dir.join("runtimes"),
                scratch,
            )),
            pool: Arc::new(SandboxPool::new(pool_size)),
            // A zygote's runtimes join sandboxes built ahead, as pre-started ones need root.
            templates: Arc::new(Templates::new(zygotes && prebuild)),
            images,
        });
        shared.pool.refill(&shared.inits);
        Ok(SandboxLauncher { shared })
    }
}

impl Shared {
    /// Tops up both kinds of sandboxes kept ahead of time.
    fn refill(&self) {
        self.pool.refill(&self.inits);
        self.templates.refill(&self.inits);
    }

    /// The sandbox of `spec`, with its code at `task_dir` (`None`: started without code).
    fn sandbox_spec(&self, spec: &LaunchSpec, task_dir: Option<std::path::PathBuf>) -> SandboxSpec {
        let inits = &self.inits;
        SandboxSpec {
            program: spec.program.clone(),
            args: Inits::args(spec),
            env: Inits::runtime_env(spec),
            task_dir,
            runtime_dir: spec.host.runtime_dir.clone(),
            opt_dir: spec.opt_dir.as_deref().map(|o| self.images.source(o)),
            extra_ro: spec.extra_ro.clone(),
            root_mountpoint: inits.root_mountpoint.clone(),
            tmp_mb: spec.ephemeral_storage_mb,
            // Set per sandbox, from its own /tmp image.
            tmp_device: None,
            nofile: lamina_model::limits::FILE_DESCRIPTORS,
            hostname: "localhost".into(),
            // Without cgroups the data segment limit bounds the function's memory.
            data_limit_bytes: matches!(inits.cgroups, cgroup::Layout::Unavailable(_))
                .then_some(u64::from(spec.memory_mb) * 1024 * 1024),
            exec_later: false,
        }
    }

    /// Gives a sandbox started ahead of time its function and tops the pools up; `None` if it
    /// could not be used, and the launch starts afresh.
    fn use_ahead(
        &self,
        mut ready: Ready,
        spec: &LaunchSpec,
        exec: Option<lamina_sandbox::Exec>,
        started: Instant,
    ) -> Option<Launched> {
        let what = match (&exec, &ready.handoff) {
            (Some(_), _) => "pre-built sandbox",
            (None, Some(h)) if h.now => "runtime forked now",
            (None, _) => "pre-started runtime",
        };
        ready.marks.mark("taken");
        let code = self.images.source(&spec.host.task_root);
        let layers = spec.opt_dir.as_deref().map(|o| self.images.source(o));
        // A runtime already waiting gets the function's extensions started beside it.
        let beside = match (&exec, &spec.extensions) {
            (None, Some(e)) => Some(lamina_sandbox::Exec {
                program: "/bin/sh".into(),
                args: e
                    .alone
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            }),
            _ => None,
        };
        let result = self
            .inits
            .specialise(ready, spec, (exec, beside), (&code, layers.as_deref()));
        self.refill();
        match result {
            Ok(launched) => {
                tracing::debug!(
                    ready_us = started.elapsed().as_micros() as u64,
                    what,
                    "given its function"
                );
                Some(launched)
            }
            Err(e) => {
                tracing::debug!(error = %e, what, "could not be used; starting afresh");
                None
            }
        }
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let started = Instant::now();
        let shared = &self.shared;
        let inits = &shared.inits;
        // Started ahead of time, best first: a waiting runtime, then a sandbox built to the end
        // (only the code and the program are added).
        if let Some(ready) = shared.templates.take_ready(spec)
            && let Some(launched) = shared.use_ahead(ready, spec, None, started)
        {
            return Ok(launched);
        }
        let forked = shared
            .templates
            .fork_now(spec, inits, || shared.pool.take_built());
        match forked {
            Some(Ok(ready)) => {
                if let Some(launched) = shared.use_ahead(ready, spec, None, started) {
                    return Ok(launched);
                }
            }
            // A zygote that cannot fork costs this start an interpreter's start: say why.
            Some(Err(e)) => tracing::warn!(error = %e, "no runtime forked; starting afresh"),
            None => {}
        }
        if inits.built_serves(spec)
            && let Some(built) = shared.pool.take_built()
        {
            let exec = lamina_sandbox::Exec {
                program: spec.program.clone(),
                args: Inits::args(spec),
            };
            if let Some(launched) = shared.use_ahead(built, spec, Some(exec), started) {
                return Ok(launched);
            }
        }
        let code = shared.images.source(&spec.host.task_root);
        let mut sandbox = shared.sandbox_spec(spec, Some(code));
        // A pooled sandbox may have died while it waited: then start a fresh one.
        let mut attempts = 0;
        let (init, ready, pooled) = loop {
            attempts += 1;
            let (init, pooled) = match shared.pool.take_waiting() {
                Some(w) => (w, true),
                None => (
                    inits.start_one(spec.ephemeral_storage_mb, Some(spec))?,
                    false,
                ),
            };
            match inits.handshake(init, spec, &mut sandbox) {
                Ok((init, ready)) => break (init, ready, pooled),
                Err((e, retry)) if retry && pooled && attempts < 3 => {
                    tracing::debug!(error = %e, "a pooled sandbox was gone; starting another");
                }
                Err((e, _)) => return Err(e),
            }
        };
        shared.pool.refill(inits);
        tracing::debug!(
            pooled,
            ready_us = started.elapsed().as_micros() as u64,
            init_phases = ?ready.phases,
            steps = ?init.steps(),
            "sandbox set up"
        );
        // Without egress the proxy listener is closed: connections to it are refused.
        let egress = spec.egress.then_some(ready.egress);
        let prestarted = if pooled {
            Prestarted::Sandbox
        } else {
            Prestarted::Nothing
        };
        Ok(init.into_launched(ready.listener, egress, ready.init_pid, prestarted))
    }

    fn layout(&self, _host: &Layout) -> Layout {
        Layout {
            task_root: "/var/task".into(),
            runtime_dir: "/var/runtime".into(),
            opt: "/opt".into(),
            egress_proxy: Some(format!("http://{}", lamina_sandbox::EGRESS_PROXY_ADDR)),
        }
    }

    fn describe(&self) -> String {
        let limits = match &self.shared.inits.cgroups {
            cgroup::Layout::V1 { .. } => {
                "memory, pids and CPU limits through cgroup v1".to_string()
            }
            cgroup::Layout::V2 { .. } => {
                "memory, pids and CPU limits through cgroup v2".to_string()
            }
            cgroup::Layout::Unavailable(why) => format!(
                "NO cgroup limits ({why}): memory bounded by RLIMIT_DATA, no process or CPU limit"
            ),
        };
        let zygotes = if self.shared.templates.forks() {
            "; Python runtimes forked from a zygote"
        } else {
            ""
        };
        format!(
            "sandbox: network, mount, pid, ipc, uts and cgroup namespaces; read-only root; \
             uid 993 without capabilities; no_new_privs; seccomp; {limits}; {} pre-started{zygotes}",
            self.shared.pool.size()
        )
    }

    fn keep_ready(&self, template: LaunchSpec, count: usize) {
        if let cgroup::Layout::Unavailable(why) = &self.shared.inits.cgroups {
            // Handing the code over needs root (a mount clone), which also gives cgroups.
            tracing::info!(%why, "no runtimes are pre-started without cgroups");
            return;
        }
        let sandbox = self.shared.sandbox_spec(&template, None);
        if self.shared.templates.add(template, sandbox, count) {
            self.shared.templates.refill(&self.shared.inits);
        }
    }

    fn shutdown(&self) {
        let shared = &self.shared;
        shared.inits.close();
        shared.templates.clear();
        shared.pool.clear();
        Cgroups::remove_instance(&shared.inits.cgroups, &shared.inits.instance);
        shared.images.release_all();
    }

    fn prepare_package(&self, task_dir: &Path) {
        self.shared.images.source(task_dir);
    }

    fn release_package(&self, task_dir: &Path) {
        self.shared.images.release(task_dir);
    }
}
