//! [`SqliteMessages`]: SQS messages in an SQLite file (WAL, `synchronous=FULL`). One writer
//! thread owns the connection and runs every call: it takes all the calls waiting, runs them
//! in one transaction (one `fsync` for many sends), commits, then answers each. Receives run
//! on it too, so that two receives never take the same message.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::{
    Counts, HandleError, MessageStore, Outgoing, ReceiveRequest, Received, Sent, parse_receipt,
    receipt, token,
};
use crate::{QueueError, now_ms};

/// Most calls committed in one transaction.
const GROUP_MAX: usize = 512;

type Reply<T> = oneshot::Sender<Result<T, QueueError>>;

enum Op {
    Send(Vec<Outgoing>, u64, Reply<Vec<Sent>>),
    Receive(ReceiveRequest, Reply<Vec<Received>>),
    Delete(String, Vec<String>, Reply<Vec<Result<(), HandleError>>>),
    Visibility(
        String,
        Vec<(String, u64)>,
        Reply<Vec<Result<(), HandleError>>>,
    ),
    Purge(String, Reply<u64>),
    Counts(String, Reply<Counts>),
}

/// SQS messages in SQLite. Closed (its writer thread joined) when dropped.
#[derive(Debug)]
pub struct SqliteMessages {
    ops: Option<mpsc::Sender<Op>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

fn storage(e: rusqlite::Error) -> QueueError {
    QueueError::Storage(e.to_string())
}

impl SqliteMessages {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteMessages, QueueError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS sqs_messages (
                 seq INTEGER PRIMARY KEY,
                 queue TEXT NOT NULL,
                 id TEXT NOT NULL,
                 body TEXT NOT NULL,
                 attributes TEXT NOT NULL,
                 group_id TEXT,
                 dedup_id TEXT,
                 sent_ms INTEGER NOT NULL,
                 visible_ms INTEGER NOT NULL,
                 receive_count INTEGER NOT NULL DEFAULT 0,
                 first_receive_ms INTEGER,
                 token TEXT
             );
             CREATE INDEX IF NOT EXISTS sqs_messages_visible ON sqs_messages (queue, visible_ms, seq);
             CREATE INDEX IF NOT EXISTS sqs_messages_sent ON sqs_messages (queue, sent_ms);
             CREATE TABLE IF NOT EXISTS sqs_dedup (
                 queue TEXT NOT NULL,
                 dedup_id TEXT NOT NULL,
                 id TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 expires_ms INTEGER NOT NULL,
                 PRIMARY KEY (queue, dedup_id)
             );",
        )
        .map_err(storage)?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("lamina-sqs-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(|e| QueueError::Storage(e.to_string()))?;
        Ok(SqliteMessages {
            ops: Some(tx),
            writer: Some(writer),
        })
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.ops
            .as_ref()
            .and_then(|ops| ops.send(op(reply)).ok())
            .ok_or_else(|| QueueError::Storage("the message store is closed".into()))?;
        answer
            .await
            .map_err(|_| QueueError::Storage("the message store's writer ended".into()))?
    }
}

impl Drop for SqliteMessages {
    fn drop(&mut self) {
        self.ops.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait::async_trait]
impl MessageStore for SqliteMessages {
    async fn send(&self, batch: Vec<Outgoing>, dedup_ms: u64) -> Result<Vec<Sent>, QueueError> {
        self.call(|r| Op::Send(batch, dedup_ms, r)).await
    }

    async fn receive(&self, request: ReceiveRequest) -> Result<Vec<Received>, QueueError> {
        self.call(|r| Op::Receive(request, r)).await
    }

    async fn delete(
        &self,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError> {
        self.call(|r| Op::Delete(queue.to_string(), receipts, r))
            .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        changes: Vec<(String, u64)>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError> {
        self.call(|r| Op::Visibility(queue.to_string(), changes, r))
            .await
    }

    async fn purge(&self, queue: &str) -> Result<u64, QueueError> {
        self.call(|r| Op::Purge(queue.to_string(), r)).await
    }

    async fn counts(&self, queue: &str) -> Result<Counts, QueueError> {
        self.call(|r| Op::Counts(queue.to_string(), r)).await
    }
}

/// What an op computed inside the transaction, answered once it commits.
enum Done {
    Sent(Vec<Sent>),
    Received(Result<Vec<Received>, u64>),
    Handles(Vec<Result<(), HandleError>>),
    Purged(u64),
    Counted(Counts),
}

fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Op>) {
    let mut receives: u64 = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let now = now_ms();
        let outcome = (|| -> Result<Vec<Done>, rusqlite::Error> {
            let tx = conn.transaction()?;
            let done = batch
                .iter()
                .map(|op| apply(&tx, op, now, &mut receives))
                .collect::<Result<_, _>>()?;
            tx.commit()?;
            Ok(done)
        })();
        match outcome {
            Ok(done) => {
                for (op, done) in batch.into_iter().zip(done) {
                    answer(op, Ok(done));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for op in batch {
                    answer(op, Err(QueueError::Storage(e.clone())));
                }
            }
        }
    }
}

fn answer(op: Op, done: Result<Done, QueueError>) {
    let mismatch = || QueueError::Storage("internal: an answer of the wrong kind".into());
    match op {
        Op::Send(_, _, r) => {
            let _ = r.send(done.and_then(|d| match d {
                Done::Sent(v) => Ok(v),
                _ => Err(mismatch()),
            }));
        }
        Op::Receive(_, r) => {
            let _ = r.send(done.and_then(|d| match d {
                Done::Received(Ok(v)) => Ok(v),
                Done::Received(Err(n)) => Err(QueueError::InFlightLimit(n)),
                _ => Err(mismatch()),
            }));
        }
        Op::Delete(_, _, r) | Op::Visibility(_, _, r) => {
            let _ = r.send(done.and_then(|d| match d {
                Done::Handles(v) => Ok(v),
                _ => Err(mismatch()),
            }));
        }
        Op::Purge(_, r) => {
            let _ = r.send(done.and_then(|d| match d {
                Done::Purged(v) => Ok(v),
                _ => Err(mismatch()),
            }));
        }
        Op::Counts(_, r) => {
            let _ = r.send(done.and_then(|d| match d {
                Done::Counted(v) => Ok(v),
                _ => Err(mismatch()),
            }));
        }
    }
}

fn apply(tx: &Transaction<'_>, op: &Op, now: u64, receives: &mut u64) -> rusqlite::Result<Done> {
    let now_i = now as i64;
    Ok(match op {
        Op::Send(batch, dedup_ms, _) => Done::Sent(
            batch
                .iter()
                .map(|m| send_one(tx, m, now_i, *dedup_ms as i64))
                .collect::<Result<_, _>>()?,
        ),
        Op::Receive(req, _) => Done::Received(receive(tx, req, now_i, receives)?),
        Op::Delete(queue, receipts, _) => Done::Handles(
            receipts
                .iter()
                .map(|h| delete_one(tx, queue, h))
                .collect::<Result<_, _>>()?,
        ),
        Op::Visibility(queue, changes, _) => Done::Handles(
            changes
                .iter()
                .map(|(h, ms)| visibility_one(tx, queue, h, now_i, *ms as i64))
                .collect::<Result<_, _>>()?,
        ),
        Op::Purge(queue, _) => {
            let n = tx.execute("DELETE FROM sqs_messages WHERE queue = ?1", [queue])?;
            tx.execute("DELETE FROM sqs_dedup WHERE queue = ?1", [queue])?;
            Done::Purged(n as u64)
        }
        Op::Counts(queue, _) => Done::Counted(tx.query_row(
            "SELECT
                 COALESCE(SUM(visible_ms <= ?2), 0),
                 COALESCE(SUM(visible_ms > ?2 AND receive_count > 0), 0),
                 COALESCE(SUM(visible_ms > ?2 AND receive_count = 0), 0),
                 MIN(sent_ms)
             FROM sqs_messages WHERE queue = ?1",
            params![queue, now_i],
            |r| {
                Ok(Counts {
                    visible: r.get::<_, i64>(0)? as u64,
                    in_flight: r.get::<_, i64>(1)? as u64,
                    delayed: r.get::<_, i64>(2)? as u64,
                    oldest_sent_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                })
            },
        )?),
    })
}

fn send_one(tx: &Transaction<'_>, m: &Outgoing, now: i64, dedup_ms: i64) -> rusqlite::Result<Sent> {
    if let Some(dedup) = &m.dedup_id {
        let seen: Option<(String, i64)> = tx
            .prepare_cached(
                "SELECT id, seq FROM sqs_dedup WHERE queue = ?1 AND dedup_id = ?2 AND expires_ms > ?3",
            )?
            .query_row(params![m.queue, dedup, now], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((id, seq)) = seen {
            return Ok(Sent {
                id,
                seq,
                duplicate: true,
            });
        }
    }
    tx.prepare_cached(
        "INSERT INTO sqs_messages (queue, id, body, attributes, group_id, dedup_id, sent_ms, visible_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        m.queue,
        m.id,
        m.body,
        m.attributes,
        m.group_id,
        m.dedup_id,
        now,
        now + m.delay_ms as i64
    ])?;
    let seq = tx.last_insert_rowid();
    if let Some(dedup) = &m.dedup_id {
        tx.prepare_cached(
            "INSERT INTO sqs_dedup (queue, dedup_id, id, seq, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (queue, dedup_id) DO UPDATE SET id = excluded.id, seq = excluded.seq,
                 expires_ms = excluded.expires_ms",
        )?
        .execute(params![m.queue, dedup, m.id, seq, now + dedup_ms])?;
    }
    Ok(Sent {
        id: m.id.clone(),
        seq,
        duplicate: false,
    })
}

type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

fn receive(
    tx: &Transaction<'_>,
    req: &ReceiveRequest,
    now: i64,
    receives: &mut u64,
) -> rusqlite::Result<Result<Vec<Received>, u64>> {
    tx.prepare_cached("DELETE FROM sqs_messages WHERE queue = ?1 AND sent_ms < ?2")?
        .execute(params![req.queue, now - req.retention_ms as i64])?;
    let in_flight: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM sqs_messages WHERE queue = ?1 AND visible_ms > ?2 AND receive_count > 0",
        )?
        .query_row(params![req.queue, now], |r| r.get(0))?;
    if in_flight as u64 >= req.max_in_flight {
        return Ok(Err(in_flight as u64));
    }
    let columns =
        "seq, id, body, attributes, group_id, dedup_id, sent_ms, receive_count, first_receive_ms";
    let sql = if req.fifo {
        // In send order, skipping every group that has a message in flight.
        format!(
            "SELECT {columns} FROM sqs_messages m WHERE queue = ?1 AND visible_ms <= ?2
             AND NOT EXISTS (SELECT 1 FROM sqs_messages f WHERE f.queue = ?1
                 AND f.group_id IS m.group_id AND f.visible_ms > ?2 AND f.receive_count > 0)
             ORDER BY seq LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {columns} FROM sqs_messages WHERE queue = ?1 AND visible_ms <= ?2
             ORDER BY visible_ms, seq LIMIT ?3"
        )
    };
    // Taken a few more than asked: some may move to the dead-letter queue instead.
    let rows: Vec<Row> = tx
        .prepare_cached(&sql)?
        .query_map(params![req.queue, now, (req.max * 2) as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (seq, id, body, attributes, group_id, dedup_id, sent_ms, count, first) in rows {
        if out.len() >= req.max {
            break;
        }
        if let Some((max_receives, dlq)) = &req.redrive
            && count >= i64::from(*max_receives)
        {
            tx.prepare_cached(
                "UPDATE sqs_messages SET queue = ?2, visible_ms = ?3, token = NULL WHERE seq = ?1",
            )?
            .execute(params![seq, dlq, now])?;
            continue;
        }
        *receives += 1;
        let t = token(seq, now as u64, *receives);
        tx.prepare_cached(
            "UPDATE sqs_messages SET visible_ms = ?2, receive_count = receive_count + 1,
                 first_receive_ms = COALESCE(first_receive_ms, ?3), token = ?4 WHERE seq = ?1",
        )?
        .execute(params![seq, now + req.visibility_ms as i64, now, t])?;
        out.push(Received {
            seq,
            id,
            body,
            attributes,
            group_id,
            dedup_id,
            sent_ms: sent_ms as u64,
            first_receive_ms: first.unwrap_or(now) as u64,
            receive_count: count as u32 + 1,
            receipt: receipt(seq, &t),
        });
    }
    Ok(Ok(out))
}

/// The current token of the message `seq` of `queue`, and whether it is in flight.
fn current(
    tx: &Transaction<'_>,
    queue: &str,
    seq: i64,
    now: i64,
) -> rusqlite::Result<Option<(Option<String>, bool)>> {
    tx.prepare_cached(
        "SELECT token, visible_ms > ?3 AND receive_count > 0 FROM sqs_messages WHERE seq = ?1 AND queue = ?2",
    )?
    .query_row(params![seq, queue, now], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

fn delete_one(
    tx: &Transaction<'_>,
    queue: &str,
    handle: &str,
) -> rusqlite::Result<Result<(), HandleError>> {
    let Some((seq, token)) = parse_receipt(handle) else {
        return Ok(Err(HandleError::Invalid));
    };
    // Only the latest receive's handle deletes; an older one does nothing, as in SQS.
    tx.prepare_cached("DELETE FROM sqs_messages WHERE seq = ?1 AND queue = ?2 AND token = ?3")?
        .execute(params![seq, queue, token])?;
    Ok(Ok(()))
}

fn visibility_one(
    tx: &Transaction<'_>,
    queue: &str,
    handle: &str,
    now: i64,
    ms: i64,
) -> rusqlite::Result<Result<(), HandleError>> {
    let Some((seq, token)) = parse_receipt(handle) else {
        return Ok(Err(HandleError::Invalid));
    };
    match current(tx, queue, seq, now)? {
        Some((Some(t), true)) if t == token => {
            tx.prepare_cached("UPDATE sqs_messages SET visible_ms = ?2 WHERE seq = ?1")?
                .execute(params![seq, now + ms])?;
            Ok(Ok(()))
        }
        Some((Some(t), false)) if t == token => Ok(Err(HandleError::NotInFlight)),
        _ => Ok(Err(HandleError::Invalid)),
    }
}
