//! Lamina's object storage on one machine: buckets and their objects under a directory of
//! the data directory.
//!
//! - **Blobs.** An object's bytes are streamed into `tmp/` (hashed with MD5 on the way, for
//!   its ETag), synced, then renamed into `blobs/` under a fresh name: a blob is whole or
//!   absent, never half written, and a reader holding the old blob keeps reading it.
//! - **Metadata** (buckets, and each object's size, ETag, content type, user metadata and
//!   blob) is in `objects.sqlite3` (WAL, `synchronous=FULL`). An object becomes visible when
//!   the transaction that names its blob commits; the blob it replaces is removed after.
//! - **The outbox.** The same transaction records what the write must tell (S3 event
//!   notifications, as payloads the caller builds from the object): a crash after the commit
//!   loses neither the object nor its events, and a crash before it loses both. Whoever
//!   delivers the events takes them with [`Objects::outbox`] and forgets them with
//!   [`Objects::delivered`] once they are durable elsewhere.
//! - At open, leftovers in `tmp/` are removed; blobs no object or part names (a crash
//!   between the rename and the commit) are removed by a thread the open starts, so that a
//!   large store is served at once.
//!
//! Listing with prefixes, delimiters and continuation is [`listing`]'s; multipart uploads
//! are [`multipart`]'s.

pub mod listing;
pub mod multipart;
mod store;

use std::collections::BTreeMap;

pub use listing::{ListRequest, Listing};
pub use multipart::{Part, Upload, Uploads};
pub use store::{Objects, Tell, Usage, silent};

/// What can go wrong, named as S3 names it where S3 has a name.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("The specified bucket is not valid.")]
    InvalidBucketName,
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart,
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("object storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("object storage: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for ObjectError {
    fn from(e: rusqlite::Error) -> Self {
        ObjectError::Storage(e.to_string())
    }
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
}

/// What a writer says of a new object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewObject {
    pub content_type: Option<String>,
    /// `x-amz-meta-*`, without the prefix.
    pub metadata: BTreeMap<String, String>,
}

/// A stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// S3's ETag, quoted: the hex MD5 of the bytes.
    pub etag: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// Orders the object's writes (S3's `sequencer`): larger is later.
    pub sequence: u64,
    blob: String,
}

/// S3's rules for bucket names: 3 to 63 of lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit, no two dots together, not an IP address.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3() {
        for ok in ["abc", "my-bucket.2026", "a1b"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-start",
            "end-",
            "a..b",
            "192.168.1.1",
            "under_score",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
