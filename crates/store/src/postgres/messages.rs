//! [`PgMessages`]: SQS messages in the cluster's database, so that every node serves every
//! queue. Each call is one transaction; receives take rows with `FOR UPDATE SKIP LOCKED`, so
//! that nodes receiving from one queue never take the same message, and a FIFO queue's
//! receives are serialized by an advisory lock on the queue, so that its groups stay in
//! order. Held to the same contract as the embedded store.

use std::sync::atomic::{AtomicU64, Ordering};

use lamina_queue::QueueError;
use lamina_queue::sqs::{
    Counts, HandleError, MessageStore, Outgoing, ReceiveRequest, Received, Sent, parse_receipt,
    receipt, token,
};
use tokio_postgres::Transaction;

use super::PgPool;

fn storage(e: impl std::fmt::Display) -> QueueError {
    QueueError::Storage(e.to_string())
}

fn now_ms() -> i64 {
    lamina_queue::now_ms() as i64
}

/// SQS messages in PostgreSQL.
#[derive(Debug)]
pub struct PgMessages {
    pool: PgPool,
    receives: AtomicU64,
}

impl PgMessages {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgMessages {
        PgMessages {
            pool,
            receives: AtomicU64::new(0),
        }
    }

    async fn in_tx<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, QueueError> {
        let mut conn = self.pool.get().await.map_err(storage)?;
        let tx = conn.transaction().await.map_err(storage)?;
        let out = f(&tx).await.map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(out)
    }
}

#[async_trait::async_trait]
impl MessageStore for PgMessages {
    async fn send(&self, batch: Vec<Outgoing>, dedup_ms: u64) -> Result<Vec<Sent>, QueueError> {
        let now = now_ms();
        self.in_tx(async |tx| {
            let mut out = Vec::with_capacity(batch.len());
            for m in &batch {
                if let Some(dedup) = &m.dedup_id {
                    // One sender at a time per deduplication id, across nodes.
                    tx.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))",
                        &[&m.queue, dedup],
                    )
                    .await?;
                    let seen = tx
                        .query_opt(
                            "SELECT id, seq FROM sqs_dedup WHERE queue = $1 AND dedup_id = $2 AND expires_ms > $3",
                            &[&m.queue, dedup, &now],
                        )
                        .await?;
                    if let Some(row) = seen {
                        out.push(Sent {
                            id: row.get(0),
                            seq: row.get(1),
                            duplicate: true,
                        });
                        continue;
                    }
                }
                let row = tx
                    .query_one(
                        "INSERT INTO sqs_messages (queue, id, body, attributes, group_id, dedup_id, sent_ms, visible_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
                        &[
                            &m.queue,
                            &m.id,
                            &m.body,
                            &m.attributes,
                            &m.group_id,
                            &m.dedup_id,
                            &now,
                            &(now + m.delay_ms as i64),
                        ],
                    )
                    .await?;
                let seq: i64 = row.get(0);
                if let Some(dedup) = &m.dedup_id {
                    tx.execute(
                        "INSERT INTO sqs_dedup (queue, dedup_id, id, seq, expires_ms) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (queue, dedup_id) DO UPDATE SET id = excluded.id, seq = excluded.seq,
                             expires_ms = excluded.expires_ms",
                        &[&m.queue, dedup, &m.id, &seq, &(now + dedup_ms as i64)],
                    )
                    .await?;
                }
                out.push(Sent {
                    id: m.id.clone(),
                    seq,
                    duplicate: false,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn receive(&self, req: ReceiveRequest) -> Result<Vec<Received>, QueueError> {
        let now = now_ms();
        let receives = &self.receives;
        self.in_tx(async |tx| {
            tx.execute(
                "DELETE FROM sqs_messages WHERE queue = $1 AND sent_ms < $2",
                &[&req.queue, &(now - req.retention_ms as i64)],
            )
            .await?;
            let in_flight: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM sqs_messages WHERE queue = $1 AND visible_ms > $2 AND receive_count > 0",
                    &[&req.queue, &now],
                )
                .await?
                .get(0);
            if in_flight as u64 >= req.max_in_flight {
                return Ok(Err(in_flight as u64));
            }
            let columns = "seq, id, body, attributes, group_id, dedup_id, sent_ms, receive_count, first_receive_ms";
            let rows = if req.fifo {
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('sqs-fifo/' || $1))",
                    &[&req.queue],
                )
                .await?;
                tx.query(
                    &format!(
                        "SELECT {columns} FROM sqs_messages m WHERE queue = $1 AND visible_ms <= $2
                         AND NOT EXISTS (SELECT 1 FROM sqs_messages f WHERE f.queue = $1
                             AND f.group_id IS NOT DISTINCT FROM m.group_id
                             AND f.visible_ms > $2 AND f.receive_count > 0)
                         ORDER BY seq LIMIT $3"
                    ),
                    &[&req.queue, &now, &((req.max * 2) as i64)],
                )
                .await?
            } else {
                tx.query(
                    &format!(
                        "SELECT {columns} FROM sqs_messages WHERE queue = $1 AND visible_ms <= $2
                         ORDER BY visible_ms, seq LIMIT $3 FOR UPDATE SKIP LOCKED"
                    ),
                    &[&req.queue, &now, &((req.max * 2) as i64)],
                )
                .await?
            };
            let mut out = Vec::new();
            for row in rows {
                if out.len() >= req.max {
                    break;
                }
                let seq: i64 = row.get(0);
                let count: i32 = row.get(7);
                if let Some((max_receives, dlq)) = &req.redrive
                    && count as u32 >= *max_receives
                {
                    tx.execute(
                        "UPDATE sqs_messages SET queue = $2, visible_ms = $3, token = NULL WHERE seq = $1",
                        &[&seq, dlq, &now],
                    )
                    .await?;
                    continue;
                }
                let n = receives.fetch_add(1, Ordering::Relaxed) + 1;
                let t = token(seq, now as u64, n);
                tx.execute(
                    "UPDATE sqs_messages SET visible_ms = $2, receive_count = receive_count + 1,
                         first_receive_ms = COALESCE(first_receive_ms, $3), token = $4 WHERE seq = $1",
                    &[&seq, &(now + req.visibility_ms as i64), &now, &t],
                )
                .await?;
                let first: Option<i64> = row.get(8);
                let sent: i64 = row.get(6);
                out.push(Received {
                    seq,
                    id: row.get(1),
                    body: row.get(2),
                    attributes: row.get(3),
                    group_id: row.get(4),
                    dedup_id: row.get(5),
                    sent_ms: sent as u64,
                    first_receive_ms: first.unwrap_or(now) as u64,
                    receive_count: count as u32 + 1,
                    receipt: receipt(seq, &t),
                });
            }
            Ok(Ok(out))
        })
        .await?
        .map_err(QueueError::InFlightLimit)
    }

    async fn delete(
        &self,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError> {
        self.in_tx(async |tx| {
            let mut out = Vec::with_capacity(receipts.len());
            for handle in &receipts {
                let Some((seq, token)) = parse_receipt(handle) else {
                    out.push(Err(HandleError::Invalid));
                    continue;
                };
                // Only the latest receive's handle deletes; an older one does nothing.
                tx.execute(
                    "DELETE FROM sqs_messages WHERE seq = $1 AND queue = $2 AND token = $3",
                    &[&seq, &queue, &token],
                )
                .await?;
                out.push(Ok(()));
            }
            Ok(out)
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        changes: Vec<(String, u64)>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError> {
        let now = now_ms();
        self.in_tx(async |tx| {
            let mut out = Vec::with_capacity(changes.len());
            for (handle, ms) in &changes {
                let Some((seq, token)) = parse_receipt(handle) else {
                    out.push(Err(HandleError::Invalid));
                    continue;
                };
                let row = tx
                    .query_opt(
                        "SELECT token, visible_ms > $3 AND receive_count > 0 FROM sqs_messages
                         WHERE seq = $1 AND queue = $2 FOR UPDATE",
                        &[&seq, &queue, &now],
                    )
                    .await?;
                let current: Option<(Option<String>, bool)> = row.map(|r| (r.get(0), r.get(1)));
                out.push(match current {
                    Some((Some(t), true)) if t == token => {
                        tx.execute(
                            "UPDATE sqs_messages SET visible_ms = $2 WHERE seq = $1",
                            &[&seq, &(now + *ms as i64)],
                        )
                        .await?;
                        Ok(())
                    }
                    Some((Some(t), false)) if t == token => Err(HandleError::NotInFlight),
                    _ => Err(HandleError::Invalid),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn purge(&self, queue: &str) -> Result<u64, QueueError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM sqs_messages WHERE queue = $1", &[&queue])
                .await?;
            tx.execute("DELETE FROM sqs_dedup WHERE queue = $1", &[&queue])
                .await?;
            Ok(n)
        })
        .await
    }

    async fn counts(&self, queue: &str) -> Result<Counts, QueueError> {
        let now = now_ms();
        let conn = self.pool.get().await.map_err(storage)?;
        let row = conn
            .query_one(
                "SELECT
                     COUNT(*) FILTER (WHERE visible_ms <= $2),
                     COUNT(*) FILTER (WHERE visible_ms > $2 AND receive_count > 0),
                     COUNT(*) FILTER (WHERE visible_ms > $2 AND receive_count = 0),
                     MIN(sent_ms)
                 FROM sqs_messages WHERE queue = $1",
                &[&queue, &now],
            )
            .await
            .map_err(storage)?;
        let n = |i: usize| row.get::<_, i64>(i) as u64;
        Ok(Counts {
            visible: n(0),
            in_flight: n(1),
            delayed: n(2),
            oldest_sent_ms: row.get::<_, Option<i64>>(3).map(|v| v as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_postgres_messages_keep_the_contract() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        lamina_queue::sqs::contract::messages(&PgMessages::new(pool)).await;
    }
}
