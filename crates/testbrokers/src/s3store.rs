//! Throw-away S3-compatible stores: each [`S3Store`] runs s3s-fs (the file-system S3
//! server of the `s3s` project, built from crates.io by the test script, which names it in
//! `LAMINA_TEST_S3S_FS`) over a temporary directory, on a free loopback port, with a key
//! of its own, in a process group that is stopped when it is dropped.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, stop_group};

/// The variable that names the s3s-fs binary.
pub const S3S_FS_VAR: &str = "LAMINA_TEST_S3S_FS";

/// A running throw-away store.
#[derive(Debug)]
pub struct S3Store {
    server: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// The store's key.
pub const ACCESS_KEY: &str = "STOREKEY";
/// The store's secret.
pub const SECRET_KEY: &str = "store-secret";

impl S3Store {
    /// Starts a fresh store; panics with what went wrong if it cannot.
    pub fn start() -> S3Store {
        let binary = PathBuf::from(std::env::var(S3S_FS_VAR).unwrap_or_else(|_| {
            panic!("{S3S_FS_VAR} is not set: run the tests through scripts/test.sh, which builds s3s-fs")
        }));
        assert!(
            binary.exists(),
            "{} does not exist: run the tests through scripts/test.sh, which builds s3s-fs",
            binary.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("lamina-s3store-")
            .tempdir()
            .expect("a temporary directory");
        let root = dir.path().join("data");
        std::fs::create_dir_all(&root).expect("the store's root");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("store.log")).expect("the store's log");
        let server = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the store's log"))
            .stderr(log)
            .spawn()
            .expect("start s3s-fs");
        let mut store = S3Store {
            server: Some(server),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let log = store.log();
                store.stop();
                panic!("the throw-away S3 store did not start within 30 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        store
    }

    /// What the store wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("store.log")).unwrap_or_default()
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the store and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            stop_group(&mut server, Duration::from_secs(10));
        }
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        self.stop();
    }
}
