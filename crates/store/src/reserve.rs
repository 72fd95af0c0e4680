//! Space set aside in the data directory, so that what frees space still works when the
//! disk is full: a database delete needs a few pages of its own (WAL) before it can give
//! any back. A file of zeros holds the space; an operation that fails for want of space
//! releases it and tries once more, and the reserve is restored once there is room again.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The reserve's file name in the data directory.
pub const RESERVE_FILE: &str = "reserve";

/// The reserved space of one data directory.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
    bytes: u64,
    // Serializes releasing and restoring.
    busy: Mutex<()>,
}

impl Reserve {
    /// A reserve of `bytes` in `dir`, made now if there is room.
    pub fn new(dir: &Path, bytes: u64) -> Reserve {
        let reserve = Reserve {
            path: dir.join(RESERVE_FILE),
            bytes,
            busy: Mutex::new(()),
        };
        reserve.restore();
        reserve
    }

    /// Whether the space is held now.
    pub fn held(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.bytes)
    }

    /// Gives the space back to the file system; returns whether any was freed.
    pub fn release(&self) -> bool {
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let freed = self.held();
        let _ = fs::remove_file(&self.path);
        if freed {
            tracing::warn!(path = %self.path.display(), "the data directory is full: reserve released");
        }
        freed
    }

    /// Takes the space again if it is free (written out, so that it is really allocated);
    /// returns whether the reserve is held. Blocking.
    pub fn restore(&self) -> bool {
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if self.held() {
            return true;
        }
        let tmp = self.path.with_extension("tmp");
        let written = (|| -> io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            let zeros = vec![0u8; 1 << 20];
            let mut left = self.bytes;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_then_restored() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::new(dir.path(), 64 * 1024);
        assert!(reserve.held());
        assert!(reserve.release());
        assert!(!reserve.held());
        assert!(!reserve.release(), "nothing left to free");
        assert!(reserve.restore());
        assert_eq!(
            fs::metadata(dir.path().join(RESERVE_FILE)).unwrap().len(),
            64 * 1024
        );
    }
}
