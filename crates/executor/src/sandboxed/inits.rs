//! Sandbox inits started ahead of time, and how they become an environment: one starts
//! (joins fresh cgroups, makes its network namespace and listeners) and waits as an
//! [`IdleInit`]; it may go further and build its root, with or without a runtime waiting in
//! it ([`Ready`]); a launch then gives it its limits, its code and its function
//! ([`Inits::specialise`]).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lamina_sandbox::cgroup::{self, Cgroups, Limits};
use lamina_sandbox::scratch::Scratch;
use lamina_sandbox::{Control, RUNTIME_API_ADDR, SandboxSpec, Spawner};

use super::controls::Sandbox;
use crate::launcher::{LaunchError, LaunchSpec, Launched, Prestarted};
use crate::process::Process;

/// What every sandbox of this server is started with.
#[derive(Debug)]
pub(super) struct Inits {
    pub(super) exe: PathBuf,
    pub(super) root_mountpoint: PathBuf,
    pub(super) cgroups: cgroup::Layout,
    /// This server's directory name under `<hierarchy>/lamina/`.
    pub(super) instance: String,
    /// Whether sandboxes are built to the end (root, PID 1) ahead of time: needs root, for
    /// the mount clone that brings the code in.
    pub(super) prebuild: bool,
    /// Where the bootstraps are on the host: part of a pre-built sandbox.
    pub(super) runtime_dir: PathBuf,
    pub(super) runtime: tokio::runtime::Handle,
    /// Where sandboxes' disk-backed `/tmp` images live, when they can be made here;
    /// otherwise `/tmp` is a tmpfs, which counts against the memory limit.
    pub(super) scratch: Option<PathBuf>,
    /// Forks inits instead of each being an exec of the binary.
    spawner: Mutex<SpawnerSlot>,
    closed: AtomicBool,
}

/// The spawner in use: replaced when worn or failed; after a failure to start one, inits
/// are exec'd for a while rather than each launch trying again.
#[derive(Debug, Default)]
struct SpawnerSlot {
    current: Option<Arc<Spawner>>,
    failed: Option<std::time::Instant>,
}

/// How long inits are exec'd after a spawner could not be started.
const SPAWNER_RETRY: Duration = Duration::from_secs(30);

/// A sandbox init started ahead of time, inside its cgroups, waiting for a spec.
#[derive(Debug)]
pub(super) struct IdleInit {
    child: Process,
    // Taken by the handshake.
    control: Option<Control>,
    cgroups: Option<Cgroups>,
    /// The limits its cgroups have now.
    limits: Limits,
    output: OwnedFd,
    /// The sandbox's `/tmp`, if on disk.
    scratch: Option<Scratch>,
    marks: Marks,
}

/// A sandbox built to the end, waiting: with a runtime running without code, or (built
/// with `exec_later`) without a program yet. Dropping it ends it.
#[derive(Debug)]
pub(super) struct Ready {
    init: IdleInitGuard,
    launched: lamina_sandbox::Launched,
    deferred: lamina_sandbox::Deferred,
    /// A runtime a zygote forked into this sandbox (built without a program), waiting.
    pub(super) handoff: Option<Handoff>,
    /// When each step of its making ended, for the launch's debug log.
    pub(super) marks: Marks,
}

/// When the steps of making a sandbox ended, from the start of its making: its cgroups,
/// the init's spawn, its `/tmp`, its root (`built`), a runtime forked in, its function's
/// limits, code and environment; and `taken`, when a launch took it (a sandbox made ahead
/// waited in a pool until then). The launch's debug log shows them, so that where a cold
/// start spends its time under a burst can be read without a profiler.
#[derive(Debug)]
pub(super) struct Marks {
    started: std::time::Instant,
    steps: Vec<(&'static str, u32)>,
}

impl Marks {
    pub(super) fn new() -> Marks {
        Marks {
            started: std::time::Instant::now(),
            steps: Vec::new(),
        }
    }

    /// Notes that step `name` ended now.
    pub(super) fn mark(&mut self, name: &'static str) {
        let us = u32::try_from(self.started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.steps.push((name, us));
    }

    /// The steps as `name=µs` pairs.
    pub(super) fn steps(&self) -> &[(&'static str, u32)] {
        &self.steps
    }
}

/// A runtime forked into a sandbox by a zygote, waiting for its function's environment.
#[derive(Debug)]
pub(super) struct Handoff {
    /// The runtime's standard input: the function's environment is written there, as one
    /// JSON object, once the sandbox has its code.
    pub(super) env_pipe: OwnedFd,
    /// The runtime's pid inside the sandbox, which its PID 1 adopts.
    pub(super) pid: i32,
    /// Where the zygote, which adopts the runtime, will tell how it ended: handed to PID 1.
    pub(super) ended: OwnedFd,
    /// Forked for the launch that takes it, rather than ahead of time.
    pub(super) now: bool,
}

impl Ready {
    /// Host pid of the sandbox's PID 1.
    pub(super) fn init_pid(&self) -> u32 {
        self.launched.init_pid
    }

    /// The sandbox's cgroup directories.
    pub(super) fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.init
            .0
            .as_ref()
            .and_then(|i| i.cgroups.as_ref())
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default()
    }
}

impl Inits {
    pub(super) fn new(
        exe: PathBuf,
        root_mountpoint: PathBuf,
        cgroups: cgroup::Layout,
        prebuild: bool,
        runtime_dir: PathBuf,
        scratch: Option<PathBuf>,
    ) -> Inits {
        Inits {
            exe,
            root_mountpoint,
            cgroups,
            instance: cgroup::instance_name(),
            prebuild,
            runtime_dir,
            runtime: tokio::runtime::Handle::current(),
            scratch,
            spawner: Mutex::new(SpawnerSlot::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// The spawner to fork an init with: the running one, or a new one when there is none or
    /// it is worn. `None` when one cannot be started (the init is then exec'd).
    fn spawner(&self) -> Option<Arc<Spawner>> {
        let mut slot = self.spawner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(spawner) = slot.current.as_ref().filter(|s| !s.is_worn()) {
            return Some(spawner.clone());
        }
        slot.current = None;
        if slot.failed.is_some_and(|at| at.elapsed() < SPAWNER_RETRY) {
            return None;
        }
        match Spawner::start(&self.exe) {
            Ok(spawner) => {
                let spawner = Arc::new(spawner);
                slot.current = Some(spawner.clone());
                slot.failed = None;
                Some(spawner)
            }
            Err(e) => {
                slot.failed = Some(std::time::Instant::now());
                tracing::warn!(error = %e, "no sandbox spawner; inits are started afresh for now");
                None
            }
        }
    }

    /// Starts an init with `output` as its standard output and error: forked by the spawner
    /// (a new one when the running one failed, so that it is replaced at once rather than at
    /// some later launch), or exec'd when no spawner can.
    fn start_init(&self, output: OwnedFd) -> Result<(Process, Control), LaunchError> {
        for _ in 0..2 {
            let Some(spawner) = self.spawner() else {
                break;
            };
            let (control, theirs) = Control::pair().map_err(LaunchError::Setup)?;
            match spawner.spawn(theirs, &output) {
                Ok(pid) => return Ok((Process::forked(pid).map_err(LaunchError::Setup)?, control)),
                Err(e) => {
                    tracing::warn!(error = %e, "the sandbox spawner failed; another one is started");
                    let mut slot = self.spawner.lock().unwrap_or_else(|p| p.into_inner());
                    if slot
                        .current
                        .as_ref()
                        .is_some_and(|s| Arc::ptr_eq(s, &spawner))
                    {
                        slot.current = None;
                    }
                }
            }
        }
        let (command, control) = lamina_sandbox::prepare(&self.exe).map_err(LaunchError::Setup)?;
        let output2 = output.try_clone().map_err(LaunchError::Setup)?;
        let mut cmd = tokio::process::Command::from(command);
        cmd.stdout(Stdio::from(output))
            .stderr(Stdio::from(output2))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(LaunchError::Setup)?;
        // Our copies of the child's ends (control socket, pipe) close here.
        drop(cmd);
        Ok((child.into(), control))
    }

    /// Whether the launcher shut down: nothing more is started ahead of time.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

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

    /// The memory limits of a function whose sandbox's `/tmp` is on disk (`tmp_on_disk`) or a
    /// tmpfs.
    fn limits(spec: &LaunchSpec, tmp_on_disk: bool) -> Limits {
        let tmp_in_memory = if tmp_on_disk {
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
    /// waits for a spec. Its `/tmp` is made for `tmp_mb`. Started for a launch (`for_launch`),
    /// its cgroups get that function's limits at once, so that they are written once; started
    /// ahead of time, placeholder limits until a function claims it.
    pub(super) fn start_one(
        &self,
        tmp_mb: u32,
        for_launch: Option<&LaunchSpec>,
    ) -> Result<IdleInit, LaunchError> {
        let mut marks = Marks::new();
        let limits = match for_launch {
            Some(spec) => Inits::limits(spec, self.scratch.is_some()),
            None => Limits::for_function(128, 512, lamina_model::limits::PROCESSES),
        };
        let cgroups = match &self.cgroups {
            cgroup::Layout::V1 { .. } | cgroup::Layout::V2 { .. } => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                Some(
                    Cgroups::create(&self.cgroups, &self.instance, &id, &limits)
                        .map_err(LaunchError::Setup)?,
                )
            }
            cgroup::Layout::Unavailable(_) => None,
        };
        let guard = CgroupGuard(cgroups);
        marks.mark("cgroups");
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| LaunchError::Setup(e.into()))?;
        let _runtime = self.runtime.enter();
        let (child, mut control) = self.start_init(write)?;
        marks.mark("spawned");
        let dirs = guard
            .0
            .as_ref()
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default();
        control
            .start(&dirs)
            .map_err(|e| LaunchError::Setup(std::io::Error::other(e.to_string())))?;
        let mut guard = guard;
        let scratch = self.make_scratch(tmp_mb);
        marks.mark("scratch");
        Ok(IdleInit {
            child,
            control: Some(control),
            cgroups: guard.0.take(),
            limits,
            output: read,
            scratch,
            marks,
        })
    }

    /// The whole environment of a runtime launched for `spec`.
    pub(super) fn runtime_env(spec: &LaunchSpec) -> Vec<(String, String)> {
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
    pub(super) fn args(spec: &LaunchSpec) -> Vec<String> {
        spec.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Whether a pre-built sandbox can run `spec`: everything it mounts beyond the code and
    /// the layers must be what it was built with.
    pub(super) fn built_serves(&self, spec: &LaunchSpec) -> bool {
        self.prebuild
            && spec.extra_ro.is_empty()
            && (spec.host.runtime_dir == self.runtime_dir
                || spec.runtime_base.as_ref() == Some(&self.runtime_dir))
    }

    /// The spec pooled sandboxes are built with: no code, no program yet.
    pub(super) fn built_spec(&self) -> SandboxSpec {
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

    /// Starts one sandbox built to the end from `sandbox` (its runtime, if it names one,
    /// waiting without code), for a launch (`for_launch`) or ahead of time.
    pub(super) fn prestart(
        &self,
        sandbox: &SandboxSpec,
        for_launch: Option<&LaunchSpec>,
    ) -> Result<Ready, LaunchError> {
        let mut init = IdleInitGuard(Some(self.start_one(sandbox.tmp_mb, for_launch)?));
        let w = init.0.as_mut().expect("just set");
        let control = w
            .control
            .take()
            .expect("a fresh sandbox has its control socket");
        let mut sandbox = sandbox.clone();
        sandbox.tmp_device = w.scratch.as_ref().map(|s| s.device().to_path_buf());
        let (launched, deferred) = control
            .prestart(&sandbox)
            .map_err(|e| LaunchError::Setup(std::io::Error::other(e.to_string())))?;
        let mut marks = std::mem::replace(&mut w.marks, Marks::new());
        marks.mark("built");
        Ok(Ready {
            init,
            launched,
            deferred,
            handoff: None,
            marks,
        })
    }

    /// Gives a waiting sandbox its function, with its code from `code` and its layers from
    /// `layers`: to the runtime waiting in it (started there, or forked in by a zygote), with
    /// `beside` (the function's extensions) started first, or, for a sandbox built without
    /// one, with the program `exec` to start.
    pub(super) fn specialise(
        &self,
        ready: Ready,
        spec: &LaunchSpec,
        (exec, beside): (Option<lamina_sandbox::Exec>, Option<lamina_sandbox::Exec>),
        (code, layers): (&Path, Option<&Path>),
    ) -> Result<Launched, LaunchError> {
        let setup = |e: std::io::Error| LaunchError::Setup(e);
        let Ready {
            mut init,
            launched,
            deferred,
            handoff,
            mut marks,
        } = ready;
        let prestarted = match (&exec, &handoff) {
            (Some(_), _) => Prestarted::Sandbox,
            (None, Some(h)) if h.now => Prestarted::Forked,
            (None, _) => Prestarted::Runtime,
        };
        let w = init.0.as_mut().expect("set until now");
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
        w.set_limits(Inits::limits(spec, w.scratch.is_some()))
            .map_err(setup)?;
        marks.mark("limits");
        let code = lamina_sandbox::fs::clone_tree(code).map_err(setup)?;
        let layers = layers
            .map(lamina_sandbox::fs::clone_tree)
            .transpose()
            .map_err(setup)?;
        marks.mark("code");
        let env = Inits::runtime_env(spec);
        let work = lamina_sandbox::Specialisation {
            // A forked runtime reads its environment from us, not from PID 1; what PID 1
            // starts beside it needs it.
            env: if handoff.is_some() && beside.is_none() {
                Vec::new()
            } else {
                env.clone()
            },
            tmp_mb: spec.ephemeral_storage_mb,
            new_tmp,
            layers: layers.is_some(),
            exec,
            beside,
            adopt: handoff.as_ref().map(|h| h.pid),
        };
        let tmp_device = w.scratch.as_ref().filter(|_| new_tmp).map(Scratch::file);
        deferred
            .specialise(
                &work,
                code,
                layers,
                tmp_device,
                handoff.as_ref().map(|h| &h.ended),
            )
            .map_err(|e| setup(std::io::Error::other(e.to_string())))?;
        marks.mark("specialised");
        if let Some(handoff) = handoff {
            let env: serde_json::Map<String, serde_json::Value> = env
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let body = serde_json::to_vec(&env).map_err(|e| setup(e.into()))?;
            std::io::Write::write_all(&mut std::fs::File::from(handoff.env_pipe), &body)
                .map_err(setup)?;
        }
        marks.mark("env");
        tracing::debug!(?prestarted, steps = ?marks.steps(), "sandbox made and given its function");
        let init = init.0.take().expect("set until now");
        Ok(init.into_launched(
            launched.listener,
            spec.egress.then_some(launched.egress),
            launched.init_pid,
            prestarted,
        ))
    }

    /// Sends `init` (taken from the pool, or just started) its sandbox: its limits, its
    /// `/tmp`, then the spec; it builds its root and starts the program.
    pub(super) fn handshake(
        &self,
        init: IdleInit,
        spec: &LaunchSpec,
        sandbox: &mut SandboxSpec,
    ) -> Result<(IdleInit, lamina_sandbox::Launched), (LaunchError, bool)> {
        let mut guard = IdleInitGuard(Some(init));
        let w = guard.0.as_mut().expect("just set");
        w.marks.mark("taken");
        if w.scratch
            .as_ref()
            .is_some_and(|s| s.mb() != spec.ephemeral_storage_mb)
        {
            w.scratch = self.make_scratch(spec.ephemeral_storage_mb);
        }
        sandbox.tmp_device = w.scratch.as_ref().map(|s| s.device().to_path_buf());
        w.set_limits(Inits::limits(spec, w.scratch.is_some()))
            .map_err(|e| (LaunchError::Setup(e), false))?;
        let control = w
            .control
            .take()
            .expect("an idle sandbox init has its control socket");
        match control.handshake(sandbox) {
            Ok(ready) => {
                w.marks.mark("built");
                Ok((guard.0.take().expect("just set"), ready))
            }
            // The guard kills it; the caller may try another.
            Err(e) => Err((
                LaunchError::Setup(std::io::Error::other(e.to_string())),
                true,
            )),
        }
    }
}

impl IdleInit {
    /// When the steps of its making ended, as [`Marks::steps`].
    pub(super) fn steps(&self) -> &[(&'static str, u32)] {
        self.marks.steps()
    }

    /// Gives its cgroups `limits`, unless they have them already.
    fn set_limits(&mut self, limits: Limits) -> std::io::Result<()> {
        if limits == self.limits {
            return Ok(());
        }
        if let Some(c) = &self.cgroups {
            c.set_limits(&limits)?;
        }
        self.limits = limits;
        Ok(())
    }

    /// The environment this sandbox became, once its program runs.
    pub(super) fn into_launched(
        self,
        runtime_api: std::net::TcpListener,
        egress: Option<std::net::TcpListener>,
        init_pid: u32,
        prestarted: Prestarted,
    ) -> Launched {
        let IdleInit {
            child,
            cgroups,
            output,
            scratch,
            ..
        } = self;
        let outer = child.id().unwrap_or(0);
        Launched {
            runtime_api,
            child,
            output,
            egress,
            controls: Box::new(Sandbox::new(outer, init_pid, cgroups, scratch)),
            prestarted,
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

/// Kills a sandbox init that is not going to be used, and removes its cgroups.
#[derive(Debug)]
pub(super) struct IdleInitGuard(pub(super) Option<IdleInit>);

impl Drop for IdleInitGuard {
    fn drop(&mut self) {
        if let Some(mut init) = self.0.take() {
            let _ = init.child.start_kill();
            drop(CgroupGuard(init.cgroups.take()));
        }
    }
}
