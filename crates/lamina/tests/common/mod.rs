//! Shared test harness: starts the real `lamina serve` binary on a free loopback port with a
//! fresh data directory, and helpers to build packages and call the API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-role";

/// A running server.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub output: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[], None)
    }

    /// Starts with extra flags, on `data_dir` (or a fresh temporary one).
    pub fn start_with(args: &[&str], data_dir: Option<&Path>) -> Server {
        let (tmp, dir) = match data_dir {
            Some(d) => (None, d.to_path_buf()),
            None => {
                let t = tempfile::tempdir().unwrap();
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        Server::spawn(Command::new(env!("CARGO_BIN_EXE_lamina")), args, dir, tmp)
    }

    /// Starts with extra flags and environment variables, on a fresh data directory.
    #[allow(dead_code)]
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().to_path_buf();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lamina"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::spawn(cmd, args, d, Some(t))
    }

    /// Starts the server as the unprivileged user `nobody` (uid 65534), from a copy of the
    /// binary in a directory anyone can read, with a data directory it owns.
    pub fn start_unprivileged(args: &[&str]) -> Server {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = t.path().join("lamina");
        std::fs::copy(env!("CARGO_BIN_EXE_lamina"), &bin).unwrap();
        let data = t.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        Server::spawn(cmd, args, data, Some(t))
    }

    fn spawn(
        mut command: Command,
        args: &[&str],
        dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
    ) -> Server {
        // Standard output and error share one pipe, so the banner (on stderr) is read, in
        // order, before the readiness line (on stdout) that ends the start.
        let (reader, writer) = std::io::pipe().expect("pipe");
        let child = command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(args)
            .env("LAMINA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(writer.try_clone().expect("pipe"))
            .stderr(writer)
            .spawn()
            .expect("start lamina serve");
        // The parent's ends of the pipe's writer are closed once `command` is dropped.
        drop(command);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let ready = serde_json::from_str::<Value>(&line)
                    .ok()
                    .filter(|v| v["lamina"] == "ready")
                    .and_then(|v| v["endpoint"].as_str().map(String::from));
                match ready {
                    Some(endpoint) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(endpoint);
                        }
                    }
                    None => out.lock().unwrap().push(line),
                }
            }
        });
        let endpoint = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("server did not start: {:?}", output.lock().unwrap()));
        Server {
            child: Some(child),
            endpoint,
            data_dir: dir,
            _tmp: tmp,
            output,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        send_signal(child.id(), signal);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not stop after SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output_text(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Creates a function from files; panics unless it answers 201.
    pub async fn create(
        &self,
        name: &str,
        runtime: &str,
        handler: &str,
        files: &[(&str, &str, u32)],
    ) -> Value {
        self.create_with(json!({
            "FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": ROLE,
            "Code": {"ZipFile": b64(&zip(files))},
        }))
        .await
    }

    /// Creates a python3.11 function whose `app.py` is `code`, handler `app.handler`.
    pub async fn python(&self, name: &str, code: &str) -> Value {
        self.create(
            name,
            "python3.11",
            "app.handler",
            &[("app.py", code, 0o644)],
        )
        .await
    }

    pub async fn create_with(&self, body: Value) -> Value {
        let (status, _, resp) = self.post_json("/2015-03-31/functions", &body).await;
        assert_eq!(status, 201, "create failed: {resp}");
        resp
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put_json(
        &self,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        split(resp).await
    }

    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        split(resp).await
    }

    pub async fn delete(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self.http.delete(self.url(path)).send().await.unwrap();
        split(resp).await
    }

    /// Invokes `name` once with `event`; returns the answer and what its cold start had
    /// started ahead ([`prestarted`], empty when warm).
    pub async fn first_invoke(&self, name: &str, event: &Value) -> (Value, String) {
        let (status, h, body) = self.invoke_raw(name, event.to_string(), &[]).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let ahead = prestarted(&h).unwrap_or_default();
        (serde_json::from_slice(&body).unwrap_or(Value::Null), ahead)
    }

    /// Creates functions from `body(name)` until one's cold start is served by a pre-started
    /// runtime (the pool fills in the background after the first function of a runtime
    /// appears); returns that function's name and its first answer.
    pub async fn claim_prestarted(
        &self,
        prefix: &str,
        body: impl Fn(&str) -> Value,
    ) -> (String, Value) {
        for i in 0..40 {
            let name = format!("{prefix}-{i}");
            self.create_with(body(&name)).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            let (out, ahead) = self.first_invoke(&name, &json!({})).await;
            if ahead == "runtime" {
                return (name, out);
            }
        }
        panic!(
            "no cold start of {prefix} was served by a pre-started runtime\n{}",
            self.output_text()
        );
    }

    /// Invokes with a raw body and headers; returns status, headers and body bytes.
    pub async fn invoke_raw(
        &self,
        name: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self
            .http
            .post(self.url(&format!("/2015-03-31/functions/{name}/invocations")))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        (status, h, resp.bytes().await.unwrap().to_vec())
    }

    /// Invokes with JSON and the log tail; returns the parsed result.
    pub async fn invoke(&self, name: &str, payload: Value) -> Invoked {
        let (status, h, body) = self
            .invoke_raw(name, payload.to_string(), &[("X-Amz-Log-Type", "Tail")])
            .await;
        assert_eq!(
            status,
            200,
            "invoke {name}: {}",
            String::from_utf8_lossy(&body)
        );
        let log = h
            .get("x-amz-log-result")
            .map(|v| {
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(v.as_bytes())
                        .unwrap(),
                )
                .unwrap()
            })
            .unwrap_or_default();
        Invoked {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            raw: body,
            function_error: h
                .get("x-amz-function-error")
                .map(|v| v.to_str().unwrap().to_string()),
            executed_version: h
                .get("x-amz-executed-version")
                .map(|v| v.to_str().unwrap().to_string()),
            log,
            prestarted: h
                .get("x-lamina-init-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("prestarted=").nth(1))
                .map(str::to_string),
        }
    }

    pub async fn health(&self) -> Value {
        self.get("/_lamina/health").await.2
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "TERM");
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
}

fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

async fn split(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

/// The result of an invocation.
#[derive(Debug)]
pub struct Invoked {
    pub body: Value,
    pub raw: Vec<u8>,
    pub function_error: Option<String>,
    pub executed_version: Option<String>,
    pub log: String,
    /// A cold start's `prestarted=` (what had been started ahead of it); `None` when warm.
    pub prestarted: Option<String>,
}

impl Invoked {
    /// Asserts a function error of `error_type` whose message contains `message`.
    pub fn assert_error(&self, what: &str, error_type: &str, message: &str) {
        assert_eq!(
            self.function_error.as_deref(),
            Some("Unhandled"),
            "{what}: {:?}",
            self.body
        );
        assert_eq!(
            self.body["errorType"], error_type,
            "{what}: {:?}",
            self.body
        );
        let got = self.body["errorMessage"].as_str().unwrap_or_default();
        assert!(
            got.contains(message),
            "{what}: {message:?} not in {:?}",
            self.body
        );
    }

    /// The value of `Field: N unit` in the REPORT line.
    pub fn report_field(&self, field: &str) -> Option<f64> {
        let report = self.log.lines().find(|l| l.starts_with("REPORT "))?;
        let part = report.split('\t').find(|p| p.starts_with(field))?;
        part[field.len()..]
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

/// A zip of (name, contents, unix mode) entries.
pub fn zip(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents, mode) in files {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, opts).unwrap();
        w.write_all(contents.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The path of the `lambda_runtime` fixture binary, built on first use.
pub fn rust_echo_bootstrap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let manifest =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/rust-echo/Cargo.toml");
            let out = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--message-format=json",
                    "--manifest-path",
                ])
                .arg(&manifest)
                .output()
                .expect("run cargo build for the rust-echo fixture");
            assert!(
                out.status.success(),
                "building rust-echo failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| {
                    v.get("executable")
                        .and_then(Value::as_str)
                        .map(PathBuf::from)
                })
                .find(|p| p.file_name().is_some_and(|n| n == "bootstrap"))
                .expect("rust-echo produced a bootstrap executable")
        })
        .clone()
}

/// A zip holding a native bootstrap binary.
pub fn zip_binary(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file("bootstrap", opts).unwrap();
    w.write_all(&bytes).unwrap();
    w.finish().unwrap().into_inner()
}

/// The Python that has the test dependencies (boto3, awslambdaric): the one
/// scripts/test.sh prepared, else the first python3 on PATH.
pub fn test_python() -> PathBuf {
    if let Some(p) = std::env::var_os("LAMINA_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Runs tests/compat/`script` (a Python suite that prints "all checks passed") against a
/// fresh server started with `args`.
#[allow(dead_code)]
pub fn compat_suite(script: &str, args: &[&str]) {
    compat_suite_with(&test_python(), script, args);
}

/// The Python with boto3 1.26, whose SQS client speaks the query protocol (prepared by
/// scripts/test.sh in target/test-venv-query).
#[allow(dead_code)]
pub fn test_query_python() -> PathBuf {
    if let Some(p) = std::env::var_os("LAMINA_TEST_QUERY_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv-query/bin/python")
}

/// [`compat_suite`] with another Python.
#[allow(dead_code)]
pub fn compat_suite_with(python: &Path, script: &str, args: &[&str]) {
    let server = Server::start_with(args, None);
    run_compat_script(python, &server, script, &[]);
}

/// Runs tests/compat/`script` with `python` against `server` (its endpoint, then `extra`),
/// and asserts that it passed.
#[allow(dead_code)]
pub fn run_compat_script(python: &Path, server: &Server, script: &str, extra: &[&std::ffi::OsStr]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/compat")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(path)
        .arg(&server.endpoint)
        .args(extra)
        .output()
        .expect("run a compatibility suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{script} failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.output_text()
    );
}

/// One JSON-protocol call (`X-Amz-Target: <target>`, `application/x-amz-json-<version>`),
/// unsigned: its status and answer.
#[allow(dead_code)]
pub async fn aws_json(s: &Server, target: &str, version: &str, body: Value) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/"))
        .header("X-Amz-Target", target)
        .header("Content-Type", format!("application/x-amz-json-{version}"))
        .body(body.to_string())
        .send()
        .await
        .expect("a JSON-protocol call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Kills `server` (`kill -9`) once its mapping has consumed something but not all of
/// `sent`, and restarts it on `data` with `args`; then waits up to `within` for every one of
/// `sent` to be in the ledger `ran` (at least once), and fails naming those lost.
#[allow(dead_code)]
pub async fn kill_mid_stream_and_recover(
    server: &mut Server,
    args: &[&str],
    data: &Path,
    ran: &Path,
    sent: &std::collections::HashSet<String>,
    within: std::time::Duration,
) -> Server {
    assert!(
        eventually(std::time::Duration::from_secs(30), async || !ledger(ran)
            .is_empty())
        .await,
        "the mapping started consuming"
    );
    server.stop_with("KILL");
    let before = ledger(ran).len();
    assert!(
        before < sent.len(),
        "the kill came mid-stream ({before} of {} consumed)",
        sent.len()
    );
    let restarted = Server::start_with(args, Some(data));
    let done = eventually(within, async || {
        let seen: std::collections::HashSet<String> = ledger(ran).into_iter().collect();
        sent.is_subset(&seen)
    })
    .await;
    let seen: std::collections::HashSet<String> = ledger(ran).into_iter().collect();
    let lost: Vec<&String> = sent.difference(&seen).collect();
    assert!(
        done,
        "{} of {} never reached the function: {lost:?}\nserver:\n{}",
        lost.len(),
        sent.len(),
        restarted.output_text()
    );
    restarted
}

/// The lines of a file functions append to (empty if it does not exist yet).
#[allow(dead_code)]
pub fn ledger(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The cgroup directories of the sandboxes of the server `server` under controller `ctrl`
/// (cgroup v1 and hybrid hosts).
pub fn sandbox_cgroups(server: u32, ctrl: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("lamina");
    std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{server}-"))
        })
        .flat_map(|instance| {
            std::fs::read_dir(instance.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| p.is_dir())
        .collect()
}

/// What a cold start had started ahead (`none`, `sandbox`, `runtime`, `forked`), from its
/// `X-Lamina-Init-Ms`; `None` for a warm invocation.
#[allow(dead_code)]
pub fn prestarted(h: &reqwest::header::HeaderMap) -> Option<String> {
    let split = h.get("x-lamina-init-ms")?.to_str().ok()?;
    split
        .split("; ")
        .find_map(|kv| kv.strip_prefix("prestarted="))
        .map(str::to_string)
}

/// Host pids of the live processes of a function's environments, found by the
/// `AWS_LAMBDA_FUNCTION_NAME` entry of the environment they were started with (pids inside a
/// sandbox are namespace-local, so the function cannot tell us its host pid). A runtime started ahead of time was started with its template's, and one forked from a
/// zygote has the zygote's, so the servers of the tests that use this keep none and fork
/// none (`--runtime-pool 0 --zygotes false`); `prestart.rs` and `zygotes.rs` cover those.
pub fn processes_of(function: &str) -> Vec<u32> {
    let want = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()))
        })
        .filter(|pid| pid_alive(i64::from(*pid)))
        .collect()
}

/// A function name no other test uses, so that its processes can be told apart.
pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// Whether the process exists and is not a zombie.
pub fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

impl Server {
    /// The messages of a log group matching `pattern`, through the CloudWatch Logs API.
    pub async fn log_lines(&self, group: &str, pattern: &str) -> Vec<String> {
        let query = json!({"logGroupName": group, "filterPattern": pattern});
        let resp = self
            .http
            .post(self.url("/"))
            .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
            .body(query.to_string())
            .send()
            .await
            .unwrap();
        let page: Value = resp.json().await.unwrap_or_default();
        page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }
}

/// What one of several invocations sent together got back.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: u16,
    /// The 429's `Reason`, if any.
    pub reason: String,
    /// The `Retry-After` header, if any.
    pub retry_after: String,
    /// From sending to the whole answer.
    pub took: Duration,
}

impl Server {
    /// Creates a python3.11 function whose `app.py` is `code` (handler `app.handler`), with a
    /// timeout of `timeout` seconds.
    pub async fn python_with_timeout(&self, name: &str, code: &str, timeout: u32) -> Value {
        self.create_with(json!({"FunctionName": name, "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Timeout": timeout,
            "Code": {"ZipFile": b64(&zip(&[("app.py", code, 0o644)]))}}))
            .await
    }

    /// `n` synchronous invocations of `target` with `payload`, the i-th sent `stagger × i`
    /// after the first (all at once with a zero stagger).
    pub async fn invoke_together(
        &self,
        target: &str,
        n: usize,
        payload: Value,
        stagger: Duration,
    ) -> Vec<Sent> {
        let mut tasks = Vec::new();
        for i in 0..n {
            let http = self.http.clone();
            let url = self.url(&format!("/2015-03-31/functions/{target}/invocations"));
            let body = payload.to_string();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(stagger * i as u32).await;
                let t = Instant::now();
                let resp = http.post(url).body(body).send().await.unwrap();
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                let body: Value = resp.json().await.unwrap_or_default();
                Sent {
                    status,
                    reason: body["Reason"].as_str().unwrap_or_default().to_string(),
                    retry_after,
                    took: t.elapsed(),
                }
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

/// A base64 zip whose python handler (`app.handler`) returns `tag`.
pub fn code_of(tag: &str) -> String {
    b64(&zip(&[(
        "app.py",
        &format!("import json\ndef handler(e, c):\n    return '{tag}'\n"),
        0o644,
    )]))
}
