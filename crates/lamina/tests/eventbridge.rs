//! EventBridge Scheduler and EventBridge against the real server: schedules created with
//! boto3's `scheduler` client fire Lamina functions (tests/compat/schedules.py), and rules
//! made with its `events` client route put events and scheduled events to them
//! (tests/compat/events.py), with a rate's minute shortened to one second; and events put
//! before a `kill -9` that all reach their target after the restart.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ROLE, Server, aws_json, b64, compat_suite, eventually, ledger, zip};
use serde_json::{Value, json};

#[test]
fn schedules_fire_functions_through_boto3() {
    compat_suite("schedules.py", &["--schedule-minute-ms", "1000"]);
}

#[test]
fn rules_route_events_to_functions_through_boto3() {
    compat_suite(
        "events.py",
        &[
            "--schedule-minute-ms",
            "1000",
            "--async-retry-delay-ms",
            "100",
        ],
    );
}

/// One AWSEvents operation, unsigned: its status and answer.
async fn events_call(s: &Server, op: &str, body: Value) -> (u16, Value) {
    aws_json(s, &format!("AWSEvents.{op}"), "1.1", body).await
}

/// Events PutEvents accepted before a `kill -9` all reach the rule's target after the
/// restart: acceptance means durably queued. The function runs unsandboxed (`--isolation
/// none`) so that it can record each event in a host file, synced before it returns.
#[tokio::test(flavor = "multi_thread")]
async fn no_put_event_is_lost_to_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os, time\ndef handler(event, context):\n    time.sleep(0.02)\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    os.write(fd, (event['detail']['id'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("ledger", &code).await;
    s.put_json(
        "/2017-10-31/functions/ledger/concurrency",
        &json!({"ReservedConcurrentExecutions": 2}),
    )
    .await;
    let (st, _) = events_call(
        &s,
        "PutRule",
        json!({"Name": "ledger", "EventPattern": "{\"source\": [\"ledger\"]}"}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = events_call(
        &s,
        "PutTargets",
        json!({"Rule": "ledger", "Targets": [{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:ledger"}]}),
    )
    .await;
    assert_eq!(st, 200);
    // Eight senders put events; the server is killed once 150 are accepted.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for t in 0..8 {
        let (http, url, accepted) = (s.http.clone(), s.url("/"), accepted.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..200 {
                let id = format!("{t}-{i}");
                let entry = json!({"Source": "ledger", "DetailType": "Entry",
                                   "Detail": json!({"id": id}).to_string()});
                let sent = http
                    .post(&url)
                    .header("X-Amz-Target", "AWSEvents.PutEvents")
                    .header("Content-Type", "application/x-amz-json-1.1")
                    .body(json!({"Entries": [entry]}).to_string())
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                let ok = r.status().as_u16() == 200;
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if ok && body["FailedEntryCount"] == 0 {
                    accepted.lock().unwrap().push(id);
                } else {
                    return;
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
        let q = s.get("/_lamina/status").await.2["eventQueue"].clone();
        q["ready"] == 0 && q["delayed"] == 0 && q["running"] == 0
    })
    .await;
    assert!(drained);
    let ran: HashSet<String> = ledger(&ran_file).into_iter().collect();
    let lost: Vec<&String> = accepted.difference(&ran).collect();
    assert!(
        lost.is_empty(),
        "{} of {} accepted events never reached the target: {lost:?}",
        lost.len(),
        accepted.len()
    );
}

/// In a cluster, each due time of a schedule fires once across all nodes, and the schedule
/// keeps firing when a node dies. The nodes run without sandboxes so that the function
/// records each fire's due time in one host file.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_fires_each_due_time_once() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let seen = tempfile::tempdir().unwrap();
    let fires_file = seen.path().join("fires.txt");
    let code = format!(
        "import os\ndef handler(event, context):\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    os.write(fd, (event['due'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        fires_file.display().to_string()
    );
    let args = [
        "--database",
        &url,
        "--isolation",
        "none",
        "--schedule-minute-ms",
        "1000",
        "--node-timeout-seconds",
        "2",
    ];
    let mut nodes: Vec<Server> = (0..3).map(|_| Server::start_with(&args, None)).collect();
    nodes[0]
        .create_with(
            json!({"FunctionName": "fires", "Runtime": "python3.11", "Handler": "app.handler",
                    "Role": ROLE, "Code": {"ZipFile": b64(&zip(&[("app.py", &code, 0o644)]))}}),
        )
        .await;
    let (status, _, body) = nodes[1]
        .post_json(
            "/schedules/every-second",
            &json!({"ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:fires",
                               "RoleArn": "arn:aws:iam::000000000000:role/scheduler",
                               "Input": "{\"due\": \"<aws.scheduler.scheduled-time>\"}"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let fires = || ledger(&fires_file);
    assert!(
        eventually(Duration::from_secs(20), async || fires().len() >= 5).await,
        "the schedule fires: {:?}",
        fires()
    );
    // Whichever node fires, the others go on without it.
    nodes.remove(0).stop_with("KILL");
    let before = fires().len();
    assert!(
        eventually(Duration::from_secs(20), async || fires().len()
            >= before + 5)
        .await,
        "the schedule fires after a node died: {:?}",
        fires()
    );
    let all = fires();
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a due time fired more than once: {all:?}"
    );
}

/// `lamina schedules` and `lamina rules` list what fires functions, with the next fire and
/// how the last one went.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_lists_schedules_and_rules() {
    let s = Server::start_with(&["--schedule-minute-ms", "1000"], None);
    s.python("cli-target", "def handler(event, context):\n    return 1\n")
        .await;
    let target = "arn:aws:lambda:us-east-1:000000000000:function:cli-target";
    let (status, _, body) = s
        .post_json(
            "/schedules/nightly",
            &json!({"ScheduleExpression": "cron(0 3 * * ? *)", "ScheduleExpressionTimezone": "Europe/Lisbon",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": target, "RoleArn": "arn:aws:iam::000000000000:role/r"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (op, body) in [
        (
            "PutRule",
            json!({"Name": "every", "ScheduleExpression": "rate(1 minute)"}),
        ),
        (
            "PutTargets",
            json!({"Rule": "every", "Targets": [{"Id": "t", "Arn": target}]}),
        ),
        (
            "PutRule",
            json!({"Name": "on-order", "EventPattern": "{\"source\": [\"shop\"]}"}),
        ),
        (
            "PutTargets",
            json!({"Rule": "on-order", "Targets": [{"Id": "t", "Arn": target}]}),
        ),
        (
            "PutEvents",
            json!({"Entries": [{"Source": "shop", "DetailType": "Order", "Detail": "{}"}]}),
        ),
    ] {
        let (st, answer) = events_call(&s, op, body).await;
        assert_eq!(st, 200, "{op}: {answer}");
    }
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(args)
            .args(["--endpoint", &s.endpoint])
            .output()
            .expect("run lamina");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The scheduled rule fires within its (one-second) minute.
    assert!(
        eventually(Duration::from_secs(10), async || cli(&["rules"])
            .lines()
            .any(
                |l| l.starts_with("default/every") && l.contains("queued for 1 target")
            ))
        .await,
        "{}",
        cli(&["rules"])
    );
    let schedules = cli(&["schedules"]);
    let line = schedules
        .lines()
        .find(|l| l.starts_with("default/nightly"))
        .unwrap_or_else(|| panic!("{schedules}"));
    assert!(
        line.contains("cron(0 3 * * ? *) Europe/Lisbon") && line.contains("ENABLED"),
        "{line}"
    );
    let rules = cli(&["rules"]);
    let on_order = rules
        .lines()
        .find(|l| l.starts_with("default/on-order"))
        .unwrap_or_else(|| panic!("{rules}"));
    assert!(
        on_order.contains("event pattern") && on_order.contains("queued event"),
        "{on_order}"
    );
    let listed: Value = serde_json::from_str(&cli(&["schedules", "--json"])).unwrap();
    // 03:00 in Lisbon is 02:00 or 03:00 UTC, depending on the season.
    let next = listed[0]["nextFire"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        next.contains("T02:00:00") || next.contains("T03:00:00"),
        "{listed}"
    );
}
