//! One running execution environment: its process (through the launcher's controls), its
//! Runtime API session and server, its log capture, and the task that notices its exit.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lamina_runtime_api::egress::EgressPolicy;
use lamina_runtime_api::{EnvironmentConnections, Extensions, Session};
use tokio::sync::watch;

use crate::launcher::{EnvironmentControls, Launched};
use crate::logs::{LogCapture, LogSink};

/// How long extensions have to finish after SHUTDOWN, as Lambda gives external ones.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(2000);

/// Where an environment's output goes: a log stream of a log group, through a sink.
#[derive(Debug)]
pub struct LogTarget {
    /// Log group (`/aws/lambda/NAME`).
    pub group: String,
    /// Log stream of this environment.
    pub stream: String,
    /// The sink.
    pub sink: Arc<dyn LogSink>,
    /// What of the output is kept.
    pub logging: crate::Logging,
}

/// A frozen environment one of whose processes was killed while it was frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doomed;

/// What an environment is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvState {
    /// Started; its runtime has not asked for an invocation yet.
    Initialising,
    /// Waiting for an invocation, ready to run it at once.
    Idle,
    /// Running an invocation (or about to).
    Busy,
    /// Idle, with every process stopped until its next invocation.
    Frozen,
}

impl EnvState {
    fn from_u8(v: u8) -> EnvState {
        match v {
            0 => EnvState::Initialising,
            1 => EnvState::Idle,
            2 => EnvState::Busy,
            _ => EnvState::Frozen,
        }
    }

    /// Lower-case name, as `lamina ps` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvState::Initialising => "initialising",
            EnvState::Idle => "idle",
            EnvState::Busy => "busy",
            EnvState::Frozen => "frozen",
        }
    }
}

/// A running environment.
#[derive(Debug)]
pub struct Environment {
    /// Unique id; also the suffix of the log stream name.
    pub id: String,
    /// Its Runtime API state.
    pub session: Arc<Session>,
    /// Its output.
    pub log: Arc<LogCapture>,
    /// When the process was started.
    pub started: Instant,
    /// When its isolation was set up and its runtime began: `launched - started` is the
    /// sandbox's share of the init phase.
    pub launched: Instant,
    /// What of it had been started before it was asked for.
    pub prestarted: crate::launcher::Prestarted,
    controls: Box<dyn EnvironmentControls>,
    exit: watch::Receiver<Option<String>>,
    state: AtomicU8,
    /// Started for provisioned concurrency (and not yet let go of it).
    provisioned: AtomicBool,
    /// Initialised before any invocation asked for it (provisioned): no invocation pays
    /// for its init, so none reports an Init Duration.
    pub initialised_ahead: bool,
    // Short critical sections only.
    last_used: Mutex<Instant>,
    /// Its CPU time when it was first watched while idle, and the last use that idle spell
    /// followed: what a thawed idle environment's use is measured from.
    idle_cpu: Mutex<Option<(Instant, std::time::Duration)>>,
    forgotten: AtomicBool,
    killed: AtomicBool,
    oom: AtomicBool,
    peak_mb: std::sync::atomic::AtomicU64,
    /// Where its threads were put, and when (`placement`).
    pub(crate) placed: crate::placement::Placed,
}

impl Environment {
    /// Takes over a launched process (whose launch began at `started`, the start of its init
    /// phase): serves its Runtime API, pumps its output, and watches
    /// for its exit, calling `on_exit` once it is gone.
    #[allow(clippy::too_many_arguments)]
    pub fn adopt(
        launched: Launched,
        started: Instant,
        id: String,
        provisioned: bool,
        logs: LogTarget,
        max_response_bytes: usize,
        extensions: Extensions,
        egress_policy: Arc<EgressPolicy>,
        connections: EnvironmentConnections,
        on_exit: impl FnOnce(&Arc<Environment>) + Send + 'static,
    ) -> std::io::Result<Arc<Environment>> {
        let Launched {
            runtime_api,
            egress,
            mut child,
            output,
            controls,
            prestarted,
        } = launched;
        let listener = tokio::net::TcpListener::from_std(runtime_api)?;
        let log = Arc::new(LogCapture::new(output, logs.group, logs.stream, logs.sink)?);
        log.set_logging(logs.logging);
        let session = Arc::new(Session::with_extensions(extensions));
        log.set_telemetry(session.telemetry_handle());
        let (exit_tx, exit_rx) = watch::channel(None);
        let env = Arc::new(Environment {
            id,
            session: session.clone(),
            log: log.clone(),
            started,
            launched: Instant::now(),
            prestarted,
            controls,
            exit: exit_rx,
            state: AtomicU8::new(EnvState::Initialising as u8),
            provisioned: AtomicBool::new(provisioned),
            initialised_ahead: provisioned,
            last_used: Mutex::new(Instant::now()),
            idle_cpu: Mutex::new(None),
            forgotten: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            oom: AtomicBool::new(false),
            peak_mb: std::sync::atomic::AtomicU64::new(0),
            placed: Default::default(),
        });
        let weak = Arc::downgrade(&env);
        session
            .telemetry()
            .set_connect(Arc::new(move |port| match weak.upgrade() {
                Some(env) => env.controls.connect(port),
                None => Err(std::io::Error::other("the environment is gone")),
            }));
        if let Some(egress) = egress {
            let egress = tokio::net::TcpListener::from_std(egress)?;
            tokio::spawn(lamina_runtime_api::egress::serve(
                egress,
                session.clone(),
                egress_policy,
                connections.clone(),
            ));
        }
        tokio::spawn(lamina_runtime_api::serve(
            listener,
            session,
            max_response_bytes,
            connections,
        ));
        tokio::spawn(async move { log.pump().await });
        let watched = env.clone();
        tokio::spawn(async move {
            let description = match child.wait().await {
                Ok(status) => describe_exit(status),
                Err(e) => format!("wait failed: {e}"),
            };
            // The runtime is gone: whatever it left behind in its group goes too.
            watched.controls.kill();
            watched.session.close();
            watched.log.drain();
            // Peak and OOM are read before the resources are released.
            watched.final_peak_memory_mb();
            let oom = watched.controls.oom_killed();
            watched.oom.store(oom, Ordering::SeqCst);
            exit_tx.send_replace(Some(description));
            let releaser = watched.clone();
            let _ = tokio::task::spawn_blocking(move || releaser.controls.release()).await;
            on_exit(&watched);
        });
        Ok(env)
    }

    /// Every process of the environment, where they can be listed.
    pub(crate) fn processes(&self) -> Vec<u32> {
        self.controls.processes()
    }

    /// Kills everything the environment started. Its exit is then noticed as usual.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.controls.kill();
    }

    /// Ends the environment as Lambda's Shutdown phase does: extensions registered for
    /// SHUTDOWN get the event (reason `spindown`) and up to [`SHUTDOWN_GRACE`] to finish,
    /// their telemetry is flushed, then everything is killed. Without such extensions it is
    /// killed at once.
    pub fn retire(self: &Arc<Self>) {
        let handle = tokio::runtime::Handle::try_current();
        let (Ok(handle), true) = (handle, self.session.extensions().wants_shutdown()) else {
            self.kill();
            return;
        };
        let env = self.clone();
        handle.spawn(async move {
            // A frozen environment runs again for its shutdown.
            env.controls.set_frozen(false);
            env.set_state(EnvState::Busy);
            env.session.telemetry().flush();
            let deadline = std::time::SystemTime::now() + SHUTDOWN_GRACE;
            let deadline_ms = deadline
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let extensions = env.session.extensions();
            extensions.shutdown("spindown", deadline_ms);
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, extensions.shutdown_done()).await;
            env.log.drain();
            env.kill();
        });
    }

    /// Whether [`kill`](Self::kill) was called.
    pub fn was_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Whether the process is still there (as far as the platform has noticed).
    pub fn is_alive(&self) -> bool {
        self.exit.borrow().is_none() && !self.session.is_closed()
    }

    /// Waits for the exit and returns how the process ended (`exit status 1`,
    /// `signal: killed`, ...), as Lambda words it.
    pub async fn exited(&self) -> String {
        let mut rx = self.exit.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => "unknown".into(),
        }
    }

    /// Peak memory in MB (rounded up), or 0 when it cannot be measured. Keeps the highest
    /// value seen, since the measure may vanish with the environment.
    pub fn peak_memory_mb(&self) -> u64 {
        self.keep_peak(self.controls.peak_memory_bytes())
    }

    /// The peak read in full, once the processes have ended.
    fn final_peak_memory_mb(&self) -> u64 {
        self.keep_peak(self.controls.final_peak_memory_bytes())
    }

    /// The highest peak seen, with `bytes` (read now) counted, in MB rounded up.
    fn keep_peak(&self, bytes: Option<u64>) -> u64 {
        let now = bytes.map(|b| b.div_ceil(1024 * 1024)).unwrap_or(0);
        self.peak_mb.fetch_max(now, Ordering::SeqCst).max(now)
    }

    /// Whether the environment ended because it ran out of memory (known once it exited).
    pub fn out_of_memory(&self) -> bool {
        self.oom.load(Ordering::SeqCst)
    }

    /// What it is doing.
    pub fn state(&self) -> EnvState {
        EnvState::from_u8(self.state.load(Ordering::SeqCst))
    }

    /// Records what it is doing.
    pub fn set_state(&self, state: EnvState) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    /// Freezes it if it is idle and the launcher can; returns whether it is now frozen.
    /// Called only while the environment sits in its pool's idle list, under the pool's lock,
    /// so that nothing takes it meanwhile.
    pub fn freeze(&self) -> bool {
        if self.state() == EnvState::Idle && self.is_alive() && self.controls.set_frozen(true) {
            self.set_state(EnvState::Frozen);
        }
        self.state() == EnvState::Frozen
    }

    /// Takes it for an invocation: thaws it if it was frozen and marks it busy. Returns how
    /// long the thaw took, if there was one, or `Err` if a process of the frozen
    /// environment was killed meanwhile (it dies at the thaw, which is done): the caller
    /// takes another environment.
    pub fn take(&self) -> Result<Option<std::time::Duration>, Doomed> {
        let was = self.state();
        self.set_state(EnvState::Busy);
        if was != EnvState::Frozen {
            return Ok(None);
        }
        let doomed = self.controls.doomed();
        let at = Instant::now();
        self.controls.set_frozen(false);
        if doomed {
            self.kill();
            return Err(Doomed);
        }
        Ok(Some(at.elapsed()))
    }

    /// Whether it serves provisioned concurrency.
    pub fn is_provisioned(&self) -> bool {
        self.provisioned.load(Ordering::SeqCst)
    }

    /// Lets go of its provisioned role; true if it had it (exactly one caller sees true).
    pub fn unprovision(&self) -> bool {
        self.provisioned.swap(false, Ordering::SeqCst)
    }

    /// Marks the environment used now.
    pub fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// When it was last used.
    pub fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether, idle since its last use, it has used more than `allowance` of CPU since it
    /// was first watched in this idle spell (never the first time). True when its CPU time
    /// cannot be measured: what cannot be watched is not left thawed.
    pub fn busy_while_idle(&self, allowance: std::time::Duration) -> bool {
        let Some(cpu) = self.controls.cpu_time() else {
            return true;
        };
        let since = self.last_used();
        let mut mark = self.idle_cpu.lock().unwrap_or_else(|p| p.into_inner());
        match *mark {
            Some((at, base)) if at == since => cpu.saturating_sub(base) > allowance,
            _ => {
                *mark = Some((since, cpu));
                false
            }
        }
    }

    /// Returns true the first time it is called: the pool's accounting of this environment
    /// is released exactly once, whoever notices its end first.
    pub fn forget_once(&self) -> bool {
        !self.forgotten.swap(true, Ordering::SeqCst)
    }
}

/// Words an exit status as Lambda's Runtime.ExitError messages do.
fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".into(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".into(),
        Some(libc::SIGABRT) => "signal: aborted".into(),
        Some(libc::SIGTERM) => "signal: terminated".into(),
        Some(libc::SIGBUS) => "signal: bus error".into(),
        Some(libc::SIGILL) => "signal: illegal instruction".into(),
        Some(libc::SIGFPE) => "signal: floating point exception".into(),
        Some(libc::SIGPIPE) => "signal: broken pipe".into(),
        Some(s) => format!("signal: {s}"),
        None => "exited".into(),
    }
}
