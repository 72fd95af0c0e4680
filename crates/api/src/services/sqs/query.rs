//! SQS's query protocol, which SDKs released before SQS moved to JSON still speak
//! (`Action=SendMessage&QueueUrl=...` as a form or a query string, to `/` or to the queue's
//! URL; answers and errors in XML). Requests are read into the JSON protocol's members, run
//! through the same operations, and the JSON answers written back as the query protocol's
//! XML, so both protocols always agree.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lamina_model::sqs::SqsError;
use lamina_platform::Platform;
use serde_json::{Map, Value, json};

use super::{Wire, host_of, operation};
use crate::services::query_xml::{escape, xml_response};

const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Whether a request without `X-Amz-Target` is an SQS query-protocol request: it names an
/// `Action` SQS has.
pub(crate) fn is_query(params: &[(String, String)]) -> bool {
    params
        .iter()
        .any(|(k, v)| k == "Action" && ACTIONS.contains(&v.as_str()))
}

const ACTIONS: &[&str] = &[
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "DeleteQueue",
    "PurgeQueue",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "ListQueueTags",
    "TagQueue",
    "UntagQueue",
    "ListDeadLetterSourceQueues",
];

/// One query-protocol request: `params` from the form or the query string, `path` the
/// request's path (a queue URL's, or `/`).
pub async fn serve_query(
    p: Platform,
    headers: HeaderMap,
    path: &str,
    params: Vec<(String, String)>,
) -> Response {
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut raw = members(&params);
    if raw.get("QueueUrl").is_none() && path.trim_matches('/').contains('/') {
        raw.insert(
            "QueueUrl".into(),
            Value::String(format!("http://{}{path}", host_of(&headers))),
        );
    }
    match operation(&p, &host_of(&headers), &action, Value::Object(raw)).await {
        Ok(answer) => xml_response(StatusCode::OK, answer_xml(&action, &answer)),
        Err(Wire(e)) => error_xml(&e),
    }
}

fn error_xml(e: &SqsError) -> Response {
    let body = format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
        if e.sender_fault() {
            "Sender"
        } else {
            "Receiver"
        },
        e.query_code(),
        escape(&e.to_string()),
        lamina_model::new_id()
    );
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, body)
}

/// The members of a request, from its flattened parameters (`Attribute.1.Name`, ...).
fn members(params: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in params {
        if key == "Action" || key == "Version" {
            continue;
        }
        set_path(&mut out, key, value);
    }
    normalize(&mut out);
    out
}

/// Puts `value` at the dotted `key` (`Entry.2.MessageAttribute.1.Value.StringValue`), as
/// objects keyed by the segments; numbered lists are made lists by `normalize`.
fn set_path(out: &mut Map<String, Value>, key: &str, value: &str) {
    let mut parts = key.split('.').peekable();
    let mut node = out;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_string(), Value::String(value.to_string()));
            return;
        }
        let next = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(map) = next else { return };
        node = map;
    }
}

/// Maps the query protocol's flattened shapes onto the JSON protocol's members.
fn normalize(m: &mut Map<String, Value>) {
    let numbered = |v: &Value| -> Vec<Value> {
        let mut items: Vec<(u32, Value)> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.clone())))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    };
    let pairs = |v: &Value, key: &str, value: &str| -> Map<String, Value> {
        numbered(v)
            .into_iter()
            .filter_map(|item| {
                Some((
                    item.get(key)?.as_str()?.to_string(),
                    item.get(value)?.clone(),
                ))
            })
            .collect()
    };
    let attributes = |v: &Value| -> Value {
        Value::Object(
            pairs(v, "Name", "Value")
                .into_iter()
                .map(|(k, v)| (k, typed_attribute(v)))
                .collect(),
        )
    };
    let renames: &[(&str, &str)] = &[
        ("AttributeName", "AttributeNames"),
        ("MessageAttributeName", "MessageAttributeNames"),
        ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
        ("TagKey", "TagKeys"),
    ];
    for (from, to) in renames {
        if let Some(v) = m.remove(*from) {
            m.insert(to.to_string(), Value::Array(numbered(&v)));
        }
    }
    if let Some(v) = m.remove("Attribute") {
        m.insert(
            "Attributes".into(),
            Value::Object(pairs(&v, "Name", "Value")),
        );
    }
    if let Some(v) = m.remove("Tag") {
        let tags = Value::Object(pairs(&v, "Key", "Value"));
        m.insert("tags".into(), tags.clone());
        m.insert("Tags".into(), tags);
    }
    if let Some(v) = m.remove("MessageAttribute") {
        m.insert("MessageAttributes".into(), attributes(&v));
    }
    if let Some(v) = m.remove("MessageSystemAttribute") {
        m.insert("MessageSystemAttributes".into(), attributes(&v));
    }
    for entry in [
        "SendMessageBatchRequestEntry",
        "DeleteMessageBatchRequestEntry",
        "ChangeMessageVisibilityBatchRequestEntry",
    ] {
        if let Some(v) = m.remove(entry) {
            let entries = numbered(&v)
                .into_iter()
                .map(|mut e| {
                    if let Value::Object(map) = &mut e {
                        normalize(map);
                    }
                    e
                })
                .collect();
            m.insert("Entries".into(), Value::Array(entries));
        }
    }
    for number in [
        "DelaySeconds",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "WaitTimeSeconds",
        "MaxResults",
    ] {
        if let Some(n) = m
            .get(number)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok())
        {
            m.insert(number.into(), json!(n));
        }
    }
}

/// A message attribute's value as the JSON protocol carries it.
fn typed_attribute(v: Value) -> Value {
    let mut out = Map::new();
    for k in ["DataType", "StringValue", "BinaryValue"] {
        if let Some(s) = v.get(k) {
            out.insert(k.into(), s.clone());
        }
    }
    Value::Object(out)
}

/// The query protocol's XML of an operation's JSON answer.
fn answer_xml(action: &str, answer: &Value) -> String {
    let mut result = String::new();
    if let Value::Object(map) = answer {
        for (k, v) in map {
            result.push_str(&member_xml(action, k, v));
        }
    }
    format!(
        "<?xml version=\"1.0\"?><{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        lamina_model::new_id()
    )
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

fn member_xml(action: &str, key: &str, v: &Value) -> String {
    let each = |tag: &str, items: &Value, f: &dyn Fn(&Value) -> String| -> String {
        items
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| format!("<{tag}>{}</{tag}>", f(item)))
            .collect()
    };
    let object = |item: &Value| -> String {
        item.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| member_xml(action, k, v))
            .collect()
    };
    match key {
        "QueueUrls" | "queueUrls" => each("QueueUrl", v, &scalar),
        "Messages" => each("Message", v, &object),
        "Successful" => each(&format!("{action}ResultEntry"), v, &object),
        "Failed" => each("BatchResultErrorEntry", v, &object),
        "Attributes" | "Tags" => {
            let (tag, name, value) = if key == "Tags" {
                ("Tag", "Key", "Value")
            } else {
                ("Attribute", "Name", "Value")
            };
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, val)| {
                    format!(
                        "<{tag}><{name}>{}</{name}><{value}>{}</{value}></{tag}>",
                        escape(k),
                        scalar(val)
                    )
                })
                .collect()
        }
        "MessageAttributes" => v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, val)| {
                format!(
                    "<MessageAttribute><Name>{}</Name><Value>{}</Value></MessageAttribute>",
                    escape(k),
                    object(val)
                )
            })
            .collect(),
        _ => format!("<{key}>{}</{key}>", scalar(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flattened_members_become_the_json_protocols() {
        let m = members(&params(&[
            ("Action", "SendMessageBatch"),
            ("QueueUrl", "http://h/0/q"),
            ("SendMessageBatchRequestEntry.2.Id", "b"),
            ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
            ("SendMessageBatchRequestEntry.1.Id", "a"),
            ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
            ("SendMessageBatchRequestEntry.1.DelaySeconds", "5"),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
                "n",
            ),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                "Number",
            ),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                "1",
            ),
        ]));
        assert_eq!(
            Value::Object(m),
            json!({"QueueUrl": "http://h/0/q", "Entries": [
                {"Id": "a", "MessageBody": "one", "DelaySeconds": 5,
                 "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
                {"Id": "b", "MessageBody": "two"}]})
        );
        let m = members(&params(&[
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "5"),
            ("AttributeName.1", "All"),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "a"),
        ]));
        assert_eq!(m["Attributes"], json!({"VisibilityTimeout": "5"}));
        assert_eq!(m["AttributeNames"], json!(["All"]));
        assert_eq!(m["tags"], json!({"team": "a"}));
    }

    #[test]
    fn answers_are_written_as_the_query_protocols_xml() {
        let xml = answer_xml(
            "ReceiveMessage",
            &json!({"Messages": [{"MessageId": "m", "Body": "a<b", "Attributes": {"SentTimestamp": "1"},
                                  "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}}]}),
        );
        assert!(xml.contains("<ReceiveMessageResult><Message>"));
        assert!(xml.contains("<MessageId>m</MessageId>"));
        assert!(xml.contains("<Body>a&lt;b</Body>"));
        assert!(xml.contains("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"));
        assert!(xml.contains("<MessageAttribute><Name>n</Name><Value><DataType>Number</DataType><StringValue>1</StringValue></Value></MessageAttribute>"));
        let batch = answer_xml(
            "SendMessageBatch",
            &json!({"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "Code": "X"}]}),
        );
        assert!(
            batch.contains("<SendMessageBatchResultEntry><Id>a</Id></SendMessageBatchResultEntry>")
        );
        assert!(
            batch.contains(
                "<BatchResultErrorEntry><Code>X</Code><Id>b</Id></BatchResultErrorEntry>"
            )
        );
    }
}
