//! A log stream's open file and the lines not yet written to it.

use std::fs::File;
use std::io::{self, Write};

/// Lines gathered before they are written out in one call.
const BUFFER: usize = 64 * 1024;

/// A stream's file and the lines not yet written to it. Unlike a `BufWriter`, whose buffer
/// lives as long as it does, the buffer is given back at every [`super::LogStore::flush`]: a stream
/// stays open for its environment's whole life, and an idle environment should hold no
/// memory here.
#[derive(Debug)]
pub(super) struct Out {
    file: File,
    pub(super) pending: Vec<u8>,
}

impl Out {
    pub(super) fn new(file: File) -> Out {
        Out {
            file,
            pending: Vec::new(),
        }
    }

    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= BUFFER {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes out what is pending and lets go of the buffer.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
        }
        self.pending = Vec::new();
        Ok(())
    }

    pub(super) fn get_ref(&self) -> &File {
        &self.file
    }
}
