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
