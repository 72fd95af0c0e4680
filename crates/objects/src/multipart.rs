//! Multipart uploads ([`Uploads`], `objects.uploads()`): an upload is a row naming its
//! bucket, key and metadata; each part is a blob written whole like an object's, with its
//! row. Completing concatenates the chosen parts into one new blob and, in one transaction,
//! makes it the object, forgets the upload and records the notifications; the parts' blobs
//! are removed after. The object's ETag is S3's: the MD5 of the parts' MD5s, then `-N`.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use rusqlite::{OptionalExtension, params};

use crate::store::{Tell, hex};
use crate::{NewObject, ObjectError, ObjectMeta, Objects, now_ms};

/// Parts other than the last must be at least this large (5 MiB), as in S3.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The largest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Milliseconds since the epoch.
    pub initiated_ms: i64,
}

/// A part of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub size: u64,
    /// Quoted hex MD5 of the part's bytes.
    pub etag: String,
    pub last_modified_ms: i64,
}

/// The multipart uploads of a store.
#[derive(Debug, Clone, Copy)]
pub struct Uploads<'a> {
    o: &'a Objects,
}

impl Objects {
    /// CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
    /// ListParts, ListMultipartUploads.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads { o: self }
    }
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    let metadata: String = r.get(4)?;
    Ok(Upload {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        content_type: r.get(3)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        initiated_ms: r.get(5)?,
    })
}

const UPLOAD_COLUMNS: &str = "id, bucket, key, content_type, metadata, initiated_ms";

/// The upload `id` of `bucket`/`key` (NoSuchUpload for any other).
fn upload_of(
    c: &rusqlite::Connection,
    id: &str,
    bucket: &str,
    key: &str,
) -> Result<Upload, ObjectError> {
    c.query_row(
        &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"),
        params![id],
        upload_row,
    )
    .optional()?
    .filter(|u| u.bucket == bucket && u.key == key)
    .ok_or(ObjectError::NoSuchUpload)
}

/// An upload's parts from `after` on, by number, with their blobs.
fn parts_of(
    c: &rusqlite::Connection,
    id: &str,
    after: u32,
) -> Result<Vec<(Part, String)>, ObjectError> {
    let mut q = c.prepare(
        "SELECT number, size, etag, last_modified_ms, blob FROM parts \
         WHERE upload = ?1 AND number > ?2 ORDER BY number",
    )?;
    let rows = q.query_map(params![id, after], |r| {
        Ok((
            Part {
                number: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                etag: r.get(2)?,
                last_modified_ms: r.get(3)?,
            },
            r.get(4)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// S3's ETag of an object made of parts with these ETags.
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> String {
    let mut md5 = Md5::new();
    let mut n = 0;
    for etag in part_etags {
        let digest = etag.trim_matches('"');
        let bytes: Vec<u8> = (0..digest.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(digest.get(i..i + 2)?, 16).ok())
            .collect();
        md5.update(&bytes);
        n += 1;
    }
    let digest: [u8; 16] = md5.finalize().into();
    format!("\"{}-{n}\"", hex(&digest))
}

impl Uploads<'_> {
    /// CreateMultipartUpload: the new upload's id.
    pub async fn create(
        &self,
        bucket: &str,
        key: &str,
        new: NewObject,
    ) -> Result<Upload, ObjectError> {
        self.o.bucket(bucket).await?;
        let upload = Upload {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            content_type: new.content_type,
            metadata: new.metadata,
            initiated_ms: now_ms(),
        };
        let u = upload.clone();
        self.o
            .with(move |c| {
                c.execute(
                    &format!(
                        "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                    ),
                    params![
                        u.id,
                        u.bucket,
                        u.key,
                        u.content_type,
                        serde_json::to_string(&u.metadata).unwrap_or_default(),
                        u.initiated_ms
                    ],
                )?;
                Ok(())
            })
            .await?;
        Ok(upload)
    }

    /// UploadPart: streams `body` to a blob and makes it part `number` (replacing any part
    /// of that number).
    pub async fn put_part<S>(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        number: u32,
        body: S,
    ) -> Result<Part, ObjectError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(ObjectError::InvalidArgument(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )));
        }
        let (i, b, k) = (id.to_string(), bucket.to_string(), key.to_string());
        self.o.with(move |c| upload_of(c, &i, &b, &k)).await?;
        let staged = self.o.stage(body).await?;
        let part = Part {
            number,
            size: staged.size,
            etag: format!("\"{}\"", hex(&staged.md5)),
            last_modified_ms: now_ms(),
        };
        let (i, b, k, p, blob) = (
            id.to_string(),
            bucket.to_string(),
            key.to_string(),
            part.clone(),
            staged.blob.clone(),
        );
        let replaced = self
            .o
            .with(move |c| {
                let tx = c.transaction()?;
                upload_of(&tx, &i, &b, &k)?;
                let old: Option<String> = tx
                    .query_row(
                        "SELECT blob FROM parts WHERE upload = ?1 AND number = ?2",
                        params![i, p.number],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute(
                    "INSERT OR REPLACE INTO parts (upload, number, size, etag, last_modified_ms, blob) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![i, p.number, p.size as i64, p.etag, p.last_modified_ms, blob],
                )?;
                tx.commit()?;
                Ok(old)
            })
            .await;
        match replaced {
            Ok(old) => {
                self.o.remove_blobs(old.into_iter().collect()).await;
                Ok(part)
            }
            Err(e) => {
                self.o.remove_blobs(vec![staged.blob]).await;
                Err(e)
            }
        }
    }

    /// CompleteMultipartUpload: the object made of `chosen` (part numbers, ascending, with
    /// the ETags their uploads answered), recorded with what `tell` says of it.
    pub async fn complete(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        chosen: Vec<(u32, String)>,
        tell: Tell,
    ) -> Result<ObjectMeta, ObjectError> {
        if chosen.is_empty() {
            return Err(ObjectError::InvalidArgument(
                "You must specify at least one part".into(),
            ));
        }
        if chosen.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(ObjectError::InvalidPartOrder);
        }
        let (i, b, k) = (id.to_string(), bucket.to_string(), key.to_string());
        let (upload, parts) = self
            .o
            .with(move |c| {
                let upload = upload_of(c, &i, &b, &k)?;
                Ok((upload, parts_of(c, &i, 0)?))
            })
            .await?;
        let by_number: BTreeMap<u32, &(Part, String)> =
            parts.iter().map(|p| (p.0.number, p)).collect();
        let mut blobs = Vec::with_capacity(chosen.len());
        let mut etags = Vec::with_capacity(chosen.len());
        for (number, etag) in &chosen {
            let Some((part, blob)) = by_number.get(number) else {
                return Err(ObjectError::InvalidPart);
            };
            if part.etag.trim_matches('"') != etag.trim_matches('"') {
                return Err(ObjectError::InvalidPart);
            }
            blobs.push((self.o.blob_path(blob), part.size));
            etags.push(part.etag.as_str());
        }
        // Every part is checked to be there before any is checked for size, as S3 does.
        let last = blobs.len() - 1;
        if blobs[..last].iter().any(|(_, size)| *size < MIN_PART_SIZE) {
            return Err(ObjectError::EntityTooSmall);
        }
        let blobs: Vec<_> = blobs.into_iter().map(|(path, _)| path).collect();
        let etag = multipart_etag(etags);
        // The parts, one file after another, through the same staging as any object.
        let body = futures_util::stream::iter(blobs)
            .then(|path| async move {
                let file = tokio::fs::File::open(path).await?;
                Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
                    file,
                    64 * 1024,
                ))
            })
            .try_flatten()
            // Boxed: the future of a completion must be Send for any lifetime.
            .boxed();
        let staged = self.o.stage(body).await?;
        let meta = ObjectMeta {
            bucket: upload.bucket,
            key: upload.key,
            size: staged.size,
            etag,
            content_type: upload.content_type,
            metadata: upload.metadata,
            last_modified_ms: now_ms(),
            sequence: 0,
            blob: staged.blob,
        };
        let id = id.to_string();
        self.o
            .commit(meta, tell, move |tx| {
                let blobs: Vec<String> = parts_of(tx, &id, 0)?.into_iter().map(|p| p.1).collect();
                if tx.execute("DELETE FROM uploads WHERE id = ?1", params![id])? == 0 {
                    return Err(ObjectError::NoSuchUpload);
                }
                tx.execute("DELETE FROM parts WHERE upload = ?1", params![id])?;
                Ok(blobs)
            })
            .await
    }

    /// AbortMultipartUpload: the upload and its parts are forgotten.
    pub async fn abort(&self, id: &str, bucket: &str, key: &str) -> Result<(), ObjectError> {
        let (i, b, k) = (id.to_string(), bucket.to_string(), key.to_string());
        let blobs = self
            .o
            .with(move |c| {
                let tx = c.transaction()?;
                upload_of(&tx, &i, &b, &k)?;
                let blobs: Vec<String> = parts_of(&tx, &i, 0)?.into_iter().map(|p| p.1).collect();
                tx.execute("DELETE FROM parts WHERE upload = ?1", params![i])?;
                tx.execute("DELETE FROM uploads WHERE id = ?1", params![i])?;
                tx.commit()?;
                Ok(blobs)
            })
            .await?;
        self.o.remove_blobs(blobs).await;
        Ok(())
    }

    /// ListParts: up to `max` parts after number `after`, and whether more follow.
    pub async fn parts(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        after: u32,
        max: usize,
    ) -> Result<(Vec<Part>, bool), ObjectError> {
        let (i, b, k) = (id.to_string(), bucket.to_string(), key.to_string());
        self.o
            .with(move |c| {
                upload_of(c, &i, &b, &k)?;
                let mut parts: Vec<Part> =
                    parts_of(c, &i, after)?.into_iter().map(|p| p.0).collect();
                let more = parts.len() > max;
                parts.truncate(max);
                Ok((parts, more))
            })
            .await
    }

    /// ListMultipartUploads: the uploads in progress in `bucket` whose keys start with
    /// `prefix`, by key then start.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Upload>, ObjectError> {
        self.o.bucket(bucket).await?;
        let (b, p) = (bucket.to_string(), prefix.to_string());
        self.o
            .with(move |c| {
                let mut q = c.prepare(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?1 \
                     AND substr(key, 1, ?2) = ?3 ORDER BY key, initiated_ms"
                ))?;
                let rows = q.query_map(params![b, p.chars().count() as i64, p], upload_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_are_s3s() {
        // Two parts whose MD5s are those of "a" and "b": the MD5 of the 32 bytes, then -2
        // (computed apart with `xxd -r -p` and `md5sum`).
        let a = "\"0cc175b9c0f1b6a831c399e269772661\"";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        assert_eq!(
            multipart_etag([a, b]),
            "\"96e024ba2074fe77e8e965ba43a704be-2\""
        );
    }
}
