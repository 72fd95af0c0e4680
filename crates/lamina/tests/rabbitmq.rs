//! Event source mappings from RabbitMQ against the real server and a throw-away broker
//! (crates/testbrokers): messages published through a real AMQP client reach the function as
//! Lambda's `aws:rmq` event, in batches; a batch the function fails comes back from the
//! broker and is acknowledged once it succeeds; a broker reached over `amqps` with a
//! certificate the server trusts.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Server, eventually, ledger};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;

const BROKER: &str = "arn:aws:mq:us-east-1:000000000000:broker:orders:b-1";

#[tokio::test(flavor = "multi_thread")]
async fn published_messages_reach_the_function_as_lambdas_rmq_event() {
    let rmq = lamina_testbrokers::RabbitMq::start();
    let conn = Connection::connect(&rmq.url(), ConnectionProperties::default())
        .await
        .expect("connect to the broker");
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            "orders".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    // The function records each message, and fails the first batch holding "retry-me".
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let failed_once = seen.path().join("failed-once");
    let headers_file = seen.path().join("headers.json");
    let code = format!(
        "import base64, json, os\ndef handler(event, context):\n    assert event['eventSource'] == 'aws:rmq'\n    batch = event['rmqMessagesByQueue']['orders::/']\n    bodies = [base64.b64decode(m['data']).decode() for m in batch]\n    for m, b in zip(batch, bodies):\n        if b == 'm-0':\n            open({headers:?}, 'w').write(json.dumps(m['basicProperties'].get('headers')))\n    if 'retry-me' in bodies and not os.path.exists({failed:?}):\n        open({failed:?}, 'w').close()\n        raise RuntimeError('first time')\n    fd = os.open({ran:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for m, b in zip(batch, bodies):\n        os.write(fd, (b + ' ' + m['basicProperties'].get('contentType', '') + ' ' + str(m['redelivered']) + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        failed = failed_once.display().to_string(),
        headers = headers_file.display().to_string(),
        ran = ran_file.display().to_string()
    );
    let broker = format!("{BROKER}=amqp://guest:guest@127.0.0.1:{}", rmq.port());
    let s = Server::start_with(&["--isolation", "none", "--mq-broker", &broker], None);
    s.python("rmq-ledger", &code).await;
    let secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq-guest";
    // What Lambda refuses: no queue, no credentials, an unknown broker.
    for bad in [
        json!({"EventSourceArn": BROKER, "FunctionName": "rmq-ledger",
                "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": secret}]}),
        json!({"EventSourceArn": BROKER, "FunctionName": "rmq-ledger", "Queues": ["orders"]}),
        json!({"EventSourceArn": "arn:aws:mq:us-east-1:000000000000:broker:other:b-2",
                "FunctionName": "rmq-ledger", "Queues": ["orders"],
                "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": secret}]}),
    ] {
        let (st, _, answer) = s.post_json("/2015-03-31/event-source-mappings", &bad).await;
        assert_eq!(st, 400, "{bad}: {answer}");
    }
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": BROKER, "FunctionName": "rmq-ledger", "Queues": ["orders"],
                    "BatchSize": 10,
                    "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": secret},
                                                   {"Type": "VIRTUAL_HOST", "URI": "/"}]}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    assert_eq!(mapping["BatchSize"], 10);
    let mut headers = FieldTable::default();
    headers.insert("tenant".into(), AMQPValue::LongString("acme".into()));
    headers.insert("attempt".into(), AMQPValue::LongInt(3));
    let mut sent = Vec::new();
    for i in 0..30 {
        let body = if i == 7 {
            "retry-me".to_string()
        } else {
            format!("m-{i}")
        };
        channel
            .basic_publish(
                "".into(),
                "orders".into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default()
                    .with_content_type("text/plain".into())
                    .with_headers(headers.clone()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        sent.push(body);
    }
    let all = eventually(Duration::from_secs(30), async || {
        let got: HashSet<String> = ledger(&ran_file)
            .iter()
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect();
        sent.iter().all(|b| got.contains(b))
    })
    .await;
    assert!(
        all,
        "every message reaches the function: {:?}",
        ledger(&ran_file)
    );
    assert!(failed_once.exists(), "the batch with retry-me failed once");
    let headers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&headers_file).unwrap()).unwrap();
    assert_eq!(
        headers,
        json!({"tenant": {"bytes": [97, 99, 109, 101]}, "attempt": 3}),
        "headers as Lambda gives them"
    );
    let lines = ledger(&ran_file);
    let retried = lines.iter().find(|l| l.starts_with("retry-me ")).unwrap();
    assert!(
        retried.ends_with(" text/plain True"),
        "a failed batch comes back from the broker, redelivered: {retried}"
    );
    let declared = channel
        .queue_declare(
            "orders".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || {
            channel
                .queue_declare(
                    "orders".into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .is_ok_and(|q| q.message_count() == 0)
        })
        .await,
        "processed messages are acknowledged ({} left)",
        declared.message_count()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_is_reached_over_amqps() {
    let tls = lamina_testbrokers::tls::Authority::new();
    let rmq = lamina_testbrokers::RabbitMq::start_tls(&tls);
    let conn = Connection::connect(&rmq.url(), ConnectionProperties::default())
        .await
        .expect("connect to the broker");
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            "secure".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran.txt");
    let code = format!(
        "import base64\ndef handler(event, context):\n    with open({f:?}, 'a') as f:\n        for m in event['rmqMessagesByQueue']['secure::/']:\n            f.write(base64.b64decode(m['data']).decode() + '\\n')\n",
        f = ran.display().to_string()
    );
    let broker = format!(
        "{BROKER}=amqps://guest:guest@127.0.0.1:{}",
        rmq.tls_port().unwrap()
    );
    // The server trusts the throw-away authority as it would a system one.
    let s = Server::start_with_env(
        &["--isolation", "none", "--mq-broker", &broker],
        &[("SSL_CERT_FILE", &tls.ca.display().to_string())],
    );
    s.python("rmq-secure", &code).await;
    let secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq-guest";
    let (st, _, mapping) = s
        .post_json(
            "/2015-03-31/event-source-mappings",
            &json!({"EventSourceArn": BROKER, "FunctionName": "rmq-secure", "Queues": ["secure"],
                    "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": secret}]}),
        )
        .await;
    assert_eq!(st, 202, "{mapping}");
    channel
        .basic_publish(
            "".into(),
            "secure".into(),
            BasicPublishOptions::default(),
            b"over tls",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let path = format!(
        "/2015-03-31/event-source-mappings/{}",
        mapping["UUID"].as_str().unwrap()
    );
    let arrived = eventually(Duration::from_secs(30), async || {
        ledger(&ran) == ["over tls"]
    })
    .await;
    let (_, _, now) = s.get(&path).await;
    assert!(arrived, "{now}");
}
