//! Function records: the [`FunctionStore`] trait and its embedded SQLite implementation.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lamina_model::FunctionConfig;
use lamina_model::layer::LayerVersion;
use rusqlite::{Connection, OptionalExtension, params};

/// Failures of a [`FunctionStore`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A function of that name exists already.
    #[error("function {0} already exists")]
    Exists(String),
    /// No function of that name.
    #[error("function {0} not found")]
    NotFound(String),
    /// The stored revision differs from the expected one.
    #[error("function {name} is at revision {actual}, not {expected}")]
    RevisionMismatch {
        /// Function name.
        name: String,
        /// Revision the caller expected.
        expected: String,
        /// Revision stored.
        actual: String,
    },
    /// The database failed.
    #[error("database {path}: {source}")]
    Database {
        /// Database file.
        path: PathBuf,
        /// Cause.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed, or could not be reached (cluster mode).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] crate::postgres::PgError),
    /// A stored record could not be decoded.
    #[error("stored record of function {name} is unreadable: {source}")]
    Corrupt {
        /// Function name.
        name: String,
        /// Cause.
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Whether the database failed for want of disk space.
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self,
            StoreError::Database {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } if e.code == rusqlite::ErrorCode::DiskFull
        )
    }
}

/// Persistent function records, keyed by name. Implementations must make each call atomic.
#[async_trait::async_trait]
pub trait FunctionStore: Send + Sync + std::fmt::Debug {
    /// Inserts a new function; [`StoreError::Exists`] if the name is taken.
    async fn create(&self, config: &FunctionConfig) -> Result<(), StoreError>;
    /// Reads one function.
    async fn get(&self, name: &str) -> Result<Option<FunctionConfig>, StoreError>;
    /// Functions in name order, starting after `after`, at most `limit`.
    async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError>;
    /// Every stored function (used at start-up to warm caches).
    async fn all(&self) -> Result<Vec<FunctionConfig>, StoreError>;
    /// Replaces a function if its stored revision is `expected_revision`.
    async fn update(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError>;
    /// Removes a function, returning what was stored.
    async fn delete(&self, name: &str) -> Result<FunctionConfig, StoreError>;
    /// Whether any function or published version still uses the package `code_id`.
    async fn code_in_use(&self, code_id: &str) -> Result<bool, StoreError>;
    /// Publishes `version` (numbered by its `version` field) and stores `latest`, which
    /// records the new number, in one transaction, if `$LATEST`'s stored revision is
    /// `expected_revision`.
    async fn publish(
        &self,
        latest: &FunctionConfig,
        expected_revision: &str,
        version: &FunctionConfig,
    ) -> Result<(), StoreError>;
    /// The published versions of a function, in ascending order.
    async fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>, StoreError>;
    /// Removes one published version, returning it.
    async fn delete_version(&self, name: &str, version: u64) -> Result<FunctionConfig, StoreError>;
    /// Stores a new version of a layer, numbered one past the highest it ever had; returns it.
    async fn publish_layer(&self, layer: &LayerVersion) -> Result<LayerVersion, StoreError>;
    /// One layer version.
    async fn layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError>;
    /// Every stored layer version, by name then version.
    async fn layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError>;
    /// Removes one layer version, returning it if it existed.
    async fn delete_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError>;
}

/// The embedded store: one SQLite file in the data directory.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    // Each call is a short statement with no await inside, so a std mutex is right here.
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = |source| StoreError::Database {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS functions (
                 name TEXT PRIMARY KEY,
                 revision TEXT NOT NULL,
                 code_id TEXT NOT NULL,
                 config TEXT NOT NULL
             );
                          CREATE INDEX IF NOT EXISTS functions_code ON functions(code_id);
             CREATE TABLE IF NOT EXISTS versions (
                 name TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 code_id TEXT NOT NULL,
                 config TEXT NOT NULL,
                 PRIMARY KEY (name, version)
             );
                          CREATE INDEX IF NOT EXISTS versions_code ON versions(code_id);
             CREATE TABLE IF NOT EXISTS layer_names (
                 name TEXT PRIMARY KEY,
                 last_version INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS layers (
                 name TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 code_id TEXT NOT NULL,
                 config TEXT NOT NULL,
                 PRIMARY KEY (name, version)
             );
             CREATE INDEX IF NOT EXISTS layers_code ON layers(code_id);",
        )
        .map_err(db)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|source| StoreError::Database {
            path: self.path.clone(),
            source,
        })
    }

    /// Why an update guarded by `expected` changed no row: the function is gone, or its
    /// revision moved on.
    async fn not_updated(&self, name: &str, expected: &str) -> StoreError {
        match self.get(name).await {
            Ok(None) => StoreError::NotFound(name.to_string()),
            Ok(Some(stored)) => StoreError::RevisionMismatch {
                name: name.to_string(),
                expected: expected.to_string(),
                actual: stored.revision_id,
            },
            Err(e) => e,
        }
    }

    fn decode(name: &str, json: &str) -> Result<FunctionConfig, StoreError> {
        serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            name: name.to_string(),
            source,
        })
    }

    fn decode_rows(rows: Vec<(String, String)>) -> Result<Vec<FunctionConfig>, StoreError> {
        rows.iter()
            .map(|(n, j)| SqliteStore::decode(n, j))
            .collect()
    }
}

fn decode_layer(name: &str, json: &str) -> Result<LayerVersion, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
        name: format!("layer {name}"),
        source,
    })
}

/// Replaces `$LATEST` of `config.name` if its stored revision is `expected`; the rows changed.
fn update_latest(
    c: &Connection,
    config: &FunctionConfig,
    expected: &str,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE functions SET revision = ?2, code_id = ?3, config = ?4 WHERE name = ?1 AND revision = ?5",
        params![config.name, config.revision_id, config.code.id, encode(config), expected],
    )
}

fn encode(config: &FunctionConfig) -> String {
    serde_json::to_string(config).expect("a FunctionConfig always serializes")
}

#[async_trait::async_trait]
impl FunctionStore for SqliteStore {
    async fn create(&self, config: &FunctionConfig) -> Result<(), StoreError> {
        let inserted = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO functions (name, revision, code_id, config) VALUES (?1, ?2, ?3, ?4)",
                params![config.name, config.revision_id, config.code.id, encode(config)],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::Exists(config.name.clone()));
        }
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<FunctionConfig>, StoreError> {
        let json: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT config FROM functions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
        })?;
        json.map(|j| SqliteStore::decode(name, &j)).transpose()
    }

    async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, config FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
            )?;
            stmt.query_map(params![after.unwrap_or(""), limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()
        })?;
        SqliteStore::decode_rows(rows)
    }

    async fn all(&self) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT name, config FROM functions ORDER BY name")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, String)>>>()
        })?;
        SqliteStore::decode_rows(rows)
    }

    async fn update(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let changed = self.with(|c| update_latest(c, config, expected_revision))?;
        if changed == 1 {
            return Ok(());
        }
        Err(self.not_updated(&config.name, expected_revision).await)
    }

    async fn delete(&self, name: &str) -> Result<FunctionConfig, StoreError> {
        let json: Option<String> = self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let json = tx
                .query_row(
                    "DELETE FROM functions WHERE name = ?1 RETURNING config",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM versions WHERE name = ?1", [name])?;
            tx.commit()?;
            Ok(json)
        })?;
        match json {
            Some(j) => SqliteStore::decode(name, &j),
            None => Err(StoreError::NotFound(name.to_string())),
        }
    }

    async fn code_in_use(&self, code_id: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM functions WHERE code_id = ?1)
                     OR EXISTS(SELECT 1 FROM versions WHERE code_id = ?1)
                     OR EXISTS(SELECT 1 FROM layers WHERE code_id = ?1)",
                [code_id],
                |r| r.get(0),
            )
        })
    }

    async fn publish(
        &self,
        latest: &FunctionConfig,
        expected_revision: &str,
        version: &FunctionConfig,
    ) -> Result<(), StoreError> {
        let number: u64 = version.version.parse().unwrap_or(0);
        let changed =
            self.with(|c| {
                let tx = c.unchecked_transaction()?;
                let changed = update_latest(&tx, latest, expected_revision)?;
                if changed == 1 {
                    tx.execute(
                    "INSERT INTO versions (name, version, code_id, config) VALUES (?1, ?2, ?3, ?4)",
                    params![version.name, number as i64, version.code.id, encode(version)],
                )?;
                    tx.commit()?;
                }
                Ok(changed)
            })?;
        if changed == 1 {
            return Ok(());
        }
        Err(self.not_updated(&latest.name, expected_revision).await)
    }

    async fn publish_layer(&self, layer: &LayerVersion) -> Result<LayerVersion, StoreError> {
        let mut stored = layer.clone();
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO layer_names (name, last_version) VALUES (?1, 1)
                 ON CONFLICT(name) DO UPDATE SET last_version = last_version + 1",
                [&layer.name],
            )?;
            let n: i64 = tx.query_row(
                "SELECT last_version FROM layer_names WHERE name = ?1",
                [&layer.name],
                |r| r.get(0),
            )?;
            stored.version = n as u64;
            let json = serde_json::to_string(&stored).expect("a LayerVersion always serializes");
            tx.execute(
                "INSERT INTO layers (name, version, code_id, config) VALUES (?1, ?2, ?3, ?4)",
                params![stored.name, n, stored.code.id, json],
            )?;
            tx.commit()
        })?;
        Ok(stored)
    }

    async fn layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let json: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT config FROM layers WHERE name = ?1 AND version = ?2",
                params![name, version as i64],
                |r| r.get(0),
            )
            .optional()
        })?;
        json.map(|j| decode_layer(name, &j)).transpose()
    }

    async fn layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError> {
        let rows: Vec<(String, String)> = self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT name, config FROM layers ORDER BY name, version")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        rows.iter().map(|(n, j)| decode_layer(n, j)).collect()
    }

    async fn delete_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let json: Option<String> = self.with(|c| {
            c.query_row(
                "DELETE FROM layers WHERE name = ?1 AND version = ?2 RETURNING config",
                params![name, version as i64],
                |r| r.get(0),
            )
            .optional()
        })?;
        json.map(|j| decode_layer(name, &j)).transpose()
    }

    async fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, config FROM versions WHERE name = ?1 ORDER BY version",
            )?;
            stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, String)>>>()
        })?;
        SqliteStore::decode_rows(rows)
    }

    async fn delete_version(&self, name: &str, version: u64) -> Result<FunctionConfig, StoreError> {
        let json: Option<String> = self.with(|c| {
            c.query_row(
                "DELETE FROM versions WHERE name = ?1 AND version = ?2 RETURNING config",
                params![name, version as i64],
                |r| r.get(0),
            )
            .optional()
        })?;
        match json {
            Some(j) => SqliteStore::decode(name, &j),
            None => Err(StoreError::NotFound(format!("{name}:{version}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_model::function::{CodeInfo, CreateFunctionRequest};
    use lamina_model::layer::LayerVersion;

    fn config(name: &str, code: &str) -> FunctionConfig {
        let req: CreateFunctionRequest = serde_json::from_value(serde_json::json!({
            "FunctionName": name, "Runtime": "python3.11", "Handler": "a.b",
            "Role": "arn:aws:iam::000000000000:role/r"
        }))
        .unwrap();
        let code = CodeInfo {
            id: code.into(),
            sha256: "x".into(),
            size: 1,
            unzipped_size: 1,
        };
        FunctionConfig::from_create(&req, code, "t".into()).unwrap()
    }

    /// The contract every store keeps: create, get, list, update, delete.
    async fn records(store: &dyn FunctionStore) {
        for n in ["b", "a", "c"] {
            store.create(&config(n, "code1")).await.unwrap();
        }
        assert!(matches!(
            store.create(&config("a", "z")).await,
            Err(StoreError::Exists(_))
        ));
        let page: Vec<String> = store
            .list(Some("a"), 1)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(page, ["b"]);

        let mut a = store.get("a").await.unwrap().unwrap();
        let old = a.revision_id.clone();
        a.revision_id = "r2".into();
        a.code.id = "code2".into();
        store.update(&a, &old).await.unwrap();
        assert!(matches!(
            store.update(&a, &old).await,
            Err(StoreError::RevisionMismatch { .. })
        ));
        assert!(store.code_in_use("code2").await.unwrap());
        assert_eq!(store.get("a").await.unwrap().unwrap().revision_id, "r2");
        assert_eq!(store.delete("a").await.unwrap().name, "a");
        assert!(!store.code_in_use("code2").await.unwrap());
        assert!(matches!(
            store.delete("a").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.all().await.unwrap().len(), 2);
    }

    /// The contract every store keeps: versions are published atomically, listed and deleted.
    async fn versions(store: &dyn FunctionStore) {
        let latest = config("f", "version-code1");
        store.create(&latest).await.unwrap();
        let mut v1 = latest.clone();
        v1.version = "1".into();
        let mut next = latest.clone();
        next.last_version = 1;
        store
            .publish(&next, &latest.revision_id, &v1)
            .await
            .unwrap();
        // A stale revision publishes nothing.
        let mut v2 = v1.clone();
        v2.version = "2".into();
        assert!(matches!(
            store.publish(&next, "stale", &v2).await,
            Err(StoreError::RevisionMismatch { .. })
        ));
        let versions = store.versions("f").await.unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].version, "1");
        assert_eq!(store.get("f").await.unwrap().unwrap().last_version, 1);
        // A version keeps its package in use after $LATEST moves on.
        let mut moved = next.clone();
        moved.code.id = "version-code2".into();
        moved.revision_id = "r9".into();
        store.update(&moved, &next.revision_id).await.unwrap();
        assert!(store.code_in_use("version-code1").await.unwrap());
        assert_eq!(store.delete_version("f", 1).await.unwrap().version, "1");
        assert!(!store.code_in_use("version-code1").await.unwrap());
        assert!(matches!(
            store.delete_version("f", 1).await,
            Err(StoreError::NotFound(_))
        ));
        // Deleting the function deletes its versions.
        store.publish(&moved, "r9", &v2).await.unwrap();
        store.delete("f").await.unwrap();
        assert!(store.versions("f").await.unwrap().is_empty());
    }

    /// The contract every store keeps: layer versions are numbered one past the highest ever.
    async fn layers(store: &dyn FunctionStore) {
        let code = |id: &str| CodeInfo {
            id: id.into(),
            sha256: "x".into(),
            size: 1,
            unzipped_size: 1,
        };
        let layer = |name: &str| LayerVersion {
            name: name.into(),
            version: 0,
            description: String::new(),
            compatible_runtimes: vec![],
            compatible_architectures: vec![],
            license_info: None,
            code: code("layer-code"),
            created_date: String::new(),
        };
        assert_eq!(store.publish_layer(&layer("l")).await.unwrap().version, 1);
        assert_eq!(store.publish_layer(&layer("l")).await.unwrap().version, 2);
        assert_eq!(store.publish_layer(&layer("k")).await.unwrap().version, 1);
        assert!(store.code_in_use("layer-code").await.unwrap());
        assert_eq!(
            store
                .delete_layer_version("l", 2)
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
        assert!(store.delete_layer_version("l", 2).await.unwrap().is_none());
        // A deleted number is never given again.
        assert_eq!(store.publish_layer(&layer("l")).await.unwrap().version, 3);
        let all: Vec<(String, u64)> = store
            .layer_versions()
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.version))
            .collect();
        assert_eq!(all, [("k".into(), 1), ("l".into(), 1), ("l".into(), 3)]);
        assert!(store.layer_version("l", 1).await.unwrap().is_some());
        assert!(store.layer_version("l", 2).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_sqlite_store_keeps_the_contract_and_its_records_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        records(&store).await;
        versions(&store).await;
        layers(&store).await;
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let names: Vec<String> = store
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(store.layer_versions().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn the_memory_store_keeps_the_same_contract() {
        let store = crate::MemoryStore::new();
        records(&store).await;
        versions(&store).await;
        layers(&store).await;
    }

    /// Against a throw-away PostgreSQL: the same contract, the records seen by a second
    /// pool (another node), and migrations applied once however many nodes start.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_postgres_store_keeps_the_same_contract_for_every_node() {
        let pg = lamina_testpg::Postgres::start();
        let pool = crate::PgPool::new(&pg.url(), 4).unwrap();
        let other = crate::PgPool::new(&pg.url(), 4).unwrap();
        let (a, b) = tokio::join!(pool.migrate(), other.migrate());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.len() + b.len(),
            crate::postgres::MIGRATIONS.len(),
            "each migration applied once: {a:?} {b:?}"
        );
        let store = crate::PgFunctionStore::new(pool);
        records(&store).await;
        versions(&store).await;
        layers(&store).await;
        let seen_elsewhere = crate::PgFunctionStore::new(other);
        let names: Vec<String> = seen_elsewhere
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["b", "c"]);
    }
}
