//! SQS (awsJson1.0: `POST /` with `X-Amz-Target: AmazonSQS.<Operation>`, as current SDKs
//! send it). Queue URLs are `http://<the Host the client used>/<account>/<queue>`; a request
//! names its queue by such a URL (its last segment). Errors are `{"__type", "message"}` with
//! the legacy code in `x-amzn-query-error`, as SQS answers, so that code written against the
//! query protocol's codes (`AWS.SimpleQueueService.NonExistentQueue`) keeps working.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_model::sqs::{AttributeValue, SqsError, check_batch_ids};
use lamina_platform::Platform;
use lamina_platform::sqs::{MessageOut, ReceiveInput, SendInput, SendOutput};

pub(crate) mod query;

pub use query::serve_query;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The `X-Amz-Target` prefix of SQS's operations.
pub(crate) const TARGET_PREFIX: &str = "AmazonSQS.";

/// Largest request body: a batch of ten 256 KB messages is refused by SQS's own limit
/// first; this bounds what is read at all.
const BODY_MAX_BYTES: usize = 4 << 20;

struct Wire(SqsError);

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "__type": format!("com.amazonaws.sqs#{}", e.error_type()),
            "message": e.to_string(),
        });
        let mut resp = json_response(status, body);
        let fault = if e.sender_fault() {
            "Sender"
        } else {
            "Receiver"
        };
        if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", e.query_code())) {
            resp.headers_mut().insert("x-amzn-query-error", v);
        }
        resp
    }
}

impl From<SqsError> for Wire {
    fn from(e: SqsError) -> Wire {
        Wire(e)
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    resp
}

fn missing(member: &str) -> Wire {
    Wire(SqsError::MissingParameter(format!(
        "The request must contain the parameter {member}."
    )))
}

/// The queue a URL names (its last path segment).
pub(crate) fn queue_of(url: &str) -> Result<String, SqsError> {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if name.is_empty() || !path.contains('/') {
        return Err(SqsError::QueueDoesNotExist(
            "The specified queue does not exist.".into(),
        ));
    }
    Ok(name.to_string())
}

/// The URL of `queue` for a client that reached the server as `host`.
pub(crate) fn url_of(host: &str, account: &str, queue: &str) -> String {
    format!("http://{host}/{account}/{queue}")
}

/// The members every operation may carry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Members {
    queue_url: Option<String>,
    queue_name: Option<String>,
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    attributes: Option<BTreeMap<String, String>>,
    attribute_names: Option<Vec<String>>,
    message_system_attribute_names: Option<Vec<String>>,
    message_attribute_names: Option<Vec<String>>,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
    receipt_handle: Option<String>,
    entries: Option<Vec<Value>>,
    #[serde(rename = "tags")]
    create_tags: Option<BTreeMap<String, String>>,
    tags: Option<BTreeMap<String, String>>,
    tag_keys: Option<Vec<String>>,
}

/// One message to send, as SendMessage and SendMessageBatch's entries carry it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMembers {
    id: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, AttributeValue>,
    #[serde(default)]
    message_system_attributes: BTreeMap<String, AttributeValue>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

impl SendMembers {
    fn input(self) -> SendInput {
        SendInput {
            body: self.message_body,
            delay_seconds: self.delay_seconds,
            attributes: self.message_attributes,
            system_attributes: self.message_system_attributes,
            group_id: self.message_group_id,
            dedup_id: self.message_deduplication_id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HandleMembers {
    id: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

fn invalid(why: impl Into<String>) -> Wire {
    Wire(SqsError::InvalidParameterValue(why.into()))
}

/// One SQS request (its `X-Amz-Target` starts with [`TARGET_PREFIX`]).
pub(super) async fn serve(p: Platform, headers: HeaderMap, body: Body) -> Response {
    match handle(&p, &headers, body).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

async fn handle(p: &Platform, headers: &HeaderMap, body: Body) -> Result<Value, Wire> {
    let (op, raw) = super::json_request(headers, body, TARGET_PREFIX, BODY_MAX_BYTES)
        .await
        .map_err(invalid)?;
    operation(p, &host_of(headers), &op, raw).await
}

/// The host a client reached the server as (its queue URLs point there).
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

/// One operation, its members as the JSON protocol names them; the answer likewise.
async fn operation(p: &Platform, host: &str, op: &str, raw: Value) -> Result<Value, Wire> {
    let m: Members = serde_json::from_value(raw.clone())
        .map_err(|e| invalid(format!("The request is not valid: {e}")))?;
    let account = p.identity().account.clone();
    let url = |name: &str| url_of(host, &account, name);
    let sqs = p.sqs();
    let queue = || -> Result<String, Wire> {
        let url = m.queue_url.as_deref().ok_or_else(|| missing("QueueUrl"))?;
        Ok(queue_of(url)?)
    };
    Ok(match op {
        "CreateQueue" => {
            let name = m
                .queue_name
                .as_deref()
                .ok_or_else(|| missing("QueueName"))?;
            let made = sqs
                .create_queue(
                    name,
                    &m.attributes.clone().unwrap_or_default(),
                    m.create_tags.clone().unwrap_or_default(),
                )
                .await?;
            json!({"QueueUrl": url(&made)})
        }
        "GetQueueUrl" => {
            let name = m
                .queue_name
                .as_deref()
                .ok_or_else(|| missing("QueueName"))?;
            sqs.queue(name).await?;
            json!({"QueueUrl": url(name)})
        }
        "ListQueues" => {
            let (names, next) = sqs
                .list_queues(
                    m.queue_name_prefix.as_deref(),
                    m.max_results,
                    m.next_token.as_deref(),
                )
                .await?;
            let mut v = json!({});
            if !names.is_empty() {
                v["QueueUrls"] = json!(names.iter().map(|n| url(n)).collect::<Vec<_>>());
            }
            if let Some(next) = next {
                v["NextToken"] = json!(next);
            }
            v
        }
        "GetQueueAttributes" => {
            let names = m.attribute_names.clone().unwrap_or_default();
            let attributes = sqs.get_queue_attributes(&queue()?, &names).await?;
            if attributes.is_empty() {
                json!({})
            } else {
                json!({"Attributes": attributes})
            }
        }
        "SetQueueAttributes" => {
            let attributes = m.attributes.clone().ok_or_else(|| missing("Attributes"))?;
            sqs.set_queue_attributes(&queue()?, &attributes).await?;
            json!({})
        }
        "DeleteQueue" => {
            sqs.delete_queue(&queue()?).await?;
            json!({})
        }
        "PurgeQueue" => {
            sqs.purge_queue(&queue()?).await?;
            json!({})
        }
        "SendMessage" => {
            let send: SendMembers = serde_json::from_value(raw)
                .map_err(|e| invalid(format!("The request is not valid: {e}")))?;
            let out = sqs.send_message(&queue()?, send.input()).await?;
            sent_json(&out, None)
        }
        "SendMessageBatch" => send_batch(p, &queue()?, m.entries.unwrap_or_default()).await?,
        "ReceiveMessage" => {
            let mut names = m.attribute_names.clone().unwrap_or_default();
            names.extend(m.message_system_attribute_names.clone().unwrap_or_default());
            let got = sqs
                .receive_message(
                    &queue()?,
                    ReceiveInput {
                        max: m.max_number_of_messages,
                        visibility_timeout: m.visibility_timeout,
                        wait_seconds: m.wait_time_seconds,
                        attribute_names: names,
                        message_attribute_names: m
                            .message_attribute_names
                            .clone()
                            .unwrap_or_default(),
                    },
                )
                .await?;
            if got.is_empty() {
                json!({})
            } else {
                json!({"Messages": got.iter().map(message_json).collect::<Vec<_>>()})
            }
        }
        "DeleteMessage" => {
            let handle = m
                .receipt_handle
                .clone()
                .ok_or_else(|| missing("ReceiptHandle"))?;
            first(sqs.delete_message_batch(&queue()?, vec![handle]).await?)?;
            json!({})
        }
        "ChangeMessageVisibility" => {
            let handle = m
                .receipt_handle
                .clone()
                .ok_or_else(|| missing("ReceiptHandle"))?;
            let seconds = m
                .visibility_timeout
                .ok_or_else(|| missing("VisibilityTimeout"))?;
            first(
                sqs.change_message_visibility_batch(&queue()?, vec![(handle, seconds)])
                    .await?,
            )?;
            json!({})
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            handle_batch(p, &queue()?, op, m.entries.unwrap_or_default()).await?
        }
        "ListQueueTags" => {
            let tags = sqs.list_queue_tags(&queue()?).await?;
            if tags.is_empty() {
                json!({})
            } else {
                json!({"Tags": tags})
            }
        }
        "TagQueue" => {
            let tags = m.tags.clone().ok_or_else(|| missing("Tags"))?;
            sqs.retag_queue(&queue()?, tags, &[]).await?;
            json!({})
        }
        "UntagQueue" => {
            let keys = m.tag_keys.clone().ok_or_else(|| missing("TagKeys"))?;
            sqs.retag_queue(&queue()?, BTreeMap::new(), &keys).await?;
            json!({})
        }
        "ListDeadLetterSourceQueues" => {
            let names = sqs.list_dead_letter_source_queues(&queue()?).await?;
            json!({"queueUrls": names.iter().map(|n| url(n)).collect::<Vec<_>>()})
        }
        other => {
            return Err(Wire(SqsError::UnsupportedOperation(format!(
                "{other} is not supported by this server's SQS"
            ))));
        }
    })
}

fn first(results: Vec<Result<(), SqsError>>) -> Result<(), Wire> {
    results.into_iter().next().unwrap_or(Ok(())).map_err(Wire)
}

fn sent_json(out: &SendOutput, id: Option<&str>) -> Value {
    let mut v = json!({"MessageId": out.message_id, "MD5OfMessageBody": out.md5_of_body});
    if let Some(id) = id {
        v["Id"] = json!(id);
    }
    for (k, value) in [
        ("MD5OfMessageAttributes", &out.md5_of_attributes),
        (
            "MD5OfMessageSystemAttributes",
            &out.md5_of_system_attributes,
        ),
        ("SequenceNumber", &out.sequence_number),
    ] {
        if let Some(value) = value {
            v[k] = json!(value);
        }
    }
    v
}

fn failed_json(id: &str, e: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": e.sender_fault(), "Code": e.error_type(), "Message": e.to_string()})
}

fn message_json(m: &MessageOut) -> Value {
    let mut v = Map::new();
    v.insert("MessageId".into(), json!(m.message_id));
    v.insert("ReceiptHandle".into(), json!(m.receipt_handle));
    v.insert("MD5OfBody".into(), json!(m.md5_of_body));
    v.insert("Body".into(), json!(m.body));
    if !m.attributes.is_empty() {
        v.insert("Attributes".into(), json!(m.attributes));
    }
    if let Some(md5) = &m.md5_of_message_attributes {
        v.insert("MD5OfMessageAttributes".into(), json!(md5));
        v.insert("MessageAttributes".into(), json!(m.message_attributes));
    }
    Value::Object(v)
}

async fn send_batch(p: &Platform, queue: &str, entries: Vec<Value>) -> Result<Value, Wire> {
    let entries: Vec<SendMembers> = entries
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("An entry is not valid: {e}")))?;
    check_batch_ids(entries.iter().map(|e| e.id.as_deref().unwrap_or_default()))?;
    let total: usize = entries
        .iter()
        .map(|e| e.message_body.as_ref().map_or(0, String::len))
        .sum();
    if total > 262_144 {
        return Err(Wire(SqsError::BatchRequestTooLong(format!(
            "Batch requests cannot be longer than 262144 bytes. You have sent {total} bytes."
        ))));
    }
    let ids: Vec<String> = entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    let results = p
        .sqs()
        .send_message_batch(queue, entries.into_iter().map(SendMembers::input).collect())
        .await?;
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for (id, r) in ids.iter().zip(results) {
        match r {
            Ok(out) => ok.push(sent_json(&out, Some(id))),
            Err(e) => failed.push(failed_json(id, &e)),
        }
    }
    Ok(json!({"Successful": ok, "Failed": failed}))
}

async fn handle_batch(
    p: &Platform,
    queue: &str,
    op: &str,
    entries: Vec<Value>,
) -> Result<Value, Wire> {
    let entries: Vec<HandleMembers> = entries
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("An entry is not valid: {e}")))?;
    check_batch_ids(entries.iter().map(|e| e.id.as_deref().unwrap_or_default()))?;
    let ids: Vec<String> = entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    let results = if op == "DeleteMessageBatch" {
        let handles = entries
            .into_iter()
            .map(|e| e.receipt_handle.unwrap_or_default())
            .collect();
        p.sqs().delete_message_batch(queue, handles).await?
    } else {
        let changes = entries
            .into_iter()
            .map(|e| {
                (
                    e.receipt_handle.unwrap_or_default(),
                    e.visibility_timeout.unwrap_or(-1),
                )
            })
            .collect();
        p.sqs()
            .change_message_visibility_batch(queue, changes)
            .await?
    };
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for (id, r) in ids.iter().zip(results) {
        match r {
            Ok(()) => ok.push(json!({"Id": id})),
            Err(e) => failed.push(failed_json(id, &e)),
        }
    }
    Ok(json!({"Successful": ok, "Failed": failed}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_their_queue() {
        assert_eq!(
            queue_of("http://localhost:9000/000000000000/orders").unwrap(),
            "orders"
        );
        assert_eq!(
            queue_of("https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo").unwrap(),
            "jobs.fifo"
        );
        assert_eq!(queue_of("/000000000000/q/").unwrap(), "q");
        assert!(queue_of("orders").is_err());
        assert_eq!(
            url_of("127.0.0.1:9000", "000000000000", "q"),
            "http://127.0.0.1:9000/000000000000/q"
        );
    }
}
