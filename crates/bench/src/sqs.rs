//! SQS's speed, measured from outside the server with keep-alive connections: SendMessage
//! from as many clients as the asynchronous scenario uses (sends/s, each synced before its
//! answer), ReceiveMessage of 10 and DeleteMessageBatch until a
//! queue is empty (messages/s), and an event source mapping draining a queue into a
//! function in batches of 10 (messages/s from the mapping's start until the queue is
//! empty), beside the asynchronous Invoke path of the same run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::http::{Conn, summary};

const BODY: &str =
    r#"{"order":12345,"items":["a","b","c"],"note":"a message of about a hundred bytes"}"#;

/// One SQS call (JSON protocol): its answer, or an error naming the status.
pub(crate) async fn call(conn: &mut Conn, op: &str, body: Value) -> anyhow::Result<Value> {
    let target = format!("AmazonSQS.{op}");
    let (status, _, answer) = conn
        .request(
            "POST",
            "/",
            Bytes::from(body.to_string()),
            &[
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.0"),
            ],
        )
        .await?;
    if status != 200 {
        bail!(
            "{op} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

async fn depth(conn: &mut Conn, url: &str) -> anyhow::Result<u64> {
    let a = call(
        conn,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["All"]}),
    )
    .await?;
    let n = |k: &str| {
        a["Attributes"][k]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n("ApproximateNumberOfMessages") + n("ApproximateNumberOfMessagesNotVisible"))
}

/// Sends from `clients` connections for `seconds`: how many, and each send's time.
async fn send_for(
    addr: SocketAddr,
    url: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(usize, Vec<Duration>, f64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                call(
                    &mut conn,
                    "SendMessage",
                    json!({"QueueUrl": url, "MessageBody": BODY}),
                )
                .await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all.len(), all, started.elapsed().as_secs_f64()))
}

/// The SQS figures.
pub async fn sqs(
    addr: SocketAddr,
    function: &str,
    seconds: f64,
    clients: usize,
    tag: u32,
) -> anyhow::Result<Value> {
    let mut conn = Conn::open(addr).await?;
    let made = call(
        &mut conn,
        "CreateQueue",
        json!({"QueueName": format!("bench-sqs-{tag}")}),
    )
    .await?;
    let url = made["QueueUrl"].as_str().unwrap_or_default().to_string();

    // Sends.
    let (sent, samples, took) = send_for(addr, &url, clients, seconds).await?;
    let mut sends = summary(samples);
    sends["per_second"] = json!(sent as f64 / took);
    sends["clients"] = json!(clients);

    // Receives of 10, each batch deleted, until the queue is empty.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut received = 0usize;
            loop {
                let got = call(
                    &mut conn,
                    "ReceiveMessage",
                    json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60}),
                )
                .await?;
                let Some(messages) = got["Messages"].as_array().filter(|m| !m.is_empty()) else {
                    return anyhow::Ok(received);
                };
                received += messages.len();
                let entries: Vec<Value> = messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| json!({"Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"]}))
                    .collect();
                call(
                    &mut conn,
                    "DeleteMessageBatch",
                    json!({"QueueUrl": url, "Entries": entries}),
                )
                .await?;
            }
        }));
    }
    let mut received = 0;
    for t in tasks {
        received += t.await??;
    }
    let receive_s = started.elapsed().as_secs_f64();

    // A mapping draining a queue filled beforehand.
    let queue = format!("bench-map-{tag}");
    let made = call(&mut conn, "CreateQueue", json!({"QueueName": queue})).await?;
    let map_url = made["QueueUrl"].as_str().unwrap_or_default().to_string();
    let total = 20_000;
    let mut tasks = Vec::new();
    for c in 0..8 {
        let url = map_url.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            for b in 0..(total / 10 / 8) {
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({"Id": format!("e{i}"), "MessageBody": format!("{c}-{b}-{i} {BODY}")}))
                    .collect();
                call(
                    &mut conn,
                    "SendMessageBatch",
                    json!({"QueueUrl": url, "Entries": entries}),
                )
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let started = Instant::now();
    let body = json!({
        "EventSourceArn": format!("arn:aws:sqs:us-east-1:000000000000:{queue}"),
        "FunctionName": function,
        "BatchSize": 10,
        "ScalingConfig": {"MaximumConcurrency": 8},
    });
    let (status, _, answer) = conn
        .request(
            "POST",
            "/2015-03-31/event-source-mappings",
            Bytes::from(body.to_string()),
            &[("content-type", "application/json")],
        )
        .await?;
    if status != 202 {
        bail!(
            "CreateEventSourceMapping answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if depth(&mut conn, &map_url).await? == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the mapping did not drain {total} messages within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained_s = started.elapsed().as_secs_f64();
    Ok(json!({
        "sends": sends,
        "receives": {"messages": received, "per_second": received as f64 / receive_s},
        "mapping": {"messages": total, "batch_size": 10, "per_second": total as f64 / drained_s},
    }))
}
