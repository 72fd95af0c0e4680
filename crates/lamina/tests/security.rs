//! Attacks run as function code inside real sandboxed environments, next to a second
//! environment and a listener standing in for the control plane. Each must fail, and the
//! platform and the neighbour must keep working afterwards.
//!
//! These tests need root (the sandbox needs it): the server is started with
//! `--isolation sandbox`, which refuses to start otherwise.

mod common;

use common::Server;
use serde_json::{Value, json};

/// Python attack code: `attack(event)` returns what the attack achieved.
const ATTACKS: &str = r#"
import os, socket, json, errno

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return {"ok": False, "errno": errno.errorcode.get(e.errno, str(e.errno))}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)}

def handler(event, context):
    kind = event["attack"]
    if kind == "read_path":
        return attempt(lambda: open(event["path"]).read()[:100])
    if kind == "write_path":
        return attempt(lambda: open(event["path"], "w").write("x"))
    if kind == "list_dir":
        return attempt(lambda: sorted(os.listdir(event["path"])))
    if kind == "connect":
        return attempt(lambda: socket.create_connection((event["host"], event["port"]), timeout=1).close())
    if kind == "pids":
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if kind == "kill_all":
        return attempt(lambda: os.kill(-1, 9))
    if kind == "tmp_write":
        open("/tmp/secret-" + event["tag"], "w").write("mine")
        return "written"
    if kind == "status":
        keep = ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
        return {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status") if l.split(":")[0] in keep}
    if kind == "setuid_root":
        return attempt(lambda: os.setuid(0))
    if kind == "mountinfo":
        return open("/proc/self/mountinfo").read()
    if kind == "environ":
        return dict(os.environ)
    if kind == "hostname":
        return socket.gethostname()
    raise ValueError("unknown attack " + kind)
"#;

async fn attack(s: &Server, function: &str, event: Value) -> Value {
    let out = s.invoke(function, event).await;
    assert_eq!(out.function_error, None, "{:?}\n{}", out.body, out.log);
    out.body
}

fn sandboxed() -> Server {
    Server::start_with(&["--isolation", "sandbox"], None)
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_cannot_see_the_host_or_each_other() {
    let s = sandboxed();
    s.create(
        "a",
        "python3.11",
        "app.handler",
        &[("app.py", ATTACKS, 0o644)],
    )
    .await;
    s.create(
        "b",
        "python3.11",
        "app.handler",
        &[
            ("app.py", ATTACKS, 0o644),
            ("secret.txt", "b's secret", 0o644),
        ],
    )
    .await;
    // Where b's code lives on the host.
    let code_root = s.data_dir.join("code");
    let b_secret = std::fs::read_dir(&code_root)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("task/secret.txt"))
        .find(|p| p.exists())
        .expect("b's code on the host");
    for path in [
        b_secret.display().to_string(),
        format!("/proc/1/root{}", b_secret.display()),
        "/etc/shadow".into(),
        s.data_dir.join("functions.sqlite3").display().to_string(),
    ] {
        let got = attack(&s, "a", json!({"attack": "read_path", "path": path})).await;
        assert_eq!(got["ok"], false, "read {path}: {got}");
    }
    let listed = attack(
        &s,
        "a",
        json!({"attack": "list_dir", "path": code_root.display().to_string()}),
    )
    .await;
    assert_eq!(listed["ok"], false, "{listed}");

    // Read-only everywhere but /tmp.
    for path in [
        "/var/task/app.py",
        "/usr/evil",
        "/etc/passwd",
        "/evil",
        "/var/runtime/python/bootstrap.py",
    ] {
        let got = attack(&s, "a", json!({"attack": "write_path", "path": path})).await;
        assert_eq!(got["ok"], false, "write {path}: {got}");
    }

    // /tmp is private to an environment.
    let tag = std::process::id().to_string();
    attack(&s, "a", json!({"attack": "tmp_write", "tag": tag})).await;
    let from_b = attack(
        &s,
        "b",
        json!({"attack": "read_path", "path": format!("/tmp/secret-{tag}")}),
    )
    .await;
    assert_eq!(from_b["ok"], false, "{from_b}");
    let from_a = attack(
        &s,
        "a",
        json!({"attack": "read_path", "path": format!("/tmp/secret-{tag}")}),
    )
    .await;
    assert_eq!(from_a["value"], "mine");
    assert!(
        !std::path::Path::new(&format!("/tmp/secret-{tag}")).exists(),
        "not on the host"
    );

    // Processes: only the environment's own; kill(-1) reaches nothing else.
    let pids = attack(&s, "a", json!({"attack": "pids"})).await;
    assert_eq!(pids, json!([1, 2]), "only the sandbox's init and runtime");
    let killed = attack(&s, "b", json!({"attack": "kill_all"})).await;
    assert_eq!(
        killed["ok"], false,
        "uid 993 can signal nothing but itself: {killed}"
    );
    assert_eq!(
        attack(&s, "a", json!({"attack": "pids"})).await,
        json!([1, 2]),
        "a survived b's kill(-1)"
    );

    // Privileges.
    let status = attack(&s, "a", json!({"attack": "status"})).await;
    assert_eq!(
        status["Uid"].as_str().unwrap().split_whitespace().next(),
        Some("993")
    );
    for cap in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(status[cap], "0000000000000000", "{cap}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(
        attack(&s, "a", json!({"attack": "setuid_root"})).await["ok"],
        false
    );

    // Nothing of the host's layout or the platform's environment shows.
    let mountinfo = attack(&s, "a", json!({"attack": "mountinfo"})).await;
    assert!(
        !mountinfo.as_str().unwrap().contains("sandbox-root"),
        "{mountinfo}"
    );
    let env = attack(&s, "a", json!({"attack": "environ"})).await;
    for leaked in [
        "HOME",
        "CARGO",
        "LAMINA_LOG",
        "PYENV_ROOT",
        "RUST_BACKTRACE",
    ] {
        assert!(env.get(leaked).is_none(), "{leaked} leaked: {env}");
    }
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
    assert_eq!(
        attack(&s, "a", json!({"attack": "hostname"})).await,
        "localhost"
    );
    assert_eq!(s.health().await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_cannot_reach_the_platform_or_host_services() {
    let s = sandboxed();
    // A listener standing in for the control plane, and the platform's own port.
    let control_plane = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let control_port = control_plane.local_addr().unwrap().port();
    let api_port: u16 = s.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    s.create(
        "a",
        "python3.11",
        "app.handler",
        &[("app.py", ATTACKS, 0o644)],
    )
    .await;
    for (host, port) in [
        ("127.0.0.1", control_port),
        ("127.0.0.1", api_port),
        ("169.254.169.254", 80),
        ("10.0.0.1", 80),
    ] {
        let got = attack(
            &s,
            "a",
            json!({"attack": "connect", "host": host, "port": port}),
        )
        .await;
        assert_eq!(got["ok"], false, "{host}:{port} reachable: {got}");
    }
    // Its own Runtime API is the only thing it reaches.
    let own = attack(
        &s,
        "a",
        json!({"attack": "connect", "host": "127.0.0.1", "port": 9001}),
    )
    .await;
    assert_eq!(own["ok"], true, "{own}");
    drop(control_plane);
}
