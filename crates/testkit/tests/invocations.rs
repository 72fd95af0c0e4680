//! The invocation flow in-process, with scripted runtimes: warm reuse, function errors, a
//! runtime that exits, timeouts, an environment handed over to a waiting invocation,
//! throttling by reserved concurrency, and asynchronous events retried and delivered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lamina_testkit::{Script, TestPlatform};
use serde_json::{Value, json};

async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check().await
}

async fn event(t: &TestPlatform, name: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/{name}/invocations",
            t.endpoint
        ))
        .header("X-Amz-Invocation-Type", "Event")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A synchronous Invoke over plain HTTP, to read a refusal's headers and body as sent.
async fn invoke_raw(t: &TestPlatform, name: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/{name}/invocations",
            t.endpoint
        ))
        .body("{}")
        .send()
        .await
        .unwrap()
}

/// Scripts `handler` to hold each event for `hold` before echoing it, and returns a flag
/// raised once an event has reached the runtime.
fn holding(t: &TestPlatform, handler: &str, hold: Duration) -> Arc<std::sync::atomic::AtomicBool> {
    let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reached.clone();
    t.launcher.on(handler, move |e| {
        flag.store(true, Ordering::SeqCst);
        Script::Wait(hold, Box::new(Script::Answer(e.clone())))
    });
    reached
}

/// Starts a synchronous invocation of `name` in the background.
fn invoke_in_background(
    t: &TestPlatform,
    name: &str,
) -> tokio::task::JoinHandle<Result<lamina_client::Invoked, lamina_client::ClientError>> {
    let client = t.client();
    let name = name.to_string();
    tokio::spawn(async move { client.invoke(&name, Bytes::from_static(b"{}"), false).await })
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_reuse_and_the_report_line() {
    let t = TestPlatform::start().await;
    let client = t.client();
    client
        .create_function(&TestPlatform::function("echo", "echo"))
        .await
        .unwrap();
    let first = client
        .invoke("echo", Bytes::from_static(b"{\"n\":1}"), true)
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.payload.as_ref()),
        (200, b"{\"n\":1}".as_ref())
    );
    let log = first.log.unwrap();
    assert!(log.contains("Init Duration"), "{log}");
    assert!(log.contains("scripted runtime: event"), "{log}");
    let second = client
        .invoke("echo", Bytes::from_static(b"{\"n\":2}"), true)
        .await
        .unwrap();
    assert_eq!(second.payload.as_ref(), b"{\"n\":2}");
    assert!(!second.log.unwrap().contains("Init Duration"));
    assert_eq!(
        t.launcher.launches(),
        1,
        "the second ran on the same environment"
    );
    assert_eq!(second.executed_version.as_deref(), Some("$LATEST"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn function_errors_exits_and_timeouts() {
    let t = TestPlatform::start().await;
    t.launcher.on("fail", |_| {
        Script::Fail("ValueError".into(), "bad input".into())
    });
    t.launcher.on("exit", |_| Script::Exit);
    t.launcher.on("slow", |_| {
        Script::Wait(Duration::from_secs(5), Box::new(Script::Echo))
    });
    let client = t.client();
    for (name, handler) in [("fail", "fail"), ("exit", "exit"), ("slow", "slow")] {
        let mut f = TestPlatform::function(name, handler);
        f.timeout = Some(1);
        client.create_function(&f).await.unwrap();
    }
    let failed = client
        .invoke("fail", Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    assert_eq!(failed.status, 200);
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    let doc: Value = serde_json::from_slice(&failed.payload).unwrap();
    assert_eq!(
        (doc["errorType"].as_str(), doc["errorMessage"].as_str()),
        (Some("ValueError"), Some("bad input"))
    );

    let exited = client
        .invoke("exit", Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&exited.payload).unwrap();
    assert_eq!(doc["errorType"], "Runtime.ExitError", "{doc}");
    let launches = t.launcher.launches();
    client
        .invoke("exit", Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    assert_eq!(
        t.launcher.launches(),
        launches + 1,
        "a dead environment is replaced"
    );

    let started = Instant::now();
    let slow = client
        .invoke("slow", Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&slow.payload).unwrap();
    assert_eq!(doc["errorType"], "Sandbox.Timedout", "{doc}");
    assert!(
        doc["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Task timed out after 1.00 seconds"),
        "{doc}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    t.stop().await;
}

/// With one environment allowed, a second invocation waits for the first's environment and
/// runs on it: no second environment, no throttle.
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_invocation_is_handed_the_returning_environment() {
    let mut config = TestPlatform::config();
    config.executor.max_environments_per_function = 1;
    let t = TestPlatform::start_with(config).await;
    t.launcher.on("slow", |e| {
        Script::Wait(
            Duration::from_millis(300),
            Box::new(Script::Answer(e.clone())),
        )
    });
    t.client()
        .create_function(&TestPlatform::function("one", "slow"))
        .await
        .unwrap();
    let calls = (0..2).map(|i| {
        let client = t.client();
        async move {
            client
                .invoke("one", Bytes::from(format!("{{\"i\":{i}}}")), false)
                .await
                .unwrap()
        }
    });
    let answers = futures_join(calls.collect()).await;
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.function_error.is_none())
    );
    assert_eq!(t.launcher.launches(), 1);
    t.stop().await;
}

async fn futures_join<T: Send + 'static>(
    futures: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn reserved_concurrency_throttles_at_once() {
    let t = TestPlatform::start().await;
    let reached = holding(&t, "slow", Duration::from_millis(500));
    t.client()
        .create_function(&TestPlatform::function("capped", "slow"))
        .await
        .unwrap();
    t.platform
        .reservations()
        .put_function_concurrency(
            "capped",
            serde_json::from_value(json!({"ReservedConcurrentExecutions": 1})).unwrap(),
        )
        .await
        .unwrap();
    let slow = invoke_in_background(&t, "capped");
    assert!(
        eventually(Duration::from_secs(10), async || reached
            .load(Ordering::SeqCst))
        .await
    );
    let throttled = invoke_raw(&t, "capped").await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(
        throttled.headers()["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(
        body["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded",
        "{body}"
    );
    assert_eq!(slow.await.unwrap().unwrap().status, 200);
    assert_eq!(t.platform.reservations().throttle_count("capped"), 1);
    t.stop().await;
}

/// A failing event runs 1 + MaximumRetryAttempts times, then its record goes to the
/// OnFailure destination; a succeeding one's record goes to OnSuccess.
#[tokio::test(flavor = "multi_thread")]
async fn asynchronous_events_are_retried_then_delivered() {
    let t = TestPlatform::start().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    t.launcher.on("flaky", move |e| {
        counted.fetch_add(1, Ordering::SeqCst);
        if e.as_ref() == b"{\"ok\":true}" {
            Script::Echo
        } else {
            Script::Fail("Boom".into(), "always".into())
        }
    });
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    t.launcher.on("sink", move |e| {
        sink.lock()
            .unwrap()
            .push(serde_json::from_slice(e).unwrap());
        Script::Answer(Bytes::from_static(b"null"))
    });
    let client = t.client();
    client
        .create_function(&TestPlatform::function("flaky", "flaky"))
        .await
        .unwrap();
    client
        .create_function(&TestPlatform::function("sink", "sink"))
        .await
        .unwrap();
    let sink_arn = "arn:aws:lambda:us-east-1:000000000000:function:sink";
    t.platform
        .event_invoke_configs()
        .put_event_invoke_config(
            "flaky",
            None,
            serde_json::from_value(json!({
                "MaximumRetryAttempts": 2,
                "DestinationConfig": {"OnSuccess": {"Destination": sink_arn},
                                      "OnFailure": {"Destination": sink_arn}}
            }))
            .unwrap(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(event(&t, "flaky", json!({"ok": false})).await, 202);
    assert!(
        eventually(Duration::from_secs(10), async || received
            .lock()
            .unwrap()
            .len()
            == 1)
        .await
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3, "one run and two retries");
    let failure = received.lock().unwrap()[0].clone();
    assert_eq!(
        failure["requestContext"]["condition"], "RetriesExhausted",
        "{failure}"
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(failure["responseContext"]["functionError"], "Unhandled");
    assert_eq!(failure["requestPayload"], json!({"ok": false}));

    assert_eq!(event(&t, "flaky", json!({"ok": true})).await, 202);
    assert!(
        eventually(Duration::from_secs(10), async || received
            .lock()
            .unwrap()
            .len()
            == 2)
        .await
    );
    let success = received.lock().unwrap()[1].clone();
    assert_eq!(
        success["requestContext"]["condition"], "Success",
        "{success}"
    );
    assert_eq!(success["responsePayload"], json!({"ok": true}));
    assert!(
        client
            .lamina()
            .failed_events(Some("flaky"))
            .await
            .unwrap()
            .is_empty()
    );
    t.stop().await;
}

/// Without a destination, what fails for good is kept, and can be replayed.
#[tokio::test(flavor = "multi_thread")]
async fn failed_events_are_kept_and_replayed() {
    let t = TestPlatform::start().await;
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let failing = fail.clone();
    t.launcher.on("sometimes", move |e| {
        if failing.load(Ordering::SeqCst) {
            Script::Fail("Boom".into(), "not now".into())
        } else {
            Script::Answer(e.clone())
        }
    });
    let client = t.client();
    client
        .create_function(&TestPlatform::function("f", "sometimes"))
        .await
        .unwrap();
    t.platform
        .event_invoke_configs()
        .put_event_invoke_config(
            "f",
            None,
            serde_json::from_value(json!({"MaximumRetryAttempts": 0})).unwrap(),
            false,
        )
        .await
        .unwrap();
    event(&t, "f", json!({"x": 1})).await;
    assert!(
        eventually(Duration::from_secs(10), async || {
            client
                .lamina()
                .failed_events(Some("f"))
                .await
                .unwrap()
                .len()
                == 1
        })
        .await
    );
    let failed = client.lamina().failed_events(Some("f")).await.unwrap();
    assert_eq!(failed[0].attempts, 1);
    assert!(
        failed[0].reason.starts_with("RetriesExhausted"),
        "{}",
        failed[0].reason
    );
    fail.store(false, Ordering::SeqCst);
    client
        .lamina()
        .replay_failed_event(failed[0].id)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || {
            client
                .lamina()
                .failed_events(Some("f"))
                .await
                .unwrap()
                .is_empty()
                && t.platform.async_invoke().event_queue_stats().ready == 0
                && t.platform.async_invoke().event_queue_stats().leased == 0
        })
        .await
    );
    t.stop().await;
}

/// At its scaling rate with no room to wait, a function's next cold start is throttled at
/// once with Lambda's reason; once the first environment is back it serves warm.
#[tokio::test(flavor = "multi_thread")]
async fn the_scaling_rate_throttles_cold_starts() {
    let mut config = TestPlatform::config();
    config.executor.scale_rate_per_10s = 1;
    config.executor.scale_queue = 0;
    let t = TestPlatform::start_with(config).await;
    let reached = holding(&t, "slow", Duration::from_millis(400));
    t.client()
        .create_function(&TestPlatform::function("rated", "slow"))
        .await
        .unwrap();
    let first = invoke_in_background(&t, "rated");
    assert!(
        eventually(Duration::from_secs(10), async || reached
            .load(Ordering::SeqCst))
        .await
    );
    let throttled = invoke_raw(&t, "rated").await;
    assert_eq!(throttled.status(), 429);
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(
        body["Reason"], "FunctionInvocationRateLimitExceeded",
        "{body}"
    );
    assert_eq!(first.await.unwrap().unwrap().status, 200);
    let warm = t
        .client()
        .invoke("rated", Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    assert_eq!(warm.status, 200);
    assert_eq!(t.launcher.launches(), 1);
    t.stop().await;
}

/// Lambda's own timings, on a manual clock: a failing event is retried after one minute,
/// then two, and then fails for good; nothing runs before its time, and the test waits for
/// none of it.
#[tokio::test(flavor = "multi_thread")]
async fn retries_keep_lambdas_minutes_on_a_manual_clock() {
    let mut config = TestPlatform::config();
    config.events.retry_delay = Duration::from_secs(60);
    let t = TestPlatform::start_on(config, lamina_queue::Clock::manual(1_700_000_000_000)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    t.launcher.on("failing", move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Script::Fail("Boom".into(), "always".into())
    });
    let client = t.client();
    client
        .create_function(&TestPlatform::function("f", "failing"))
        .await
        .unwrap();
    assert_eq!(event(&t, "f", json!({"n": 1})).await, 202);
    let ran = |n| {
        let runs = runs.clone();
        async move || runs.load(Ordering::SeqCst) == n
    };
    // The retry is scheduled when the failed run is settled, which may come just after
    // the run: the clock moves only once the event waits for its retry.
    let waiting = || {
        let platform = t.platform.clone();
        async move || platform.async_invoke().event_queue_stats().delayed == 1
    };
    assert!(eventually(Duration::from_secs(10), ran(1)).await);
    assert!(eventually(Duration::from_secs(10), waiting()).await);
    // Due a minute after the failure: not before.
    t.advance(Duration::from_secs(59));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "retried before its minute");
    t.advance(Duration::from_secs(1));
    assert!(eventually(Duration::from_secs(10), ran(2)).await);
    assert!(eventually(Duration::from_secs(10), waiting()).await);
    // The second retry waits two minutes.
    t.advance(Duration::from_secs(119));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "retried before its two minutes"
    );
    t.advance(Duration::from_secs(1));
    assert!(eventually(Duration::from_secs(10), ran(3)).await);
    assert!(
        eventually(Duration::from_secs(10), async || {
            client
                .lamina()
                .failed_events(Some("f"))
                .await
                .unwrap()
                .len()
                == 1
        })
        .await
    );
    let failed = client.lamina().failed_events(Some("f")).await.unwrap();
    assert_eq!(failed[0].attempts, 3);
    assert!(
        failed[0].reason.starts_with("RetriesExhausted"),
        "{}",
        failed[0].reason
    );
    // Three minutes of Lambda's time passed on the clock, none on the test's.
    assert_eq!(failed[0].failed_at - failed[0].enqueued_at, 180_000);
    t.stop().await;
}
