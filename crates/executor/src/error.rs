//! Why the executor could not run an invocation at all.

use crate::launcher::LaunchError;
use crate::runtimes::RuntimeError;

/// Why an invocation could not be run at all. A function's own failure is not one of these:
/// it is an [`crate::InvokeResult`] with `function_error` set.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No environment could be had: the function is at its environment limit or scaling
    /// rate, and the wait for one is full or over.
    #[error("Rate Exceeded.")]
    Throttled,
    /// The executor is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The host cannot run the function's runtime.
    #[error(transparent)]
    Runtime(RuntimeError),
    /// The platform could not set an environment up.
    #[error(transparent)]
    Launch(LaunchError),
}

/// Why an environment could not be started.
pub(crate) enum StartFailure {
    /// The function cannot start (bad bootstrap): reported as the invocation's error.
    Function(&'static str, String),
    /// The platform failed.
    Platform(ExecutorError),
}
