//! Where a mapping's messages come from: a queue of this server (its ARN has this server's
//! region and account), or a queue on another SQS-compatible endpoint (AWS's SQS, another
//! Lamina, any server speaking SQS's JSON protocol) that `serve --sqs-endpoint` names for
//! the ARN's prefix. Both are read through the same three calls, with SQS's semantics.

use std::collections::BTreeMap;

use lamina_model::sqs::AttributeValue;
use serde_json::{Value, json};

use crate::Platform;
use crate::sqs::{MessageOut, ReceiveInput};

/// An SQS-compatible endpoint the server may consume queues from.
#[derive(Debug, Clone)]
pub struct SqsEndpoint {
    /// The queue ARNs it serves: an ARN, or a prefix of one (`arn:aws:sqs:eu-west-1:123456789012`).
    pub arn_prefix: String,
    /// Its URL (`https://sqs.eu-west-1.amazonaws.com`, `http://10.0.0.5:9000`).
    pub url: String,
    /// The key requests are signed with, and the region they are signed for (unsigned
    /// when none).
    pub signing: Option<(lamina_sigv4::Credentials, String)>,
}

/// A mapping's source, resolved.
#[derive(Debug)]
pub(crate) enum Source {
    /// A queue of this server, by name.
    Local(String),
    /// A queue elsewhere: the client of its endpoint, and its URL there.
    Remote {
        client: lamina_client::Client,
        url: String,
    },
}

/// The endpoint configured for `arn`, the longest prefix first.
fn endpoint_for<'a>(p: &'a Platform, arn: &str) -> Option<&'a SqsEndpoint> {
    p.inner
        .sqs
        .endpoints
        .iter()
        .filter(|e| arn.starts_with(&e.arn_prefix))
        .max_by_key(|e| e.arn_prefix.len())
}

impl Source {
    /// Resolves `arn`: a queue of this server, or one of a configured endpoint (whose URL
    /// is asked with GetQueueUrl).
    pub(crate) async fn resolve(p: &Platform, arn: &str) -> Result<Source, String> {
        let name = arn.rsplit(':').next().unwrap_or_default().to_string();
        if arn == p.sqs().arn(&name) {
            p.sqs().queue(&name).await.map_err(|e| {
                format!("SQS Error Code: {}. SQS Error Message: {e}", e.error_type())
            })?;
            return Ok(Source::Local(name));
        }
        let Some(endpoint) = endpoint_for(p, arn) else {
            return Err(format!(
                "{arn} is not a queue of this server's region and account, and no --sqs-endpoint names it"
            ));
        };
        let mut client = lamina_client::Client::new(&endpoint.url);
        if let Some((creds, region)) = &endpoint.signing {
            client = client.signed(creds.clone(), region);
        }
        let account = arn.split(':').nth(4).unwrap_or_default();
        let got = client
            .sqs(
                "GetQueueUrl",
                &json!({"QueueName": name, "QueueOwnerAWSAccountId": account}),
            )
            .await
            .map_err(|e| format!("{} could not be reached: {e}", endpoint.url))?;
        let url = got["QueueUrl"]
            .as_str()
            .ok_or_else(|| format!("{} gave no URL for {name}", endpoint.url))?
            .to_string();
        Ok(Source::Remote { client, url })
    }

    /// Receives up to `max` messages (at most 10), waiting up to `wait` seconds.
    pub(crate) async fn receive(
        &self,
        p: &Platform,
        max: usize,
        wait: i64,
    ) -> Result<Vec<MessageOut>, String> {
        match self {
            Source::Local(queue) => p
                .sqs()
                .receive_message(
                    queue,
                    ReceiveInput {
                        max: Some(max as i64),
                        visibility_timeout: None,
                        wait_seconds: Some(wait),
                        attribute_names: vec!["All".into()],
                        message_attribute_names: vec!["All".into()],
                    },
                )
                .await
                .map_err(|e| format!("{}: {e}", e.error_type())),
            Source::Remote { client, url } => {
                let got = client
                    .sqs(
                        "ReceiveMessage",
                        &json!({"QueueUrl": url, "MaxNumberOfMessages": max, "WaitTimeSeconds": wait,
                                "AttributeNames": ["All"], "MessageSystemAttributeNames": ["All"],
                                "MessageAttributeNames": ["All"]}),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(got["Messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(remote_message)
                    .collect())
            }
        }
    }

    /// Deletes processed (or filtered-out) messages.
    pub(crate) async fn delete(&self, p: &Platform, handles: Vec<String>) {
        if handles.is_empty() {
            return;
        }
        let failed = match self {
            Source::Local(queue) => p
                .sqs()
                .delete_message_batch(queue, handles)
                .await
                .err()
                .map(|e| e.to_string()),
            Source::Remote { client, url } => {
                let mut failed = None;
                // DeleteMessageBatch takes ten entries at a time.
                for chunk in handles.chunks(10) {
                    let entries: Vec<Value> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, h)| json!({"Id": i.to_string(), "ReceiptHandle": h}))
                        .collect();
                    if let Err(e) = client
                        .sqs(
                            "DeleteMessageBatch",
                            &json!({"QueueUrl": url, "Entries": entries}),
                        )
                        .await
                    {
                        failed = Some(e.to_string());
                    }
                }
                failed
            }
        };
        if let Some(e) = failed {
            tracing::warn!(error = %e, "could not delete a mapping's processed messages");
        }
    }

    /// Makes messages visible again at once (taken by a runner that is stopping).
    pub(crate) async fn release(&self, p: &Platform, handles: Vec<String>) {
        match self {
            Source::Local(queue) => {
                let changes = handles.into_iter().map(|h| (h, 0)).collect();
                let _ = p
                    .sqs()
                    .change_message_visibility_batch(queue, changes)
                    .await;
            }
            Source::Remote { client, url } => {
                for chunk in handles.chunks(10) {
                    let entries: Vec<Value> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, h)| {
                            json!({"Id": i.to_string(), "ReceiptHandle": h, "VisibilityTimeout": 0})
                        })
                        .collect();
                    let _ = client
                        .sqs(
                            "ChangeMessageVisibilityBatch",
                            &json!({"QueueUrl": url, "Entries": entries}),
                        )
                        .await;
                }
            }
        }
    }
}

/// A message of another endpoint's ReceiveMessage answer.
fn remote_message(m: &Value) -> MessageOut {
    let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    let attributes: BTreeMap<String, String> =
        serde_json::from_value(m["Attributes"].clone()).unwrap_or_default();
    let message_attributes: BTreeMap<String, AttributeValue> =
        serde_json::from_value(m["MessageAttributes"].clone()).unwrap_or_default();
    MessageOut {
        message_id: text("MessageId"),
        receipt_handle: text("ReceiptHandle"),
        md5_of_body: text("MD5OfBody"),
        body: text("Body"),
        attributes,
        md5_of_message_attributes: m["MD5OfMessageAttributes"].as_str().map(str::to_string),
        message_attributes,
    }
}
