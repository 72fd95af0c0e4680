//! Execution environments: the processes that run functions.
//!
//! Layout:
//! - [`version`]: [`FunctionVersion`], the immutable description of what an environment runs.
//! - [`runtimes`]: which managed runtimes this host can run, and Lamina's embedded bootstraps.
//! - [`launcher`]: the [`Launcher`] boundary. Everything about *how* an environment's process
//!   is started and confined (today a plain process group; the sandbox plugs in here) sits
//!   behind it.
//! - [`sandboxed`]: [`SandboxLauncher`], each environment in its own sandbox.
//! - [`logs`]: capture of an environment's stdout/stderr into log events, and the
//!   START/END/REPORT lines.
//! - [`environment`]: one running environment: its process, its Runtime API session, its logs.
//! - [`executor`]: [`Executor`], the pools of environments per function version, the invocation
//!   flow (cold start, warm reuse, timeouts, crashes), idle reaping and shutdown.
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
mod lambda_env;
pub mod launcher;
pub mod logs;
mod pool;
mod provisioned;
mod registry;
pub mod runtimes;
pub mod sandboxed;
pub mod version;

pub use config::{ExecutorConfig, host_cores, host_memory_mb};
pub use environment::EnvState;
pub use error::ExecutorError;
pub use executor::Executor;
pub use housekeeping::HousekeepingStats;
pub use invocation::{InvokeRequest, InvokeResult, Report};
pub use lambda_env::AWAIT_FUNCTION_VAR;
pub use launcher::{Launcher, Layout, ProcessLauncher};
pub use logs::{LogEvent, LogSink};
pub use pool::PoolStats;
pub use provisioned::ProvisionedStatus;
pub use runtimes::RuntimeCatalog;
pub use sandboxed::SandboxLauncher;
pub use version::FunctionVersion;
