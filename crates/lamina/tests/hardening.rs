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
