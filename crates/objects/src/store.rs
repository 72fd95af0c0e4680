//! [`Objects`]: the store itself (see the crate's documentation for how a write is made
//! durable and atomic).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::io::AsyncWriteExt;

use crate::listing::{ListRequest, Listing, page};
use crate::{Bucket, NewObject, ObjectError, ObjectMeta, now_ms, valid_bucket_name};

/// Buckets and objects under one directory.
#[derive(Debug, Clone)]
pub struct Objects {
    pub(crate) root: PathBuf,
    db: Arc<Mutex<Connection>>,
    // Woken when a commit adds to the outbox.
    told: Arc<tokio::sync::Notify>,
}

const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (upload, number)
);
";

/// How much older than the open a blob must be to be taken for a crash's orphan.
const ORPHAN_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Columns added after a table was first made, each with its definition.
const ADDED: &[(&str, &str, &str)] = &[("buckets", "notification", "TEXT")];

/// Adds to an older file's tables the columns it lacks.
fn migrate(conn: &Connection) -> Result<(), ObjectError> {
    for (table, column, definition) in ADDED {
        let has: bool = conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1)"),
            params![column],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectMeta> {
    let metadata: String = r.get(5)?;
    Ok(ObjectMeta {
        bucket: r.get(0)?,
        key: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        etag: r.get(3)?,
        content_type: r.get(4)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        last_modified_ms: r.get(6)?,
        sequence: r.get::<_, i64>(7)? as u64,
        blob: r.get(8)?,
    })
}

const COLUMNS: &str =
    "bucket, key, size, etag, content_type, metadata, last_modified_ms, sequence, blob";

impl Objects {
    /// Opens (creating if needed) the store in `root`, and removes what a crash left: files
    /// in `tmp/` at once, and blobs no object names in the background.
    pub fn open(root: &Path) -> Result<Objects, ObjectError> {
        for dir in ["tmp", "blobs"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        let conn = Connection::open(root.join("objects.sqlite3"))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        for entry in std::fs::read_dir(root.join("tmp"))? {
            std::fs::remove_file(entry?.path())?;
        }
        let db = Arc::new(Mutex::new(conn));
        // Orphan blobs (renamed in, never committed) are looked for after open returns: a
        // store of many objects starts at once. Only blobs older than the open are
        // candidates, so one a write has just staged is never taken for an orphan; with a
        // margin, since file times come from a coarser clock than `now()`. A crash's
        // orphan younger than that goes at a later open.
        let opened = SystemTime::now() - ORPHAN_MARGIN;
        let (blobs, sweeping) = (root.join("blobs"), db.clone());
        std::thread::Builder::new()
            .name("objects-sweep".into())
            .spawn(move || {
                if let Err(e) = sweep_orphans(&blobs, &sweeping, opened) {
                    eprintln!("lamina: sweeping orphan object blobs: {e}");
                }
            })?;
        Ok(Objects {
            root: root.to_path_buf(),
            db,
            told: Arc::default(),
        })
    }

    /// Runs `f` on the connection, off the async workers.
    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ObjectError> + Send + 'static,
    ) -> Result<T, ObjectError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| ObjectError::Storage(e.to_string()))?
    }

    /// CreateBucket.
    pub async fn create_bucket(&self, name: &str) -> Result<Bucket, ObjectError> {
        if !valid_bucket_name(name) {
            return Err(ObjectError::InvalidBucketName);
        }
        let name = name.to_string();
        self.with(move |c| {
            let created_ms = now_ms();
            let made = c.execute(
                "INSERT OR IGNORE INTO buckets (name, created_ms) VALUES (?1, ?2)",
                params![name, created_ms],
            )?;
            if made == 0 {
                return Err(ObjectError::BucketAlreadyOwnedByYou);
            }
            Ok(Bucket { name, created_ms })
        })
        .await
    }

    /// The buckets, by name.
    pub async fn buckets(&self) -> Result<Vec<Bucket>, ObjectError> {
        self.with(|c| {
            let mut q = c.prepare("SELECT name, created_ms FROM buckets ORDER BY name")?;
            let rows = q.query_map([], |r| {
                Ok(Bucket {
                    name: r.get(0)?,
                    created_ms: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every bucket with its objects' count and bytes and its notification document.
    pub async fn usage(&self) -> Result<Vec<Usage>, ObjectError> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT b.name, b.created_ms, COUNT(o.key), COALESCE(SUM(o.size), 0), b.notification \
                 FROM buckets b LEFT JOIN objects o ON o.bucket = b.name \
                 GROUP BY b.name ORDER BY b.name",
            )?;
            let rows = q.query_map([], |r| {
                Ok(Usage {
                    bucket: Bucket {
                        name: r.get(0)?,
                        created_ms: r.get(1)?,
                    },
                    objects: r.get::<_, i64>(2)? as u64,
                    bytes: r.get::<_, i64>(3)? as u64,
                    notification: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// HeadBucket: the bucket, or NoSuchBucket.
    pub async fn bucket(&self, name: &str) -> Result<Bucket, ObjectError> {
        let name = name.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT name, created_ms FROM buckets WHERE name = ?1",
                params![name],
                |r| {
                    Ok(Bucket {
                        name: r.get(0)?,
                        created_ms: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or(ObjectError::NoSuchBucket)
        })
        .await
    }

    /// DeleteBucket: only an empty one; its unfinished multipart uploads go with it.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), ObjectError> {
        let name = name.to_string();
        let parts = self.with(move |c| {
            let tx = c.transaction()?;
            let has: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = ?1)",
                params![name],
                |r| r.get(0),
            )?;
            if has {
                return Err(ObjectError::BucketNotEmpty);
            }
            if tx.execute("DELETE FROM buckets WHERE name = ?1", params![name])? == 0 {
                return Err(ObjectError::NoSuchBucket);
            }
            let parts: Vec<String> = tx
                .prepare(
                    "SELECT blob FROM parts WHERE upload IN (SELECT id FROM uploads WHERE bucket = ?1)",
                )?
                .query_map(params![name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            tx.execute(
                "DELETE FROM parts WHERE upload IN (SELECT id FROM uploads WHERE bucket = ?1)",
                params![name],
            )?;
            tx.execute("DELETE FROM uploads WHERE bucket = ?1", params![name])?;
            tx.commit()?;
            Ok(parts)
        })
        .await?;
        self.remove_blobs(parts).await;
        Ok(())
    }

    /// Removes blobs no row names any more.
    pub(crate) async fn remove_blobs(&self, blobs: Vec<String>) {
        for blob in blobs {
            let _ = tokio::fs::remove_file(self.blob_path(&blob)).await;
        }
    }

    pub(crate) fn blob_path(&self, blob: &str) -> PathBuf {
        self.root.join("blobs").join(blob)
    }

    /// The file holding an object's bytes (open it before the object may be replaced: a
    /// replaced blob is removed, but an open file stays readable).
    pub fn path_of(&self, object: &ObjectMeta) -> PathBuf {
        self.blob_path(&object.blob)
    }

    /// PutObject: streams `body` to a new blob, then makes it `bucket`/`key` and records
    /// in the outbox, in the same transaction, the payloads `tell` makes of the new object
    /// and of the bucket's notification document.
    pub async fn put<S>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        new: NewObject,
        tell: Tell,
    ) -> Result<ObjectMeta, ObjectError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        self.bucket(bucket).await?;
        let staged = self.stage(body).await?;
        let meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: staged.size,
            etag: format!("\"{}\"", hex(&staged.md5)),
            content_type: new.content_type,
            metadata: new.metadata,
            last_modified_ms: now_ms(),
            sequence: 0,
            blob: staged.blob,
        };
        self.commit(meta, tell, |_| Ok(Vec::new())).await
    }

    /// Streams `body` into a new blob (synced, renamed into `blobs/`), named by no object
    /// yet: its name, size and MD5.
    pub(crate) async fn stage<S>(&self, body: S) -> Result<Staged, ObjectError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&blob);
        let (size, md5) = match write_blob(&tmp, body).await {
            Ok(w) => w,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        if let Err(e) = tokio::fs::rename(&tmp, self.blob_path(&blob)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        Ok(Staged { blob, size, md5 })
    }

    /// Makes the staged `meta` its key's object and records what `tell` says of it, in one
    /// transaction that also runs `more` (which names further blobs to remove once it has
    /// committed). On failure, `meta`'s blob is removed.
    pub(crate) async fn commit(
        &self,
        meta: ObjectMeta,
        tell: Tell,
        more: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<Vec<String>, ObjectError>
        + Send
        + 'static,
    ) -> Result<ObjectMeta, ObjectError> {
        let path = self.blob_path(&meta.blob);
        let committed = self
            .with(move |c| {
                let tx = c.transaction()?;
                let notification: Option<Option<String>> = tx
                    .query_row(
                        "SELECT notification FROM buckets WHERE name = ?1",
                        params![meta.bucket],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(notification) = notification else {
                    return Err(ObjectError::NoSuchBucket);
                };
                let mut meta = meta;
                meta.sequence = next_sequence(&tx)?;
                let old: Option<String> = tx
                    .query_row(
                        "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
                        params![meta.bucket, meta.key],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute(
                    &format!(
                        "INSERT OR REPLACE INTO objects ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ),
                    params![
                        meta.bucket,
                        meta.key,
                        meta.size as i64,
                        meta.etag,
                        meta.content_type,
                        serde_json::to_string(&meta.metadata).unwrap_or_default(),
                        meta.last_modified_ms,
                        meta.sequence as i64,
                        meta.blob
                    ],
                )?;
                let mut gone = more(&tx)?;
                gone.extend(old);
                let told = record(&tx, tell(&meta, notification.as_deref()))?;
                tx.commit()?;
                Ok((meta, gone, told))
            })
            .await;
        match committed {
            Ok((meta, gone, told)) => {
                self.remove_blobs(gone).await;
                if told {
                    self.told.notify_one();
                }
                Ok(meta)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// HeadObject and GetObject's metadata.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, ObjectError> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.with(move |c| {
            let found = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                    params![bucket, key],
                    row,
                )
                .optional()?;
            match found {
                Some(m) => Ok(m),
                None => Err(bucket_or_key(c, &bucket)?),
            }
        })
        .await
    }

    /// DeleteObject: the object it removed (none is not an error, as in S3), after
    /// recording in the outbox what `tell` makes of it, in the same transaction.
    pub async fn delete(
        &self,
        bucket: &str,
        key: &str,
        tell: Tell,
    ) -> Result<Option<ObjectMeta>, ObjectError> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let removed = self
            .with(move |c| {
                let tx = c.transaction()?;
                let found = tx
                    .query_row(
                        &format!("SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                        params![bucket, key],
                        row,
                    )
                    .optional()?;
                let Some(mut meta) = found else {
                    bucket_or_key(&tx, &bucket)?;
                    return Ok(None);
                };
                tx.execute(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                    params![bucket, key],
                )?;
                meta.sequence = next_sequence(&tx)?;
                let notification = notification_of(&tx, &bucket)?;
                let told = record(&tx, tell(&meta, notification.as_deref()))?;
                tx.commit()?;
                Ok(Some((meta, told)))
            })
            .await?;
        let Some((meta, told)) = removed else {
            return Ok(None);
        };
        let _ = tokio::fs::remove_file(self.blob_path(&meta.blob)).await;
        if told {
            self.told.notify_one();
        }
        Ok(Some(meta))
    }

    /// PutBucketNotificationConfiguration: replaces the bucket's notification document
    /// (none removes it) and records `payloads` (a test event) in the outbox with it.
    pub async fn set_notification(
        &self,
        bucket: &str,
        document: Option<String>,
        payloads: Vec<String>,
    ) -> Result<(), ObjectError> {
        let bucket = bucket.to_string();
        let told = self
            .with(move |c| {
                let tx = c.transaction()?;
                let changed = tx.execute(
                    "UPDATE buckets SET notification = ?2 WHERE name = ?1",
                    params![bucket, document],
                )?;
                if changed == 0 {
                    return Err(ObjectError::NoSuchBucket);
                }
                let told = record(&tx, payloads)?;
                tx.commit()?;
                Ok(told)
            })
            .await?;
        if told {
            self.told.notify_one();
        }
        Ok(())
    }

    /// GetBucketNotificationConfiguration: the bucket's notification document, if any.
    pub async fn notification(&self, bucket: &str) -> Result<Option<String>, ObjectError> {
        let bucket = bucket.to_string();
        self.with(move |c| notification_of(c, &bucket)).await
    }

    /// ListObjectsV2's page of `bucket`.
    pub async fn list(
        &self,
        bucket: &str,
        req: ListRequest,
    ) -> Result<Listing<ObjectMeta>, ObjectError> {
        let bucket = bucket.to_string();
        self.with(move |c| {
            bucket_or_key(c, &bucket)?;
            let after = req.after.clone().unwrap_or_default();
            let mut q = c.prepare(&format!(
                "SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key > ?2 AND substr(key, 1, ?3) = ?4 \
                 ORDER BY key"
            ))?;
            let rows = q.query_map(
                params![bucket, after, req.prefix.chars().count() as i64, req.prefix],
                row,
            )?;
            let all: Vec<ObjectMeta> = rows.collect::<Result<_, _>>()?;
            Ok(page(&req, all, |m| m.key.as_str()))
        })
        .await
    }

    /// Up to `max` payloads waiting in the outbox, oldest first, with their ids.
    pub async fn outbox(&self, max: usize) -> Result<Vec<(i64, String)>, ObjectError> {
        self.with(move |c| {
            let mut q = c.prepare("SELECT id, payload FROM outbox ORDER BY id LIMIT ?1")?;
            let rows = q.query_map(params![max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Waits until a write adds to the outbox (at once if one did since the last wait).
    pub async fn told(&self) {
        self.told.notified().await;
    }

    /// Forgets outbox payloads that were delivered.
    pub async fn delivered(&self, ids: Vec<i64>) -> Result<(), ObjectError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            for id in ids {
                tx.execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

/// What a write tells: given the object written (or removed) and its bucket's notification
/// document, the payloads to record in the outbox.
pub type Tell = Box<dyn FnOnce(&ObjectMeta, Option<&str>) -> Vec<String> + Send + 'static>;

/// A bucket's contents in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub bucket: Bucket,
    pub objects: u64,
    pub bytes: u64,
    pub notification: Option<String>,
}

/// A write that tells nothing.
pub fn silent() -> Tell {
    Box::new(|_, _| Vec::new())
}

/// A blob written whole that no object names yet.
#[derive(Debug)]
pub(crate) struct Staged {
    pub(crate) blob: String,
    pub(crate) size: u64,
    pub(crate) md5: [u8; 16],
}

/// Records `payloads` in the outbox: whether there were any.
fn record(tx: &rusqlite::Transaction<'_>, payloads: Vec<String>) -> Result<bool, ObjectError> {
    let any = !payloads.is_empty();
    for payload in payloads {
        tx.execute("INSERT INTO outbox (payload) VALUES (?1)", params![payload])?;
    }
    Ok(any)
}

/// A bucket's notification document; NoSuchBucket if there is no bucket.
fn notification_of(c: &Connection, bucket: &str) -> Result<Option<String>, ObjectError> {
    c.query_row(
        "SELECT notification FROM buckets WHERE name = ?1",
        params![bucket],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()?
    .ok_or(ObjectError::NoSuchBucket)
}

/// Removes the blobs in `dir` older than `before` that no object or part names.
fn sweep_orphans(
    dir: &Path,
    db: &Mutex<Connection>,
    before: SystemTime,
) -> Result<usize, ObjectError> {
    let candidates: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < before)
        })
        .map(|e| (e.file_name(), e.path()))
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let named: std::collections::HashSet<String> = {
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        conn.prepare("SELECT blob FROM objects UNION ALL SELECT blob FROM parts")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut removed = 0;
    for (name, path) in candidates {
        if !named.contains(name.to_string_lossy().as_ref()) {
            std::fs::remove_file(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The error for an object that is not there: NoSuchBucket when its bucket is not either.
fn bucket_or_key(c: &Connection, bucket: &str) -> Result<ObjectError, ObjectError> {
    let exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM buckets WHERE name = ?1)",
        params![bucket],
        |r| r.get(0),
    )?;
    if exists {
        Ok(ObjectError::NoSuchKey)
    } else {
        Err(ObjectError::NoSuchBucket)
    }
}

fn next_sequence(tx: &rusqlite::Transaction<'_>) -> Result<u64, ObjectError> {
    let n: i64 = tx.query_row(
        "INSERT INTO counters (name, value) VALUES ('sequence', 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Streams `body` into a new file at `path`, synced: its size and MD5.
async fn write_blob<S>(path: &Path, body: S) -> Result<(u64, [u8; 16]), ObjectError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let mut file = tokio::fs::File::create(path).await?;
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        md5.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok((size, md5.finalize().into()))
}
