//! What the executor holds of one running sandbox: its processes (killed, frozen and
//! thawed through its cgroups or by signal), its peak memory, and what is released when it
//! ends (its cgroups, its `/tmp`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lamina_sandbox::cgroup::Cgroups;
use lamina_sandbox::scratch::Scratch;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::launcher::{EnvironmentControls, peak_rss, tree_peak_rss};

/// How far the cgroup's peak must rise before the processes' peaks are read again.
const RESCAN_AFTER_BYTES: u64 = 1024 * 1024;

#[derive(Debug)]
pub(super) struct Sandbox {
    outer: u32,
    init: u32,
    last_peak: AtomicU64,
    /// The cgroup's peak when the processes' peak was last read, and how many reads so far.
    last_raw_peak: AtomicU64,
    peak_reads: std::sync::atomic::AtomicU32,
    cgroups: Option<Cgroups>,
    /// Its `/tmp`, detached and deleted once the sandbox is gone.
    scratch: Mutex<Option<Scratch>>,
}

impl Sandbox {
    pub(super) fn new(
        outer: u32,
        init: u32,
        cgroups: Option<Cgroups>,
        scratch: Option<Scratch>,
    ) -> Self {
        Sandbox {
            outer,
            init,
            last_peak: AtomicU64::new(0),
            last_raw_peak: AtomicU64::new(0),
            peak_reads: Default::default(),
            cgroups,
            scratch: Mutex::new(scratch),
        }
    }
}

impl Sandbox {
    /// The peak as [`EnvironmentControls::peak_memory_bytes`] reads it; `full`: the
    /// processes' peaks read whatever the cgroup's did (their last reading, once they ended).
    fn read_peak(&self, full: bool) -> Option<u64> {
        let now = match &self.cgroups {
            Some(c) => {
                let raw = c.peak_memory_bytes()?;
                let nth = self.peak_reads.fetch_add(1, Ordering::Relaxed);
                let known = self.last_peak.load(Ordering::Relaxed);
                if !full
                    && known > 0
                    && raw < self.last_raw_peak.load(Ordering::Relaxed) + RESCAN_AFTER_BYTES
                    && !nth.is_multiple_of(64)
                {
                    return Some(known);
                }
                self.last_raw_peak.store(raw, Ordering::Relaxed);
                let rss: u64 = c
                    .pids()
                    .into_iter()
                    .filter(|pid| *pid != self.outer)
                    .filter_map(peak_rss)
                    .sum();
                if rss == 0 {
                    return Some(raw);
                }
                rss
            }
            None => tree_peak_rss(self.init).unwrap_or(0),
        };
        self.last_peak.fetch_max(now, Ordering::Relaxed);
        Some(self.last_peak.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }
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
        // A frozen v1 cgroup keeps its tasks, SIGKILL pending, until it is thawed.
        if let Some(c) = &self.cgroups {
            let _ = c.set_frozen(false);
        }
    }

    fn connect(&self, port: u16) -> std::io::Result<std::net::TcpStream> {
        // A socket belongs to the network namespace it was made in: it is made by a thread
        // that entered the sandbox's namespace for that alone and ends with it.
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.init))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(std::io::Error::from)?;
                    std::net::TcpStream::connect_timeout(
                        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                        Duration::from_secs(1),
                    )
                })
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the connecting thread failed")))
        })
    }

    fn doomed(&self) -> bool {
        crate::launcher::kill_pending(crate::launcher::process_tree(self.outer))
    }

    fn processes(&self) -> Vec<u32> {
        match &self.cgroups {
            Some(c) => c.pids(),
            None => crate::launcher::process_tree(self.outer),
        }
    }

    fn cpu_time(&self) -> Option<Duration> {
        match &self.cgroups {
            Some(c) => crate::launcher::cpu_time(c.pids()),
            None => crate::launcher::cpu_time(crate::launcher::process_tree(self.outer)),
        }
    }

    fn set_frozen(&self, frozen: bool) -> bool {
        if let Some(c) = self.cgroups.as_ref().filter(|c| c.can_freeze()) {
            return c.set_frozen(frozen).unwrap_or(false);
        }
        // Without a freezer: stop every process of the sandbox's tree. SIGSTOP cannot be
        // caught, and reaches the namespace's PID 1 from outside it.
        let signal = if frozen {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        let tree = crate::launcher::process_tree(self.outer);
        tree.iter()
            .filter(|pid| kill(Pid::from_raw(**pid as i32), signal).is_ok())
            .count()
            > 0
    }

    /// The function's memory: the peak resident size of the sandbox's processes (its
    /// outer `sandbox-init` aside). The cgroup's own peak also counts the page cache of the
    /// files the function wrote to its disk-backed `/tmp`, which the kernel reclaims rather
    /// than hold against the limit; it is the measure only once the processes are gone (a
    /// sandbox killed for memory).
    ///
    /// Reading every process's status costs tens of microseconds on each invocation, so it
    /// is done only when the cgroup's peak (one read) rose by a MiB since the last time, and
    /// every 64th time, in case the function's memory grew while its page cache shrank. The
    /// figure is reported in whole MB; the cgroup's peak creeps up by pages with the
    /// kernel's per-CPU charge batches and the allocator's churn, which is no growth of the
    /// function's own, and rescanning at each creep cost a scan every 20-30 invocations.
    fn peak_memory_bytes(&self) -> Option<u64> {
        self.read_peak(false)
    }

    fn final_peak_memory_bytes(&self) -> Option<u64> {
        self.read_peak(true)
    }

    fn oom_killed(&self) -> bool {
        self.cgroups.as_ref().is_some_and(Cgroups::oom_killed)
    }

    fn release(&self) {
        if let Some(c) = &self.cgroups
            && !c.remove(Duration::from_secs(2))
        {
            tracing::warn!(dirs = ?c.dirs(), "sandbox cgroups still busy; left in place");
        }
        drop(
            self.scratch
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }
}
