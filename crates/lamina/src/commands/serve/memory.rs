//! The server process's own memory with glibc's allocator: large buffers kept out of the
//! heap, and freed heap memory handed back to the system once the server goes quiet.
//!
//! glibc keeps what a thread frees in that thread's arena for the next allocation. After a
//! burst (thousands of invocations in flight, 8 clients at full speed), pages the server no
//! longer uses stay resident: about 3 MiB of a 20-25 MiB server after bursts of 64 cold
//! starts, in our measures.
//! `malloc_trim` gives every free page back, but it takes each arena's lock while it walks
//! it, so it runs only when the server has been quiet for a while, once per quiet spell.

use std::time::Duration;

use anyhow::Context;

/// How often the server's CPU time is looked at.
const TICK: Duration = Duration::from_secs(2);
/// A tick in which the server used less CPU than this is quiet (2.5% of one core; the
/// housekeeping of idle environments alone stays well under it).
const QUIET: Duration = Duration::from_millis(50);

/// Sets the allocator up for a long-lived server; called before any thread starts, since
/// glibc fixes its number of arenas when the second one is made.
///
/// - Large buffers (code packages of tens of MB, 6 MB payloads) stay out of the heap. glibc
///   raises its mmap threshold to the size of each large block freed, up to 32 MiB, so after
///   one deployment of a big package later ones land in the heap and stay there once freed:
///   a server that served a few 60 MB deployments kept 90 MiB instead of 11. A fixed
///   threshold turns that adjustment off and hands such buffers back as soon as they are
///   freed.
/// - At most two arenas per core, not glibc's eight: a burst of launches runs on dozens of
///   blocking threads, each of which would otherwise get an arena of its own and keep its
///   free pages. After the full bench the server held 28.2 MiB instead of 29.8 (one run
///   each), with the same throughput.
pub fn prepare_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = i32::try_from(2 * cores).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes allocator parameters and takes glibc's arena locks,
        // so it is safe beside other threads; a refusal (returns 0) leaves the default.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// How long a blocking thread (a launch, a file operation) waits idle for more work before
/// it ends.
pub const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// What all SQLite connections of the server (functions, schedules and rules, SQS, S3's
/// objects, the event queue, metric history) may hold together. Their fixed part (schemas,
/// statements, lookaside) is about 1.1 MiB; each connection's page cache would otherwise
/// keep up to 2 MiB of what its busiest moment read: 5.3 MiB in all, measured in a server
/// after the bench's S3 and SQS load.
const SQLITE_HEAP: u64 = 3 << 20;

/// Bounds the SQLite connections' heap ([`SQLITE_HEAP`]).
pub fn bound_sqlite_caches() -> anyhow::Result<()> {
    lamina_store::bound_sqlite_heap(SQLITE_HEAP).context("bounding SQLite's memory")
}

/// The CPU time this process has used so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let t = |v: nix::sys::time::TimeVal| {
            Duration::new(v.tv_sec().max(0) as u64, v.tv_usec().max(0) as u32 * 1000)
        };
        t(u.user_time()) + t(u.system_time())
    })
}

/// Whether the heap should be trimmed now: the tick was quiet and the server was busy
/// since the last trim. Updates `busy`.
fn should_trim(used: Duration, busy: &mut bool) -> bool {
    if used >= QUIET {
        *busy = true;
        return false;
    }
    std::mem::take(busy)
}

/// Gives free heap pages back to the system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks, so it is safe beside other
    // threads that allocate; it only releases pages no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims the heap once after each busy spell, when the server has gone quiet.
pub fn give_back_freed_memory_when_quiet() {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        let mut last = cpu_time();
        let mut busy = false;
        loop {
            ticks.tick().await;
            let now = cpu_time();
            let used = now.saturating_sub(last);
            last = now;
            if should_trim(used, &mut busy) {
                let _ = tokio::task::spawn_blocking(trim).await;
                // The trim's own CPU does not make the next tick busy.
                last = cpu_time();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_is_trimmed_once_per_quiet_spell_after_work() {
        let mut busy = false;
        let quiet = Duration::from_millis(5);
        let working = Duration::from_millis(400);
        assert!(!should_trim(quiet, &mut busy), "nothing was done yet");
        assert!(!should_trim(working, &mut busy), "not while working");
        assert!(!should_trim(working, &mut busy));
        assert!(
            should_trim(quiet, &mut busy),
            "the first quiet tick after work"
        );
        assert!(!should_trim(quiet, &mut busy), "once per quiet spell");
        assert!(!should_trim(quiet, &mut busy));
        assert!(!should_trim(working, &mut busy));
        assert!(should_trim(quiet, &mut busy), "again after the next work");
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu_time() > before, "{x}");
    }
}
