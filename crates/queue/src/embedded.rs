//! The embedded queue: SQLite with group commit through one writer thread, and an in-memory
//! index of due and leased messages.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Notify, oneshot};

use crate::{
    FailedMessage, Limits, Message, MessageId, NewMessage, Queue, QueueError, QueueStats, now_ms,
};

/// Most writes committed in one transaction.
const GROUP_MAX: usize = 1024;

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
struct Shared {
    // Short critical sections only.
    index: Mutex<Index>,
    reader: Mutex<Connection>,
    changed: Notify,
    limits: Limits,
    enqueued: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Clone)]
struct Entry {
    queue: String,
    size: u64,
    attempts: u32,
    enqueued_ms: u64,
}

/// Messages not leased, per queue, by due time: a lease looks at the head of each queue, so
/// a long queue whose consumer has no room costs nothing.
#[derive(Debug, Default)]
struct DueSet {
    by_queue: HashMap<String, BTreeMap<(u64, MessageId), Entry>>,
    len: usize,
}

impl DueSet {
    fn insert(&mut self, due: u64, id: MessageId, entry: Entry) {
        self.by_queue
            .entry(entry.queue.clone())
            .or_default()
            .insert((due, id), entry);
        self.len += 1;
    }

    fn remove(&mut self, queue: &str, key: (u64, MessageId)) -> Option<Entry> {
        let map = self.by_queue.get_mut(queue)?;
        let entry = map.remove(&key)?;
        if map.is_empty() {
            self.by_queue.remove(queue);
        }
        self.len -= 1;
        Some(entry)
    }

    fn remove_queue(&mut self, queue: &str) -> Vec<Entry> {
        let gone: Vec<Entry> = self
            .by_queue
            .remove(queue)
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        self.len -= gone.len();
        gone
    }

    fn first_due(&self) -> Option<u64> {
        self.by_queue
            .values()
            .filter_map(|m| m.first_key_value().map(|((due, _), _)| *due))
            .min()
    }

    fn ready(&self, now: u64) -> usize {
        self.by_queue
            .values()
            .map(|m| m.range(..(now + 1, MessageId::MIN)).count())
            .sum()
    }
}

#[derive(Debug, Default)]
struct Index {
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

enum Op {
    Enqueue {
        message: NewMessage,
        enqueued_ms: u64,
        reply: oneshot::Sender<Result<MessageId, QueueError>>,
    },
    Ack {
        id: MessageId,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
    Retry {
        id: MessageId,
        due_ms: u64,
        attempts: u32,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
    DeadLetter {
        id: MessageId,
        attempts: u32,
        reason: String,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
    Replay {
        id: MessageId,
        reply: oneshot::Sender<Result<MessageId, QueueError>>,
    },
    Purge {
        queue: String,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
}

fn storage(e: rusqlite::Error) -> QueueError {
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

impl EmbeddedQueue {
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

/// The writer thread: takes every write waiting, applies them in one transaction, commits
/// (one sync), then updates the index and answers each.
fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Op>, shared: &Shared) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let outcome = (|| -> Result<Vec<Applied>, rusqlite::Error> {
            let tx = conn.transaction()?;
            let applied = batch
                .iter()
                .map(|op| apply(&tx, op))
                .collect::<Result<_, _>>()?;
            tx.commit()?;
            Ok(applied)
        })();
        let mut woke = false;
        match outcome {
            Ok(applied) => {
                let mut index = shared.index.lock().unwrap_or_else(|p| p.into_inner());
                let mut replies = Vec::with_capacity(batch.len());
                for (op, done) in batch.into_iter().zip(applied) {
                    woke |= matches!(
                        op,
                        Op::Enqueue { .. } | Op::Retry { .. } | Op::Replay { .. }
                    );
                    replies.push(settle(&mut index, op, done));
                }
                drop(index);
                for reply in replies {
                    reply();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "queue write failed");
                let mut index = shared.index.lock().unwrap_or_else(|p| p.into_inner());
                for op in batch {
                    fail(&mut index, op, &e.to_string());
                }
            }
        }
        if woke {
            shared.changed.notify_one();
        }
    }
}

/// What one write did in the database.
enum Applied {
    Enqueued(MessageId),
    /// Rows changed (0: no such message).
    Changed(usize),
    Replayed(Option<(MessageId, Entry)>),
    Purged,
}

fn apply(tx: &rusqlite::Transaction<'_>, op: &Op) -> Result<Applied, rusqlite::Error> {
    Ok(match op {
        Op::Enqueue {
            message,
            enqueued_ms,
            ..
        } => {
            tx.prepare_cached(
                "INSERT INTO messages (queue, body, attributes, due_ms, attempts, enqueued_ms)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )?
            .execute(params![
                message.queue,
                message.body,
                message.attributes,
                message.due_ms as i64,
                *enqueued_ms as i64
            ])?;
            Applied::Enqueued(tx.last_insert_rowid())
        }
        Op::Ack { id, .. } => Applied::Changed(
            tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
                .execute([id])?,
        ),
        Op::Retry {
            id,
            due_ms,
            attempts,
            ..
        } => Applied::Changed(
            tx.prepare_cached("UPDATE messages SET due_ms = ?2, attempts = ?3 WHERE id = ?1")?
                .execute(params![id, *due_ms as i64, attempts])?,
        ),
        Op::DeadLetter {
            id,
            attempts,
            reason,
            ..
        } => {
            let moved = tx
                .prepare_cached(
                    "INSERT INTO failed (id, queue, body, attributes, attempts, enqueued_ms,
                                         failed_ms, reason)
                     SELECT id, queue, body, attributes, ?4, enqueued_ms, ?2, ?3
                     FROM messages WHERE id = ?1",
                )?
                .execute(params![id, now_ms() as i64, reason, attempts])?;
            tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
                .execute([id])?;
            Applied::Changed(moved)
        }
        Op::Replay { id, .. } => {
            let row = tx
                .prepare_cached(
                    "SELECT queue, length(body) + length(attributes) FROM failed WHERE id = ?1",
                )?
                .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()?;
            match row {
                None => Applied::Replayed(None),
                Some((queue, size)) => {
                    let now = now_ms();
                    tx.prepare_cached(
                        "INSERT INTO messages (queue, body, attributes, due_ms, attempts,
                                               enqueued_ms)
                         SELECT queue, body, attributes, ?2, 0, ?2 FROM failed WHERE id = ?1",
                    )?
                    .execute(params![id, now as i64])?;
                    let new_id = tx.last_insert_rowid();
                    tx.prepare_cached("DELETE FROM failed WHERE id = ?1")?
                        .execute([id])?;
                    Applied::Replayed(Some((
                        new_id,
                        Entry {
                            queue,
                            size: size as u64,
                            attempts: 0,
                            enqueued_ms: now,
                        },
                    )))
                }
            }
        }
        Op::Purge { queue, .. } => {
            tx.prepare_cached("DELETE FROM messages WHERE queue = ?1")?
                .execute([queue])?;
            tx.prepare_cached("DELETE FROM failed WHERE queue = ?1")?
                .execute([queue])?;
            Applied::Purged
        }
    })
}

/// Brings the index in line with a committed write; returns how to answer it.
fn settle(index: &mut Index, op: Op, done: Applied) -> Box<dyn FnOnce() + Send> {
    match (op, done) {
        (
            Op::Enqueue {
                message,
                enqueued_ms,
                reply,
            },
            Applied::Enqueued(id),
        ) => {
            let size = (message.body.len() + message.attributes.len()) as u64;
            index.reserved -= 1;
            index.reserved_bytes -= size;
            index.bytes += size;
            index.due.insert(
                message.due_ms,
                id,
                Entry {
                    queue: message.queue,
                    size,
                    attempts: 0,
                    enqueued_ms,
                },
            );
            Box::new(move || {
                let _ = reply.send(Ok(id));
            })
        }
        (Op::Ack { id, reply }, Applied::Changed(n)) => {
            if let Some(e) = index.leased.remove(&id) {
                index.bytes -= e.size;
            }
            answer(reply, n, id)
        }
        (
            Op::Retry {
                id,
                due_ms,
                attempts,
                reply,
            },
            Applied::Changed(n),
        ) => {
            if let Some(mut e) = index.leased.remove(&id) {
                if n > 0 {
                    e.attempts = attempts;
                    index.due.insert(due_ms, id, e);
                } else {
                    index.bytes -= e.size;
                }
            }
            answer(reply, n, id)
        }
        (Op::DeadLetter { id, reply, .. }, Applied::Changed(n)) => {
            if let Some(e) = index.leased.remove(&id) {
                index.bytes -= e.size;
            }
            index.failed += n;
            answer(reply, n, id)
        }
        (Op::Replay { id, reply }, Applied::Replayed(found)) => match found {
            Some((new_id, entry)) => {
                index.failed = index.failed.saturating_sub(1);
                index.bytes += entry.size;
                index.due.insert(entry.enqueued_ms, new_id, entry);
                Box::new(move || {
                    let _ = reply.send(Ok(new_id));
                })
            }
            None => Box::new(move || {
                let _ = reply.send(Err(QueueError::NotFound(id)));
            }),
        },
        (Op::Purge { queue, reply }, Applied::Purged) => {
            for e in index.due.remove_queue(&queue) {
                index.bytes -= e.size;
            }
            Box::new(move || {
                let _ = reply.send(Ok(()));
            })
        }
        // Each op is applied into its own kind of outcome.
        (op, _) => {
            let why = "queue write and outcome do not match".to_string();
            fail(index, op, &why);
            Box::new(|| {})
        }
    }
}

fn answer(
    reply: oneshot::Sender<Result<(), QueueError>>,
    changed: usize,
    id: MessageId,
) -> Box<dyn FnOnce() + Send> {
    Box::new(move || {
        let _ = reply.send(if changed > 0 {
            Ok(())
        } else {
            Err(QueueError::NotFound(id))
        });
    })
}

/// Answers a write that could not be committed.
fn fail(index: &mut Index, op: Op, why: &str) {
    let err = || QueueError::Storage(why.to_string());
    match op {
        Op::Enqueue { message, reply, .. } => {
            index.reserved -= 1;
            index.reserved_bytes -= (message.body.len() + message.attributes.len()) as u64;
            let _ = reply.send(Err(err()));
        }
        Op::Replay { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Op::Ack { reply, .. }
        | Op::Retry { reply, .. }
        | Op::DeadLetter { reply, .. }
        | Op::Purge { reply, .. } => {
            let _ = reply.send(Err(err()));
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
            let mut chosen = Vec::new();
            // The head of each queue, oldest due first, until its consumer has no room.
            'queues: for (queue, map) in &index.due.by_queue {
                for &(due, id) in map.range(..(now + 1, MessageId::MIN)).map(|(k, _)| k) {
                    if chosen.len() >= max {
                        break 'queues;
                    }
                    if !take(id, queue) {
                        break;
                    }
                    chosen.push((queue.clone(), (due, id)));
                }
            }
            chosen
                .into_iter()
                .filter_map(|(queue, key)| {
                    let entry = index.due.remove(&queue, key)?;
                    index.leased.insert(key.1, entry.clone());
                    Some((key.1, entry))
                })
                .collect()
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
            let rows = stmt
                .query_map([queue], |r| {
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
                })
                .map_err(storage)?;
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

    fn limits() -> Limits {
        Limits {
            max_messages: 1000,
            max_bytes: 1 << 20,
        }
    }

    fn msg(queue: &str, body: &str, due_ms: u64) -> NewMessage {
        NewMessage {
            queue: queue.into(),
            body: body.as_bytes().to_vec(),
            attributes: b"{}".to_vec(),
            due_ms,
        }
    }

    #[tokio::test]
    async fn enqueue_lease_ack_and_retry() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(&dir.path().join("q.db"), limits()).unwrap();
        let a = q.enqueue(msg("f", "a", 0)).await.unwrap();
        let b = q.enqueue(msg("f", "b", 0)).await.unwrap();
        let later = q
            .enqueue(msg("f", "later", now_ms() + 60_000))
            .await
            .unwrap();
        assert!(a < b && b < later);
        let leased = q.lease(10, &mut |_, _| true).await.unwrap();
        assert_eq!(
            leased.iter().map(|m| m.body.as_slice()).collect::<Vec<_>>(),
            [b"a".as_slice(), b"b"]
        );
        assert!(
            q.lease(10, &mut |_, _| true).await.unwrap().is_empty(),
            "leased ones are not leased again"
        );
        assert_eq!(q.stats().leased, 2);
        assert_eq!(q.stats().delayed, 1);
        q.ack(a).await.unwrap();
        q.retry_later(b, 0, 1).await.unwrap();
        let again = q.lease(10, &mut |_, _| true).await.unwrap();
        assert_eq!((again.len(), again[0].id, again[0].attempts), (1, b, 1));
        q.dead_letter(b, 2, "RetriesExhausted").await.unwrap();
        let failed = q.failed(Some("f")).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].message.attempts, 2);
        assert_eq!(
            (failed[0].message.id, failed[0].reason.as_str()),
            (b, "RetriesExhausted")
        );
        assert_eq!(q.stats().failed, 1);
        let replayed = q.replay(b).await.unwrap();
        assert!(replayed > later);
        let r = q.lease(10, &mut |_, _| true).await.unwrap();
        assert_eq!(
            (r[0].id, r[0].body.as_slice(), r[0].attempts),
            (replayed, b"b".as_slice(), 0)
        );
        assert!(matches!(q.ack(9999).await, Err(QueueError::NotFound(9999))));
        // A consumer takes only what it has room for; the rest stays due, in order.
        q.ack(replayed).await.unwrap();
        for (queue, body) in [("f", "f1"), ("g", "g1"), ("f", "f2")] {
            q.enqueue(msg(queue, body, 0)).await.unwrap();
        }
        let only_g = q.lease(10, &mut |_, queue| queue == "g").await.unwrap();
        assert_eq!(
            only_g.iter().map(|m| m.body.as_slice()).collect::<Vec<_>>(),
            [b"g1".as_slice()]
        );
        let mut room = 1;
        let one_f = q
            .lease(10, &mut |_, _| {
                room -= 1;
                room >= 0
            })
            .await
            .unwrap();
        assert_eq!(one_f[0].body, b"f1");
        assert_eq!(q.stats().ready, 1);
        assert!(q.failed(None).await.unwrap().is_empty());
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
    async fn the_bounds_are_enforced_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(
            &dir.path().join("q.db"),
            Limits {
                max_messages: 2,
                max_bytes: 100,
            },
        )
        .unwrap();
        q.enqueue(msg("f", "x", 0)).await.unwrap();
        let big = "y".repeat(200);
        assert!(matches!(
            q.enqueue(msg("f", &big, 0)).await,
            Err(QueueError::Full { max_bytes: 100, .. })
        ));
        q.enqueue(msg("f", "z", 0)).await.unwrap();
        assert!(matches!(
            q.enqueue(msg("f", "w", 0)).await,
            Err(QueueError::Full { messages: 2, .. })
        ));
        let s = q.stats();
        assert_eq!((s.ready, s.refused, s.max_messages), (2, 2, 2));
        q.purge("f").await.unwrap();
        assert_eq!(q.stats().ready, 0);
        q.enqueue(msg("f", "again", 0)).await.unwrap();
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
