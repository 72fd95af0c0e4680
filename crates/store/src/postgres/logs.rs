//! [`PgLogStore`]: function logs of every node of a cluster in one table, so that reading a
//! group on any node (`aws logs filter-log-events`) sees every node's events. Appends are
//! buffered in memory and written in batches (one statement per flush, every 200 ms or
//! before a read), so the invocation path never waits on the database; a node that dies
//! loses at most its last batch.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use super::PgPool;
use crate::logs::{LogBackend, LogQuery, StoredEvent};

/// Most events buffered before appends drop the oldest (the database is away too long).
const MAX_BUFFERED: usize = 100_000;

/// Logs in PostgreSQL.
#[derive(Debug)]
pub struct PgLogStore {
    pool: PgPool,
    buffer: Mutex<Vec<(String, String, i64, String)>>,
}

impl PgLogStore {
    /// The store on `pool`, whose schema must be migrated.
    pub fn new(pool: PgPool) -> PgLogStore {
        PgLogStore {
            pool,
            buffer: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Vec<(String, String, i64, String)> {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

#[async_trait::async_trait]
impl LogBackend for PgLogStore {
    fn append(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> io::Result<()> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        for (ts, message) in events {
            buffer.push((
                group.to_string(),
                stream.to_string(),
                *ts,
                message.to_string(),
            ));
        }
        if buffer.len() > MAX_BUFFERED {
            let excess = buffer.len() - MAX_BUFFERED;
            buffer.drain(..excess);
            tracing::warn!(
                dropped = excess,
                "the database is not taking log events; dropped the oldest"
            );
        }
        Ok(())
    }

    fn close(&self, _group: &str, _stream: &str) {}

    async fn flush(&self) {
        let batch = self.take();
        if batch.is_empty() {
            return;
        }
        let (mut groups, mut streams, mut times, mut messages) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (g, s, t, m) in &batch {
            groups.push(g.as_str());
            streams.push(s.as_str());
            times.push(*t);
            messages.push(m.as_str());
        }
        let written = async {
            self.pool
                .get()
                .await
                .map_err(io_err)?
                .execute(
                    "INSERT INTO log_events (grp, stream, ts, message)
                     SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[])",
                    &[&groups, &streams, &times, &messages],
                )
                .await
                .map_err(io_err)
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write log events; keeping them for the next flush");
            let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
            let later = std::mem::take(&mut *buffer);
            *buffer = batch;
            buffer.extend(later);
        }
    }

    async fn group_exists(&self, group: &str) -> io::Result<bool> {
        self.flush().await;
        Ok(self
            .pool
            .get()
            .await
            .map_err(io_err)?
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM log_events WHERE grp = $1)",
                &[&group],
            )
            .await
            .map_err(io_err)?
            .get(0))
    }

    async fn streams(&self, group: &str) -> io::Result<Vec<(String, u64, std::time::SystemTime)>> {
        self.flush().await;
        let rows = self
            .pool
            .get()
            .await
            .map_err(io_err)?
            .query(
                "SELECT stream, sum(length(message))::BIGINT, max(ts) FROM log_events
                 WHERE grp = $1 GROUP BY stream ORDER BY max(ts) DESC",
                &[&group],
            )
            .await
            .map_err(io_err)?;
        Ok(rows
            .iter()
            .map(|r| {
                let at = UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(2).max(0) as u64);
                (r.get(0), r.get::<_, i64>(1) as u64, at)
            })
            .collect())
    }

    async fn groups(&self) -> io::Result<Vec<(String, u64, i64)>> {
        self.flush().await;
        let rows = self
            .pool
            .get()
            .await
            .map_err(io_err)?
            .query(
                "SELECT grp, sum(length(message))::BIGINT, min(ts) FROM log_events
                 GROUP BY grp ORDER BY grp",
                &[],
            )
            .await
            .map_err(io_err)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64, r.get(2)))
            .collect())
    }

    async fn expire(&self, group: &str, before_ms: i64) -> io::Result<u64> {
        self.flush().await;
        self.pool
            .get()
            .await
            .map_err(io_err)?
            .execute(
                "DELETE FROM log_events WHERE grp = $1 AND ts < $2",
                &[&group, &before_ms],
            )
            .await
            .map_err(io_err)
    }

    async fn query(&self, group: &str, query: &LogQuery) -> io::Result<(Vec<StoredEvent>, bool)> {
        self.flush().await;
        let rows = self
            .pool
            .get()
            .await
            .map_err(io_err)?
            .query(
                "SELECT id, stream, ts, message FROM log_events
                 WHERE grp = $1
                   AND ($2::BIGINT IS NULL OR ts >= $2)
                   AND ($3::BIGINT IS NULL OR ts <= $3)
                   AND ($4::TEXT[] IS NULL OR stream = ANY($4))
                   AND ($5::TEXT IS NULL OR strpos(message, $5) > 0)
                 ORDER BY ts, id OFFSET $6 LIMIT $7",
                &[
                    &group,
                    &query.start_ms,
                    &query.end_ms,
                    &query.streams,
                    &query.contains,
                    &(query.skip as i64),
                    &(query.limit as i64 + 1),
                ],
            )
            .await
            .map_err(io_err)?;
        let more = rows.len() > query.limit;
        let events = rows
            .iter()
            .take(query.limit)
            .map(|r| StoredEvent {
                stream: r.get(1),
                timestamp_ms: r.get(2),
                message: r.get(3),
                event_id: format!("{:020}", r.get::<_, i64>(0)),
            })
            .collect();
        Ok((events, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_postgres_store_keeps_the_contract() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        crate::logs::contract(&PgLogStore::new(pool)).await;
    }

    /// Two nodes write; either reads both.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_nodes_events_are_read_on_any_node() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let a = PgLogStore::new(pool.clone());
        let b = PgLogStore::new(pool);
        a.append(
            "/aws/lambda/f",
            "s-a",
            &[(1_000, "from a"), (3_000, "a again")],
        )
        .unwrap();
        b.append("/aws/lambda/f", "s-b", &[(2_000, "from b")])
            .unwrap();
        b.flush().await;
        assert!(!a.group_exists("/aws/lambda/g").await.unwrap());
        let all = LogQuery {
            limit: 10,
            ..LogQuery::default()
        };
        let (events, more) = a.query("/aws/lambda/f", &all).await.unwrap();
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            (messages, more),
            (vec!["from a", "from b", "a again"], false)
        );
        let page = LogQuery {
            limit: 1,
            skip: 1,
            contains: Some("from".into()),
            ..LogQuery::default()
        };
        let (events, more) = b.query("/aws/lambda/f", &page).await.unwrap();
        assert_eq!((events[0].message.as_str(), more), ("from b", false));
        let streams = b.streams("/aws/lambda/f").await.unwrap();
        assert_eq!(streams[0].0, "s-a", "newest first");
        assert_eq!(streams.len(), 2);
    }
}
