//! [`PgPackages`]: a cluster's packages in PostgreSQL, cut into chunks of [`CHUNK_BYTES`]
//! (rows stay small, and a 50 MB zip streams in and out without one huge value), written in
//! one transaction so that a package is whole or absent.

use deadpool_postgres::GenericClient;

use super::{PgError, PgPool};
use crate::StoreError;
use crate::archive::PackageArchive;

/// The size of a stored chunk.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Packages in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgPackages {
    pool: PgPool,
}

impl PgPackages {
    /// The archive on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgPackages {
        PgPackages { pool }
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

#[async_trait::async_trait]
impl PackageArchive for PgPackages {
    async fn save(&self, id: &str, zip: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        // Only the first writer of an id stores it; others find it there (or wait for it).
        let first = tx
            .execute(
                "INSERT INTO packages (id, size, chunks) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &id,
                    &(zip.len() as i64),
                    &(zip.len().div_ceil(CHUNK_BYTES) as i32),
                ],
            )
            .await
            .map_err(pg)?;
        if first == 1 {
            let insert = tx
                .prepare("INSERT INTO package_chunks (id, seq, data) VALUES ($1, $2, $3)")
                .await
                .map_err(pg)?;
            for (seq, chunk) in zip.chunks(CHUNK_BYTES).enumerate() {
                tx.execute(&insert, &[&id, &(seq as i32), &chunk])
                    .await
                    .map_err(pg)?;
            }
        }
        tx.commit().await.map_err(pg)
    }

    async fn load(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.pool.get().await?;
        let Some(head) = conn
            .query_opt("SELECT size FROM packages WHERE id = $1", &[&id])
            .await
            .map_err(pg)?
        else {
            return Ok(None);
        };
        let size: i64 = head.get(0);
        let mut zip = Vec::with_capacity(size.max(0) as usize);
        for row in conn
            .query(
                "SELECT data FROM package_chunks WHERE id = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .map_err(pg)?
        {
            zip.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        Ok(Some(zip))
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        tx.execute("DELETE FROM package_chunks WHERE id = $1", &[&id])
            .await
            .map_err(pg)?;
        tx.execute("DELETE FROM packages WHERE id = $1", &[&id])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn packages_are_kept_whole_across_chunks_and_once() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let archive = PgPackages::new(pool);
        let big: Vec<u8> = (0..CHUNK_BYTES * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        archive.save("big", &big).await.unwrap();
        archive.save("big", b"not the same bytes").await.unwrap();
        assert_eq!(
            archive.load("big").await.unwrap().as_deref(),
            Some(&big[..])
        );
        archive.save("empty", b"").await.unwrap();
        assert_eq!(archive.load("empty").await.unwrap(), Some(Vec::new()));
        assert_eq!(archive.load("missing").await.unwrap(), None);
        archive.remove("big").await.unwrap();
        assert_eq!(archive.load("big").await.unwrap(), None);
    }
}
