//! The embedded queue's one writer thread: every change goes through it as an [`Op`]; it
//! takes all the changes waiting when it gets to them, applies them in one transaction
//! (group commit, one `fsync` for many), then settles the in-memory index and answers each.

use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{GROUP_MAX, Index, Shared};
use crate::due::Entry;
use crate::{MessageId, NewMessage, QueueError, now_ms};

pub(super) enum Op {
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

/// The writer thread: takes every write waiting, applies them in one transaction, commits
/// (one sync), then updates the index and answers each.
pub(super) fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Op>, shared: &Shared) {
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
            for (_, e) in index.due.remove_queue(&queue) {
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
