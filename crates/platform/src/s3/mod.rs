//! S3's domain core (`platform.s3()`): the object store this node serves, buckets'
//! notification configurations (checked as S3 checks them, destinations included), what a
//! write tells its bucket's destinations, and the outbox task (`outbox.rs`) that hands each
//! notification to the asynchronous-invocation queue or to an SQS queue.
//!
//! The notifications of a write are recorded in the object store's outbox in the write's
//! own transaction, so a crash after a PUT's answer loses neither the object nor its events;
//! the outbox task forgets them only once they are durable in their destination's queue.

mod external;
mod outbox;

use lamina_model::s3::wire::{BucketLine, rule_lines};
use lamina_model::s3::{
    Delivery, Destination, NotificationConfig, ObjectEvent, event_record, test_event,
};
use lamina_objects::{ObjectError, Objects, Tell};

use crate::Platform;

pub(crate) use outbox::start;

/// What can go wrong, before it is S3's wire error.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The store's own (NoSuchBucket, …).
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// S3's `InvalidArgument`.
    #[error("{0}")]
    InvalidArgument(String),
    /// This node serves no object store (a cluster without one).
    #[error("this server does not serve object storage")]
    NotServed,
    /// A webhook call without the server's token (or to a server that has none).
    #[error("{0}")]
    Forbidden(String),
    /// A destination's queue cannot take a notification now; the sender should retry.
    #[error("{0}")]
    Unavailable(String),
}

/// The objects of another S3-compatible store, read for packages taken from its buckets
/// (the store this node's S3 service proxies to).
#[async_trait::async_trait]
pub trait RemoteObjects: Send + Sync + std::fmt::Debug {
    /// The object's bytes, or S3's error code and message.
    async fn read(&self, bucket: &str, key: &str, max: u64) -> Result<Vec<u8>, (String, String)>;
}

/// Who made a request, as an event record says.
#[derive(Debug, Clone)]
pub struct Requester {
    pub source_ip: String,
    /// The access key of its signature, or `anonymous`.
    pub principal: String,
    pub request_id: String,
}

/// S3: buckets' notifications and the store behind them.
#[derive(Debug, Clone, Copy)]
pub struct S3<'a> {
    pub(crate) p: &'a Platform,
}

impl<'a> S3<'a> {
    /// The object store this node serves, if any.
    pub fn store(&self) -> Option<&'a Objects> {
        self.p.inner.objects.as_ref()
    }

    /// The other store this node's S3 service proxies to, if any.
    pub fn remote(&self) -> Option<&'a dyn RemoteObjects> {
        self.p.inner.remote_objects.as_deref()
    }

    fn served(&self) -> Result<&'a Objects, BucketError> {
        self.store().ok_or(BucketError::NotServed)
    }

    /// PutBucketNotificationConfiguration: checks `config` as S3 does (each destination
    /// must exist, unless `skip_validation`: a function, version or alias of this server,
    /// or one of its standard SQS queues), stores it, and sends each queue it names an
    /// `s3:TestEvent`, in the same transaction.
    pub async fn put_notification(
        &self,
        bucket: &str,
        mut config: NotificationConfig,
        skip_validation: bool,
        who: &Requester,
    ) -> Result<(), BucketError> {
        let objects = self.served()?;
        objects.bucket(bucket).await?;
        config
            .check(|| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(lamina_model::new_id())
            })
            .map_err(BucketError::InvalidArgument)?;
        let tests = self
            .check_destinations(&config, skip_validation, bucket, who)
            .await?;
        let document = (!config.rules.is_empty()).then(|| config.to_json());
        objects.set_notification(bucket, document, tests).await?;
        Ok(())
    }

    /// Checks that each destination of `config` exists (unless `skip_validation`): a
    /// function, version or alias of this server, or one of its standard SQS queues. The
    /// `s3:TestEvent` each queue gets is returned, ready for the outbox.
    async fn check_destinations(
        &self,
        config: &NotificationConfig,
        skip_validation: bool,
        bucket: &str,
        who: &Requester,
    ) -> Result<Vec<String>, BucketError> {
        let mut tests = Vec::new();
        for rule in &config.rules {
            match &rule.destination {
                Destination::Function(arn) => {
                    let r = lamina_model::FunctionRef::parse(arn, self.p.identity())
                        .map_err(|_| unvalidated(arn))?;
                    let missing = !skip_validation && self.p.registry().resolve(&r).is_err();
                    if !arn.starts_with("arn:") || missing {
                        return Err(unvalidated(arn));
                    }
                }
                Destination::Queue(arn) => {
                    let name = queue_name(arn).ok_or_else(|| unvalidated(arn))?;
                    // S3 cannot notify FIFO queues.
                    if name.ends_with(".fifo") {
                        return Err(unvalidated(arn));
                    }
                    if !skip_validation && self.p.sqs().queue(name).await.is_err() {
                        return Err(unvalidated(arn));
                    }
                    let body = test_event(
                        bucket,
                        chrono::Utc::now().timestamp_millis(),
                        &who.request_id,
                    );
                    let delivery = Delivery {
                        to: rule.destination.clone(),
                        body: body.to_string(),
                    };
                    if !tests.contains(&delivery.to_json()) {
                        tests.push(delivery.to_json());
                    }
                }
            }
        }
        Ok(tests)
    }

    /// What `lamina buckets` shows: this node's buckets with their contents and rules, then
    /// the external stores' buckets with theirs.
    pub async fn buckets(&self) -> Result<Vec<BucketLine>, BucketError> {
        let mut lines = Vec::new();
        if let Some(objects) = self.store() {
            for u in objects.usage().await? {
                lines.push(BucketLine {
                    name: u.bucket.name,
                    kind: "local".into(),
                    objects: Some(u.objects),
                    bytes: Some(u.bytes),
                    rules: rule_lines(&NotificationConfig::from_json(u.notification.as_deref())),
                });
            }
        }
        for (name, config) in self.externals().await? {
            lines.push(BucketLine {
                name,
                kind: "external".into(),
                objects: None,
                bytes: None,
                rules: rule_lines(&config),
            });
        }
        Ok(lines)
    }

    /// GetBucketNotificationConfiguration.
    pub async fn notification(&self, bucket: &str) -> Result<NotificationConfig, BucketError> {
        let doc = self.served()?.notification(bucket).await?;
        Ok(NotificationConfig::from_json(doc.as_deref()))
    }

    /// What a write of `event_name` (`s3:ObjectCreated:Put`, …) tells: for each rule of the
    /// bucket's configuration that matches it, the record to deliver.
    pub fn tell(&self, event_name: &'static str, who: Requester) -> Tell {
        let region = self.p.identity().region.clone();
        Box::new(move |m, document| {
            let Some(document) = document else {
                return Vec::new();
            };
            let config = NotificationConfig::from_json(Some(document));
            let etag = m.etag.trim_matches('"');
            let created = event_name.starts_with("s3:ObjectCreated:");
            let event = ObjectEvent {
                region: &region,
                bucket: &m.bucket,
                key: &m.key,
                event_name,
                size: created.then_some(m.size),
                etag: created.then_some(etag),
                sequence: m.sequence,
                time_ms: chrono::Utc::now().timestamp_millis(),
                source_ip: &who.source_ip,
                principal: &who.principal,
                request_id: &who.request_id,
            };
            config
                .matching(event_name, &m.key)
                .map(|rule| {
                    let record = event_record(&event, &rule.id);
                    Delivery {
                        to: rule.destination.clone(),
                        body: serde_json::json!({ "Records": [record] }).to_string(),
                    }
                    .to_json()
                })
                .collect()
        })
    }
}

/// S3's refusal of a destination it cannot use.
fn unvalidated(arn: &str) -> BucketError {
    BucketError::InvalidArgument(format!(
        "Unable to validate the following destination configurations: {arn}"
    ))
}

/// The queue name of an SQS queue's ARN.
fn queue_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 6 && parts[..3] == ["arn", "aws", "sqs"]).then(|| parts[5])
}
