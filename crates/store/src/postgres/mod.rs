//! The PostgreSQL side of cluster mode: one pool of connections shared by every store, and
//! the schema's versioned migrations, applied at start under an advisory lock so that nodes
//! starting together apply each once.
//!
//! - [`functions`]: [`PgFunctionStore`], the [`crate::FunctionStore`] of a cluster.
//! - [`packages`]: [`PgPackages`], the [`crate::PackageArchive`] of a cluster.
//! - [`queue`]: [`PgQueue`], the asynchronous event queue of a cluster.
//! - [`logs`]: [`PgLogStore`], the function logs of every node.
//! - [`members`]: [`PgMembers`], the nodes (heartbeats) and the capacity slots they hold.
//! - [`metrics`]: [`PgMetrics`], every node's invocation metrics.
//! - [`series`]: [`PgSeries`], CloudWatch's metric history of every node.
//! - [`changes`]: how nodes learn of each other's changes (LISTEN/NOTIFY).
//! - [`import`]: moving one node's embedded state in (`lamina migrate`).

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub mod changes;
pub mod documents;
pub mod functions;
pub mod import;
pub mod logs;
pub mod members;
pub mod messages;
pub mod metrics;
pub mod packages;
pub mod queue;
pub mod series;

pub use documents::PgDocuments;
pub use functions::PgFunctionStore;
pub use logs::PgLogStore;
pub use members::PgMembers;
pub use messages::PgMessages;
pub use metrics::PgMetrics;
pub use packages::PgPackages;
pub use queue::PgQueue;
pub use series::PgSeries;

/// Why PostgreSQL could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection URL does not parse.
    #[error("the database URL is not valid: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// No connection could be had (the server is down or unreachable).
    #[error("no connection to the database: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("{0}")]
    Statement(#[from] tokio_postgres::Error),
    /// The pool could not be built.
    #[error("the connection pool could not be built: {0}")]
    Pool(#[from] deadpool_postgres::BuildError),
}

impl PgError {
    /// Whether the database could not be reached (as opposed to refusing a statement): a
    /// caller may retry once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            PgError::Unavailable(_) => true,
            PgError::Statement(e) => e.is_closed() || e.as_db_error().is_none(),
            _ => false,
        }
    }
}

/// The versioned schema: migration `i` takes the schema from version `i` to `i + 1`. Never
/// edit one that has shipped; add the next.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: function records, published versions, layers.
    "CREATE TABLE functions (
         name TEXT PRIMARY KEY,
         revision TEXT NOT NULL,
         code_id TEXT NOT NULL,
         config TEXT NOT NULL
     );
     CREATE INDEX functions_code ON functions(code_id);
     CREATE TABLE versions (
         name TEXT NOT NULL,
         version BIGINT NOT NULL,
         code_id TEXT NOT NULL,
         config TEXT NOT NULL,
         PRIMARY KEY (name, version)
     );
     CREATE INDEX versions_code ON versions(code_id);
     CREATE TABLE layer_names (
         name TEXT PRIMARY KEY,
         last_version BIGINT NOT NULL
     );
     CREATE TABLE layers (
         name TEXT NOT NULL,
         version BIGINT NOT NULL,
         code_id TEXT NOT NULL,
         config TEXT NOT NULL,
         PRIMARY KEY (name, version)
     );
     CREATE INDEX layers_code ON layers(code_id);",
    // 2: packages, in chunks.
    "CREATE TABLE packages (
         id TEXT PRIMARY KEY,
         size BIGINT NOT NULL,
         chunks INTEGER NOT NULL
     );
     CREATE TABLE package_chunks (
         id TEXT NOT NULL,
         seq INTEGER NOT NULL,
         data BYTEA NOT NULL,
         PRIMARY KEY (id, seq)
     );",
    // 3: the asynchronous event queue and its failed messages.
    "CREATE TABLE queue_messages (
         id BIGSERIAL PRIMARY KEY,
         queue TEXT NOT NULL,
         body BYTEA NOT NULL,
         attributes BYTEA NOT NULL,
         due_ms BIGINT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         enqueued_ms BIGINT NOT NULL,
         leased_by TEXT,
         lease_until BIGINT
     );
     CREATE INDEX queue_messages_due ON queue_messages (due_ms, id);
     CREATE INDEX queue_messages_queue ON queue_messages (queue);
     CREATE TABLE queue_failed (
         id BIGINT PRIMARY KEY,
         queue TEXT NOT NULL,
         body BYTEA NOT NULL,
         attributes BYTEA NOT NULL,
         attempts INTEGER NOT NULL,
         enqueued_ms BIGINT NOT NULL,
         failed_ms BIGINT NOT NULL,
         reason TEXT NOT NULL
     );",
    // 4: function logs of every node.
    "CREATE TABLE log_events (
         id BIGSERIAL PRIMARY KEY,
         grp TEXT NOT NULL,
         stream TEXT NOT NULL,
         ts BIGINT NOT NULL,
         message TEXT NOT NULL
     );
     CREATE INDEX log_events_group ON log_events (grp, ts, id);",
    // 5: nodes and the capacity they hold.
    "CREATE TABLE nodes (
         id TEXT PRIMARY KEY,
         endpoint TEXT NOT NULL,
         started_ms BIGINT NOT NULL,
         heartbeat_ms BIGINT NOT NULL
     );
     CREATE TABLE capacity (
         scope TEXT NOT NULL,
         node TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
         held INTEGER NOT NULL,
         PRIMARY KEY (scope, node)
     );",
    // 6: invocation metrics, per function and node (cumulative since the node started).
    "CREATE TABLE function_metrics (
         function TEXT NOT NULL,
         node TEXT NOT NULL,
         invocations BIGINT NOT NULL,
         errors BIGINT NOT NULL,
         throttles BIGINT NOT NULL,
         cold_starts BIGINT NOT NULL,
         duration_us BIGINT NOT NULL,
         billed_mb_ms BIGINT NOT NULL,
         PRIMARY KEY (function, node)
     );",
    // 7: event sources' documents (schedules, buses, rules, timers' marks).
    "CREATE TABLE documents (
         kind TEXT NOT NULL,
         key TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (kind, key)
     );",
    // 8: SQS messages and FIFO deduplication ids.
    "CREATE TABLE sqs_messages (
         seq BIGSERIAL PRIMARY KEY,
         queue TEXT NOT NULL,
         id TEXT NOT NULL,
         body TEXT NOT NULL,
         attributes TEXT NOT NULL,
         group_id TEXT,
         dedup_id TEXT,
         sent_ms BIGINT NOT NULL,
         visible_ms BIGINT NOT NULL,
         receive_count INTEGER NOT NULL DEFAULT 0,
         first_receive_ms BIGINT,
         token TEXT
     );
     CREATE INDEX sqs_messages_visible ON sqs_messages (queue, visible_ms, seq);
     CREATE INDEX sqs_messages_sent ON sqs_messages (queue, sent_ms);
     CREATE TABLE sqs_dedup (
         queue TEXT NOT NULL,
         dedup_id TEXT NOT NULL,
         id TEXT NOT NULL,
         seq BIGINT NOT NULL,
         expires_ms BIGINT NOT NULL,
         PRIMARY KEY (queue, dedup_id)
     );",
    // 9: CloudWatch's metric history, per minute, series and node.
    "CREATE TABLE series (
         start BIGINT NOT NULL,
         metric TEXT NOT NULL,
         function TEXT NOT NULL,
         resource TEXT NOT NULL,
         version TEXT NOT NULL,
         node TEXT NOT NULL,
         count DOUBLE PRECISION NOT NULL,
         sum DOUBLE PRECISION NOT NULL,
         min DOUBLE PRECISION NOT NULL,
         max DOUBLE PRECISION NOT NULL,
         buckets TEXT NOT NULL,
         PRIMARY KEY (metric, function, start, resource, version, node)
     );
     CREATE INDEX series_start ON series (start);",
];

/// A key for `pg_advisory_xact_lock`: migrations run one node at a time.
const MIGRATION_LOCK: i64 = 0x6c61_6d69_6e61;

/// Connections to a cluster's database.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl PgPool {
    /// A pool of at most `size` connections to `url` (`postgres://user@host:port/db`); none
    /// is opened until used.
    pub fn new(url: &str, size: usize) -> Result<PgPool, PgError> {
        let config = tokio_postgres::Config::from_str(url).map_err(PgError::Url)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()?;
        Ok(PgPool { pool })
    }

    /// A connection from the pool.
    pub async fn get(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// Brings the schema to the newest version; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<usize>, PgError> {
        let mut conn = self.get().await?;
        let tx = conn.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS lamina_schema (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM lamina_schema", &[])
            .await?
            .get(0);
        let mut applied = Vec::new();
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql).await?;
            let version = i as i64 + 1;
            tx.execute(
                "INSERT INTO lamina_schema (version) VALUES ($1)",
                &[&version],
            )
            .await?;
            applied.push(i + 1);
        }
        tx.commit().await?;
        Ok(applied)
    }
}
