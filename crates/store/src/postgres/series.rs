//! [`PgSeries`]: CloudWatch's metric history in the cluster's database. Each node writes
//! its own rows (the node is part of the key), so that nodes never contend for a row, and
//! every node reads all of them.

use deadpool_postgres::GenericClient;

use super::{PgError, PgPool};
use crate::StoreError;
use crate::series::{MERGE, MetricSeries, Minute, SeriesKey};

/// Metric history in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSeries {
    pool: PgPool,
}

impl PgSeries {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgSeries {
        PgSeries { pool }
    }
}

/// The series named by columns `at` to `at + 3` (metric, function, resource, version).
fn key_at(r: &tokio_postgres::Row, at: usize) -> SeriesKey {
    SeriesKey {
        metric: r.get(at),
        function: r.get(at + 1),
        resource: r.get(at + 2),
        version: r.get(at + 3),
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

#[async_trait::async_trait]
impl MetricSeries for PgSeries {
    async fn add(&self, node: &str, minutes: &[Minute]) -> Result<(), StoreError> {
        if minutes.is_empty() {
            return Ok(());
        }
        // One statement for the whole flush: a row per minute, unnested from arrays. A
        // series appears at most once per flush, so no row is merged twice in it.
        let start: Vec<i64> = minutes.iter().map(|m| m.start).collect();
        let text = |f: fn(&Minute) -> &str| minutes.iter().map(f).collect::<Vec<&str>>();
        let num = |f: fn(&Minute) -> f64| minutes.iter().map(f).collect::<Vec<f64>>();
        let (metric, function) = (text(|m| &m.key.metric), text(|m| &m.key.function));
        let (resource, version) = (text(|m| &m.key.resource), text(|m| &m.key.version));
        let buckets = text(|m| &m.buckets);
        let (count, sum) = (num(|m| m.count), num(|m| m.sum));
        let (min, max) = (num(|m| m.min), num(|m| m.max));
        let sql = format!(
            "INSERT INTO series AS series (start, metric, function, resource, version, node,
                                           count, sum, min, max, buckets)
             SELECT s, m, f, r, v, $6, c, su, mi, ma, b
             FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                         $7::FLOAT8[], $8::FLOAT8[], $9::FLOAT8[], $10::FLOAT8[], $11::TEXT[])
                  AS x(s, m, f, r, v, c, su, mi, ma, b)
             ON CONFLICT (metric, function, start, resource, version, node)
             DO UPDATE SET {MERGE}"
        );
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &start, &metric, &function, &resource, &version, &node, &count, &sum, &min,
                    &max, &buckets,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn read(
        &self,
        metric: &str,
        function: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Minute>, StoreError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT start, metric, function, resource, version, count, sum, min, max,
                        buckets
                 FROM series
                 WHERE metric = $1 AND ($2::TEXT IS NULL OR function = $2)
                   AND start >= $3 AND start < $4",
                &[&metric, &function, &from, &to],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| Minute {
                start: r.get(0),
                key: key_at(r, 1),
                count: r.get(5),
                sum: r.get(6),
                min: r.get(7),
                max: r.get(8),
                buckets: r.get(9),
            })
            .collect())
    }

    async fn keys(&self, since: i64) -> Result<Vec<SeriesKey>, StoreError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT DISTINCT metric, function, resource, version FROM series
                 WHERE start >= $1 ORDER BY 1, 2, 3, 4",
                &[&since],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| key_at(r, 0)).collect())
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        self.pool
            .get()
            .await?
            .execute("DELETE FROM series WHERE start < $1", &[&before])
            .await
            .map_err(pg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn keeps_the_series_contract() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        crate::series::contract::series(&PgSeries::new(pool)).await;
    }
}
