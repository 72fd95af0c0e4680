//! The boundary behind which an environment's process is started and confined.
//!
//! A [`Launcher`] creates the environment's Runtime API listener where the environment can
//! reach it, starts the runtime with exactly the environment variables it is given (nothing
//! of the platform's own environment), merges stdout and stderr into one pipe, and returns
//! [`EnvironmentControls`] that can kill everything the environment started and report its
//! peak memory. [`ProcessLauncher`] does this with a plain process group; a sandboxing
//! launcher replaces it without any change to the executor.

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Where an environment sees the function's code and Lamina's runtime files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The code (`LAMBDA_TASK_ROOT`, the working directory).
    pub task_root: PathBuf,
    /// The bootstraps (`LAMBDA_RUNTIME_DIR`).
    pub runtime_dir: PathBuf,
    /// The function's layers, merged (`/opt`).
    pub opt: PathBuf,
    /// The proxy URL through which the environment reaches other networks, when it has no
    /// direct way out.
    pub egress_proxy: Option<String>,
}

impl Layout {
    /// Rewrites a host path under the host layout into the same path under `self`.
    pub fn map(&self, host: &Layout, path: &Path) -> PathBuf {
        if let Ok(rest) = path.strip_prefix(&host.task_root) {
            return self.task_root.join(rest);
        }
        if let Ok(rest) = path.strip_prefix(&host.runtime_dir) {
            return self.runtime_dir.join(rest);
        }
        if let Ok(rest) = path.strip_prefix(&host.opt) {
            return self.opt.join(rest);
        }
        path.to_path_buf()
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The whole environment of the process, except `AWS_LAMBDA_RUNTIME_API`, which the
    /// launcher adds because only it knows where the listener is reachable.
    pub env: Vec<(String, String)>,
    /// Where the code and runtime files are on the host.
    pub host: Layout,
    /// The function's layers merged into one host directory, mounted read-only at `/opt`.
    pub opt_dir: Option<PathBuf>,
    /// Runtime files that `host.runtime_dir` only adds to, with nothing the runtime needs
    /// (the catalog's, when `host.runtime_dir` adds a Java class-data sharing archive): a
    /// sandbox pre-built with these serves the spec, its runtime starting without the rest.
    pub runtime_base: Option<PathBuf>,
    /// Host directories the program needs beyond the code, the runtime files and `/usr`
    /// (an interpreter installed elsewhere); a sandbox mounts them read-only.
    pub extra_ro: Vec<PathBuf>,
    /// Memory limit in MB.
    pub memory_mb: u32,
    /// `/tmp` size in MB.
    pub ephemeral_storage_mb: u32,
    /// Whether the function may reach other networks.
    pub egress: bool,
    /// For a function whose layers hold extensions, `program` and `args` are the extension
    /// launcher's, which starts the extensions and then becomes the runtime; this is the
    /// runtime alone and the extensions alone, so that a runtime started ahead of time can
    /// serve the function with its extensions started beside it.
    pub extensions: Option<ExtensionsLaunch>,
}

/// A function's runtime and its extensions, each started on its own.
#[derive(Debug, Clone)]
pub struct ExtensionsLaunch {
    /// The runtime's program, as the environment sees it.
    pub runtime: PathBuf,
    /// The runtime's arguments.
    pub runtime_args: Vec<OsString>,
    /// The extension launcher's arguments with no runtime after them (`/bin/sh` runs
    /// them): it starts the extensions and ends.
    pub alone: Vec<OsString>,
}

/// A started environment process.
#[derive(Debug)]
pub struct Launched {
    /// The Runtime API listener of this environment (non-blocking).
    pub runtime_api: TcpListener,
    /// The process.
    pub child: crate::process::Process,
    /// Read end of the merged stdout/stderr pipe.
    pub output: OwnedFd,
    /// The egress proxy listener, when the environment's only way out is the proxy.
    pub egress: Option<TcpListener>,
    /// Kill and measure.
    pub controls: Box<dyn EnvironmentControls>,
    /// What of the environment had been started before this launch asked for it.
    pub prestarted: Prestarted,
}

/// What of an environment was started ahead of time, before its function asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prestarted {
    /// Nothing: everything was started for this launch.
    Nothing,
    /// The sandbox (cgroups joined, network namespace and listeners made).
    Sandbox,
    /// The sandbox and the runtime, which had been waiting without code.
    Runtime,
    /// The sandbox and the interpreter: the runtime was forked for this launch from a
    /// zygote that had its bootstrap loaded.
    Forked,
}

impl Prestarted {
    /// `none`, `sandbox`, `runtime` or `forked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Prestarted::Nothing => "none",
            Prestarted::Sandbox => "sandbox",
            Prestarted::Runtime => "runtime",
            Prestarted::Forked => "forked",
        }
    }
}

/// Whether an interpreter or the dynamic loader reads the environment variable `key` when the
/// process starts, so that setting it later would not have the same effect. A runtime started
/// ahead of time serves only functions that agree with it on every such variable.
pub fn read_at_start(key: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "LD_",
        "PYTHON",
        "NODE_",
        "UV_",
        "OPENSSL_",
        "LC_",
        "MALLOC_",
        "GLIBC_",
        "JAVA_",
        "_JAVA_",
        "JDK_JAVA_",
        "RUBY",
        "GEM_",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || matches!(key, "LANG" | "LANGUAGE" | "TZ")
}

/// Control over everything one environment started.
pub trait EnvironmentControls: Send + Sync + Debug {
    /// Kills every process of the environment, at once and for good.
    fn kill(&self);
    /// Peak memory of the environment so far, in bytes, when it can be measured.
    fn peak_memory_bytes(&self) -> Option<u64>;
    /// The same, read in full rather than from what was read before: once the
    /// environment's processes have ended (killed for memory, say).
    fn final_peak_memory_bytes(&self) -> Option<u64> {
        self.peak_memory_bytes()
    }
    /// Whether the environment ran out of memory (its processes were killed for it).
    fn oom_killed(&self) -> bool {
        false
    }
    /// Frees what the environment held on the host, once all its processes are gone. May
    /// block briefly.
    fn release(&self) {}
    /// Stops (`true`) or resumes every process of the environment, so that an idle one uses
    /// no CPU. Returns whether it was done; launchers that cannot freeze return false.
    fn set_frozen(&self, _frozen: bool) -> bool {
        false
    }
    /// Whether a process of the (frozen) environment has a SIGKILL pending: killed while
    /// frozen, it dies as soon as it is thawed.
    fn doomed(&self) -> bool {
        false
    }
    /// CPU time the environment's processes have used so far (with the children they
    /// reaped), when it can be measured: how an idle environment left thawed is watched.
    fn cpu_time(&self) -> Option<std::time::Duration> {
        None
    }
    /// Every process of the environment, to move them between cores; none where they
    /// cannot be listed.
    fn processes(&self) -> Vec<u32> {
        Vec::new()
    }
    /// Opens a connection to `port` on the environment's loopback (a Telemetry API
    /// listener). Blocks briefly: call it off the async threads.
    fn connect(&self, port: u16) -> io::Result<std::net::TcpStream> {
        std::net::TcpStream::connect(("127.0.0.1", port))
    }
}

/// Whether any of `pids` has SIGKILL pending (its own or its thread group's).
pub(crate) fn kill_pending(pids: impl IntoIterator<Item = u32>) -> bool {
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    pids.into_iter().any(|pid| {
        read_proc_file(Path::new(&format!("/proc/{pid}/status")))
            .map(|status| {
                status
                    .lines()
                    .filter_map(|l| {
                        l.strip_prefix("SigPnd:")
                            .or_else(|| l.strip_prefix("ShdPnd:"))
                    })
                    .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                    .any(|mask| mask & SIGKILL_BIT != 0)
            })
            .unwrap_or(false)
    })
}

/// Why an environment could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program could not be executed (missing, not executable, bad format).
    #[error("{program}: {source}")]
    InvalidEntrypoint {
        /// The program.
        program: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The platform failed to set the environment up.
    #[error("could not set up the execution environment: {0}")]
    Setup(io::Error),
}

/// Starts environments.
pub trait Launcher: Send + Sync + Debug {
    /// Starts one environment. May block for a few milliseconds: call it off the async
    /// threads.
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError>;
    /// Where environments of this launcher see the host layout `host`.
    fn layout(&self, host: &Layout) -> Layout;
    /// One line saying what isolation this launcher gives, for the start-up banner.
    fn describe(&self) -> String;
    /// Stops whatever the launcher keeps ready (pre-started sandboxes).
    fn shutdown(&self) {}
    /// A package was stored at `task_dir`: prepare what environments of it will need. May
    /// block.
    fn prepare_package(&self, _task_dir: &Path) {}
    /// The package at `task_dir` is about to be removed. May block.
    fn release_package(&self, _task_dir: &Path) {}
    /// Keeps `count` environments of `template` started ahead of time (beside those of earlier
    /// templates), their runtime
    /// running without code and without a function; a later launch whose spec agrees with a
    /// template on the program, its arguments and every variable [`read_at_start`] takes one
    /// and pays only for handing over the code and the environment. Templates' code
    /// (`host.task_root`) is ignored. With `count` 0 none is kept waiting, but a launcher
    /// that forks runtimes from a zygote still starts one for the template. Launchers that
    /// cannot do this ignore it.
    fn keep_ready(&self, _template: LaunchSpec, _count: usize) {}
}

/// Spawns `cmd` from a thread that lives as long as the server. A parent-death signal
/// fires when the *thread* that forked the child ends, and the blocking threads launches
/// run on come and go: from this one, the signal means what it says (the server ended).
fn spawn_from_a_lasting_thread(
    mut cmd: tokio::process::Command,
) -> io::Result<tokio::process::Child> {
    type Job = Box<dyn FnOnce() + Send>;
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lamina-spawner".into())
            .spawn(move || {
                // A thread starts on its creator's cores, and a runtime and the threads it
                // makes at start on this one's: the main thread's, never pinned (the
                // async worker may be, see `placement`).
                let main = Pid::from_raw(std::process::id() as i32);
                if let Ok(all) = nix::sched::sched_getaffinity(main) {
                    let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &all);
                }
                for job in rx {
                    job();
                }
            })
            .expect("starting the spawner thread");
        std::sync::Mutex::new(tx)
    });
    let runtime = tokio::runtime::Handle::current();
    let (reply_tx, reply_rx) = std::sync::mpsc::channel();
    let job: Job = Box::new(move || {
        let _runtime = runtime.enter();
        let child = cmd.spawn();
        // With it go our copies of the child's ends (its output pipe).
        drop(cmd);
        let _ = reply_tx.send(child);
    });
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .map_err(|_| io::Error::other("the spawner thread has ended"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread has ended"))?
}

/// Runs each environment as a plain process group on the host, with an explicit environment
/// and its own Runtime API listener on a loopback port. It confines nothing beyond that.
#[derive(Debug, Default, Clone)]
pub struct ProcessLauncher;

impl Launcher for ProcessLauncher {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(LaunchError::Setup)?;
        listener.set_nonblocking(true).map_err(LaunchError::Setup)?;
        let addr = listener.local_addr().map_err(LaunchError::Setup)?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| LaunchError::Setup(e.into()))?;
        let write2 = write.try_clone().map_err(LaunchError::Setup)?;
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .current_dir(&spec.host.task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
        // parent; it is the only call made between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
            });
        }
        let child =
            spawn_from_a_lasting_thread(cmd).map_err(|source| match source.raw_os_error() {
                Some(libc::ENOENT | libc::EACCES | libc::ENOEXEC | libc::ENOTDIR) => {
                    LaunchError::InvalidEntrypoint {
                        program: spec.program.clone(),
                        source,
                    }
                }
                _ => LaunchError::Setup(source),
            })?;
        let pid = child.id().unwrap_or(0);
        Ok(Launched {
            runtime_api: listener,
            child: child.into(),
            output: read,
            egress: None,
            controls: Box::new(ProcessGroup {
                pid,
                last_peak: AtomicU64::new(0),
            }),
            prestarted: Prestarted::Nothing,
        })
    }

    fn layout(&self, host: &Layout) -> Layout {
        host.clone()
    }

    fn describe(&self) -> String {
        "none: environments run as plain processes (process group, explicit environment)".into()
    }
}

#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pid: u32,
    // The last peak seen: /proc forgets a process once it has exited.
    last_peak: AtomicU64,
}

impl EnvironmentControls for ProcessGroup {
    fn kill(&self) {
        if self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }

    fn set_frozen(&self, frozen: bool) -> bool {
        // The group holds everything the runtime started (it cannot leave it without
        // setsid, which a plain process launcher does not prevent).
        let signal = if frozen {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        self.pid > 0 && killpg(Pid::from_raw(self.pid as i32), signal).is_ok()
    }

    fn doomed(&self) -> bool {
        self.pid > 0 && kill_pending(process_tree(self.pid))
    }

    fn cpu_time(&self) -> Option<std::time::Duration> {
        (self.pid > 0)
            .then(|| cpu_time(process_tree(self.pid)))
            .flatten()
    }

    fn processes(&self) -> Vec<u32> {
        if self.pid == 0 {
            return Vec::new();
        }
        process_tree(self.pid)
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        if let Some(now) = (self.pid > 0).then(|| tree_peak_rss(self.pid)).flatten() {
            self.last_peak.fetch_max(now, Ordering::Relaxed);
        }
        Some(self.last_peak.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }
}

/// A process and its descendants (at most 4,096, so that a fork storm cannot stall the
/// caller), found through each task's `children` list in /proc.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if out.len() >= 4096 {
            break;
        }
        out.push(pid);
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                    stack.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
    }
    out
}

/// CPU time used by `pids` and the children they reaped (user and system), from
/// `/proc/<pid>/stat`, at the clock tick's resolution; `None` when none of them could be read.
pub(crate) fn cpu_time(pids: impl IntoIterator<Item = u32>) -> Option<std::time::Duration> {
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as u64;
    let ticks: Vec<u64> = pids.into_iter().filter_map(stat_ticks).collect();
    (!ticks.is_empty()).then(|| {
        std::time::Duration::from_nanos(ticks.iter().sum::<u64>() * 1_000_000_000 / per_second)
    })
}

/// utime + stime + cutime + cstime of one process, in clock ticks.
fn stat_ticks(pid: u32) -> Option<u64> {
    let stat = read_proc_file(Path::new(&format!("/proc/{pid}/stat")))?;
    // The command (field 2) is in parentheses and may hold spaces and parentheses itself:
    // fields are counted from its last ')', where field 3 begins; these are fields 14-17.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse::<u64>().ok())
        .sum()
}

/// Sum of the peak resident set sizes (`VmHWM`) of a process and its descendants.
pub(crate) fn tree_peak_rss(root: u32) -> Option<u64> {
    let total: u64 = process_tree(root).into_iter().filter_map(peak_rss).sum();
    (total > 0).then_some(total)
}

/// The peak resident set size (`VmHWM`) of one process, in bytes.
pub(crate) fn peak_rss(pid: u32) -> Option<u64> {
    status_field(&PathBuf::from(format!("/proc/{pid}")), "VmHWM:").map(|kb| kb * 1024)
}

fn status_field(proc_dir: &Path, field: &str) -> Option<u64> {
    let status = read_proc_file(&proc_dir.join("status"))?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A `/proc` file's text in one `read` where it fits in 4 KiB (status and stat files do):
/// `read_to_string` sizes its buffer from the file's length, which `/proc` gives as 0, and
/// so asked a few bytes at a time, eight reads and a `statx` for one status file.
fn read_proc_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0; 4096];
    // A `/proc` file made at once (a status, a stat) gives all of itself to one read.
    let n = file.read(&mut buf).ok()?;
    buf.truncate(n);
    if n == 4096 {
        file.read_to_end(&mut buf).ok()?;
    }
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_what_a_process_burns() {
        let me = std::process::id();
        let before = cpu_time([me]).expect("this process's CPU time");
        let until = std::time::Instant::now() + std::time::Duration::from_millis(60);
        let mut spin = 0u64;
        while std::time::Instant::now() < until {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = cpu_time([me]).unwrap();
        assert!(
            after - before >= std::time::Duration::from_millis(30),
            "{before:?} -> {after:?}"
        );
        assert_eq!(cpu_time([u32::MAX]), None, "no such process");
    }

    #[test]
    fn what_each_runtime_reads_as_it_starts_is_read_at_start() {
        for key in [
            "PYTHONPATH",
            "NODE_OPTIONS",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "RUBYOPT",
            "RUBYLIB",
            "GEM_PATH",
            "LD_PRELOAD",
            "TZ",
        ] {
            assert!(read_at_start(key), "{key}");
        }
        for key in ["MINE", "AWS_REGION", "_HANDLER", "JAVA", "PATH"] {
            assert!(!read_at_start(key), "{key}");
        }
    }
}
