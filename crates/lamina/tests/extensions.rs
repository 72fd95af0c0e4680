//! External extensions and the Telemetry API against a real server: an extension shipped in
//! a layer, written the way Lambda's documentation shows (a launcher script in
//! `/opt/extensions` running a Python program on the standard library alone), registers,
//! receives INVOKE for each invocation and SHUTDOWN when its environment is retired, holds
//! each invocation open until it is done, and receives the platform's, the function's and
//! its own records by HTTP from its Telemetry API subscription. An extension whose init fails
//! fails the invocation with Lambda's error type.

mod common;

use std::time::Duration;

use common::{ROLE, Server, b64, eventually, unique, zip};
use serde_json::{Value, json};

/// `/opt/extensions/probe`: Lambda's layout; the extension's name is its file name.
const LAUNCHER: &str = "#!/bin/sh\nexec python3 /opt/probe/extension.py \"$(basename \"$0\")\"\n";

/// The extension: registers for INVOKE and SHUTDOWN, subscribes its HTTP listener to every
/// telemetry stream, and writes what it gets to /tmp/probe.jsonl, which the function reads
/// back. It takes 300 ms over each INVOKE before it asks for the next event.
const EXTENSION: &str = r#"
import json, os, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
NAME = sys.argv[1]
LOCK = threading.Lock()

def note(kind, data):
    with LOCK, open("/tmp/probe.jsonl", "a") as f:
        f.write(json.dumps({"kind": kind, "data": data}) + "\n")

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(API + path, method=method, headers=headers or {},
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req) as r:
        return r.headers, json.loads(r.read() or b"null") if r.headers.get("Content-Type", "").startswith("application/json") else r.read()

headers, info = call("POST", "/2020-01-01/extension/register", {"events": ["INVOKE", "SHUTDOWN"]},
                     {"Lambda-Extension-Name": NAME, "Lambda-Extension-Accept-Feature": "accountId"})
ext_id = headers["Lambda-Extension-Identifier"]
note("registered", info)

class Listener(BaseHTTPRequestHandler):
    def do_POST(self):
        records = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        note("telemetry", records)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass

server = HTTPServer(("sandbox.localdomain", 4243), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
call("PUT", "/2022-07-01/telemetry", {
    "schemaVersion": "2022-12-13", "types": ["platform", "function", "extension"],
    "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"},
}, {"Lambda-Extension-Identifier": ext_id})
print("probe extension subscribed", flush=True)

while True:
    _, event = call("GET", "/2020-01-01/extension/event/next", None, {"Lambda-Extension-Identifier": ext_id})
    note("event", event)
    if event["eventType"] == "SHUTDOWN":
        print("probe got SHUTDOWN " + event["shutdownReason"], flush=True)
        sys.exit(0)
    time.sleep(0.3)
    note("done", event["requestId"])
"#;

const FUNCTION: &str = r#"
import json

def handler(event, context):
    print("function says", event["n"])
    try:
        lines = open("/tmp/probe.jsonl").read().splitlines()
    except FileNotFoundError:
        lines = []
    return {"id": context.aws_request_id, "seen": [json.loads(l) for l in lines]}
"#;

/// An extension that fails its init through the Extensions API.
const FAILING: &str = r#"#!/bin/sh
exec python3 -c '
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension/"
req = urllib.request.Request(api + "register", method="POST", data=b"{\"events\": []}",
                             headers={"Lambda-Extension-Name": "failing"})
ext_id = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
urllib.request.urlopen(urllib.request.Request(api + "init/error", method="POST", data=b"{}",
    headers={"Lambda-Extension-Identifier": ext_id,
             "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})).read()
'
"#;

async fn layer(s: &Server, name: &str, files: &[(&str, &str, u32)]) -> String {
    let body = json!({"Content": {"ZipFile": b64(&zip(files))}});
    let (st, _, out) = s
        .post_json(&format!("/2018-10-31/layers/{name}/versions"), &body)
        .await;
    assert_eq!(st, 201, "{out}");
    out["LayerVersionArn"].as_str().unwrap().to_string()
}

async fn function_with(s: &Server, name: &str, layer: &str) {
    s.create_with(json!({
        "FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
        "Timeout": 10, "Layers": [layer],
        "Code": {"ZipFile": b64(&zip(&[("app.py", FUNCTION, 0o644)]))},
    }))
    .await;
}

fn kinds<'a>(seen: &'a [Value], kind: &str) -> Vec<&'a Value> {
    seen.iter()
        .filter(|n| n["kind"] == kind)
        .map(|n| &n["data"])
        .collect()
}

/// Every telemetry record the extension received so far.
fn records(seen: &[Value]) -> Vec<Value> {
    kinds(seen, "telemetry")
        .into_iter()
        .flat_map(|batch| batch.as_array().cloned().unwrap_or_default())
        .collect()
}

async fn probe_layer(s: &Server) -> String {
    layer(
        s,
        "probe",
        &[
            ("extensions/probe", LAUNCHER, 0o755),
            ("probe/extension.py", EXTENSION, 0o644),
        ],
    )
    .await
}

/// With no runtime started ahead, the runtime is started through the extension launcher,
/// which starts the extensions first.
#[tokio::test(flavor = "multi_thread")]
async fn an_extension_in_a_layer_takes_part_in_every_phase() {
    let s = Server::start_with(
        &[
            "--idle-timeout",
            "2",
            "--runtime-pool",
            "0",
            "--zygotes",
            "false",
        ],
        None,
    );
    let arn = probe_layer(&s).await;
    let name = unique("ext");
    function_with(&s, &name, &arn).await;
    let first = s.invoke(&name, json!({"n": 1})).await;
    assert!(
        matches!(first.prestarted.as_deref(), Some("none" | "sandbox")),
        "{:?}",
        first.prestarted
    );
    takes_part_in_every_phase(&s, &name, first).await;
}

/// A runtime started ahead of time (forked or waiting) serves a function with extensions
/// too: they are started beside it when it is given its function, and take part in every
/// phase alike.
#[tokio::test(flavor = "multi_thread")]
async fn an_extension_beside_a_runtime_started_ahead_takes_part_in_every_phase() {
    let s = Server::start_with(&["--idle-timeout", "2", "--runtime-pool", "1"], None);
    let arn = probe_layer(&s).await;
    // The pool fills in the background once the first Python function appears.
    for i in 0..40 {
        let name = unique(&format!("ext-ahead-{i}"));
        function_with(&s, &name, &arn).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let first = s.invoke(&name, json!({"n": 1})).await;
        if matches!(first.prestarted.as_deref(), Some("runtime" | "forked")) {
            return takes_part_in_every_phase(&s, &name, first).await;
        }
    }
    panic!(
        "no function with an extension was served by a runtime started ahead\n{}",
        s.output_text()
    );
}

/// Checks an extension's part in `name`'s invocations, `first` its first.
async fn takes_part_in_every_phase(s: &Server, name: &str, first: common::Invoked) {
    // First invocation: the extension registered and finished its init before the runtime
    // got the event; its init is part of the Init Duration.
    assert!(
        first.function_error.is_none(),
        "{:?}\n{}",
        first.body,
        first.log
    );
    let seen = first.body["seen"].as_array().unwrap().clone();
    let registered = kinds(&seen, "registered");
    assert_eq!(registered.len(), 1, "{seen:?}");
    assert_eq!(registered[0]["functionName"], name);
    assert_eq!(registered[0]["functionVersion"], "$LATEST");
    assert_eq!(registered[0]["handler"], "app.handler");
    assert!(
        registered[0]["accountId"]
            .as_str()
            .is_some_and(|a| a.len() == 12)
    );
    assert!(
        first
            .log
            .contains("EXTENSION\tName: probe\tState: Ready\tEvents: [INVOKE, SHUTDOWN]"),
        "{}",
        first.log
    );
    assert!(
        first.report_field("Init Duration").is_some(),
        "{}",
        first.log
    );
    // The invocation ends only when the extension is done with its INVOKE (300 ms).
    let duration = first.report_field("Duration").unwrap();
    assert!(duration >= 300.0, "Duration {duration} ms: {}", first.log);
    let first_id = first.body["id"].as_str().unwrap().to_string();

    // Later invocations: each INVOKE reached the extension, and it finished the previous one
    // before the environment took the next; telemetry arrives for each invocation.
    let mut ids = vec![first_id.clone()];
    let mut last = Vec::new();
    let complete = eventually(Duration::from_secs(30), async || {
        let out = s.invoke(name, json!({"n": ids.len() + 1})).await;
        assert!(out.function_error.is_none(), "{:?}", out.body);
        last = out.body["seen"].as_array().unwrap().clone();
        ids.push(out.body["id"].as_str().unwrap().to_string());
        let recs = records(&last);
        let report_for_first = recs.iter().any(|r| {
            r["type"] == "platform.report" && r["record"]["requestId"] == first_id.as_str()
        });
        report_for_first && ids.len() >= 3
    })
    .await;
    assert!(
        complete,
        "no platform.report for the first invocation: {last:?}"
    );
    let invokes: Vec<String> = kinds(&last, "event")
        .iter()
        .filter(|e| e["eventType"] == "INVOKE")
        .map(|e| e["requestId"].as_str().unwrap().to_string())
        .collect();
    let done: Vec<String> = kinds(&last, "done")
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    // All but the running invocation were received and finished, in order.
    let before_last = &ids[..ids.len() - 1];
    assert_eq!(&invokes[..before_last.len()], before_last, "{last:?}");
    assert_eq!(&done[..before_last.len()], before_last, "{last:?}");
    let invoke = kinds(&last, "event")[0].clone();
    assert!(invoke["deadlineMs"].as_u64().unwrap() > 1_700_000_000_000);
    assert!(
        invoke["invokedFunctionArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":function:{name}"))
    );
    assert_eq!(invoke["tracing"]["type"], "X-Amzn-Trace-Id");
    assert!(
        invoke["tracing"]["value"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );

    let recs = records(&last);
    let of = |t: &str| -> Vec<&Value> { recs.iter().filter(|r| r["type"] == t).collect() };
    assert_eq!(
        of("platform.telemetrySubscription")[0]["record"]["name"],
        "probe"
    );
    assert_eq!(of("platform.initReport").len(), 1, "{recs:?}");
    assert!(
        of("platform.start")
            .iter()
            .any(|r| r["record"]["requestId"] == first_id.as_str())
    );
    let done_rec = of("platform.runtimeDone");
    let first_done = done_rec
        .iter()
        .find(|r| r["record"]["requestId"] == first_id.as_str())
        .expect("runtimeDone of the first invocation");
    assert_eq!(first_done["record"]["status"], "success");
    let report = of("platform.report")
        .into_iter()
        .find(|r| r["record"]["requestId"] == first_id.as_str())
        .unwrap();
    assert_eq!(report["record"]["metrics"]["memorySizeMB"], 128);
    assert!(
        report["record"]["metrics"]["billedDurationMs"]
            .as_u64()
            .unwrap()
            >= 300
    );
    assert!(
        report["record"]["metrics"]["initDurationMs"]
            .as_f64()
            .is_some()
    );
    assert!(report["time"].as_str().unwrap().ends_with('Z'));
    // The function's output and the extension's own are told apart.
    assert!(
        of("function")
            .iter()
            .any(|r| r["record"] == "function says 1"),
        "{recs:?}"
    );
    assert!(
        of("extension")
            .iter()
            .any(|r| r["record"] == "probe extension subscribed"),
        "{recs:?}"
    );
    assert!(
        !of("function")
            .iter()
            .any(|r| r["record"] == "probe extension subscribed")
    );

    // Idle for longer than --idle-timeout: the environment is retired, and the extension
    // gets SHUTDOWN first.
    let group = format!("/aws/lambda/{name}");
    let shut = eventually(Duration::from_secs(20), async || {
        !s.log_lines(&group, "\"probe got SHUTDOWN spindown\"")
            .await
            .is_empty()
    })
    .await;
    assert!(shut, "no SHUTDOWN reached the extension");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extension_that_fails_its_init_fails_the_invocation() {
    let s = Server::start();
    let arn = layer(&s, "failing", &[("extensions/failing", FAILING, 0o755)]).await;
    let name = unique("ext-fail");
    function_with(&s, &name, &arn).await;
    let out = s.invoke(&name, json!({"n": 1})).await;
    out.assert_error(
        "extension init error",
        "Extension.InitError",
        "Extension failing failed to initialise: Extension.ConfigInvalid",
    );
    // The server goes on serving other functions.
    let other = unique("plain");
    s.python(&other, "def handler(e, c):\n    return 'fine'\n")
        .await;
    assert_eq!(s.invoke(&other, json!({})).await.body, "fine");
}
