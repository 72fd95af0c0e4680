//! [`SandboxLauncher`]: each environment in its own sandbox (network, mount, pid, ipc and uts
//! namespaces, a minimal read-only root, an unprivileged uid without capabilities), built by
//! the re-executed `lamina sandbox-init`. The Runtime API listener is created inside the
//! sandbox's network namespace, at `127.0.0.1:9001`, so an environment can reach nothing but
//! its own API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use lamina_sandbox::cgroup::{self, Cgroups, Limits};
use lamina_sandbox::{RUNTIME_API_ADDR, SandboxSpec};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::launcher::{
    EnvironmentControls, LaunchError, LaunchSpec, Launched, Launcher, Layout, tree_peak_rss,
};

/// Starts environments in sandboxes. Needs root.
#[derive(Debug, Clone)]
pub struct SandboxLauncher {
    exe: PathBuf,
    root_mountpoint: PathBuf,
    cgroups: cgroup::Layout,
}

impl SandboxLauncher {
    /// A launcher that re-executes `exe` (the lamina binary) and uses `work_dir` for an empty
    /// mount point.
    pub fn new(exe: &Path, work_dir: &Path) -> std::io::Result<SandboxLauncher> {
        let root_mountpoint = work_dir.join("sandbox-root");
        std::fs::create_dir_all(&root_mountpoint)?;
        let cgroups = cgroup::detect(Path::new("/sys/fs/cgroup"));
        Ok(SandboxLauncher {
            exe: exe.to_path_buf(),
            root_mountpoint,
            cgroups,
        })
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let inside = self.layout(&spec.host);
        let cgroups = match &self.cgroups {
            cgroup::Layout::V1 { .. } => {
                let limits = Limits::for_function(
                    spec.memory_mb,
                    spec.ephemeral_storage_mb,
                    lamina_model::limits::PROCESSES,
                );
                let id = uuid::Uuid::new_v4().simple().to_string();
                Some(Cgroups::create(&self.cgroups, &id, &limits).map_err(LaunchError::Setup)?)
            }
            cgroup::Layout::Unavailable(_) => None,
        };
        let sandbox = SandboxSpec {
            program: spec.program.clone(),
            args: spec
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: spec
                .env
                .iter()
                .cloned()
                .chain([(
                    "AWS_LAMBDA_RUNTIME_API".to_string(),
                    RUNTIME_API_ADDR.to_string(),
                )])
                .collect(),
            task_dir: spec.host.task_root.clone(),
            runtime_dir: spec.host.runtime_dir.clone(),
            extra_ro: spec.extra_ro.clone(),
            root_mountpoint: self.root_mountpoint.clone(),
            tmp_mb: spec.ephemeral_storage_mb,
            nofile: lamina_model::limits::FILE_DESCRIPTORS,
            hostname: "localhost".into(),
            cgroups: cgroups
                .as_ref()
                .map(|c| c.dirs().to_vec())
                .unwrap_or_default(),
        };
        debug_assert_eq!(inside.task_root, Path::new("/var/task"));
        let mut guard = CgroupGuard(cgroups);
        let (command, control) = lamina_sandbox::prepare(&self.exe).map_err(LaunchError::Setup)?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| LaunchError::Setup(e.into()))?;
        let write2 = write.try_clone().map_err(LaunchError::Setup)?;
        let mut cmd = tokio::process::Command::from(command);
        cmd.stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(LaunchError::Setup)?;
        // Our copies of the child's ends (control socket, pipe) close here.
        drop(cmd);
        let outer = child.id().unwrap_or(0);
        let ready = control
            .handshake(&sandbox)
            .map_err(|e| LaunchError::Setup(std::io::Error::other(e.to_string())))?;
        Ok(Launched {
            runtime_api: ready.listener,
            child,
            output: read,
            controls: Box::new(Sandbox {
                outer,
                init: ready.init_pid,
                last_peak: AtomicU64::new(0),
                cgroups: guard.0.take(),
            }),
        })
    }

    fn layout(&self, _host: &Layout) -> Layout {
        Layout {
            task_root: "/var/task".into(),
            runtime_dir: "/var/runtime".into(),
        }
    }

    fn describe(&self) -> String {
        let limits = match &self.cgroups {
            cgroup::Layout::V1 { .. } => {
                "memory, pids and CPU limits through cgroup v1".to_string()
            }
            cgroup::Layout::Unavailable(why) => format!("NO memory, pids or CPU limits ({why})"),
        };
        format!(
            "sandbox: network, mount, pid, ipc, uts and cgroup namespaces; read-only root; uid 993 without capabilities; no_new_privs; {limits}"
        )
    }
}

/// Removes cgroups created for a sandbox that then failed to start.
struct CgroupGuard(Option<Cgroups>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.remove(std::time::Duration::from_secs(1));
        }
    }
}

#[derive(Debug)]
struct Sandbox {
    outer: u32,
    init: u32,
    last_peak: AtomicU64,
    cgroups: Option<Cgroups>,
}

impl EnvironmentControls for Sandbox {
    fn kill(&self) {
        // The sandbox's init is PID 1 of its namespace: when it dies, the kernel kills every
        // process left in the sandbox.
        for pid in [self.init, self.outer] {
            if pid > 0 {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        if let Some(c) = &self.cgroups {
            return c.peak_memory_bytes();
        }
        if let Some(now) = tree_peak_rss(self.init) {
            self.last_peak.fetch_max(now, Ordering::Relaxed);
        }
        Some(self.last_peak.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }

    fn oom_killed(&self) -> bool {
        self.cgroups.as_ref().is_some_and(Cgroups::oom_killed)
    }

    fn release(&self) {
        if let Some(c) = &self.cgroups
            && !c.remove(std::time::Duration::from_secs(2))
        {
            tracing::warn!(dirs = ?c.dirs(), "sandbox cgroups still busy; left in place");
        }
    }
}
