//! A durable queue of opaque messages, independent of what they mean: [`Queue`] is the narrow
//! interface (enqueue, lease, ack, retry later, dead-letter, and the failed messages kept for
//! inspection and replay), so that a distributed queue can replace the embedded one.
//!
//! [`EmbeddedQueue`] keeps messages in an SQLite database in WAL mode with
//! `synchronous=FULL`: [`Queue::enqueue`] returns only once the message is on disk, synced.
//! One writer thread does every write; it takes all the writes waiting when it gets to them
//! and commits them in one transaction (group commit), so one `fsync` serves many
//! concurrent enqueues. Which messages are due, and which are leased, is kept in memory;
//! leases are not stored, so after a crash every message not acknowledged is due again:
//! delivery is at least once.
//!
//! [`MemoryQueue`] keeps the same contract in memory, for tests and throw-away servers.
//!
//! [`sqs`] keeps messages as SQS does (visibility, receipt handles, FIFO groups, redrive),
//! for Lamina's SQS-compatible service.
//!
//! The queue is bounded by a number of messages and of bytes; an enqueue beyond them fails
//! with [`QueueError::Full`] rather than growing without end.

mod due;
mod embedded;
mod memory;
pub mod sqs;

pub use embedded::EmbeddedQueue;
pub use memory::MemoryQueue;

/// A message's id, unique within a queue store.
pub type MessageId = i64;

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Which queue (the consumer's key: for Lamina, a function and qualifier).
    pub queue: String,
    /// The payload.
    pub body: Vec<u8>,
    /// Opaque attributes the consumer keeps with the payload.
    pub attributes: Vec<u8>,
    /// When it becomes due, in epoch milliseconds (now or earlier: at once).
    pub due_ms: u64,
}

/// A leased message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Queue.
    pub queue: String,
    /// Payload.
    pub body: Vec<u8>,
    /// Attributes.
    pub attributes: Vec<u8>,
    /// Deliveries before this one (kept by [`Queue::retry_later`]).
    pub attempts: u32,
    /// When it was first enqueued, in epoch milliseconds.
    pub enqueued_ms: u64,
}

/// A message that failed for good, kept for inspection and replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    /// The message as it was last delivered.
    pub message: Message,
    /// When it failed, in epoch milliseconds.
    pub failed_ms: u64,
    /// Why.
    pub reason: String,
}

/// The queue's size and bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages due now, not leased.
    pub ready: usize,
    /// Messages due later.
    pub delayed: usize,
    /// Messages leased and not yet acknowledged.
    pub leased: usize,
    /// Bytes of all queued messages (payload and attributes).
    pub bytes: u64,
    /// Most messages the queue holds.
    pub max_messages: usize,
    /// Most bytes the queue holds.
    pub max_bytes: u64,
    /// Failed messages kept.
    pub failed: usize,
    /// Messages enqueued since the queue was opened.
    pub enqueued: u64,
    /// Enqueues refused because the queue was full, since it was opened.
    pub refused: u64,
}

/// Bounds of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most messages.
    pub max_messages: usize,
    /// Most bytes (payloads and attributes).
    pub max_bytes: u64,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is at one of its bounds.
    #[error(
        "the queue is full ({messages} messages, {bytes} bytes held; at most {max_messages} messages and {max_bytes} bytes)"
    )]
    Full {
        /// Messages held.
        messages: usize,
        /// Bytes held.
        bytes: u64,
        /// The bound on messages.
        max_messages: usize,
        /// The bound on bytes.
        max_bytes: u64,
    },
    /// No such message (or no such failed message).
    #[error("no message {0}")]
    NotFound(MessageId),
    /// An SQS queue has as many messages in flight as it may.
    #[error("{0} messages are in flight, the most a queue may have")]
    InFlightLimit(u64),
    /// The storage failed.
    #[error("queue storage: {0}")]
    Storage(String),
    /// The queue was closed.
    #[error("the queue is closed")]
    Closed,
}

/// A durable queue of messages.
#[async_trait::async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Stores a message; returns once it is durable.
    async fn enqueue(&self, message: NewMessage) -> Result<MessageId, QueueError>;
    /// Leases up to `max` due messages among those `take` accepts: it is asked about the due
    /// messages of each queue, by id and queue, oldest due first, until it refuses one of
    /// that queue (it may keep a consumer's capacity for the ones it accepts). A leased message is not leased again
    /// until it is retried, or the queue is reopened.
    async fn lease(
        &self,
        max: usize,
        take: &mut (dyn for<'q> FnMut(MessageId, &'q str) -> bool + Send),
    ) -> Result<Vec<Message>, QueueError>;
    /// When the next message not leased is due (epoch ms), if any.
    fn next_due_ms(&self) -> Option<u64>;
    /// Resolves when a message may have become due (an enqueue, a retry, a replay).
    async fn changed(&self);
    /// Removes a delivered message.
    async fn ack(&self, id: MessageId) -> Result<(), QueueError>;
    /// Makes a leased message due again at `due_ms`, with `attempts` deliveries so far.
    async fn retry_later(
        &self,
        id: MessageId,
        due_ms: u64,
        attempts: u32,
    ) -> Result<(), QueueError>;
    /// Moves a leased message to the failed messages, with `attempts` deliveries in all and
    /// the reason.
    async fn dead_letter(
        &self,
        id: MessageId,
        attempts: u32,
        reason: &str,
    ) -> Result<(), QueueError>;
    /// The failed messages of `queue` (all queues with `None`), oldest first.
    async fn failed(&self, queue: Option<&str>) -> Result<Vec<FailedMessage>, QueueError>;
    /// Puts a failed message back in its queue, due now, as a new message with no attempts.
    async fn replay(&self, id: MessageId) -> Result<MessageId, QueueError>;
    /// Drops every message, queued or failed, of `queue` (its consumer is gone).
    async fn purge(&self, queue: &str) -> Result<(), QueueError>;
    /// Size and bounds.
    fn stats(&self) -> QueueStats;
    /// The clock due times are read on; consumers compute theirs on it too.
    fn clock(&self) -> &Clock;
}

/// Where a queue and its consumers read the time: the system's clock, or a manual one that
/// only moves when told to (tests of rules measured in minutes and hours).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<std::sync::Arc<std::sync::atomic::AtomicU64>>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing at `start_ms` (epoch ms) until [`Clock::advance`]d.
    pub fn manual(start_ms: u64) -> Clock {
        Clock(Some(std::sync::Arc::new(
            std::sync::atomic::AtomicU64::new(start_ms),
        )))
    }

    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Some(at) => at.load(std::sync::atomic::Ordering::SeqCst),
            None => now_ms(),
        }
    }

    /// Moves a manual clock forward; the system's cannot be moved.
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(at) = &self.0 {
            at.fetch_add(by.as_millis() as u64, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The behaviour every [`Queue`] keeps, run against each implementation by its tests (and,
/// with the feature `contract`, by other crates' implementations).
#[cfg(any(test, feature = "contract"))]
pub mod contract {
    use super::*;

    /// Roomy bounds.
    pub fn limits() -> Limits {
        Limits {
            max_messages: 1000,
            max_bytes: 1 << 20,
        }
    }

    /// Two messages, 100 bytes.
    pub fn tight() -> Limits {
        Limits {
            max_messages: 2,
            max_bytes: 100,
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

    /// Enqueue, lease, ack, retry, dead-letter, replay, and consumers' room.
    pub async fn deliveries(q: &dyn Queue) {
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

    /// The bounds (two messages, 100 bytes) are enforced and reported.
    pub async fn bounds(q: &dyn Queue) {
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

    #[cfg(test)]
    #[tokio::test]
    async fn the_memory_queue_keeps_the_contract() {
        deliveries(&MemoryQueue::new(limits())).await;
        bounds(&MemoryQueue::new(tight())).await;
    }
}
