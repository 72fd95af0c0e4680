//! A helper process the platform starts once and drives over a `SOCK_SEQPACKET` socket on
//! its standard input: a zygote ([`crate::zygote`]) or the spawner ([`crate::spawner`]).
//! Dropping the handle closes the socket, which ends the helper; it is reaped on a thread of
//! its own, since it may outlive the handle (a zygote waits for the runtimes it forked).

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::SandboxError;

/// How long a helper may take to start or to answer.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A running helper.
#[derive(Debug)]
pub(crate) struct Helper {
    child: Mutex<Option<Child>>,
    // A request and its answer (or its descriptors) are one exchange: the lock keeps them
    // together.
    control: Mutex<OwnedFd>,
    /// What its reaper thread is called.
    reaper: &'static str,
}

impl Helper {
    /// Spawns `cmd` with the helper's end of a new control socket as its standard input and
    /// no standard output. No parent-death signal: it would follow the spawning thread, not
    /// this process; the helper ends when its control socket does, which this process's end
    /// closes.
    pub(crate) fn spawn(mut cmd: Command, reaper: &'static str) -> Result<Helper, SandboxError> {
        let ctl = SandboxError::Control;
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| ctl(e.into()))?;
        cmd.stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().map_err(ctl)?;
        // With it goes our copy of the helper's end.
        drop(cmd);
        Ok(Helper {
            child: Mutex::new(Some(child)),
            control: Mutex::new(ours),
            reaper,
        })
    }

    /// The control socket, for one exchange.
    pub(crate) fn control(&self) -> MutexGuard<'_, OwnedFd> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it still runs.
    pub(crate) fn is_alive(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Its host pid.
    pub(crate) fn pid(&self) -> u32 {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.as_ref().map_or(0, Child::id)
    }

    /// Ends it at once, and waits for it.
    pub(crate) fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let control = self.control.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = nix::sys::socket::shutdown(control.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut child) = child {
            let _ = std::thread::Builder::new()
                .name(self.reaper.into())
                .spawn(move || child.wait());
        }
    }
}

/// Waits until `fd` is readable (or at its end), at most [`PATIENCE`]; `who` names the
/// helper in the error.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, who: &str) -> Result<(), SandboxError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SandboxError::Setup(format!("the {who} did not answer")));
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(SandboxError::Control(e.into())),
        }
    }
}
