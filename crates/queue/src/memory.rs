//! [`MemoryQueue`]: the [`Queue`] contract in memory, for tests and throw-away servers. It
//! keeps the embedded queue's behaviour (the same contract tests run against both, in
//! `contract`), except that nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::due::{DueSet, Entry};
use crate::{
    Clock, FailedMessage, Limits, Message, MessageId, NewMessage, Queue, QueueError, QueueStats,
};

/// Messages in memory.
#[derive(Debug)]
pub struct MemoryQueue {
    limits: Limits,
    clock: Clock,
    // Short critical sections only, never across an await.
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: MessageId,
    due: DueSet,
    leased: HashMap<MessageId, Entry>,
    /// Payload and attributes of every queued message.
    bodies: HashMap<MessageId, (Vec<u8>, Vec<u8>)>,
    bytes: u64,
    failed: BTreeMap<MessageId, FailedMessage>,
    enqueued: u64,
    refused: u64,
}

impl MemoryQueue {
    /// An empty queue with these bounds, on the system's clock.
    pub fn new(limits: Limits) -> MemoryQueue {
        MemoryQueue::with_clock(limits, Clock::system())
    }

    /// An empty queue with these bounds, on `clock`.
    pub fn with_clock(limits: Limits, clock: Clock) -> MemoryQueue {
        MemoryQueue {
            limits,
            clock,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        }
    }

    /// Wakes whoever waits for a change (after the clock was moved).
    pub fn wake(&self) {
        self.changed.notify_one();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn take_leased(&mut self, id: MessageId) -> Result<Entry, QueueError> {
        self.leased.remove(&id).ok_or(QueueError::NotFound(id))
    }

    fn new_id(&mut self) -> MessageId {
        self.next_id += 1;
        self.next_id
    }
}

#[async_trait::async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, message: NewMessage) -> Result<MessageId, QueueError> {
        let size = (message.body.len() + message.attributes.len()) as u64;
        let id = {
            let mut st = self.state();
            let held = st.due.len + st.leased.len();
            if held >= self.limits.max_messages || st.bytes + size > self.limits.max_bytes {
                st.refused += 1;
                return Err(QueueError::Full {
                    messages: held,
                    bytes: st.bytes,
                    max_messages: self.limits.max_messages,
                    max_bytes: self.limits.max_bytes,
                });
            }
            let id = st.new_id();
            let entry = Entry {
                queue: message.queue,
                size,
                attempts: 0,
                enqueued_ms: self.clock.now_ms(),
            };
            st.due.insert(message.due_ms, id, entry);
            st.bodies.insert(id, (message.body, message.attributes));
            st.bytes += size;
            st.enqueued += 1;
            id
        };
        self.changed.notify_one();
        Ok(id)
    }

    async fn lease(
        &self,
        max: usize,
        take: &mut (dyn for<'q> FnMut(MessageId, &'q str) -> bool + Send),
    ) -> Result<Vec<Message>, QueueError> {
        let mut st = self.state();
        let taken = st.due.pick(max, self.clock.now_ms(), take);
        let mut out = Vec::with_capacity(taken.len());
        for (id, entry) in taken {
            let (body, attributes) = st.bodies.get(&id).cloned().unwrap_or_default();
            out.push(Message {
                id,
                queue: entry.queue.clone(),
                body,
                attributes,
                attempts: entry.attempts,
                enqueued_ms: entry.enqueued_ms,
            });
            st.leased.insert(id, entry);
        }
        Ok(out)
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.state().due.first_due()
    }

    async fn changed(&self) {
        self.changed.notified().await;
    }

    async fn ack(&self, id: MessageId) -> Result<(), QueueError> {
        let mut st = self.state();
        let entry = st.take_leased(id)?;
        st.bytes -= entry.size;
        st.bodies.remove(&id);
        Ok(())
    }

    async fn retry_later(
        &self,
        id: MessageId,
        due_ms: u64,
        attempts: u32,
    ) -> Result<(), QueueError> {
        {
            let mut st = self.state();
            let mut entry = st.take_leased(id)?;
            entry.attempts = attempts;
            st.due.insert(due_ms, id, entry);
        }
        self.changed.notify_one();
        Ok(())
    }

    async fn dead_letter(
        &self,
        id: MessageId,
        attempts: u32,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut st = self.state();
        let entry = st.take_leased(id)?;
        st.bytes -= entry.size;
        let (body, attributes) = st.bodies.remove(&id).unwrap_or_default();
        let failed = FailedMessage {
            message: Message {
                id,
                queue: entry.queue,
                body,
                attributes,
                attempts,
                enqueued_ms: entry.enqueued_ms,
            },
            failed_ms: self.clock.now_ms(),
            reason: reason.to_string(),
        };
        st.failed.insert(id, failed);
        Ok(())
    }

    async fn failed(&self, queue: Option<&str>) -> Result<Vec<FailedMessage>, QueueError> {
        Ok(self
            .state()
            .failed
            .values()
            .filter(|f| queue.is_none_or(|q| f.message.queue == q))
            .cloned()
            .collect())
    }

    async fn replay(&self, id: MessageId) -> Result<MessageId, QueueError> {
        let new_id = {
            let mut st = self.state();
            let failed = st.failed.remove(&id).ok_or(QueueError::NotFound(id))?;
            let new_id = st.new_id();
            let m = failed.message;
            let size = (m.body.len() + m.attributes.len()) as u64;
            let now = self.clock.now_ms();
            let entry = Entry {
                queue: m.queue,
                size,
                attempts: 0,
                enqueued_ms: now,
            };
            st.due.insert(now, new_id, entry);
            st.bodies.insert(new_id, (m.body, m.attributes));
            st.bytes += size;
            new_id
        };
        self.changed.notify_one();
        Ok(new_id)
    }

    async fn purge(&self, queue: &str) -> Result<(), QueueError> {
        let mut st = self.state();
        for (id, e) in st.due.remove_queue(queue) {
            st.bytes -= e.size;
            st.bodies.remove(&id);
        }
        st.failed.retain(|_, f| f.message.queue != queue);
        Ok(())
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn stats(&self) -> QueueStats {
        let st = self.state();
        let ready = st.due.ready(self.clock.now_ms());
        QueueStats {
            ready,
            delayed: st.due.len - ready,
            leased: st.leased.len(),
            bytes: st.bytes,
            max_messages: self.limits.max_messages,
            max_bytes: self.limits.max_bytes,
            failed: st.failed.len(),
            enqueued: st.enqueued,
            refused: st.refused,
        }
    }
}
