//! What hostile packages, hostile clients, crashes and a full disk must not break: each test
//! drives the real server the way an attacker or an unlucky operator would, and checks that
//! the answer is Lambda's error of the right kind and that the server keeps serving.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ROLE, Server, b64};
use serde_json::{Value, json};

/// One zip entry: name, contents (a symlink's target), whether it is a symlink.
type Entry<'a> = (&'a str, &'a [u8], bool);

/// A zip of entries, written as the zip crate writes them.
fn zip_entries(entries: &[Entry]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, link) in entries {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
        if *link {
            w.add_symlink(*name, std::str::from_utf8(data).unwrap(), opts)
                .unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

async fn create_raw(s: &Server, name: &str, zip: &[u8]) -> (u16, Value) {
    let (status, headers, body) = s
        .post_json(
            "/2015-03-31/functions",
            &json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
                    "Role": ROLE, "Code": {"ZipFile": b64(zip)}}),
        )
        .await;
    let kind = headers
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, json!({"type": kind, "message": body["message"]}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start_with(&["--runtime-pool", "0"], Some(data.path()));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server started: {err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("in use"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    // The first one still serves.
    assert_eq!(first.get("/2015-03-31/functions").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_that_escape_or_cannot_be_extracted_are_refused_by_entry() {
    let s = Server::start_with(&["--runtime-pool", "0", "--sandbox-pool", "0"], None);
    let app: &[u8] = b"def handler(e, c):\n    return 1\n";
    let long = "n".repeat(256);
    let deep = format!("{}/f", ["d"; 2100].join("/"));
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            // Each link alone stays inside; l2 through l1 reaches the data directory.
            "chain",
            vec![
                ("app.py", app, false),
                ("d/e/f/l1", b"../../..", true),
                ("l2", b"d/e/f/l1/../../../functions.sqlite3", true),
            ],
            "'l2'",
        ),
        (
            "long-name",
            vec![(long.as_str(), app, false)],
            "longer than 255",
        ),
        (
            "long-path",
            vec![(deep.as_str(), app, false)],
            "longer than 4,095",
        ),
        (
            "file-and-dir",
            vec![("same", app, false), ("same/inner", app, false)],
            "'same/inner'",
        ),
        (
            "link-beside-dir",
            vec![("dir/app.py", app, false), ("dir", b"elsewhere", true)],
            "'dir'",
        ),
    ];
    for (name, entries, says) in cases {
        let (status, err) = create_raw(&s, name, &zip_entries(&entries)).await;
        assert_eq!(status, 400, "{name}: {err}");
        assert_eq!(err["type"], "InvalidParameterValueException", "{name}");
        assert!(
            err["message"].as_str().unwrap().contains(says),
            "{name}: {err}"
        );
    }
    // Nothing of them was kept, and the server still creates functions.
    assert_eq!(
        s.get("/2015-03-31/functions").await.2["Functions"],
        json!([])
    );
    s.python("ok", "def handler(e, c):\n    return 'fine'\n")
        .await;
    assert_eq!(s.invoke("ok", json!({})).await.body, "fine");
}

/// Sends raw bytes on a new connection, half-closes it, and returns what came back.
async fn raw_exchange(s: &Server, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.endpoint.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn error_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("x-amzn-errortype")
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_an_error_of_the_right_kind() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    s.python("echo", "def handler(e, c):\n    return e\n").await;

    // A payload whose JSON is well formed but whose string is not UTF-8.
    let (status, h, body) = s
        .invoke_raw("echo", &b"{\"k\": \"\xff\xfe\"}"[..], &[])
        .await;
    assert_eq!(
        (status, error_type(&h)),
        (400, "InvalidRequestContentException"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Header values that are not ASCII are refused, not taken as missing.
    for header in ["X-Amz-Invocation-Type", "X-Amz-Log-Type"] {
        let resp = s
            .http
            .post(s.url("/2015-03-31/functions/echo/invocations"))
            .header(
                header,
                reqwest::header::HeaderValue::from_bytes(b"Ev\xe9nt").unwrap(),
            )
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{header}");
        assert_eq!(
            error_type(resp.headers()),
            "ValidationException",
            "{header}"
        );
    }

    // A layer version that is not a number: 400 for every operation, never 204.
    for method in [reqwest::Method::DELETE, reqwest::Method::GET] {
        let resp = s
            .http
            .request(method.clone(), s.url("/2018-10-31/layers/lib/versions/abc"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{method}");
        assert_eq!(
            error_type(resp.headers()),
            "ValidationException",
            "{method}"
        );
    }
    assert_eq!(s.delete("/2018-10-31/layers/lib/versions/7").await.0, 204);

    // A body shorter than its Content-Length, and a chunked body with a bad chunk size: the
    // client's 400 (or a closed connection), never "too large".
    let truncated = "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n\
                     Content-Length: 100\r\n\r\n{\"a\": 1}";
    let answer = raw_exchange(&s, truncated.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(!answer.contains("smaller than"), "{answer}");
    let misframed = "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n\
                     Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    let answer = raw_exchange(&s, misframed.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(!answer.contains("smaller than"), "{answer}");

    // The server still serves.
    assert_eq!(
        s.invoke("echo", json!({"still": "here"})).await.body["still"],
        "here"
    );
}

/// Whether the server closed `conn` (EOF or reset) within `within`.
async fn closed_within(conn: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn connect(s: &Server) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(s.endpoint.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_slow_and_surplus_clients_are_closed_or_refused() {
    use tokio::io::AsyncWriteExt;
    let s = Server::start_with(
        &[
            "--runtime-pool",
            "0",
            "--http-header-timeout",
            "2",
            "--http-body-timeout",
            "2",
            "--max-connections",
            "40",
        ],
        None,
    );
    // Idle connections and a slowloris head (a header byte every 300 ms) are closed about
    // 2 s after they connected, not held.
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(connect(&s).await);
    }
    let mut slow = connect(&s).await;
    slow.write_all(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let dripping = tokio::spawn(async move {
        for _ in 0..40 {
            if slow.write_all(b"X").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    });
    // Meanwhile, beyond the cap of 40, a connection is refused with Lambda's 429.
    let mut extra = Vec::new();
    for _ in 0..9 {
        extra.push(connect(&s).await);
    }
    let refused = raw_exchange(&s, b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(
        refused.contains("x-amzn-errortype: TooManyRequestsException"),
        "{refused}"
    );
    assert!(refused.contains("retry-after: 1"), "{refused}");
    for conn in idle.iter_mut().chain(extra.iter_mut()) {
        assert!(
            closed_within(conn, Duration::from_secs(6)).await,
            "an idle connection stayed"
        );
    }
    assert!(
        dripping.await.unwrap(),
        "the slowloris connection stayed open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "closed too early: {took:?}"
    );

    // A body that trickles is answered 400 once its time is up.
    let mut slow_body = connect(&s).await;
    slow_body
        .write_all(
            b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let t = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut slow_body, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("InvalidRequestContentException"),
        "{answer}"
    );
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());

    // Heads too large for the parser: Lambda's error shape, not a bare status.
    let long_uri = format!(
        "GET /2015-03-31/functions/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = raw_exchange(&s, long_uri.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 414"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(
        answer.contains("x-amzn-errortype: RequestTooLargeException"),
        "{answer}"
    );
    assert!(answer.contains("\"message\""), "{answer}");
    let big_headers = format!(
        "GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(4000)))
            .collect::<String>()
    );
    let answer = raw_exchange(&s, big_headers.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(
        answer.contains("x-amzn-errortype: RequestTooLargeException"),
        "{answer}"
    );

    // And the server serves on.
    assert_eq!(s.get("/2015-03-31/functions").await.0, 200);
}

fn descriptors_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Opens as many connections to its Runtime API as it can (several processes, so its own
/// descriptor limit is no help to the server), holds them, and reports how many it got.
const FLOOD: &str = r#"
import os, socket, time

def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    children = []
    for _ in range(4):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            held = []
            for _ in range(1000):
                try:
                    held.append(socket.create_connection((host, int(port)), timeout=1))
                except OSError:
                    break
            os.write(w, str(len(held)).encode())
            time.sleep(event["hold"])
            os._exit(0)
        os.close(w)
        children.append((pid, r))
    opened = sum(int(os.read(r, 32) or b"0") for _, r in children)
    for pid, _ in children:
        os.waitpid(pid, 0)
    return {"opened": opened}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_function_cannot_take_the_servers_descriptors() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    s.python_with_timeout("flood", FLOOD, 60).await;
    s.python("neighbour", "def handler(e, c):\n    return 'ok'\n")
        .await;
    assert_eq!(s.invoke("neighbour", json!({})).await.body, "ok");
    let pid = s.pid();
    let (fds_before, rss_before) = (descriptors_of(pid), rss_kib(pid));

    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions/flood/invocations");
    let flood = tokio::spawn(async move {
        let resp = http.post(url).body(r#"{"hold": 6}"#).send().await.unwrap();
        resp.json::<Value>().await.unwrap()
    });
    // While it holds its connections, the API and the neighbour answer, and the server's
    // descriptors and memory stay bounded.
    let mut fds_peak = 0;
    let mut rss_peak = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        fds_peak = fds_peak.max(descriptors_of(pid));
        rss_peak = rss_peak.max(rss_kib(pid));
        let t = Instant::now();
        assert_eq!(s.invoke("neighbour", json!({})).await.body, "ok");
        assert_eq!(s.get("/2015-03-31/functions").await.0, 200);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = flood.await.unwrap();
    eprintln!(
        "flood: the function opened {} connections; server descriptors {fds_before} -> peak \
         {fds_peak}, RSS {rss_before} KiB -> peak {rss_peak} KiB",
        out["opened"]
    );
    assert!(out["opened"].as_u64().unwrap() > 100, "{out}");
    assert!(fds_peak < fds_before + 100, "{fds_before} -> {fds_peak}");
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "{rss_before} -> {rss_peak}"
    );
}

/// Pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(") ")?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn loop_devices() -> usize {
    std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("loop"))
        .filter(|e| e.path().join("loop/backing_file").exists())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_outlives_a_killed_server() {
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--freeze-after-ms",
        "50",
        "--sandbox-pool",
        "2",
        "--runtime-pool",
        "1",
    ];
    let mut s = Server::start_with(&args, Some(data.path()));
    let name = common::unique("crash");
    s.python(&name, "def handler(e, c):\n    return 'alive'\n")
        .await;
    assert_eq!(s.invoke(&name, json!({})).await.body, "alive");
    // Let the environment freeze: a frozen process cannot act on SIGKILL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = s.pid();
    let sandboxes = children_of(old);
    let function = common::processes_of(&name);
    assert!(
        sandboxes.len() >= 3,
        "the pool and the environment: {sandboxes:?}"
    );
    assert!(!function.is_empty());
    let loops = loop_devices();

    s.stop_with("KILL");
    let all: Vec<u32> = sandboxes.iter().chain(&function).copied().collect();
    let gone = common::eventually(Duration::from_secs(5), async || {
        all.iter().all(|p| !common::pid_alive(i64::from(*p)))
    })
    .await;
    let left: Vec<u32> = all
        .iter()
        .copied()
        .filter(|p| common::pid_alive(i64::from(*p)))
        .collect();
    assert!(gone, "processes of the killed server still run: {left:?}");

    // A restart sweeps what is left (cgroup directories, mounts) and serves the function.
    let s = Server::start_with(&args, Some(data.path()));
    for ctrl in ["memory", "pids", "cpu", "freezer"] {
        if std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join("lamina")
            .exists()
        {
            assert_eq!(
                common::sandbox_cgroups(old, ctrl),
                Vec::<std::path::PathBuf>::new()
            );
        }
    }
    assert_eq!(s.invoke(&name, json!({})).await.body, "alive");
    assert!(
        loop_devices() <= loops,
        "loop devices: {loops} -> {}",
        loop_devices()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_ends_frozen_processes_a_dead_server_left() {
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer");
    if !freezer.join("tasks").exists() {
        eprintln!("no v1 freezer on this host: nothing frozen can be left");
        return;
    }
    // A dead server's instance: a pid no process has, holding one frozen process.
    let dead = (3_000_000..4_000_000)
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let dir = freezer.join("lamina").join(format!("{dead}-0")).join("sb");
    std::fs::create_dir_all(&dir).unwrap();
    let mut orphan = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(dir.join("cgroup.procs"), orphan.id().to_string()).unwrap();
    std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();

    let _s = Server::start_with(&["--runtime-pool", "0"], None);
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = orphan.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = orphan.kill();
        let _ = orphan.wait();
        None
    })
    .await
    .unwrap();
    assert!(status.is_some(), "the frozen process was not ended");
    assert!(!dir.exists(), "its cgroup directory stayed");
}

fn code_of(tag: &str) -> String {
    b64(&common::zip(&[(
        "app.py",
        &format!("import json\ndef handler(e, c):\n    return '{tag}'\n"),
        0o644,
    )]))
}

/// Invokes racing UpdateFunctionCode and DeleteFunction run the old or the new code, or
/// find no function: never a platform-made error (no code mounted, a package removed under
/// a starting environment).
#[tokio::test(flavor = "multi_thread")]
async fn invokes_racing_updates_and_deletes_run_whole_code() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    let create = json!({"FunctionName": "racer", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": code_of("a")}});
    s.create_with(create.clone()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut invokers = Vec::new();
    for _ in 0..6 {
        let http = s.http.clone();
        let url = s.url("/2015-03-31/functions/racer/invocations");
        let stop = stop.clone();
        invokers.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let resp = http.post(&url).body("{}").send().await.unwrap();
                let status = resp.status().as_u16();
                let error = resp
                    .headers()
                    .get("x-amzn-errortype")
                    .map(|v| v.to_str().unwrap().to_string());
                let function_error = resp.headers().contains_key("x-amz-function-error");
                let body = resp.text().await.unwrap();
                let key = match (status, error, function_error) {
                    (200, None, false) => format!("ran {body}"),
                    (404, Some(e), _) if e == "ResourceNotFoundException" => "not found".into(),
                    (status, error, _) => format!("{status} {error:?} {body}"),
                };
                *seen.entry(key).or_default() += 1;
            }
            seen
        }));
    }
    let started = Instant::now();
    let mut changes = 0;
    while started.elapsed() < Duration::from_secs(25) {
        for tag in ["b", "a"] {
            let (status, _, body) = s
                .put_json(
                    "/2015-03-31/functions/racer/code",
                    &json!({"ZipFile": code_of(tag)}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            changes += 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        if changes % 40 == 0 {
            assert_eq!(s.delete("/2015-03-31/functions/racer").await.0, 204);
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.create_with(create.clone()).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for invoker in invokers {
        for (k, n) in invoker.await.unwrap() {
            *seen.entry(k).or_default() += n;
        }
    }
    let total: usize = seen.values().sum();
    eprintln!("racing: {total} invocations over {changes} code changes: {seen:?}");
    let unexpected: Vec<_> = seen
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "ran \"a\"" | "ran \"b\"" | "not found"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "platform-made errors: {unexpected:?}"
    );
    assert!(total >= 1000, "too few invocations raced: {total}");
    assert!(seen.contains_key("ran \"a\"") && seen.contains_key("ran \"b\""));
}

/// A zip of `n` small files plus the handler.
fn many_files(n: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("app.py", opts).unwrap();
    w.write_all(b"def handler(e, c):\n    return 'big'\n")
        .unwrap();
    for i in 0..n {
        w.start_file(format!("d{}/f{i}", i % 100), opts).unwrap();
        w.write_all(b"x").unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Extracting a large package holds up no other function's Create, Update or Delete.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_upload_does_not_stall_the_control_plane() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    let big = b64(&many_files(40_000));
    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions");
    let uploading = tokio::spawn(async move {
        let t = Instant::now();
        let resp = http
            .post(url)
            .json(&json!({"FunctionName": "big", "Runtime": "python3.11",
                "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": big}}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile, another function's whole life.
    let mut slowest = Duration::ZERO;
    let mut timed = async |what: &str, f: std::pin::Pin<Box<dyn Future<Output = u16> + '_>>| {
        let t = Instant::now();
        let status = f.await;
        slowest = slowest.max(t.elapsed());
        eprintln!("during the upload, {what}: {status} in {:?}", t.elapsed());
        status
    };
    let small = json!({"FunctionName": "small", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": code_of("s")}});
    assert_eq!(
        timed(
            "create",
            Box::pin(async { s.post_json("/2015-03-31/functions", &small).await.0 })
        )
        .await,
        201
    );
    assert_eq!(
        timed(
            "update",
            Box::pin(async {
                s.put_json(
                    "/2015-03-31/functions/small/configuration",
                    &json!({"Timeout": 9}),
                )
                .await
                .0
            })
        )
        .await,
        200
    );
    assert_eq!(
        timed(
            "delete",
            Box::pin(async { s.delete("/2015-03-31/functions/small").await.0 })
        )
        .await,
        204
    );
    let (status, took) = uploading.await.unwrap();
    eprintln!("the upload of 40,000 entries took {took:?}; the slowest other change {slowest:?}");
    assert_eq!(status, 201);
    assert!(
        slowest < took / 2,
        "other changes waited for the upload: {slowest:?} of {took:?}"
    );
    assert_eq!(s.invoke("big", json!({})).await.body, "big");
}

/// Packages stored now, by id.
fn stored_packages(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data.join("code"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect()
}

/// Killing the server in the middle of code updates leaves, after the next start, only
/// packages that records reference.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_leaves_no_unreferenced_package() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--runtime-pool", "0", "--sandbox-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("victim", "def handler(e, c):\n    return 0\n")
        .await;
    let mut orphans_made = 0;
    for round in 0..6u32 {
        // Updates in flight, each a new package of many files (slow to extract and to turn
        // into an image), and a kill among them.
        let mut sent = Vec::new();
        for i in 0..2u32 {
            let http = s.http.clone();
            let url = s.url("/2015-03-31/functions/victim/code");
            let zip = b64(&many_files(15_000 + (round * 2 + i) as usize));
            sent.push(tokio::spawn(async move {
                let _ = http.put(url).json(&json!({"ZipFile": zip})).send().await;
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 250 * u64::from(round))).await;
        s.stop_with("KILL");
        for t in sent {
            let _ = t.await;
        }
        orphans_made = orphans_made.max(stored_packages(data.path()).len() - 1);
        s = Server::start_with(&args, Some(data.path()));
    }
    let (_, _, f) = s.get("/2015-03-31/functions/victim").await;
    let sha = f["Configuration"]["CodeSha256"]
        .as_str()
        .unwrap()
        .to_string();
    let id: String = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sha)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored_packages(data.path()), vec![id]);
    eprintln!(
        "crash loop: up to {orphans_made} unreferenced packages after a kill, none after the restart"
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("code"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(s.invoke("victim", json!({})).await.function_error.is_none());
}
