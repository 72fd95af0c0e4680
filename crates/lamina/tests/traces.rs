//! Invocation spans over OTLP against a real receiver: `serve --otlp-endpoint` sends each
//! sampled invocation as a span that keeps its X-Ray header's ids (the caller's trace, the
//! invocation's `Parent` as span id, the caller's `Parent` as parent), with OpenTelemetry's
//! FaaS attributes and an error status for a failed invocation. The receiver decodes the
//! protobuf with OpenTelemetry's own classes (`tests/compat/otlp_receiver.py`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ROLE, Server, b64, eventually, test_python, zip};
use serde_json::{Value, json};

struct Receiver {
    child: Child,
    port: u16,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("spans.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/otlp_receiver.py");
        let mut child = Command::new(test_python())
            .arg(script)
            .arg(&out)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("the OTLP receiver did not start (is opentelemetry-proto installed?): {line:?}")
        });
        Receiver {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CODE: &str = "import os\n\ndef handler(event, context):\n    if event.get('fail'):\n        raise ValueError('asked to fail')\n    return {'trace': os.environ['_X_AMZN_TRACE_ID'], 'id': context.aws_request_id}\n";

async fn call(s: &Server, name: &str, payload: Value, header: Option<&str>) -> (Value, String) {
    let mut headers = vec![];
    if let Some(h) = header {
        headers.push(("X-Amzn-Trace-Id", h));
    }
    let (status, h, body) = s.invoke_raw(name, payload.to_string(), &headers).await;
    assert_eq!(status, 200);
    let id = h["x-amzn-requestid"].to_str().unwrap().to_string();
    (serde_json::from_slice(&body).unwrap(), id)
}

fn field<'a>(header: &'a str, name: &str) -> &'a str {
    header
        .split(';')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sampled_invocations_are_exported_as_spans_of_their_trace() {
    let receiver = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let s = Server::start_with(&["--otlp-endpoint", &endpoint], None);
    s.python("traced", CODE).await;
    s.create_with(json!({
        "FunctionName": "active", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
        "TracingConfig": {"Mode": "Active"},
        "Code": {"ZipFile": b64(&zip(&[("app.py", CODE, 0o644)]))},
    }))
    .await;

    let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let (joined, joined_id) = call(&s, "traced", json!({}), Some(caller)).await;
    let (_, failed_id) = call(&s, "traced", json!({"fail": true}), Some(caller)).await;
    let unsampled = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=0";
    let (_, unsampled_id) = call(&s, "traced", json!({}), Some(unsampled)).await;
    let (_, passthrough_id) = call(&s, "traced", json!({}), None).await;
    let (active, active_id) = call(&s, "active", json!({}), None).await;

    let want = [&joined_id, &failed_id, &active_id];
    let all_in = eventually(Duration::from_secs(15), async || {
        let spans = receiver.spans();
        want.iter().all(|id| {
            spans
                .iter()
                .any(|sp| sp["attributes"]["faas.invocation_id"] == id.as_str())
        })
    })
    .await;
    let spans = receiver.spans();
    assert!(all_in, "spans received: {spans:?}");
    let of = |id: &str| {
        spans
            .iter()
            .find(|sp| sp["attributes"]["faas.invocation_id"] == id)
            .cloned()
    };

    // The caller's trace, the invocation's own segment, the caller's as parent.
    let trace = joined["trace"].as_str().unwrap();
    let span = of(&joined_id).unwrap();
    assert_eq!(span["trace_id"], "5759e988bd862e3fe1be46a994272793");
    assert_eq!(span["span_id"], field(trace, "Parent"));
    assert_eq!(span["parent_span_id"], "53995c3f42cd8ad8");
    assert_eq!(span["name"], "traced");
    assert_eq!(span["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(span["resource"]["service.name"], "lamina");
    let attrs = &span["attributes"];
    assert_eq!(attrs["faas.name"], "traced");
    assert_eq!(attrs["faas.version"], "$LATEST");
    assert_eq!(attrs["faas.coldstart"], true);
    assert_eq!(attrs["faas.max_memory"], 128 * 1024 * 1024);
    assert!(attrs["lamina.billed_duration_ms"].as_i64().unwrap() >= 1);
    assert!(span["end"].as_u64().unwrap() > span["start"].as_u64().unwrap());
    assert_eq!(span["status"], 0, "unset: the invocation succeeded");

    let failed = of(&failed_id).unwrap();
    assert_eq!(failed["status"], 2, "STATUS_CODE_ERROR");
    assert_eq!(failed["status_message"], "ValueError");
    assert_eq!(failed["attributes"]["faas.coldstart"], false);

    // TracingConfig Active samples invocations whose caller made no decision; PassThrough
    // and Sampled=0 are not exported.
    let active_span = of(&active_id).unwrap();
    let active_trace = active["trace"].as_str().unwrap();
    assert!(active_trace.contains("Sampled=1"), "{active_trace}");
    assert_eq!(
        active_span["trace_id"],
        field(active_trace, "Root")[2..].replace('-', "")
    );
    assert_eq!(active_span["parent_span_id"], "");
    assert!(
        of(&unsampled_id).is_none() && of(&passthrough_id).is_none(),
        "{spans:?}"
    );
}
