//! Throw-away PostgreSQL servers for tests: each [`Postgres`] is a fresh cluster made with
//! the distribution's `initdb` in a temporary directory, served by its own `postgres`
//! process on a free loopback port (and a socket in that directory), with durability off
//! for speed, and stopped by its process id when dropped. Never the distribution's service.
//!
//! As root, the server runs as the `postgres` user the package creates (PostgreSQL refuses
//! to run as root); otherwise as the current user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running throw-away server.
#[derive(Debug)]
pub struct Postgres {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where the distribution keeps PostgreSQL's programs: the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The uid and gid to run the server as: the `postgres` user as root, else none.
fn run_as() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres").ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

fn command(bin: &Path, program: &str, user: Option<(u32, u32)>) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    }
}

/// Starts `postgres` on the cluster in `dir/data`, listening on `port` and a socket in `dir`,
/// durability off.
fn spawn(bin: &Path, user: Option<(u32, u32)>, dir: &Path, port: u16) -> Child {
    command(bin, "postgres", user)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=32MB",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Postgres {
    /// Starts a fresh server; panics with what went wrong if it cannot (the test script
    /// installs PostgreSQL).
    pub fn start() -> Postgres {
        let bin = bin_dir().expect(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin): run the tests through \
             scripts/test.sh, which installs it",
        );
        let user = run_as();
        let dir = tempfile::Builder::new()
            .prefix("lamina-pg-")
            .tempdir()
            .expect("a temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("the data directory");
        if let Some((uid, gid)) = user {
            for p in [dir.path(), &data] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let out = command(&bin, "initdb", user)
            .args([
                "-U",
                "lamina",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = spawn(&bin, user, dir.path(), port);
        let pg = Postgres {
            child: Some(child),
            port,
            dir,
        };
        pg.wait_ready(&bin, user);
        pg
    }

    fn wait_ready(&self, bin: &Path, user: Option<(u32, u32)>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = command(bin, "pg_isready", user)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "lamina",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the throw-away PostgreSQL did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for the database `postgres`.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// A connection URL for `database`.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://lamina@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        let bin = bin_dir().expect("PostgreSQL");
        let user = run_as();
        let child = spawn(&bin, user, self.dir.path(), self.port);
        self.child = Some(child);
        self.wait_ready(&bin, user);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_and_stops() {
        let mut pg = Postgres::start();
        let addr = format!("127.0.0.1:{}", pg.port());
        assert!(std::net::TcpStream::connect(&addr).is_ok());
        let pid = pg.pid();
        pg.stop();
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err(),
            "the server is gone"
        );
    }
}
