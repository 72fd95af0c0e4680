//! Buckets of other S3-compatible stores: those whose notifications reach Lamina through its
//! webhook (MinIO, Ceph RGW, …), and those of the store this node's S3 service proxies to
//! (`--s3-endpoint`), whose writes it sees itself. Each such bucket has a notification configuration of S3's
//! shape kept by Lamina (documents of kind `s3-external`, so one for a whole cluster),
//! checked as PutBucketNotificationConfiguration checks one; the store is pointed at the
//! webhook with the server's token, and each record it sends is made S3's and delivered
//! to the rules it matches, durably, before the webhook answers.

use lamina_model::s3::external::normalize;
use lamina_model::s3::{Delivery, NotificationConfig, ObjectEvent, event_record};
use sha2::Digest;

use super::outbox::{Outcome, deliver};
use super::{BucketError, Requester, S3};

/// The kind of the documents that hold external buckets' configurations.
const KIND: &str = "s3-external";

fn internal(e: impl std::fmt::Display) -> BucketError {
    BucketError::Objects(lamina_objects::ObjectError::Storage(e.to_string()))
}

impl S3<'_> {
    /// Sets (or, with no rules, removes) the notification configuration of an external
    /// store's bucket.
    pub async fn put_external(
        &self,
        bucket: &str,
        mut config: NotificationConfig,
        who: &Requester,
    ) -> Result<(), BucketError> {
        if !lamina_objects::valid_bucket_name(bucket) {
            return Err(BucketError::Objects(
                lamina_objects::ObjectError::InvalidBucketName,
            ));
        }
        config
            .check(lamina_model::new_id)
            .map_err(BucketError::InvalidArgument)?;
        // The store sends its own test events, if any: none is made here.
        self.check_destinations(&config, false, bucket, who).await?;
        let docs = self.p.inner.documents.as_ref();
        if config.rules.is_empty() {
            docs.delete(KIND, bucket).await.map_err(internal)?;
        } else {
            docs.put(KIND, bucket, &config.to_json())
                .await
                .map_err(internal)?;
        }
        Ok(())
    }

    /// The external buckets with their configurations, by name.
    pub async fn externals(&self) -> Result<Vec<(String, NotificationConfig)>, BucketError> {
        let docs = self
            .p
            .inner
            .documents
            .list(KIND, "")
            .await
            .map_err(internal)?;
        Ok(docs
            .into_iter()
            .map(|(bucket, doc)| (bucket, NotificationConfig::from_json(Some(&doc))))
            .collect())
    }

    /// One external bucket's configuration (empty if it has none).
    pub async fn external(&self, bucket: &str) -> Result<NotificationConfig, BucketError> {
        let doc = self
            .p
            .inner
            .documents
            .get(KIND, bucket)
            .await
            .map_err(internal)?;
        Ok(NotificationConfig::from_json(doc.as_deref()))
    }

    /// The webhook: a store's notification `body`, sent with `token`. Each record is made
    /// S3's and handed to the queues of the rules it matches; the count of deliveries is
    /// answered once all are durable.
    pub async fn receive(&self, token: Option<&str>, body: &[u8]) -> Result<usize, BucketError> {
        let Some(expected) = self.p.inner.s3_webhook_token.as_deref() else {
            return Err(BucketError::Forbidden(
                "The S3 notification webhook is off: start the server with --s3-webhook-token"
                    .into(),
            ));
        };
        // Digests compared, so the time taken says nothing of how much of the token matched.
        let digest = |t: &str| sha2::Sha256::digest(t.as_bytes());
        let matches = token.is_some_and(|t| digest(t) == digest(expected));
        if !matches {
            return Err(BucketError::Forbidden(
                "The webhook token is missing or wrong".into(),
            ));
        }
        let body: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            BucketError::InvalidArgument(format!("The body is not a JSON document: {e}"))
        })?;
        let region = self.p.identity().region.clone();
        let received = normalize(&body, &region).map_err(BucketError::InvalidArgument)?;
        let mut delivered = 0;
        for r in received {
            delivered += self
                .route(&r.bucket, &r.key, &r.event_name, &r.record)
                .await?;
        }
        Ok(delivered)
    }

    /// A write to a bucket of the store this node proxies to: its event delivered, durably,
    /// to the rules Lamina keeps for that bucket.
    pub async fn notify_proxied(&self, event: &ObjectEvent<'_>) -> Result<usize, BucketError> {
        let record = event_record(event, "");
        self.route(event.bucket, event.key, event.event_name, &record)
            .await
    }

    /// Delivers `record` (an event on `bucket`/`key`) to each rule of the bucket's
    /// configuration that matches it: how many were queued.
    async fn route(
        &self,
        bucket: &str,
        key: &str,
        event_name: &str,
        record: &serde_json::Value,
    ) -> Result<usize, BucketError> {
        let config = self.external(bucket).await?;
        let mut delivered = 0;
        for rule in config.matching(event_name, key) {
            let mut record = record.clone();
            record["s3"]["configurationId"] = rule.id.clone().into();
            let delivery = Delivery {
                to: rule.destination.clone(),
                body: serde_json::json!({ "Records": [record] }).to_string(),
            };
            match deliver(self.p, &delivery.to_json()).await {
                Outcome::Queued => delivered += 1,
                Outcome::Dropped => {}
                Outcome::Later => {
                    return Err(BucketError::Unavailable(
                        "A destination cannot take the notification now; send it again".into(),
                    ));
                }
            }
        }
        Ok(delivered)
    }
}
