//! What a function receives from a self-managed Kafka event source: Lambda's
//! `SelfManagedKafka` event, its records grouped under `<topic>-<partition>` in offset
//! order, keys and values in base64, headers as lists of signed bytes (as Lambda's Java
//! poller writes them), and the view of a record that filters match against.

use base64::Engine;
use serde_json::{Map, Value, json};

/// One record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: &'static str,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl KafkaRecord {
    /// The record as the event carries it.
    pub fn to_json(&self) -> Value {
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(k, v)| json!({ k: v.iter().map(|b| *b as i8).collect::<Vec<i8>>() }))
            .collect();
        let mut r = json!({
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "timestampType": self.timestamp_type,
            "headers": headers,
        });
        if let Some(key) = &self.key {
            r["key"] = json!(b64(key));
        }
        if let Some(value) = &self.value {
            r["value"] = json!(b64(value));
        }
        r
    }

    /// What a filter sees: the record, with its value as JSON when it is a JSON object
    /// (a pattern on `value` fields matches nothing otherwise), as Lambda filters.
    pub fn filterable(&self) -> Value {
        let mut r = self.to_json();
        if let Some(parsed) = self
            .value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<Value>(v).ok())
            .filter(Value::is_object)
        {
            r["value"] = parsed;
        }
        r
    }
}

/// The event of a batch read from `bootstrap_servers` (comma-separated, as Lambda gives
/// them): records under `<topic>-<partition>`, each partition's in the order read.
pub fn kafka_event(bootstrap_servers: &str, records: &[KafkaRecord]) -> Value {
    let mut by_partition = Map::new();
    for r in records {
        let key = format!("{}-{}", r.topic, r.partition);
        let list = by_partition.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(items) = list {
            items.push(r.to_json());
        }
    }
    json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": bootstrap_servers,
        "records": by_partition,
    })
}

/// Why a batch was given up on, as the on-failure record's `condition` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenUp {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl GivenUp {
    pub fn as_str(self) -> &'static str {
        match self {
            GivenUp::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            GivenUp::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// What a failed batch's function call answered, for the on-failure record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCall {
    pub request_id: String,
    pub function_arn: String,
    pub status_code: u16,
    pub executed_version: String,
    pub function_error: Option<String>,
    /// How many times the batch was given to the function.
    pub invoke_count: u32,
}

/// The record an on-failure destination receives for a batch given up on: Lambda's
/// invocation record with `KafkaBatchInfo` (offsets and times of each partition's first and
/// last record), not the records themselves.
pub fn failure_record(
    call: &FailedCall,
    why: GivenUp,
    bootstrap_servers: &str,
    batch: &[KafkaRecord],
) -> Value {
    let mut info = Map::new();
    for r in batch {
        let key = format!("{}-{}", r.topic, r.partition);
        let entry = info.entry(key).or_insert_with(|| {
            json!({"firstRecordOffset": r.offset.to_string(),
                   "firstRecordTimestamp": iso_ms(r.timestamp)})
        });
        entry["lastRecordOffset"] = json!(r.offset.to_string());
        entry["lastRecordTimestamp"] = json!(iso_ms(r.timestamp));
    }
    let payload_size = kafka_event(bootstrap_servers, batch).to_string().len();
    let mut response = json!({
        "statusCode": call.status_code,
        "executedVersion": call.executed_version,
    });
    if let Some(e) = &call.function_error {
        response["functionError"] = json!(e);
    }
    json!({
        "requestContext": {
            "requestId": call.request_id,
            "functionArn": call.function_arn,
            "condition": why.as_str(),
            "approximateInvokeCount": call.invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_ms(chrono::Utc::now().timestamp_millis()),
        "KafkaBatchInfo": {
            "batchSize": batch.len(),
            "bootstrapServers": bootstrap_servers,
            "payloadSize": payload_size,
            "recordsInfo": info,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, value: &[u8]) -> KafkaRecord {
        KafkaRecord {
            topic: "orders".into(),
            partition,
            offset,
            timestamp: 1_545_084_650_987,
            timestamp_type: "CREATE_TIME",
            key: (offset == 0).then(|| b"k".to_vec()),
            value: Some(value.to_vec()),
            headers: vec![("h".into(), vec![b'v', 0xff])],
        }
    }

    #[test]
    fn events_are_lambdas_self_managed_kafka_events() {
        let e = kafka_event(
            "127.0.0.1:9092",
            &[
                record(0, 0, b"{\"a\": 1}"),
                record(1, 7, b"x"),
                record(0, 1, b"y"),
            ],
        );
        assert_eq!(e["eventSource"], "SelfManagedKafka");
        assert_eq!(e["bootstrapServers"], "127.0.0.1:9092");
        let p0 = e["records"]["orders-0"].as_array().unwrap();
        assert_eq!(
            p0.iter().map(|r| r["offset"].clone()).collect::<Vec<_>>(),
            [json!(0), json!(1)]
        );
        assert_eq!(p0[0]["key"], "aw==");
        assert!(p0[1].get("key").is_none(), "a null key is left out");
        assert_eq!(p0[1]["value"], "eQ==");
        assert_eq!(p0[0]["headers"], json!([{"h": [118, -1]}]));
        assert_eq!(e["records"]["orders-1"][0]["partition"], 1);
        assert_eq!(e["records"]["orders-1"][0]["timestampType"], "CREATE_TIME");
    }

    #[test]
    fn failure_records_say_what_was_given_up() {
        let call = FailedCall {
            request_id: "r-1".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            status_code: 200,
            executed_version: "$LATEST".into(),
            function_error: Some("Unhandled".into()),
            invoke_count: 3,
        };
        let batch = [record(0, 4, b"a"), record(0, 9, b"b"), record(1, 2, b"c")];
        let r = failure_record(&call, GivenUp::RetryAttemptsExhausted, "h:9092", &batch);
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        let info = &r["KafkaBatchInfo"];
        assert_eq!(info["batchSize"], 3);
        assert_eq!(info["recordsInfo"]["orders-0"]["firstRecordOffset"], "4");
        assert_eq!(info["recordsInfo"]["orders-0"]["lastRecordOffset"], "9");
        assert_eq!(info["recordsInfo"]["orders-1"]["lastRecordOffset"], "2");
        assert_eq!(
            info["recordsInfo"]["orders-1"]["firstRecordTimestamp"],
            "2018-12-17T22:10:50.987Z"
        );
    }

    #[test]
    fn filters_see_json_values_as_json() {
        assert_eq!(record(0, 0, b"{\"a\": 1}").filterable()["value"]["a"], 1);
        assert_eq!(record(0, 1, b"plain").filterable()["value"], "cGxhaW4=");
    }
}
