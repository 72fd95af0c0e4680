//! What a wake-up costs on this machine: two threads pass one byte back and forth over a
//! socket pair, pinned to the same core and then to two cores. An invocation's path wakes
//! at least four sleepers (the server by the client, the runtime by the server, the server
//! by the runtime, the client by the server), so on a VM whose idle cores halt, where a
//! wake-up on another core costs far more than one on the same core, this is a floor the
//! warm path cannot go under by code alone.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;
use serde_json::{Value, json};

fn pin(cpu: usize) -> bool {
    let mut set = CpuSet::new();
    set.set(cpu).is_ok() && sched_setaffinity(Pid::from_raw(0), &set).is_ok()
}

/// Microseconds per wake-up (half a round trip), the two threads on `cpus`.
fn per_wake_us(cpus: (usize, usize), round_trips: u32) -> Option<f64> {
    let (mut near, mut far) = UnixStream::pair().ok()?;
    let echo = std::thread::spawn(move || {
        if !pin(cpus.1) {
            return false;
        }
        let mut b = [0u8; 1];
        while far.read_exact(&mut b).is_ok() {
            if far.write_all(&b).is_err() {
                break;
            }
        }
        true
    });
    let measured = std::thread::spawn(move || {
        if !pin(cpus.0) {
            return None;
        }
        let mut b = [0u8; 1];
        // A first exchange, so that the echo thread is pinned and waiting.
        near.write_all(&b).ok()?;
        near.read_exact(&mut b).ok()?;
        let started = Instant::now();
        for _ in 0..round_trips {
            near.write_all(&b).ok()?;
            near.read_exact(&mut b).ok()?;
        }
        Some(started.elapsed().as_secs_f64() * 1e6 / f64::from(round_trips) / 2.0)
    })
    .join()
    .ok()?;
    echo.join().ok()?;
    measured
}

/// Where a KVM guest's kernel says how long an idle core polls before it halts.
const HALT_POLL: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";

/// How long this VM's idle cores poll before they halt, in ns, if it is a guest that says:
/// at 0, every wake-up of a thread on an idle core takes an interrupt to a halted core, which
/// here cost 31 us against 9 us with 200 us of polling, and Lamina's 8-client throughput
/// 13,600 against 17,800 invocations/s (the relay's 26,300 against 27,300).
fn halt_poll_ns() -> Option<u64> {
    std::fs::read_to_string(HALT_POLL).ok()?.trim().parse().ok()
}

/// The cost of a wake-up on the same core and on another (null on a single core), and the
/// VM's halt polling that decides the second.
pub fn baseline() -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({
        "same_core_us": per_wake_us((0, 0), 20_000),
        "other_core_us": if cores > 1 { per_wake_us((0, 1), 20_000) } else { None },
        "guest_halt_poll_ns": halt_poll_ns(),
    })
}
