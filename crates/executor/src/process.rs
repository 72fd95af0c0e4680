//! An environment's process as the executor holds it: one the server spawned itself
//! (tokio's `Child`), or a sandbox init that the spawner forked for it
//! ([`lamina_sandbox::Spawner`]), which is the server's child all the same (born with
//! `CLONE_PARENT`) but unknown to tokio, so it is waited for through a pidfd. Either is
//! killed when dropped unwaited, and reaped.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use tokio::io::unix::AsyncFd;

/// An environment's process.
#[derive(Debug)]
pub enum Process {
    /// Spawned by the server (killed on drop by tokio, which also reaps it).
    Spawned(tokio::process::Child),
    /// Forked for the server by the spawner.
    Forked(Forked),
}

impl From<tokio::process::Child> for Process {
    fn from(child: tokio::process::Child) -> Process {
        Process::Spawned(child)
    }
}

impl Process {
    /// A child of this process, forked by another (the spawner): `pid` must be this
    /// process's child and not yet waited for, so that the pid still names it. Needs a
    /// tokio runtime.
    pub fn forked(pid: u32) -> io::Result<Process> {
        let pidfd = lamina_sandbox::zygote::pidfd(pid)?;
        // SAFETY: an OwnedFd is a valid open descriptor that always reports the same fd and
        // stays open until the AsyncFd that owns it is dropped.
        let pidfd =
            unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)?;
        Ok(Process::Forked(Forked {
            pid,
            pidfd: Some(pidfd),
        }))
    }

    /// Its pid, until it has been waited for.
    pub fn id(&self) -> Option<u32> {
        match self {
            Process::Spawned(c) => c.id(),
            Process::Forked(f) => f.pidfd.is_some().then_some(f.pid),
        }
    }

    /// Waits until it has ended, and reaps it.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Process::Spawned(c) => c.wait().await,
            Process::Forked(f) => f.wait().await,
        }
    }

    /// Sends it SIGKILL, without waiting.
    pub fn start_kill(&mut self) -> io::Result<()> {
        match self {
            Process::Spawned(c) => c.start_kill(),
            Process::Forked(f) => f.kill(),
        }
    }
}

/// A child forked for this process by another, waited for through its pidfd.
#[derive(Debug)]
pub struct Forked {
    pid: u32,
    /// `None` once reaped.
    pidfd: Option<AsyncFd<OwnedFd>>,
}

impl Forked {
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        let Some(pidfd) = &self.pidfd else {
            return Err(io::Error::other("the process was already waited for"));
        };
        loop {
            // A pidfd is readable once its process has ended.
            let mut ready = pidfd.readable().await?;
            match reap(pidfd.get_ref())? {
                Some(status) => {
                    self.pidfd = None;
                    return Ok(status);
                }
                None => ready.clear_ready(),
            }
        }
    }

    fn kill(&self) -> io::Result<()> {
        if self.pidfd.is_none() {
            return Ok(());
        }
        // Not reaped, so the pid still names it (a zombie at worst).
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), Signal::SIGKILL)
            .map_err(io::Error::from)
    }
}

/// Reaps the process of `pidfd` if it has ended: its exit status, or `None` while it runs.
fn reap(pidfd: &OwnedFd) -> io::Result<Option<ExitStatus>> {
    match waitid(
        Id::PIDFd(pidfd.as_fd()),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
    ) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::from_raw((code & 0xff) << 8))),
        Ok(WaitStatus::Signaled(_, signal, core)) => Ok(Some(ExitStatus::from_raw(
            signal as i32 | if core { 0x80 } else { 0 },
        ))),
        Ok(_) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        let Some(pidfd) = self.pidfd.take() else {
            return;
        };
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        // Reaped once it has ended, which a killed sandbox init does at once (it stays out
        // of the freezer).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    while let Ok(mut ready) = pidfd.readable().await {
                        match reap(pidfd.get_ref()) {
                            Ok(None) => ready.clear_ready(),
                            _ => return,
                        }
                    }
                });
            }
            Err(_) => {
                let fd = pidfd.into_inner();
                let _ = std::thread::Builder::new()
                    .name("init-reaper".into())
                    .spawn(move || waitid(Id::PIDFd(fd.as_fd()), WaitPidFlag::WEXITED));
            }
        }
    }
}
