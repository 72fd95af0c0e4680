//! What a mapping's function receives from an SQS source and what its answer says back:
//! Lambda's `aws:sqs` records, the view of a record that filters match against, and the
//! `batchItemFailures` of a partial batch response.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// An SQS message as the function receives it in `Records` (Lambda's `aws:sqs` record).
#[allow(clippy::too_many_arguments)]
pub fn sqs_record(
    message_id: &str,
    receipt_handle: &str,
    body: &str,
    attributes: &BTreeMap<String, String>,
    message_attributes: &BTreeMap<String, crate::sqs::AttributeValue>,
    md5_of_body: &str,
    md5_of_message_attributes: Option<&str>,
    queue_arn: &str,
    region: &str,
) -> Value {
    let lowered: Map<String, Value> = message_attributes
        .iter()
        .map(|(k, a)| {
            let mut m = json!({
                "dataType": a.data_type,
                "stringListValues": [],
                "binaryListValues": [],
            });
            if let Some(s) = &a.string_value {
                m["stringValue"] = json!(s);
            }
            if let Some(b) = &a.binary_value {
                use base64::Engine;
                m["binaryValue"] = json!(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (k.clone(), m)
        })
        .collect();
    let mut record = json!({
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": attributes,
        "messageAttributes": lowered,
        "md5OfBody": md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = md5_of_message_attributes {
        record["md5OfMessageAttributes"] = json!(md5);
    }
    record
}

/// What a filter sees of an SQS record: the record, with its body parsed when it is JSON
/// (a pattern on `body` fields matches nothing otherwise), as Lambda filters.
pub fn filterable(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(body) = record["body"].as_str()
        && let Ok(parsed) = serde_json::from_str::<Value>(body)
        && parsed.is_object()
    {
        r["body"] = parsed;
    }
    r
}

/// The messages a function's answer reports failed (`batchItemFailures`), or `None` when
/// the answer counts as the whole batch failing (invalid, or naming an unknown message).
pub fn batch_item_failures(answer: &[u8], ids: &[&str]) -> Option<Vec<String>> {
    let text = String::from_utf8_lossy(answer);
    if text.trim().is_empty() || text.trim() == "null" {
        return Some(Vec::new());
    }
    let v: Value = serde_json::from_str(&text).ok()?;
    let failures = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return v.is_object().then(Vec::new),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    failures
        .iter()
        .map(|item| {
            let id = item.get("itemIdentifier")?.as_str()?;
            (!id.is_empty() && ids.contains(&id)).then(|| id.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "arn:aws:sqs:us-east-1:000000000000:jobs";

    #[test]
    fn batch_item_failures_follow_lambdas_rules() {
        let ids = ["a", "b"];
        assert_eq!(batch_item_failures(b"", &ids), Some(vec![]));
        assert_eq!(batch_item_failures(b"null", &ids), Some(vec![]));
        assert_eq!(batch_item_failures(b"{}", &ids), Some(vec![]));
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": []}"#, &ids),
            Some(vec![])
        );
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#, &ids),
            Some(vec!["b".to_string()])
        );
        for whole in [
            &br#"{"batchItemFailures": [{"itemIdentifier": "z"}]}"#[..],
            br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            br#"{"batchItemFailures": [{"id": "a"}]}"#,
            br#"{"batchItemFailures": "a"}"#,
            b"not json",
        ] {
            assert_eq!(batch_item_failures(whole, &ids), None);
        }
    }

    #[test]
    fn records_are_lambdas_sqs_records() {
        let attrs = BTreeMap::from([("ApproximateReceiveCount".to_string(), "1".to_string())]);
        let mattrs = BTreeMap::from([(
            "n".to_string(),
            crate::sqs::AttributeValue {
                data_type: "Number".into(),
                string_value: Some("1".into()),
                binary_value: None,
            },
        )]);
        let r = sqs_record(
            "id",
            "rh",
            "{\"a\": 1}",
            &attrs,
            &mattrs,
            "md5",
            Some("m2"),
            Q,
            "us-east-1",
        );
        assert_eq!(r["eventSourceARN"], Q);
        assert_eq!(r["messageAttributes"]["n"]["stringValue"], "1");
        assert_eq!(r["messageAttributes"]["n"]["dataType"], "Number");
        assert_eq!(filterable(&r)["body"]["a"], 1);
        assert_eq!(r["body"], "{\"a\": 1}");
    }
}
