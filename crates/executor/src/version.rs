//! The immutable description of what an environment runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lamina_model::RuntimeId;

/// A snapshot of one function version: environments are created from it and never see it
/// change. A configuration or code update produces a new snapshot with a new `revision_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionVersion {
    /// Function name.
    pub name: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// Changes whenever code or configuration changes.
    pub revision_id: String,
    /// Unqualified function ARN.
    pub arn: String,
    /// Runtime.
    pub runtime: RuntimeId,
    /// Handler string.
    pub handler: String,
    /// Memory in MB.
    pub memory_mb: u32,
    /// `/tmp` size in MB.
    pub ephemeral_storage_mb: u32,
    /// Invocation timeout.
    pub timeout: Duration,
    /// User environment variables.
    pub environment: BTreeMap<String, String>,
    /// The extracted package.
    pub code_dir: PathBuf,
    /// The layers merged into one directory, when the function has any.
    pub opt_dir: Option<PathBuf>,
    /// Log group.
    pub log_group: String,
    /// Region, for `AWS_REGION`.
    pub region: String,
    /// Whether the function may reach other networks.
    pub egress: bool,
}
