//! Which messages are due: per queue, by due time, in memory (both queues keep their index
//! this way; the embedded one also keeps the messages on disk).

use std::collections::{BTreeMap, HashMap};

use crate::MessageId;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) queue: String,
    pub(crate) size: u64,
    pub(crate) attempts: u32,
    pub(crate) enqueued_ms: u64,
}

/// Messages not leased, per queue, by due time: a lease looks at the head of each queue, so
/// a long queue whose consumer has no room costs nothing.
#[derive(Debug, Default)]
pub(crate) struct DueSet {
    pub(crate) by_queue: HashMap<String, BTreeMap<(u64, MessageId), Entry>>,
    pub(crate) len: usize,
}

impl DueSet {
    pub(crate) fn insert(&mut self, due: u64, id: MessageId, entry: Entry) {
        self.by_queue
            .entry(entry.queue.clone())
            .or_default()
            .insert((due, id), entry);
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, queue: &str, key: (u64, MessageId)) -> Option<Entry> {
        let map = self.by_queue.get_mut(queue)?;
        let entry = map.remove(&key)?;
        if map.is_empty() {
            self.by_queue.remove(queue);
        }
        self.len -= 1;
        Some(entry)
    }

    /// Takes out every due message of `queue`, with its id.
    pub(crate) fn remove_queue(&mut self, queue: &str) -> Vec<(MessageId, Entry)> {
        let gone: Vec<(MessageId, Entry)> = self
            .by_queue
            .remove(queue)
            .map(|m| m.into_iter().map(|((_, id), e)| (id, e)).collect())
            .unwrap_or_default();
        self.len -= gone.len();
        gone
    }

    pub(crate) fn first_due(&self) -> Option<u64> {
        self.by_queue
            .values()
            .filter_map(|m| m.first_key_value().map(|((due, _), _)| *due))
            .min()
    }

    pub(crate) fn ready(&self, now: u64) -> usize {
        self.by_queue
            .values()
            .map(|m| m.range(..(now + 1, MessageId::MIN)).count())
            .sum()
    }

    /// Takes up to `max` due messages out (the caller marks them leased): the head of each
    /// queue, oldest due first, as long as `take` accepts them; a refusal ends that queue.
    pub(crate) fn pick(
        &mut self,
        max: usize,
        now: u64,
        take: &mut (dyn for<'q> FnMut(MessageId, &'q str) -> bool + Send),
    ) -> Vec<(MessageId, Entry)> {
        let mut chosen = Vec::new();
        'queues: for (queue, map) in &self.by_queue {
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
            .filter_map(|(queue, key)| Some((key.1, self.remove(&queue, key)?)))
            .collect()
    }
}
