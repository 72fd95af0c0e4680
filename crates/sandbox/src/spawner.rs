//! The spawner: one `lamina sandbox-spawner` process per server, started once, that forks
//! sandbox inits on request, so that a sandbox costs a fork of a small process rather than
//! an exec of the whole binary. On this project's machines (VMs) an exec of `lamina` took
//! 2.3 ms and a fork of a small process 0.12 ms: the exec maps a large binary, relocates it
//! against its libraries, and runs the C library's and the crypto library's CPU probes,
//! whose `cpuid` instructions each leave the VM.
//!
//! The platform's side: [`Spawner::start`] spawns it with a `SOCK_SEQPACKET` control socket
//! as its standard input; [`Spawner::spawn`] sends one request per init, carrying the
//! init's control socket and its output pipe, and receives the init's pid. The init is
//! forked with `CLONE_PARENT`: it is the *server's* child, as an exec'd one is, so the
//! server waits for it and it watches the server as its parent. It then runs
//! [`crate::init::main`] as if just exec'd: its control socket on descriptor 0, its output
//! on 1 and 2, no other descriptor, an empty environment.
//!
//! The spawner's side, [`serve`], holds nothing but its socket: no function's code or data
//! ever passes through it. Inits forked from one spawner share its memory layout, so the
//! platform replaces it after [`Spawner::WORN`] inits or [`Spawner::MAX_AGE`], as it
//! replaces zygotes. It ends when its socket does (the server ended or replaced it); its
//! inits are not its children, so nothing keeps it.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, recv, recvmsg, send, sendmsg,
};

use crate::SandboxError;
use crate::helper::{Helper, wait_readable};

/// The subcommand under which the binary runs [`serve`].
pub const SPAWNER_SUBCOMMAND: &str = "sandbox-spawner";

/// A running spawner. Dropping it closes its control socket, and it exits.
#[derive(Debug)]
pub struct Spawner {
    helper: Helper,
    spawns: AtomicU64,
    started: Instant,
}

impl Spawner {
    /// Inits one spawner forks before it is replaced.
    pub const WORN: u64 = 256;
    /// How long one spawner serves before it is replaced.
    pub const MAX_AGE: Duration = Duration::from_secs(300);

    /// Starts the spawner (`exe sandbox-spawner`) and waits until it is ready.
    pub fn start(exe: &Path) -> Result<Spawner, SandboxError> {
        let ctl = SandboxError::Control;
        let mut cmd = Command::new(exe);
        cmd.arg(SPAWNER_SUBCOMMAND).env_clear();
        let spawner = Spawner {
            helper: Helper::spawn(cmd, "spawner-reaper")?,
            spawns: AtomicU64::new(0),
            started: Instant::now(),
        };
        let mut answer = [0u8; 8];
        let ready = {
            let control = spawner.helper.control();
            wait_readable(control.as_fd(), "spawner").and_then(|()| {
                recv(control.as_raw_fd(), &mut answer, MsgFlags::empty()).map_err(|e| ctl(e.into()))
            })
        };
        match ready {
            Ok(n) if &answer[..n] == b"ready" => Ok(spawner),
            Ok(_) => Err(SandboxError::Setup(
                "the spawner ended before it was ready".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Forks a sandbox init whose control socket is `control` (the init's end, as
    /// [`crate::launch::Control::pair`] makes it) and whose standard output and error are
    /// `output`. Returns its pid; it is this process's child.
    pub fn spawn(&self, control: OwnedFd, output: &OwnedFd) -> Result<u32, SandboxError> {
        let ctl = SandboxError::Control;
        let fds = [control.as_raw_fd(), output.as_raw_fd()];
        let mut answer = [0u8; 256];
        let n = {
            let socket = self.helper.control();
            sendmsg::<()>(
                socket.as_raw_fd(),
                &[IoSlice::new(b"init")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .map_err(|e| ctl(e.into()))?;
            self.spawns.fetch_add(1, Ordering::Relaxed);
            wait_readable(socket.as_fd(), "spawner")?;
            recv(socket.as_raw_fd(), &mut answer, MsgFlags::empty()).map_err(|e| ctl(e.into()))?
        };
        let answer = String::from_utf8_lossy(&answer[..n]);
        match answer.strip_prefix("ok ").map(str::parse::<u32>) {
            Some(Ok(pid)) => Ok(pid),
            _ if answer.is_empty() => Err(SandboxError::Setup("the spawner has ended".into())),
            _ => Err(SandboxError::Setup(format!(
                "the spawner could not fork an init: {}",
                answer.strip_prefix("err ").unwrap_or(&answer)
            ))),
        }
    }

    /// Whether it has served long enough to be replaced.
    pub fn is_worn(&self) -> bool {
        self.spawns.load(Ordering::Relaxed) >= Self::WORN || self.started.elapsed() >= Self::MAX_AGE
    }

    /// Its host pid.
    pub fn pid(&self) -> u32 {
        self.helper.pid()
    }
}

/// Entry point of `lamina sandbox-spawner`. Never returns; exits when its control socket
/// (descriptor 0) ends. Must run single-threaded: its children run on after the fork.
pub fn serve() -> ! {
    // SAFETY: the platform started us with the control socket as standard input, and nothing
    // else in this fresh process owns descriptor 0.
    let control = unsafe { OwnedFd::from_raw_fd(0) };
    if send(control.as_raw_fd(), b"ready", MsgFlags::empty()).is_err() {
        std::process::exit(1);
    }
    loop {
        let mut buf = [0u8; 16];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let received = match recvmsg::<()>(
            control.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let fds: Vec<OwnedFd> = msg
                    .cmsgs()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| match c {
                        ControlMessageOwned::ScmRights(fds) => fds,
                        _ => Vec::new(),
                    })
                    // SAFETY: descriptors received with SCM_RIGHTS are new in this process
                    // and owned by nobody else.
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                    .collect();
                (msg.bytes, fds)
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(0),
        };
        let answer = match received {
            (0, _) => std::process::exit(0),
            (_, fds) if fds.len() == 2 => fork_init(&fds[0], &fds[1]),
            _ => "err a request carries an init's control socket and its output".to_string(),
        };
        if send(control.as_raw_fd(), answer.as_bytes(), MsgFlags::empty()).is_err() {
            std::process::exit(0);
        }
    }
}

/// Forks an init, the server's child, that runs [`crate::init::main`] with `control` as its
/// standard input and `output` as its standard output and error. Returns the answer to send.
fn fork_init(control: &OwnedFd, output: &OwnedFd) -> String {
    // SAFETY: a clone without CLONE_VM is a fork: the child runs on its own copy of this
    // single-threaded process. CLONE_PARENT makes it its parent's child (the server's) and
    // SIGCHLD is what that parent receives when it ends, as for any child. Unlike libc's
    // fork, no fork handlers run (none are registered here) and libc's thread descriptor
    // keeps the spawner's thread id, which nothing the init does relies on: it takes no
    // lock owned by thread id, and libc signals its own thread by the kernel's id.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        0 => {
            rename_as_init();
            let (control, output) = (control.as_raw_fd(), output.as_raw_fd());
            // SAFETY: plain descriptor operations on descriptors this process owns; what
            // owned them (the spawner's loop) never runs again in this process, since
            // `init::main` does not return.
            let moved = unsafe {
                libc::dup2(control, 0) == 0
                    && libc::dup2(output, 1) == 1
                    && libc::dup2(output, 2) == 2
                    && libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) == 0
            };
            if !moved {
                // SAFETY: ends this process at once, as a failed exec's child would.
                unsafe { libc::_exit(crate::init::SETUP_FAILED) };
            }
            crate::init::main()
        }
        pid if pid > 0 => format!("ok {pid}"),
        _ => format!("err fork: {}", io::Error::last_os_error()),
    }
}

/// Makes this process's command line read `<exe> sandbox-init`, as an exec'd init's does, so
/// that `ps` tells inits from their spawner: the argument area is the spawner's,
/// `<exe> sandbox-spawner`, and the new name is shorter. Left as it is if it cannot be read.
fn rename_as_init() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command's name start with the state (field 3); the argument area is
    // fields 48 and 49.
    let fields: Vec<usize> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let (Some(&start), Some(&end)) = (fields.get(45), fields.get(46)) else {
        return;
    };
    if start == 0 || end <= start {
        return;
    }
    // SAFETY: [start, end) is this process's argument area, laid out by the kernel at the top
    // of its stack when the spawner was exec'd, writable, and referred to by nothing else
    // here: the standard library reads it only for `env::args`, which the init never calls.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    let Some(first) = area.iter().position(|b| *b == 0) else {
        return;
    };
    let rest = &mut area[first + 1..];
    let name = crate::INIT_SUBCOMMAND.as_bytes();
    if rest.len() > name.len() {
        rest.fill(0);
        rest[..name.len()].copy_from_slice(name);
    }
}
