//! What a destination receives from S3: the event record (version 2.1, as Lambda functions
//! get it in `{"Records": [...]}`) and the `s3:TestEvent` a queue gets when a configuration
//! is put.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::bucket_arn;

/// What S3 leaves as it is in an event's key: letters, digits, `-_.*` and `/`; a space
/// becomes `+` (form encoding), everything else `%XX` of its UTF-8 bytes.
const KEY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b'/');

/// An object's key as event records carry it: `a b+c.txt` is `a+b%2Bc.txt`.
pub fn encode_key(key: &str) -> String {
    key.split(' ')
        .map(|part| utf8_percent_encode(part, KEY_KEEPS).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// One event on one object.
#[derive(Debug, Clone)]
pub struct ObjectEvent<'a> {
    pub region: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// With its `s3:` prefix: `s3:ObjectCreated:Put`.
    pub event_name: &'a str,
    /// The object's size and ETag (unquoted), for a creation.
    pub size: Option<u64>,
    pub etag: Option<&'a str>,
    /// Orders the events of one key: a later write has a larger one.
    pub sequence: u64,
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    pub source_ip: &'a str,
    /// Who made the request (the access key of its signature, or `anonymous`).
    pub principal: &'a str,
    pub request_id: &'a str,
}

fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The record of `e` for the configuration `configuration_id`.
pub fn event_record(e: &ObjectEvent<'_>, configuration_id: &str) -> Value {
    let mut object = json!({
        "key": encode_key(e.key),
        // Hex of equal width, so that comparing them as strings orders them.
        "sequencer": format!("{:018X}", e.sequence),
    });
    if let Some(size) = e.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = e.etag {
        object["eTag"] = json!(etag);
    }
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": e.region,
        "eventTime": iso_ms(e.time_ms),
        "eventName": e.event_name.strip_prefix("s3:").unwrap_or(e.event_name),
        "userIdentity": {"principalId": e.principal},
        "requestParameters": {"sourceIPAddress": e.source_ip},
        "responseElements": {
            "x-amz-request-id": e.request_id,
            "x-amz-id-2": e.request_id,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": e.bucket,
                "ownerIdentity": {"principalId": e.principal},
                "arn": bucket_arn(e.bucket),
            },
            "object": object,
        },
    })
}

/// The message a queue receives when a configuration naming it is put.
pub fn test_event(bucket: &str, time_ms: i64, request_id: &str) -> Value {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": iso_ms(time_ms),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_encodes_them() {
        let cases = [
            ("a b+c.txt", "a+b%2Bc.txt"),
            ("photos/red flower.jpg", "photos/red+flower.jpg"),
            ("file (1)&x=y.txt", "file+%281%29%26x%3Dy.txt"),
            ("ação.txt", "a%C3%A7%C3%A3o.txt"),
            ("plain-key_1.*", "plain-key_1.*"),
            ("~tilde", "%7Etilde"),
        ];
        for (key, encoded) in cases {
            assert_eq!(encode_key(key), encoded, "{key}");
        }
    }

    #[test]
    fn records_have_s3s_shape() {
        let e = ObjectEvent {
            region: "us-east-1",
            bucket: "photos",
            key: "a b.jpg",
            event_name: "s3:ObjectCreated:Put",
            size: Some(1024),
            etag: Some("0123456789abcdef0123456789abcdef"),
            sequence: 42,
            time_ms: 1_700_000_000_123,
            source_ip: "127.0.0.1",
            principal: "AKIDEXAMPLE",
            request_id: "R1",
        };
        let r = event_record(&e, "rule-1");
        assert_eq!(r["eventVersion"], "2.1");
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["eventTime"], "2023-11-14T22:13:20.123Z");
        assert_eq!(r["s3"]["configurationId"], "rule-1");
        assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::photos");
        assert_eq!(r["s3"]["object"]["key"], "a+b.jpg");
        assert_eq!(r["s3"]["object"]["size"], 1024);
        assert_eq!(r["s3"]["object"]["sequencer"], "00000000000000002A");
        let removed = event_record(
            &ObjectEvent {
                event_name: "s3:ObjectRemoved:Delete",
                size: None,
                etag: None,
                ..e
            },
            "rule-2",
        );
        assert!(removed["s3"]["object"].get("size").is_none());
        assert!(removed["s3"]["object"].get("eTag").is_none());
        assert_eq!(test_event("photos", 0, "R")["Event"], "s3:TestEvent");
    }
}
