//! [`PgFunctionStore`]: function records, published versions and layers in PostgreSQL, with
//! the same contract as [`crate::SqliteStore`] (the same tests hold both to it): each call
//! is one statement or one transaction. Every change of a function's records is announced to
//! the other nodes ([`super::changes`]) by the statement or transaction that makes it.

use deadpool_postgres::GenericClient;
use lamina_model::FunctionConfig;
use lamina_model::layer::LayerVersion;

use super::changes::{CHANNEL, function_payload};
use super::{PgError, PgPool};
use crate::functions::{FunctionStore, StoreError};

/// Function records in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgFunctionStore {
    pool: PgPool,
}

impl PgFunctionStore {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgFunctionStore {
        PgFunctionStore { pool }
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Why an update guarded by `expected` changed no row.
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
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

fn encode(config: &FunctionConfig) -> String {
    serde_json::to_string(config).expect("a FunctionConfig always serializes")
}

fn decode(name: &str, json: &str) -> Result<FunctionConfig, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
        name: name.to_string(),
        source,
    })
}

fn decode_layer(name: &str, json: &str) -> Result<LayerVersion, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
        name: format!("layer {name}"),
        source,
    })
}

fn decode_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<FunctionConfig>, StoreError> {
    rows.iter()
        .map(|r| decode(r.get::<_, &str>(0), r.get::<_, &str>(1)))
        .collect()
}

/// Replaces `$LATEST` of `config.name` if its stored revision is `expected`; rows changed.
async fn update_latest(
    c: &impl GenericClient,
    config: &FunctionConfig,
    expected: &str,
) -> Result<u64, StoreError> {
    // The change is announced by the statement that makes it (delivered at commit).
    let rows = c
        .query(
            "WITH changed AS (
                 UPDATE functions SET revision = $2, code_id = $3, config = $4
                 WHERE name = $1 AND revision = $5 RETURNING name
             )
             SELECT pg_notify($6, $7) FROM changed",
            &[
                &config.name,
                &config.revision_id,
                &config.code.id,
                &encode(config),
                &expected,
                &CHANNEL,
                &function_payload(&config.name),
            ],
        )
        .await
        .map_err(pg)?;
    Ok(rows.len() as u64)
}

/// Announces a change of `name`'s records (delivered when `c`'s transaction commits).
async fn announce(c: &impl GenericClient, name: &str) -> Result<(), StoreError> {
    c.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &function_payload(name)],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

#[async_trait::async_trait]
impl FunctionStore for PgFunctionStore {
    async fn create(&self, config: &FunctionConfig) -> Result<(), StoreError> {
        let inserted = self
            .conn()
            .await?
            .query(
                "WITH made AS (
                     INSERT INTO functions (name, revision, code_id, config)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name
                 )
                 SELECT pg_notify($5, $6) FROM made",
                &[
                    &config.name,
                    &config.revision_id,
                    &config.code.id,
                    &encode(config),
                    &CHANNEL,
                    &function_payload(&config.name),
                ],
            )
            .await
            .map_err(pg)?;
        if inserted.is_empty() {
            return Err(StoreError::Exists(config.name.clone()));
        }
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<FunctionConfig>, StoreError> {
        let row = self
            .conn()
            .await?
            .query_opt("SELECT config FROM functions WHERE name = $1", &[&name])
            .await
            .map_err(pg)?;
        row.map(|r| decode(name, r.get(0))).transpose()
    }

    async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT name, config FROM functions WHERE name > $1 ORDER BY name LIMIT $2",
                &[&after.unwrap_or(""), &(limit as i64)],
            )
            .await
            .map_err(pg)?;
        decode_rows(&rows)
    }

    async fn all(&self) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query("SELECT name, config FROM functions ORDER BY name", &[])
            .await
            .map_err(pg)?;
        decode_rows(&rows)
    }

    async fn update(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let changed = update_latest(&self.conn().await?, config, expected_revision).await?;
        if changed == 1 {
            return Ok(());
        }
        Err(self.not_updated(&config.name, expected_revision).await)
    }

    async fn delete(&self, name: &str) -> Result<FunctionConfig, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        let row = tx
            .query_opt(
                "DELETE FROM functions WHERE name = $1 RETURNING config",
                &[&name],
            )
            .await
            .map_err(pg)?;
        tx.execute("DELETE FROM versions WHERE name = $1", &[&name])
            .await
            .map_err(pg)?;
        if row.is_some() {
            announce(&tx, name).await?;
        }
        tx.commit().await.map_err(pg)?;
        match row {
            Some(r) => decode(name, r.get(0)),
            None => Err(StoreError::NotFound(name.to_string())),
        }
    }

    async fn code_in_use(&self, code_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .await?
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM functions WHERE code_id = $1)
                     OR EXISTS(SELECT 1 FROM versions WHERE code_id = $1)
                     OR EXISTS(SELECT 1 FROM layers WHERE code_id = $1)",
                &[&code_id],
            )
            .await
            .map_err(pg)?
            .get(0))
    }

    async fn publish(
        &self,
        latest: &FunctionConfig,
        expected_revision: &str,
        version: &FunctionConfig,
    ) -> Result<(), StoreError> {
        let number: i64 = version.version.parse().unwrap_or(0);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        let changed = update_latest(&tx, latest, expected_revision).await?;
        if changed != 1 {
            drop(tx);
            return Err(self.not_updated(&latest.name, expected_revision).await);
        }
        tx.execute(
            "INSERT INTO versions (name, version, code_id, config) VALUES ($1, $2, $3, $4)",
            &[&version.name, &number, &version.code.id, &encode(version)],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT name, config FROM versions WHERE name = $1 ORDER BY version",
                &[&name],
            )
            .await
            .map_err(pg)?;
        decode_rows(&rows)
    }

    async fn delete_version(&self, name: &str, version: u64) -> Result<FunctionConfig, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        let row = tx
            .query_opt(
                "DELETE FROM versions WHERE name = $1 AND version = $2 RETURNING config",
                &[&name, &(version as i64)],
            )
            .await
            .map_err(pg)?;
        if row.is_some() {
            announce(&tx, name).await?;
        }
        tx.commit().await.map_err(pg)?;
        match row {
            Some(r) => decode(name, r.get(0)),
            None => Err(StoreError::NotFound(format!("{name}:{version}"))),
        }
    }

    async fn publish_layer(&self, layer: &LayerVersion) -> Result<LayerVersion, StoreError> {
        let mut stored = layer.clone();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        let n: i64 = tx
            .query_one(
                "INSERT INTO layer_names (name, last_version) VALUES ($1, 1)
                 ON CONFLICT (name) DO UPDATE SET last_version = layer_names.last_version + 1
                 RETURNING last_version",
                &[&layer.name],
            )
            .await
            .map_err(pg)?
            .get(0);
        stored.version = n as u64;
        let json = serde_json::to_string(&stored).expect("a LayerVersion always serializes");
        tx.execute(
            "INSERT INTO layers (name, version, code_id, config) VALUES ($1, $2, $3, $4)",
            &[&stored.name, &n, &stored.code.id, &json],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(stored)
    }

    async fn layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT config FROM layers WHERE name = $1 AND version = $2",
                &[&name, &(version as i64)],
            )
            .await
            .map_err(pg)?;
        row.map(|r| decode_layer(name, r.get(0))).transpose()
    }

    async fn layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT name, config FROM layers ORDER BY name, version",
                &[],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| decode_layer(r.get::<_, &str>(0), r.get::<_, &str>(1)))
            .collect()
    }

    async fn delete_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "DELETE FROM layers WHERE name = $1 AND version = $2 RETURNING config",
                &[&name, &(version as i64)],
            )
            .await
            .map_err(pg)?;
        row.map(|r| decode_layer(name, r.get(0))).transpose()
    }
}
