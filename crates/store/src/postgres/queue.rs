//! [`PgQueue`]: the asynchronous event queue of a cluster in PostgreSQL, with the
//! [`Queue`] contract of the embedded one (the same tests hold both to it).
//!
//! - **Accepting**: an enqueue returns once its row is committed, on any node. Enqueues
//!   waiting together are committed together by one writer task (group commit: one sync of
//!   the database's log serves many), which notifies [`QUEUE_CHANNEL`] in the same
//!   statement, so that every node's dispatcher wakes.
//! - **Leasing**: a node takes due rows with `FOR UPDATE SKIP LOCKED` (nodes never wait on
//!   each other's rows) and marks them leased by itself until a lease time; while it holds
//!   them, it renews its leases three times per lease ([`LEASE`] by default). A node that
//!   dies stops renewing, and its rows become due again when their lease runs out: delivery
//!   is at least once, across nodes.
//! - **Figures**: [`Queue::stats`] and [`Queue::next_due_ms`] are answered from this node's
//!   view, changed by its own operations at once and read whole from the database every
//!   [`REFRESH_EVERY`] (others' operations, due times passing); the bounds are checked
//!   against that view, so a cluster may overshoot them by what other nodes accepted within
//!   one refresh.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use lamina_queue::{
    Clock, FailedMessage, Limits, Message, MessageId, NewMessage, Queue, QueueError, QueueStats,
};
use tokio::sync::Notify;

use super::PgPool;

/// The channel enqueues and retries notify.
pub const QUEUE_CHANNEL: &str = "lamina_queue";
/// How long a lease holds without renewal, by default.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a node reads the queue's figures whole.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// A cluster's event queue.
#[derive(Clone)]
pub struct PgQueue {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Enqueues waiting for the writer, which commits them together.
    writes: tokio::sync::mpsc::UnboundedSender<Pending>,
    node: String,
    limits: Limits,
    lease: Duration,
    view: Mutex<View>,
    changed: Notify,
    clock: Clock,
}

/// An enqueue waiting for its commit.
type Pending = (
    NewMessage,
    i64,
    tokio::sync::oneshot::Sender<Result<MessageId, QueueError>>,
);

/// Most enqueues committed together.
const BATCH: usize = 512;

/// Commits waiting enqueues, as many as are waiting in one statement (group commit: one
/// sync of the database's log serves them all), until every sender is gone.
async fn write(pool: PgPool, mut pending: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match pending.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let result = commit(&pool, &batch).await;
        for (i, (_, _, done)) in batch.into_iter().enumerate() {
            let _ = done.send(match &result {
                Ok(ids) => Ok(ids[i]),
                Err(e) => Err(QueueError::Storage(e.to_string())),
            });
        }
    }
}

async fn commit(pool: &PgPool, batch: &[Pending]) -> Result<Vec<i64>, QueueError> {
    let conn = pool.get().await.map_err(storage)?;
    // Ids first, so that each enqueue learns its own whatever order rows are written in.
    let ids: Vec<i64> = conn
        .query(
            "SELECT nextval('queue_messages_id_seq') FROM generate_series(1, $1)",
            &[&(batch.len() as i32)],
        )
        .await
        .map_err(storage)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (mut queues, mut bodies, mut attributes, mut due, mut at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (m, now, _) in batch {
        queues.push(m.queue.as_str());
        bodies.push(m.body.as_slice());
        attributes.push(m.attributes.as_slice());
        due.push(m.due_ms as i64);
        at.push(*now);
    }
    conn.execute(
        "WITH made AS (
             INSERT INTO queue_messages (id, queue, body, attributes, due_ms, enqueued_ms)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BYTEA[], $4::BYTEA[],
                                  $5::BIGINT[], $6::BIGINT[])
             RETURNING 1
         )
         SELECT pg_notify($7, '') FROM (SELECT 1 FROM made LIMIT 1) AS one",
        &[
            &ids,
            &queues,
            &bodies,
            &attributes,
            &due,
            &at,
            &QUEUE_CHANNEL,
        ],
    )
    .await
    .map_err(storage)?;
    Ok(ids)
}

/// This node's view of the queue's figures.
#[derive(Debug, Default, Clone, Copy)]
struct View {
    ready: usize,
    delayed: usize,
    leased: usize,
    bytes: u64,
    failed: usize,
    enqueued: u64,
    refused: u64,
    next_due_ms: Option<u64>,
}

impl std::fmt::Debug for PgQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgQueue")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> QueueError {
    QueueError::Storage(e.to_string())
}

impl PgQueue {
    /// The queue on `pool` (migrated), for the node `node`, within `limits`, its leases
    /// holding `lease` without renewal; starts the tasks that renew this node's leases, read
    /// the figures, and wake the dispatcher on other nodes' enqueues (`url`'s
    /// notifications). They end with the queue.
    pub async fn open(
        pool: PgPool,
        url: &str,
        node: &str,
        limits: Limits,
        lease: Duration,
    ) -> Result<PgQueue, QueueError> {
        let (writes, pending) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write(pool.clone(), pending));
        let q = PgQueue {
            inner: Arc::new(Inner {
                writes,
                pool,
                node: node.to_string(),
                limits,
                lease: lease.max(Duration::from_secs(1)),
                view: Mutex::new(View::default()),
                changed: Notify::new(),
                clock: Clock::system(),
            }),
        };
        q.refresh().await?;
        let weak = Arc::downgrade(&q.inner);
        let renew_every = q.inner.lease / 3;
        tokio::spawn(async move {
            let mut renew_at = tokio::time::Instant::now() + renew_every;
            loop {
                tokio::time::sleep(REFRESH_EVERY.min(renew_every)).await;
                let Some(inner) = weak.upgrade() else { return };
                let q = PgQueue { inner };
                if tokio::time::Instant::now() >= renew_at {
                    renew_at += renew_every;
                    if let Err(e) = q.renew().await {
                        tracing::warn!(error = %e, "could not renew this node's event leases");
                    }
                }
                if let Err(e) = q.refresh().await {
                    tracing::debug!(error = %e, "could not read the event queue's figures");
                }
                // Due times pass and leases run out without a notification.
                q.inner.changed.notify_waiters();
            }
        });
        let weak = Arc::downgrade(&q.inner);
        let mut wakes = super::changes::listen_channel(url, QUEUE_CHANNEL);
        tokio::spawn(async move {
            while wakes.recv().await.is_some() {
                let Some(inner) = weak.upgrade() else { return };
                inner.changed.notify_waiters();
            }
        });
        Ok(q)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms() as i64
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.inner.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.inner.pool.get().await.map_err(storage)
    }

    /// Reads the figures whole.
    async fn refresh(&self) -> Result<(), QueueError> {
        let now = self.now();
        let row = self
            .conn()
            .await?
            .query_one(
                "SELECT
                     count(*) FILTER (WHERE due_ms <= $1 AND (lease_until IS NULL OR lease_until < $1)),
                     count(*) FILTER (WHERE due_ms > $1 AND lease_until IS NULL),
                     count(*) FILTER (WHERE lease_until >= $1),
                     COALESCE(sum(length(body) + length(attributes)), 0)::BIGINT,
                     min(due_ms) FILTER (WHERE lease_until IS NULL OR lease_until < $1),
                     (SELECT count(*) FROM queue_failed)
                 FROM queue_messages",
                &[&now],
            )
            .await
            .map_err(storage)?;
        let mut v = self.view();
        v.ready = row.get::<_, i64>(0) as usize;
        v.delayed = row.get::<_, i64>(1) as usize;
        v.leased = row.get::<_, i64>(2) as usize;
        v.bytes = row.get::<_, i64>(3) as u64;
        v.next_due_ms = row.get::<_, Option<i64>>(4).map(|d| d.max(0) as u64);
        v.failed = row.get::<_, i64>(5) as usize;
        Ok(())
    }

    /// Pushes this node's leases forward.
    async fn renew(&self) -> Result<(), QueueError> {
        let until = self.now() + self.inner.lease.as_millis() as i64;
        self.conn()
            .await?
            .execute(
                "UPDATE queue_messages SET lease_until = $2
                 WHERE leased_by = $1 AND lease_until IS NOT NULL",
                &[&self.inner.node, &until],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    fn row_message(row: &tokio_postgres::Row) -> Message {
        Message {
            id: row.get("id"),
            queue: row.get("queue"),
            body: row.get("body"),
            attributes: row.get("attributes"),
            attempts: row.get::<_, i32>("attempts") as u32,
            enqueued_ms: row.get::<_, i64>("enqueued_ms") as u64,
        }
    }
}

#[async_trait::async_trait]
impl Queue for PgQueue {
    async fn enqueue(&self, message: NewMessage) -> Result<MessageId, QueueError> {
        let size = (message.body.len() + message.attributes.len()) as u64;
        {
            let mut v = self.view();
            let held = v.ready + v.delayed + v.leased;
            let max = self.inner.limits;
            if held + 1 > max.max_messages || v.bytes + size > max.max_bytes {
                v.refused += 1;
                return Err(QueueError::Full {
                    messages: held,
                    bytes: v.bytes,
                    max_messages: max.max_messages,
                    max_bytes: max.max_bytes,
                });
            }
        }
        let now = self.now();
        let due_ms = message.due_ms;
        let (done, committed) = tokio::sync::oneshot::channel();
        self.inner
            .writes
            .send((message, now, done))
            .map_err(|_| QueueError::Closed)?;
        let id = committed.await.map_err(|_| QueueError::Closed)??;
        let mut v = self.view();
        if due_ms as i64 <= now {
            v.ready += 1;
        } else {
            v.delayed += 1;
        }
        v.bytes += size;
        v.enqueued += 1;
        v.next_due_ms = Some(v.next_due_ms.map_or(due_ms, |d| d.min(due_ms)));
        drop(v);
        self.inner.changed.notify_waiters();
        Ok(id)
    }

    async fn lease(
        &self,
        max: usize,
        take: &mut (dyn for<'q> FnMut(MessageId, &'q str) -> bool + Send),
    ) -> Result<Vec<Message>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(storage)?;
        // Candidates, oldest due first; rows another node is leasing right now are skipped.
        let candidates = tx
            .query(
                "SELECT id, queue FROM queue_messages
                 WHERE due_ms <= $1 AND (lease_until IS NULL OR lease_until < $1)
                 ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&now, &((max * 4).max(64) as i64)],
            )
            .await
            .map_err(storage)?;
        let mut refused: std::collections::HashSet<String> = Default::default();
        let mut chosen: Vec<i64> = Vec::new();
        for row in &candidates {
            if chosen.len() >= max {
                break;
            }
            let (id, queue): (i64, String) = (row.get(0), row.get(1));
            if refused.contains(&queue) {
                continue;
            }
            if take(id, &queue) {
                chosen.push(id);
            } else {
                refused.insert(queue);
            }
        }
        let until = now + self.inner.lease.as_millis() as i64;
        let rows = tx
            .query(
                "UPDATE queue_messages SET leased_by = $2, lease_until = $3
                 WHERE id = ANY($1)
                 RETURNING id, queue, body, attributes, attempts, enqueued_ms, due_ms",
                &[&chosen, &self.inner.node, &until],
            )
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        let mut leased: Vec<Message> = rows.iter().map(PgQueue::row_message).collect();
        // In the order they were chosen.
        leased.sort_by_key(|m| chosen.iter().position(|c| *c == m.id));
        let mut v = self.view();
        v.ready = v.ready.saturating_sub(leased.len());
        v.leased += leased.len();
        Ok(leased)
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.view().next_due_ms
    }

    async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    async fn ack(&self, id: MessageId) -> Result<(), QueueError> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "DELETE FROM queue_messages WHERE id = $1
                 RETURNING length(body) + length(attributes)",
                &[&id],
            )
            .await
            .map_err(storage)?
            .ok_or(QueueError::NotFound(id))?;
        let mut v = self.view();
        v.leased = v.leased.saturating_sub(1);
        v.bytes = v.bytes.saturating_sub(row.get::<_, i32>(0) as u64);
        Ok(())
    }

    async fn retry_later(
        &self,
        id: MessageId,
        due_ms: u64,
        attempts: u32,
    ) -> Result<(), QueueError> {
        let changed = self
            .conn()
            .await?
            .execute(
                "WITH moved AS (
                     UPDATE queue_messages
                     SET due_ms = $2, attempts = $3, leased_by = NULL, lease_until = NULL
                     WHERE id = $1 RETURNING id
                 )
                 SELECT pg_notify($4, '') FROM moved",
                &[&id, &(due_ms as i64), &(attempts as i32), &QUEUE_CHANNEL],
            )
            .await
            .map_err(storage)?;
        if changed == 0 {
            return Err(QueueError::NotFound(id));
        }
        let mut v = self.view();
        v.leased = v.leased.saturating_sub(1);
        if due_ms as i64 <= self.now() {
            v.ready += 1;
        } else {
            v.delayed += 1;
        }
        v.next_due_ms = Some(v.next_due_ms.map_or(due_ms, |d| d.min(due_ms)));
        drop(v);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn dead_letter(
        &self,
        id: MessageId,
        attempts: u32,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(storage)?;
        let moved = tx
            .query_opt(
                "WITH gone AS (DELETE FROM queue_messages WHERE id = $1 RETURNING *)
                 INSERT INTO queue_failed
                     (id, queue, body, attributes, attempts, enqueued_ms, failed_ms, reason)
                 SELECT id, queue, body, attributes, $2, enqueued_ms, $3, $4 FROM gone
                 RETURNING length(body) + length(attributes)",
                &[&id, &(attempts as i32), &self.now(), &reason],
            )
            .await
            .map_err(storage)?
            .ok_or(QueueError::NotFound(id))?;
        tx.commit().await.map_err(storage)?;
        let mut v = self.view();
        v.leased = v.leased.saturating_sub(1);
        v.bytes = v.bytes.saturating_sub(moved.get::<_, i32>(0) as u64);
        v.failed += 1;
        Ok(())
    }

    async fn failed(&self, queue: Option<&str>) -> Result<Vec<FailedMessage>, QueueError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT id, queue, body, attributes, attempts, enqueued_ms, failed_ms, reason
                 FROM queue_failed WHERE $1::TEXT IS NULL OR queue = $1
                 ORDER BY failed_ms, id",
                &[&queue],
            )
            .await
            .map_err(storage)?;
        Ok(rows
            .iter()
            .map(|r| FailedMessage {
                message: PgQueue::row_message(r),
                failed_ms: r.get::<_, i64>("failed_ms") as u64,
                reason: r.get("reason"),
            })
            .collect())
    }

    async fn replay(&self, id: MessageId) -> Result<MessageId, QueueError> {
        let now = self.now();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(storage)?;
        let row = tx
            .query_opt(
                "WITH gone AS (DELETE FROM queue_failed WHERE id = $1 RETURNING *)
                 INSERT INTO queue_messages (queue, body, attributes, due_ms, enqueued_ms)
                 SELECT queue, body, attributes, $2, $2 FROM gone
                 RETURNING id, length(body) + length(attributes)",
                &[&id, &now],
            )
            .await
            .map_err(storage)?
            .ok_or(QueueError::NotFound(id))?;
        tx.execute("SELECT pg_notify($1, '')", &[&QUEUE_CHANNEL])
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        let mut v = self.view();
        v.failed = v.failed.saturating_sub(1);
        v.ready += 1;
        v.bytes += row.get::<_, i32>(1) as u64;
        v.next_due_ms = Some(v.next_due_ms.map_or(now as u64, |d| d.min(now as u64)));
        drop(v);
        self.inner.changed.notify_waiters();
        Ok(row.get(0))
    }

    async fn purge(&self, queue: &str) -> Result<(), QueueError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(storage)?;
        tx.execute("DELETE FROM queue_messages WHERE queue = $1", &[&queue])
            .await
            .map_err(storage)?;
        tx.execute("DELETE FROM queue_failed WHERE queue = $1", &[&queue])
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        drop(conn);
        self.refresh().await
    }

    fn stats(&self) -> QueueStats {
        let v = *self.view();
        QueueStats {
            ready: v.ready,
            delayed: v.delayed,
            leased: v.leased,
            bytes: v.bytes,
            max_messages: self.inner.limits.max_messages,
            max_bytes: self.inner.limits.max_bytes,
            failed: v.failed,
            enqueued: v.enqueued,
            refused: v.refused,
        }
    }

    fn clock(&self) -> &Clock {
        &self.inner.clock
    }
}

#[cfg(test)]
mod tests {
    use lamina_queue::contract;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_postgres_queue_keeps_the_contract() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let q = PgQueue::open(pool, &pg.url(), "node-a", contract::limits(), LEASE)
            .await
            .unwrap();
        contract::deliveries(&q).await;
        let pg2 = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg2.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let q = PgQueue::open(pool, &pg2.url(), "node-a", contract::tight(), LEASE)
            .await
            .unwrap();
        contract::bounds(&q).await;
    }

    /// A message leased by a node that stops renewing is due again, for another node, once
    /// its lease runs out; one leased by a live node is not.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_dead_nodes_leases_run_out() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let a = PgQueue::open(pool.clone(), &pg.url(), "a", contract::limits(), LEASE)
            .await
            .unwrap();
        let b = PgQueue::open(pool.clone(), &pg.url(), "b", contract::limits(), LEASE)
            .await
            .unwrap();
        let id = a
            .enqueue(NewMessage {
                queue: "f".into(),
                body: b"event".to_vec(),
                attributes: b"{}".to_vec(),
                due_ms: 0,
            })
            .await
            .unwrap();
        assert_eq!(a.lease(10, &mut |_, _| true).await.unwrap().len(), 1);
        assert!(
            b.lease(10, &mut |_, _| true).await.unwrap().is_empty(),
            "a leased message is not leased by another node"
        );
        // As if `a` died long ago: its lease is in the past.
        pool.get()
            .await
            .unwrap()
            .execute(
                "UPDATE queue_messages SET lease_until = 0 WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let again = b.lease(10, &mut |_, _| true).await.unwrap();
        assert_eq!((again.len(), again[0].id), (1, id));
        b.ack(id).await.unwrap();
    }
}
