//! Runtimes started ahead of time (`serve --runtime-pool`): a Python or Node.js runtime runs
//! without code in its sandbox until a cold start claims it. These tests check that a claimed
//! runtime is indistinguishable from one started for its function (environment, working
//! directory, code, `/tmp` size, cgroup limits, standard input, init errors), that it shows no
//! host path, that a function whose variables change how an interpreter starts gets a
//! runtime started for it instead, and that functions with layers are served by runtimes and
//! sandboxes started ahead, their layers at `/opt`.
//!
//! They need root (the sandbox needs it), as the other sandbox tests do.

mod common;

use std::time::Duration;

use common::{Server, sandbox_cgroups, zip};
use serde_json::{Value, json};

const PY_PROBE: &str = r#"
import json, os, sys

def handler(event, context):
    st = os.statvfs("/tmp")
    return {
        "cwd": os.getcwd(),
        "files": sorted(os.listdir(".")),
        "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "handler": os.environ.get("_HANDLER"),
        "mine": os.environ.get("MINE"),
        "await": os.environ.get("LAMINA_AWAIT_FUNCTION"),
        "memory": context.memory_limit_in_mb,
        "function_name": context.function_name,
        "tmp_mb": st.f_blocks * st.f_frsize // (1024 * 1024),
        "stdin": os.readlink("/proc/self/fd/0"),
        "mountinfo": open("/proc/self/mountinfo").read(),
        "dont_write_bytecode": sys.flags.dont_write_bytecode,
    }
"#;

const NODE_PROBE: &str = r#"
const fs = require('fs');
exports.handler = async () => ({
  cwd: process.cwd(),
  files: fs.readdirSync('.').sort(),
  name: process.env.AWS_LAMBDA_FUNCTION_NAME,
  mine: process.env.MINE,
  await: process.env.LAMINA_AWAIT_FUNCTION ?? null,
  heapLimitMb: Math.round(require('v8').getHeapStatistics().heap_size_limit / 1048576),
});
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_prestarted_python_runtime_becomes_its_function() {
    let mut s = Server::start_with(&["--runtime-pool", "1"], None);
    let data_dir = s.data_dir.display().to_string();
    let files = zip(&[("app.py", PY_PROBE, 0o644), ("data.txt", "x", 0o644)]);
    let body = |name: &str| {
        json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
               "Role": common::ROLE, "MemorySize": 128,
               "EphemeralStorage": {"Size": 1024},
               "Environment": {"Variables": {"MINE": format!("value-of-{name}")}},
               "Code": {"ZipFile": common::b64(&files)}})
    };
    let (name, out) = s.claim_prestarted("py", body).await;
    assert_eq!(out["name"], name.as_str(), "{out}");
    assert_eq!(out["function_name"], name.as_str());
    assert_eq!(out["handler"], "app.handler");
    assert_eq!(out["mine"], format!("value-of-{name}"));
    assert_eq!(out["await"], Value::Null, "the waiting signal is gone");
    assert_eq!(out["memory"], "128");
    assert_eq!(out["cwd"], "/var/task");
    assert_eq!(out["files"], json!(["app.py", "data.txt"]));
    assert_eq!(out["tmp_mb"], 1024, "/tmp is resized to the function's");
    assert_eq!(out["stdin"], "/dev/null");
    let mountinfo = out["mountinfo"].as_str().unwrap();
    assert!(
        !mountinfo.contains(&data_dir) && !mountinfo.contains("sandbox-root"),
        "{mountinfo}"
    );
    assert!(
        mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/var/task") && l.contains(" ro,")),
        "{mountinfo}"
    );

    // The function's limits replace the placeholder ones of a waiting sandbox: memory is
    // MemorySize alone, 256 MiB here (/tmp is on disk).
    let big = |name: &str| {
        let mut b = body(name);
        b["MemorySize"] = json!(256);
        b
    };
    let (name, _) = s.claim_prestarted("py-256", big).await;
    // Each function tried keeps its idle environment; every one has the function's limit.
    let tried = name.rsplit('-').next().unwrap().parse::<usize>().unwrap() + 1;
    let limits: Vec<u64> = sandbox_cgroups(s.pid(), "memory")
        .into_iter()
        .filter_map(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(
        limits.iter().filter(|l| **l == 256 << 20).count(),
        tried,
        "one sandbox limited to 256 MiB per function: {limits:?}"
    );

    // An init error reaches the first invocation, as in a runtime started for its function.
    let broken = |name: &str| {
        json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "missing.handler",
               "Role": common::ROLE, "Code": {"ZipFile": common::b64(&files)}})
    };
    let mut seen = false;
    for i in 0..20 {
        let name = format!("py-broken-{i}");
        s.create_with(broken(&name)).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (status, h, _) = s.invoke_raw(&name, "{}", &[]).await;
        assert_eq!(status, 200);
        let ahead = h["x-lamina-init-ms"].to_str().unwrap().to_string();
        let out = s.invoke(&name, json!({})).await;
        out.assert_error("a missing module", "Runtime.ImportModuleError", "missing");
        if ahead.ends_with("prestarted=runtime") {
            seen = true;
            break;
        }
    }
    assert!(
        seen,
        "no broken function was served by a pre-started runtime"
    );

    // A variable the interpreter reads at start: that function gets a runtime of its own.
    let (status, _, _) = s
        .post_json(
            "/2015-03-31/functions",
            &json!({"FunctionName": "py-flags", "Runtime": "python3.11",
                    "Handler": "app.handler", "Role": common::ROLE,
                    "Environment": {"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}},
                    "Code": {"ZipFile": common::b64(&files)}}),
        )
        .await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (out, ahead) = s.first_invoke("py-flags", &json!({})).await;
    assert_ne!(ahead, "runtime");
    assert_eq!(out["dont_write_bytecode"], 1, "{out}");

    // Waiting runtimes belong to the server's process tree and end with it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tree = lamina_executor::launcher::process_tree(s.pid());
    let waiting = tree
        .iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|kv| kv == b"LAMINA_AWAIT_FUNCTION=stdin")
            })
        })
        .count();
    assert!(waiting >= 1, "pre-started runtimes in {tree:?}");
    assert!(s.stop().success());
    let gone = || {
        tree.iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    assert!(
        common::eventually(Duration::from_secs(5), async || gone()).await,
        "every process of the server ended with it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prestarted_node_runtime_becomes_its_function() {
    let s = Server::start_with(&["--runtime-pool", "1"], None);
    let runtime = "nodejs20.x";
    let files = zip(&[("index.js", NODE_PROBE, 0o644)]);
    let body = |name: &str| {
        json!({"FunctionName": name, "Runtime": runtime, "Handler": "index.handler",
               "Role": common::ROLE,
               "Environment": {"Variables": {"MINE": format!("value-of-{name}")}},
               "Code": {"ZipFile": common::b64(&files)}})
    };
    let (name, out) = s.claim_prestarted("node", body).await;
    assert_eq!(out["name"], name.as_str(), "{out}");
    assert_eq!(out["mine"], format!("value-of-{name}"));
    assert_eq!(out["await"], Value::Null);
    assert_eq!(out["cwd"], "/var/task");
    assert_eq!(out["files"], json!(["index.js"]));

    // NODE_OPTIONS is read at start: that function gets a runtime of its own, and it applies.
    s.create_with(json!({"FunctionName": "node-opts", "Runtime": runtime,
        "Handler": "index.handler", "Role": common::ROLE,
        "Environment": {"Variables": {"NODE_OPTIONS": "--max-old-space-size=64"}},
        "Code": {"ZipFile": common::b64(&files)}}))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (out, ahead) = s.first_invoke("node-opts", &json!({})).await;
    assert_ne!(ahead, "runtime");
    let heap = out["heapLimitMb"].as_i64().unwrap();
    assert!(heap < 128, "NODE_OPTIONS applied: heap limit {heap} MB");
}

/// A custom runtime's bootstrap, written in Python so that the test needs no toolchain: one
/// invocation, answered with what the process sees.
const PROVIDED_BOOTSTRAP: &str = r#"#!/usr/bin/python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    st = os.statvfs("/tmp")
    body = json.dumps({
        "cwd": os.getcwd(),
        "files": sorted(os.listdir(".")),
        "mine": os.environ.get("MINE"),
        "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "tmp_mb": st.f_blocks * st.f_frsize // (1024 * 1024),
        "uid": os.getuid(),
    }).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=body, method="POST")).read()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_prebuilt_sandbox_runs_a_custom_runtime() {
    let s = Server::start_with(&["--sandbox-pool", "2"], None);
    let files = zip(&[("bootstrap", PROVIDED_BOOTSTRAP, 0o755)]);
    let mut served = false;
    for i in 0..10 {
        let name = format!("custom-{i}");
        s.create_with(json!({"FunctionName": name, "Runtime": "provided.al2023",
            "Handler": "x", "Role": common::ROLE, "EphemeralStorage": {"Size": 600},
            "Environment": {"Variables": {"MINE": format!("value-of-{name}")}},
            "Code": {"ZipFile": common::b64(&files)}}))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (out, ahead) = s.first_invoke(&name, &json!({})).await;
        assert_eq!(out["name"], name.as_str(), "{out}");
        assert_eq!(out["mine"], format!("value-of-{name}"));
        assert_eq!(out["cwd"], "/var/task");
        assert_eq!(out["files"], json!(["bootstrap"]));
        assert_eq!(out["tmp_mb"], 600);
        assert_eq!(out["uid"], 993);
        if ahead == "sandbox" {
            served = true;
            break;
        }
    }
    assert!(
        served,
        "no cold start took a pre-built sandbox\n{}",
        s.output_text()
    );
}

/// A function's layers are attached with its code, so runtimes started ahead of time
/// (Python's, Node.js's) and sandboxes built ahead serve functions with layers too, and what
/// the layers hold is where Lambda puts it: Python's and Node.js's module paths, a custom
/// runtime's `bootstrap` at `/opt/bootstrap`.
#[tokio::test(flavor = "multi_thread")]
async fn functions_with_layers_are_served_by_what_was_started_ahead() {
    let s = Server::start_with(&["--runtime-pool", "1", "--sandbox-pool", "2"], None);
    let layer = zip(&[
        ("python/layered_mod.py", "WHERE = 'python layer'\n", 0o644),
        (
            "nodejs/node_modules/layered-mod/index.js",
            "exports.where = 'node layer';\n",
            0o644,
        ),
        ("bootstrap", PROVIDED_BOOTSTRAP, 0o755),
    ]);
    let (st, _, out) = s
        .post_json(
            "/2018-10-31/layers/shared/versions",
            &json!({"Content": {"ZipFile": common::b64(&layer)}}),
        )
        .await;
    assert_eq!(st, 201, "{out}");
    let arn = out["LayerVersionArn"].as_str().unwrap().to_string();

    let py = zip(&[(
        "app.py",
        "import os, layered_mod\ndef handler(e, c):\n    return {'where': layered_mod.WHERE, 'opt': sorted(os.listdir('/opt'))}\n",
        0o644,
    )]);
    let (_, out) = s
        .claim_prestarted("py-layered", |name| {
            json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
               "Role": common::ROLE, "Layers": [arn],
               "Code": {"ZipFile": common::b64(&py)}})
        })
        .await;
    assert_eq!(out["where"], "python layer", "{out}");
    assert_eq!(out["opt"], json!(["bootstrap", "nodejs", "python"]));

    let node = zip(&[(
        "index.js",
        "exports.handler = async () => ({ where: require('layered-mod').where });\n",
        0o644,
    )]);
    let (_, out) = s
        .claim_prestarted("node-layered", |name| {
            json!({"FunctionName": name, "Runtime": "nodejs20.x", "Handler": "index.handler",
               "Role": common::ROLE, "Layers": [arn],
               "Code": {"ZipFile": common::b64(&node)}})
        })
        .await;
    assert_eq!(out["where"], "node layer", "{out}");

    // A custom runtime whose bootstrap is the layer's, in a sandbox built ahead.
    let code = zip(&[("data.txt", "x", 0o644)]);
    for i in 0..10 {
        let name = format!("custom-layered-{i}");
        s.create_with(json!({"FunctionName": name, "Runtime": "provided.al2023",
            "Handler": "x", "Role": common::ROLE, "Layers": [arn],
            "Code": {"ZipFile": common::b64(&code)}}))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (out, ahead) = s.first_invoke(&name, &json!({})).await;
        assert_eq!(out["name"], name.as_str(), "{out}");
        assert_eq!(out["files"], json!(["data.txt"]));
        if ahead == "sandbox" {
            return;
        }
    }
    panic!(
        "no cold start of a custom runtime with a layer took a pre-built sandbox\n{}",
        s.output_text()
    );
}
