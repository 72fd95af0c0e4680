//! Execution environments over time: timeouts and crashes are replaced cleanly, concurrent
//! invocations scale out, updates retire old environments, idle ones are reaped, and the
//! server shuts down gracefully.

mod common;

use std::time::{Duration, Instant};

use common::{Server, eventually, pid_alive, processes_of, unique};
use serde_json::json;

const APP: &str = r#"
import os, time, subprocess
TOKEN = os.urandom(8).hex()  # one per environment
def sleepy(event, context):
    time.sleep(event.get("sleep", 0))
    return {"env": TOKEN}
def spawner(event, context):
    # A child, and a double-forked daemon in its own session that ignores SIGTERM: both
    # would outlive the timeout if the environment were not killed whole.
    subprocess.Popen(["sleep", event["tag"]])
    subprocess.Popen(["sh", "-c", "trap '' TERM; setsid sleep " + event["tag"] + " & exit 0"])
    time.sleep(10)
def die(event, context):
    if event.get("die"):
        os._exit(7)
    return {"env": TOKEN}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_the_environment_and_the_next_invocation_works() {
    let s = Server::start_with(&["--runtime-pool", "0", "--zygotes", "false"], None);
    let slow = unique("slow");
    s.create_with(json!({"FunctionName": slow, "Runtime": "python3.11", "Handler": "app.sleepy", "Role": common::ROLE,
                         "Timeout": 1, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    let first = s.invoke(&slow, json!({})).await;
    assert!(
        !processes_of(&slow).is_empty(),
        "the environment's processes are visible to the host"
    );

    let t = Instant::now();
    let out = s.invoke(&slow, json!({"sleep": 30})).await;
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
        eventually(Duration::from_secs(5), async || processes_of(&slow)
            .is_empty())
        .await,
        "the timed-out environment was killed: {:?}",
        processes_of(&slow)
    );

    let next = s.invoke(&slow, json!({})).await;
    assert_eq!(next.function_error, None, "{:?}", next.body);
    assert_ne!(next.body["env"], first.body["env"], "a fresh environment");
    assert!(next.report_field("Init Duration").is_some());

    // Processes the function started die with it.
    s.create_with(json!({"FunctionName": "spawner", "Runtime": "python3.11", "Handler": "app.spawner", "Role": common::ROLE,
                         "Timeout": 1, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    // A unique argument lets the host find those processes whatever their pid namespace.
    let tag = format!(
        "3000.{}{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() % 1_000_000
    );
    let watcher = {
        let tag = tag.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..40 {
                most = most.max(sleepers(&tag).len());
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            most
        })
    };
    let out = s.invoke("spawner", json!({ "tag": tag })).await;
    assert_eq!(out.body["errorType"], "Sandbox.Timedout");
    assert_eq!(
        watcher.await.unwrap(),
        2,
        "both processes were running during the invocation"
    );
    assert!(
        eventually(Duration::from_secs(5), async || sleepers(&tag).is_empty()).await,
        "processes survived the timeout: {:?}",
        sleepers(&tag)
    );
}

/// Host pids of `sleep TAG` processes.
fn sleepers(tag: &str) -> Vec<u32> {
    let want = format!("sleep\0{tag}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
        })
        .filter(|pid| pid_alive(i64::from(*pid)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_exits_is_replaced() {
    let s = Server::start();
    s.create("die", "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    let before = s.invoke("die", json!({})).await.body["env"].clone();
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
    assert_ne!(after.body["env"], before);
    // Its end is known to the invocation first; the registry lets it go right after.
    assert!(
        eventually(
            Duration::from_secs(5),
            async || s.health().await["environments"] == 1
        )
        .await,
        "the dead environment is gone: {}",
        s.health().await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invocations_scale_out_and_throttle_at_the_limit() {
    // No wait for an environment: at the limit, the next invocation is throttled at once.
    let s = Server::start_with(
        &[
            "--max-environments-per-function",
            "3",
            "--scale-wait-ms",
            "0",
        ],
        None,
    );
    s.create("par", "python3.11", "app.sleepy", &[("app.py", APP, 0o644)])
        .await;
    let calls: Vec<_> = (0..3)
        .map(|_| spawn_invoke(&s, "par", r#"{"sleep": 1}"#))
        .collect();
    let t = Instant::now();
    let results: Vec<serde_json::Value> = futures_join(calls)
        .await
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    let took = t.elapsed();
    let mut envs: Vec<String> = results
        .iter()
        .map(|r| r["env"].as_str().unwrap().to_string())
        .collect();
    envs.sort();
    envs.dedup();
    assert_eq!(
        envs.len(),
        3,
        "three environments ran in parallel: {results:?}"
    );
    assert!(
        took < Duration::from_millis(2900),
        "in parallel, not one after another: {took:?}"
    );
    assert_eq!(s.health().await["environments"], 3);

    // With all three busy, a fourth is throttled with Lambda's 429.
    let busy: Vec<_> = (0..3)
        .map(|_| spawn_invoke(&s, "par", r#"{"sleep": 2}"#))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, h, body) = s.invoke_raw("par", "{}", &[]).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["x-amzn-errortype"], "TooManyRequestsException");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Reason"], "FunctionInvocationRateLimitExceeded");
    for b in futures_join(busy).await {
        assert_eq!(b.0, 200);
    }
}

/// Starts an invocation in the background; resolves to its status and JSON body.
fn spawn_invoke(
    s: &Server,
    name: &str,
    body: &'static str,
) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let http = s.http.clone();
    let url = s.url(&format!("/2015-03-31/functions/{name}/invocations"));
    tokio::spawn(async move {
        let resp = http.post(url).body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    })
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
    let s = Server::start_with(
        &[
            "--idle-timeout",
            "1",
            "--runtime-pool",
            "0",
            "--zygotes",
            "false",
        ],
        None,
    );
    let idle = unique("idle");
    s.create(&idle, "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    s.invoke(&idle, json!({})).await;
    assert_eq!(s.health().await["environments"], 1);
    assert!(!processes_of(&idle).is_empty());
    assert!(
        eventually(
            Duration::from_secs(10),
            async || s.health().await["environments"] == 0
        )
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), async || processes_of(&idle)
            .is_empty())
        .await,
        "the reaped environment's processes are gone"
    );
    assert!(
        s.invoke(&idle, json!({}))
            .await
            .report_field("Init Duration")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_invocations_finish_then_stops_everything() {
    let mut s = Server::start_with(&["--runtime-pool", "0", "--zygotes", "false"], None);
    let (slow, other) = (unique("slow"), unique("other"));
    s.create_with(json!({"FunctionName": slow, "Runtime": "python3.11", "Handler": "app.sleepy", "Role": common::ROLE,
                         "Timeout": 10, "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    s.invoke(&slow, json!({})).await;
    s.create(&other, "python3.11", "app.die", &[("app.py", APP, 0o644)])
        .await;
    s.invoke(&other, json!({})).await;
    assert!(!processes_of(&slow).is_empty() && !processes_of(&other).is_empty());

    let http = s.http.clone();
    let url = s.url(&format!("/2015-03-31/functions/{slow}/invocations"));
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
        processes_of(&slow).is_empty() && processes_of(&other).is_empty(),
        "every environment was stopped"
    );
    assert!(s.output_text().contains("SIGTERM received"));
}
