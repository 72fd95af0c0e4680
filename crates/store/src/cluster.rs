//! [`Membership`]: what a platform needs of the cluster it is a node of: its identity, the
//! nodes alive, and capacity slots of limits shared by every node (reserved concurrency);
//! and [`MetricsStore`], where the nodes keep their invocation metrics.
//! [`crate::PgMembers`] and [`crate::postgres::PgMetrics`] implement them; one node alone
//! has neither.

use crate::StoreError;

pub use crate::postgres::members::Node;

/// This node's membership of a cluster.
#[async_trait::async_trait]
pub trait Membership: Send + Sync + std::fmt::Debug {
    /// This node's id.
    fn id(&self) -> &str;
    /// Whether this node may still use the slots it holds (it heartbeat recently enough
    /// that no other node can have removed it).
    fn holds(&self) -> bool;
    /// Takes one more slot of `scope` if every node's slots stay within `limit`.
    async fn acquire(&self, scope: &str, limit: u32) -> Result<bool, StoreError>;
    /// Gives back `n` slots of `scope`.
    async fn release(&self, scope: &str, n: u32) -> Result<(), StoreError>;
    /// The nodes alive, with what they hold.
    async fn nodes(&self) -> Result<Vec<Node>, StoreError>;
    /// The ids of the nodes alive at the last heartbeat, sorted (this one included).
    fn live(&self) -> Vec<String>;
    /// Leaves the cluster, giving back everything held.
    async fn leave(&self) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl Membership for crate::PgMembers {
    fn id(&self) -> &str {
        crate::PgMembers::id(self)
    }

    fn holds(&self) -> bool {
        crate::PgMembers::holds(self)
    }

    async fn acquire(&self, scope: &str, limit: u32) -> Result<bool, StoreError> {
        crate::PgMembers::acquire(self, scope, limit).await
    }

    async fn release(&self, scope: &str, n: u32) -> Result<(), StoreError> {
        crate::PgMembers::release(self, scope, n).await
    }

    async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        crate::PgMembers::nodes(self).await
    }

    async fn leave(&self) -> Result<(), StoreError> {
        crate::PgMembers::leave(self).await
    }

    fn live(&self) -> Vec<String> {
        crate::PgMembers::live(self)
    }
}

/// One function's invocation metrics (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionMetrics {
    /// Invocations that ran.
    pub invocations: u64,
    /// Of which failed.
    pub errors: u64,
    /// Throttled invocations.
    pub throttles: u64,
    /// Of which cold starts.
    pub cold_starts: u64,
    /// Time in handlers, µs.
    pub duration_us: u64,
    /// Billed MB-ms.
    pub billed_mb_ms: u64,
}

/// Where the nodes of a cluster keep their invocation metrics, so that any node reads the
/// cluster's totals.
#[async_trait::async_trait]
pub trait MetricsStore: Send + Sync + std::fmt::Debug {
    /// Replaces `node`'s figures (cumulative since it started) of each function given.
    async fn save(
        &self,
        node: &str,
        metrics: &std::collections::BTreeMap<String, FunctionMetrics>,
    ) -> Result<(), StoreError>;
    /// Every node's figures, summed per function.
    async fn totals(
        &self,
    ) -> Result<std::collections::BTreeMap<String, FunctionMetrics>, StoreError>;
    /// Drops a deleted function's figures.
    async fn forget(&self, function: &str) -> Result<(), StoreError>;
}
