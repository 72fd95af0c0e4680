//! Event source mappings from self-managed Kafka against the real server and a throw-away
//! Kafka-compatible broker (crates/testbrokers, tansu): records produced through a real
//! Kafka client reach the function as Lambda's `SelfManagedKafka` event, in batches, each
//! partition in order; a batch the function fails comes again; filtered-out records are
//! skipped; the consumer group's offsets are committed up to the end once all succeeded.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{Server, aws_json, eventually, ledger};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

const RECORDS: usize = 200;

/// The offsets the group `group` has committed on `topic`'s two partitions.
fn committed(bootstrap: &str, group: &str, topic: &str) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    tpl.add_partition(topic, 1);
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map(|c| {
            c.elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o,
                    _ => -1,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn produced_records_reach_the_function_as_lambdas_kafka_event() {
    let kafka = lamina_testbrokers::Kafka::start();
    kafka.create_topic("orders", 2);
    let bootstrap = kafka.bootstrap();
    // The function records each record it is given, and fails the first batch that holds
    // "retry-me"; the first event is kept whole.
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let failed_once = seen.path().join("failed-once");
    let first_event = seen.path().join("event.json");
    let code = format!(
        "import base64, json, os\ndef handler(event, context):\n    if not os.path.exists({first:?}):\n        open({first:?}, 'w').write(json.dumps(event))\n    records = [r for rs in event['records'].values() for r in rs]\n    values = [json.loads(base64.b64decode(r['value'])) for r in records]\n    if any(v['n'] == 'retry-me' for v in values) and not os.path.exists({failed:?}):\n        open({failed:?}, 'w').close()\n        raise RuntimeError('first time')\n    fd = os.open({ran:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for r, v in zip(records, values):\n        os.write(fd, ('%s %d %d %s\\n' % (r['topic'], r['partition'], r['offset'], v['n'])).encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        first = first_event.display().to_string(),
        failed = failed_once.display().to_string(),
        ran = ran_file.display().to_string()
    );
    let s = Server::start_with(&["--isolation", "none"], None);
    s.python("kafka-ledger", &code).await;
    let source = json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}});
    // What Lambda refuses: no starting position, two topics, an EventSourceArn as well.
    for bad in [
        json!({"FunctionName": "kafka-ledger", "Topics": ["orders"], "SelfManagedEventSource": source}),
        json!({"FunctionName": "kafka-ledger", "Topics": ["orders", "other"], "StartingPosition": "LATEST",
               "SelfManagedEventSource": source}),
        json!({"FunctionName": "kafka-ledger", "Topics": ["orders"], "StartingPosition": "LATEST",
               "SelfManagedEventSource": source, "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q"}),
    ] {
        let (st, _, answer) = s.post_json("/2015-03-31/event-source-mappings", &bad).await;
        assert_eq!(st, 400, "{bad}: {answer}");
        assert_eq!(answer["Type"], "User", "{answer}");
    }
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"FunctionName": "kafka-ledger", "Topics": ["orders"], "StartingPosition": "TRIM_HORIZON",
                    "SelfManagedEventSource": source, "BatchSize": 50,
                    "FilterCriteria": {"Filters": [{"Pattern": "{\"value\": {\"kind\": [\"keep\"]}}"}]}}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    let uuid = mapping["UUID"].as_str().unwrap().to_string();
    assert!(
        mapping.get("EventSourceArn").is_none(),
        "a self-managed source has no ARN"
    );
    assert_eq!(mapping["Topics"], json!(["orders"]));
    assert_eq!(
        mapping["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"], uuid,
        "the group defaults to the mapping's UUID"
    );
    let (st, _, dup) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"FunctionName": "kafka-ledger", "Topics": ["orders"], "StartingPosition": "LATEST",
                    "SelfManagedEventSource": source}),
        )
        .await;
    assert_eq!(st, 409, "one mapping per function and topic: {dup}");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    let mut kept = HashSet::new();
    for i in 0..RECORDS {
        let n = if i == 57 {
            "retry-me".to_string()
        } else {
            i.to_string()
        };
        let kind = if i % 10 == 3 { "drop" } else { "keep" };
        if kind == "keep" {
            kept.insert(n.clone());
        }
        let value = json!({"n": n, "kind": kind}).to_string();
        let key = format!("customer-{}", i % 7);
        producer
            .send(
                FutureRecord::to("orders")
                    .key(&key)
                    .payload(&value)
                    .partition((i % 2) as i32)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "tenant",
                        value: Some(&[b'a', 0xff][..]),
                    })),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record is produced");
    }

    let all = eventually(Duration::from_secs(60), async || {
        let got: HashSet<String> = ledger(&ran_file)
            .iter()
            .filter_map(|l| l.split(' ').nth(3).map(str::to_string))
            .collect();
        kept.iter().all(|n| got.contains(n))
    })
    .await;
    let (_, _, now) = s
        .get(&format!("/2015-03-31/event-source-mappings/{uuid}"))
        .await;
    assert!(
        all,
        "every kept record reaches the function ({now}): {} lines",
        ledger(&ran_file).len()
    );
    assert!(failed_once.exists(), "the batch with retry-me failed once");
    // Each record once, filtered ones never, each partition in offset order.
    let lines = ledger(&ran_file);
    let mut by_partition: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut ns = Vec::new();
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f[0], "orders");
        by_partition
            .entry(f[1].to_string())
            .or_default()
            .push(f[2].parse().unwrap());
        ns.push(f[3].to_string());
    }
    assert_eq!(
        ns.len(),
        kept.len(),
        "no record twice, none filtered out: {lines:?}"
    );
    for (partition, offsets) in &by_partition {
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} in order: {offsets:?}"
        );
    }
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(&first_event).unwrap()).unwrap();
    assert_eq!(event["eventSource"], "SelfManagedKafka");
    assert_eq!(event["bootstrapServers"], bootstrap.as_str());
    let first = event["records"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("orders-"))
        .map(|(_, v)| v[0].clone())
        .expect("records keyed topic-partition");
    assert_eq!(
        first["headers"],
        json!([{"tenant": [97, -1]}]),
        "signed bytes"
    );
    assert_eq!(first["timestampType"], "CREATE_TIME");
    assert!(first["key"].as_str().is_some_and(|k| !k.is_empty()));
    // Offsets are committed after success, past the filtered-out records too.
    let ends = eventually(Duration::from_secs(20), async || {
        committed(&bootstrap, &uuid, "orders") == vec![(RECORDS / 2) as i64; 2]
    })
    .await;
    assert!(
        ends,
        "the group's offsets reach the end: {:?}",
        committed(&bootstrap, &uuid, "orders")
    );
    let (_, _, got) = s
        .get(&format!("/2015-03-31/event-source-mappings/{uuid}"))
        .await;
    assert_eq!(got["State"], "Enabled");
    assert_eq!(got["LastProcessingResult"], "OK", "{got}");
    // Disabled, the mapping reads nothing more: `lamina mappings` names the topic and reads
    // the group's lag from the cluster.
    let (st, _, _) = s
        .put_json(
            &format!("/2015-03-31/event-source-mappings/{uuid}"),
            &json!({"Enabled": false}),
        )
        .await;
    assert_eq!(st, 202);
    let disabled = eventually(Duration::from_secs(10), async || {
        let (_, _, m) = s
            .get(&format!("/2015-03-31/event-source-mappings/{uuid}"))
            .await;
        m["State"] == "Disabled"
    })
    .await;
    assert!(disabled);
    for i in 0..3 {
        producer
            .send(
                FutureRecord::<(), _>::to("orders")
                    .payload(&json!({"n": format!("late-{i}"), "kind": "keep"}).to_string())
                    .partition(0),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record is produced");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["mappings", "--json", "--endpoint", &s.endpoint])
        .output()
        .expect("run lamina");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("lamina mappings --json");
    assert_eq!(
        listed[0]["source"],
        format!("kafka://{bootstrap}/orders"),
        "{listed}"
    );
    assert_eq!(listed[0]["backlog"], 3, "three records to read: {listed}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !ledger(&ran_file).iter().any(|l| l.contains("late-")),
        "a disabled mapping reads nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_cluster_shows_in_the_last_processing_result() {
    let s = Server::start_with(&["--isolation", "none"], None);
    s.python(
        "kafka-nowhere",
        "def handler(event, context):\n    return 1\n",
    )
    .await;
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"FunctionName": "kafka-nowhere", "Topics": ["t"], "StartingPosition": "LATEST",
                    "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [format!("127.0.0.1:{port}")]}}}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    let path = format!(
        "/2015-03-31/event-source-mappings/{}",
        mapping["UUID"].as_str().unwrap()
    );
    let problem = eventually(Duration::from_secs(30), async || {
        let (_, _, m) = s.get(&path).await;
        m["LastProcessingResult"]
            .as_str()
            .is_some_and(|r| r.starts_with("PROBLEM: Connection error"))
    })
    .await;
    let (_, _, m) = s.get(&path).await;
    assert!(problem, "{m}");
    let (st, _, _) = s.delete(&path).await;
    assert_eq!(st, 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_positions_latest_and_at_timestamp() {
    let kafka = lamina_testbrokers::Kafka::start();
    kafka.create_topic("clicks", 1);
    let bootstrap = kafka.bootstrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    let produce = async |i: i64| {
        producer
            .send(
                FutureRecord::<(), _>::to("clicks").payload(&json!({"n": i}).to_string()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record is produced");
    };
    // Twenty records, a pause, the starting time, ten more. (tansu answers a lookup by time
    // with the time a batch was stored, as a topic with LogAppendTime does.)
    for i in 0..20 {
        produce(i).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start_ms = chrono_ms();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 20..30 {
        produce(i).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(&["--isolation", "none"], None);
    let source = json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}});
    let mut files = Vec::new();
    for (name, position) in [
        ("from-latest", json!({"StartingPosition": "LATEST"})),
        (
            "from-time",
            json!({"StartingPosition": "AT_TIMESTAMP",
                   "StartingPositionTimestamp": start_ms as f64 / 1000.0}),
        ),
    ] {
        let file = dir.path().join(format!("{name}.txt"));
        let code = format!(
            "import base64, json, os\ndef handler(event, context):\n    fd = os.open({f:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for rs in event['records'].values():\n        for r in rs:\n            os.write(fd, ('%d\\n' % json.loads(base64.b64decode(r['value']))['n']).encode())\n    os.close(fd)\n",
            f = file.display().to_string()
        );
        s.python(name, &code).await;
        let mut body = json!({"FunctionName": name, "Topics": ["clicks"], "SelfManagedEventSource": source,
                              "MaximumBatchingWindowInSeconds": 0});
        for (k, v) in position.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, _, mapping) = s
            .post_json("/2015-03-31/event-source-mappings", &body)
            .await;
        assert_eq!(st, 202, "{mapping}");
        files.push(file);
    }
    let numbers = |f: &std::path::Path| -> Vec<i64> {
        ledger(f).iter().filter_map(|l| l.parse().ok()).collect()
    };
    // LATEST starts where the topic ends when the consumer gets its partition: records are
    // produced, one every 100 ms, until it has seen some, then five more.
    let mut next = 30;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while numbers(&files[0]).is_empty() && std::time::Instant::now() < deadline {
        produce(next).await;
        next += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..5 {
        produce(next).await;
        next += 1;
    }
    let settled = eventually(Duration::from_secs(30), async || {
        let latest = numbers(&files[0]);
        latest
            .first()
            .is_some_and(|first| *first >= 30 && latest == (*first..next).collect::<Vec<_>>())
            && numbers(&files[1]) == (20..next).collect::<Vec<_>>()
    })
    .await;
    assert!(
        settled,
        "LATEST reads only what came after it, then everything (up to {}): {:?}; \
         AT_TIMESTAMP from the first record at or after its time: {:?}",
        next - 1,
        numbers(&files[0]),
        numbers(&files[1])
    );
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_given_up_on_is_recorded_in_the_on_failure_queue() {
    let kafka = lamina_testbrokers::Kafka::start();
    kafka.create_topic("payments", 1);
    let bootstrap = kafka.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran.txt");
    let s = Server::start_with(&["--isolation", "none"], None);
    // Fails every batch holding "poison"; records the others.
    let code = format!(
        "import base64, os\ndef handler(event, context):\n    values = [base64.b64decode(r['value']).decode() for rs in event['records'].values() for r in rs]\n    fd = os.open({f:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    os.write(fd, (' '.join(values) + '\\n').encode())\n    os.close(fd)\n    if 'poison' in values:\n        raise ValueError('poison')\n",
        f = ran.display().to_string()
    );
    s.python("kafka-payments", &code).await;
    let (st, queue) = aws_json(
        &s,
        "AmazonSQS.CreateQueue",
        "1.0",
        json!({"QueueName": "kafka-failures"}),
    )
    .await;
    assert_eq!(st, 200, "{queue}");
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let dlq = "arn:aws:sqs:us-east-1:000000000000:kafka-failures";
    let source = json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}});
    let mapping = |destination: &str| {
        json!({"FunctionName": "kafka-payments", "Topics": ["payments"], "StartingPosition": "TRIM_HORIZON",
               "SelfManagedEventSource": source, "BatchSize": 1, "MaximumRetryAttempts": 2,
               "DestinationConfig": {"OnFailure": {"Destination": destination}}})
    };
    let (st, _, answer) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &mapping("arn:aws:sqs:us-east-1:000000000000:no-such-queue"),
        )
        .await;
    assert_eq!(st, 400, "the destination must exist: {answer}");
    let (st, _, created) = s
        .post_json("/2015-03-31/event-source-mappings", &mapping(dlq))
        .await;
    assert_eq!(st, 202, "{created}");
    assert_eq!(
        created["DestinationConfig"]["OnFailure"]["Destination"],
        dlq
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    for value in ["first", "poison", "last"] {
        producer
            .send(
                FutureRecord::<(), _>::to("payments").payload(value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record is produced");
    }
    let mut record = Value::Null;
    let arrived = eventually(Duration::from_secs(30), async || {
        let (_, got) = aws_json(
            &s,
            "AmazonSQS.ReceiveMessage",
            "1.0",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
        )
        .await;
        if let Some(m) = got["Messages"].as_array().and_then(|m| m.first()) {
            record = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
            return true;
        }
        false
    })
    .await;
    assert!(
        arrived,
        "the poison batch's record reaches the queue: {:?}",
        ledger(&ran)
    );
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        record["requestContext"]["approximateInvokeCount"], 3,
        "once and twice again"
    );
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["KafkaBatchInfo"]["batchSize"], 1);
    assert_eq!(
        record["KafkaBatchInfo"]["recordsInfo"]["payments-0"]["firstRecordOffset"],
        "1"
    );
    let moved_on = eventually(Duration::from_secs(20), async || {
        ledger(&ran).last().map(String::as_str) == Some("last")
    })
    .await;
    assert!(moved_on, "the mapping moves past it: {:?}", ledger(&ran));
    assert_eq!(
        ledger(&ran),
        ["first", "poison", "poison", "poison", "last"],
        "three calls with the poison record, each other record once"
    );
}

/// A `kill -9` while a Kafka mapping consumes loses nothing: offsets are committed only
/// after the function succeeds, so after the restart every record produced reaches the
/// function (at least once). The restarted server rejoins the group as the same static
/// member, so it gets the partitions back without waiting for the killed one's session.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_stream_loses_no_record() {
    let kafka = lamina_testbrokers::Kafka::start();
    kafka.create_topic("stream", 2);
    let bootstrap = kafka.bootstrap();
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import base64, os, time\ndef handler(event, context):\n    time.sleep(0.05)\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for rs in event['records'].values():\n        for r in rs:\n            os.write(fd, base64.b64decode(r['value']) + b'\\n')\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("ledger", &code).await;
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"FunctionName": "ledger", "Topics": ["stream"], "StartingPosition": "TRIM_HORIZON",
                    "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}},
                    "BatchSize": 5}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    let mut produced = HashSet::new();
    for i in 0..400 {
        let value = format!("r-{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("stream")
                    .payload(&value)
                    .partition(i % 2),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record is produced");
        produced.insert(value);
    }
    common::kill_mid_stream_and_recover(
        &mut s,
        &args,
        data.path(),
        &ran_file,
        &produced,
        // The restarted server is the group's same static member: it takes its partitions
        // back at once, not after the killed one's session times out (45 s).
        Duration::from_secs(30),
    )
    .await;
}
