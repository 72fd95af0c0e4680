//! Throw-away RabbitMQ brokers: each [`RabbitMq`] runs the distribution's
//! `rabbitmq-server` with every path in a temporary directory, its AMQP listener on a free
//! loopback port, and its own Erlang port mapper (`epmd`) on another, both in process groups
//! of their own that are stopped when it is dropped, so nothing outlives the test. Never
//! the distribution's service. [`RabbitMq::start_tls`] adds an `amqps` listener with a
//! certificate of a throw-away authority ([`crate::tls`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, stop_group};

/// Where the distribution installs the broker's start script.
pub const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A running throw-away broker.
#[derive(Debug)]
pub struct RabbitMq {
    broker: Option<Child>,
    epmd: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

/// Whether an AMQP 0-9-1 server answers on `port`: the protocol header is answered with a
/// method frame (Connection.Start).
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"AMQP\x00\x00\x09\x01").is_err() {
        return false;
    }
    let mut frame = [0u8; 7];
    s.read_exact(&mut frame).is_ok() && frame[0] == 1
}

impl RabbitMq {
    /// Starts a fresh broker; panics with what went wrong if it cannot (the test script
    /// installs RabbitMQ).
    pub fn start() -> RabbitMq {
        RabbitMq::start_with(None)
    }

    /// Starts a fresh broker that also listens for `amqps` with the server certificate of
    /// `tls` (for 127.0.0.1).
    pub fn start_tls(tls: &crate::tls::Authority) -> RabbitMq {
        RabbitMq::start_with(Some(tls))
    }

    fn start_with(tls: Option<&crate::tls::Authority>) -> RabbitMq {
        assert!(
            Path::new(SERVER).exists(),
            "RabbitMQ is not installed ({SERVER}): run the tests through scripts/test.sh, which installs it"
        );
        let dir = tempfile::Builder::new()
            .prefix("lamina-rmq-")
            .tempdir()
            .expect("a temporary directory");
        let base = dir.path();
        let (port, dist, epmd_port) = (free_port(), free_port(), free_port());
        let mut conf = format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n");
        let tls_port = tls.map(|tls| {
            let tls_port = free_port();
            conf.push_str(&format!(
                "listeners.ssl.local = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                tls.ca.display(),
                tls.cert.display(),
                tls.key.display()
            ));
            tls_port
        });
        std::fs::write(base.join("rabbitmq.conf"), conf).expect("the broker's configuration");
        std::fs::write(base.join("enabled_plugins"), "[].\n").expect("the plugins file");
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd (installed with RabbitMQ's Erlang)");
        let log = std::fs::File::create(base.join("broker.log")).expect("the broker's log");
        let broker = Command::new(SERVER)
            .env("RABBITMQ_NODENAME", format!("lamina-{port}@localhost"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("RABBITMQ_BASE", base)
            .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", base.join("log"))
            .env("RABBITMQ_CONFIG_FILE", base.join("rabbitmq"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                base.join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", base.join("broker.pid"))
            .env("HOME", base)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the broker's log"))
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server");
        let mut rmq = RabbitMq {
            broker: Some(broker),
            epmd: Some(epmd),
            port,
            tls_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !answers(port) {
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(rmq.dir.path().join("broker.log")).unwrap_or_default();
                rmq.stop();
                panic!("the throw-away RabbitMQ did not start within 90 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        rmq
    }

    /// Its AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `amqps` port on 127.0.0.1, when started with TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The AMQP URL of its default virtual host, as the `guest` user.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The process group of the broker (its start script and the Erlang VM).
    pub fn group(&self) -> Option<u32> {
        self.broker.as_ref().map(Child::id)
    }

    /// Stops the broker and its epmd, and waits for them.
    pub fn stop(&mut self) {
        if let Some(mut broker) = self.broker.take() {
            stop_group(&mut broker, Duration::from_secs(20));
        }
        if let Some(mut epmd) = self.epmd.take() {
            stop_group(&mut epmd, Duration::from_secs(5));
        }
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_starts_answers_amqp_and_leaves_nothing_behind() {
        let mut rmq = RabbitMq::start();
        assert!(answers(rmq.port()), "the broker speaks AMQP 0-9-1");
        assert!(rmq.url().starts_with("amqp://guest:guest@127.0.0.1:"));
        let group = nix::unistd::Pid::from_raw(rmq.group().unwrap() as i32);
        let port = rmq.port();
        rmq.stop();
        assert!(
            nix::sys::signal::killpg(group, None).is_err(),
            "no process of the broker is left"
        );
        assert!(!answers(port), "nothing listens on its port");
    }
}
