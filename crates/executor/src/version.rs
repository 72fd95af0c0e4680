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
    /// Log format and levels.
    pub logging: crate::Logging,
    /// Region, for `AWS_REGION`.
    pub region: String,
    /// Whether the function may reach other networks.
    pub egress: bool,
    /// TracingConfig `Active`: invocations whose caller made no sampling decision are
    /// sampled.
    pub tracing_active: bool,
}

impl FunctionVersion {
    /// What a runtime started ahead of time is started as, before it knows its function: no
    /// name, no variables of its own, the default memory, and a code directory that maps to
    /// nothing, so that no argument is rewritten under it.
    pub(crate) fn runtime_template(runtime: RuntimeId) -> FunctionVersion {
        FunctionVersion {
            name: String::new(),
            version: "$LATEST".into(),
            revision_id: String::new(),
            arn: String::new(),
            runtime,
            handler: String::new(),
            memory_mb: lamina_model::limits::MEMORY_DEFAULT_MB,
            ephemeral_storage_mb: lamina_model::limits::EPHEMERAL_MIN_MB,
            timeout: Duration::from_secs(3),
            environment: BTreeMap::new(),
            code_dir: PathBuf::from("/nonexistent/lamina-template"),
            opt_dir: None,
            log_group: String::new(),
            logging: crate::Logging::default(),
            region: String::new(),
            egress: true,
            tracing_active: false,
        }
    }
}
