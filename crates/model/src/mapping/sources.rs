//! The members only some kinds of source take, checked as Lambda checks them: RabbitMQ
//! (Amazon MQ's shape) and self-managed Kafka.

use serde_json::Value;

use super::{MappingRecord, MappingRequest, invalid};
use crate::LambdaError;

/// A RabbitMQ source's members: exactly one queue (set on create only), credentials given
/// as a BASIC_AUTH secret, an optional VIRTUAL_HOST that cannot be updated.
pub(super) fn check_rabbitmq(
    req: &MappingRequest,
    base: Option<&MappingRecord>,
) -> Result<(), LambdaError> {
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

/// Where a source access configuration of `kind` is given.
fn access<'a>(configs: Option<&'a Value>, kind: &str) -> Option<&'a Value> {
    configs
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|e| e["Type"] == kind))
}

/// Members a Kafka mapping takes on create only.
const KAFKA_CREATE_ONLY: &[&str] = &[
    "Topics",
    "SelfManagedEventSource",
    "SelfManagedKafkaEventSourceConfig",
    "StartingPosition",
    "StartingPositionTimestamp",
];

/// A `host:port` bootstrap server, as Lambda's model constrains it.
fn is_endpoint(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    (1..=300).contains(&s.len())
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]".contains(&b))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A self-managed Kafka source's members: its bootstrap servers, exactly one topic, a
/// starting position, an optional consumer group, all set on create only. Lamina reaches
/// brokers in plain text without authentication; SASL and TLS secrets are refused rather
/// than ignored.
pub(super) fn check_kafka(
    req: &MappingRequest,
    base: Option<&MappingRecord>,
) -> Result<(), LambdaError> {
    if let Some(base) = base {
        // The consumer group may be named again on update, as it is.
        let same_group = req
            .other
            .get("SelfManagedKafkaEventSourceConfig")
            .is_none_or(|c| c["ConsumerGroupId"].as_str() == Some(base.consumer_group()));
        if !same_group {
            return Err(invalid("ConsumerGroupId cannot be updated."));
        }
        if let Some(k) = KAFKA_CREATE_ONLY
            .iter()
            .filter(|k| **k != "SelfManagedKafkaEventSourceConfig")
            .find(|k| req.other.contains_key(**k))
        {
            return Err(invalid(format!("{k} cannot be updated.")));
        }
    } else {
        let endpoints = &req.other["SelfManagedEventSource"]["Endpoints"];
        let servers = endpoints
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("KAFKA_BOOTSTRAP_SERVERS"))
            .and_then(Value::as_array)
            .filter(|l| (1..=10).contains(&l.len()));
        let ok = servers.is_some_and(|l| l.iter().all(|s| s.as_str().is_some_and(is_endpoint)));
        if !ok {
            return Err(invalid(
                "SelfManagedEventSource.Endpoints must hold KAFKA_BOOTSTRAP_SERVERS: 1 to 10 host:port entries.",
            ));
        }
        let topic_ok = req
            .other
            .get("Topics")
            .and_then(Value::as_array)
            .filter(|t| t.len() == 1)
            .and_then(|t| t[0].as_str())
            .is_some_and(|t| {
                (1..=249).contains(&t.len())
                    && !t.starts_with('.')
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        if !topic_ok {
            return Err(invalid("Topics must name exactly one Kafka topic."));
        }
        match req.other.get("StartingPosition").and_then(Value::as_str) {
            None => {
                return Err(invalid(
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.",
                ));
            }
            Some("TRIM_HORIZON" | "LATEST") => {}
            Some("AT_TIMESTAMP") => {
                if !req
                    .other
                    .get("StartingPositionTimestamp")
                    .is_some_and(Value::is_number)
                {
                    return Err(invalid(
                        "StartingPositionTimestamp is required when StartingPosition is AT_TIMESTAMP.",
                    ));
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "StartingPosition {other} is not valid: TRIM_HORIZON, LATEST or AT_TIMESTAMP."
                )));
            }
        }
        if let Some(group) = req.other.get("SelfManagedKafkaEventSourceConfig") {
            let ok = group["ConsumerGroupId"].as_str().is_some_and(|g| {
                (1..=200).contains(&g.len())
                    && g.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-/*:_+=.@".contains(&b))
            });
            if !ok {
                return Err(invalid(
                    "SelfManagedKafkaEventSourceConfig.ConsumerGroupId must be 1 to 200 of [a-zA-Z0-9-/*:_+=.@].",
                ));
            }
        }
    }
    check_kafka_failures(req)?;
    let configs = req.other.get("SourceAccessConfigurations");
    for kind in [
        "BASIC_AUTH",
        "SASL_SCRAM_256_AUTH",
        "SASL_SCRAM_512_AUTH",
        "CLIENT_CERTIFICATE_TLS_AUTH",
        "SERVER_ROOT_CA_CERTIFICATE",
    ] {
        if access(configs, kind).is_some() {
            return Err(invalid(format!(
                "SourceAccessConfigurations of type {kind} are not supported: this server \
                 reaches Kafka brokers in plain text without authentication."
            )));
        }
    }
    Ok(())
}

/// A Kafka source's handling of failed batches: how often one is retried, how old its
/// records may grow, and where what is given up on is recorded (an SQS queue).
fn check_kafka_failures(req: &MappingRequest) -> Result<(), LambdaError> {
    if req.other.contains_key("BisectBatchOnFunctionError") {
        return Err(invalid(
            "BisectBatchOnFunctionError is not supported by this server for Kafka event sources.",
        ));
    }
    if let Some(v) = req.other.get("MaximumRetryAttempts")
        && !v.as_i64().is_some_and(|n| (-1..=10_000).contains(&n))
    {
        return Err(invalid(
            "MaximumRetryAttempts must be between -1 and 10000.",
        ));
    }
    if let Some(v) = req.other.get("MaximumRecordAgeInSeconds")
        && !v
            .as_i64()
            .is_some_and(|n| n == -1 || (60..=604_800).contains(&n))
    {
        return Err(invalid(
            "MaximumRecordAgeInSeconds must be -1, or between 60 and 604800.",
        ));
    }
    if let Some(config) = req.other.get("DestinationConfig") {
        let on_success = config["OnSuccess"]["Destination"]
            .as_str()
            .unwrap_or_default();
        if !on_success.is_empty() {
            return Err(invalid(
                "Unsupported DestinationConfig parameter for given event source mapping type.",
            ));
        }
        let on_failure = config["OnFailure"]["Destination"]
            .as_str()
            .unwrap_or_default();
        if !on_failure.is_empty() && !on_failure.starts_with("arn:aws:sqs:") {
            return Err(invalid(format!(
                "The destination {on_failure} is not supported: this server records failed \
                 Kafka batches in its own SQS queues (arn:aws:sqs:REGION:ACCOUNT:NAME)."
            )));
        }
    }
    Ok(())
}

impl MappingRecord {
    /// Where a Kafka source records the batches it gives up on: an SQS queue's ARN.
    pub fn on_failure(&self) -> Option<&str> {
        self.other
            .get("DestinationConfig")
            .and_then(|c| c["OnFailure"]["Destination"].as_str())
            .filter(|d| !d.is_empty())
    }

    /// How many times a failed Kafka batch is retried before it is given up on, `None`
    /// for as long as it takes; with an on-failure destination and no limit, 10 (Lambda's).
    pub fn retry_limit(&self) -> Option<u32> {
        match self
            .other
            .get("MaximumRetryAttempts")
            .and_then(Value::as_i64)
        {
            Some(n) if n >= 0 => Some(n as u32),
            _ if self.on_failure().is_some() => Some(10),
            _ => None,
        }
    }

    /// The age past which a failed Kafka batch is given up on, in seconds (`None`: never).
    pub fn max_record_age_s(&self) -> Option<u64> {
        self.other
            .get("MaximumRecordAgeInSeconds")
            .and_then(Value::as_i64)
            .filter(|n| *n >= 0)
            .map(|n| n as u64)
    }

    /// A RabbitMQ source's queue.
    pub fn rabbitmq_queue(&self) -> &str {
        self.other
            .get("Queues")
            .and_then(|q| q[0].as_str())
            .unwrap_or_default()
    }

    /// A RabbitMQ source's virtual host (`/` unless VIRTUAL_HOST says otherwise).
    pub fn virtual_host(&self) -> &str {
        self.other
            .get("SourceAccessConfigurations")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|e| e["Type"] == "VIRTUAL_HOST"))
            .and_then(|e| e["URI"].as_str())
            .unwrap_or("/")
    }

    /// A Kafka source's topic.
    pub fn kafka_topic(&self) -> &str {
        self.other
            .get("Topics")
            .and_then(|t| t[0].as_str())
            .unwrap_or_default()
    }

    /// A Kafka source's bootstrap servers, comma-separated (as the event gives them).
    pub fn bootstrap_servers(&self) -> String {
        self.other["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    }

    /// A Kafka source's consumer group (the mapping's UUID unless one was given).
    pub fn consumer_group(&self) -> &str {
        self.other
            .get("SelfManagedKafkaEventSourceConfig")
            .and_then(|c| c["ConsumerGroupId"].as_str())
            .unwrap_or(&self.uuid)
    }

    /// A Kafka source's starting position, with its timestamp (seconds) for AT_TIMESTAMP.
    pub fn starting_position(&self) -> (&str, Option<f64>) {
        (
            self.other
                .get("StartingPosition")
                .and_then(Value::as_str)
                .unwrap_or("LATEST"),
            self.other
                .get("StartingPositionTimestamp")
                .and_then(Value::as_f64),
        )
    }
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
    fn kafka_mappings_are_checked_as_lambda_checks_them() {
        let base = json!({"FunctionName": "f", "Topics": ["orders"], "StartingPosition": "TRIM_HORIZON",
                          "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:9092", "k2:9093"]}}});
        let with = |extra: Value| {
            let mut v = base.clone();
            for (k, x) in extra.as_object().unwrap() {
                if x.is_null() {
                    v.as_object_mut().unwrap().remove(k);
                } else {
                    v[k] = x.clone();
                }
            }
            req(v)
        };
        let mut m = with(json!({})).apply(None).unwrap();
        m.uuid = "u-1".into();
        assert_eq!(
            (m.kind(), m.batch_size, m.event_source_arn.as_str()),
            (SourceKind::Kafka, 100, "")
        );
        assert_eq!((m.kafka_topic(), m.consumer_group()), ("orders", "u-1"));
        assert_eq!(m.bootstrap_servers(), "127.0.0.1:9092,k2:9093");
        assert_eq!(m.starting_position(), ("TRIM_HORIZON", None));
        assert!(m.to_wire("arn", "OK").get("EventSourceArn").is_none());
        let grouped =
            with(json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "billing"}}))
                .apply(None)
                .unwrap();
        assert_eq!(grouped.consumer_group(), "billing");
        for bad in [
            json!({"StartingPosition": null}),
            json!({"StartingPosition": "EARLIEST"}),
            json!({"StartingPosition": "AT_TIMESTAMP"}),
            json!({"Topics": ["a", "b"]}),
            json!({"Topics": [".hidden"]}),
            json!({"Topics": null}),
            json!({"SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": []}}}),
            json!({"SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["no-port"]}}}),
            json!({"SelfManagedEventSource": {"Endpoints": {"OTHER": ["h:1"]}}}),
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q"}),
            json!({"SourceAccessConfigurations": [{"Type": "SASL_SCRAM_512_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:000000000000:secret:s"}]}),
            json!({"FunctionResponseTypes": ["ReportBatchItemFailures"]}),
            json!({"ScalingConfig": {"MaximumConcurrency": 5}}),
            json!({"Queues": ["q"]}),
            json!({"BatchSize": 10001}),
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": ""}}),
            json!({"MaximumRetryAttempts": -2}),
            json!({"MaximumRetryAttempts": 10001}),
            json!({"MaximumRecordAgeInSeconds": 59}),
            json!({"BisectBatchOnFunctionError": true}),
            json!({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}),
            json!({"DestinationConfig": {"OnFailure": {"Destination": "kafka://dead-letters"}}}),
        ] {
            assert!(with(bad.clone()).apply(None).is_err(), "{bad}");
        }
        assert!(req(json!({"Topics": ["other"]})).apply(Some(&m)).is_err());
        assert!(
            req(json!({"StartingPosition": "LATEST"}))
                .apply(Some(&m))
                .is_err()
        );
        let regroup =
            |g: &str| json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": g}});
        assert!(req(regroup("other")).apply(Some(&m)).is_err());
        assert!(
            req(regroup("u-1")).apply(Some(&m)).is_ok(),
            "the same group again"
        );
        let updated = req(json!({"BatchSize": 500, "MaximumBatchingWindowInSeconds": 1}))
            .apply(Some(&m))
            .unwrap();
        assert_eq!(
            (updated.kind(), updated.batch_size),
            (SourceKind::Kafka, 500)
        );
        assert_eq!(updated.kafka_topic(), "orders");
        assert_eq!(
            (updated.retry_limit(), updated.max_record_age_s()),
            (None, None)
        );
        let dlq = "arn:aws:sqs:us-east-1:000000000000:failed";
        let failing = req(
            json!({"DestinationConfig": {"OnFailure": {"Destination": dlq}},
                                 "MaximumRecordAgeInSeconds": 60}),
        )
        .apply(Some(&m))
        .unwrap();
        assert_eq!(failing.on_failure(), Some(dlq));
        assert_eq!(
            failing.retry_limit(),
            Some(10),
            "Lambda's limit with a destination"
        );
        assert_eq!(failing.max_record_age_s(), Some(60));
        let twice = req(json!({"MaximumRetryAttempts": 2}))
            .apply(Some(&failing))
            .unwrap();
        assert_eq!(twice.retry_limit(), Some(2));
        let sqs = "arn:aws:sqs:us-east-1:000000000000:jobs";
        assert!(
            req(json!({"EventSourceArn": sqs, "DestinationConfig": {"OnFailure": {"Destination": dlq}}}))
                .apply(None)
                .is_err(),
            "an SQS source has its queue's redrive policy instead"
        );
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
