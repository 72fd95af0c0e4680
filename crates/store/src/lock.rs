//! One data directory, one server: an exclusive `flock` on `<data-dir>/lamina.lock`, held
//! for the server's life and released by the kernel however the server ends (the file is
//! opened close-on-exec, so no environment it starts inherits the lock).
//!
//! The file holds the holder's process id, so a refused start can name it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "lamina.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "the data directory {dir} is in use by another lamina server (pid {holder}); stop it, \
         or give this one another --data-dir"
    )]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// What the lock file says of its holder (`unknown` when it is unreadable).
        holder: String,
    },
    /// The lock file could not be opened or written.
    #[error("cannot lock the data directory {dir}: {source}")]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// The held lock; dropping it releases the data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

impl DataDirLock {
    /// Takes the lock of `dir` (which must exist) without waiting, and writes this process's
    /// id into it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io_err = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io_err)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err((_, errno)) => return Err(io_err(errno.into())),
        };
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_may_take_it_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description: a second open in the same process
        // conflicts just as another process would.
        match DataDirLock::acquire(dir.path()) {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
