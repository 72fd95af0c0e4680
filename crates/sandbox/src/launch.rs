//! The platform's side of a sandbox: spawn `lamina sandbox-init` with a control socket on its
//! standard input, send the [`SandboxSpec`], and receive the Runtime API listener that the
//! sandbox created inside its own network namespace, with the host pid of the sandbox's init.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::INIT_SUBCOMMAND;
use crate::spec::{SandboxSpec, Specialisation};

/// Why a sandbox could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The control socket failed (the init died or never answered).
    #[error("sandbox control channel: {0}")]
    Control(#[source] io::Error),
    /// The init refused or failed to set the sandbox up.
    #[error("sandbox set-up failed: {0}")]
    Setup(String),
}

/// The platform's end of a sandbox's control socket.
#[derive(Debug)]
pub struct Control(UnixStream);

/// A started sandbox.
#[derive(Debug)]
pub struct Launched {
    /// The Runtime API listener, bound inside the sandbox's network namespace.
    pub listener: TcpListener,
    /// The egress proxy listener, bound in the same namespace.
    pub egress: TcpListener,
    /// Host pid of the sandbox's init (PID 1 inside); killing it ends the whole sandbox.
    pub init_pid: u32,
    /// Microseconds since the init started at which each set-up phase ended (`spec`,
    /// `cgroups`, `netns`, `namespaces`, `fork`).
    pub phases: Vec<(String, u64)>,
}

/// The command that re-executes `exe` as the sandbox init, with the control socket as its
/// standard input. The caller sets stdout/stderr, spawns it, then calls
/// [`Control::handshake`].
pub fn prepare(exe: &Path) -> io::Result<(Command, Control)> {
    let (ours, theirs) = UnixStream::pair()?;
    let mut command = Command::new(exe);
    command
        .arg(INIT_SUBCOMMAND)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)));
    Ok((command, Control(ours)))
}

impl Control {
    /// A control socket for an init that [`crate::Spawner`] forks: ours, and the init's end
    /// to hand to [`crate::Spawner::spawn`].
    pub fn pair() -> io::Result<(Control, OwnedFd)> {
        let (ours, theirs) = UnixStream::pair()?;
        Ok((Control(ours), OwnedFd::from(theirs)))
    }

    /// Sends the first message: the cgroups the sandbox joins before anything else. The
    /// sandbox then joins them and prepares its network namespace while it waits for
    /// [`handshake`](Control::handshake).
    pub fn start(&mut self, cgroups: &[PathBuf]) -> Result<(), SandboxError> {
        send(&mut self.0, cgroups)
    }

    /// Once the command is spawned (and dropped, so that our copy of its end is closed):
    /// sends the spec and waits for the sandbox to be ready.
    pub fn handshake(mut self, spec: &SandboxSpec) -> Result<Launched, SandboxError> {
        launch(&mut self.0, spec)
    }

    /// Like [`handshake`](Control::handshake), for a spec without code (`task_dir: None`):
    /// the runtime starts and waits, and the sandbox becomes a function's environment when
    /// [`Deferred::specialise`] is called. Returns once the sandbox's root is built (and its
    /// runtime started). Dropping the [`Deferred`] ends the sandbox.
    pub fn prestart(mut self, spec: &SandboxSpec) -> Result<(Launched, Deferred), SandboxError> {
        if spec.task_dir.is_some() {
            return Err(SandboxError::Setup(
                "a pre-started runtime is started without code".into(),
            ));
        }
        let launched = launch(&mut self.0, spec)?;
        // The init answers once it has forked PID 1; PID 1 says when the root is built.
        let mut built = [0u8; crate::spec::BUILT.len()];
        self.0.read_exact(&mut built).map_err(|_| {
            SandboxError::Setup("the sandbox ended before its root was built".into())
        })?;
        if built != crate::spec::BUILT {
            return Err(SandboxError::Setup(format!(
                "unexpected word from the sandbox: {:?}",
                String::from_utf8_lossy(&built)
            )));
        }
        Ok((launched, Deferred(self.0)))
    }
}

/// A sandbox whose runtime is running without code, waiting for its function.
#[derive(Debug)]
pub struct Deferred(UnixStream);

impl Deferred {
    /// Gives the waiting sandbox its function: the code (a tree from
    /// [`crate::fs::clone_tree`], attached read-only at `/var/task`), its layers (`layers`,
    /// another such tree, attached at `/opt`; `work.layers` says it comes), the size of
    /// `/tmp`, and the environment, which the runtime reads from its standard input. Returns
    /// once the sandbox has done all of it.
    ///
    /// `tmp`, when given, is an open loop device holding a new `/tmp` (`work.new_tmp`);
    /// `ended`, for a runtime forked in (`work.adopt`), the pipe on which its parent tells how
    /// it ended ([`crate::zygote`]).
    pub fn specialise(
        mut self,
        work: &Specialisation,
        code: OwnedFd,
        layers: Option<OwnedFd>,
        tmp: Option<&std::fs::File>,
        ended: Option<&OwnedFd>,
    ) -> Result<(), SandboxError> {
        let ctl = SandboxError::Control;
        if work.layers != layers.is_some() {
            return Err(SandboxError::Setup(
                "layers announced and layers given disagree".into(),
            ));
        }
        let body = serde_json::to_vec(work).map_err(|e| SandboxError::Setup(e.to_string()))?;
        let len = (body.len() as u32).to_le_bytes();
        let mut fds = vec![code.as_raw_fd()];
        fds.extend(layers.as_ref().map(|l| l.as_raw_fd()));
        fds.extend(tmp.map(|t| t.as_raw_fd()));
        fds.extend(ended.map(|e| e.as_raw_fd()));
        let sent = sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&len), IoSlice::new(&body)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| ctl(e.into()))?;
        // A stream socket may take less than everything at once; the descriptor went with
        // the first byte.
        let whole = [&len[..], &body[..]].concat();
        if sent < whole.len() {
            self.0.write_all(&whole[sent..]).map_err(ctl)?;
        }
        drop(code);
        drop(layers);
        self.0
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(ctl)?;
        let mut reply = String::new();
        self.0.read_to_string(&mut reply).map_err(ctl)?;
        match reply.as_str() {
            "ok" => Ok(()),
            "" => Err(SandboxError::Setup(
                "the pre-started sandbox ended before it was specialised".into(),
            )),
            other => Err(SandboxError::Setup(
                other.strip_prefix("err ").unwrap_or(other).to_string(),
            )),
        }
    }
}

/// Sends `spec` over `control` and receives the listener and the init's pid.
fn launch(control: &mut UnixStream, spec: &SandboxSpec) -> Result<Launched, SandboxError> {
    let ctl = SandboxError::Control;
    control
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(ctl)?;
    send(control, spec)?;

    let mut buf = [0u8; 4096];
    let (n, mut fds) = recv_with_fds(control, &mut buf).map_err(ctl)?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    if n == 0 {
        let mut rest = String::new();
        let _ = control.read_to_string(&mut rest);
        return Err(SandboxError::Setup(
            "the sandbox init exited before it was ready".into(),
        ));
    }
    if let Some(message) = reply.strip_prefix("err ") {
        return Err(SandboxError::Setup(message.to_string()));
    }
    let mut words = reply
        .strip_prefix("ok ")
        .unwrap_or_default()
        .split_whitespace();
    let pid = words
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .ok_or_else(|| {
            SandboxError::Setup(format!(
                "unexpected answer from the sandbox init: {reply:?}"
            ))
        })?;
    if fds.len() != 2 {
        return Err(SandboxError::Setup(format!(
            "the sandbox init sent {} listeners, not 2",
            fds.len()
        )));
    }
    let egress = TcpListener::from(fds.pop().expect("two descriptors"));
    let listener = TcpListener::from(fds.pop().expect("two descriptors"));
    listener.set_nonblocking(true).map_err(ctl)?;
    egress.set_nonblocking(true).map_err(ctl)?;
    let phases = words
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect();
    Ok(Launched {
        listener,
        egress,
        init_pid: pid,
        phases,
    })
}

/// One message from `socket` into `buf`, with the descriptors (at most three) passed along
/// with it; they are close-on-exec.
pub(crate) fn recv_with_fds(
    socket: &UnixStream,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 3]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raws) = c {
            for raw in raws {
                // SAFETY: the kernel just installed this descriptor in our table for us.
                fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
    }
    Ok((msg.bytes, fds))
}

/// One length-prefixed JSON message to the sandbox.
fn send<T: serde::Serialize + ?Sized>(
    control: &mut UnixStream,
    value: &T,
) -> Result<(), SandboxError> {
    let body = serde_json::to_vec(value).map_err(|e| SandboxError::Setup(e.to_string()))?;
    control
        .write_all(&(body.len() as u32).to_le_bytes())
        .map_err(SandboxError::Control)?;
    control.write_all(&body).map_err(SandboxError::Control)
}
