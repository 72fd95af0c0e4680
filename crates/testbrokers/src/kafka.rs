//! Throw-away Kafka-compatible brokers: each [`Kafka`] runs tansu (built from crates.io by
//! the test script, which names it in `LAMINA_TEST_TANSU`) with its storage in memory and
//! its listener on a free loopback port, in a process group of its own that is stopped
//! when it is dropped. Debian packages no Kafka; tansu speaks Kafka's protocol, consumer
//! groups and offset commits included, to any Kafka client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, stop_group};

/// The variable that names the tansu binary.
pub const TANSU_VAR: &str = "LAMINA_TEST_TANSU";

/// A running throw-away broker.
#[derive(Debug)]
pub struct Kafka {
    broker: Option<Child>,
    port: u16,
    binary: PathBuf,
    dir: tempfile::TempDir,
}

/// Whether a Kafka broker answers on `port`: an ApiVersions request (version 0) gets a
/// response carrying its correlation id.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // size, api key 18 (ApiVersions), version 0, correlation id 7, no client id.
    let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
    if s.write_all(&request).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head[4..8] == [0, 0, 0, 7]
}

impl Kafka {
    /// Starts a fresh broker; panics with what went wrong if it cannot (the test script
    /// builds tansu and names it in `LAMINA_TEST_TANSU`).
    pub fn start() -> Kafka {
        let binary = PathBuf::from(std::env::var(TANSU_VAR).unwrap_or_else(|_| {
            panic!(
                "{TANSU_VAR} is not set: run the tests through scripts/test.sh, which builds tansu"
            )
        }));
        assert!(
            binary.exists(),
            "{} does not exist: run the tests through scripts/test.sh, which builds tansu",
            binary.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("lamina-kafka-")
            .tempdir()
            .expect("a temporary directory");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("broker.log")).expect("the broker's log");
        let broker = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--cluster-id", &format!("lamina-{port}")])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the broker's log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        let mut kafka = Kafka {
            broker: Some(broker),
            port,
            binary,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !answers(port) {
            if Instant::now() > deadline {
                let log = kafka.log();
                kafka.stop();
                panic!("the throw-away Kafka broker did not start within 30 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kafka
    }

    /// What the broker wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// Its listener on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its bootstrap server, `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions (tansu's own topic command).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(&self.binary)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string(), topic])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "creating topic {topic}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The process group of the broker.
    pub fn group(&self) -> Option<u32> {
        self.broker.as_ref().map(Child::id)
    }

    /// Stops the broker and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut broker) = self.broker.take() {
            stop_group(&mut broker, Duration::from_secs(10));
        }
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_starts_answers_kafka_and_leaves_nothing_behind() {
        let mut kafka = Kafka::start();
        assert!(answers(kafka.port()), "the broker speaks Kafka's protocol");
        kafka.create_topic("smoke", 2);
        let group = nix::unistd::Pid::from_raw(kafka.group().unwrap() as i32);
        let port = kafka.port();
        kafka.stop();
        assert!(
            nix::sys::signal::killpg(group, None).is_err(),
            "no process of the broker is left"
        );
        assert!(!answers(port), "nothing listens on its port");
    }
}
