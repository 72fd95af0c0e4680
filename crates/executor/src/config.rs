//! The executor's tunables, and their defaults: the server's own, which its flags show (some
//! depend on this machine's memory and cores).

use std::time::Duration;

use lamina_model::limits::{INIT_TIMEOUT_S, RESPONSE_PAYLOAD_MAX_BYTES};

/// Tunables of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Most environments one function version may have at once; invocations beyond are
    /// throttled.
    pub max_environments_per_function: usize,
    /// Idle environments older than this are stopped.
    pub idle_timeout: Duration,
    /// Longest time a runtime may take to ask for its first invocation.
    pub init_timeout: Duration,
    /// Largest response a runtime may post.
    pub max_response_bytes: usize,
    /// Whether functions may reach other networks at all (each may still opt out).
    pub egress: bool,
    /// Runtimes kept started ahead of time, without code, per managed runtime (where the
    /// launcher can hand code over to a running runtime).
    pub runtime_pool: usize,
    /// New environments per function per 10 seconds, refilled continuously (Lambda: 1,000).
    pub scale_rate_per_10s: u32,
    /// Most invocations of one function version waiting for an environment.
    pub scale_queue: usize,
    /// Longest an invocation waits for an environment before it is throttled.
    pub scale_wait: Duration,
    /// Idle environments are frozen once unused this long; `None` never freezes.
    pub freeze_after: Option<Duration>,
    /// The idle environment the next invocation of a function would take is not frozen
    /// until it has been idle this long, unless it uses CPU meanwhile (then it is frozen at
    /// once): a thaw costs a function called about once a second a few hundred
    /// microseconds on each call. Zero freezes it like the others.
    pub keep_thawed: Duration,
    /// Most memory (MB, as configured) all environments may have together; past it, the
    /// least recently used idle environments are stopped to make room. 0: no budget.
    pub memory_budget_mb: u64,
    /// When the host's available memory falls below this (MB), idle environments are
    /// stopped, least recently used first. 0: never.
    pub memory_reserve_mb: u64,
    /// The server's descriptors that functions' connections (Runtime API, egress) may hold,
    /// all environments together.
    pub function_connections: lamina_runtime_api::ConnectionBudget,
    /// The server's cores, when its one async worker is pinned to the home one: a lone
    /// invocation's runtime is then put on that core, more run spread (`placement`).
    /// `None` places nothing.
    pub cores: Option<crate::placement::Cores>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        let memory = host_memory_mb();
        ExecutorConfig {
            max_environments_per_function: 64,
            idle_timeout: Duration::from_secs(600),
            init_timeout: Duration::from_secs(INIT_TIMEOUT_S),
            max_response_bytes: RESPONSE_PAYLOAD_MAX_BYTES,
            egress: true,
            runtime_pool: 1,
            // 100 new environments per 10 s per core (a core starts about that many
            // sandboxed runtimes a second), at most Lambda's 1,000.
            scale_rate_per_10s: (host_cores() as u32 * 100).min(1000),
            scale_queue: 64,
            scale_wait: Duration::from_secs(10),
            freeze_after: Some(Duration::from_millis(100)),
            keep_thawed: Duration::from_secs(10),
            memory_budget_mb: memory * 9 / 10,
            memory_reserve_mb: (memory / 20).max(256),
            function_connections: Default::default(),
            cores: None,
        }
    }
}

/// This machine's memory in MB (8 GB when it cannot be read).
pub fn host_memory_mb() -> u64 {
    let total_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(8 * 1024 * 1024);
    total_kb / 1024
}

/// CPU cores this process may use.
pub fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
