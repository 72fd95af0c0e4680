//! Where the server's worker and environments' runtimes run: together on one core while the
//! server serves one invocation at a time of a function of one vCPU, on every core as soon as
//! it serves more (or a function of more vCPUs).
//!
//! An invocation wakes a sleeping thread at least four times (client, server, runtime,
//! server, client). A wake-up on the waker's own core costs about 5 us on this machine kind,
//! one on another core 17-28 us (the other vCPU has halted, and is woken by an interrupt),
//! so a lone invocation goes faster when the server's worker and the runtime share a core.
//! Under load the other core's CPU matters more, so the worker and the runtimes spread.
//!
//! The binary pins its one async worker to the home core at start
//! ([`Cores::pin_here_home`]). Each time an environment is taken, this module decides where
//! the worker and that environment's processes should be, and moves them when that changed:
//! to every core at once when the invocation begins with another in flight, back home only
//! once no invocation has begun alongside another for [`QUIET`], so that a steady load of a
//! few clients never brings them home between two calls. Only each process's main thread
//! goes home: a runtime's helper threads (V8's, a JVM's) stay free to run elsewhere; every
//! thread spreads.

use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::CpuSet;
use nix::unistd::Pid;

/// How long invocations must have begun one at a time before the worker and runtimes go
/// back to the home core.
pub const QUIET: Duration = Duration::from_millis(25);

/// Where the worker or an environment's processes are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On the server's home core.
    Home,
    /// On every core the server may use.
    Spread,
}

impl Place {
    fn code(self) -> u8 {
        match self {
            Place::Home => 1,
            Place::Spread => 2,
        }
    }
}

/// The place wanted by an invocation of a function that may use `vcpus` at once, beginning
/// with `in_flight` invocations running (itself included), `since_busy_ms` after one last
/// began alongside another. A function of more than one vCPU never goes home: the processes
/// its runtime forks there would inherit the one core and never have the others it is due.
pub fn wanted(vcpus: u64, in_flight: usize, since_busy_ms: u64) -> Place {
    if vcpus <= 1 && in_flight <= 1 && since_busy_ms >= QUIET.as_millis() as u64 {
        Place::Home
    } else {
        Place::Spread
    }
}

/// The server's cores: its home (where its async worker runs) and all it may use.
#[derive(Debug, Clone)]
pub struct Cores {
    /// The core the server's async worker is pinned to.
    pub home: usize,
    /// Every core the server may use (its affinity at start).
    pub all: CpuSet,
}

impl Cores {
    /// The process's cores (its main thread's, which placement never pins, so every caller
    /// gets the same answer whichever thread it runs on), with the last of them as home;
    /// `None` with fewer than two (nothing to choose between).
    pub fn of_process() -> Option<Cores> {
        let main = Pid::from_raw(std::process::id() as i32);
        let all = nix::sched::sched_getaffinity(main).ok()?;
        let allowed: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| all.is_set(c).unwrap_or(false))
            .collect();
        if allowed.len() < 2 {
            return None;
        }
        Some(Cores {
            home: *allowed.last()?,
            all,
        })
    }

    fn set(&self, place: Place) -> CpuSet {
        match place {
            Place::Home => {
                let mut one = CpuSet::new();
                let _ = one.set(self.home);
                one
            }
            Place::Spread => self.all,
        }
    }

    /// Pins the calling thread, the server's async worker, to the home core; placement moves
    /// it from then on.
    pub fn pin_here_home(&self) -> nix::Result<()> {
        nix::sched::sched_setaffinity(Pid::from_raw(0), &self.set(Place::Home))?;
        WORKER.store(nix::unistd::gettid().as_raw(), Ordering::Relaxed);
        Ok(())
    }

    /// Lets the calling thread run on every core again (a thread inherits its creator's
    /// affinity, and threads made by the pinned worker must not stay on its core).
    pub fn unpin_here(&self) -> nix::Result<()> {
        nix::sched::sched_setaffinity(Pid::from_raw(0), &self.all)
    }
}

/// The server's async worker thread, once pinned (0 before).
static WORKER: AtomicI32 = AtomicI32::new(0);

/// The executor's side: invocations in flight, the last time one began alongside another,
/// and where the worker is.
#[derive(Debug)]
pub struct Placement {
    cores: Option<Cores>,
    in_flight: AtomicUsize,
    epoch: Instant,
    /// When an invocation last began with another in flight (ms since `epoch`; 0: never).
    busy_ms: AtomicU64,
    /// Where the worker is; it starts at home.
    worker: Placed,
}

/// Counts one invocation in flight while it lives.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicUsize, usize);

impl InFlight<'_> {
    /// Invocations in flight when this one began, itself included.
    pub fn count(&self) -> usize {
        self.1
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where the worker or one environment was put (0: nowhere yet).
#[derive(Debug, Default)]
pub struct Placed(AtomicU8);

impl Placed {
    /// Whether this is to move to `want`; if so, records it there.
    fn moves_to(&self, want: Place) -> bool {
        self.0.swap(want.code(), Ordering::Relaxed) != want.code()
    }
}

impl Placement {
    /// Placement on `cores`; `None` places nothing (one core, or turned off).
    pub fn new(cores: Option<Cores>) -> Placement {
        Placement {
            cores,
            in_flight: AtomicUsize::new(0),
            epoch: Instant::now(),
            busy_ms: AtomicU64::new(0),
            worker: Placed(AtomicU8::new(Place::Home.code())),
        }
    }

    /// Counts an invocation in flight until the guard drops.
    pub fn begin(&self) -> InFlight<'_> {
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        InFlight(&self.in_flight, n)
    }

    /// Puts the worker, and the environment whose record is `placed`, where an invocation of
    /// a function of `vcpus` beginning with `in_flight` in flight wants them, moving the main
    /// threads of `processes()` if they are elsewhere. Returns the place the environment was
    /// moved to, if it was.
    pub fn place(
        &self,
        placed: &Placed,
        vcpus: u64,
        in_flight: usize,
        processes: impl FnOnce() -> Vec<u32>,
    ) -> Option<Place> {
        let cores = self.cores.as_ref()?;
        // From 1: 0 means no invocation has begun alongside another yet.
        let now_ms = self.epoch.elapsed().as_millis() as u64 + 1;
        if in_flight >= 2 {
            self.busy_ms.store(now_ms, Ordering::Relaxed);
        }
        let busy = self.busy_ms.load(Ordering::Relaxed);
        let since_busy = if busy == 0 {
            u64::MAX
        } else {
            now_ms - busy.min(now_ms)
        };
        let want = wanted(vcpus, in_flight, since_busy);
        let set = cores.set(want);
        let worker = WORKER.load(Ordering::Relaxed);
        if worker > 0 && self.worker.moves_to(want) {
            let _ = nix::sched::sched_setaffinity(Pid::from_raw(worker), &set);
        }
        if !placed.moves_to(want) {
            return None;
        }
        for pid in processes() {
            // Home, only the main thread goes; spread, every thread, so that none a runtime
            // made while it was home stays there. A process or thread that ended meanwhile
            // is no failure; one that cannot move stays.
            let tids = match want {
                Place::Home => vec![pid],
                Place::Spread => threads_of(pid),
            };
            for tid in tids {
                let _ = nix::sched::sched_setaffinity(Pid::from_raw(tid as i32), &set);
            }
        }
        Some(want)
    }
}

/// The threads of process `pid` (itself alone when they cannot be listed).
fn threads_of(pid: u32) -> Vec<u32> {
    let listed: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect();
    if listed.is_empty() { vec![pid] } else { listed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_only_alone_and_after_a_quiet_spell() {
        let quiet = QUIET.as_millis() as u64;
        assert_eq!(wanted(1, 1, u64::MAX), Place::Home);
        assert_eq!(wanted(1, 1, quiet), Place::Home);
        // Alone, but another began alongside one a moment ago: the load may go on.
        assert_eq!(wanted(1, 1, quiet - 1), Place::Spread);
        assert_eq!(wanted(1, 2, u64::MAX), Place::Spread);
        assert_eq!(wanted(1, 8, 0), Place::Spread);
        // A function of two vCPUs keeps every core, even alone.
        assert_eq!(wanted(2, 1, u64::MAX), Place::Spread);
    }

    #[test]
    fn in_flight_counts_while_the_guard_lives() {
        let p = Placement::new(None);
        let a = p.begin();
        let b = p.begin();
        assert_eq!((a.count(), b.count()), (1, 2));
        drop(a);
        assert_eq!(p.begin().count(), 2);
        drop(b);
        assert_eq!(p.begin().count(), 1);
    }

    #[test]
    fn processes_go_home_alone_spread_at_once_and_home_again_after_quiet() {
        let Some(cores) = Cores::of_process() else {
            eprintln!("skipped: one core");
            return;
        };
        let home = cores.home;
        let p = Placement::new(Some(cores));
        let placed = Placed::default();
        // A thread of our own stands for an environment's process.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        let cores_of = || {
            let set = nix::sched::sched_getaffinity(Pid::from_raw(tid as i32)).unwrap();
            (0..CpuSet::count())
                .filter(|&c| set.is_set(c).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(p.place(&placed, 1, 1, || vec![tid]), Some(Place::Home));
        assert_eq!(cores_of(), [home]);
        // Already home: nothing moves.
        assert_eq!(p.place(&placed, 1, 1, || vec![tid]), None);
        // Another in flight: every core, at once.
        assert_eq!(p.place(&placed, 1, 2, || vec![tid]), Some(Place::Spread));
        assert!(cores_of().len() >= 2);
        // Alone again, but too soon after.
        assert_eq!(p.place(&placed, 1, 1, || vec![tid]), None);
        std::thread::sleep(QUIET + Duration::from_millis(5));
        assert_eq!(p.place(&placed, 1, 1, || vec![tid]), Some(Place::Home));
        assert_eq!(cores_of(), [home]);
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
