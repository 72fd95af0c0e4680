//! The members only some kinds of source take, checked as Lambda checks them: RabbitMQ
//! (Amazon MQ's shape) and self-managed Kafka.

use serde_json::Value;

use super::{MappingRecord, MappingRequest, invalid};
use crate::LambdaError;

/// A RabbitMQ source's members: exactly one queue (set on create only), credentials given
/// as a BASIC_AUTH secret, an optional VIRTUAL_HOST that cannot be updated.
pub(super) fn check_rabbitmq(req: &MappingRequest, base: Option<&MappingRecord>) -> Result<(), LambdaError> {
    let has = |t: &str| {
        req.other
            .get("SourceAccessConfigurations")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|e| e["Type"] == t))
    };
    if base.is_some() {
        if req.other.contains_key("Queues") {
            return Err(invalid("Queues cannot be updated."));
        }
        if has("VIRTUAL_HOST") {
            return Err(invalid(
                "VIRTUAL_HOST cannot be specified in an UpdateEventSourceMapping API call.",
            ));
        }
        return Ok(());
    }
    let ok = req
        .other
        .get("Queues")
        .and_then(Value::as_array)
        .is_some_and(|q| {
            q.len() == 1 && q[0].as_str().is_some_and(|n| (1..=1000).contains(&n.len()))
        });
    if !ok {
        return Err(invalid(
            "Queues must name exactly one queue for a RabbitMQ event source.",
        ));
    }
    if !has("BASIC_AUTH") {
        return Err(invalid(
            "SourceAccessConfigurations must hold a BASIC_AUTH entry for a RabbitMQ event source.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::SourceKind;
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> MappingRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rabbitmq_mappings_are_checked_as_lambda_checks_them() {
        let broker = "arn:aws:mq:us-east-1:000000000000:broker:orders:b-1";
        let auth = json!([{"Type": "BASIC_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:000000000000:secret:s"},
                          {"Type": "VIRTUAL_HOST", "URI": "/shop"}]);
        let m = req(json!({"EventSourceArn": broker, "Queues": ["orders"], "SourceAccessConfigurations": auth}))
            .apply(None)
            .unwrap();
        assert_eq!((m.kind(), m.batch_size), (SourceKind::RabbitMq, 100));
        assert_eq!((m.rabbitmq_queue(), m.virtual_host()), ("orders", "/shop"));
        for bad in [
            json!({"EventSourceArn": broker, "SourceAccessConfigurations": auth}),
            json!({"EventSourceArn": broker, "Queues": ["a", "b"], "SourceAccessConfigurations": auth}),
            json!({"EventSourceArn": broker, "Queues": ["orders"]}),
            json!({"EventSourceArn": broker, "Queues": ["orders"], "SourceAccessConfigurations": auth,
                   "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
            json!({"EventSourceArn": "arn:aws:mq:us-east-1:000000000000:cluster:x", "Queues": ["orders"],
                   "SourceAccessConfigurations": auth}),
        ] {
            assert!(req(bad.clone()).apply(None).is_err(), "{bad}");
        }
        assert!(req(json!({"Queues": ["other"]})).apply(Some(&m)).is_err());
        assert!(req(json!({"BatchSize": 500})).apply(Some(&m)).is_ok());
    }

}
