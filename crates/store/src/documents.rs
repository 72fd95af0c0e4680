//! [`Documents`]: the configuration of event sources (schedules and their groups, event
//! buses, rules and their targets, and what their timers remember) as JSON documents keyed
//! by kind and key. The services own their documents' shapes; the store keeps them, in
//! SQLite ([`SqliteDocuments`]), in memory ([`MemoryDocuments`]) or in PostgreSQL
//! (`PgDocuments`), all held to the same contract tests (`documents::contract`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

/// Documents by kind and key.
#[async_trait::async_trait]
pub trait Documents: Send + Sync + std::fmt::Debug {
    /// Writes a new document; false (and nothing written) if `kind`/`key` exists.
    async fn insert(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError>;
    /// Writes a document, replacing any.
    async fn put(&self, kind: &str, key: &str, doc: &str) -> Result<(), StoreError>;
    /// Replaces an existing document; false (and nothing written) if there is none.
    async fn replace(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError>;
    /// One document.
    async fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Removes a document; false if there was none.
    async fn delete(&self, kind: &str, key: &str) -> Result<bool, StoreError>;
    /// The documents of `kind` whose keys start with `prefix`, in key order.
    async fn list(&self, kind: &str, prefix: &str) -> Result<Vec<(String, String)>, StoreError>;
}

/// The embedded implementation: one SQLite file.
#[derive(Debug)]
pub struct SqliteDocuments {
    db: crate::sqlite::Db,
}

impl SqliteDocuments {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteDocuments, StoreError> {
        let db = crate::sqlite::Db::open(
            path,
            "CREATE TABLE IF NOT EXISTS documents (
                 kind TEXT NOT NULL,
                 key TEXT NOT NULL,
                 doc TEXT NOT NULL,
                 PRIMARY KEY (kind, key)
             );",
        )?;
        Ok(SqliteDocuments { db })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.db.with(f)
    }
}

#[async_trait::async_trait]
impl Documents for SqliteDocuments {
    async fn insert(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO documents (kind, key, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![kind, key, doc],
            )
        })
        .map(|n| n == 1)
    }

    async fn put(&self, kind: &str, key: &str, doc: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO documents (kind, key, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                params![kind, key, doc],
            )
        })
        .map(|_| ())
    }

    async fn replace(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE documents SET doc = ?3 WHERE kind = ?1 AND key = ?2",
                params![kind, key, doc],
            )
        })
        .map(|n| n == 1)
    }

    async fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT doc FROM documents WHERE kind = ?1 AND key = ?2",
                params![kind, key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    async fn delete(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM documents WHERE kind = ?1 AND key = ?2",
                params![kind, key],
            )
        })
        .map(|n| n == 1)
    }

    async fn list(&self, kind: &str, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            // substr rather than LIKE: keys may hold `%` and `_`.
            let mut stmt = c.prepare_cached(
                "SELECT key, doc FROM documents
                 WHERE kind = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![kind, prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

/// The in-memory implementation (tests, throw-away servers).
#[derive(Debug, Default)]
pub struct MemoryDocuments {
    docs: Mutex<BTreeMap<(String, String), String>>,
}

impl MemoryDocuments {
    fn docs(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), String>> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Documents for MemoryDocuments {
    async fn insert(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs();
        let k = (kind.to_string(), key.to_string());
        if docs.contains_key(&k) {
            return Ok(false);
        }
        docs.insert(k, doc.to_string());
        Ok(true)
    }

    async fn put(&self, kind: &str, key: &str, doc: &str) -> Result<(), StoreError> {
        self.docs()
            .insert((kind.to_string(), key.to_string()), doc.to_string());
        Ok(())
    }

    async fn replace(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        Ok(self
            .docs()
            .get_mut(&(kind.to_string(), key.to_string()))
            .map(|d| *d = doc.to_string())
            .is_some())
    }

    async fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .docs()
            .get(&(kind.to_string(), key.to_string()))
            .cloned())
    }

    async fn delete(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .docs()
            .remove(&(kind.to_string(), key.to_string()))
            .is_some())
    }

    async fn list(&self, kind: &str, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .docs()
            .range((kind.to_string(), prefix.to_string())..)
            .take_while(|((k, key), _)| k == kind && key.starts_with(prefix))
            .map(|((_, key), doc)| (key.clone(), doc.clone()))
            .collect())
    }
}

/// The contract every implementation keeps.
#[cfg(test)]
pub mod contract {
    use super::Documents;

    /// Inserting, replacing, reading, listing by prefix, deleting.
    pub async fn documents(d: &dyn Documents) {
        assert!(
            d.insert("schedule", "default/a", "{\"n\":1}")
                .await
                .unwrap()
        );
        assert!(
            !d.insert("schedule", "default/a", "{\"n\":2}")
                .await
                .unwrap()
        );
        assert_eq!(
            d.get("schedule", "default/a").await.unwrap().as_deref(),
            Some("{\"n\":1}")
        );
        assert!(
            d.replace("schedule", "default/a", "{\"n\":3}")
                .await
                .unwrap()
        );
        assert!(!d.replace("schedule", "default/none", "{}").await.unwrap());
        assert_eq!(d.get("schedule", "default/none").await.unwrap(), None);
        d.put("schedule", "default/b", "{}").await.unwrap();
        d.put("schedule", "other/a", "{}").await.unwrap();
        d.put("schedule", "default%/x", "{}").await.unwrap();
        d.put("group", "default/a", "{}").await.unwrap();
        let keys = |v: Vec<(String, String)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(d.list("schedule", "default/").await.unwrap()),
            ["default/a", "default/b"]
        );
        assert_eq!(
            keys(d.list("schedule", "").await.unwrap()),
            ["default%/x", "default/a", "default/b", "other/a"]
        );
        assert_eq!(
            d.list("schedule", "default/a").await.unwrap(),
            [("default/a".to_string(), "{\"n\":3}".to_string())]
        );
        assert!(d.delete("schedule", "default/a").await.unwrap());
        assert!(!d.delete("schedule", "default/a").await.unwrap());
        assert_eq!(keys(d.list("group", "").await.unwrap()), ["default/a"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_embedded_implementations_keep_the_contract() {
        contract::documents(&MemoryDocuments::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("documents.sqlite3");
        contract::documents(&SqliteDocuments::open(&path).unwrap()).await;
        // What was written is there after a reopen.
        let reopened = SqliteDocuments::open(&path).unwrap();
        assert!(
            reopened
                .get("schedule", "default/b")
                .await
                .unwrap()
                .is_some()
        );
    }
}
