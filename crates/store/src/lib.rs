//! Where Lamina's state lives.
//!
//! Layout:
//! - [`functions`]: the [`FunctionStore`] trait, the one seam between the platform and any
//!   database, and [`SqliteStore`], the embedded default in the data directory.
//! - [`memory`]: [`MemoryStore`], the same contract in memory (tests, throw-away servers).
//! - [`archive`]: [`PackageArchive`], the packages a cluster shares (none for one node).
//! - [`cluster`]: [`Membership`], a node's place in its cluster (nodes, shared capacity).
//! - [`code`]: [`CodeStore`], deployment packages stored once per content hash, each kept as
//!   the original zip and as an extracted tree ready to run.
//! - [`documents`]: [`Documents`], event sources' configuration as JSON documents by kind
//!   and key (schedules, buses, rules, timers' marks).
//! - [`logs`]: [`LogBackend`], and [`LogStore`], function logs as one file per log stream,
//!   bounded per group.
//! - [`lease`]: [`Leases`], which packages are in use, so that none is removed under a
//!   user.
//! - [`lock`]: [`DataDirLock`], one server per data directory.
//! - [`reserve`]: [`Reserve`], space set aside so that deletes work on a full disk.
//! - [`series`]: [`MetricSeries`], CloudWatch's metric history at one-minute resolution.
//! - `sqlite`: what the embedded SQLite stores share (WAL, the schema, one connection), and
//!   [`bound_sqlite_heap`], the bound on all SQLite page caches of the process.
//! - [`package`]: safe extraction of an untrusted zip (zip-slip, size and entry bounds).
//! - [`postgres`]: cluster mode's state in PostgreSQL: the pool, the versioned migrations,
//!   and [`PgFunctionStore`].
//!
//! **Architecture invariant:** nothing here knows about invocations or HTTP. Every store
//! that a cluster shares is a trait with an embedded and a PostgreSQL implementation, held
//! to the same contract tests, so callers never know which one they have.

pub mod archive;
pub mod cluster;
pub mod code;
pub mod documents;
pub mod functions;
pub mod lease;
pub mod lock;
pub mod logs;
pub mod memory;
pub mod package;
pub mod postgres;
pub mod reserve;
pub mod series;
mod sqlite;

pub use archive::PackageArchive;
pub use cluster::{FunctionMetrics, Membership, MetricsStore, Node};
pub use code::CodeStore;
pub use documents::{Documents, MemoryDocuments, SqliteDocuments};
pub use functions::{FunctionStore, SqliteStore, StoreError};
pub use lease::{Lease, Leases};
pub use lock::{DataDirLock, LockError};
pub use logs::{LogBackend, LogQuery, LogStore, StoredEvent};
pub use memory::MemoryStore;
pub use package::PackageError;
pub use postgres::changes::Change;
pub use postgres::{
    PgDocuments, PgError, PgFunctionStore, PgLogStore, PgMembers, PgMessages, PgMetrics,
    PgPackages, PgPool, PgQueue, PgSeries,
};
pub use reserve::Reserve;
pub use series::{MemorySeries, MetricSeries, Minute, SeriesKey, SqliteSeries};
pub use sqlite::bound_heap as bound_sqlite_heap;
