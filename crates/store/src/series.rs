//! [`MetricSeries`]: CloudWatch's metric history, one row per minute, metric, function,
//! resource (the qualifier invoked), executed version and node, kept for 15 days. Each
//! row holds the minute's statistic set (count, sum, minimum, maximum) and its
//! distribution as buckets, so that any period's percentiles can be read back. The
//! platform owns what the buckets mean; the store keeps them as text and merges rows by
//! appending it, so that merging is the same statement in SQLite and PostgreSQL.
//!
//! Implementations: [`SqliteSeries`] (one node), [`MemorySeries`] (tests, throw-away
//! servers) and `PgSeries` (a cluster: every node writes its own rows, every node reads
//! all of them), held to the same contract tests (`series::contract`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::StoreError;

/// What a minute's row is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name (`Invocations`, `Duration`, …).
    pub metric: String,
    /// Function name; empty for an account-wide figure.
    pub function: String,
    /// The qualifier invoked (an alias or a version); empty when none was.
    pub resource: String,
    /// The version that ran; empty where it does not apply.
    pub version: String,
}

/// One minute of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Minute {
    /// Start of the minute, in seconds since the epoch (a multiple of 60).
    pub start: i64,
    /// The series.
    pub key: SeriesKey,
    /// Values observed.
    pub count: f64,
    /// Their sum.
    pub sum: f64,
    /// The least.
    pub min: f64,
    /// The greatest.
    pub max: f64,
    /// The distribution, as the platform encodes it (`index:count` pairs, comma-separated;
    /// an index may appear more than once after merging: counts add up).
    pub buckets: String,
}

/// Metric history.
#[async_trait::async_trait]
pub trait MetricSeries: Send + Sync + std::fmt::Debug {
    /// Adds `node`'s minutes; a minute already kept for the same node and series is merged
    /// (counts and sums add up, extremes widen, buckets are appended).
    async fn add(&self, node: &str, minutes: &[Minute]) -> Result<(), StoreError>;
    /// Every node's minutes of `metric` starting in `[from, to)`, of `function` alone when
    /// given, in no particular order.
    async fn read(
        &self,
        metric: &str,
        function: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Minute>, StoreError>;
    /// Every series with a minute starting at or after `since`.
    async fn keys(&self, since: i64) -> Result<Vec<SeriesKey>, StoreError>;
    /// Removes the minutes that start before `before`; how many rows went.
    async fn prune(&self, before: i64) -> Result<u64, StoreError>;
}

/// How long minutes are kept: CloudWatch keeps one-minute data points for 15 days.
pub const RETENTION_SECS: i64 = 15 * 24 * 3600;

/// The statement that merges a row into an existing one: the same in SQLite and
/// PostgreSQL (both take `excluded` and `||`).
pub(crate) const MERGE: &str = "count = series.count + excluded.count,
     sum = series.sum + excluded.sum,
     min = CASE WHEN excluded.min < series.min THEN excluded.min ELSE series.min END,
     max = CASE WHEN excluded.max > series.max THEN excluded.max ELSE series.max END,
     buckets = CASE WHEN series.buckets = '' THEN excluded.buckets
                    WHEN excluded.buckets = '' THEN series.buckets
                    ELSE series.buckets || ',' || excluded.buckets END";

/// The embedded implementation: one SQLite file.
#[derive(Debug)]
pub struct SqliteSeries {
    db: crate::sqlite::Db,
}

impl SqliteSeries {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteSeries, StoreError> {
        let db = crate::sqlite::Db::open(
            path,
            "CREATE TABLE IF NOT EXISTS series (
                 start INTEGER NOT NULL,
                 metric TEXT NOT NULL,
                 function TEXT NOT NULL,
                 resource TEXT NOT NULL,
                 version TEXT NOT NULL,
                 node TEXT NOT NULL,
                 count REAL NOT NULL,
                 sum REAL NOT NULL,
                 min REAL NOT NULL,
                 max REAL NOT NULL,
                 buckets TEXT NOT NULL,
                 PRIMARY KEY (metric, function, start, resource, version, node)
             );
             CREATE INDEX IF NOT EXISTS series_start ON series (start);",
        )?;
        Ok(SqliteSeries { db })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.db.with(f)
    }
}

/// The series named by columns `at` to `at + 3` (metric, function, resource, version).
fn key_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<SeriesKey> {
    Ok(SeriesKey {
        metric: r.get(at)?,
        function: r.get(at + 1)?,
        resource: r.get(at + 2)?,
        version: r.get(at + 3)?,
    })
}

fn minute_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Minute> {
    Ok(Minute {
        start: r.get(0)?,
        key: key_at(r, 1)?,
        count: r.get(5)?,
        sum: r.get(6)?,
        min: r.get(7)?,
        max: r.get(8)?,
        buckets: r.get(9)?,
    })
}

#[async_trait::async_trait]
impl MetricSeries for SqliteSeries {
    async fn add(&self, node: &str, minutes: &[Minute]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(&format!(
                    "INSERT INTO series (start, metric, function, resource, version, node,
                                         count, sum, min, max, buckets)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (metric, function, start, resource, version, node)
                     DO UPDATE SET {MERGE}"
                ))?;
                for m in minutes {
                    stmt.execute(params![
                        m.start,
                        m.key.metric,
                        m.key.function,
                        m.key.resource,
                        m.key.version,
                        node,
                        m.count,
                        m.sum,
                        m.min,
                        m.max,
                        m.buckets
                    ])?;
                }
            }
            tx.commit()
        })
    }

    async fn read(
        &self,
        metric: &str,
        function: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Minute>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT start, metric, function, resource, version, count, sum, min, max,
                        buckets
                 FROM series
                 WHERE metric = ?1 AND (?2 IS NULL OR function = ?2)
                   AND start >= ?3 AND start < ?4",
            )?;
            let rows = stmt.query_map(params![metric, function, from, to], minute_of)?;
            rows.collect()
        })
    }

    async fn keys(&self, since: i64) -> Result<Vec<SeriesKey>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT metric, function, resource, version FROM series
                 WHERE start >= ?1 ORDER BY 1, 2, 3, 4",
            )?;
            let rows = stmt.query_map(params![since], |r| key_at(r, 0))?;
            rows.collect()
        })
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        self.with(|c| c.execute("DELETE FROM series WHERE start < ?1", params![before]))
            .map(|n| n as u64)
    }
}

/// The in-memory implementation (tests, throw-away servers).
#[derive(Debug, Default)]
pub struct MemorySeries {
    rows: Mutex<BTreeMap<(i64, SeriesKey, String), Minute>>,
}

impl MemorySeries {
    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<(i64, SeriesKey, String), Minute>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl MetricSeries for MemorySeries {
    async fn add(&self, node: &str, minutes: &[Minute]) -> Result<(), StoreError> {
        let mut rows = self.rows();
        for m in minutes {
            rows.entry((m.start, m.key.clone(), node.to_string()))
                .and_modify(|kept| {
                    kept.count += m.count;
                    kept.sum += m.sum;
                    kept.min = kept.min.min(m.min);
                    kept.max = kept.max.max(m.max);
                    if kept.buckets.is_empty() {
                        kept.buckets = m.buckets.clone();
                    } else if !m.buckets.is_empty() {
                        kept.buckets = format!("{},{}", kept.buckets, m.buckets);
                    }
                })
                .or_insert_with(|| m.clone());
        }
        Ok(())
    }

    async fn read(
        &self,
        metric: &str,
        function: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Minute>, StoreError> {
        Ok(self
            .rows()
            .values()
            .filter(|m| m.key.metric == metric && m.start >= from && m.start < to)
            .filter(|m| function.is_none_or(|f| m.key.function == f))
            .cloned()
            .collect())
    }

    async fn keys(&self, since: i64) -> Result<Vec<SeriesKey>, StoreError> {
        let keys: std::collections::BTreeSet<SeriesKey> = self
            .rows()
            .values()
            .filter(|m| m.start >= since)
            .map(|m| m.key.clone())
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let n = rows.len();
        rows.retain(|(start, _, _), _| *start >= before);
        Ok((n - rows.len()) as u64)
    }
}

/// The contract every implementation keeps.
#[cfg(test)]
pub mod contract {
    use super::{MetricSeries, Minute, SeriesKey};

    fn minute(start: i64, metric: &str, function: &str, count: f64, buckets: &str) -> Minute {
        Minute {
            start,
            key: SeriesKey {
                metric: metric.into(),
                function: function.into(),
                resource: String::new(),
                version: "$LATEST".into(),
            },
            count,
            sum: count * 2.0,
            min: count,
            max: count * 3.0,
            buckets: buckets.into(),
        }
    }

    /// Adding, merging a node's second write of a minute, reading by metric, function and
    /// time, listing series, pruning.
    pub async fn series(s: &dyn MetricSeries) {
        s.add(
            "a",
            &[
                minute(60, "Duration", "f", 1.0, "3:1"),
                minute(120, "Duration", "f", 2.0, ""),
                minute(60, "Duration", "g", 4.0, "1:4"),
                minute(60, "Invocations", "f", 1.0, ""),
            ],
        )
        .await
        .unwrap();
        // The same node's second write of a minute merges; another node's is its own row.
        s.add("a", &[minute(60, "Duration", "f", 5.0, "7:5")])
            .await
            .unwrap();
        s.add("b", &[minute(60, "Duration", "f", 1.0, "")])
            .await
            .unwrap();
        let mut f = s.read("Duration", Some("f"), 60, 120).await.unwrap();
        f.sort_by(|x, y| x.count.total_cmp(&y.count));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            (f[1].count, f[1].sum, f[1].min, f[1].max),
            (6.0, 12.0, 1.0, 15.0)
        );
        assert_eq!(f[1].buckets, "3:1,7:5");
        assert_eq!(f[0].buckets, "");
        assert_eq!(s.read("Duration", None, 0, 1000).await.unwrap().len(), 4);
        assert_eq!(s.read("Duration", Some("f"), 121, 1000).await.unwrap(), []);
        let keys = s.keys(0).await.unwrap();
        let names: Vec<_> = keys
            .iter()
            .map(|k| (k.metric.as_str(), k.function.as_str()))
            .collect();
        assert_eq!(
            names,
            [("Duration", "f"), ("Duration", "g"), ("Invocations", "f")]
        );
        assert_eq!(s.keys(120).await.unwrap().len(), 1);
        assert_eq!(s.prune(120).await.unwrap(), 4);
        assert_eq!(s.read("Duration", None, 0, 1000).await.unwrap().len(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_embedded_implementations_keep_the_contract() {
        contract::series(&MemorySeries::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.sqlite3");
        contract::series(&SqliteSeries::open(&path).unwrap()).await;
        let reopened = SqliteSeries::open(&path).unwrap();
        assert_eq!(reopened.keys(0).await.unwrap().len(), 1);
    }
}
