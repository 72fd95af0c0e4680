//! Throw-away brokers on loopback for Lamina's tests, each a real server started from
//! what the test script installed, with every path in a temporary directory, in a process
//! group of its own that is stopped when it is dropped, so nothing outlives the test:
//! RabbitMQ (`rabbitmq`, the distribution's `rabbitmq-server`) and a Kafka-compatible
//! broker (`kafka`, tansu), and an S3-compatible store (`s3store`, s3s-fs). Never a system
//! service. `tls` makes the throw-away certificate
//! authority that TLS listeners use.

mod kafka;
mod rabbitmq;
pub mod s3store;
pub mod tls;

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

pub use kafka::Kafka;
pub use rabbitmq::RabbitMq;
pub use s3store::S3Store;

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Stops a process group: SIGTERM, then SIGKILL after `grace`.
pub(crate) fn stop_group(child: &mut Child, grace: Duration) {
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        // The group is gone once no process of it is left, not only its leader.
        if nix::sys::signal::killpg(group, None).is_err() {
            let _ = child.wait();
            return;
        }
        let _ = child.try_wait();
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}
