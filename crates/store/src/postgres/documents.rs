//! [`PgDocuments`]: event sources' documents in one table of the cluster's database. Every
//! write announces its kind on the change channel in the statement that makes it, so each
//! node reloads what it caches of that kind (rules, schedules) when, and only when, it
//! changed.

use tokio_postgres::GenericClient;

use super::changes::{CHANNEL, documents_payload};
use super::{PgError, PgPool};
use crate::StoreError;
use crate::documents::Documents;

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

/// Documents in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgDocuments {
    pool: PgPool,
}

impl PgDocuments {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgDocuments {
        PgDocuments { pool }
    }

    /// Runs a statement of the form `WITH changed AS (... RETURNING kind) SELECT
    /// pg_notify(...) FROM changed`: rows changed.
    async fn change(
        &self,
        sql: &str,
        kind: &str,
        key: &str,
        doc: Option<&str>,
    ) -> Result<u64, StoreError> {
        let c = self.pool.get().await?;
        let payload = documents_payload(kind);
        let rows = match doc {
            Some(doc) => c.query(sql, &[&kind, &key, &doc, &CHANNEL, &payload]).await,
            None => c.query(sql, &[&kind, &key, &CHANNEL, &payload]).await,
        }
        .map_err(pg)?;
        Ok(rows.len() as u64)
    }
}

#[async_trait::async_trait]
impl Documents for PgDocuments {
    async fn insert(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        let sql = "WITH changed AS (
                       INSERT INTO documents (kind, key, doc) VALUES ($1, $2, $3)
                       ON CONFLICT DO NOTHING RETURNING kind
                   )
                   SELECT pg_notify($4, $5) FROM changed";
        Ok(self.change(sql, kind, key, Some(doc)).await? == 1)
    }

    async fn put(&self, kind: &str, key: &str, doc: &str) -> Result<(), StoreError> {
        let sql = "WITH changed AS (
                       INSERT INTO documents (kind, key, doc) VALUES ($1, $2, $3)
                       ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc RETURNING kind
                   )
                   SELECT pg_notify($4, $5) FROM changed";
        self.change(sql, kind, key, Some(doc)).await.map(|_| ())
    }

    async fn replace(&self, kind: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        let sql = "WITH changed AS (
                       UPDATE documents SET doc = $3 WHERE kind = $1 AND key = $2 RETURNING kind
                   )
                   SELECT pg_notify($4, $5) FROM changed";
        Ok(self.change(sql, kind, key, Some(doc)).await? == 1)
    }

    async fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT doc FROM documents WHERE kind = $1 AND key = $2",
                &[&kind, &key],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn delete(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let sql = "WITH changed AS (
                       DELETE FROM documents WHERE kind = $1 AND key = $2 RETURNING kind
                   )
                   SELECT pg_notify($3, $4) FROM changed";
        Ok(self.change(sql, kind, key, None).await? == 1)
    }

    async fn list(&self, kind: &str, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let c = self.pool.get().await?;
        list(&**c, kind, prefix).await
    }
}

async fn list(
    c: &impl GenericClient,
    kind: &str,
    prefix: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    // left() rather than LIKE: keys may hold `%` and `_`. COLLATE "C": byte order, as the
    // embedded store's.
    let rows = c
        .query(
            "SELECT key, doc FROM documents
             WHERE kind = $1 AND left(key, length($2)) = $2 ORDER BY key COLLATE \"C\"",
            &[&kind, &prefix],
        )
        .await
        .map_err(pg)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_postgres_documents_keep_the_contract_and_announce_changes() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let mut changes = super::super::changes::listen(&pg.url());
        // The listener says Resync once it listens.
        assert_eq!(changes.recv().await, Some(crate::Change::Resync));
        let d = PgDocuments::new(pool);
        crate::documents::contract::documents(&d).await;
        assert_eq!(
            changes.recv().await,
            Some(crate::Change::Documents("schedule".into()))
        );
    }
}
