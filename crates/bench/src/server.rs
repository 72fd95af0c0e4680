//! The servers the bench starts: `lamina serve` in a temporary data directory, on a free
//! loopback port, found through the server's machine-readable readiness line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// A server the bench started, stopped when dropped.
pub struct OwnServer {
    pub child: Child,
    pub _dir: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `lamina serve` (the binary `lamina`) with `isolation` and the `extra` flags, and
/// returns it, its endpoint and its pid once it says it is ready.
pub fn start_server(
    lamina: &Path,
    isolation: &str,
    extra: &[&str],
) -> anyhow::Result<(OwnServer, String, u32)> {
    let dir = tempfile::tempdir()?;
    // Standard output and error share one pipe: the banner (stderr) comes before the
    // readiness line (stdout), in order.
    let (reader, writer) = std::io::pipe()?;
    let mut command = Command::new(lamina);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--isolation",
            isolation,
            "--data-dir",
        ])
        .arg(dir.path())
        .args(extra)
        .env("LAMINA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let child = command
        .spawn()
        .with_context(|| format!("starting {} serve", lamina.display()))?;
    drop(command);
    let server = OwnServer { child, _dir: dir };
    let mut lines = BufReader::new(reader).lines();
    let mut endpoint = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(isolation) = line.strip_prefix("  isolation:") {
            eprintln!("server:{isolation}");
        }
        let ready: Option<serde_json::Value> = serde_json::from_str(&line).ok();
        if let Some(ready) = ready.filter(|v| v["lamina"] == "ready") {
            endpoint = ready["endpoint"].as_str().map(String::from);
            break;
        }
    }
    // Keep draining the server's output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let pid = server.child.id();
    let endpoint = endpoint.context("the server stopped before it was ready")?;
    Ok((server, endpoint, pid))
}
