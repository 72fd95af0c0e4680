//! Notifications from other S3-compatible stores, made what a function expects from S3.
//!
//! - **MinIO** wraps its records as `{"EventName", "Key", "Records": [...]}`, names events
//!   with their `s3:` prefix, says `eventSource: "minio:s3"` and `eventVersion: "2.0"`, and
//!   escapes keys as Go's `url.QueryEscape` does (a `/` too).
//! - **Ceph RGW** sends `{"Records": [...]}` with `eventSource: "ceph:s3"`, the object's
//!   `size` as a string (older releases: `etag` in lower case), and keys as they are.
//!
//! Each record becomes S3's own: `eventSource: "aws:s3"`, `eventVersion: "2.1"`, the event
//! name without `s3:`, a numeric size, `eTag`, the key encoded as S3 encodes it; the
//! store's extra members are kept.

use serde_json::Value;

use super::encode_key;

/// One record of a store's notification, made S3's.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub bucket: String,
    /// The object's key, decoded.
    pub key: String,
    /// With its `s3:` prefix, as configurations name it.
    pub event_name: String,
    /// The record as S3 would have sent it (its `configurationId` still the store's).
    pub record: Value,
}

/// Percent-decoding where `+` is a space (S3's and Go's query escaping).
fn unquote_plus(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The records of a store's notification body, each made S3's; a body without records, or
/// a record without a bucket, key or event name, is refused with the reason.
pub fn normalize(body: &Value, region: &str) -> Result<Vec<Received>, String> {
    let records = body
        .get("Records")
        .and_then(Value::as_array)
        .ok_or("the body has no Records")?;
    records.iter().map(|r| record(r, region)).collect()
}

fn record(r: &Value, region: &str) -> Result<Received, String> {
    let mut r = r.clone();
    let source = r["eventSource"].as_str().unwrap_or("aws:s3").to_string();
    let name = r["eventName"]
        .as_str()
        .ok_or("a record has no eventName")?
        .to_string();
    let short = name.strip_prefix("s3:").unwrap_or(&name).to_string();
    let bucket = r["s3"]["bucket"]["name"]
        .as_str()
        .ok_or("a record has no s3.bucket.name")?
        .to_string();
    let raw = r["s3"]["object"]["key"]
        .as_str()
        .ok_or("a record has no s3.object.key")?;
    // Ceph sends keys as they are; S3 and MinIO escape them.
    let key = if source == "ceph:s3" {
        raw.to_string()
    } else {
        unquote_plus(raw)
    };
    r["eventSource"] = "aws:s3".into();
    r["eventVersion"] = "2.1".into();
    r["eventName"] = short.clone().into();
    if r["awsRegion"].as_str().is_none_or(str::is_empty) {
        r["awsRegion"] = region.into();
    }
    let object = &mut r["s3"]["object"];
    object["key"] = encode_key(&key).into();
    if let Some(size) = object["size"].as_str().and_then(|s| s.parse::<u64>().ok()) {
        object["size"] = size.into();
    }
    if object.get("eTag").is_none()
        && let Some(etag) = object.get("etag").cloned()
    {
        object["eTag"] = etag;
        if let Some(o) = object.as_object_mut() {
            o.remove("etag");
        }
    }
    Ok(Received {
        bucket,
        key,
        event_name: format!("s3:{short}"),
        record: r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MinIO's example event (minio/minio, docs/bucket/notifications/README.md, the event
    /// its NSQ section shows; every target, the webhook included, sends the same body).
    const MINIO: &str = include_str!("../../../../fixtures/s3-notifications/minio-put.json");

    /// Ceph's example event (ceph/ceph, doc/radosgw/notifications.rst, § Events).
    const CEPH: &str = include_str!("../../../../fixtures/s3-notifications/ceph-put.json");

    #[test]
    fn minio_records_become_s3s() {
        let got = normalize(&serde_json::from_str(MINIO).unwrap(), "us-east-1").unwrap();
        assert_eq!(got.len(), 1);
        let g = &got[0];
        assert_eq!(
            (g.bucket.as_str(), g.key.as_str(), g.event_name.as_str()),
            ("images", "gopher.jpg", "s3:ObjectCreated:Put")
        );
        assert_eq!(g.record["eventSource"], "aws:s3");
        assert_eq!(g.record["eventVersion"], "2.1");
        assert_eq!(g.record["eventName"], "ObjectCreated:Put");
        assert_eq!(g.record["awsRegion"], "us-east-1");
        assert_eq!(g.record["s3"]["object"]["size"], 162023);
        assert_eq!(
            g.record["s3"]["object"]["contentType"], "image/jpeg",
            "extras kept"
        );
    }

    #[test]
    fn ceph_records_become_s3s() {
        let got = normalize(&serde_json::from_str(CEPH).unwrap(), "us-east-1").unwrap();
        let g = &got[0];
        assert_eq!(
            (g.bucket.as_str(), g.key.as_str(), g.event_name.as_str()),
            ("mybucket1", "myimage1.jpg", "s3:ObjectCreated:Put")
        );
        assert_eq!(g.record["s3"]["object"]["size"], 1024, "a number");
        assert_eq!(
            g.record["awsRegion"], "zonegroup1",
            "the store's region kept"
        );
        assert_eq!(g.record["eventSource"], "aws:s3");
    }

    #[test]
    fn keys_are_decoded_then_encoded_as_s3_does() {
        let minio = serde_json::json!({"Records": [{"eventSource": "minio:s3",
            "eventName": "s3:ObjectRemoved:Delete",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "in+box%2Fa%2Bb.jpg"}}}]});
        let g = &normalize(&minio, "r").unwrap()[0];
        assert_eq!(g.key, "in box/a+b.jpg");
        assert_eq!(g.record["s3"]["object"]["key"], "in+box/a%2Bb.jpg");
        let ceph = serde_json::json!({"Records": [{"eventSource": "ceph:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "demo a+b.jpeg", "etag": "x"}}}]});
        let g = &normalize(&ceph, "r").unwrap()[0];
        assert_eq!(g.key, "demo a+b.jpeg");
        assert_eq!(g.record["s3"]["object"]["key"], "demo+a%2Bb.jpeg");
        assert_eq!(g.record["s3"]["object"]["eTag"], "x");
        assert!(normalize(&serde_json::json!({"nothing": 1}), "r").is_err());
        assert!(normalize(&serde_json::json!({"Records": [{"eventName": "x"}]}), "r").is_err());
    }
}
