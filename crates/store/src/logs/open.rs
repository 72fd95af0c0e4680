//! The streams the log store holds open for writing, and each group's bytes on disk.

use std::collections::HashMap;

use super::out::Out;

/// A stream open for appending.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) out: Out,
    /// Bytes in the current file of the stream.
    pub(super) written: u64,
}

/// What the store holds between calls, behind its one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Open streams by group, then stream: found from borrowed names, since every
    /// invocation appends twice.
    pub(super) writers: HashMap<String, HashMap<String, Writer>>,
    pub(super) group_bytes: HashMap<String, u64>,
}

impl State {
    pub(super) fn writer(&mut self, group: &str, stream: &str) -> Option<&mut Writer> {
        self.writers.get_mut(group)?.get_mut(stream)
    }

    pub(super) fn remove_writer(&mut self, group: &str, stream: &str) -> Option<Writer> {
        let streams = self.writers.get_mut(group)?;
        let writer = streams.remove(stream);
        if streams.is_empty() {
            self.writers.remove(group);
        }
        writer
    }

    pub(super) fn open_streams(&self) -> usize {
        self.writers.values().map(HashMap::len).sum()
    }

    pub(super) fn all_writers(&mut self) -> impl Iterator<Item = &mut Writer> {
        self.writers.values_mut().flat_map(HashMap::values_mut)
    }
}
