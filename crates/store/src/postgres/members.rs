//! [`PgMembers`]: the nodes of a cluster and the capacity they hold.
//!
//! - **Membership**: each node registers in `nodes` and heartbeats every
//!   [`HEARTBEAT_EVERY`]; a node whose heartbeat is older than the death timeout is removed
//!   (with whatever it held) by any live node. A node that cannot heartbeat for that long
//!   knows it may have been removed, and [`PgMembers::holds`] says so: it must stop using
//!   the capacity it held.
//! - **Capacity**: a limit shared by the cluster (a function's reserved concurrency) is cut
//!   into slots, each held by one node. A node takes a slot with [`PgMembers::acquire`] (one
//!   transaction, serialized per scope by an advisory lock, which checks that the slots held
//!   by all nodes stay within the limit) and gives back those it no longer needs with
//!   [`PgMembers::release`]. Invocations then take the slots a node holds without asking the
//!   database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::{PgError, PgPool};
use crate::StoreError;

/// How often a node heartbeats.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// One node, as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its id.
    pub id: String,
    /// Where its API listens.
    pub endpoint: String,
    /// Milliseconds since its last heartbeat.
    pub silent_ms: i64,
    /// Slots it holds, by scope.
    pub holds: Vec<(String, u32)>,
}

/// This node's membership of a cluster.
#[derive(Debug, Clone)]
pub struct PgMembers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    id: String,
    dead_after: Duration,
    /// When this node last heartbeat successfully (epoch ms).
    last_beat_ms: AtomicI64,
    /// The live nodes at the last heartbeat, sorted.
    live: std::sync::Mutex<Vec<String>>,
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl PgMembers {
    /// Registers the node `id` (its API at `endpoint`) in `pool`'s cluster and starts its
    /// heartbeat, which ends with the returned handle; nodes silent for `dead_after` are
    /// removed.
    pub async fn join(
        pool: PgPool,
        id: &str,
        endpoint: &str,
        dead_after: Duration,
    ) -> Result<PgMembers, StoreError> {
        let now = now_ms();
        pool.get()
            .await?
            .execute(
                "INSERT INTO nodes (id, endpoint, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $3)
                 ON CONFLICT (id) DO UPDATE SET endpoint = $2, heartbeat_ms = $3",
                &[&id, &endpoint, &now],
            )
            .await
            .map_err(pg)?;
        let members = PgMembers {
            inner: Arc::new(Inner {
                pool,
                id: id.to_string(),
                dead_after,
                last_beat_ms: AtomicI64::new(now),
                live: std::sync::Mutex::new(vec![id.to_string()]),
            }),
        };
        let weak = Arc::downgrade(&members.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                let m = PgMembers { inner };
                if let Err(e) = m.beat().await {
                    tracing::warn!(error = %e, "could not heartbeat to the cluster's database");
                }
            }
        });
        Ok(members)
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The ids of the nodes alive at the last heartbeat, sorted.
    pub fn live(&self) -> Vec<String> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this node may still use what it holds: its last heartbeat is recent enough
    /// that no other node can have removed it.
    pub fn holds(&self) -> bool {
        let silent = now_ms() - self.inner.last_beat_ms.load(Ordering::SeqCst);
        // A margin of one heartbeat, so that it stops before others may act.
        silent + (HEARTBEAT_EVERY.as_millis() as i64) < self.inner.dead_after.as_millis() as i64
    }

    async fn beat(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let dead_before = now - self.inner.dead_after.as_millis() as i64;
        let mut conn = self.inner.pool.get().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        let alive = tx
            .execute(
                "UPDATE nodes SET heartbeat_ms = $2 WHERE id = $1",
                &[&self.inner.id, &now],
            )
            .await
            .map_err(pg)?;
        if alive == 0 {
            // Removed while silent: what it held is gone; it joins again holding nothing.
            tx.execute(
                "INSERT INTO nodes (id, endpoint, started_ms, heartbeat_ms)
                 VALUES ($1, '', $2, $2)",
                &[&self.inner.id, &now],
            )
            .await
            .map_err(pg)?;
            tracing::warn!("this node had been removed from the cluster; it joined again");
        }
        tx.execute("DELETE FROM nodes WHERE heartbeat_ms < $1", &[&dead_before])
            .await
            .map_err(pg)?;
        let live: Vec<String> = tx
            .query("SELECT id FROM nodes ORDER BY id", &[])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.commit().await.map_err(pg)?;
        *self.inner.live.lock().unwrap_or_else(|p| p.into_inner()) = live;
        if alive == 1 {
            self.inner.last_beat_ms.store(now, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Takes one more slot of `scope` if the slots of every node stay within `limit`.
    pub async fn acquire(&self, scope: &str, limit: u32) -> Result<bool, StoreError> {
        if !self.holds() {
            return Ok(false);
        }
        let mut conn = self.inner.pool.get().await?;
        let tx = conn.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&scope])
            .await
            .map_err(pg)?;
        let held: i64 = tx
            .query_one(
                "SELECT COALESCE(sum(held), 0)::BIGINT FROM capacity WHERE scope = $1",
                &[&scope],
            )
            .await
            .map_err(pg)?
            .get(0);
        if held >= i64::from(limit) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO capacity (scope, node, held) VALUES ($1, $2, 1)
             ON CONFLICT (scope, node) DO UPDATE SET held = capacity.held + 1",
            &[&scope, &self.inner.id],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    /// Gives back `n` slots of `scope`.
    pub async fn release(&self, scope: &str, n: u32) -> Result<(), StoreError> {
        let conn = self.inner.pool.get().await?;
        conn.execute(
            "UPDATE capacity SET held = GREATEST(held - $3, 0) WHERE scope = $1 AND node = $2",
            &[&scope, &self.inner.id, &(n as i32)],
        )
        .await
        .map_err(pg)?;
        conn.execute(
            "DELETE FROM capacity WHERE scope = $1 AND node = $2 AND held = 0",
            &[&scope, &self.inner.id],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    /// Every live node, with what it holds.
    pub async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        let now = now_ms();
        let rows = self
            .inner
            .pool
            .get()
            .await?
            .query(
                "SELECT n.id, n.endpoint, n.heartbeat_ms, c.scope, c.held
                 FROM nodes n LEFT JOIN capacity c ON c.node = n.id
                 ORDER BY n.id, c.scope",
                &[],
            )
            .await
            .map_err(pg)?;
        let mut nodes: Vec<Node> = Vec::new();
        for r in rows {
            let id: String = r.get(0);
            if nodes.last().is_none_or(|n| n.id != id) {
                nodes.push(Node {
                    id,
                    endpoint: r.get(1),
                    silent_ms: now - r.get::<_, i64>(2),
                    holds: Vec::new(),
                });
            }
            if let (Some(scope), Some(held)) =
                (r.get::<_, Option<String>>(3), r.get::<_, Option<i32>>(4))
                && let Some(n) = nodes.last_mut()
            {
                n.holds.push((scope, held as u32));
            }
        }
        Ok(nodes)
    }

    /// Leaves the cluster, giving back everything held (at shutdown).
    pub async fn leave(&self) -> Result<(), StoreError> {
        self.inner
            .pool
            .get()
            .await?
            .execute("DELETE FROM nodes WHERE id = $1", &[&self.inner.id])
            .await
            .map_err(pg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn slots_never_exceed_the_limit_and_a_dead_nodes_come_back() {
        let pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 8).unwrap();
        pool.migrate().await.unwrap();
        let dead_after = Duration::from_secs(3);
        let a = PgMembers::join(pool.clone(), "a", "http://a", dead_after)
            .await
            .unwrap();
        let b = PgMembers::join(pool.clone(), "b", "http://b", dead_after)
            .await
            .unwrap();
        // Many at once, from both: exactly the limit is granted.
        let mut tries = Vec::new();
        for i in 0..10 {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            tries.push(tokio::spawn(
                async move { m.acquire("fn:f", 3).await.unwrap() },
            ));
        }
        let mut granted = 0;
        for t in tries {
            granted += u32::from(t.await.unwrap());
        }
        assert_eq!(granted, 3);
        let nodes = a.nodes().await.unwrap();
        assert_eq!(nodes.len(), 2);
        let held: u32 = nodes.iter().flat_map(|n| n.holds.iter().map(|h| h.1)).sum();
        assert_eq!(held, 3);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(a.live(), ["a", "b"]);
        // A slot given back can be taken again.
        let holder = if nodes[0].holds.is_empty() { &b } else { &a };
        holder.release("fn:f", 1).await.unwrap();
        assert!(a.acquire("fn:f", 3).await.unwrap());
        // A node that stops heartbeating is removed with its slots.
        let b_id = b.id().to_string();
        drop(b);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let nodes = a.nodes().await.unwrap();
        assert!(nodes.iter().all(|n| n.id != b_id), "{nodes:?}");
        let held: u32 = nodes.iter().flat_map(|n| n.holds.iter().map(|h| h.1)).sum();
        assert!(held <= 3);
        assert!(a.holds());
        assert_eq!(a.live(), ["a"], "the live nodes, as of the last heartbeat");
    }
}
