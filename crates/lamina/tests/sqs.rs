//! SQS against the real server, through boto3's `sqs` client (tests/compat/sqs.py) and an
//! older one speaking the query protocol (tests/compat/sqs_query.py), and
//! event source mappings from its queues (tests/compat/mappings.py).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    Server, aws_json, compat_suite, compat_suite_with, eventually, ledger, test_query_python,
};
use serde_json::{Value, json};

#[test]
fn sqs_through_boto3() {
    compat_suite("sqs.py", &[]);
}

/// The query protocol, through boto3 1.26 (tests/compat/sqs_query.py).
#[test]
fn sqs_through_the_query_protocol_of_older_sdks() {
    compat_suite_with(&test_query_python(), "sqs_query.py", &[]);
}

/// Event source mappings from SQS queues through boto3 (tests/compat/mappings.py): 1,000
/// messages in batches, partial batch failures and redrive, filters, disabling, deleting.
#[test]
fn sqs_mappings_feed_functions() {
    // A broker nobody answers for: the RabbitMQ mapping's API shapes, and its problem.
    compat_suite(
        "mappings.py",
        &[
            "--mq-broker",
            "arn:aws:mq:us-east-1:000000000000:broker:orders:b-1=amqp://guest:guest@127.0.0.1:1",
        ],
    );
}

/// One AmazonSQS operation, unsigned: its status and answer.
async fn sqs_call(s: &Server, op: &str, body: Value) -> (u16, Value) {
    aws_json(s, &format!("AmazonSQS.{op}"), "1.0", body).await
}

/// Sends `batches` batches of ten messages `<prefix>-<batch>-<n>` to `queue_url`.
async fn send_batches(s: &Server, queue_url: &str, batches: usize, prefix: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for i in 0..batches {
        let entries: Vec<Value> = (0..10)
            .map(|j| json!({"Id": format!("e{j}"), "MessageBody": format!("{prefix}-{i}-{j}")}))
            .collect();
        let (st, out) = sqs_call(
            s,
            "SendMessageBatch",
            json!({"QueueUrl": queue_url, "Entries": entries}),
        )
        .await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(
            out["Successful"].as_array().map(Vec::len),
            Some(10),
            "{out}"
        );
        bodies.extend((0..10).map(|j| format!("{prefix}-{i}-{j}")));
    }
    bodies
}

/// A `kill -9` while a mapping consumes loses nothing: every message a send accepted reaches
/// the function after the restart (at least once). The function runs unsandboxed so that it
/// can record each message in a host file, synced before it returns.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_stream_loses_no_message() {
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os, time\ndef handler(event, context):\n    time.sleep(0.05)\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for r in event['Records']:\n        os.write(fd, (r['body'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("ledger", &code).await;
    let (st, made) = sqs_call(
        &s,
        "CreateQueue",
        json!({"QueueName": "stream", "Attributes": {"VisibilityTimeout": "2"}}),
    )
    .await;
    assert_eq!(st, 200, "{made}");
    let url = made["QueueUrl"].as_str().unwrap().to_string();
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:stream",
                    "FunctionName": "ledger", "BatchSize": 5,
                    "ScalingConfig": {"MaximumConcurrency": 2}}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    // 40 batches of 10 are sent; the server is killed while the function works through them.
    let accepted = send_batches(&s, &url, 40, "m").await;
    let all: HashSet<String> = accepted.iter().cloned().collect();
    common::kill_mid_stream_and_recover(
        &mut s,
        &args,
        data.path(),
        &ran_file,
        &all,
        Duration::from_secs(60),
    )
    .await;
}

/// `lamina queues` and `lamina mappings` show queues by state and mappings with their lag.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_lists_queues_and_mappings() {
    let s = Server::start();
    s.python("sink", "def handler(event, context):\n    return None\n")
        .await;
    let (_, made) = sqs_call(&s, "CreateQueue", json!({"QueueName": "backlog"})).await;
    let url = made["QueueUrl"].as_str().unwrap().to_string();
    for i in 0..3 {
        sqs_call(
            &s,
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": format!("m{i}")}),
        )
        .await;
    }
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:backlog",
                    "FunctionName": "sink", "Enabled": false}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
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
    let queues = cli(&["queues"]);
    let line = queues
        .lines()
        .find(|l| l.starts_with("backlog"))
        .unwrap_or_else(|| panic!("{queues}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[1..4], ["3", "0", "0"], "{line}");
    assert!(
        eventually(Duration::from_secs(5), async || cli(&["mappings"])
            .lines()
            .any(|l| l.contains("backlog") && l.contains("Disabled")))
        .await,
        "{}",
        cli(&["mappings"])
    );
    let listed: Value = serde_json::from_str(&cli(&["mappings", "--json"])).unwrap();
    assert_eq!(listed[0]["backlog"], 3, "{listed}");
    assert_eq!(listed[0]["uuid"], mapping["UUID"], "{listed}");
}

/// In a cluster, a queue made on one node is served by the others, and a mapping made on
/// one node runs on every node: 200 messages sent to one node reach the function once each,
/// whichever node polled them. The nodes run without sandboxes so that the function records
/// each message in one host file.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_serves_queues_and_mappings_from_any_node() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os\ndef handler(event, context):\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for r in event['Records']:\n        os.write(fd, (r['body'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--database", &url, "--isolation", "none"];
    let (a, b) = (
        Server::start_with(&args, None),
        Server::start_with(&args, None),
    );
    a.python("shared-ledger", &code).await;
    let (st, made) = sqs_call(&a, "CreateQueue", json!({"QueueName": "shared"})).await;
    assert_eq!(st, 200, "{made}");
    let (st, got) = sqs_call(&b, "GetQueueUrl", json!({"QueueName": "shared"})).await;
    assert_eq!(st, 200, "the other node knows the queue: {got}");
    let queue_url = got["QueueUrl"].as_str().unwrap().to_string();
    let (st, _, mapping) = a
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:shared",
                    "FunctionName": "shared-ledger", "BatchSize": 10}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    send_batches(&b, &queue_url, 20, "c").await;
    assert!(
        eventually(Duration::from_secs(30), async || ledger(&ran_file).len()
            >= 200)
        .await,
        "200 messages reach the function: {}",
        ledger(&ran_file).len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ran = ledger(&ran_file);
    let distinct: HashSet<&String> = ran.iter().collect();
    assert_eq!((ran.len(), distinct.len()), (200, 200), "each message once");
}

/// A mapping consumes a queue of another SQS-compatible endpoint that `--sqs-endpoint` names
/// (here a second Lamina server, of another account): each message once, deleted there.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_consumes_a_queue_of_another_endpoint() {
    let elsewhere = Server::start_with(&["--account", "111111111111"], None);
    let (st, made) = sqs_call(
        &elsewhere,
        "CreateQueue",
        json!({"QueueName": "remote-jobs"}),
    )
    .await;
    assert_eq!(st, 200, "{made}");
    let queue_url = made["QueueUrl"].as_str().unwrap().to_string();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os\ndef handler(event, context):\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for r in event['Records']:\n        os.write(fd, (r['body'] + ' ' + r['eventSourceARN'] + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let endpoint = format!("arn:aws:sqs:us-east-1:111111111111={}", elsewhere.endpoint);
    let here = Server::start_with(&["--isolation", "none", "--sqs-endpoint", &endpoint], None);
    here.python("remote-ledger", &code).await;
    // A queue no endpoint names is refused.
    let (st, _, refused) = here
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": "arn:aws:sqs:us-east-1:222222222222:jobs",
                    "FunctionName": "remote-ledger"}),
        )
        .await;
    assert_eq!(st, 400, "{refused}");
    let arn = "arn:aws:sqs:us-east-1:111111111111:remote-jobs";
    let (st, _, mapping) = here
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": arn, "FunctionName": "remote-ledger"}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    send_batches(&elsewhere, &queue_url, 5, "r").await;
    assert!(
        eventually(Duration::from_secs(30), async || ledger(&ran_file).len()
            >= 50)
        .await,
        "50 messages reach the function: {}",
        ledger(&ran_file).len()
    );
    let ran = ledger(&ran_file);
    let distinct: HashSet<&String> = ran.iter().collect();
    assert_eq!((ran.len(), distinct.len()), (50, 50), "each message once");
    assert!(ran[0].ends_with(arn), "{}", ran[0]);
    assert!(
        eventually(Duration::from_secs(10), async || {
            let (_, a) = sqs_call(
                &elsewhere,
                "GetQueueAttributes",
                json!({"QueueUrl": queue_url, "AttributeNames": ["All"]}),
            )
            .await;
            a["Attributes"]["ApproximateNumberOfMessages"] == "0"
                && a["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        })
        .await,
        "processed messages are deleted at their endpoint"
    );
}
