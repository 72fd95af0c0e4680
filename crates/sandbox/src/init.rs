//! `lamina sandbox-init`: the sandbox's side. Runs single-threaded in a freshly executed
//! process whose standard input is the control socket.
//!
//! 1. Reads the [`SandboxSpec`].
//! 2. Enters a new network namespace and binds the Runtime API listener there.
//! 3. Unshares mount, pid, ipc and uts namespaces and forks the sandbox's init (PID 1).
//! 4. Sends the listener and the init's host pid back to the platform, then waits for the
//!    init and exits as it did (so the platform sees the runtime's own exit status).
//!
//! The init builds the root ([`crate::fs::build_root`]), forks the runtime, and reaps every
//! process until the runtime exits; then it exits too, which ends everything left in the
//! sandbox. The runtime drops every privilege before it execs.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork, setgroups, sethostname, setresgid, setresuid};

use crate::spec::{BUILT, SandboxSpec, Specialisation};
use crate::{EGRESS_PROXY_ADDR, RUNTIME_API_ADDR, SANDBOX_GID, SANDBOX_UID, cgroup, fs, net};

/// Exit status of the init when the sandbox could not be built.
pub(crate) const SETUP_FAILED: i32 = 125;

/// Entry point of `lamina sandbox-init`. Never returns.
pub fn main() -> ! {
    // SAFETY: the platform started us with the control socket as standard input, and nothing
    // else in this fresh process owns descriptor 0.
    let mut control = unsafe { UnixStream::from_raw_fd(0) };
    let started = std::time::Instant::now();
    let mut phases: Vec<(&str, u128)> = Vec::new();
    let mut mark = |name: &'static str| phases.push((name, started.elapsed().as_micros()));
    // First message: the cgroups to join. Joining costs a cgroup migration (milliseconds on
    // v1), so a warm pool sends it long before the spec and pays it off the invocation path.
    // Joined before anything else is started, so that every process of the sandbox is born
    // inside its cgroups.
    let cgroups: Vec<std::path::PathBuf> = match read_message(&mut control) {
        Ok(c) => c,
        Err(e) => fail(&mut control, &format!("reading the cgroups: {e}")),
    };
    // Without root, everything happens in a user namespace of our own, in which the
    // function's uid and gid (993 and 990, as on Lambda) are the server's own.
    if !nix::unistd::geteuid().is_root()
        && let Err(e) = enter_user_namespace()
    {
        fail(&mut control, &format!("user namespace: {e}"));
    }
    // This process stays out of the freezer: it must be able to act when the server dies
    // while the sandbox is frozen. The sandbox's PID 1 joins it (`sandbox_init`).
    let (freezer, limits): (Vec<_>, Vec<_>) =
        cgroups.into_iter().partition(|d| cgroup::is_freezer(d));
    if let Err(e) = cgroup::join(&limits) {
        fail(&mut control, &format!("cgroups: {e}"));
    }
    // Opened before anything else is started: the server's end is this sandbox's end.
    let server = match watch_parent() {
        Ok(fd) => fd,
        Err(e) => fail(&mut control, &format!("watching the server: {e}")),
    };
    // Opened now: once the sandbox's init pivots the shared mount namespace to its new root,
    // this process no longer sees /sys.
    let thaw = match cgroup::Thaw::open(&freezer) {
        Ok(t) => t,
        Err(e) => fail(&mut control, &format!("freezer: {e}")),
    };
    mark("cgroups");
    let listener = match net::listener_in_new_netns(RUNTIME_API_ADDR) {
        Ok(l) => l,
        Err(e) => fail(&mut control, &format!("network namespace: {e}")),
    };
    // The only way out of the namespace: an HTTP proxy served by the platform, which decides
    // what may be reached.
    let egress = match net::listener_here(EGRESS_PROXY_ADDR) {
        Ok(l) => l,
        Err(e) => fail(&mut control, &format!("egress listener: {e}")),
    };
    mark("netns");
    // Second message: what to run.
    let spec: SandboxSpec = match read_message(&mut control) {
        Ok(spec) => spec,
        Err(e) => fail(&mut control, &format!("reading the sandbox spec: {e}")),
    };
    mark("spec");
    // CLONE_NEWCGROUP: inside, /proc/self/cgroup shows "/" rather than host paths.
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    if let Err(e) = unshare(flags) {
        fail(&mut control, &format!("namespaces: {e}"));
    }
    mark("namespaces");
    // PID 1 cannot die by a signal of its own, so it reports the runtime's exact end here and
    // this process reproduces it for the platform.
    let (status_read, status_write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => fail(&mut control, &format!("pipe: {e}")),
    };
    // SAFETY: this process is single-threaded (a fresh exec that started no threads), so the
    // child may run arbitrary code after fork.
    match unsafe { fork() } {
        Err(e) => fail(&mut control, &format!("fork: {e}")),
        Ok(ForkResult::Child) => {
            drop(listener);
            drop(egress);
            drop(status_read);
            // A sandbox started without code keeps the control socket: its specialisation
            // arrives there, long after this process has answered.
            let control = spec.task_dir.is_none().then_some(control);
            drop(server);
            drop(thaw);
            sandbox_init(&spec, std::fs::File::from(status_write), control, &freezer)
        }
        Ok(ForkResult::Parent { child }) => {
            mark("fork");
            let timings: Vec<String> = phases.iter().map(|(n, us)| format!("{n}={us}")).collect();
            let reply = format!("ok {child} {}", timings.join(","));
            let fds = [listener.as_raw_fd(), egress.as_raw_fd()];
            let sent = sendmsg::<()>(
                control.as_raw_fd(),
                &[IoSlice::new(reply.as_bytes())],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            );
            drop(listener);
            drop(egress);
            drop(control);
            if sent.is_err() {
                let _ = kill(child, Signal::SIGKILL);
            }
            drop(status_write);
            follow(child, std::fs::File::from(status_read), server, &thaw)
        }
    }
}

/// One length-prefixed JSON message from the platform.
fn read_message<T: serde::de::DeserializeOwned>(control: &mut UnixStream) -> io::Result<T> {
    let mut len = [0u8; 4];
    control.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 16 * 1024 * 1024 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "spec too large"));
    }
    let mut body = vec![0u8; len];
    control.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn fail(control: &mut UnixStream, message: &str) -> ! {
    let _ = control.write_all(format!("err {message}").as_bytes());
    std::process::exit(SETUP_FAILED)
}

/// A pidfd of the process that started this one (the server), readable once it has ended.
fn watch_parent() -> io::Result<OwnedFd> {
    let parent = nix::unistd::getppid();
    let fd = pidfd_open(parent)?;
    // Started by a server that died before the pidfd was opened: our parent is now another.
    if nix::unistd::getppid() != parent {
        return Err(io::Error::other("the server has ended"));
    }
    Ok(fd)
}

fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it touches
    // no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Blocks until the sandbox's init has ended or the server has. If the server went first,
/// the sandbox is thawed and killed (its init is the pid namespace's, so all of it goes).
fn outlive_neither(child: Pid, server: &OwnedFd, thaw: &cgroup::Thaw) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let Ok(init) = pidfd_open(child) else {
        return;
    };
    loop {
        let mut fds = [
            PollFd::new(init.as_fd(), PollFlags::POLLIN),
            PollFd::new(server.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        let server_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if server_gone {
            thaw.thaw();
            let _ = kill(child, Signal::SIGKILL);
        }
        return;
    }
}

/// Waits for the sandbox's init and ends this process the way the runtime ended, as the
/// init reported it (`e<code>` or `s<signal>`), else the way the init itself ended; or ends
/// the sandbox if the server ends first.
fn follow(child: Pid, mut status: std::fs::File, server: OwnedFd, thaw: &cgroup::Thaw) -> ! {
    outlive_neither(child, &server, thaw);
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                let mut report = String::new();
                let _ = status.read_to_string(&mut report);
                if let Some(n) = report.strip_prefix('s').and_then(|n| n.parse::<i32>().ok())
                    && let Ok(signal) = Signal::try_from(n)
                {
                    die_by(signal);
                }
                if let Some(n) = report.strip_prefix('e').and_then(|n| n.parse::<i32>().ok()) {
                    std::process::exit(n);
                }
                std::process::exit(code)
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => die_by(signal),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(SETUP_FAILED),
        }
    }
}

/// Ends this process by `signal`, so that whoever waits for it sees the same cause.
fn die_by(signal: Signal) -> ! {
    // SAFETY: restoring the default disposition of a signal has no memory-safety effect.
    unsafe {
        libc::signal(signal as libc::c_int, libc::SIG_DFL);
    }
    let _ = kill(Pid::this(), signal);
    let _ = kill(Pid::this(), Signal::SIGKILL);
    std::process::exit(128 + signal as i32)
}

/// PID 1 of the sandbox. With `control`, the runtime starts without code and waits for
/// [`specialise`] to hand it over.
fn sandbox_init(
    spec: &SandboxSpec,
    mut status: std::fs::File,
    mut control: Option<UnixStream>,
    freezer: &[PathBuf],
) -> ! {
    // If the process that launched us dies, so does the sandbox.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // Into the freezer, which the launching process stays out of; then a cgroup namespace
    // of our own again, so that /proc/self/cgroup still shows "/" for it.
    if !freezer.is_empty()
        && let Err(e) = cgroup::join(freezer)
            .and_then(|()| unshare(CloneFlags::CLONE_NEWCGROUP).map_err(io::Error::from))
    {
        eprintln!("lamina sandbox: freezer cgroup: {e}");
        std::process::exit(SETUP_FAILED);
    }
    if let Err(e) = fs::build_root(spec) {
        eprintln!("lamina sandbox: {e}");
        std::process::exit(SETUP_FAILED);
    }
    let _ = sethostname(&spec.hostname);
    // A sandbox whose program comes with its code starts nothing yet.
    let runtime = if control.is_some() && spec.exec_later {
        None
    } else {
        // The runtime of a sandbox without code reads its function's environment here.
        let handoff = match control
            .as_ref()
            .map(|_| nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC))
            .transpose()
        {
            Ok(h) => h,
            Err(e) => {
                eprintln!("lamina sandbox: pipe: {e}");
                std::process::exit(SETUP_FAILED);
            }
        };
        let (read, write) = handoff.unzip();
        let pid = start_runtime(
            spec,
            &spec.program,
            &spec.args,
            &spec.env,
            read,
            &mut control,
        );
        Some((pid, write))
    };
    let runtime = match control {
        Some(mut control) => {
            // The platform waits for this before it forks a runtime into the sandbox: that
            // runtime joins the mount namespace as it is, which must be the built root.
            if control.write_all(BUILT).is_err() {
                std::process::exit(SETUP_FAILED);
            }
            specialise(control, runtime, spec, &mut status)
        }
        None => runtime.expect("started above without a control socket").0,
    };
    // Reap everything; when the runtime itself exits, the sandbox ends with it.
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(ws) => end_with_runtime(ws, runtime, &mut status),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(SETUP_FAILED),
        }
    }
}

/// Forks the runtime: it drops every privilege and execs `program`, its standard input
/// `stdin` (else `/dev/null`). The child never returns.
fn start_runtime(
    spec: &SandboxSpec,
    program: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    stdin: Option<std::os::fd::OwnedFd>,
    control: &mut Option<UnixStream>,
) -> Pid {
    // SAFETY: this process is single-threaded (forked from a single-threaded process).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(control.take());
            let e = exec_runtime(spec, program, args, env, stdin);
            eprintln!("lamina sandbox: cannot start {}: {e}", program.display());
            std::process::exit(127);
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("lamina sandbox: fork: {e}");
            std::process::exit(SETUP_FAILED);
        }
    }
}

/// Ends PID 1 the way the runtime ended, if `ws` says the runtime has ended.
fn end_with_runtime(ws: WaitStatus, runtime: Pid, status: &mut std::fs::File) {
    match ws {
        WaitStatus::Exited(pid, code) if pid == runtime => {
            let _ = status.write_all(format!("e{code}").as_bytes());
            std::process::exit(code)
        }
        WaitStatus::Signaled(pid, signal, _) if pid == runtime => {
            let _ = status.write_all(format!("s{}", signal as i32).as_bytes());
            std::process::exit(128 + signal as i32)
        }
        _ => {}
    }
}

/// Waits (reaping meanwhile) for the platform to give this sandbox its function: attaches the
/// code at `/var/task` and its layers at `/opt`, sizes `/tmp`, then either hands the environment to the runtime
/// already waiting (`runtime`, through its standard input), adopts the runtime a zygote
/// forked into the sandbox, or starts the program that came with the code, and answers `ok`. Returns the runtime's pid. Any failure ends the sandbox;
/// so does the platform closing the socket (the sandbox is no longer wanted).
fn specialise(
    control: UnixStream,
    runtime: Option<(Pid, Option<std::os::fd::OwnedFd>)>,
    spec: &SandboxSpec,
    status: &mut std::fs::File,
) -> Pid {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(control.as_fd(), PollFlags::POLLIN)];
        let ready = matches!(poll(&mut fds, PollTimeout::from(1000u16)), Ok(n) if n > 0);
        // A waiting runtime may have died: then so does the sandbox.
        while let Ok(ws) = waitpid(
            Pid::from_raw(-1),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        ) {
            if ws == WaitStatus::StillAlive {
                break;
            }
            if let Some((pid, _)) = &runtime {
                end_with_runtime(ws, *pid, status);
            }
        }
        if ready {
            break;
        }
    }
    let mut control = Some(control);
    let mut adopted = None;
    let result = (|| -> io::Result<Pid> {
        let Received {
            work,
            code,
            layers,
            tmp,
            ended,
        } = receive_specialisation(control.as_ref().expect("held until the answer"))?;
        adopted = ended;
        fs::attach_tree(&code, std::path::Path::new("/var/task"))?;
        if let Some(layers) = &layers {
            fs::attach_tree(layers, std::path::Path::new("/opt"))?;
        }
        match (&tmp, &spec.tmp_device) {
            (Some(device), _) => fs::replace_tmp(device)?,
            (None, None) => fs::resize_tmp(work.tmp_mb)?,
            // Made for this size already.
            (None, Some(_)) => {}
        }
        if let Some(beside) = &work.beside
            && (runtime.is_some() || work.adopt.is_some())
        {
            // Reaped with the rest; the runtime alone decides when the sandbox ends.
            start_runtime(
                spec,
                &beside.program,
                &beside.args,
                &work.env,
                None,
                &mut control,
            );
        }
        match runtime {
            Some((pid, handoff)) => {
                let env: serde_json::Map<String, serde_json::Value> = work
                    .env
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                let handoff = handoff.ok_or_else(|| io::Error::other("no hand-over pipe"))?;
                let mut pipe = std::fs::File::from(handoff);
                pipe.write_all(&serde_json::to_vec(&env).map_err(io::Error::other)?)?;
                Ok(pid)
            }
            None if work.adopt.is_some() => {
                let pid = Pid::from_raw(work.adopt.unwrap_or_default());
                // Forked in by a zygote, it is our child since its parent ended; one that
                // ended already was reaped above, and then there is nothing to follow.
                kill(pid, None)
                    .map_err(|e| io::Error::other(format!("the forked runtime has ended: {e}")))?;
                Ok(pid)
            }
            None => {
                let exec = work
                    .exec
                    .ok_or_else(|| io::Error::other("no program came with the code"))?;
                Ok(start_runtime(
                    spec,
                    &exec.program,
                    &exec.args,
                    &work.env,
                    None,
                    &mut control,
                ))
            }
        }
    })();
    let mut control = control.expect("held until the answer");
    match result {
        Ok(pid) => {
            let _ = control.write_all(b"ok");
            drop(control);
            if let Some(ended) = adopted {
                follow_adopted(ended, status)
            }
            pid
        }
        Err(e) => fail(&mut control, &format!("specialisation: {e}")),
    }
}

/// PID 1 of a sandbox whose runtime a zygote forked in: that runtime's parent stayed
/// outside the sandbox's pid namespace (a process joining one is never the parent of what it
/// has there), and writes how the runtime ended on `ended`. Reaps every other process until
/// then, and ends the sandbox the same way.
fn follow_adopted(ended: OwnedFd, status: &mut std::fs::File) -> ! {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signal::{SigSet, Signal as S};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    // SIGCHLD comes through a descriptor, so that one poll waits for both.
    let mut mask = SigSet::empty();
    mask.add(S::SIGCHLD);
    let sigchld = mask
        .thread_block()
        .and_then(|()| SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK));
    let Ok(sigchld) = sigchld else {
        std::process::exit(SETUP_FAILED)
    };
    let mut ended = std::fs::File::from(ended);
    loop {
        while let Ok(ws) = waitpid(
            Pid::from_raw(-1),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        ) {
            if ws == WaitStatus::StillAlive {
                break;
            }
        }
        let mut fds = [
            PollFd::new(ended.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigchld.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::process::exit(SETUP_FAILED),
        }
        while let Ok(Some(_)) = sigchld.read_signal() {}
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            let mut report = String::new();
            let _ = ended.read_to_string(&mut report);
            // A parent that ended without a word was killed, and its runtime with it.
            let report = if report.is_empty() {
                "s9".to_string()
            } else {
                report
            };
            let _ = status.write_all(report.as_bytes());
            let code = match (report.strip_prefix('e'), report.strip_prefix('s')) {
                (Some(n), _) => n.parse().unwrap_or(SETUP_FAILED),
                (_, Some(n)) => 128 + n.parse::<i32>().unwrap_or(9),
                _ => SETUP_FAILED,
            };
            std::process::exit(code)
        }
    }
}

/// The length-prefixed [`Specialisation`] with the code's mount tree beside it, the device
/// of a new `/tmp` when it says one comes, and the pipe that tells how an adopted runtime
/// ended when it adopts one.
/// What the platform sends a waiting sandbox: the work, the code's tree, and the layers'
/// tree, a new `/tmp` device and the adopted runtime's end pipe when the work says they come.
struct Received {
    work: Specialisation,
    code: OwnedFd,
    layers: Option<OwnedFd>,
    tmp: Option<OwnedFd>,
    ended: Option<OwnedFd>,
}

fn receive_specialisation(control: &UnixStream) -> io::Result<Received> {
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fds) = crate::launch::recv_with_fds(control, &mut buf)?;
    let mut fds = fds.into_iter();
    let tree = fds
        .next()
        .ok_or_else(|| io::Error::other("no code mount came with the message"))?;
    let rest: Vec<OwnedFd> = fds.collect();
    if n < 4 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the platform closed the control socket",
        ));
    }
    let len = u32::from_le_bytes(buf[..4].try_into().expect("four bytes")) as usize;
    if len > 16 * 1024 * 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too large",
        ));
    }
    let mut body = buf[4..n].to_vec();
    if body.len() < len {
        let mut rest = vec![0u8; len - body.len()];
        (&*control).read_exact(&mut rest)?;
        body.extend(rest);
    }
    body.truncate(len);
    let work: Specialisation =
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // The descriptors that follow the code's, in this order, each when the work says it comes.
    let mut rest = rest.into_iter();
    let mut next = |comes: bool, what: &str| -> io::Result<Option<OwnedFd>> {
        if !comes {
            return Ok(None);
        }
        rest.next()
            .map(Some)
            .ok_or_else(|| io::Error::other(format!("no {what} came with the message")))
    };
    let layers = next(work.layers, "layers' mount")?;
    let tmp = next(work.new_tmp, "/tmp device")?;
    let ended = next(work.adopt.is_some(), "pipe for the adopted runtime's end")?;
    Ok(Received {
        work,
        code: tree,
        layers,
        tmp,
        ended,
    })
}

/// Drops every privilege (as `spec` says) and execs `program`, its standard input `stdin`
/// (else `/dev/null`); returns only on failure.
fn exec_runtime(
    spec: &SandboxSpec,
    program: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    stdin: Option<std::os::fd::OwnedFd>,
) -> io::Error {
    if let Err(e) = harden(spec) {
        return e;
    }
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/var/task")
        .stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null))
        .exec()
}

/// Enters a new user namespace mapping uid 993 and gid 990 to our own ids. We keep every
/// capability inside it until the runtime drops them.
fn enter_user_namespace() -> io::Result<()> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    unshare(CloneFlags::CLONE_NEWUSER).map_err(io::Error::from)?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{SANDBOX_UID} {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("{SANDBOX_GID} {gid} 1"))
}

fn harden(spec: &SandboxSpec) -> io::Result<()> {
    let io = |e: nix::errno::Errno| io::Error::from(e);
    setrlimit(Resource::RLIMIT_NOFILE, spec.nofile, spec.nofile).map_err(io)?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(io)?;
    // Where no cgroup bounds memory, the data segment limit does: allocations past it fail
    // (MemoryError, a failed allocation) rather than the process being killed.
    if let Some(bytes) = spec.data_limit_bytes {
        setrlimit(Resource::RLIMIT_DATA, bytes, bytes).map_err(io)?;
    }
    // The bounding set can only be dropped while we still hold CAP_SETPCAP, so before setuid.
    caps::clear(None, caps::CapSet::Bounding).map_err(|e| io::Error::other(e.to_string()))?;
    caps::clear(None, caps::CapSet::Ambient).map_err(|e| io::Error::other(e.to_string()))?;
    let gid = Gid::from_raw(SANDBOX_GID);
    let uid = Uid::from_raw(SANDBOX_UID);
    // In our own user namespace we are uid 993 already, and setgroups is denied there.
    if nix::unistd::getuid() != uid {
        setgroups(&[]).map_err(io)?;
        setresgid(gid, gid, gid).map_err(io)?;
        setresuid(uid, uid, uid).map_err(io)?;
    }
    for set in [
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
        caps::CapSet::Inheritable,
    ] {
        caps::clear(None, set).map_err(|e| io::Error::other(e.to_string()))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(io)?;
    crate::seccomp::install()
}
