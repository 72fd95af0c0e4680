//! What `GET /_lamina/status` answers and `lamina ps` shows: the server's concurrency, its
//! environments per function version and state, and per-function invocation metrics kept
//! since the server started (for a later export).

use serde::{Deserialize, Serialize};

/// The whole server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    /// Concurrent executions of the whole server.
    pub concurrency_limit: u32,
    /// Of which not reserved by any function.
    pub unreserved_concurrency: u32,
    /// Invocations running now.
    pub concurrent_executions: u32,
    /// Live environments.
    pub environments: usize,
    /// Idle environments stopped after the idle timeout, since start.
    pub reaped: u64,
    /// Idle environments stopped to make room in memory, since start.
    pub evicted: u64,
    /// Times an idle environment was frozen, since start.
    pub freezes: u64,
    /// Times a frozen environment was thawed for an invocation.
    pub thaws: u64,
    /// Mean thaw time, in microseconds.
    pub thaw_mean_us: f64,
    /// Longest thaw, in microseconds.
    pub thaw_max_us: f64,
    /// The asynchronous event queue.
    pub event_queue: EventQueueStatus,
    /// Every function.
    pub functions: Vec<FunctionStatus>,
    /// In a cluster, every live node (this one marked); none for one node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
}

/// One node of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Its id.
    pub id: String,
    /// Where its API listens.
    pub endpoint: String,
    /// Milliseconds since its last heartbeat.
    pub silent_ms: i64,
    /// Whether it is the node that answered.
    pub this_node: bool,
    /// Reservation slots it holds, by scope (`reserved:<function>`).
    pub holds: std::collections::BTreeMap<String, u32>,
}

/// The asynchronous event queue: its content and its bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventQueueStatus {
    /// Events due now, waiting for capacity.
    pub ready: usize,
    /// Events waiting for a retry.
    pub delayed: usize,
    /// Events running.
    pub running: usize,
    /// Bytes queued.
    pub bytes: u64,
    /// Most events held.
    pub max_events: usize,
    /// Most bytes held.
    pub max_bytes: u64,
    /// Events that failed for good, kept for inspection and replay.
    pub failed: usize,
    /// Events accepted since start.
    pub accepted: u64,
    /// Event invocations refused because the queue was full, since start.
    pub refused: u64,
}

/// One function, all versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    /// Name.
    pub name: String,
    /// Reserved concurrency, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// Invocations running now.
    pub concurrent_executions: u32,
    /// Invocations refused with 429 since start.
    pub throttles: u64,
    /// Invocations run since start.
    pub invocations: u64,
    /// Of which ended with a function error.
    pub errors: u64,
    /// Of which started an environment.
    pub cold_starts: u64,
    /// Sum of their durations, in ms.
    pub duration_ms: f64,
    /// Sum of billed ms times configured memory in MB (÷ 1,024,000 for GB-seconds).
    pub billed_mb_ms: u64,
    /// Environments, per version that has any.
    pub versions: Vec<VersionStatus>,
}

/// The environments of one function version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionStatus {
    /// `$LATEST` or a number.
    pub version: String,
    /// Being started or initialising.
    pub initialising: usize,
    /// Idle, not frozen.
    pub idle: usize,
    /// Running an invocation.
    pub busy: usize,
    /// Idle and frozen.
    pub frozen: usize,
    /// Provisioned (any state).
    pub provisioned: usize,
    /// Invocations waiting for an environment.
    pub waiting: usize,
    /// Environments started since the version's pool was made.
    pub created: u64,
}

/// What `lamina schedules`, `lamina rules`, `lamina queues` and `lamina mappings` show
/// (`/_lamina/triggers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Triggers {
    /// The Scheduler's schedules.
    pub schedules: Vec<ScheduleLine>,
    /// EventBridge's rules, of every bus.
    pub rules: Vec<RuleLine>,
    /// SQS queues.
    #[serde(default)]
    pub queues: Vec<QueueLine>,
    /// Event source mappings.
    #[serde(default)]
    pub mappings: Vec<MappingLine>,
}

/// A fire or a delivery, and how it went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastResult {
    /// When (RFC 3339).
    pub at: String,
    /// `queued ...` or why it could not be.
    pub result: String,
}

/// One schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleLine {
    pub group: String,
    pub name: String,
    pub expression: String,
    pub timezone: Option<String>,
    pub state: String,
    pub target: String,
    /// When it fires next (RFC 3339), if it does.
    pub next_fire: Option<String>,
    pub last: Option<LastResult>,
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleLine {
    pub bus: String,
    pub name: String,
    pub state: String,
    pub pattern: Option<String>,
    pub schedule: Option<String>,
    pub targets: Vec<String>,
    /// When its schedule fires next (RFC 3339), if it has one.
    pub next_fire: Option<String>,
    /// Its last fire, or the last event this node delivered for it.
    pub last: Option<LastResult>,
}

/// What `lamina queues` shows of one SQS queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueLine {
    pub name: String,
    pub fifo: bool,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Age of the oldest message, in seconds.
    pub oldest_age_s: Option<u64>,
    /// The dead-letter queue its redrive policy names.
    pub dead_letter_queue: Option<String>,
}

/// What `lamina mappings` shows of one event source mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingLine {
    pub uuid: String,
    pub source: String,
    pub function: String,
    pub state: String,
    pub batch_size: u32,
    pub last_result: String,
    /// Messages waiting in the source, and the age of the oldest (seconds): its lag.
    pub backlog: u64,
    pub lag_s: Option<u64>,
}
