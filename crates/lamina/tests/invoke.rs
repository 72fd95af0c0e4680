//! Invocations of real Python, Node.js and native functions through the Invoke API: payloads,
//! responses, function errors with Lambda's error types, logs, the context object and the
//! environment variables Lambda sets.

mod common;

use common::{Server, b64, eventually, rust_echo_bootstrap, zip, zip_binary};
use serde_json::{Value, json};
use std::time::Duration;

const PY_ECHO: &str = r#"
import json, os
INITS = []
INITS.append(1)
print("init ran")

def handler(event, context):
    path = "/tmp/lamina-invoke-count-" + context.log_stream_name.replace("/", "_")
    count = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(count))
    print("handling", context.aws_request_id)
    return {
        "event": event,
        "inits": len(INITS),
        "tmp_count": count,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": context.client_context.custom if context.client_context else None,
        "env": {k: os.environ.get(k) for k in [
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER",
            "AWS_EXECUTION_ENV", "TZ", "LANG", "PATH", "AWS_LAMBDA_INITIALIZATION_TYPE", "_X_AMZN_TRACE_ID",
            "GREETING", "HOME", "CARGO", "LAMINA_LOG"]},
        "cwd": os.getcwd(),
        "bootstrap_in_runtime_dir": os.path.isfile(os.path.join(os.environ["LAMBDA_RUNTIME_DIR"], "python/bootstrap.py")),
    }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn python_echo_cold_then_warm() {
    let s = Server::start();
    s.create_with(json!({
        "FunctionName": "py", "Runtime": "python3.11", "Handler": "pkg/app.handler", "Role": common::ROLE,
        "MemorySize": 256, "Environment": {"Variables": {"GREETING": "hello"}},
        "Code": {"ZipFile": b64(&zip(&[("pkg/app.py", PY_ECHO, 0o644), ("pkg/__init__.py", "", 0o644)]))},
    }))
    .await;

    let cold = s.invoke("py", json!({"n": 1})).await;
    assert_eq!(cold.function_error, None, "{:?}", cold.body);
    assert_eq!(cold.executed_version.as_deref(), Some("$LATEST"));
    let b = &cold.body;
    assert_eq!(b["event"], json!({"n": 1}));
    assert_eq!(b["function_name"], "py");
    assert_eq!(b["function_version"], "$LATEST");
    assert_eq!(b["memory_limit_in_mb"], "256");
    assert_eq!(
        b["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:py"
    );
    assert_eq!(b["log_group_name"], "/aws/lambda/py");
    let stream = b["log_stream_name"].as_str().unwrap();
    assert!(
        stream.contains("/[$LATEST]") && stream.len() == "2026/11/21/[$LATEST]".len() + 32,
        "{stream}"
    );
    let remaining = b["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "{remaining}");
    let env = &b["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "py");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/py");
    assert_eq!(env["AWS_LAMBDA_LOG_STREAM_NAME"], stream);
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["_HANDLER"], "pkg/app.handler");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["LANG"], "en_US.UTF-8");
    assert_eq!(env["GREETING"], "hello");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(
        env["_X_AMZN_TRACE_ID"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    assert!(
        env["PATH"]
            .as_str()
            .unwrap()
            .ends_with("/usr/local/bin:/usr/bin/:/bin:/opt/bin")
    );
    assert_eq!(b["cwd"], env["LAMBDA_TASK_ROOT"]);
    assert_eq!(
        b["bootstrap_in_runtime_dir"], true,
        "LAMBDA_RUNTIME_DIR holds the bootstrap"
    );
    for leaked in ["HOME", "CARGO", "LAMINA_LOG"] {
        assert_eq!(
            env[leaked],
            Value::Null,
            "{leaked} of the platform's environment leaked in"
        );
    }
    // Cold start: init output, then START, the handler's output, END and REPORT with Init.
    let lines: Vec<&str> = cold.log.lines().collect();
    let id = b["request_id"].as_str().unwrap();
    let start = lines
        .iter()
        .position(|l| *l == format!("START RequestId: {id} Version: $LATEST"))
        .expect("START");
    assert!(lines[..start].contains(&"init ran"), "{lines:?}");
    assert_eq!(lines[start + 1], format!("handling {id}"));
    assert_eq!(lines[start + 2], format!("END RequestId: {id}"));
    let report = lines[start + 3];
    assert!(
        report.starts_with(&format!("REPORT RequestId: {id}\tDuration: ")),
        "{report}"
    );
    assert!(
        report.contains("\tMemory Size: 256 MB\tMax Memory Used: "),
        "{report}"
    );
    assert!(report.ends_with(" ms\t"), "{report}");
    assert!(
        cold.report_field("Init Duration").unwrap() > 0.0,
        "{report}"
    );
    assert!(
        cold.report_field("Max Memory Used").unwrap() >= 1.0,
        "a measured peak: {report}"
    );
    let duration = cold.report_field("Duration").unwrap();
    let billed = cold.report_field("Billed Duration").unwrap();
    assert_eq!(billed, duration.ceil().max(1.0), "{report}");

    // Warm: same environment, init not run again, /tmp persists, no Init Duration.
    let warm = s.invoke("py", json!({"n": 2})).await;
    assert_eq!(warm.body["inits"], 1);
    assert_eq!(warm.body["tmp_count"], 2);
    assert_eq!(warm.body["log_stream_name"], stream);
    assert_ne!(warm.body["request_id"], b["request_id"]);
    assert!(!warm.log.contains("init ran"));
    assert!(warm.report_field("Init Duration").is_none(), "{}", warm.log);
    assert_eq!(s.health().await["environments"], 1);
}

/// A caller's `X-Amzn-Trace-Id` reaches the function (`_X_AMZN_TRACE_ID`), its root and
/// sampling kept and a parent of the invocation's own, through Invoke, an Event invocation
/// and a function URL; without one, each invocation starts a trace.
#[tokio::test(flavor = "multi_thread")]
async fn a_callers_trace_reaches_the_function() {
    let s = Server::start();
    s.python(
        "traced",
        "import os\n\ndef handler(event, context):\n    print('TRACE ' + os.environ['_X_AMZN_TRACE_ID'])\n    return os.environ['_X_AMZN_TRACE_ID']\n",
    )
    .await;
    let root = "Root=1-5759e988-bd862e3fe1be46a994272793";
    let header = format!("{root};Parent=53995c3f42cd8ad8;Sampled=1");
    let joined = |trace: &str| {
        trace.starts_with(&format!("{root};Parent="))
            && trace.contains(";Sampled=1")
            && !trace.contains("53995c3f42cd8ad8")
    };
    let (status, _, body) = s
        .invoke_raw("traced", "{}", &[("X-Amzn-Trace-Id", header.as_str())])
        .await;
    assert_eq!(status, 200);
    let trace: String = serde_json::from_slice(&body).unwrap();
    assert!(joined(&trace), "{trace}");
    let (_, _, body) = s.invoke_raw("traced", "{}", &[]).await;
    let fresh: String = serde_json::from_slice(&body).unwrap();
    assert!(
        fresh.starts_with("Root=1-") && !fresh.contains(root),
        "{fresh}"
    );

    let event_root = "Root=1-5759e988-000000000000000000000001";
    let event_header = format!("{event_root};Sampled=0");
    let (status, _, _) = s
        .invoke_raw(
            "traced",
            "{}",
            &[
                ("X-Amz-Invocation-Type", "Event"),
                ("X-Amzn-Trace-Id", event_header.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 202);
    let group = "/aws/lambda/traced";
    let pattern = format!("\"TRACE {event_root};Parent=\"");
    assert!(
        eventually(Duration::from_secs(20), async || {
            !s.log_lines(group, &pattern).await.is_empty()
        })
        .await,
        "the queued event ran in its caller's trace: {:?}",
        s.log_lines(group, "TRACE").await
    );

    let (status, _, url) = s
        .post_json(
            "/2021-10-31/functions/traced/url",
            &json!({"AuthType": "NONE"}),
        )
        .await;
    assert_eq!(status, 201, "{url}");
    let url_id = url["FunctionUrl"]
        .as_str()
        .unwrap()
        .split("//")
        .nth(1)
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let answered = s
        .http
        .get(s.url(&format!("/lambda-url/{url_id}/")))
        .header("X-Amzn-Trace-Id", header.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answered: String = serde_json::from_str(&answered).unwrap();
    assert!(joined(&answered), "{answered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_errors_use_lambdas_error_types() {
    let s = Server::start();
    let app = "import json\n\
def boom(event, context):\n    raise KeyError('missing-key')\n\
def unserializable(event, context):\n    return {1, 2}\n\
def ok(event, context):\n    return 'fine'\n";
    for (name, handler) in [
        ("boom", "app.boom"),
        ("marshal", "app.unserializable"),
        ("nohandler", "app.nothing"),
        ("nomodule", "missing.handler"),
        ("malformed", "nodot"),
    ] {
        s.create(name, "python3.11", handler, &[("app.py", app, 0o644)])
            .await;
    }
    s.create(
        "syntax",
        "python3.11",
        "bad.handler",
        &[("bad.py", "def handler(:\n", 0o644)],
    )
    .await;
    s.create(
        "initfail",
        "python3.11",
        "app.handler",
        &[("app.py", "raise RuntimeError('init exploded')\n", 0o644)],
    )
    .await;

    let boom = s.invoke("boom", json!({})).await;
    assert_eq!(boom.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(boom.body["errorType"], "KeyError");
    assert_eq!(boom.body["errorMessage"], "'missing-key'");
    let trace = boom.body["stackTrace"].as_array().unwrap();
    assert!(
        !trace.is_empty()
            && trace
                .iter()
                .all(|f| !f.as_str().unwrap().contains("bootstrap.py")),
        "{trace:?}"
    );
    assert!(
        boom.log.contains("[ERROR] KeyError: 'missing-key'"),
        "{}",
        boom.log
    );
    // The environment survives a handled failure.
    let again = s.invoke("boom", json!({})).await;
    assert!(again.report_field("Init Duration").is_none());

    for (name, error_type, message) in [
        (
            "marshal",
            "Runtime.MarshalError",
            "Unable to marshal response",
        ),
        (
            "nohandler",
            "Runtime.HandlerNotFound",
            "Handler 'nothing' missing on module 'app'",
        ),
        (
            "nomodule",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing'",
        ),
        (
            "malformed",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodot'",
        ),
        (
            "syntax",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'bad'",
        ),
        ("initfail", "RuntimeError", "init exploded"),
    ] {
        let out = s.invoke(name, json!({})).await;
        out.assert_error(name, error_type, message);
        assert!(
            out.log.contains("REPORT RequestId: "),
            "{name}: {}",
            out.log
        );
    }
    // After init failures the server keeps serving, and a good function still runs.
    s.create("fine", "python3.11", "app.ok", &[("app.py", app, 0o644)])
        .await;
    assert_eq!(s.invoke("fine", json!({})).await.body, "fine");
}

const NODE_CJS: &str = r#"
let inits = 0;
inits++;
console.log("node init");
exports.handler = async (event, context) => {
  console.log("handling", context.awsRequestId, { nested: true });
  return {
    event, inits,
    fn: context.functionName, version: context.functionVersion, memory: context.memoryLimitInMB,
    arn: context.invokedFunctionArn, stream: context.logStreamName, group: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext ? context.clientContext.custom : null,
    execEnv: process.env.AWS_EXECUTION_ENV,
  };
};
exports.callback = (event, context, callback) => { setTimeout(() => callback(null, { cb: event.v }), 5); };
exports.fails = async () => { const e = new TypeError("bad type"); throw e; };
exports.callbackError = (event, context, callback) => callback(new Error("cb failed"));
"#;

const NODE_ESM: &str = r#"
import { readFileSync } from "node:fs";
export const handler = async (event) => ({ esm: true, event });
"#;

#[tokio::test(flavor = "multi_thread")]
async fn node_commonjs_esm_callback_and_errors() {
    let s = Server::start();
    let files = [
        ("index.js", NODE_CJS, 0o644),
        ("lib/esm.mjs", NODE_ESM, 0o644),
    ];
    s.create("node", "nodejs20.x", "index.handler", &files)
        .await;
    s.create("node-cb", "nodejs20.x", "index.callback", &files)
        .await;
    s.create("node-fail", "nodejs20.x", "index.fails", &files)
        .await;
    s.create("node-cberr", "nodejs20.x", "index.callbackError", &files)
        .await;
    s.create("node-esm", "nodejs20.x", "lib/esm.handler", &files)
        .await;
    s.create("node-missing", "nodejs20.x", "index.nothing", &files)
        .await;
    s.create("node-nomod", "nodejs20.x", "absent.handler", &files)
        .await;
    s.create(
        "node-syntax",
        "nodejs20.x",
        "bad.handler",
        &[("bad.js", "exports.handler = async ( => 1;\n", 0o644)],
    )
    .await;

    let out = s.invoke("node", json!({"k": "v"})).await;
    assert_eq!(out.function_error, None, "{:?}", out.body);
    assert_eq!(out.body["event"], json!({"k": "v"}));
    assert_eq!(out.body["fn"], "node");
    assert_eq!(out.body["version"], "$LATEST");
    assert_eq!(out.body["memory"], "128");
    assert_eq!(out.body["group"], "/aws/lambda/node");
    assert_eq!(out.body["execEnv"], "AWS_Lambda_nodejs20.x");
    assert!(out.body["remaining"].as_i64().unwrap() > 0);
    assert!(out.log.contains("node init"), "{}", out.log);
    let id_line = out
        .log
        .lines()
        .find(|l| l.contains("\tINFO\thandling "))
        .expect("console.log line");
    let parts: Vec<&str> = id_line.split('\t').collect();
    assert_eq!(
        parts.len(),
        4,
        "time, request id, level, message: {id_line}"
    );
    assert!(parts[0].ends_with('Z') && parts[2] == "INFO");
    let warm = s.invoke("node", json!({})).await;
    assert_eq!(warm.body["inits"], 1);

    // A .js handler in a package that declares itself an ES module.
    s.create(
        "node-typemodule",
        "nodejs20.x",
        "index.handler",
        &[
            ("package.json", r#"{"type": "module"}"#, 0o644),
            (
                "index.js",
                "export const handler = async (e) => ({ typeModule: e.x });\n",
                0o644,
            ),
        ],
    )
    .await;
    assert_eq!(
        s.invoke("node-typemodule", json!({"x": 3})).await.body,
        json!({"typeModule": 3})
    );
    assert_eq!(
        s.invoke("node-cb", json!({"v": 7})).await.body,
        json!({"cb": 7})
    );
    assert_eq!(
        s.invoke("node-esm", json!({"e": 1})).await.body,
        json!({"esm": true, "event": {"e": 1}})
    );
    for (name, error_type, message) in [
        ("node-fail", "TypeError", "bad type"),
        ("node-cberr", "Error", "cb failed"),
        (
            "node-missing",
            "Runtime.HandlerNotFound",
            "index.nothing is undefined or not exported",
        ),
        (
            "node-nomod",
            "Runtime.ImportModuleError",
            "Cannot find module 'absent'",
        ),
        ("node-syntax", "Runtime.UserCodeSyntaxError", "SyntaxError"),
    ] {
        let out = s.invoke(name, json!({})).await;
        out.assert_error(name, error_type, message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provided_runtime_with_lambda_runtime_crate() {
    let s = Server::start();
    let package = zip_binary(&rust_echo_bootstrap());
    for runtime in ["provided", "provided.al2", "provided.al2023"] {
        let name = format!("rust-{}", runtime.replace('.', "-"));
        s.create_with(
            json!({"FunctionName": name, "Runtime": runtime, "Handler": "bootstrap",
                             "Role": common::ROLE, "Code": {"ZipFile": b64(&package)}}),
        )
        .await;
        let out = s.invoke(&name, json!({"hello": "rust"})).await;
        assert_eq!(out.function_error, None, "{:?}", out.body);
        assert_eq!(out.body["echo"], json!({"hello": "rust"}));
        assert_eq!(out.body["function_name"], name.as_str());
        assert_eq!(out.body["memory"], 128);
        assert_eq!(out.body["deadline_in_future"], true);
        assert!(out.log.contains(&format!(
            "rust echo {}",
            out.body["request_id"].as_str().unwrap()
        )));
    }
    let failed = s
        .invoke("rust-provided-al2023", json!({"fail": "went wrong"}))
        .await;
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(failed.body["errorMessage"], "went wrong");

    // A provided package without an executable bootstrap.
    s.create(
        "nobootstrap",
        "provided.al2023",
        "x",
        &[("readme.txt", "no bootstrap here", 0o644)],
    )
    .await;
    let out = s.invoke("nobootstrap", json!({})).await;
    assert_eq!(
        out.body["errorType"], "Runtime.InvalidEntrypoint",
        "{:?}",
        out.body
    );
    s.create(
        "notexec",
        "provided.al2023",
        "x",
        &[("bootstrap", "#!/bin/sh\necho hi\n", 0o644)],
    )
    .await;
    assert_eq!(
        s.invoke("notexec", json!({})).await.body["errorType"],
        "Runtime.InvalidEntrypoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_headers_payloads_and_limits() {
    let s = Server::start();
    s.python("echo", PY_ECHO).await;

    // No Content-Type, arbitrary JSON values, empty body.
    let (status, h, body) = s.invoke_raw("echo", "[1, 2, 3]", &[]).await;
    assert_eq!(
        status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&body),
        s.output_text()
    );
    assert!(!h.contains_key("x-amz-log-result"), "no tail unless asked");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["event"],
        json!([1, 2, 3])
    );
    // A cold start says how its init divided between the sandbox and the runtime.
    let split = h["x-lamina-init-ms"].to_str().unwrap().to_string();
    let parts: std::collections::HashMap<&str, &str> = split
        .split("; ")
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let ms = |k: &str| parts[k].parse::<f64>().unwrap();
    assert!(
        split.starts_with("sandbox=") && ms("sandbox") >= 0.0 && ms("runtime") > 0.0,
        "{split}"
    );
    assert!(
        ["none", "sandbox", "runtime", "forked"].contains(&parts["prestarted"]),
        "{split}"
    );
    let (status, h, body) = s.invoke_raw("echo", "", &[]).await;
    assert_eq!(status, 200);
    assert!(
        !h.contains_key("x-lamina-init-ms"),
        "a warm start has no init"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["event"],
        json!({})
    );

    // Client context passes through to the runtime.
    let cc = b64(br#"{"custom": {"tenant": "t1"}, "client": {"app_title": "x"}}"#);
    let (_, _, body) = s
        .invoke_raw("echo", "{}", &[("X-Amz-Client-Context", &cc)])
        .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["client_context"],
        json!({"tenant": "t1"})
    );
    let (status, h, _) = s
        .invoke_raw("echo", "{}", &[("X-Amz-Client-Context", "%%%")])
        .await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidRequestContentException")
    );

    // Not JSON.
    let (status, h, _) = s.invoke_raw("echo", "hello", &[]).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidRequestContentException")
    );

    // Over 6 MB.
    let big = format!("\"{}\"", "x".repeat(6 * 1024 * 1024));
    let (status, h, _) = s.invoke_raw("echo", big, &[]).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (413, "RequestTooLargeException")
    );
    // Just under 6 MB is fine.
    let fits = format!("\"{}\"", "x".repeat(6 * 1024 * 1024 - 100));
    let (status, _, _) = s.invoke_raw("echo", fits, &[]).await;
    assert_eq!(status, 200);

    // DryRun: validated, not run.
    let before = s.health().await["environments"].clone();
    let (status, _, body) = s
        .invoke_raw("echo", "{}", &[("X-Amz-Invocation-Type", "DryRun")])
        .await;
    assert_eq!((status, body.len()), (204, 0));
    assert_eq!(s.health().await["environments"], before);
    let (status, _, _) = s
        .invoke_raw("nope", "{}", &[("X-Amz-Invocation-Type", "DryRun")])
        .await;
    assert_eq!(status, 404);

    // Bad header values, unknown functions and qualifiers.
    let (status, h, _) = s
        .invoke_raw("echo", "{}", &[("X-Amz-Invocation-Type", "Sometimes")])
        .await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (status, h, _) = s
        .invoke_raw("echo", "{}", &[("X-Amz-Log-Type", "All")])
        .await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (status, h, _) = s.invoke_raw("missing", "{}", &[]).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    let (status, _, _) = s.invoke_raw("echo:7", "{}", &[]).await;
    assert_eq!(status, 404);
    let (status, _, _) = s
        .invoke_raw(
            "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aecho",
            "{}",
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // The tail is the last 4 KB of this invocation's log, as base64.
    s.create(
        "loud",
        "python3.11",
        "app.handler",
        &[(
            "app.py",
            "def handler(e, c):\n    print('y' * 10000)\n    return 1\n",
            0o644,
        )],
    )
    .await;
    let (_, h, _) = s
        .invoke_raw("loud", "{}", &[("X-Amz-Log-Type", "Tail")])
        .await;
    use base64::Engine;
    let tail = base64::engine::general_purpose::STANDARD
        .decode(h["x-amz-log-result"].as_bytes())
        .unwrap();
    assert_eq!(tail.len(), 4096);
    assert!(
        String::from_utf8(tail)
            .unwrap()
            .contains("REPORT RequestId")
    );
}

/// `--isolation none` (development mode) runs functions as plain processes with host paths.
#[tokio::test(flavor = "multi_thread")]
async fn unisolated_mode_runs_functions_as_plain_processes() {
    let s = Server::start_with(&["--isolation", "none"], None);
    assert!(
        s.output_text().contains("isolation: none"),
        "{}",
        s.output_text()
    );
    s.python("plain", PY_ECHO).await;
    let out = s.invoke("plain", json!({"k": 1})).await;
    assert_eq!(out.body["event"], json!({"k": 1}));
    let root = out.body["env"]["LAMBDA_TASK_ROOT"].as_str().unwrap();
    assert!(
        root.starts_with(s.data_dir.to_str().unwrap()),
        "a host path: {root}"
    );
    assert_ne!(out.body["env"]["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
}
