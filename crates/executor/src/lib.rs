//! Execution environments: the processes that run functions.
//!
//! Layout:
//! - [`executor`]: [`Executor`], the handle: an invocation's acquire loop (warm, cold, wait,
//!   throttle), retiring, provisioned targets, figures, shutdown.
//! - `registry`: the pools of every function version, each function's scaling bucket, and
//!   the live environments (`PoolRegistry`); `pool`: one version's idle lists, scaling and
//!   waiting invocations.
//! - `cold_start`: from a version to a launch spec to an adopted environment; `lambda_env`:
//!   Lambda's environment variables and trace header.
//! - `invocation`: one invocation on one environment and what it yields (payload or error
//!   document, END and REPORT lines, log tail); `streaming`: relaying a streamed response
//!   to the caller as it is written; `platform_telemetry`: the platform's Telemetry API
//!   records and extensions' log lines; `report`: the REPORT line's figures, which all of
//!   them take.
//! - `provisioned`, `housekeeping`: what happens between invocations (provisioned targets;
//!   freezing, reaping, eviction for memory).
//! - `config`, `error`: [`ExecutorConfig`] and its defaults, [`ExecutorError`].
//! - [`launcher`]: the [`Launcher`] boundary and [`ProcessLauncher`] (a plain process
//!   group); [`sandboxed`]: [`SandboxLauncher`], each environment in its own sandbox.
//! - [`environment`]: one running environment: its process, its Runtime API session, its logs.
//! - [`version`]: [`FunctionVersion`], the immutable description of what an environment runs.
//! - [`runtimes`]: which managed runtimes this host can run, and Lamina's embedded bootstraps.
//! - [`logs`]: capture of an environment's stdout/stderr into log events, and the
//!   START/END/REPORT lines.
//!
//! **Architecture invariants:** an environment serves one function version and one
//! invocation at a time; environments are never shared across functions, versions or
//! revisions; a function's failure is data in the invocation's result, never an error of this
//! crate.

mod cold_start;
mod config;
pub mod environment;
mod error;
pub mod executor;
mod housekeeping;
mod invocation;
mod java_archives;
mod jdk;
mod lambda_env;
pub mod launcher;
pub mod log_format;
pub mod logs;
pub mod placement;
mod platform_telemetry;
mod pool;
pub mod process;
mod provisioned;
mod registry;
mod report;
pub mod runtimes;
pub mod sandboxed;
mod streaming;
pub mod version;

pub use config::{ExecutorConfig, host_cores, host_memory_mb};
pub use environment::EnvState;
pub use error::ExecutorError;
pub use executor::Executor;
pub use housekeeping::HousekeepingStats;
pub use invocation::{InvokeRequest, InvokeResult};
pub use lambda_env::AWAIT_FUNCTION_VAR;
pub use launcher::{Launcher, Layout, ProcessLauncher};
pub use log_format::Logging;
pub use logs::{LogEvent, LogSink};
pub use pool::PoolStats;
pub use provisioned::ProvisionedStatus;
pub use report::Report;
pub use runtimes::RuntimeCatalog;
pub use sandboxed::SandboxLauncher;
pub use streaming::{StreamEvent, StreamSink};
pub use version::FunctionVersion;
