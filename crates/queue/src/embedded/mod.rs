//! The embedded queue: SQLite with group commit through one writer thread, and an in-memory
//! index of due and leased messages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{Notify, oneshot};

mod writer;

use crate::due::{DueSet, Entry};
use crate::{
    Clock, FailedMessage, Limits, Message, MessageId, NewMessage, Queue, QueueError, QueueStats,
    now_ms,
};
use writer::{Op, write_loop};

/// Most writes committed in one transaction.
pub(super) const GROUP_MAX: usize = 1024;

/// The embedded queue. Cheap to share behind an `Arc`; closed (its writer thread joined)
/// when dropped.
#[derive(Debug)]
pub struct EmbeddedQueue {
    shared: Arc<Shared>,
    // `Sender` is `Sync`: enqueues from any thread.
    writes: Option<mpsc::Sender<Op>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
pub(super) struct Shared {
    // Short critical sections only.
    index: Mutex<Index>,
    reader: Mutex<Connection>,
    changed: Notify,
    limits: Limits,
    enqueued: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
pub(super) struct Index {
    due: DueSet,
    leased: HashMap<MessageId, Entry>,
    bytes: u64,
    /// Enqueues accepted and not yet committed: they count against the bounds.
    reserved: usize,
    reserved_bytes: u64,
    failed: usize,
}

impl Index {
    fn held(&self) -> usize {
        self.due.len + self.leased.len() + self.reserved
    }
}

pub(super) fn storage(e: rusqlite::Error) -> QueueError {
    QueueError::Storage(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, QueueError> {
    let conn = Connection::open(path).map_err(storage)?;
    // FULL: a commit is on disk (the WAL synced) before it returns.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA busy_timeout=5000;",
    )
    .map_err(storage)?;
    Ok(conn)
}

/// A failed message from the columns id, queue, body, attributes, attempts, enqueued_ms,
/// failed_ms, reason.
fn failed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FailedMessage> {
    Ok(FailedMessage {
        message: Message {
            id: r.get(0)?,
            queue: r.get(1)?,
            body: r.get(2)?,
            attributes: r.get(3)?,
            attempts: r.get::<_, i64>(4)? as u32,
            enqueued_ms: r.get::<_, i64>(5)? as u64,
        },
        failed_ms: r.get::<_, i64>(6)? as u64,
        reason: r.get(7)?,
    })
}

/// What [`EmbeddedQueue::export`] reads: each queued message with its due time (epoch ms),
/// and the failed messages.
pub type Export = (Vec<(Message, u64)>, Vec<FailedMessage>);

impl EmbeddedQueue {
    /// Every message of the queue file at `path`, with its due time, and every failed
    /// message, as stored (for moving them elsewhere; the queue must not be open).
    pub fn export(path: &Path) -> Result<Export, QueueError> {
        let c = open_connection(path)?;
        let mut messages = Vec::new();
        let mut failed = Vec::new();
        let has = |table: &str| -> Result<bool, QueueError> {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |r| r.get(0),
            )
            .map_err(storage)
        };
        if has("messages")? {
            let mut stmt = c
                .prepare(
                    "SELECT id, queue, body, attributes, attempts, enqueued_ms, due_ms
                     FROM messages ORDER BY id",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        Message {
                            id: r.get(0)?,
                            queue: r.get(1)?,
                            body: r.get(2)?,
                            attributes: r.get(3)?,
                            attempts: r.get::<_, i64>(4)? as u32,
                            enqueued_ms: r.get::<_, i64>(5)? as u64,
                        },
                        r.get::<_, i64>(6)? as u64,
                    ))
                })
                .map_err(storage)?;
            for row in rows {
                messages.push(row.map_err(storage)?);
            }
        }
        if has("failed")? {
            let mut stmt = c
                .prepare(
                    "SELECT id, queue, body, attributes, attempts, enqueued_ms, failed_ms, reason
                     FROM failed ORDER BY id",
                )
                .map_err(storage)?;
            let rows = stmt.query_map([], failed_row).map_err(storage)?;
            for row in rows {
                failed.push(row.map_err(storage)?);
            }
        }
        Ok((messages, failed))
    }

    /// Opens (creating if needed) the queue stored at `path`. Every message found is due
    /// again at its stored time, whether or not it was leased before.
    pub fn open(path: &Path, limits: Limits) -> Result<EmbeddedQueue, QueueError> {
        let writer = open_connection(path)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    queue TEXT NOT NULL,
                    body BLOB NOT NULL,
                    attributes BLOB NOT NULL,
                    due_ms INTEGER NOT NULL,
                    attempts INTEGER NOT NULL,
                    enqueued_ms INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS failed (
                    id INTEGER PRIMARY KEY,
                    queue TEXT NOT NULL,
                    body BLOB NOT NULL,
                    attributes BLOB NOT NULL,
                    attempts INTEGER NOT NULL,
                    enqueued_ms INTEGER NOT NULL,
                    failed_ms INTEGER NOT NULL,
                    reason TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS failed_by_queue ON failed(queue, id);",
            )
            .map_err(storage)?;
        let mut index = Index::default();
        {
            let mut stmt = writer
                .prepare(
                    "SELECT id, queue, due_ms, attempts, enqueued_ms,
                            length(body) + length(attributes) FROM messages",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        Entry {
                            queue: r.get(1)?,
                            size: r.get::<_, i64>(5)? as u64,
                            attempts: r.get::<_, i64>(3)? as u32,
                            enqueued_ms: r.get::<_, i64>(4)? as u64,
                        },
                        r.get::<_, i64>(2)? as u64,
                    ))
                })
                .map_err(storage)?;
            for row in rows {
                let (id, entry, due) = row.map_err(storage)?;
                index.bytes += entry.size;
                index.due.insert(due, id, entry);
            }
            index.failed = writer
                .query_row("SELECT count(*) FROM failed", [], |r| r.get::<_, i64>(0))
                .map_err(storage)? as usize;
        }
        let shared = Arc::new(Shared {
            index: Mutex::new(index),
            reader: Mutex::new(open_connection(path)?),
            changed: Notify::new(),
            limits,
            enqueued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let for_writer = shared.clone();
        let handle = std::thread::Builder::new()
            .name("lamina-queue-writer".into())
            .spawn(move || write_loop(writer, rx, &for_writer))
            .map_err(|e| QueueError::Storage(e.to_string()))?;
        Ok(EmbeddedQueue {
            shared,
            writes: Some(tx),
            writer: Some(handle),
        })
    }

    async fn send<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, QueueError>>) -> Op,
    ) -> Result<T, QueueError> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .as_ref()
            .ok_or(QueueError::Closed)?
            .send(op(tx))
            .map_err(|_| QueueError::Closed)?;
        rx.await.unwrap_or(Err(QueueError::Closed))
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.shared.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for EmbeddedQueue {
    fn drop(&mut self) {
        self.writes.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

#[async_trait::async_trait]
impl Queue for EmbeddedQueue {
    async fn enqueue(&self, message: NewMessage) -> Result<MessageId, QueueError> {
        let size = (message.body.len() + message.attributes.len()) as u64;
        {
            let mut index = self.index();
            let limits = self.shared.limits;
            let bytes = index.bytes + index.reserved_bytes;
            if index.held() >= limits.max_messages || bytes + size > limits.max_bytes {
                self.shared.refused.fetch_add(1, Ordering::Relaxed);
                return Err(QueueError::Full {
                    messages: index.held(),
                    bytes,
                    max_messages: limits.max_messages,
                    max_bytes: limits.max_bytes,
                });
            }
            index.reserved += 1;
            index.reserved_bytes += size;
        }
        let enqueued_ms = now_ms();
        let id = self
            .send(|reply| Op::Enqueue {
                message,
                enqueued_ms,
                reply,
            })
            .await?;
        self.shared.enqueued.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    async fn lease(
        &self,
        max: usize,
        take: &mut (dyn for<'q> FnMut(MessageId, &'q str) -> bool + Send),
    ) -> Result<Vec<Message>, QueueError> {
        let now = now_ms();
        let taken: Vec<(MessageId, Entry)> = {
            let mut index = self.index();
            let taken = index.due.pick(max, now, take);
            for (id, entry) in &taken {
                index.leased.insert(*id, entry.clone());
            }
            taken
        };
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let conn = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
            let mut stmt = conn
                .prepare_cached("SELECT body, attributes FROM messages WHERE id = ?1")
                .map_err(storage)?;
            let mut out = Vec::with_capacity(taken.len());
            for (id, entry) in taken {
                let row = stmt
                    .query_row([id], |r| {
                        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .optional()
                    .map_err(storage)?;
                match row {
                    Some((body, attributes)) => out.push(Message {
                        id,
                        queue: entry.queue,
                        body,
                        attributes,
                        attempts: entry.attempts,
                        enqueued_ms: entry.enqueued_ms,
                    }),
                    // Purged since: forget it.
                    None => {
                        let mut index = shared.index.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(e) = index.leased.remove(&id) {
                            index.bytes -= e.size;
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| QueueError::Storage(e.to_string()))?
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.index().due.first_due()
    }

    async fn changed(&self) {
        self.shared.changed.notified().await;
    }

    async fn ack(&self, id: MessageId) -> Result<(), QueueError> {
        self.send(|reply| Op::Ack { id, reply }).await
    }

    async fn retry_later(
        &self,
        id: MessageId,
        due_ms: u64,
        attempts: u32,
    ) -> Result<(), QueueError> {
        self.send(|reply| Op::Retry {
            id,
            due_ms,
            attempts,
            reply,
        })
        .await
    }

    async fn dead_letter(
        &self,
        id: MessageId,
        attempts: u32,
        reason: &str,
    ) -> Result<(), QueueError> {
        let reason = reason.to_string();
        self.send(|reply| Op::DeadLetter {
            id,
            attempts,
            reason,
            reply,
        })
        .await
    }

    async fn failed(&self, queue: Option<&str>) -> Result<Vec<FailedMessage>, QueueError> {
        let shared = self.shared.clone();
        let queue = queue.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let conn = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, queue, body, attributes, attempts, enqueued_ms, failed_ms, reason
                     FROM failed WHERE ?1 IS NULL OR queue = ?1 ORDER BY id",
                )
                .map_err(storage)?;
            let rows = stmt.query_map([queue], failed_row).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
        .map_err(|e| QueueError::Storage(e.to_string()))?
    }

    async fn replay(&self, id: MessageId) -> Result<MessageId, QueueError> {
        self.send(|reply| Op::Replay { id, reply }).await
    }

    async fn purge(&self, queue: &str) -> Result<(), QueueError> {
        let queue = queue.to_string();
        self.send(|reply| Op::Purge { queue, reply }).await?;
        // The failed count is recounted rather than tracked per queue.
        let shared = self.shared.clone();
        let failed = tokio::task::spawn_blocking(move || {
            let conn = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
            conn.query_row("SELECT count(*) FROM failed", [], |r| r.get::<_, i64>(0))
                .map_err(storage)
        })
        .await
        .map_err(|e| QueueError::Storage(e.to_string()))??;
        self.index().failed = failed as usize;
        Ok(())
    }

    fn clock(&self) -> &Clock {
        static SYSTEM: Clock = Clock(None);
        &SYSTEM
    }

    fn stats(&self) -> QueueStats {
        let now = now_ms();
        let index = self.index();
        let ready = index.due.ready(now);
        QueueStats {
            ready,
            delayed: index.due.len - ready,
            leased: index.leased.len(),
            bytes: index.bytes,
            max_messages: self.shared.limits.max_messages,
            max_bytes: self.shared.limits.max_bytes,
            failed: index.failed,
            enqueued: self.shared.enqueued.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::contract::{self, limits};

    fn msg(queue: &str, body: &str, due_ms: u64) -> NewMessage {
        NewMessage {
            queue: queue.into(),
            body: body.as_bytes().to_vec(),
            attributes: b"{}".to_vec(),
            due_ms,
        }
    }

    #[tokio::test]
    async fn what_was_not_acknowledged_is_due_again_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        {
            let q = EmbeddedQueue::open(&path, limits()).unwrap();
            for i in 0..5 {
                q.enqueue(msg("f", &i.to_string(), 0)).await.unwrap();
            }
            let leased = q.lease(3, &mut |_, _| true).await.unwrap();
            q.ack(leased[0].id).await.unwrap();
            // Two leased and never acknowledged, two never leased: a crash here.
        }
        let q = EmbeddedQueue::open(&path, limits()).unwrap();
        let bodies: Vec<String> = q
            .lease(10, &mut |_, _| true)
            .await
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8(m.body).unwrap())
            .collect();
        assert_eq!(bodies, ["1", "2", "3", "4"]);
    }

    #[tokio::test]
    async fn the_embedded_queue_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(&dir.path().join("q.db"), contract::limits()).unwrap();
        contract::deliveries(&q).await;
        let q = EmbeddedQueue::open(&dir.path().join("b.db"), contract::tight()).unwrap();
        contract::bounds(&q).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_enqueues_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let q = Arc::new(
            EmbeddedQueue::open(
                &dir.path().join("q.db"),
                Limits {
                    max_messages: 100_000,
                    max_bytes: 1 << 30,
                },
            )
            .unwrap(),
        );
        let mut tasks = Vec::new();
        for t in 0..16 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    q.enqueue(msg("f", &format!("{t}-{i}"), 0)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(q.stats().ready, 800);
        assert_eq!(q.lease(1000, &mut |_, _| true).await.unwrap().len(), 800);
    }
}
