//! A log stream's open file and the lines not yet written to it.

use std::fs::File;
use std::io::{self, Write};

/// Lines gathered before they are written out in one call.
const BUFFER: usize = 64 * 1024;

/// A stream's file and the lines not yet written to it. Unlike a `BufWriter`, whose buffer
/// lives as long as it does, the buffer is given back at every [`super::LogStore::flush`]: a
/// stream stays open for its environment's whole life, and an idle environment should hold
/// no memory here.
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

    /// Adds `bytes`, writing out first what is pending if they would not fit. The buffer
    /// never grows past [`BUFFER`]: when the file cannot be written (a full disk), the new
    /// bytes are refused with the error, as a `BufWriter` refuses them.
    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.pending.len() + bytes.len() > BUFFER && !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        if bytes.len() >= BUFFER {
            return self.file.write_all(bytes);
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    /// Adds one stored event's line, `<epoch-ms> <message>\n`, without building it apart
    /// first; returns its length.
    pub(super) fn write_line(&mut self, timestamp_ms: i64, message: &str) -> io::Result<usize> {
        let mut ts = [0u8; 24];
        let mut cursor = io::Cursor::new(&mut ts[..]);
        write!(cursor, "{timestamp_ms} ")?;
        let ts_len = cursor.position() as usize;
        let len = ts_len + message.len() + 1;
        if self.pending.len() + len > BUFFER || len >= BUFFER {
            let mut line = Vec::with_capacity(len);
            line.extend_from_slice(&ts[..ts_len]);
            line.extend_from_slice(message.as_bytes());
            line.push(b'\n');
            self.write_all(&line)?;
            return Ok(len);
        }
        self.pending.reserve(len);
        self.pending.extend_from_slice(&ts[..ts_len]);
        self.pending.extend_from_slice(message.as_bytes());
        self.pending.push(b'\n');
        Ok(len)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_stays_within_its_bound_and_every_byte_and_line_arrives_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut out = Out::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        for i in 0..500usize {
            let message = "y".repeat(i * 7 % 3000);
            let line = format!("{i} {message}\n");
            if i % 2 == 0 {
                out.write_all(line.as_bytes()).unwrap();
            } else {
                assert_eq!(out.write_line(i as i64, &message).unwrap(), line.len());
            }
            expected.extend_from_slice(line.as_bytes());
            assert!(out.pending.len() <= BUFFER);
        }
        let big = "z".repeat(BUFFER + 10);
        out.write_all(big.as_bytes()).unwrap();
        expected.extend_from_slice(big.as_bytes());
        out.write_line(-1, &big).unwrap();
        expected.extend_from_slice(format!("-1 {big}\n").as_bytes());
        assert!(out.pending.len() <= BUFFER);
        out.flush().unwrap();
        assert_eq!(out.pending.capacity(), 0);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
