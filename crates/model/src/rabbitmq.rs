//! What a function receives from a RabbitMQ event source: Lambda's `aws:rmq` event, its
//! messages grouped in `rmqMessagesByQueue` under `<queue>::<virtual host>`, each with its
//! basic properties, whether it was redelivered, and its body in base64.

use base64::Engine;
use serde_json::{Value, json};

/// One message of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct RmqMessage {
    /// `basicProperties`, as Lambda names them (`contentType`, `deliveryMode`, ...).
    pub properties: Value,
    pub redelivered: bool,
    pub data: Vec<u8>,
}

/// The event of a batch from `queue` on `vhost` of the broker `arn`.
pub fn rmq_event(arn: &str, queue: &str, vhost: &str, messages: &[RmqMessage]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut properties = m.properties.clone();
            properties["bodySize"] = json!(m.data.len());
            json!({
                "basicProperties": properties,
                "redelivered": m.redelivered,
                "data": base64::engine::general_purpose::STANDARD.encode(&m.data),
            })
        })
        .collect();
    json!({
        "eventSource": "aws:rmq",
        "eventSourceArn": arn,
        "rmqMessagesByQueue": { format!("{queue}::{vhost}"): records },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_lambdas_rmq_events() {
        let e = rmq_event(
            "arn:aws:mq:us-east-1:000000000000:broker:b:b-1",
            "orders",
            "/",
            &[RmqMessage {
                properties: json!({"contentType": "text/plain", "deliveryMode": 2}),
                redelivered: false,
                data: b"hello".to_vec(),
            }],
        );
        assert_eq!(e["eventSource"], "aws:rmq");
        let m = &e["rmqMessagesByQueue"]["orders::/"][0];
        assert_eq!(m["data"], "aGVsbG8=");
        assert_eq!(m["basicProperties"]["bodySize"], 5);
        assert_eq!(m["basicProperties"]["contentType"], "text/plain");
        assert_eq!(m["redelivered"], false);
    }
}
