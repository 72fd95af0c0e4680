//! [`SandboxLauncher`]: each environment in its own sandbox (network, mount, pid, ipc, uts
//! and cgroup namespaces, a minimal read-only root, an unprivileged uid without capabilities,
//! seccomp, cgroup limits), built by the re-executed `lamina sandbox-init`. The Runtime API
//! listener is created inside the sandbox's network namespace, at `127.0.0.1:9001`, so an
//! environment can reach nothing but its own API.
//!
//! Moving a process into a cgroup costs milliseconds on cgroup v1 (an RCU grace period), so
//! a small warm pool of sandbox inits is kept ready: each has joined its fresh cgroups and
//! created its network namespace and listener, and waits for a spec. A cold start takes one,
//! writes the function's limits into its cgroups, and sends the spec; the pool refills in
//! the background.
//!
//! A second pool goes further for the managed runtimes: sandboxes whose runtime is already
//! running, without code and without a function (started from a template per runtime, see
//! [`Launcher::keep_ready`]). A cold start whose function agrees with the template on what
//! the runtime reads at start takes one: its limits are written, the package's mount is
//! cloned into the sandbox at `/var/task`, and the function's environment goes to the waiting
//! runtime, which then loads the handler. The interpreter's start and the bootstrap's imports
//! are paid ahead of time. Each such sandbox serves one function, once: nothing of one
//! function can reach another through it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lamina_sandbox::cgroup::{self, Cgroups, Limits};
use lamina_sandbox::scratch::Scratch;
use lamina_sandbox::{Control, RUNTIME_API_ADDR, SandboxSpec};

mod controls;

use crate::launcher::{
    LaunchError, LaunchSpec, Launched, Launcher, Layout, Prestarted, read_at_start,
};
use controls::Sandbox;

/// Starts environments in sandboxes. Needs root.
#[derive(Debug, Clone)]
pub struct SandboxLauncher {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    exe: PathBuf,
    root_mountpoint: PathBuf,
    cgroups: cgroup::Layout,
    /// This server's directory name under `<hierarchy>/lamina/`.
    instance: String,
    pool_size: usize,
    // Short critical sections only: push and pop.
    pool: Mutex<Vec<Pooled>>,
    /// Whether pooled sandboxes are built to the end (root, PID 1) ahead of time: needs root,
    /// for the mount clone that brings the code in.
    prebuild: bool,
    /// Where the bootstraps are on the host: part of a pre-built sandbox.
    runtime_dir: PathBuf,
    filling: AtomicBool,
    closed: AtomicBool,
    runtime: tokio::runtime::Handle,
    /// Where mounted package images live, when images are available here.
    images: Option<PathBuf>,
    /// Where sandboxes' disk-backed `/tmp` images live, when they can be made here;
    /// otherwise `/tmp` is a tmpfs, which counts against the memory limit.
    scratch: Option<PathBuf>,
    /// Package directory -> mount point of its image (`None`: no image, bind the directory).
    // Held while an image is built and mounted (tens of milliseconds, off the invocation path
    // when packages are prepared at deployment).
    mounted: Mutex<std::collections::HashMap<PathBuf, Option<PathBuf>>>,
    /// Runtimes started ahead of time, per template; short critical sections only.
    templates: Mutex<Vec<Template>>,
    per_template: std::sync::atomic::AtomicUsize,
    templates_filling: AtomicBool,
}

/// What a runtime started ahead of time was started as, and those waiting.
#[derive(Debug)]
struct Template {
    spec: LaunchSpec,
    sandbox: SandboxSpec,
    ready: Vec<Ready>,
}

/// A sandbox whose runtime runs without code, waiting for a function. Dropping it ends it.
#[derive(Debug)]
struct Ready {
    warm: WarmGuard,
    launched: lamina_sandbox::Launched,
    deferred: lamina_sandbox::Deferred,
}

impl Template {
    /// Whether a runtime started from this template behaves as one started for `spec`.
    fn serves(&self, spec: &LaunchSpec) -> bool {
        let at_start = |env: &[(String, String)]| {
            let mut v: Vec<&(String, String)> =
                env.iter().filter(|(k, _)| read_at_start(k)).collect();
            v.sort();
            v.into_iter().cloned().collect::<Vec<_>>()
        };
        // Layers are mounted when the sandbox is built: a function with layers gets its own.
        spec.opt_dir.is_none()
            && self.spec.program == spec.program
            && self.spec.args == spec.args
            && self.spec.extra_ro == spec.extra_ro
            && at_start(&self.spec.env) == at_start(&spec.env)
    }
}

/// A sandbox of the pool.
#[derive(Debug)]
enum Pooled {
    /// In its cgroups and network namespace, waiting for its spec.
    Waiting(WarmGuard),
    /// Built to the end (root, PID 1), waiting for its code and its program.
    Built(Ready),
}

/// A sandbox init started ahead of time, inside its cgroups, waiting for a spec.
#[derive(Debug)]
struct Warm {
    child: tokio::process::Child,
    // Taken by the handshake.
    control: Option<Control>,
    cgroups: Option<Cgroups>,
    output: OwnedFd,
    /// The sandbox's `/tmp`, if on disk.
    scratch: Option<Scratch>,
}

impl SandboxLauncher {
    /// A launcher that re-executes `exe` (the lamina binary), uses `work_dir` (the data
    /// directory, whose `runtimes/` holds the bootstraps) for an empty mount point and mounted
    /// package images, and keeps `pool_size` sandboxes ready. Must be called within a Tokio
    /// runtime.
    pub fn new(exe: &Path, work_dir: &Path, pool_size: usize) -> std::io::Result<SandboxLauncher> {
        let root_mountpoint = work_dir.join("sandbox-root");
        std::fs::create_dir_all(&root_mountpoint)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let cgroups = if root {
            cgroup::detect(Path::new("/sys/fs/cgroup"))
        } else {
            cgroup::Layout::Unavailable("not root: cgroups cannot be created".into())
        };
        Cgroups::sweep(&cgroups);
        let images = lamina_sandbox::image::available().then(|| work_dir.join("mnt"));
        if let Some(dir) = &images {
            // Mounts left by a server that did not stop cleanly.
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                lamina_sandbox::image::unmount(&entry.path());
            }
        }
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
            exe: exe.to_path_buf(),
            root_mountpoint,
            prebuild,
            runtime_dir: work_dir.join("runtimes"),
            cgroups,
            instance: cgroup::instance_name(),
            pool_size,
            pool: Mutex::new(Vec::new()),
            filling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
            images,
            scratch,
            mounted: Mutex::new(std::collections::HashMap::new()),
            templates: Mutex::new(Vec::new()),
            per_template: std::sync::atomic::AtomicUsize::new(0),
            templates_filling: AtomicBool::new(false),
        });
        shared.refill();
        Ok(SandboxLauncher { shared })
    }

    /// Sandboxes waiting in the pool.
    pub fn warm(&self) -> usize {
        self.shared
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Shared {
    /// A disk-backed `/tmp` of `mb` MiB, where they can be made; `None` (a tmpfs) otherwise
    /// or if making one failed.
    fn make_scratch(&self, mb: u32) -> Option<Scratch> {
        let dir = self.scratch.as_ref()?;
        Scratch::create(dir, mb)
            .inspect_err(
                |e| tracing::warn!(error = %e, "no disk-backed /tmp for a sandbox; using a tmpfs"),
            )
            .ok()
    }

    /// The memory limits of a function whose sandbox has `scratch` as its `/tmp`.
    fn limits(spec: &LaunchSpec, scratch: Option<&Scratch>) -> Limits {
        let tmp_in_memory = if scratch.is_some() {
            0
        } else {
            spec.ephemeral_storage_mb
        };
        Limits::for_function(
            spec.memory_mb,
            tmp_in_memory,
            lamina_model::limits::PROCESSES,
        )
    }

    /// Starts one sandbox init and sends it its cgroups; it then prepares its namespaces and
    /// waits for a spec. Its `/tmp` is made for `tmp_mb`.
    fn start_one(&self, tmp_mb: u32) -> Result<Warm, LaunchError> {
        let cgroups = match &self.cgroups {
            cgroup::Layout::V1 { .. } | cgroup::Layout::V2 { .. } => {
                // Placeholder limits until a function claims the sandbox.
                let limits = Limits::for_function(128, 512, lamina_model::limits::PROCESSES);
                let id = uuid::Uuid::new_v4().simple().to_string();
                Some(
                    Cgroups::create(&self.cgroups, &self.instance, &id, &limits)
                        .map_err(LaunchError::Setup)?,
                )
            }
            cgroup::Layout::Unavailable(_) => None,
        };
        let guard = CgroupGuard(cgroups);
        let (command, mut control) =
            lamina_sandbox::prepare(&self.exe).map_err(LaunchError::Setup)?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| LaunchError::Setup(e.into()))?;
        let write2 = write.try_clone().map_err(LaunchError::Setup)?;
        let _runtime = self.runtime.enter();
        let mut cmd = tokio::process::Command::from(command);
        cmd.stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(LaunchError::Setup)?;
        // Our copies of the child's ends (control socket, pipe) close here.
        drop(cmd);
        let dirs = guard
            .0
            .as_ref()
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default();
        control
            .start(&dirs)
            .map_err(|e| LaunchError::Setup(std::io::Error::other(e.to_string())))?;
        let mut guard = guard;
        Ok(Warm {
            child,
            control: Some(control),
            cgroups: guard.0.take(),
            output: read,
            scratch: self.make_scratch(tmp_mb),
        })
    }

    /// Where the sandbox finds the package at `task_dir`: its mounted image, built and mounted
    /// on first use, or the directory itself where images are not available.
    fn task_source(&self, task_dir: &Path) -> PathBuf {
        let Some(images) = &self.images else {
            return task_dir.to_path_buf();
        };
        let mut mounted = self.mounted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = mounted.get(task_dir) {
            return known.clone().unwrap_or_else(|| task_dir.to_path_buf());
        }
        let image = task_dir.with_extension("ext4");
        let name = task_dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let at = images.join(name);
        let result = (|| {
            if !image.exists() {
                lamina_sandbox::image::build(task_dir, &image)?;
            }
            lamina_sandbox::image::mount(&image, &at)
        })();
        let source = match result {
            Ok(()) => Some(at),
            Err(e) => {
                tracing::warn!(package = %task_dir.display(), error = %e, "no package image; binding the directory");
                None
            }
        };
        mounted.insert(task_dir.to_path_buf(), source.clone());
        source.unwrap_or_else(|| task_dir.to_path_buf())
    }

    /// A pooled sandbox still waiting for its spec.
    fn take_waiting(&self) -> Option<Warm> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let at = pool.iter().rposition(|p| matches!(p, Pooled::Waiting(_)))?;
        match pool.swap_remove(at) {
            Pooled::Waiting(mut w) => w.0.take(),
            Pooled::Built(_) => None,
        }
    }

    /// A pooled sandbox built to the end.
    fn take_built(&self) -> Option<Ready> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let at = pool.iter().rposition(|p| matches!(p, Pooled::Built(_)))?;
        match pool.swap_remove(at) {
            Pooled::Built(b) => Some(b),
            Pooled::Waiting(_) => None,
        }
    }

    /// Whether a pre-built sandbox can run `spec`: everything it mounts beyond the code must
    /// be what it was built with.
    fn built_serves(&self, spec: &LaunchSpec) -> bool {
        self.prebuild
            && spec.extra_ro.is_empty()
            && spec.opt_dir.is_none()
            && spec.host.runtime_dir == self.runtime_dir
    }

    /// The spec pooled sandboxes are built with: no code, no program yet.
    fn built_spec(&self) -> SandboxSpec {
        SandboxSpec {
            program: PathBuf::new(),
            args: Vec::new(),
            env: Vec::new(),
            task_dir: None,
            runtime_dir: self.runtime_dir.clone(),
            opt_dir: None,
            extra_ro: Vec::new(),
            root_mountpoint: self.root_mountpoint.clone(),
            tmp_mb: lamina_model::limits::EPHEMERAL_MIN_MB,
            // Set per sandbox, from its own /tmp image.
            tmp_device: None,
            nofile: lamina_model::limits::FILE_DESCRIPTORS,
            hostname: "localhost".into(),
            data_limit_bytes: None,
            exec_later: true,
        }
    }

    /// One sandbox for the pool: built to the end where the host allows it.
    fn start_pooled(&self) -> Result<Pooled, LaunchError> {
        if self.prebuild {
            Ok(Pooled::Built(self.prestart_runtime(&self.built_spec())?))
        } else {
            Ok(Pooled::Waiting(WarmGuard(Some(
                self.start_one(lamina_model::limits::EPHEMERAL_MIN_MB)?,
            ))))
        }
    }

    /// Tops the pool up in the background (one filler at a time).
    fn refill(self: &Arc<Self>) {
        if self.pool_size == 0
            || self.closed.load(Ordering::SeqCst)
            || self.filling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let me = self.clone();
        self.runtime.spawn_blocking(move || {
            while !me.closed.load(Ordering::SeqCst)
                && me.pool.lock().unwrap_or_else(|p| p.into_inner()).len() < me.pool_size
            {
                match me.start_pooled() {
                    Ok(pooled) => me
                        .pool
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(pooled),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not pre-start a sandbox");
                        break;
                    }
                }
            }
            me.filling.store(false, Ordering::SeqCst);
        });
    }
}

impl Shared {
    /// The whole environment of a runtime launched for `spec`.
    fn runtime_env(spec: &LaunchSpec) -> Vec<(String, String)> {
        spec.env
            .iter()
            .cloned()
            .chain([(
                "AWS_LAMBDA_RUNTIME_API".to_string(),
                RUNTIME_API_ADDR.to_string(),
            )])
            .collect()
    }

    /// The arguments of `spec`'s program, as the sandbox takes them.
    fn args(spec: &LaunchSpec) -> Vec<String> {
        spec.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Gives a sandbox started ahead of time its function (see [`Shared::specialise`]) and
    /// tops the pools up; `None` if it could not be used, and the launch starts afresh.
    fn use_ahead(
        self: &Arc<Self>,
        ready: Ready,
        spec: &LaunchSpec,
        exec: Option<lamina_sandbox::Exec>,
        started: Instant,
    ) -> Option<Launched> {
        let what = if exec.is_some() {
            "pre-built sandbox"
        } else {
            "pre-started runtime"
        };
        let result = self.specialise(ready, spec, exec);
        self.refill();
        self.refill_templates();
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

    /// The sandbox of `spec`, with its code at `task_dir` (`None`: started without code).
    fn sandbox_spec(&self, spec: &LaunchSpec, task_dir: Option<PathBuf>) -> SandboxSpec {
        SandboxSpec {
            program: spec.program.clone(),
            args: Shared::args(spec),
            env: Shared::runtime_env(spec),
            task_dir,
            runtime_dir: spec.host.runtime_dir.clone(),
            opt_dir: spec.opt_dir.as_deref().map(|o| self.task_source(o)),
            extra_ro: spec.extra_ro.clone(),
            root_mountpoint: self.root_mountpoint.clone(),
            tmp_mb: spec.ephemeral_storage_mb,
            // Set per sandbox, from its own /tmp image.
            tmp_device: None,
            nofile: lamina_model::limits::FILE_DESCRIPTORS,
            hostname: "localhost".into(),
            // Without cgroups the data segment limit bounds the function's memory.
            data_limit_bytes: matches!(self.cgroups, cgroup::Layout::Unavailable(_))
                .then_some(u64::from(spec.memory_mb) * 1024 * 1024),
            exec_later: false,
        }
    }

    /// Starts one sandbox whose runtime waits without code.
    fn prestart_runtime(&self, sandbox: &SandboxSpec) -> Result<Ready, LaunchError> {
        let mut warm = WarmGuard(Some(self.start_one(sandbox.tmp_mb)?));
        let w = warm.0.as_mut().expect("just set");
        let control = w
            .control
            .take()
            .expect("a fresh sandbox has its control socket");
        let mut sandbox = sandbox.clone();
        sandbox.tmp_device = w.scratch.as_ref().map(|s| s.device().to_path_buf());
        let (launched, deferred) = control
            .prestart(&sandbox)
            .map_err(|e| LaunchError::Setup(std::io::Error::other(e.to_string())))?;
        Ok(Ready {
            warm,
            launched,
            deferred,
        })
    }

    /// A waiting runtime that can serve `spec`, if one is ready.
    fn take_ready(&self, spec: &LaunchSpec) -> Option<Ready> {
        let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        templates
            .iter_mut()
            .find(|t| t.serves(spec))
            .and_then(|t| t.ready.pop())
    }

    /// Gives a waiting sandbox its function: to the runtime waiting in it, or, for a sandbox
    /// built without one, with the program `exec` to start.
    fn specialise(
        &self,
        ready: Ready,
        spec: &LaunchSpec,
        exec: Option<lamina_sandbox::Exec>,
    ) -> Result<Launched, LaunchError> {
        let prestarted = if exec.is_some() {
            Prestarted::Sandbox
        } else {
            Prestarted::Runtime
        };
        let setup = |e: std::io::Error| LaunchError::Setup(e);
        let Ready {
            mut warm,
            launched,
            deferred,
        } = ready;
        let w = warm.0.as_mut().expect("set until now");
        // A disk-backed /tmp made for another size is replaced (a tmpfs is resized inside).
        let new_tmp = match &w.scratch {
            Some(s) if s.mb() != spec.ephemeral_storage_mb => {
                w.scratch = Some(
                    self.make_scratch(spec.ephemeral_storage_mb)
                        .ok_or_else(|| setup(std::io::Error::other("no /tmp of that size")))?,
                );
                true
            }
            _ => false,
        };
        let limits = Shared::limits(spec, w.scratch.as_ref());
        if let Some(c) = &w.cgroups {
            c.set_limits(&limits).map_err(setup)?;
        }
        let code = lamina_sandbox::fs::clone_tree(&self.task_source(&spec.host.task_root))
            .map_err(setup)?;
        let work = lamina_sandbox::Specialisation {
            env: Shared::runtime_env(spec),
            tmp_mb: spec.ephemeral_storage_mb,
            new_tmp,
            exec,
        };
        let tmp_device = w.scratch.as_ref().filter(|_| new_tmp).map(Scratch::file);
        deferred
            .specialise(&work, code, tmp_device)
            .map_err(|e| setup(std::io::Error::other(e.to_string())))?;
        let Warm {
            child,
            cgroups,
            output,
            scratch,
            ..
        } = warm.0.take().expect("set until now");
        let outer = child.id().unwrap_or(0);
        Ok(Launched {
            runtime_api: launched.listener,
            child,
            output,
            egress: spec.egress.then_some(launched.egress),
            controls: Box::new(Sandbox::new(outer, launched.init_pid, cgroups, scratch)),
            prestarted,
        })
    }

    /// Tops up every template's waiting runtimes in the background (one filler at a time).
    fn refill_templates(self: &Arc<Self>) {
        if self.per_template.load(Ordering::SeqCst) == 0
            || self.closed.load(Ordering::SeqCst)
            || self.templates_filling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let me = self.clone();
        self.runtime.spawn_blocking(move || {
            while !me.closed.load(Ordering::SeqCst) {
                let per = me.per_template.load(Ordering::SeqCst);
                let next = me
                    .templates
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|t| t.ready.len() < per)
                    .map(|t| t.sandbox.clone());
                let Some(sandbox) = next else { break };
                match me.prestart_runtime(&sandbox) {
                    Ok(ready) => {
                        let mut templates =
                            me.templates.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(t) = templates.iter_mut().find(|t| t.sandbox == sandbox) {
                            t.ready.push(ready);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(program = %sandbox.program.display(), error = %e, "could not pre-start a runtime");
                        break;
                    }
                }
            }
            me.templates_filling.store(false, Ordering::SeqCst);
        });
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let started = Instant::now();
        let shared = &self.shared;
        // Started ahead of time, best first: a waiting runtime, then a sandbox built to the end
        // (only the code and the program are added).
        if let Some(ready) = shared.take_ready(spec)
            && let Some(launched) = shared.use_ahead(ready, spec, None, started)
        {
            return Ok(launched);
        }
        if shared.built_serves(spec)
            && let Some(built) = shared.take_built()
        {
            let exec = lamina_sandbox::Exec {
                program: spec.program.clone(),
                args: Shared::args(spec),
            };
            if let Some(launched) = shared.use_ahead(built, spec, Some(exec), started) {
                return Ok(launched);
            }
        }
        let mut sandbox = shared.sandbox_spec(spec, Some(shared.task_source(&spec.host.task_root)));
        // A pooled sandbox may have died while it waited: then start a fresh one.
        let mut attempts = 0;
        let (warm, ready, pooled) = loop {
            attempts += 1;
            let (warm, pooled) = match shared.take_waiting() {
                Some(w) => (w, true),
                None => (shared.start_one(spec.ephemeral_storage_mb)?, false),
            };
            let mut guard = WarmGuard(Some(warm));
            let w = guard.0.as_mut().expect("just set");
            if w.scratch
                .as_ref()
                .is_some_and(|s| s.mb() != spec.ephemeral_storage_mb)
            {
                w.scratch = shared.make_scratch(spec.ephemeral_storage_mb);
            }
            sandbox.tmp_device = w.scratch.as_ref().map(|s| s.device().to_path_buf());
            if let Some(c) = &w.cgroups {
                c.set_limits(&Shared::limits(spec, w.scratch.as_ref()))
                    .map_err(LaunchError::Setup)?;
            }
            let mut w = guard.0.take().expect("just set");
            let control = w
                .control
                .take()
                .expect("a warm sandbox has its control socket");
            match control.handshake(&sandbox) {
                Ok(ready) => break (w, ready, pooled),
                Err(e) if pooled && attempts < 3 => {
                    tracing::debug!(error = %e, "a pooled sandbox was gone; starting another");
                    drop(WarmGuard(Some(w)));
                }
                Err(e) => {
                    drop(WarmGuard(Some(w)));
                    return Err(LaunchError::Setup(std::io::Error::other(e.to_string())));
                }
            }
        };
        shared.refill();
        tracing::debug!(
            pooled,
            ready_us = started.elapsed().as_micros() as u64,
            init_phases = ?ready.phases,
            "sandbox set up"
        );
        let Warm {
            child,
            cgroups,
            output,
            scratch,
            ..
        } = warm;
        // Without egress the proxy listener is closed: connections to it are refused.
        let egress = spec.egress.then_some(ready.egress);
        let outer = child.id().unwrap_or(0);
        Ok(Launched {
            runtime_api: ready.listener,
            child,
            output,
            egress,
            controls: Box::new(Sandbox::new(outer, ready.init_pid, cgroups, scratch)),
            prestarted: if pooled {
                Prestarted::Sandbox
            } else {
                Prestarted::Nothing
            },
        })
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
        let limits = match &self.shared.cgroups {
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
        format!(
            "sandbox: network, mount, pid, ipc, uts and cgroup namespaces; read-only root; uid 993 without capabilities; no_new_privs; seccomp; {limits}; {} pre-started",
            self.shared.pool_size
        )
    }

    fn keep_ready(&self, template: LaunchSpec, count: usize) {
        if let cgroup::Layout::Unavailable(why) = &self.shared.cgroups {
            // Handing the code over needs root (a mount clone), which also gives cgroups.
            tracing::info!(%why, "no runtimes are pre-started without cgroups");
            return;
        }
        let sandbox = self.shared.sandbox_spec(&template, None);
        {
            let mut templates = self
                .shared
                .templates
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if templates.iter().any(|t| t.sandbox == sandbox) {
                return;
            }
            templates.push(Template {
                sandbox,
                spec: template,
                ready: Vec::new(),
            });
        }
        self.shared.per_template.store(count, Ordering::SeqCst);
        self.shared.refill_templates();
    }

    fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let templates = std::mem::take(
            &mut *self
                .shared
                .templates
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        drop(templates);
        let pooled: Vec<Pooled> =
            std::mem::take(&mut *self.shared.pool.lock().unwrap_or_else(|p| p.into_inner()));
        drop(pooled);
        Cgroups::remove_instance(&self.shared.cgroups, &self.shared.instance);
        let mounted = std::mem::take(
            &mut *self
                .shared
                .mounted
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for at in mounted.into_values().flatten() {
            lamina_sandbox::image::unmount(&at);
        }
    }

    fn prepare_package(&self, task_dir: &Path) {
        self.shared.task_source(task_dir);
    }

    fn release_package(&self, task_dir: &Path) {
        let at = self
            .shared
            .mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(task_dir);
        if let Some(Some(at)) = at {
            lamina_sandbox::image::unmount(&at);
        }
    }
}

/// Removes cgroups created for a sandbox that then failed to start.
struct CgroupGuard(Option<Cgroups>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.remove(Duration::from_secs(1));
        }
    }
}

/// Kills a sandbox that is not going to be used, and removes its cgroups.
#[derive(Debug)]
struct WarmGuard(Option<Warm>);

impl Drop for WarmGuard {
    fn drop(&mut self) {
        if let Some(mut warm) = self.0.take() {
            let _ = warm.child.start_kill();
            drop(CgroupGuard(warm.cgroups.take()));
        }
    }
}
