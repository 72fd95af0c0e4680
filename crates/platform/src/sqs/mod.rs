//! SQS: queues (the view `platform.sqs()`, methods named after the API's operations), kept
//! as documents (`sqs-queue` by name) and cached; their messages in the `MessageStore`
//! (`messages`: send, receive with long polling, delete, visibility). The API edge turns
//! queue URLs into names and back.
//!
//! In cluster mode the queues and their messages are in the database, so any node serves
//! any queue; a long poll on one node sees another node's sends within its 100 ms polls.

mod messages;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use lamina_model::sqs::SqsError;
use lamina_model::sqs::queue::{COMPUTED, QueueRecord, apply_attributes, check_name};
use lamina_queue::sqs::MessageStore;
use tokio::sync::Notify;

pub use messages::{MessageOut, ReceiveInput, SendInput, SendOutput};

use crate::Platform;

pub(crate) const QUEUE: &str = "sqs-queue";

/// SQS's state in the platform: the message store, the queues read so far, and what wakes
/// long polls.
#[derive(Debug)]
pub(crate) struct SqsState {
    pub(crate) store: Arc<dyn MessageStore>,
    /// Other endpoints whose queues mappings may consume.
    pub(crate) endpoints: Vec<crate::mappings::SqsEndpoint>,
    queues: Mutex<HashMap<String, Arc<QueueRecord>>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

impl SqsState {
    pub(crate) fn new(
        store: Arc<dyn MessageStore>,
        endpoints: Vec<crate::mappings::SqsEndpoint>,
    ) -> SqsState {
        SqsState {
            store,
            endpoints,
            queues: Mutex::default(),
            waiters: Mutex::default(),
        }
    }

    /// Queues changed (here or on another node): read them again.
    pub(crate) fn changed(&self) {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn waiter(&self, queue: &str) -> Arc<Notify> {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(queue.to_string())
            .or_default()
            .clone()
    }
}

/// SQS queues and messages. A view of the platform: `platform.sqs()`.
#[derive(Debug, Clone, Copy)]
pub struct Sqs<'a> {
    pub(crate) p: &'a Platform,
}

fn internal(e: impl std::fmt::Display) -> SqsError {
    SqsError::Internal(e.to_string())
}

fn now_s() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn no_queue() -> SqsError {
    SqsError::QueueDoesNotExist("The specified queue does not exist.".into())
}

impl Sqs<'_> {
    fn state(&self) -> &SqsState {
        &self.p.inner.sqs
    }

    fn store(&self) -> Result<&Arc<dyn MessageStore>, SqsError> {
        Ok(&self.state().store)
    }

    fn docs(&self) -> &dyn lamina_store::Documents {
        self.p.inner.documents.as_ref()
    }

    /// A queue's ARN.
    pub fn arn(&self, name: &str) -> String {
        let id = self.p.identity();
        format!("arn:aws:sqs:{}:{}:{name}", id.region, id.account)
    }

    /// The queue named `name`.
    pub async fn queue(&self, name: &str) -> Result<Arc<QueueRecord>, SqsError> {
        self.store()?;
        if let Some(q) = self
            .state()
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(q.clone());
        }
        let doc = self
            .docs()
            .get(QUEUE, name)
            .await
            .map_err(internal)?
            .ok_or_else(no_queue)?;
        let record: Arc<QueueRecord> = Arc::new(serde_json::from_str(&doc).map_err(internal)?);
        self.state()
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), record.clone());
        Ok(record)
    }

    async fn save(&self, record: &QueueRecord) -> Result<(), SqsError> {
        let doc = serde_json::to_string(record).map_err(internal)?;
        self.docs()
            .put(QUEUE, &record.name, &doc)
            .await
            .map_err(internal)?;
        self.state().changed();
        Ok(())
    }

    /// CreateQueue: the queue's name. Creating a queue that exists with the same attributes
    /// succeeds; with others it is refused, as in SQS.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        self.store()?;
        check_name(name)?;
        let wanted = apply_attributes(name, None, attributes)?;
        self.check_redrive(name, attributes).await?;
        match self.queue(name).await {
            Ok(existing) => {
                return match wanted
                    .iter()
                    .find(|(k, v)| existing.attributes.get(*k) != Some(v))
                {
                    None => Ok(name.to_string()),
                    Some((k, _)) => Err(SqsError::QueueNameExists(format!(
                        "A queue already exists with the same name and a different value for attribute {k}"
                    ))),
                };
            }
            Err(SqsError::QueueDoesNotExist(_)) => {}
            Err(e) => return Err(e),
        }
        let now = now_s();
        let record = QueueRecord {
            name: name.to_string(),
            arn: self.arn(name),
            created: now,
            modified: now,
            attributes: wanted,
            tags,
        };
        let doc = serde_json::to_string(&record).map_err(internal)?;
        // Two creates racing: the second finds the first's and compares, as above.
        if !self
            .docs()
            .insert(QUEUE, name, &doc)
            .await
            .map_err(internal)?
        {
            self.state().changed();
            return Box::pin(self.create_queue(name, attributes, record.tags)).await;
        }
        self.state().changed();
        Ok(name.to_string())
    }

    /// A redrive policy's dead-letter queue must exist, and be of the same kind.
    async fn check_redrive(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        let Some(policy) = attributes.get("RedrivePolicy").filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let (arn, _) = lamina_model::sqs::queue::redrive_of(policy)?;
        let dlq = arn.rsplit(':').next().unwrap_or_default();
        let refuse = |why: &str| {
            SqsError::InvalidParameterValue(format!(
                "Value {policy} for parameter RedrivePolicy is invalid. Reason: {why}"
            ))
        };
        if arn != self.arn(dlq) {
            return Err(refuse("Dead letter target does not exist."));
        }
        match self.queue(dlq).await {
            Ok(q) if q.fifo() != name.ends_with(".fifo") => Err(refuse(
                "Dead-letter queue of a FIFO queue must be a FIFO queue, and of a standard queue a standard queue.",
            )),
            Ok(_) => Ok(()),
            Err(SqsError::QueueDoesNotExist(_)) => {
                Err(refuse("Dead letter target does not exist."))
            }
            Err(e) => Err(e),
        }
    }

    /// ListQueues: names with `prefix`, a page at a time.
    pub async fn list_queues(
        &self,
        prefix: Option<&str>,
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        self.store()?;
        let max = match max {
            None => 1000,
            Some(m) if (1..=1000).contains(&m) => m as usize,
            Some(_) => {
                return Err(SqsError::InvalidParameterValue(
                    "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
                        .into(),
                ));
            }
        };
        let names = self
            .docs()
            .list(QUEUE, prefix.unwrap_or(""))
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(k, _)| (k.clone(), k))
            .collect();
        Ok(crate::paging::after(names, max, token))
    }

    /// GetQueueAttributes: the named attributes (`All` for every one).
    pub async fn get_queue_attributes(
        &self,
        name: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let q = self.queue(name).await?;
        let all = names.iter().any(|n| n == "All");
        for n in names {
            if n != "All" && !COMPUTED.contains(&n.as_str()) && !q.attributes.contains_key(n) {
                let known = [
                    "Policy",
                    "RedrivePolicy",
                    "RedriveAllowPolicy",
                    "KmsMasterKeyId",
                    "KmsDataKeyReusePeriodSeconds",
                    "FifoQueue",
                    "ContentBasedDeduplication",
                    "DeduplicationScope",
                    "FifoThroughputLimit",
                ];
                if !known.contains(&n.as_str()) {
                    return Err(SqsError::InvalidAttributeName(format!(
                        "Unknown Attribute {n}."
                    )));
                }
            }
        }
        let counts = self.store()?.counts(name).await.map_err(internal)?;
        let mut out = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            if all || names.iter().any(|n| n == k) {
                out.insert(k.to_string(), v);
            }
        };
        for (k, v) in &q.attributes {
            put(k, v.clone());
        }
        put("QueueArn", q.arn.clone());
        put("ApproximateNumberOfMessages", counts.visible.to_string());
        put(
            "ApproximateNumberOfMessagesNotVisible",
            counts.in_flight.to_string(),
        );
        put(
            "ApproximateNumberOfMessagesDelayed",
            counts.delayed.to_string(),
        );
        put("CreatedTimestamp", q.created.to_string());
        put("LastModifiedTimestamp", q.modified.to_string());
        Ok(out)
    }

    /// SetQueueAttributes.
    pub async fn set_queue_attributes(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        let q = self.queue(name).await?;
        let mut record = (*q).clone();
        record.attributes = apply_attributes(name, Some(&q.attributes), attributes)?;
        self.check_redrive(name, attributes).await?;
        record.modified = now_s();
        self.save(&record).await
    }

    /// DeleteQueue: the queue and its messages.
    pub async fn delete_queue(&self, name: &str) -> Result<(), SqsError> {
        self.queue(name).await?;
        self.store()?.purge(name).await.map_err(internal)?;
        self.docs().delete(QUEUE, name).await.map_err(internal)?;
        self.state().changed();
        Ok(())
    }

    /// PurgeQueue.
    pub async fn purge_queue(&self, name: &str) -> Result<(), SqsError> {
        self.queue(name).await?;
        self.store()?.purge(name).await.map_err(internal)?;
        Ok(())
    }

    /// ListQueueTags.
    pub async fn list_queue_tags(&self, name: &str) -> Result<BTreeMap<String, String>, SqsError> {
        Ok(self.queue(name).await?.tags.clone())
    }

    /// TagQueue and UntagQueue.
    pub async fn retag_queue(
        &self,
        name: &str,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), SqsError> {
        let mut record = (*self.queue(name).await?).clone();
        record.tags.retain(|k, _| !remove.contains(k));
        record.tags.extend(add);
        if record.tags.len() > 50 {
            return Err(SqsError::InvalidParameterValue(
                "Too many tags: a queue has at most 50.".into(),
            ));
        }
        self.save(&record).await
    }

    /// Every queue with its messages by state (`lamina queues`).
    pub async fn status(&self) -> Result<Vec<lamina_model::status::QueueLine>, SqsError> {
        let store = &self.state().store;
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        let mut out = Vec::new();
        for (name, doc) in self.docs().list(QUEUE, "").await.map_err(internal)? {
            let q: QueueRecord = serde_json::from_str(&doc).map_err(internal)?;
            let c = store.counts(&name).await.map_err(internal)?;
            out.push(lamina_model::status::QueueLine {
                fifo: q.fifo(),
                visible: c.visible,
                in_flight: c.in_flight,
                delayed: c.delayed,
                oldest_age_s: c.oldest_sent_ms.map(|t| now_ms.saturating_sub(t) / 1000),
                dead_letter_queue: q
                    .redrive()
                    .map(|(arn, _)| arn.rsplit(':').next().unwrap_or_default().to_string()),
                name,
            });
        }
        Ok(out)
    }

    /// ListDeadLetterSourceQueues: the queues whose redrive policy names this one.
    pub async fn list_dead_letter_source_queues(
        &self,
        name: &str,
    ) -> Result<Vec<String>, SqsError> {
        let arn = self.queue(name).await?.arn.clone();
        let mut out = Vec::new();
        for (key, doc) in self.docs().list(QUEUE, "").await.map_err(internal)? {
            let q: QueueRecord = serde_json::from_str(&doc).map_err(internal)?;
            if q.redrive().is_some_and(|(dlq, _)| dlq == arn) {
                out.push(key);
            }
        }
        Ok(out)
    }
}
