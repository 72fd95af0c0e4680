//! The S3 service when objects live in another S3-compatible store (`serve --s3-endpoint`,
//! what a cluster uses, since its database is no place for large objects): each operation
//! is proxied to the store by `s3s-aws` (the AWS SDK for Rust, signing with the server's own
//! key for the store), bodies streamed both ways. Lamina keeps what the store cannot know:
//! buckets' notification configurations (as documents, so every node of a cluster shares
//! them), and after each write the store acknowledged it queues the write's events durably
//! before answering the client. A crash between the store's acknowledgement and that
//! enqueue loses the event, which the embedded store's outbox prevents; a store that can
//! notify a webhook (MinIO, Ceph) closes that gap by notifying `/_lamina/s3-events` instead.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata;
use lamina_model::s3::ObjectEvent;
use lamina_platform::Platform;
use lamina_platform::s3::{RemoteObjects, Requester};
use s3s::dto;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::notify::{self, requester};

/// A client of the store at `endpoint` (path style), signing for `region` with the key
/// given.
pub fn client(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::Client {
    let credentials =
        aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "lamina");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(region.to_string()))
        .credentials_provider(credentials)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Reads packages from the store's buckets.
#[derive(Debug, Clone)]
pub struct StoreObjects(pub aws_sdk_s3::Client);

#[async_trait::async_trait]
impl RemoteObjects for StoreObjects {
    async fn read(&self, bucket: &str, key: &str, max: u64) -> Result<Vec<u8>, (String, String)> {
        let got = self
            .0
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or("InternalError").to_string();
                let message = e
                    .message()
                    .unwrap_or("the object could not be read")
                    .to_string();
                (code, message)
            })?;
        if got.content_length().is_some_and(|n| n as u64 > max) {
            return Err((
                "EntityTooLarge".into(),
                format!("Unzipped size must be smaller than {max} bytes"),
            ));
        }
        let bytes = got
            .body
            .collect()
            .await
            .map_err(|e| ("InternalError".to_string(), e.to_string()))?;
        Ok(bytes.into_bytes().to_vec())
    }
}

/// S3 proxied to the store.
pub(super) struct Proxied {
    proxy: s3s_aws::Proxy,
    client: aws_sdk_s3::Client,
    platform: Platform,
}

impl Proxied {
    pub(super) fn new(client: aws_sdk_s3::Client, platform: Platform) -> Proxied {
        Proxied {
            proxy: s3s_aws::Proxy::from(client.clone()),
            client,
            platform,
        }
    }

    /// Queues the events of a write the store acknowledged; a failure to queue is the
    /// client's 503 (the write stands; the client may repeat it).
    async fn tell(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        event_name: &str,
        size: Option<u64>,
        etag: Option<&str>,
    ) -> S3Result<()> {
        let sequence = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let region = self.platform.identity().region.clone();
        let event = ObjectEvent {
            region: &region,
            bucket,
            key,
            event_name,
            size,
            etag: etag.map(|e| e.trim_matches('"')),
            sequence,
            time_ms: chrono::Utc::now().timestamp_millis(),
            source_ip: &who.source_ip,
            principal: &who.principal,
            request_id: &who.request_id,
        };
        self.platform
            .s3()
            .notify_proxied(&event)
            .await
            .map(|_| ())
            .map_err(|e| S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string()))
    }

    /// The size an object has at the store now (for the events of a copy).
    async fn size_of(&self, bucket: &str, key: &str) -> Option<u64> {
        let head = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        head.content_length().map(|n| n as u64)
    }
}

fn etag_text(e: &Option<dto::ETag>) -> Option<String> {
    e.as_ref().map(|e| e.value().to_string())
}

#[async_trait::async_trait]
impl S3 for Proxied {
    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        self.proxy.list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        self.proxy.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        self.proxy.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        self.proxy.get_bucket_location(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        self.proxy.delete_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        self.proxy.head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        self.proxy.get_object(req).await
    }

    async fn list_objects_v2(
        &self,
        mut req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        // Keys are asked for as they are: stores differ in how they URL-encode them (one
        // writes `+` for both a space and a plus), and the answer is sent unencoded.
        req.input.encoding_type = None;
        let mut out = self.proxy.list_objects_v2(req).await?;
        out.output.encoding_type = None;
        Ok(out)
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let who = requester(&req);
        let (bucket, key, size) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.content_length,
        );
        let out = self.proxy.put_object(req).await?;
        let etag = etag_text(&out.output.e_tag);
        let size = out.output.size.or(size).map(|n| n as u64);
        self.tell(
            &who,
            &bucket,
            &key,
            "s3:ObjectCreated:Put",
            size,
            etag.as_deref(),
        )
        .await?;
        Ok(out)
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let who = requester(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.proxy.copy_object(req).await?;
        let etag = out
            .output
            .copy_object_result
            .as_ref()
            .and_then(|r| etag_text(&r.e_tag));
        let size = self.size_of(&bucket, &key).await;
        self.tell(
            &who,
            &bucket,
            &key,
            "s3:ObjectCreated:Copy",
            size,
            etag.as_deref(),
        )
        .await?;
        Ok(out)
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let who = requester(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.proxy.delete_object(req).await?;
        self.tell(&who, &bucket, &key, "s3:ObjectRemoved:Delete", None, None)
            .await?;
        Ok(out)
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let who = requester(&req);
        let bucket = req.input.bucket.clone();
        let asked: Vec<String> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| o.key.clone())
            .collect();
        let out = self.proxy.delete_objects(req).await?;
        // Quiet answers list only errors: what was asked and not refused was deleted.
        let refused: Vec<&str> = out
            .output
            .errors
            .iter()
            .flatten()
            .filter_map(|e| e.key.as_deref())
            .collect();
        for key in asked.iter().filter(|k| !refused.contains(&k.as_str())) {
            self.tell(&who, &bucket, key, "s3:ObjectRemoved:Delete", None, None)
                .await?;
        }
        Ok(out)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        self.proxy.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        self.proxy.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let who = requester(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.proxy.complete_multipart_upload(req).await?;
        let etag = etag_text(&out.output.e_tag);
        let size = self.size_of(&bucket, &key).await;
        self.tell(
            &who,
            &bucket,
            &key,
            "s3:ObjectCreated:CompleteMultipartUpload",
            size,
            etag.as_deref(),
        )
        .await?;
        Ok(out)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        self.proxy.abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        self.proxy.list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        mut req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        req.input.encoding_type = None;
        let mut out = self.proxy.list_multipart_uploads(req).await?;
        out.output.encoding_type = None;
        Ok(out)
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<dto::PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutBucketNotificationConfigurationOutput>> {
        let who = requester(&req);
        let input = req.input;
        self.client
            .head_bucket()
            .bucket(&input.bucket)
            .send()
            .await
            .map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::NoSuchBucket,
                    "The specified bucket does not exist",
                )
            })?;
        let config = notify::requested(input.notification_configuration)?;
        self.platform
            .s3()
            .put_external(&input.bucket, config, &who)
            .await
            .map_err(super::backend::bucket_wire)?;
        Ok(S3Response::new(
            dto::PutBucketNotificationConfigurationOutput {},
        ))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<dto::GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<dto::GetBucketNotificationConfigurationOutput>> {
        let config = self
            .platform
            .s3()
            .external(&req.input.bucket)
            .await
            .map_err(super::backend::bucket_wire)?;
        Ok(S3Response::new(notify::output_of(&config)))
    }
}
