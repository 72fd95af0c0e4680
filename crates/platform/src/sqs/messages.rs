//! SQS's messages: sends (checked as SQS checks them: size, characters, attributes, delays,
//! FIFO groups and deduplication), receives with long polling (woken by sends, polling
//! for delayed messages), deletes and visibility changes by receipt handle, one at a time
//! or in batches of ten.

use std::collections::BTreeMap;
use std::time::Duration;

use lamina_model::sqs::digest::{attributes_md5, body_md5};
use lamina_model::sqs::{AttributeValue, SqsError, body_allowed, check_attributes};
use lamina_queue::sqs::{HandleError, Outgoing, ReceiveRequest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Sqs, internal};

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendInput {
    pub body: Option<String>,
    pub delay_seconds: Option<i64>,
    pub attributes: BTreeMap<String, AttributeValue>,
    /// `AWSTraceHeader`, the only system attribute SQS takes.
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// What a send gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutput {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    /// FIFO queues' sequence number.
    pub sequence_number: Option<String>,
}

/// What a receive asks for.
#[derive(Debug, Clone, Default)]
pub struct ReceiveInput {
    pub max: Option<i64>,
    pub visibility_timeout: Option<i64>,
    pub wait_seconds: Option<i64>,
    /// System attributes wanted (`All`, or names).
    pub attribute_names: Vec<String>,
    /// Message attributes wanted (`All`, `.*`, names, `prefix.*`).
    pub message_attribute_names: Vec<String>,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOut {
    pub message_id: String,
    pub receipt_handle: String,
    pub md5_of_body: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub md5_of_message_attributes: Option<String>,
    pub message_attributes: BTreeMap<String, AttributeValue>,
}

/// What is stored with a message besides its body.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    m: BTreeMap<String, AttributeValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
}

/// Most messages in flight in one queue (SQS's quota).
const IN_FLIGHT_MAX: u64 = 120_000;

/// FIFO deduplication lasts five minutes.
const DEDUP_MS: u64 = 5 * 60 * 1000;

fn invalid(why: impl Into<String>) -> SqsError {
    SqsError::InvalidParameterValue(why.into())
}

fn handle_error(handle: &str, e: HandleError) -> SqsError {
    match e {
        HandleError::Invalid => SqsError::ReceiptHandleIsInvalid(format!(
            "The input receipt handle \"{handle}\" is not a valid receipt handle."
        )),
        HandleError::NotInFlight => SqsError::MessageNotInflight(
            "Message does not exist or is not available for visibility timeout change.".into(),
        ),
    }
}

impl Sqs<'_> {
    /// Checks a message for `queue` and makes what the store keeps, with what the sender
    /// gets back (its sequence number once stored).
    fn outgoing(
        &self,
        q: &lamina_model::sqs::queue::QueueRecord,
        m: SendInput,
    ) -> Result<(Outgoing, SendOutput), SqsError> {
        let body = m.body.filter(|b| !b.is_empty()).ok_or_else(|| {
            SqsError::MissingParameter("The request must contain the parameter MessageBody.".into())
        })?;
        if !body_allowed(&body) {
            return Err(SqsError::InvalidMessageContents(
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
                    .into(),
            ));
        }
        check_attributes(&m.attributes)?;
        let size = body.len()
            + m.attributes
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + v.data_type.len()
                        + v.string_value.as_ref().map_or(0, String::len)
                        + v.binary_value.as_ref().map_or(0, Vec::len)
                })
                .sum::<usize>();
        if size as u64 > q.max_size() {
            return Err(invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
                q.max_size()
            )));
        }
        let delay = match m.delay_seconds {
            None => q.delay_s(),
            Some(_) if q.fifo() => {
                return Err(invalid(
                    "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                ));
            }
            Some(d) if (0..=900).contains(&d) => d as u64,
            Some(d) => {
                return Err(invalid(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900."
                )));
            }
        };
        let (group_id, dedup_id) = if q.fifo() {
            let group = m.group_id.ok_or_else(|| {
                SqsError::MissingParameter(
                    "The request must contain the parameter MessageGroupId.".into(),
                )
            })?;
            let dedup = match m.dedup_id {
                Some(d) => d,
                None if q.content_based_dedup() => Sha256::digest(body.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                None => {
                    return Err(invalid(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
            };
            (Some(group), Some(dedup))
        } else {
            (None, None)
        };
        let trace = m
            .system_attributes
            .get("AWSTraceHeader")
            .and_then(|v| v.string_value.clone());
        let output = SendOutput {
            message_id: lamina_model::new_id(),
            md5_of_body: body_md5(&body),
            md5_of_attributes: attributes_md5(&m.attributes),
            md5_of_system_attributes: attributes_md5(&m.system_attributes),
            sequence_number: None,
        };
        let stored = Stored {
            m: m.attributes,
            t: trace,
        };
        Ok((
            Outgoing {
                queue: q.name.clone(),
                id: output.message_id.clone(),
                body,
                attributes: serde_json::to_string(&stored).map_err(internal)?,
                group_id,
                dedup_id,
                delay_ms: delay * 1000,
            },
            output,
        ))
    }

    /// SendMessage.
    pub async fn send_message(&self, queue: &str, m: SendInput) -> Result<SendOutput, SqsError> {
        let mut out = self.send_message_batch(queue, vec![m]).await?;
        out.pop()
            .unwrap_or_else(|| Err(SqsError::Internal("no answer for the message".into())))
    }

    /// SendMessageBatch (and SendMessage): each message's outcome, in order.
    pub async fn send_message_batch(
        &self,
        queue: &str,
        batch: Vec<SendInput>,
    ) -> Result<Vec<Result<SendOutput, SqsError>>, SqsError> {
        let q = self.queue(queue).await?;
        let mut results: Vec<Result<SendOutput, SqsError>> = Vec::with_capacity(batch.len());
        let mut outgoing = Vec::new();
        for m in batch {
            match self.outgoing(&q, m) {
                Ok((o, out)) => {
                    outgoing.push(o);
                    results.push(Ok(out));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let sent = self
            .store()?
            .send(outgoing, DEDUP_MS)
            .await
            .map_err(internal)?;
        let mut sent = sent.into_iter();
        for r in results.iter_mut().flatten() {
            if let Some(s) = sent.next() {
                r.message_id = s.id;
                if q.fifo() {
                    r.sequence_number = Some(format!("{:020}", s.seq));
                }
            }
        }
        self.state().waiter(queue).notify_waiters();
        Ok(results)
    }

    /// ReceiveMessage, waiting up to WaitTimeSeconds (or the queue's
    /// ReceiveMessageWaitTimeSeconds) for a message.
    pub async fn receive_message(
        &self,
        queue: &str,
        input: ReceiveInput,
    ) -> Result<Vec<MessageOut>, SqsError> {
        let q = self.queue(queue).await?;
        let max = match input.max {
            None => 1,
            Some(n) if (1..=10).contains(&n) => n as usize,
            Some(n) => {
                return Err(invalid(format!(
                    "Value {n} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
                )));
            }
        };
        let visibility = match input.visibility_timeout {
            None => q.visibility_timeout_s(),
            Some(v) if (0..=43_200).contains(&v) => v as u64,
            Some(v) => {
                return Err(invalid(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
                )));
            }
        };
        let wait = match input.wait_seconds {
            None => q.wait_s(),
            Some(w) if (0..=20).contains(&w) => w as u64,
            Some(w) => {
                return Err(invalid(format!(
                    "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
                )));
            }
        };
        let redrive = q.redrive().map(|(arn, count)| {
            let dlq = arn.rsplit(':').next().unwrap_or_default().to_string();
            (count, dlq)
        });
        let request = ReceiveRequest {
            queue: queue.to_string(),
            max,
            visibility_ms: visibility * 1000,
            fifo: q.fifo(),
            retention_ms: q.retention_s() * 1000,
            redrive,
            max_in_flight: IN_FLIGHT_MAX,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let waiter = self.state().waiter(queue);
        loop {
            let woken = waiter.notified();
            let got = match self.store()?.receive(request.clone()).await {
                Ok(got) => got,
                Err(lamina_queue::QueueError::InFlightLimit(n)) => {
                    return Err(SqsError::OverLimit(format!(
                        "Too many messages in flight ({n}): the queue's limit of {IN_FLIGHT_MAX} in-flight messages was reached."
                    )));
                }
                Err(e) => return Err(internal(e)),
            };
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got.into_iter().map(|m| self.out(m, &input)).collect());
            }
            // Woken by a send; else polled, for delays and visibility timeouts that end.
            let poll = tokio::time::Instant::now() + Duration::from_millis(100);
            let _ = tokio::time::timeout_at(poll.min(deadline), woken).await;
        }
    }

    /// A received message as the caller asked for it.
    fn out(&self, m: lamina_queue::sqs::Received, input: &ReceiveInput) -> MessageOut {
        let stored: Stored = serde_json::from_str(&m.attributes).unwrap_or_default();
        let wants = |name: &str| {
            input
                .attribute_names
                .iter()
                .any(|n| n == "All" || n == name)
        };
        let mut attributes = BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v
                && wants(k)
            {
                attributes.insert(k.to_string(), v);
            }
        };
        put("SenderId", Some(self.p.identity().account.clone()));
        put("SentTimestamp", Some(m.sent_ms.to_string()));
        put("ApproximateReceiveCount", Some(m.receive_count.to_string()));
        put(
            "ApproximateFirstReceiveTimestamp",
            Some(m.first_receive_ms.to_string()),
        );
        put("MessageGroupId", m.group_id.clone());
        put("MessageDeduplicationId", m.dedup_id.clone());
        if m.group_id.is_some() {
            put("SequenceNumber", Some(format!("{:020}", m.seq)));
        }
        put("AWSTraceHeader", stored.t.clone());
        let message_attributes: BTreeMap<String, AttributeValue> = stored
            .m
            .into_iter()
            .filter(|(k, _)| {
                input.message_attribute_names.iter().any(|n| {
                    n == "All"
                        || n == ".*"
                        || n == k
                        || n.strip_suffix(".*").is_some_and(|p| k.starts_with(p))
                })
            })
            .collect();
        MessageOut {
            message_id: m.id,
            receipt_handle: m.receipt,
            md5_of_body: body_md5(&m.body),
            body: m.body,
            attributes,
            md5_of_message_attributes: attributes_md5(&message_attributes),
            message_attributes,
        }
    }

    /// DeleteMessageBatch (and DeleteMessage): each handle's outcome.
    pub async fn delete_message_batch(
        &self,
        queue: &str,
        handles: Vec<String>,
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        self.queue(queue).await?;
        let done = self
            .store()?
            .delete(queue, handles.clone())
            .await
            .map_err(internal)?;
        Ok(handles
            .iter()
            .zip(done)
            .map(|(h, r)| r.map_err(|e| handle_error(h, e)))
            .collect())
    }

    /// ChangeMessageVisibilityBatch (and ChangeMessageVisibility): each change's outcome.
    pub async fn change_message_visibility_batch(
        &self,
        queue: &str,
        changes: Vec<(String, i64)>,
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        self.queue(queue).await?;
        let mut results: Vec<Option<Result<(), SqsError>>> = Vec::new();
        let mut valid = Vec::new();
        for (handle, seconds) in &changes {
            if (0..=43_200).contains(seconds) {
                valid.push((handle.clone(), *seconds as u64 * 1000));
                results.push(None);
            } else {
                results.push(Some(Err(invalid(format!(
                    "Value {seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
                )))));
            }
        }
        let done = self
            .store()?
            .change_visibility(queue, valid.clone())
            .await
            .map_err(internal)?;
        let mut done = valid.iter().zip(done);
        let out = results
            .into_iter()
            .map(|r| match r {
                Some(r) => r,
                None => match done.next() {
                    Some(((h, _), r)) => r.map_err(|e| handle_error(h, e)),
                    None => Err(SqsError::Internal("no answer for the change".into())),
                },
            })
            .collect();
        // A message made visible at once may end a long poll.
        self.state().waiter(queue).notify_waiters();
        Ok(out)
    }
}
