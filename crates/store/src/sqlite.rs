//! An embedded store's SQLite file: opened in WAL mode with its schema, its one connection
//! behind a std mutex (each call is a short statement with no await inside), and errors
//! that name the file; and the bound on the heap all of the process's connections share.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use crate::StoreError;

/// One SQLite file and its connection.
#[derive(Debug)]
pub(crate) struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, with `schema` applied.
    pub(crate) fn open(path: &Path, schema: &str) -> Result<Db, StoreError> {
        let db = |source| StoreError::Database {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(db)?;
        conn.execute_batch(schema).map_err(db)?;
        Ok(Db {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` on the connection.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| StoreError::Database {
            path: self.path.clone(),
            source,
        })
    }
}

/// Bounds the heap that all of this process's SQLite connections use together, whichever
/// crate opened them: past `bytes`, SQLite recycles the least recently used pages of its
/// page caches rather than allocating more. Without a bound each connection keeps up to
/// 2 MiB of pages (SQLite's default `cache_size`), and the server's half dozen databases
/// kept what their busiest moment read for the rest of the server's life. The files' pages
/// stay in the kernel's page cache, so a page read again costs a copy, not a disk read.
pub fn bound_heap(bytes: u64) -> Result<(), StoreError> {
    let db = |source| StoreError::Database {
        path: PathBuf::from(":memory:"),
        source,
    };
    // The pragma sets the process-wide limit, whichever connection runs it.
    let conn = Connection::open_in_memory().map_err(db)?;
    conn.execute_batch(&format!("PRAGMA soft_heap_limit = {bytes};"))
        .map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_bound_is_process_wide() {
        bound_heap(3 << 20).unwrap();
        let other = Connection::open_in_memory().unwrap();
        let limit: i64 = other
            .query_row("PRAGMA soft_heap_limit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(limit, 3 << 20, "another connection sees the bound");
    }
}
