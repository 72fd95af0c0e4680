//! [`PgMetrics`]: each node's invocation metrics per function (cumulative since it started),
//! written every few seconds, so that any node reads the cluster's totals and they outlive
//! the node that counted them.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;

use super::{PgError, PgPool};
use crate::StoreError;
use crate::cluster::{FunctionMetrics, MetricsStore};

/// Metrics in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMetrics {
    pool: PgPool,
}

impl PgMetrics {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgMetrics {
        PgMetrics { pool }
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

#[async_trait::async_trait]
impl MetricsStore for PgMetrics {
    async fn save(
        &self,
        node: &str,
        metrics: &BTreeMap<String, FunctionMetrics>,
    ) -> Result<(), StoreError> {
        if metrics.is_empty() {
            return Ok(());
        }
        let mut names = Vec::new();
        let mut columns: [Vec<i64>; 6] = Default::default();
        for (name, m) in metrics {
            names.push(name.as_str());
            let values = [
                m.invocations,
                m.errors,
                m.throttles,
                m.cold_starts,
                m.duration_us,
                m.billed_mb_ms,
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value as i64);
            }
        }
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO function_metrics
                     (function, node, invocations, errors, throttles, cold_starts,
                      duration_us, billed_mb_ms)
                 SELECT f, $2, i, e, t, c, d, b FROM UNNEST($1::TEXT[], $3::BIGINT[],
                     $4::BIGINT[], $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[])
                     AS m(f, i, e, t, c, d, b)
                 ON CONFLICT (function, node) DO UPDATE SET
                     invocations = EXCLUDED.invocations, errors = EXCLUDED.errors,
                     throttles = EXCLUDED.throttles, cold_starts = EXCLUDED.cold_starts,
                     duration_us = EXCLUDED.duration_us, billed_mb_ms = EXCLUDED.billed_mb_ms",
                &[
                    &names,
                    &node,
                    &columns[0],
                    &columns[1],
                    &columns[2],
                    &columns[3],
                    &columns[4],
                    &columns[5],
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn totals(&self) -> Result<BTreeMap<String, FunctionMetrics>, StoreError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT function, sum(invocations)::BIGINT, sum(errors)::BIGINT,
                        sum(throttles)::BIGINT, sum(cold_starts)::BIGINT,
                        sum(duration_us)::BIGINT, sum(billed_mb_ms)::BIGINT
                 FROM function_metrics GROUP BY function",
                &[],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| {
                let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
                (
                    r.get(0),
                    FunctionMetrics {
                        invocations: n(1),
                        errors: n(2),
                        throttles: n(3),
                        cold_starts: n(4),
                        duration_us: n(5),
                        billed_mb_ms: n(6),
                    },
                )
            })
            .collect())
    }

    async fn forget(&self, function: &str) -> Result<(), StoreError> {
        self.pool
            .get()
            .await?
            .execute(
                "DELETE FROM function_metrics WHERE function = $1",
                &[&function],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn every_nodes_counts_add_up() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let m = PgMetrics::new(pool);
        let counted = |invocations| FunctionMetrics {
            invocations,
            errors: 1,
            ..FunctionMetrics::default()
        };
        m.save("a", &BTreeMap::from([("f".to_string(), counted(3))]))
            .await
            .unwrap();
        m.save("b", &BTreeMap::from([("f".to_string(), counted(4))]))
            .await
            .unwrap();
        // Cumulative: a node's later figures replace its earlier ones.
        m.save("a", &BTreeMap::from([("f".to_string(), counted(5))]))
            .await
            .unwrap();
        let totals = m.totals().await.unwrap();
        assert_eq!((totals["f"].invocations, totals["f"].errors), (9, 2));
        m.forget("f").await.unwrap();
        assert!(m.totals().await.unwrap().is_empty());
    }
}
