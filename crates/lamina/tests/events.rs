//! Asynchronous invocation against a real server: Event invocations accepted once queued,
//! Lambda's retries, the OnFailure and OnSuccess destinations with the invocation record,
//! expiry, throttled events that wait and then run, the failed-events store and its replay,
//! the configuration API, and a `kill -9` in the middle of a stream of events.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{ROLE, Server, b64, eventually, ledger, zip};
use serde_json::{Value, json};

const APP: &str = r#"
import json, os, time
def handler(event, context):
    print("event", json.dumps(event), "request", context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise Exception("boom")
    return {"echo": event}
"#;

async fn create(s: &Server, name: &str) {
    s.python_with_timeout(name, APP, 30).await;
}

/// An Event invocation: status, request id.
async fn event(s: &Server, name: &str, payload: Value) -> (u16, String) {
    let (st, h, body) = s
        .invoke_raw(
            name,
            payload.to_string(),
            &[("X-Amz-Invocation-Type", "Event")],
        )
        .await;
    assert!(
        body.is_empty() || st != 202,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let id = h
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (st, id)
}

async fn invocations(s: &Server, name: &str) -> u64 {
    let st = s.get("/_lamina/status").await.2;
    st["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map_or(0, |f| f["invocations"].as_u64().unwrap())
}

/// Whether `name` has run `n` invocations within 15 s.
async fn ran(s: &Server, name: &str, n: u64) -> bool {
    eventually(Duration::from_secs(15), async || {
        invocations(s, name).await == n
    })
    .await
}

async fn queue(s: &Server) -> Value {
    s.get("/_lamina/status").await.2["eventQueue"].clone()
}

/// The events a function logged, parsed.
async fn logged_events(s: &Server, name: &str) -> Vec<Value> {
    s.log_lines(&format!("/aws/lambda/{name}"), "event")
        .await
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("event ")?;
            let json = rest.rsplit_once(" request ")?.0;
            serde_json::from_str(json).ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_accepted_then_runs_with_its_request_id() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    create(&s, "async-echo").await;
    let (st, id) = event(&s, "async-echo", json!({"hello": "later"})).await;
    assert_eq!(st, 202);
    assert!(!id.is_empty());
    assert!(ran(&s, "async-echo", 1).await);
    assert!(
        eventually(Duration::from_secs(5), async || {
            s.log_lines("/aws/lambda/async-echo", &id)
                .await
                .iter()
                .any(|l| l.contains("later"))
        })
        .await,
        "the function saw the request id the 202 gave"
    );
    // Payload limits: 1 MB for Event, 256 KB for InvokeAsync; not JSON is refused at once.
    let big = format!("\"{}\"", "x".repeat(1024 * 1024));
    let (st, h, _) = s
        .invoke_raw("async-echo", big, &[("X-Amz-Invocation-Type", "Event")])
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (413, "RequestTooLargeException")
    );
    let (st, _, _) = s
        .invoke_raw(
            "async-echo",
            "{not json",
            &[("X-Amz-Invocation-Type", "Event")],
        )
        .await;
    assert_eq!(st, 400);
    let resp = s
        .http
        .post(s.url("/2014-11-13/functions/async-echo/invoke-async/"))
        .body(json!({"via": "invoke-async"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"Status": 202}));
    assert!(ran(&s, "async-echo", 2).await);
    let (st, _) = event(&s, "no-such-function", json!({})).await;
    assert_eq!(st, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_event_is_retried_then_reaches_its_on_failure_destination() {
    let s = Server::start_with(
        &["--runtime-pool", "0", "--async-retry-delay-ms", "300"],
        None,
    );
    create(&s, "flaky").await;
    create(&s, "sink").await;
    let sink_arn = "arn:aws:lambda:us-east-1:000000000000:function:sink";
    let path = "/2019-09-25/functions/flaky/event-invoke-config";
    let (st, _, cfg) = s
        .put_json(
            path,
            &json!({"DestinationConfig": {"OnFailure": {"Destination": sink_arn},
                                          "OnSuccess": {"Destination": sink_arn}}}),
        )
        .await;
    assert_eq!(st, 200, "{cfg}");
    assert_eq!(
        cfg["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST"
    );
    let started = Instant::now();
    let (st, id) = event(&s, "flaky", json!({"fail": true, "n": 7})).await;
    assert_eq!(st, 202);
    // 1 + MaximumRetryAttempts (2) runs, 300 then 600 ms apart, then the record to the sink.
    assert!(
        eventually(Duration::from_secs(20), async || !logged_events(&s, "sink")
            .await
            .is_empty())
        .await
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(invocations(&s, "flaky").await, 3);
    let records = logged_events(&s, "sink").await;
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["version"], "1.0");
    assert_eq!(r["requestContext"]["requestId"], id);
    assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(r["requestContext"]["functionArn"], cfg["FunctionArn"]);
    assert_eq!(r["requestPayload"], json!({"fail": true, "n": 7}));
    assert_eq!(r["responseContext"]["functionError"], "Unhandled");
    assert_eq!(r["responsePayload"]["errorMessage"], "boom");

    // Success goes to OnSuccess; with no retries, a failure runs once.
    let (st, _, _) = s.post_json(path, &json!({"MaximumRetryAttempts": 0})).await;
    assert_eq!(st, 200);
    let (_, _, got) = s.get(path).await;
    assert_eq!(got["MaximumRetryAttempts"], 0);
    assert_eq!(
        got["DestinationConfig"]["OnFailure"]["Destination"], sink_arn,
        "kept by Update"
    );
    event(&s, "flaky", json!({"ok": 1})).await;
    event(&s, "flaky", json!({"fail": true, "once": 1})).await;
    assert!(
        eventually(Duration::from_secs(20), async || logged_events(&s, "sink")
            .await
            .len()
            == 3)
        .await
    );
    let records = logged_events(&s, "sink").await;
    let success = records
        .iter()
        .find(|r| r["requestPayload"] == json!({"ok": 1}))
        .unwrap();
    assert_eq!(success["requestContext"]["condition"], "Success");
    assert_eq!(success["responsePayload"], json!({"echo": {"ok": 1}}));
    let once = records
        .iter()
        .find(|r| r["requestPayload"]["once"] == 1)
        .unwrap();
    assert_eq!(once["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(invocations(&s, "flaky").await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_events_wait_then_run_and_old_ones_go_to_the_failed_store() {
    // One second of MaximumEventAgeInSeconds lasts 10 ms here: 60 s is 0.6 s.
    let s = Server::start_with(
        &[
            "--runtime-pool",
            "0",
            "--async-backoff-ms",
            "100",
            "--event-age-second-ms",
            "10",
        ],
        None,
    );
    for f in ["busy", "patient"] {
        create(&s, f).await;
        let (st, _, _) = s
            .put_json(
                &format!("/2017-10-31/functions/{f}/concurrency"),
                &json!({"ReservedConcurrentExecutions": 1}),
            )
            .await;
        assert_eq!(st, 200);
    }
    let (st, _, _) = s
        .put_json(
            "/2019-09-25/functions/busy/event-invoke-config",
            &json!({"MaximumEventAgeInSeconds": 60}),
        )
        .await;
    assert_eq!(st, 200);
    // Each function's one slot is taken by a synchronous invocation of 2 s.
    let hold = |f: &'static str| {
        let http = s.http.clone();
        let url = s.url(&format!("/2015-03-31/functions/{f}/invocations"));
        tokio::spawn(async move {
            http.post(url)
                .body(r#"{"sleep": 2}"#)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let holds = [hold("busy"), hold("patient")];
    tokio::time::sleep(Duration::from_millis(500)).await;
    event(&s, "busy", json!({"too": "late"})).await;
    event(&s, "patient", json!({"waits": true})).await;
    for h in holds {
        assert_eq!(h.await.unwrap(), 200);
    }
    // The patient one (6 hours to live) ran once the slot was free.
    assert!(ran(&s, "patient", 2).await);
    // The busy one's event outlived its 0.6 s while throttled: kept as failed, not run. The
    // dispatcher settles it once the slot is free, which may come after the patient one ran.
    let failed_now =
        async || s.get("/_lamina/events/failed?FunctionName=busy").await.2["FailedEvents"].clone();
    common::eventually(Duration::from_secs(5), async || {
        failed_now().await.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let failed = failed_now().await;
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert!(
        failed[0]["Reason"]
            .as_str()
            .unwrap()
            .starts_with("EventAgeExceeded"),
        "{failed}"
    );
    assert_eq!(failed[0]["Payload"], r#"{"too":"late"}"#);
    assert_eq!(invocations(&s, "busy").await, 1);
    assert_eq!(queue(&s).await["failed"], 1);
    // `lamina events` lists it and replays it; it then runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["events", "failed", "busy", "--endpoint", &s.url("")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("EventAgeExceeded") && text.contains(r#"{"too":"late"}"#),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args([
            "events",
            "replay",
            "--all",
            "busy",
            "--endpoint",
            &s.url(""),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ran(&s, "busy", 2).await);
    assert_eq!(queue(&s).await["failed"], 0);

    // Reserved concurrency 0: straight to the failure path, without retries.
    s.put_json(
        "/2017-10-31/functions/patient/concurrency",
        &json!({"ReservedConcurrentExecutions": 0}),
    )
    .await;
    event(&s, "patient", json!({"never": true})).await;
    assert!(
        eventually(Duration::from_secs(10), async || {
            s.get("/_lamina/events/failed?FunctionName=patient").await.2["FailedEvents"][0]["Reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("ZeroReservedConcurrency"))
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_invoke_config_api() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    create(&s, "cfg").await;
    let path = "/2019-09-25/functions/cfg/event-invoke-config";
    let (st, h, _) = s.get(path).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    let (st, _, _) = s.post_json(path, &json!({"MaximumRetryAttempts": 1})).await;
    assert_eq!(st, 404, "Update needs an existing configuration");
    for bad in [
        json!({"MaximumRetryAttempts": 3}),
        json!({"MaximumEventAgeInSeconds": 59}),
        json!({"MaximumEventAgeInSeconds": 21601}),
    ] {
        let (st, h, _) = s.put_json(path, &bad).await;
        assert_eq!(
            (st, h["x-amzn-errortype"].to_str().unwrap()),
            (400, "ValidationException"),
            "{bad}"
        );
    }
    let (st, h, _) = s
        .put_json(path, &json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:topic"}}}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    let (st, _, put) = s
        .put_json(
            path,
            &json!({"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 120}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            put["MaximumRetryAttempts"].as_u64(),
            put["MaximumEventAgeInSeconds"].as_u64()
        ),
        (Some(1), Some(120))
    );
    assert!(
        put["LastModified"].as_f64().unwrap() > 1.7e9,
        "epoch seconds: {put}"
    );
    assert_eq!(
        put["DestinationConfig"],
        json!({"OnSuccess": {}, "OnFailure": {}})
    );
    // Put replaces.
    let (_, _, replaced) = s
        .put_json(path, &json!({"MaximumEventAgeInSeconds": 60}))
        .await;
    assert!(replaced.get("MaximumRetryAttempts").is_none(), "{replaced}");
    let (st, _, _) = s
        .post_json("/2015-03-31/functions/cfg/versions", &json!({}))
        .await;
    assert_eq!(st, 201);
    let (st, _, v1) = s
        .put_json(
            &format!("{path}?Qualifier=1"),
            &json!({"MaximumRetryAttempts": 0}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(v1["FunctionArn"].as_str().unwrap().ends_with(":cfg:1"));
    let (st, _, _) = s.put_json(&format!("{path}?Qualifier=9"), &json!({})).await;
    assert_eq!(st, 404);
    let (_, _, list) = s.get(&format!("{path}/list")).await;
    assert_eq!(
        list["FunctionEventInvokeConfigs"].as_array().unwrap().len(),
        2,
        "{list}"
    );
    let (st, _, _) = s.delete(path).await;
    assert_eq!(st, 204);
    let (st, _, _) = s.delete(path).await;
    assert_eq!(st, 404);
    let (_, _, list) = s.get(&format!("{path}/list")).await;
    assert_eq!(
        list["FunctionEventInvokeConfigs"].as_array().unwrap().len(),
        1
    );
}

/// Events accepted before a `kill -9` all run after the restart: none is lost, and none was
/// acknowledged without being stored. The function runs unsandboxed (`--isolation none`) so
/// that it can record each event in a host file, synced before it returns.
#[tokio::test(flavor = "multi_thread")]
async fn no_accepted_event_is_lost_to_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os, time\ndef handler(event, context):\n    time.sleep(0.02)\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    os.write(fd, (event['id'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.create_with(
        json!({"FunctionName": "ledger", "Runtime": "python3.11", "Handler": "app.handler",
                "Role": ROLE, "Code": {"ZipFile": b64(&zip(&[("app.py", &code, 0o644)]))}}),
    )
    .await;
    // Two at a time, 20 ms each: events queue up faster than they run.
    s.put_json(
        "/2017-10-31/functions/ledger/concurrency",
        &json!({"ReservedConcurrentExecutions": 2}),
    )
    .await;
    // Eight senders stream events; the server is killed once 150 are accepted.
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for t in 0..8 {
        let (http, url, accepted) = (
            s.http.clone(),
            s.url("/2015-03-31/functions/ledger/invocations"),
            accepted.clone(),
        );
        senders.push(tokio::spawn(async move {
            for i in 0..200 {
                let id = format!("{t}-{i}");
                let sent = http
                    .post(&url)
                    .header("X-Amz-Invocation-Type", "Event")
                    .body(json!({"id": id}).to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 202 => accepted.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    assert!(
        eventually(Duration::from_secs(30), async || accepted
            .lock()
            .unwrap()
            .len()
            >= 150)
        .await
    );
    s.stop_with("KILL");
    for t in senders {
        let _ = t.await;
    }
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    let before = ledger(&ran_file).len();
    assert!(
        before < accepted.len(),
        "the kill came with events still queued ({before} of {} ran before it)",
        accepted.len()
    );
    let s = Server::start_with(&args, Some(data.path()));
    let drained = eventually(Duration::from_secs(60), async || {
        let q = queue(&s).await;
        q["ready"] == 0 && q["delayed"] == 0 && q["running"] == 0
    })
    .await;
    assert!(drained, "{}", queue(&s).await);
    let ran: HashSet<String> = ledger(&ran_file).into_iter().collect();
    let lost: Vec<&String> = accepted.difference(&ran).collect();
    assert!(
        lost.is_empty(),
        "{} of {} accepted events never ran: {lost:?}",
        lost.len(),
        accepted.len()
    );
    eprintln!(
        "accepted before the kill: {}; ran before it: {before}; ran at least once in all: {}",
        accepted.len(),
        ran.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_target_gets_the_event_alone() {
    let s = Server::start_with(
        &["--runtime-pool", "0", "--async-retry-delay-ms", "100"],
        None,
    );
    create(&s, "dlq-sink").await;
    let target = "arn:aws:lambda:us-east-1:000000000000:function:dlq-sink";
    let created = s
        .create_with(
            json!({"FunctionName": "dead", "Runtime": "python3.11", "Handler": "app.handler",
            "Role": ROLE, "DeadLetterConfig": {"TargetArn": target},
            "Code": {"ZipFile": b64(&zip(&[("app.py", APP, 0o644)]))}}),
        )
        .await;
    assert_eq!(created["DeadLetterConfig"]["TargetArn"], target);
    let (st, h, _) = s
        .put_json(
            "/2015-03-31/functions/dead/configuration",
            &json!({"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:000000000000:topic"}}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    event(&s, "dead", json!({"fail": true, "last": "words"})).await;
    assert!(
        eventually(Duration::from_secs(20), async || !logged_events(
            &s, "dlq-sink"
        )
        .await
        .is_empty())
        .await
    );
    assert_eq!(
        logged_events(&s, "dlq-sink").await,
        [json!({"fail": true, "last": "words"})]
    );
    assert_eq!(
        invocations(&s, "dead").await,
        3,
        "1 + the default 2 retries"
    );
    assert_eq!(
        queue(&s).await["failed"],
        0,
        "delivered, so not kept as failed"
    );
    // An empty TargetArn removes it.
    let (st, _, cfg) = s
        .put_json(
            "/2015-03-31/functions/dead/configuration",
            &json!({"DeadLetterConfig": {"TargetArn": ""}}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(cfg.get("DeadLetterConfig").is_none(), "{cfg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_is_bounded_and_says_so() {
    let s = Server::start_with(
        &["--runtime-pool", "0", "--event-queue-max-events", "3"],
        None,
    );
    create(&s, "bounded").await;
    // Its only slot is busy for 2 s, so events stay queued meanwhile.
    s.put_json(
        "/2017-10-31/functions/bounded/concurrency",
        &json!({"ReservedConcurrentExecutions": 1}),
    )
    .await;
    let (http, url) = (
        s.http.clone(),
        s.url("/2015-03-31/functions/bounded/invocations"),
    );
    let hold = tokio::spawn(async move {
        http.post(url)
            .body(r#"{"sleep": 2}"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..3 {
        assert_eq!(event(&s, "bounded", json!({"i": i})).await.0, 202);
    }
    let (st, h, body) = s
        .invoke_raw(
            "bounded",
            r#"{"i": 3}"#,
            &[("X-Amz-Invocation-Type", "Event")],
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (429, "TooManyRequestsException")
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Reason"], "EventQueueFull", "{body}");
    let q = queue(&s).await;
    assert_eq!(
        (
            q["maxEvents"].as_u64(),
            q["refused"].as_u64(),
            q["ready"].as_u64()
        ),
        (Some(3), Some(1), Some(3)),
        "{q}"
    );
    assert_eq!(hold.await.unwrap(), 200);
    assert!(ran(&s, "bounded", 4).await);
    assert_eq!(event(&s, "bounded", json!({"room": "again"})).await.0, 202);
}

/// SIGTERM lets a running event finish (it does not run again after the restart); one that
/// cannot finish within the grace period stays queued and runs again after the restart.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_running_events_or_keeps_them_queued() {
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let notes = seen.path().join("ledger.txt");
    let code = format!(
        "import os, time\ndef note(line):\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    os.write(fd, (line + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\ndef handler(event, context):\n    note('start ' + event['id'])\n    time.sleep(event['sleep'])\n    note('end ' + event['id'])\n",
        notes.display().to_string()
    );
    let lines = |what: &str| ledger(&notes).iter().filter(|l| *l == what).count();
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.create_with(
        json!({"FunctionName": "slow", "Runtime": "python3.11", "Handler": "app.handler",
        "Role": ROLE, "Timeout": 60, "Code": {"ZipFile": b64(&zip(&[("app.py", &code, 0o644)]))}}),
    )
    .await;
    // A short event: SIGTERM while it runs; the server lets it end.
    event(&s, "slow", json!({"id": "short", "sleep": 1})).await;
    assert!(eventually(Duration::from_secs(15), async || lines("start short") == 1).await);
    assert!(s.stop_with("TERM").success());
    assert_eq!(
        lines("end short"),
        1,
        "it finished before the server stopped"
    );
    // A long one: the server stops before it ends; it stays queued.
    let mut s = Server::start_with(&args, Some(data.path()));
    event(&s, "slow", json!({"id": "long", "sleep": 20})).await;
    assert!(eventually(Duration::from_secs(15), async || lines("start long") == 1).await);
    assert!(s.stop_with("TERM").success());
    assert_eq!(lines("end long"), 0);
    let s = Server::start_with(&args, Some(data.path()));
    assert!(
        eventually(Duration::from_secs(15), async || lines("start long") == 2).await,
        "the interrupted event runs again after the restart"
    );
    assert_eq!(lines("start short"), 1, "the finished one does not");
    drop(s);
}
