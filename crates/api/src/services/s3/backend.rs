//! The S3 operations Lamina answers, on the `objects` store: buckets (Create, Head, List,
//! Delete, GetBucketLocation, the notification configuration), objects (Put, Get with a
//! range and conditions, Head, Copy, Delete, DeleteObjects, ListObjectsV2) and multipart
//! uploads (`multipart.rs`). The others are `s3s`'s NotImplemented. Each write tells its
//! bucket's notification rules through `platform.s3().tell`.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use lamina_objects::{ListRequest, NewObject, ObjectError, ObjectMeta, Objects};
use lamina_platform::Platform;
use lamina_platform::s3::BucketError;
use s3s::dto::{self, ETag, StreamingBlob, Timestamp};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::checksum;
use super::notify::{self, requester};

/// S3 over the store.
pub(super) struct Backend {
    pub(super) platform: Platform,
    pub(super) objects: Objects,
    region: String,
}

impl Backend {
    pub(super) fn new(platform: Platform, objects: Objects) -> Backend {
        let region = platform.identity().region.clone();
        Backend {
            platform,
            objects,
            region,
        }
    }
}

/// A request's body as the store reads it (none is empty).
pub(super) fn body_of(
    body: Option<StreamingBlob>,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    body.map(|b| b.map_err(|e| std::io::Error::other(e.to_string())).boxed())
        .unwrap_or_else(|| futures_util::stream::empty::<Result<Bytes, _>>().boxed())
}

/// S3's error for the platform's.
pub(super) fn bucket_wire(e: BucketError) -> S3Error {
    match e {
        BucketError::Objects(e) => wire(e),
        BucketError::InvalidArgument(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
        BucketError::NotServed => s3_error!(NotImplemented, "This server serves no object storage"),
        BucketError::Forbidden(m) => S3Error::with_message(S3ErrorCode::AccessDenied, m),
        BucketError::Unavailable(m) => S3Error::with_message(S3ErrorCode::ServiceUnavailable, m),
    }
}

/// S3's error for a store's.
pub(super) fn wire(e: ObjectError) -> S3Error {
    if let ObjectError::Io(io) = &e
        && let Some(mismatch) = checksum::mismatch_of(io)
    {
        return mismatch;
    }
    let code = match &e {
        ObjectError::NoSuchBucket => S3ErrorCode::NoSuchBucket,
        ObjectError::NoSuchKey => S3ErrorCode::NoSuchKey,
        ObjectError::BucketAlreadyOwnedByYou => S3ErrorCode::BucketAlreadyOwnedByYou,
        ObjectError::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
        ObjectError::InvalidBucketName => S3ErrorCode::InvalidBucketName,
        ObjectError::NoSuchUpload => S3ErrorCode::NoSuchUpload,
        ObjectError::InvalidPart => S3ErrorCode::InvalidPart,
        ObjectError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        ObjectError::EntityTooSmall => S3ErrorCode::EntityTooSmall,
        ObjectError::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        ObjectError::Io(_) | ObjectError::Storage(_) => {
            tracing::error!(error = %e, "object storage failed");
            S3ErrorCode::InternalError
        }
    };
    S3Error::with_message(code, e.to_string())
}

pub(super) fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

fn etag(m: &ObjectMeta) -> ETag {
    etag_of(&m.etag)
}

/// A stored (quoted) ETag on the wire.
pub(super) fn etag_of(quoted: &str) -> ETag {
    ETag::Strong(quoted.trim_matches('"').to_string())
}

/// The preconditions of a read (GetObject, HeadObject).
struct Conditions<'a> {
    if_match: Option<&'a dto::ETagCondition>,
    if_none_match: Option<&'a dto::ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

impl<'a> From<&'a dto::HeadObjectInput> for Conditions<'a> {
    fn from(i: &'a dto::HeadObjectInput) -> Self {
        Conditions {
            if_match: i.if_match.as_ref(),
            if_none_match: i.if_none_match.as_ref(),
            if_modified_since: i.if_modified_since.as_ref(),
            if_unmodified_since: i.if_unmodified_since.as_ref(),
        }
    }
}

impl<'a> From<&'a dto::GetObjectInput> for Conditions<'a> {
    fn from(i: &'a dto::GetObjectInput) -> Self {
        Conditions {
            if_match: i.if_match.as_ref(),
            if_none_match: i.if_none_match.as_ref(),
            if_modified_since: i.if_modified_since.as_ref(),
            if_unmodified_since: i.if_unmodified_since.as_ref(),
        }
    }
}

impl Conditions<'_> {
    /// Checks them on `m`, in HTTP's order: If-Match, else If-Unmodified-Since, fails with
    /// 412; then If-None-Match, else If-Modified-Since, answers 304. Times compare in whole
    /// seconds, as HTTP dates carry them.
    fn check(&self, m: &ObjectMeta) -> S3Result<()> {
        let ours = m.etag.trim_matches('"');
        let matches =
            |c: &dto::ETagCondition| c.is_any() || c.as_etag().is_some_and(|e| e.value() == ours);
        let modified_s = m.last_modified_ms.div_euclid(1000);
        let seconds = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
        let failed = match self.if_match {
            Some(c) => !matches(c),
            None => self
                .if_unmodified_since
                .is_some_and(|t| modified_s > seconds(t)),
        };
        if failed {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        let unchanged = match self.if_none_match {
            Some(c) => matches(c),
            None => self
                .if_modified_since
                .is_some_and(|t| modified_s <= seconds(t)),
        };
        if unchanged {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
        Ok(())
    }
}

/// What HeadObject says of an object (and GetObject with its bytes).
fn described(m: &ObjectMeta) -> dto::HeadObjectOutput {
    dto::HeadObjectOutput {
        content_length: Some(m.size as i64),
        content_type: m.content_type.clone(),
        e_tag: Some(etag(m)),
        last_modified: Some(timestamp(m.last_modified_ms)),
        metadata: Some(m.metadata.clone().into_iter().collect()),
        accept_ranges: Some("bytes".into()),
        ..Default::default()
    }
}

pub(super) fn owner() -> dto::Owner {
    dto::Owner {
        display_name: Some("lamina".into()),
        id: Some("lamina".into()),
    }
}

/// A continuation token: the key (or common prefix) a page ended at, in hex, so that any
/// key survives the trip through XML and a query string.
fn token_of(after: &str) -> String {
    after.bytes().map(|b| format!("{b:02x}")).collect()
}

fn after_of(token: &str) -> S3Result<String> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

impl Backend {
    /// An object a read may go on with: there, and its preconditions holding.
    async fn readable(
        &self,
        bucket: &str,
        key: &str,
        conditions: Conditions<'_>,
    ) -> S3Result<ObjectMeta> {
        let m = self.objects.head(bucket, key).await.map_err(wire)?;
        conditions.check(&m)?;
        Ok(m)
    }
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn list_buckets(
        &self,
        _req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let buckets = self.objects.buckets().await.map_err(wire)?;
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| dto::Bucket {
                        name: Some(b.name),
                        creation_date: Some(timestamp(b.created_ms)),
                        bucket_region: Some(self.region.clone()),
                    })
                    .collect(),
            ),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let b = self
            .objects
            .create_bucket(&req.input.bucket)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::CreateBucketOutput {
            location: Some(format!("/{}", b.name)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        self.objects.bucket(&req.input.bucket).await.map_err(wire)?;
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        self.objects.bucket(&req.input.bucket).await.map_err(wire)?;
        // us-east-1 is answered as an empty constraint, as S3 does.
        let constraint = (self.region != "us-east-1")
            .then(|| dto::BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(dto::GetBucketLocationOutput {
            location_constraint: constraint,
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::DeleteBucketOutput {}))
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let who = requester(&req);
        let expected = checksum::expected_of!(req);
        let input = req.input;
        let (body, computed) = checksum::verified(body_of(input.body), expected);
        let new = NewObject {
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
        };
        let tell = self.platform.s3().tell("s3:ObjectCreated:Put", who);
        let m = self
            .objects
            .put(&input.bucket, &input.key, body, new, tell)
            .await
            .map_err(wire)?;
        let mut out = dto::PutObjectOutput {
            e_tag: Some(etag(&m)),
            size: Some(m.size as i64),
            ..Default::default()
        };
        checksum::answer_sums!(out, checksum::taken(&computed));
        Ok(S3Response::new(out))
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let input = req.input;
        let m = self
            .readable(&input.bucket, &input.key, (&input).into())
            .await?;
        Ok(S3Response::new(described(&m)))
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let input = req.input;
        let m = self
            .readable(&input.bucket, &input.key, (&input).into())
            .await?;
        // Opened now: a later write replaces the blob, but this reader keeps its bytes.
        let mut file = tokio::fs::File::open(self.objects.path_of(&m))
            .await
            .map_err(|e| wire(ObjectError::Io(e)))?;
        let (range, content_range) = match &input.range {
            Some(r) => {
                let span = r.check(m.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let header = format!("bytes {}-{}/{}", span.start, span.end - 1, m.size);
                (span, Some(header))
            }
            None => (0..m.size, None),
        };
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| wire(ObjectError::Io(e)))?;
        let length = range.end - range.start;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), 64 * 1024);
        let h = described(&m);
        Ok(S3Response::new(dto::GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(length as i64),
            content_range,
            content_type: h.content_type,
            e_tag: h.e_tag,
            last_modified: h.last_modified,
            metadata: h.metadata,
            accept_ranges: h.accept_ranges,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let tell = self
            .platform
            .s3()
            .tell("s3:ObjectRemoved:Delete", requester(&req));
        self.objects
            .delete(&req.input.bucket, &req.input.key, tell)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::DeleteObjectOutput::default()))
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let who = requester(&req);
        let input = req.input;
        let dto::CopySource::Bucket { bucket, key, .. } = &input.copy_source else {
            return Err(s3_error!(
                NotImplemented,
                "Copying from an access point is not supported"
            ));
        };
        let source = self.objects.head(bucket, key).await.map_err(wire)?;
        let file = tokio::fs::File::open(self.objects.path_of(&source))
            .await
            .map_err(|e| wire(ObjectError::Io(e)))?;
        // COPY (the default) keeps the source's type and metadata; REPLACE takes the request's.
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == dto::MetadataDirective::REPLACE);
        let new = if replace {
            NewObject {
                content_type: input.content_type,
                metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            }
        } else {
            NewObject {
                content_type: source.content_type.clone(),
                metadata: source.metadata.clone(),
            }
        };
        let body = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        let tell = self.platform.s3().tell("s3:ObjectCreated:Copy", who);
        let m = self
            .objects
            .put(&input.bucket, &input.key, body, new, tell)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::CopyObjectOutput {
            copy_object_result: Some(dto::CopyObjectResult {
                e_tag: Some(etag(&m)),
                last_modified: Some(timestamp(m.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let who = requester(&req);
        let input = req.input;
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for o in input.delete.objects {
            let tell = self
                .platform
                .s3()
                .tell("s3:ObjectRemoved:Delete", who.clone());
            match self.objects.delete(&input.bucket, &o.key, tell).await {
                Ok(_) if quiet => {}
                Ok(_) => deleted.push(dto::DeletedObject {
                    key: Some(o.key),
                    ..Default::default()
                }),
                Err(e) => {
                    let e = wire(e);
                    errors.push(dto::Error {
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_string),
                        key: Some(o.key),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(S3Response::new(dto::DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let input = req.input;
        let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = match &input.continuation_token {
            Some(t) => Some(after_of(t)?),
            None => input.start_after.clone(),
        };
        let page = self
            .objects
            .list(
                &input.bucket,
                ListRequest {
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                    after,
                    max,
                },
            )
            .await
            .map_err(wire)?;
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.next_after.is_some()),
            next_continuation_token: page.next_after.as_deref().map(token_of),
            contents: Some(
                page.objects
                    .iter()
                    .map(|m| dto::Object {
                        key: Some(m.key.clone()),
                        size: Some(m.size as i64),
                        e_tag: Some(etag(m)),
                        last_modified: Some(timestamp(m.last_modified_ms)),
                        storage_class: Some(dto::ObjectStorageClass::from_static(
                            dto::ObjectStorageClass::STANDARD,
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| dto::CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<dto::PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutBucketNotificationConfigurationOutput>> {
        let who = requester(&req);
        let input = req.input;
        let config = notify::requested(input.notification_configuration)?;
        self.platform
            .s3()
            .put_notification(
                &input.bucket,
                config,
                input.skip_destination_validation.unwrap_or(false),
                &who,
            )
            .await
            .map_err(bucket_wire)?;
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
            .notification(&req.input.bucket)
            .await
            .map_err(bucket_wire)?;
        Ok(S3Response::new(notify::output_of(&config)))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        self.create_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        self.put_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        self.complete_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        self.abort_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        self.parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        self.uploads(req).await
    }
}
