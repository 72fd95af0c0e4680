//! What hostile clients and hostile packages must not break: malformed and oversized
//! requests, slow and idle connections, too many of them, packages that escape their root or
//! cannot be extracted. Each gets Lambda's error of the right kind, and the server keeps
//! serving.

mod common;

use std::io::Write;
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
            "--http-idle-timeout",
            "3",
            "--http-header-timeout",
            "1",
            "--http-body-timeout",
            "2",
            "--max-connections",
            "40",
        ],
        None,
    );
    // Idle connections are closed after the idle timeout (3 s), not before; a slowloris
    // head (a header byte every 300 ms) after the header timeout (1 s) from its first byte.
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(connect(&s).await);
    }
    let mut slow = connect(&s).await;
    let dripping = tokio::spawn(async move {
        let t = Instant::now();
        if slow
            .write_all(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            return None;
        }
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(b"X").await.is_err() {
                return Some(t.elapsed());
            }
        }
        None
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
    let slow_closed = dripping
        .await
        .unwrap()
        .expect("the slowloris connection stayed open");
    assert!(
        slow_closed < Duration::from_millis(2500),
        "slowloris held {slow_closed:?}"
    );
    for conn in idle.iter_mut().chain(extra.iter_mut()) {
        assert!(
            closed_within(conn, Duration::from_secs(6)).await,
            "an idle connection stayed"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "idle ones closed too early: {took:?}"
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

/// A caller that hangs up while its function runs (a client timeout shorter than the
/// function's) leaves nothing behind: the invocation runs to its end, as in Lambda (its log
/// has END and REPORT, the metrics count it), and its environment serves the next caller
/// warm rather than staying taken by nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_that_hangs_up_mid_invocation_leaves_its_environment_reusable() {
    let s = Server::start();
    s.python(
        "slow",
        "import time\n\ndef handler(event, context):\n    time.sleep(1)\n    print('finished', event.get('n'))\n    return 'done'\n",
    )
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hung_up = impatient
        .post(s.url("/2015-03-31/functions/slow/invocations"))
        .body(r#"{"n": 1}"#)
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up first: {hung_up:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let out = s.invoke("slow", json!({"n": 2})).await;
    assert_eq!(out.body, json!("done"));
    assert!(
        out.report_field("Init Duration").is_none(),
        "the environment of the abandoned invocation served this one warm: {}",
        out.log
    );
    let (st, events) = common::aws_json(
        &s,
        "Logs_20140328.FilterLogEvents",
        "1.1",
        json!({"logGroupName": "/aws/lambda/slow", "filterPattern": "finished"}),
    )
    .await;
    assert_eq!(st, 200, "{events}");
    let finished: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        finished.iter().any(|m| m.contains("finished 1")),
        "the abandoned invocation ran to its end: {finished:?}"
    );
}
