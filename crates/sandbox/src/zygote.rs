//! Zygotes: an interpreter started once, with its bootstrap loaded, that forks runtimes into
//! sandboxes built to the end (a [`crate::Deferred`] started with `exec_later`), instead of
//! each sandbox starting an interpreter of its own.
//!
//! The platform's side lives here: [`Zygote::spawn`] starts the zygote program (the runtime's
//! own, such as `runtimes/python/zygote.py`) with a `SOCK_SEQPACKET` control socket as its
//! standard input and sends it the seccomp filter once (a list of one program); [`Zygote::fork_into`] sends one
//! request per runtime, with a pidfd of the sandbox's PID 1, the runtime's standard input,
//! the sandbox's output pipe, a reply pipe and the pipe that will tell how the runtime ended
//! beside it. The zygote joins the sandbox's pid namespace for its children only, forks,
//! and goes back to its own: its child, the runtime, is born inside the sandbox's pid
//! namespace, joins the sandbox's cgroups and its other namespaces through the pidfd, and
//! writes `ok <host pid>` on the reply pipe; it then drops every privilege exactly as
//! [`crate::init`] drops a runtime's before it execs.
//!
//! A runtime so born has its parent outside the sandbox: the sandbox's PID 1 cannot wait
//! for it. So the zygote waits for it, and writes how it ended (as PID 1 reports a
//! runtime's end) to PID 1, which then ends the sandbox the same way.
//!
//! The zygote runs on the host with the server's privileges, which joining a sandbox needs,
//! and runs nothing but Lamina's bootstrap: no function's code, and no byte a function sent.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessage, MsgFlags, send, sendmsg};
use serde::Serialize;

use crate::helper::{Helper, wait_readable};
use crate::{SANDBOX_GID, SANDBOX_UID, SandboxError};

/// What a zygote is started as: the runtime's interpreter and flags, its zygote program and
/// arguments, and the environment a runtime started ahead of time would have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZygoteCommand {
    /// The interpreter.
    pub program: PathBuf,
    /// Its arguments: the interpreter's flags, the zygote program and what it takes,
    /// relative to `dir`: a forked runtime's `/proc/self/cmdline` is the zygote's, and must
    /// name no host path.
    pub args: Vec<String>,
    /// The directory it starts in (where the zygote program is).
    pub dir: PathBuf,
    /// The whole environment.
    pub env: Vec<(String, String)>,
}

/// A running zygote. Dropping it closes its control socket: it forks no more, and exits
/// once the last runtime it forked has ended (it is their parent, the one that tells their
/// sandboxes how they ended).
#[derive(Debug)]
pub struct Zygote {
    helper: Helper,
    forks: AtomicU64,
    started: Instant,
}

/// One request: what the child applies inside the sandbox.
#[derive(Debug, Serialize)]
struct Request<'a> {
    cgroups: &'a [PathBuf],
    nofile: u64,
    data_limit: Option<u64>,
    uid: u32,
    gid: u32,
}

/// What a runtime forked into a sandbox runs with.
#[derive(Debug)]
pub struct Fork<'a> {
    /// A pidfd of the sandbox's PID 1 (`pidfd_open`), whose namespaces the runtime joins.
    pub init: &'a OwnedFd,
    /// The sandbox's cgroup directories, which the runtime joins first.
    pub cgroups: &'a [PathBuf],
    /// The runtime's standard input (where its function's environment will come).
    pub stdin: &'a OwnedFd,
    /// The sandbox's output pipe (stdout and stderr).
    pub output: &'a OwnedFd,
    /// Where the runtime's parent writes how the runtime ended (`e<code>` or `s<signal>`);
    /// the other end goes to the sandbox's PID 1 with its [`crate::Specialisation`].
    pub ended: &'a OwnedFd,
    /// The runtime's open file descriptor limit.
    pub nofile: u64,
    /// `RLIMIT_DATA`, where no cgroup limits memory.
    pub data_limit: Option<u64>,
}

impl Zygote {
    /// Starts a zygote and waits until it is ready to fork (its bootstrap loaded).
    pub fn spawn(command: &ZygoteCommand) -> Result<Zygote, SandboxError> {
        let ctl = SandboxError::Control;
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args)
            .env_clear()
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&command.dir);
        let zygote = Zygote {
            helper: Helper::spawn(cmd, "zygote-reaper")?,
            forks: AtomicU64::new(0),
            started: Instant::now(),
        };
        let filters: Vec<String> = [crate::seccomp::filter().map_err(ctl)?]
            .iter()
            .map(|program| {
                program
                    .iter()
                    .flat_map(|f| {
                        let mut b = Vec::with_capacity(8);
                        b.extend(f.code.to_le_bytes());
                        b.push(f.jt);
                        b.push(f.jf);
                        b.extend(f.k.to_le_bytes());
                        b
                    })
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        let hello = serde_json::json!({ "seccomp": filters }).to_string();
        let ready = || -> Result<(), SandboxError> {
            let control = zygote.helper.control();
            send(control.as_raw_fd(), hello.as_bytes(), MsgFlags::empty())
                .map_err(|e| ctl(e.into()))?;
            let mut answer = [0u8; 16];
            wait_readable(control.as_fd(), "zygote")?;
            let n = nix::sys::socket::recv(control.as_raw_fd(), &mut answer, MsgFlags::empty())
                .map_err(|e| ctl(e.into()))?;
            if &answer[..n] != b"ready" {
                return Err(SandboxError::Setup(
                    "the zygote ended before it was ready".into(),
                ));
            }
            Ok(())
        };
        if let Err(e) = ready() {
            zygote.helper.kill();
            return Err(e);
        }
        Ok(zygote)
    }

    /// Forks a runtime into the sandbox whose PID 1 `fork.init` names. Returns the runtime's
    /// host pid once it is in the sandbox (its privileges are dropped right after).
    pub fn fork_into(&self, fork: &Fork<'_>) -> Result<u32, SandboxError> {
        let ctl = SandboxError::Control;
        let request = serde_json::to_vec(&Request {
            cgroups: fork.cgroups,
            nofile: fork.nofile,
            data_limit: fork.data_limit,
            uid: SANDBOX_UID,
            gid: SANDBOX_GID,
        })
        .map_err(|e| SandboxError::Setup(e.to_string()))?;
        let (reply, reply_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ctl(e.into()))?;
        let fds = [
            fork.init.as_raw_fd(),
            fork.stdin.as_raw_fd(),
            fork.output.as_raw_fd(),
            reply_end.as_raw_fd(),
            fork.ended.as_raw_fd(),
        ];
        {
            let control = self.helper.control();
            sendmsg::<()>(
                control.as_raw_fd(),
                &[io::IoSlice::new(&request)],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .map_err(|e| ctl(e.into()))?;
        }
        // Only the zygote's child holds the write end now: its end is our end of file.
        drop(reply_end);
        self.forks.fetch_add(1, Ordering::Relaxed);
        wait_readable(reply.as_fd(), "zygote")?;
        let mut answer = String::new();
        std::fs::File::from(reply)
            .read_to_string(&mut answer)
            .map_err(ctl)?;
        match answer.strip_prefix("ok ").map(str::parse::<u32>) {
            Some(Ok(pid)) => Ok(pid),
            _ if answer.is_empty() => Err(SandboxError::Setup(
                "the zygote ended before it forked a runtime".into(),
            )),
            _ => Err(SandboxError::Setup(format!(
                "the zygote could not fork a runtime: {}",
                answer.strip_prefix("err ").unwrap_or(&answer)
            ))),
        }
    }

    /// Runtimes forked so far.
    pub fn forks(&self) -> u64 {
        self.forks.load(Ordering::Relaxed)
    }

    /// How long ago it started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether it still runs.
    pub fn is_alive(&self) -> bool {
        self.helper.is_alive()
    }

    /// Its host pid.
    pub fn pid(&self) -> u32 {
        self.helper.pid()
    }
}

/// A pidfd of `pid`, to hand to [`Zygote::fork_into`].
pub fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it touches
    // no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The pid, inside its own pid namespace, of the process whose host pid is `host`.
pub fn pid_inside(host: u32) -> io::Result<i32> {
    let status = std::fs::read_to_string(format!("/proc/{host}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no NSpid for process {host}")))
}
