//! Event sources in-process, with scripted functions: a mapping's settlement of partial
//! batch failures and redrive, its filters, a schedule firing on the platform's short
//! minute and stopping when disabled, and PutEvents routing by pattern.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lamina_model::events::PutRuleRequest;
use lamina_model::mapping::MappingRequest;
use lamina_model::scheduler::ScheduleRequest;
use lamina_platform::sqs::{ReceiveInput, SendInput};
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

const FUNCTION: &str = "arn:aws:lambda:us-east-1:000000000000:function:";

/// A function that records the bodies of its SQS records and reports the `bad` ones failed.
fn consumer(t: &TestPlatform, handler: &str) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    t.launcher.on(handler, move |payload: &Bytes| {
        let event: Value = serde_json::from_slice(payload).unwrap_or_default();
        let mut failures = Vec::new();
        for r in event["Records"].as_array().into_iter().flatten() {
            let body = r["body"].as_str().unwrap_or_default().to_string();
            if body.starts_with("bad") {
                failures.push(json!({"itemIdentifier": r["messageId"]}));
            }
            log.lock().unwrap().push(body);
        }
        Script::Answer(Bytes::from(
            json!({"batchItemFailures": failures}).to_string(),
        ))
    });
    seen
}

async fn send(t: &TestPlatform, queue: &str, bodies: &[&str]) {
    let batch = bodies
        .iter()
        .map(|b| SendInput {
            body: Some(b.to_string()),
            ..SendInput::default()
        })
        .collect();
    for r in t
        .platform
        .sqs()
        .send_message_batch(queue, batch)
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

async fn mapping(t: &TestPlatform, request: Value) {
    let request: MappingRequest = serde_json::from_value(request).unwrap();
    t.platform
        .event_source_mappings()
        .create_event_source_mapping(request)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reported_failures_come_back_and_go_on_to_the_dead_letter_queue() {
    let t = TestPlatform::start().await;
    let seen = consumer(&t, "consumer");
    t.client()
        .create_function(&TestPlatform::function("partial", "consumer"))
        .await
        .unwrap();
    let sqs = t.platform.sqs();
    sqs.create_queue("dlq", &BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let attributes = BTreeMap::from([
        ("VisibilityTimeout".to_string(), "0".to_string()),
        (
            "RedrivePolicy".to_string(),
            json!({"deadLetterTargetArn": sqs.arn("dlq"), "maxReceiveCount": 2}).to_string(),
        ),
    ]);
    sqs.create_queue("work", &attributes, BTreeMap::new())
        .await
        .unwrap();
    mapping(
        &t,
        json!({"EventSourceArn": sqs.arn("work"), "FunctionName": "partial",
               "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
    )
    .await;
    send(&t, "work", &["good-1", "bad-1", "good-2"]).await;
    let dead = eventually(Duration::from_secs(10), async || {
        !sqs.receive_message("dlq", ReceiveInput::default())
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(dead, "the failed item reaches the dead-letter queue");
    let seen = seen.lock().unwrap().clone();
    let count = |b: &str| seen.iter().filter(|s| *s == b).count();
    assert_eq!(
        (count("good-1"), count("good-2"), count("bad-1")),
        (1, 1, 2),
        "{seen:?}"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_keep_what_matches_and_delete_the_rest() {
    let t = TestPlatform::start().await;
    let seen = consumer(&t, "consumer");
    t.client()
        .create_function(&TestPlatform::function("filtered", "consumer"))
        .await
        .unwrap();
    let sqs = t.platform.sqs();
    sqs.create_queue("mixed", &BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    mapping(
        &t,
        json!({"EventSourceArn": sqs.arn("mixed"), "FunctionName": "filtered",
               "FilterCriteria": {"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"keep\"]}}"}]}}),
    )
    .await;
    send(
        &t,
        "mixed",
        &[r#"{"kind": "keep"}"#, r#"{"kind": "drop"}"#, "plain text"],
    )
    .await;
    let settled = eventually(Duration::from_secs(10), async || {
        let a = sqs
            .get_queue_attributes("mixed", &["All".to_string()])
            .await
            .unwrap();
        a["ApproximateNumberOfMessages"] == "0" && a["ApproximateNumberOfMessagesNotVisible"] == "0"
    })
    .await;
    assert!(
        settled,
        "every message is deleted, delivered or filtered out"
    );
    assert!(
        eventually(Duration::from_secs(5), async || seen.lock().unwrap().len()
            == 1)
        .await
    );
    assert_eq!(seen.lock().unwrap().clone(), [r#"{"kind": "keep"}"#]);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_fires_on_the_platforms_minute_until_disabled() {
    let t = TestPlatform::start().await;
    let fires = Arc::new(AtomicUsize::new(0));
    let counted = fires.clone();
    t.launcher.on("tick", move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Script::Echo
    });
    t.client()
        .create_function(&TestPlatform::function("ticker", "tick"))
        .await
        .unwrap();
    // The test platform's minute lasts 200 ms.
    let schedule = |state: &str| -> ScheduleRequest {
        serde_json::from_value(json!({
            "ScheduleExpression": "rate(1 minute)", "State": state,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": format!("{FUNCTION}ticker"),
                       "RoleArn": "arn:aws:iam::000000000000:role/scheduler"}}))
        .unwrap()
    };
    let scheduler = t.platform.scheduler();
    scheduler
        .create_schedule("tick", schedule("ENABLED"))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || fires
            .load(Ordering::SeqCst)
            >= 3)
        .await
    );
    scheduler
        .update_schedule("tick", schedule("DISABLED"))
        .await
        .unwrap();
    // Fires queued before the update still run; then nothing more comes.
    let drained = eventually(Duration::from_secs(10), async || {
        let q = t.platform.async_invoke().event_queue_stats();
        q.ready + q.leased + q.delayed == 0
    })
    .await;
    assert!(drained);
    let stopped = fires.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        fires.load(Ordering::SeqCst),
        stopped,
        "a disabled schedule is still"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn put_events_reaches_the_rules_that_match() {
    let t = TestPlatform::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    t.launcher.on("sink", move |payload: &Bytes| {
        log.lock()
            .unwrap()
            .push(String::from_utf8_lossy(payload).into_owned());
        Script::Echo
    });
    t.client()
        .create_function(&TestPlatform::function("sink", "sink"))
        .await
        .unwrap();
    let events = t.platform.events();
    let rule: PutRuleRequest = serde_json::from_value(json!({
        "Name": "big", "EventPattern": "{\"detail\": {\"n\": [{\"numeric\": [\">\", 10]}]}}"}))
    .unwrap();
    events.put_rule(rule).await.unwrap();
    let failed = events
        .put_targets(
            "big",
            None,
            &[json!({"Id": "t", "Arn": format!("{FUNCTION}sink"), "InputPath": "$.detail"})],
        )
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let entry =
        |n: u32| json!({"Source": "app", "DetailType": "N", "Detail": json!({"n": n}).to_string()});
    let (results, failed) = events
        .put_events(&[entry(5), entry(50), entry(500)])
        .await
        .unwrap();
    assert_eq!((results.len(), failed), (3, 0));
    assert!(
        eventually(Duration::from_secs(10), async || seen.lock().unwrap().len()
            == 2)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    got.sort_by_key(|v| v["n"].as_u64());
    assert_eq!(got, [json!({"n": 50}), json!({"n": 500})]);
    t.stop().await;
}
