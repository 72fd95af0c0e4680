//! Multipart uploads on the wire: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts and ListMultipartUploads, over `objects.uploads()`.

use s3s::dto;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::backend::{Backend, body_of, etag_of, owner, timestamp, wire};
use super::checksum;
use super::notify::requester;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n).map_err(|_| {
        s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        )
    })
}

impl Backend {
    pub(super) async fn create_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let input = req.input;
        let new = lamina_objects::NewObject {
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
        };
        let up = self
            .objects
            .uploads()
            .create(&input.bucket, &input.key, new)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::CreateMultipartUploadOutput {
            bucket: Some(up.bucket),
            key: Some(up.key),
            upload_id: Some(up.id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(super) async fn put_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let expected = checksum::expected_of!(req);
        let input = req.input;
        let (body, computed) = checksum::verified(body_of(input.body), expected);
        let part = self
            .objects
            .uploads()
            .put_part(
                &input.upload_id,
                &input.bucket,
                &input.key,
                part_number(input.part_number)?,
                body,
            )
            .await
            .map_err(wire)?;
        let mut out = dto::UploadPartOutput {
            e_tag: Some(etag_of(&part.etag)),
            ..Default::default()
        };
        checksum::answer_sums!(out, checksum::taken(&computed));
        Ok(S3Response::new(out))
    }

    pub(super) async fn complete_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let who = requester(&req);
        let input = req.input;
        let mut chosen = Vec::new();
        for p in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let number = p
                .part_number
                .ok_or_else(|| s3_error!(MalformedXML, "A part has no PartNumber"))?;
            let etag = p
                .e_tag
                .map(|e| e.value().to_string())
                .ok_or_else(|| s3_error!(MalformedXML, "A part has no ETag"))?;
            chosen.push((part_number(number)?, etag));
        }
        let tell = self
            .platform
            .s3()
            .tell("s3:ObjectCreated:CompleteMultipartUpload", who);
        let m = self
            .objects
            .uploads()
            .complete(&input.upload_id, &input.bucket, &input.key, chosen, tell)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::CompleteMultipartUploadOutput {
            bucket: Some(m.bucket.clone()),
            key: Some(m.key.clone()),
            e_tag: Some(etag_of(&m.etag)),
            location: Some(format!("/{}/{}", m.bucket, m.key)),
            ..Default::default()
        }))
    }

    pub(super) async fn abort_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let i = req.input;
        self.objects
            .uploads()
            .abort(&i.upload_id, &i.bucket, &i.key)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let i = req.input;
        let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = i.part_number_marker.unwrap_or(0).max(0) as u32;
        let (parts, more) = self
            .objects
            .uploads()
            .parts(&i.upload_id, &i.bucket, &i.key, after, max)
            .await
            .map_err(wire)?;
        Ok(S3Response::new(dto::ListPartsOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(i.upload_id),
            max_parts: Some(max as i32),
            part_number_marker: i.part_number_marker,
            is_truncated: Some(more),
            next_part_number_marker: parts.last().map(|p| p.number as i32),
            owner: Some(owner()),
            initiator: Some(dto::Initiator {
                display_name: Some("lamina".into()),
                id: Some("lamina".into()),
            }),
            storage_class: Some(dto::StorageClass::from_static(dto::StorageClass::STANDARD)),
            parts: Some(
                parts
                    .iter()
                    .map(|p| dto::Part {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        e_tag: Some(etag_of(&p.etag)),
                        last_modified: Some(timestamp(p.last_modified_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let i = req.input;
        let prefix = i.prefix.clone().unwrap_or_default();
        let uploads = self
            .objects
            .uploads()
            .list(&i.bucket, &prefix)
            .await
            .map_err(wire)?;
        let max = i.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let more = uploads.len() > max;
        Ok(S3Response::new(dto::ListMultipartUploadsOutput {
            bucket: Some(i.bucket),
            prefix: i.prefix,
            max_uploads: Some(max as i32),
            is_truncated: Some(more),
            uploads: Some(
                uploads
                    .into_iter()
                    .take(max)
                    .map(|u| dto::MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.id),
                        initiated: Some(timestamp(u.initiated_ms)),
                        owner: Some(owner()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}
