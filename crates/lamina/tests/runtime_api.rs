//! The Runtime API from the runtime's side: custom bootstraps that make out-of-order and
//! foreign calls, deadlines, init errors, and AWS's own runtime interface client for Python.

mod common;

use std::time::Duration;

use common::{Server, b64, test_python, zip};
use serde_json::json;

/// A provided bootstrap (Python, stdlib only) that probes the Runtime API on each
/// invocation and answers with what it saw.
const PROBE: &str = r#"#!/usr/bin/env python3
import json, os, urllib.request, urllib.error, time
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(API + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
previous = {}
while True:
    status, headers, body = call("GET", "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    event = json.loads(body)
    seen = {
        "previous": previous,
        "deadline_ms": int(headers["Lambda-Runtime-Deadline-Ms"]),
        "now_ms": int(time.time() * 1000),
        "arn": headers["Lambda-Runtime-Invoked-Function-Arn"],
        "trace": headers.get("Lambda-Runtime-Trace-Id"),
        "client_context": headers.get("Lambda-Runtime-Client-Context"),
        "wrong_id": call("POST", "/invocation/not-" + rid + "/response", b"{}")[0],
        "init_error_after_init": call("POST", "/init/error", b"{}", {"Lambda-Runtime-Function-Error-Type": "Runtime.X"})[0],
        "unknown_path": call("GET", "/nothing")[0],
    }
    if event.get("steal"):
        seen["steal"] = call("POST", "/invocation/" + event["steal"] + "/response", b'"stolen"')[0]
    if event.get("sleep"):
        print("victim-id", rid, flush=True)
        time.sleep(event["sleep"])
    if event.get("error"):
        st = call("POST", "/invocation/" + rid + "/error", json.dumps({"errorType": "Custom.Failure", "errorMessage": "as asked"}).encode(),
                  {"Lambda-Runtime-Function-Error-Type": "Custom.Failure"})[0]
        previous = {"error_status": st}
        continue
    st = call("POST", "/invocation/" + rid + "/response", json.dumps(seen).encode())[0]
    again = call("POST", "/invocation/" + rid + "/response", b"{}")[0]
    previous = {"response_status": st, "second_response_status": again}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn protocol_statuses_deadlines_and_headers() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "probe", "Runtime": "provided.al2023", "Handler": "x", "Role": common::ROLE,
                         "Timeout": 5, "Code": {"ZipFile": b64(&zip(&[("bootstrap", PROBE, 0o755)]))}}))
        .await;
    let cc = b64(br#"{"custom":{"k":"v"}}"#);
    let (status, _, body) = s
        .invoke_raw("probe", "{}", &[("X-Amz-Client-Context", &cc)])
        .await;
    assert_eq!(status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(seen.get("deadline_ms").is_some(), "{seen}");
    let budget = seen["deadline_ms"].as_i64().unwrap() - seen["now_ms"].as_i64().unwrap();
    assert!(
        (4000..=5100).contains(&budget),
        "deadline is epoch ms about Timeout ahead: {budget}"
    );
    assert_eq!(
        seen["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:probe"
    );
    assert!(seen["trace"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(seen["client_context"], r#"{"custom":{"k":"v"}}"#);
    assert_eq!(seen["wrong_id"], 400, "a response for another request id");
    assert_eq!(seen["init_error_after_init"], 403, "init error after init");
    assert_eq!(seen["unknown_path"], 404);

    let (_, _, body) = s.invoke_raw("probe", "{}", &[]).await;
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        seen["previous"],
        json!({"response_status": 202, "second_response_status": 400})
    );
    assert_eq!(seen["client_context"], serde_json::Value::Null);

    let out = s.invoke("probe", json!({"error": true})).await;
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        out.body,
        json!({"errorType": "Custom.Failure", "errorMessage": "as asked"})
    );
    let (_, _, body) = s.invoke_raw("probe", "{}", &[]).await;
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["previous"], json!({"error_status": 202}));
}

/// Two environments of one function: neither can answer the other's invocation through its
/// own Runtime API, and each invocation gets its own answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_environment_cannot_answer_another_environments_invocation() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "probe", "Runtime": "provided.al2023", "Handler": "x", "Role": common::ROLE,
                         "Timeout": 10, "Code": {"ZipFile": b64(&zip(&[("bootstrap", PROBE, 0o755)]))}}))
        .await;
    let tag = format!("{}", std::process::id());
    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions/probe/invocations");
    let body = json!({"sleep": 2, "tag": tag}).to_string();
    let victim = tokio::spawn(async move {
        http.post(url)
            .body(body)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    // The victim prints its request id; read it back through the logs API while it sleeps.
    let mut victim_id = String::new();
    let found = common::eventually(Duration::from_secs(10), async || {
        let query = json!({"logGroupName": "/aws/lambda/probe", "filterPattern": "victim-id"});
        let resp = s
            .http
            .post(s.url("/"))
            .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
            .body(query.to_string())
            .send()
            .await
            .unwrap();
        let page: serde_json::Value = resp.json().await.unwrap_or_default();
        if let Some(line) = page["events"][0]["message"].as_str() {
            victim_id = line.trim_start_matches("victim-id ").trim().to_string();
            return true;
        }
        false
    })
    .await;
    assert!(found, "the victim's request id shows in its log");
    let (_, _, body) = s
        .invoke_raw("probe", json!({"steal": victim_id}).to_string(), &[])
        .await;
    let thief: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        thief["steal"], 400,
        "the thief's Runtime API does not know the victim's invocation"
    );
    let victim = victim.await.unwrap();
    assert!(
        victim.get("deadline_ms").is_some(),
        "the victim got its own answer, not 'stolen': {victim}"
    );
    let _ = tag;
}

#[tokio::test(flavor = "multi_thread")]
async fn init_error_is_served_to_the_first_invocation() {
    let s = Server::start();
    let bootstrap = r#"#!/bin/sh
echo "custom runtime failing init"
curl -s -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigInvalid' \
  -d '{"errorType":"Runtime.ConfigInvalid","errorMessage":"missing setting"}' \
  "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" >/dev/null
exit 1
"#;
    s.create(
        "initerr",
        "provided",
        "x",
        &[("bootstrap", bootstrap, 0o755)],
    )
    .await;
    let out = s.invoke("initerr", json!({})).await;
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(out.body["errorType"], "Runtime.ConfigInvalid");
    assert_eq!(out.body["errorMessage"], "missing setting");
    assert!(
        out.log.contains("custom runtime failing init"),
        "{}",
        out.log
    );
    assert!(out.report_field("Init Duration").is_some());
    // A bootstrap that exits without a word.
    s.create(
        "exits",
        "provided",
        "x",
        &[("bootstrap", "#!/bin/sh\nexit 2\n", 0o755)],
    )
    .await;
    let out = s.invoke("exits", json!({})).await;
    assert_eq!(out.body["errorType"], "Runtime.ExitError");
    assert!(
        out.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status 2"),
        "{:?}",
        out.body
    );
}

/// PyPI's awslambdaric, AWS's own Python runtime interface client, as a provided bootstrap.
#[tokio::test(flavor = "multi_thread")]
async fn awslambdaric_runs_unchanged() {
    let python = test_python();
    let probe = std::process::Command::new(&python)
        .args(["-c", "import awslambdaric"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "awslambdaric is not installed for {}: run the tests through scripts/test.sh, which installs it",
        python.display()
    );
    // As a user would: awslambdaric and its dependencies vendored into the package, and a
    // bootstrap that runs it with the runtime's own python3.
    let site = std::process::Command::new(&python)
        .args(["-c", "import awslambdaric, os; print(os.path.dirname(os.path.dirname(awslambdaric.__file__)))"])
        .output()
        .unwrap();
    let site = std::path::PathBuf::from(String::from_utf8(site.stdout).unwrap().trim());
    // Every file the three distributions installed, as their RECORD lists them.
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    for entry in std::fs::read_dir(&site).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = ["awslambdaric-", "simplejson-", "snapshot_restore_py-"];
        if !(name.ends_with(".dist-info") && wanted.iter().any(|w| name.starts_with(w))) {
            continue;
        }
        let record = std::fs::read_to_string(entry.path().join("RECORD")).unwrap();
        for line in record.lines() {
            let rel = line.split(',').next().unwrap_or_default();
            if rel.is_empty() || rel.starts_with("..") || rel.ends_with(".pyc") {
                continue;
            }
            files.push((
                rel.to_string(),
                std::fs::read(site.join(rel)).unwrap(),
                0o644,
            ));
        }
    }
    let bootstrap = "#!/bin/sh\nexport PYTHONPATH=\"$LAMBDA_TASK_ROOT\"\nexec python3 -m awslambdaric \"$_HANDLER\"\n";
    let app = "def handler(event, context):\n    print('ric handling', context.aws_request_id)\n    return {'ric': event, 'fn': context.function_name, 'mem': context.memory_limit_in_mb}\n\
def fail(event, context):\n    raise ValueError('ric failure')\n";
    files.push(("bootstrap".into(), bootstrap.as_bytes().to_vec(), 0o755));
    files.push(("app.py".into(), app.as_bytes().to_vec(), 0o644));
    let package = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data, mode) in &files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            w.start_file(name.as_str(), opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let s = Server::start();
    for (name, handler) in [("ric", "app.handler"), ("ric-fail", "app.fail")] {
        s.create_with(
            json!({"FunctionName": name, "Runtime": "provided.al2023", "Handler": handler,
                             "Role": common::ROLE, "Code": {"ZipFile": b64(&package)}}),
        )
        .await;
    }
    let out = s.invoke("ric", json!({"a": 1})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    assert_eq!(out.body["ric"], json!({"a": 1}));
    assert_eq!(out.body["fn"], "ric");
    assert!(out.log.contains("ric handling"), "{}", out.log);
    let warm = s.invoke("ric", json!({"a": 2})).await;
    assert_eq!(warm.body["ric"], json!({"a": 2}));
    let failed = s.invoke("ric-fail", json!({})).await;
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(failed.body["errorType"], "ValueError");
    assert_eq!(failed.body["errorMessage"], "ric failure");
}

/// A runtime that answers once and never asks for the next event: the next invocation times
/// out at the function's timeout, and the one after runs in a fresh environment.
#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_never_comes_back_times_out_and_is_replaced() {
    let s = Server::start();
    let bootstrap = r#"#!/bin/sh
H=$(mktemp)
curl -sS -D "$H" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next" >/dev/null
ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$H" | tr -d '[:space:]' | cut -d: -f2)
curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d "\"once $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \\n')\"" >/dev/null
sleep 600
"#;
    s.create_with(json!({"FunctionName": "once", "Runtime": "provided.al2023", "Handler": "x", "Role": common::ROLE,
                         "Timeout": 1, "Code": {"ZipFile": b64(&zip(&[("bootstrap", bootstrap, 0o755)]))}}))
        .await;
    let first = s.invoke("once", json!({})).await;
    assert!(
        first.body.as_str().unwrap().starts_with("once "),
        "{:?}",
        first.body
    );
    let started = std::time::Instant::now();
    let stuck = s.invoke("once", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the 1 s timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(
        stuck.body["errorType"], "Sandbox.Timedout",
        "{:?}",
        stuck.body
    );
    let third = s.invoke("once", json!({})).await;
    assert_ne!(third.body, first.body, "a fresh environment answered");
    assert!(third.report_field("Init Duration").is_some());
}
