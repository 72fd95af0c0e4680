//! Execution environments over time: timeouts and crashes are replaced cleanly, concurrent
//! invocations scale out, updates retire old environments, idle ones are reaped, and the
//! server shuts down gracefully.

mod common;

use std::time::{Duration, Instant};

use common::{Server, eventually};
use serde_json::json;

const APP: &str = r#"
import os, time, subprocess
STARTED = time.time()
def sleepy(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "started": STARTED}
def spawner(event, context):
    # A child that would outlive the timeout if the environment were not killed whole.
    p = subprocess.Popen(["sleep", "300"])
    open("/tmp/lamina-child-" + context.aws_request_id, "w").write(str(p.pid))
    time.sleep(10)
def die(event, context):
    if event.get("die"):
        os._exit(7)
    return {"pid": os.getpid()}
"#;

fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_the_environment_and_the_next_invocation_works() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "slow", "Runtime": "python3.11", "Handler": "app.sleepy", "Role": common::ROLE,
                         "Timeout": 1, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    let first = s.invoke("slow", json!({})).await;
    let old_pid = first.body["pid"].as_i64().unwrap();

    let t = Instant::now();
    let out = s.invoke("slow", json!({"sleep": 30})).await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "answered at the timeout, not after the sleep: {took:?}"
    );
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(out.body["errorType"], "Sandbox.Timedout");
    let msg = out.body["errorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with("RequestId: ") && msg.ends_with("Task timed out after 1.00 seconds"),
        "{msg}"
    );
    assert!(
        out.log.contains("Task timed out after 1.00 seconds"),
        "{}",
        out.log
    );
    assert!(out.log.contains("END RequestId: ") && out.log.contains("REPORT RequestId: "));
    assert!(
        eventually(Duration::from_secs(5), async || !pid_alive(old_pid)).await,
        "the timed-out runtime was killed"
    );

    let next = s.invoke("slow", json!({})).await;
    assert_eq!(next.function_error, None, "{:?}", next.body);
    assert_ne!(
        next.body["pid"].as_i64().unwrap(),
        old_pid,
        "a fresh environment"
    );
    assert!(next.report_field("Init Duration").is_some());

    // Processes the function started die with it.
    s.create_with(json!({"FunctionName": "spawner", "Runtime": "python3.11", "Handler": "app.spawner", "Role": common::ROLE,
                         "Timeout": 1, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    let out = s.invoke("spawner", json!({})).await;
    assert_eq!(out.body["errorType"], "Sandbox.Timedout");
    let id = out
        .log
        .lines()
        .find_map(|l| l.strip_prefix("START RequestId: "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let child: i64 = std::fs::read_to_string(format!("/tmp/lamina-child-{id}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), async || !pid_alive(child)).await,
        "child {child} survived the timeout"
    );
    let _ = std::fs::remove_file(format!("/tmp/lamina-child-{id}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_exits_is_replaced() {
    let s = Server::start();
    s.create("die", "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    let before = s.invoke("die", json!({})).await.body["pid"]
        .as_i64()
        .unwrap();
    let out = s.invoke("die", json!({"die": true})).await;
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(out.body["errorType"], "Runtime.ExitError");
    assert!(
        out.body["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: exit status 7"),
        "{:?}",
        out.body
    );
    assert!(out.log.contains("Runtime.ExitError"), "{}", out.log);
    let after = s.invoke("die", json!({})).await;
    assert_eq!(after.function_error, None);
    assert_ne!(after.body["pid"].as_i64().unwrap(), before);
    assert_eq!(
        s.health().await["environments"],
        1,
        "the dead environment is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invocations_scale_out_and_throttle_at_the_limit() {
    let s = Server::start_with(&["--max-environments-per-function", "3"], None);
    s.create("par", "python3.11", "app.sleepy", &[("app.py", APP, 0o644)])
        .await;
    let calls = (0..3).map(|_| {
        let http = s.http.clone();
        let url = s.url("/2015-03-31/functions/par/invocations");
        tokio::spawn(async move {
            http.post(url)
                .body(r#"{"sleep": 1}"#)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    });
    let t = Instant::now();
    let results = futures_join(calls.collect()).await;
    let took = t.elapsed();
    let mut pids: Vec<i64> = results.iter().map(|r| r["pid"].as_i64().unwrap()).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(
        pids.len(),
        3,
        "three environments ran in parallel: {results:?}"
    );
    assert!(
        took < Duration::from_millis(2900),
        "in parallel, not one after another: {took:?}"
    );
    assert_eq!(s.health().await["environments"], 3);

    // With all three busy, a fourth is throttled with Lambda's 429.
    let busy = (0..3)
        .map(|_| {
            let http = s.http.clone();
            let url = s.url("/2015-03-31/functions/par/invocations");
            tokio::spawn(async move {
                http.post(url)
                    .body(r#"{"sleep": 2}"#)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect::<Vec<_>>();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, h, body) = s.invoke_raw("par", "{}", &[]).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["x-amzn-errortype"], "TooManyRequestsException");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Reason"], "ConcurrentInvocationLimitExceeded");
    for b in futures_join(busy).await {
        assert_eq!(b, 200);
    }
}

async fn futures_join<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_retire_old_environments() {
    let s = Server::start();
    s.create(
        "v",
        "python3.11",
        "app.handler",
        &[("app.py", "def handler(e, c):\n    return 'one'\n", 0o644)],
    )
    .await;
    assert_eq!(s.invoke("v", json!({})).await.body, "one");
    let new = common::zip(&[("app.py", "def handler(e, c):\n    return 'two'\n", 0o644)]);
    let (status, _, _) = s
        .put_json(
            "/2015-03-31/functions/v/code",
            &json!({"ZipFile": common::b64(&new)}),
        )
        .await;
    assert_eq!(status, 200);
    let out = s.invoke("v", json!({})).await;
    assert_eq!(out.body, "two", "new code answers at once");
    assert!(
        out.report_field("Init Duration").is_some(),
        "in a new environment"
    );
    let (status, _, _) = s
        .put_json(
            "/2015-03-31/functions/v/configuration",
            &json!({"Environment": {"Variables": {"XY": "1"}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        s.invoke("v", json!({}))
            .await
            .report_field("Init Duration")
            .is_some(),
        "config change retires too"
    );
    assert!(
        eventually(
            Duration::from_secs(5),
            async || s.health().await["environments"] == 1
        )
        .await
    );
    s.delete("/2015-03-31/functions/v").await;
    assert!(
        eventually(
            Duration::from_secs(5),
            async || s.health().await["environments"] == 0
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_environments_are_reaped() {
    let s = Server::start_with(&["--idle-timeout", "1"], None);
    s.create("idle", "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    let pid = s.invoke("idle", json!({})).await.body["pid"]
        .as_i64()
        .unwrap();
    assert_eq!(s.health().await["environments"], 1);
    assert!(
        eventually(
            Duration::from_secs(10),
            async || s.health().await["environments"] == 0
        )
        .await
    );
    assert!(!pid_alive(pid));
    assert!(
        s.invoke("idle", json!({}))
            .await
            .report_field("Init Duration")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_invocations_finish_then_stops_everything() {
    let mut s = Server::start();
    s.create_with(json!({"FunctionName": "slow", "Runtime": "python3.11", "Handler": "app.sleepy", "Role": common::ROLE,
                         "Timeout": 10, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    let idle_pid = s.invoke("slow", json!({})).await.body["pid"]
        .as_i64()
        .unwrap();
    s.create("other", "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    let other_pid = s.invoke("other", json!({})).await.body["pid"]
        .as_i64()
        .unwrap();

    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions/slow/invocations");
    let in_flight = tokio::spawn(async move {
        let resp = http
            .post(url)
            .body(r#"{"sleep": 1.5}"#)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.headers().get("x-amz-function-error").is_some(),
        )
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = tokio::task::spawn_blocking(move || {
        let st = s.stop();
        (st, s)
    })
    .await
    .unwrap();
    let (exit, s) = status;
    assert!(
        exit.success(),
        "exit 0 after SIGTERM: {exit:?}\n{}",
        s.output_text()
    );
    assert_eq!(
        in_flight.await.unwrap(),
        (200, false),
        "the in-flight invocation completed"
    );
    assert!(
        !pid_alive(idle_pid) && !pid_alive(other_pid),
        "every environment was stopped"
    );
    assert!(s.output_text().contains("SIGTERM received"));
}
