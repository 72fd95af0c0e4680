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
//! The queue is bounded by a number of messages and of bytes; an enqueue beyond them fails
//! with [`QueueError::Full`] rather than growing without end.

mod embedded;

pub use embedded::EmbeddedQueue;

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
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
