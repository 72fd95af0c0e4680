//! A RabbitMQ mapping's consumer: one AMQP 0-9-1 connection to the broker `--mq-broker`
//! names for the mapping's broker ARN, on the mapping's virtual host, consuming its queue
//! with a prefetch of BatchSize. Deliveries are gathered up to BatchSize within the
//! batching window (500 ms when none is set, as Lambda's), filtered, and given to the
//! function as Lambda's `aws:rmq` event; after it succeeds the batch is acknowledged, and
//! after it fails it is rejected back to the queue (redelivery and dead-lettering are the
//! broker's, as with Amazon MQ). Messages a filter drops are acknowledged.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use lamina_model::rabbitmq::{RmqMessage, rmq_event};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, message::Delivery};
use serde_json::{Map, Value, json};

use super::runner::Shared;
use crate::Platform;

/// The AMQP URL of `arn` on `vhost`, from `--mq-broker`.
pub(crate) fn url_of(p: &Platform, arn: &str, vhost: &str) -> Option<String> {
    let base = p
        .inner
        .mappings
        .brokers
        .iter()
        .find(|(broker, _)| broker == arn)
        .map(|(_, url)| url.trim_end_matches('/').to_string())?;
    let encoded: String = vhost
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("{base}/{encoded}"))
}

/// Lambda's `basicProperties` of a delivery.
fn properties(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put(
        "contentType",
        p.content_type().as_ref().map(|s| json!(s.as_str())),
    );
    put(
        "contentEncoding",
        p.content_encoding().as_ref().map(|s| json!(s.as_str())),
    );
    put("deliveryMode", p.delivery_mode().map(|d| json!(d)));
    put("priority", p.priority().map(|d| json!(d)));
    put(
        "correlationId",
        p.correlation_id().as_ref().map(|s| json!(s.as_str())),
    );
    put("replyTo", p.reply_to().as_ref().map(|s| json!(s.as_str())));
    put(
        "expiration",
        p.expiration().as_ref().map(|s| json!(s.as_str())),
    );
    put(
        "messageId",
        p.message_id().as_ref().map(|s| json!(s.as_str())),
    );
    put("timestamp", p.timestamp().map(|t| json!(t.to_string())));
    put("type", p.kind().as_ref().map(|s| json!(s.as_str())));
    put("userId", p.user_id().as_ref().map(|s| json!(s.as_str())));
    put("appId", p.app_id().as_ref().map(|s| json!(s.as_str())));
    put(
        "clusterId",
        p.cluster_id().as_ref().map(|s| json!(s.as_str())),
    );
    if let Some(headers) = p.headers() {
        m.insert("headers".into(), table(headers));
    }
    Value::Object(m)
}

/// A header table as Lambda gives it: numbers and booleans as they are, strings and byte
/// arrays as `{"bytes": [...]}` of signed bytes (as Lambda's Java runtime writes them).
fn table(t: &FieldTable) -> Value {
    Value::Object(
        t.inner()
            .iter()
            .map(|(k, v)| (k.to_string(), amqp_json(v)))
            .collect(),
    )
}

fn bytes(b: &[u8]) -> Value {
    json!({"bytes": b.iter().map(|b| *b as i8).collect::<Vec<i8>>()})
}

fn amqp_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => {
            json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => bytes(s.as_bytes()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_json).collect()),
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(t) => table(t),
        AMQPValue::ByteArray(b) => bytes(b.as_slice()),
        AMQPValue::Void => Value::Null,
    }
}

/// Consumes until the mapping stops; reconnects after a second when the broker is away.
pub(crate) async fn consume(shared: &Shared) {
    super::runner::sessions(shared, |p, shared| Box::pin(session(p, shared))).await;
}

/// One connection's worth of consuming.
async fn session(p: &Platform, shared: &Shared) -> Result<(), String> {
    let record = &shared.record;
    let url = url_of(p, &record.event_source_arn, record.virtual_host())
        .ok_or_else(|| format!("no --mq-broker names {}", record.event_source_arn))?;
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .map_err(|e| format!("the broker could not be reached: {e}"))?;
    let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
    let prefetch = record.batch_size.min(u32::from(u16::MAX)) as u16;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let tag = format!("lamina-{}", record.uuid);
    let mut consumer = channel
        .basic_consume(
            record.rabbitmq_queue().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            format!(
                "the queue {} could not be consumed: {e}",
                record.rabbitmq_queue()
            )
        })?;
    let window = match record.batching_window_s {
        0 => Duration::from_millis(500),
        s => Duration::from_secs(u64::from(s)),
    };
    loop {
        // The first delivery waits, a few seconds at a time (to notice a stop).
        let first = loop {
            if shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            match tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
                Ok(Some(d)) => break d.map_err(|e| e.to_string())?,
                Ok(None) => return Err("the broker cancelled the consumer".into()),
                Err(_) => continue,
            }
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < record.batch_size as usize {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(d)) => batch.push(d.map_err(|e| e.to_string())?),
                Ok(None) | Err(_) => break,
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            // Stopped (disabled, changed, deleted) while gathering: the function is not
            // called; unacknowledged, the batch goes back to the queue when the channel closes.
            return Ok(());
        }
        settle(p, shared, batch).await?;
    }
}

/// Filters, invokes, and acknowledges or rejects one batch.
async fn settle(p: &Platform, shared: &Shared, batch: Vec<Delivery>) -> Result<(), String> {
    let record = &shared.record;
    let Some(last) = batch.last() else {
        return Ok(());
    };
    let acker = last.acker.clone();
    let multiple = BasicAckOptions { multiple: true };
    let kept: Vec<&Delivery> = batch
        .iter()
        .filter(|d| {
            shared.filters.is_empty() || {
                let data: Value = serde_json::from_slice(&d.data)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(&d.data)));
                let seen = json!({"data": data});
                shared.filters.iter().any(|f| f.matches(&seen))
            }
        })
        .collect();
    if kept.is_empty() {
        // Everything was filtered out: acknowledged, as Lambda does.
        return acker
            .ack(multiple)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let messages: Vec<RmqMessage> = kept
        .iter()
        .map(|d| RmqMessage {
            properties: properties(&d.properties),
            redelivered: d.redelivered,
            data: d.data.clone(),
        })
        .collect();
    let event = rmq_event(
        &record.event_source_arn,
        record.rabbitmq_queue(),
        record.virtual_host(),
        &messages,
    );
    let outcome = super::invoke_batch(p, record, &event).await;
    if p.inner.mappings.last.called(&record.uuid, &outcome) {
        acker
            .ack(multiple)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        acker
            .nack(BasicNackOptions {
                multiple: true,
                requeue: true,
            })
            .await
            .map_err(|e| e.to_string())?;
        // The batch comes back at once: a pause keeps a failing function from spinning.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(())
    }
}
