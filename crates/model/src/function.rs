//! A function's configuration as Lamina stores it ([`FunctionConfig`]), the request shapes
//! of CreateFunction / UpdateFunctionConfiguration / UpdateFunctionCode, the response shape
//! [`FunctionConfiguration`], and the validation rules Lambda applies to them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LambdaError;
use crate::limits::*;
use crate::names::{Identity, valid_name};
use crate::runtime::RuntimeId;

/// Environment variable names Lambda reserves for itself; setting one is refused.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The deployment package a configuration points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeInfo {
    /// Lowercase hex SHA-256 of the zip: the key of the content-addressed code store.
    pub id: String,
    /// Base64 SHA-256 of the zip, as the API reports it in `CodeSha256`.
    pub sha256: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Size of the package once extracted, in bytes.
    pub unzipped_size: u64,
}

/// Everything Lamina keeps about one function's `$LATEST`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    /// Function name.
    pub name: String,
    /// Runtime identifier as given (`python3.12`, ...).
    pub runtime: String,
    /// Execution role ARN, stored and echoed.
    pub role: String,
    /// Handler string as given.
    pub handler: String,
    /// Description.
    pub description: String,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Memory in MB.
    pub memory_size: u32,
    /// Environment variables set by the user.
    pub environment: BTreeMap<String, String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// `/tmp` size in MB.
    pub ephemeral_storage: u32,
    /// `PassThrough` or `Active`.
    pub tracing_mode: String,
    /// `Text` or `JSON`.
    pub log_format: String,
    /// Log group; `/aws/lambda/NAME` unless configured.
    pub log_group: String,
    /// The deployment package.
    pub code: CodeInfo,
    /// When the configuration or code last changed, in Lambda's format.
    pub last_modified: String,
    /// Changes on every update; the optimistic-lock token.
    pub revision_id: String,
    /// Tags given at creation.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The resource-based policy (AddPermission), when it has statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Policy>,
    /// `$LATEST`, or the number of a published version.
    #[serde(default = "latest")]
    pub version: String,
    /// On `$LATEST`: the highest version number ever published (numbers are never reused).
    #[serde(default)]
    pub last_version: u64,
    /// On `$LATEST`: its revision when it was last published, so that publishing again with
    /// nothing changed returns that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_revision: Option<String>,
    /// On `$LATEST`: the resource policies of published versions and aliases, by qualifier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub qualified_policies: BTreeMap<String, crate::policy::Policy>,
    /// Reserved concurrent executions (all versions), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// The layers it uses, in the order they are merged under `/opt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::layer::FunctionLayer>,
    /// On `$LATEST`: the function's aliases by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, crate::alias::Alias>,
    /// On `$LATEST`: provisioned concurrency by qualifier (a version number or an alias).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provisioned_concurrency: BTreeMap<String, crate::provisioned::ProvisionedSetting>,
    /// Where asynchronous events that fail for good go, when no OnFailure destination takes
    /// them (DeadLetterConfig.TargetArn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_target: Option<String>,
    /// On `$LATEST`: asynchronous invocation's configuration by qualifier (`$LATEST`, a
    /// version number or an alias).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_invoke: BTreeMap<String, crate::event_invoke::EventInvokeConfig>,
}

fn latest() -> String {
    "$LATEST".into()
}

impl FunctionConfig {
    /// The default log group of a function.
    pub fn default_log_group(name: &str) -> String {
        format!("/aws/lambda/{name}")
    }

    /// The parsed runtime; validation at creation guarantees it parses.
    pub fn runtime_id(&self) -> Option<RuntimeId> {
        RuntimeId::parse(&self.runtime)
    }

    /// The response shape of this configuration, with ARNs built from `identity`.
    pub fn to_wire(&self, identity: &Identity) -> FunctionConfiguration {
        FunctionConfiguration {
            function_name: self.name.clone(),
            // A published version answers with its qualified ARN; $LATEST with the bare one.
            function_arn: if self.version == "$LATEST" {
                identity.function_arn(&self.name)
            } else {
                identity.qualified_arn(&self.name, &self.version)
            },
            runtime: Some(self.runtime.clone()),
            role: self.role.clone(),
            handler: Some(self.handler.clone()),
            code_size: self.code.size,
            description: self.description.clone(),
            timeout: self.timeout,
            memory_size: self.memory_size,
            last_modified: self.last_modified.clone(),
            code_sha256: self.code.sha256.clone(),
            version: self.version.clone(),
            environment: (!self.environment.is_empty()).then(|| EnvironmentResponse {
                variables: self.environment.clone(),
            }),
            tracing_config: Some(TracingConfig {
                mode: self.tracing_mode.clone(),
            }),
            revision_id: self.revision_id.clone(),
            state: "Active".into(),
            last_update_status: "Successful".into(),
            package_type: "Zip".into(),
            architectures: vec![self.architecture.clone()],
            ephemeral_storage: EphemeralStorage {
                size: self.ephemeral_storage,
            },
            logging_config: Some(LoggingConfig {
                log_format: Some(self.log_format.clone()),
                log_group: Some(self.log_group.clone()),
                application_log_level: None,
                system_log_level: None,
            }),
            snap_start: Some(SnapStartResponse {
                apply_on: "None".into(),
                optimization_status: "Off".into(),
            }),
            layers: self
                .layers
                .iter()
                .map(|l| crate::layer::LayerRef {
                    arn: l.arn.clone(),
                    code_size: l.code_size,
                })
                .collect(),
            dead_letter_config: self.dead_letter_target.clone().map(|arn| DeadLetterConfig {
                target_arn: Some(arn),
            }),
        }
    }

    /// Builds a new configuration from a CreateFunction request, applying Lambda's defaults
    /// and validation. `code` is the already stored package.
    pub fn from_create(
        req: &CreateFunctionRequest,
        code: CodeInfo,
        now: String,
    ) -> Result<FunctionConfig, LambdaError> {
        let name = req.function_name.clone().unwrap_or_default();
        if !valid_name(&name) {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and \
                 have length between 1 and 64"
            )));
        }
        let mut cfg = FunctionConfig {
            log_group: FunctionConfig::default_log_group(&name),
            name,
            runtime: String::new(),
            role: String::new(),
            handler: String::new(),
            description: String::new(),
            timeout: TIMEOUT_DEFAULT_S,
            memory_size: MEMORY_DEFAULT_MB,
            environment: BTreeMap::new(),
            architecture: "x86_64".into(),
            ephemeral_storage: EPHEMERAL_MIN_MB,
            tracing_mode: "PassThrough".into(),
            log_format: "Text".into(),
            code,
            last_modified: now,
            revision_id: crate::new_id(),
            tags: req.tags.clone().unwrap_or_default(),
            policy: None,
            version: latest(),
            last_version: 0,
            published_revision: None,
            aliases: BTreeMap::new(),
            qualified_policies: BTreeMap::new(),
            layers: Vec::new(),
            reserved_concurrency: None,
            provisioned_concurrency: BTreeMap::new(),
            event_invoke: BTreeMap::new(),
            dead_letter_target: None,
        };
        validate_tags(&cfg.tags)?;
        if req.runtime.is_none() {
            return Err(LambdaError::InvalidParameterValue(
                "The Runtime parameter is required for functions with package type Zip.".into(),
            ));
        }
        if req.role.is_none() {
            return Err(LambdaError::InvalidParameterValue(
                "The Role parameter is required.".into(),
            ));
        }
        if req.handler.is_none() {
            return Err(LambdaError::InvalidParameterValue(
                "The Handler parameter is required for functions with package type Zip.".into(),
            ));
        }
        if let Some(arch) = &req.architectures {
            cfg.architecture = validate_architectures(arch)?;
        }
        let update = ConfigUpdate {
            runtime: req.runtime.clone(),
            role: req.role.clone(),
            handler: req.handler.clone(),
            description: req.description.clone(),
            timeout: req.timeout,
            memory_size: req.memory_size,
            environment: req.environment.clone(),
            ephemeral_storage: req.ephemeral_storage.clone(),
            tracing_config: req.tracing_config.clone(),
            logging_config: req.logging_config.clone(),
            layers: req.layers.clone(),
            dead_letter_config: req.dead_letter_config.clone(),
        };
        cfg.apply(&update)?;
        Ok(cfg)
    }

    /// Applies an UpdateFunctionConfiguration request; fields it leaves out keep their value.
    /// The caller bumps `revision_id` and `last_modified` when this succeeds.
    pub fn apply(&mut self, u: &ConfigUpdate) -> Result<(), LambdaError> {
        // Layer ARNs are resolved against the stored layers by the caller; here, their count.
        if let Some(layers) = &u.layers
            && layers.len() > crate::limits::LAYERS_MAX
        {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Cannot reference more than {} layers.",
                crate::limits::LAYERS_MAX
            )));
        }
        if let Some(runtime) = &u.runtime {
            if !RuntimeId::is_lambda_runtime(runtime) {
                return Err(LambdaError::Validation(format!(
                    "1 validation error detected: Value '{runtime}' at 'runtime' failed to \
                     satisfy constraint: Member must satisfy enum value set: [{}]",
                    crate::runtime::LAMBDA_RUNTIMES.join(", ")
                )));
            }
            self.runtime = runtime.clone();
        }
        if let Some(role) = &u.role {
            if !valid_role(role) {
                return Err(LambdaError::Validation(format!(
                    "1 validation error detected: Value '{role}' at 'role' failed to satisfy \
                     constraint: Member must satisfy regular expression pattern: \
                     arn:(aws[a-zA-Z-]*)?:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
                )));
            }
            self.role = role.clone();
        }
        if let Some(handler) = &u.handler {
            if handler.is_empty()
                || handler.chars().count() > HANDLER_MAX_CHARS
                || handler.chars().any(char::is_whitespace)
            {
                return Err(LambdaError::Validation(format!(
                    "1 validation error detected: Value '{handler}' at 'handler' failed to \
                     satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+ \
                     and have length less than or equal to {HANDLER_MAX_CHARS}"
                )));
            }
            self.handler = handler.clone();
        }
        if let Some(d) = &u.description {
            if d.chars().count() > DESCRIPTION_MAX_CHARS {
                return Err(LambdaError::Validation(format!(
                    "1 validation error detected: Value at 'description' failed to satisfy \
                     constraint: Member must have length less than or equal to \
                     {DESCRIPTION_MAX_CHARS}"
                )));
            }
            self.description = d.clone();
        }
        if let Some(t) = u.timeout {
            self.timeout = in_range(t, TIMEOUT_MIN_S, TIMEOUT_MAX_S, "Timeout", "seconds")?;
        }
        if let Some(m) = u.memory_size {
            self.memory_size = in_range(m, MEMORY_MIN_MB, MEMORY_MAX_MB, "MemorySize", "MB")?;
        }
        if let Some(e) = &u.ephemeral_storage {
            let size = e.size.ok_or_else(|| {
                LambdaError::InvalidParameterValue("EphemeralStorage.Size is required.".into())
            })?;
            self.ephemeral_storage = in_range(
                size,
                EPHEMERAL_MIN_MB,
                EPHEMERAL_MAX_MB,
                "EphemeralStorage.Size",
                "MB",
            )?;
        }
        if let Some(d) = &u.dead_letter_config {
            self.dead_letter_target = match d.target_arn.as_deref() {
                None | Some("") => None,
                Some(arn) if arn.starts_with("arn:aws:lambda:") && arn.contains(":function:") => {
                    Some(arn.to_string())
                }
                Some(arn) => {
                    return Err(LambdaError::InvalidParameterValue(format!(
                        "The dead-letter target {arn} is not supported: Lamina delivers dead                          letters to functions (arn:aws:lambda:REGION:ACCOUNT:function:NAME)."
                    )));
                }
            };
        }
        if let Some(env) = &u.environment {
            let vars = env.variables.clone().unwrap_or_default();
            validate_environment(&vars)?;
            self.environment = vars;
        }
        if let Some(t) = &u.tracing_config {
            match t.mode.as_deref() {
                Some(m @ ("Active" | "PassThrough")) => self.tracing_mode = m.to_string(),
                None => {}
                Some(other) => {
                    return Err(LambdaError::Validation(format!(
                        "1 validation error detected: Value '{other}' at 'tracingConfig.mode' \
                         failed to satisfy constraint: Member must satisfy enum value set: \
                         [Active, PassThrough]"
                    )));
                }
            }
        }
        if let Some(l) = &u.logging_config {
            match l.log_format.as_deref() {
                Some("Text") => self.log_format = "Text".into(),
                Some("JSON") => {
                    return Err(LambdaError::InvalidParameterValue(
                        "LoggingConfig.LogFormat JSON is not supported by this Lamina version; \
                         use Text."
                            .into(),
                    ));
                }
                None => {}
                Some(other) => {
                    return Err(LambdaError::Validation(format!(
                        "1 validation error detected: Value '{other}' at \
                         'loggingConfig.logFormat' failed to satisfy constraint: Member must \
                         satisfy enum value set: [JSON, Text]"
                    )));
                }
            }
            if let Some(g) = &l.log_group {
                self.log_group = g.clone();
            }
        }
        Ok(())
    }
}

fn in_range(v: i64, min: u32, max: u32, field: &str, unit: &str) -> Result<u32, LambdaError> {
    if v < i64::from(min) || v > i64::from(max) {
        return Err(LambdaError::InvalidParameterValue(format!(
            "{field} must be between {min} and {max} {unit}; {v} was given."
        )));
    }
    Ok(v as u32)
}

fn valid_role(role: &str) -> bool {
    let Some(rest) = role.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    if !partition.starts_with("aws") {
        return false;
    }
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((account, rest)) = rest.split_once(':') else {
        return false;
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(path) = rest.strip_prefix("role") else {
        return false;
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b))
}

fn validate_architectures(arch: &[String]) -> Result<String, LambdaError> {
    match arch {
        [one] if one == "x86_64" || one == "arm64" => Ok(one.clone()),
        _ => Err(LambdaError::InvalidParameterValue(
            "Architectures must hold exactly one of x86_64, arm64.".into(),
        )),
    }
}

/// Checks a function's tags against AWS's tagging rules: at most 50, keys of 1-128
/// characters not starting with `aws:` (reserved for AWS), values of at most 256 characters,
/// both of letters, digits, spaces and `_ . : / = + - @`.
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), LambdaError> {
    if tags.len() > crate::limits::TAGS_MAX {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Number of tags exceeds resource tag limit: {} tags given, at most {} allowed.",
            tags.len(),
            crate::limits::TAGS_MAX
        )));
    }
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    for (key, value) in tags {
        let key_len = key.chars().count();
        if !(1..=crate::limits::TAG_KEY_MAX_CHARS).contains(&key_len) || !allowed(key) {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Tag keys must be 1 to {} characters of letters, digits, spaces and _ . : / = + - @ (key '{key}').",
                crate::limits::TAG_KEY_MAX_CHARS
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Tag keys starting with 'aws:' are reserved for AWS use (key '{key}')."
            )));
        }
        if value.chars().count() > crate::limits::TAG_VALUE_MAX_CHARS || !allowed(value) {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Tag values must be at most {} characters of letters, digits, spaces and _ . : / = + - @ (key '{key}').",
                crate::limits::TAG_VALUE_MAX_CHARS
            )));
        }
    }
    Ok(())
}

/// Checks variable names, reserved keys and the 4 KB total as Lambda does.
pub fn validate_environment(vars: &BTreeMap<String, String>) -> Result<(), LambdaError> {
    for key in vars.keys() {
        let mut chars = key.chars();
        let ok = key.len() >= 2
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy \
                 constraint: Map keys must satisfy constraint: [Member must satisfy regular \
                 expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key '{key}')"
            )));
        }
    }
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment \
             variables you have provided contains reserved keys that are currently not supported \
             for modification. Reserved keys used in this request: {}",
            reserved.join(",")
        )));
    }
    // Lambda measures the variables as the JSON object they serialize to.
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > ENV_VARS_MAX_BYTES {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment \
             variables you have provided exceeded the 4KB limit. String measured: {} bytes",
            measured.len()
        )));
    }
    Ok(())
}

/// The changeable part of a configuration, shared by CreateFunction and
/// UpdateFunctionConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigUpdate {
    /// New runtime.
    pub runtime: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// New handler.
    pub handler: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New timeout (signed, so that out-of-range values get Lambda's message).
    pub timeout: Option<i64>,
    /// New memory size.
    pub memory_size: Option<i64>,
    /// New environment (replaces the old one whole).
    pub environment: Option<Environment>,
    /// New `/tmp` size.
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    /// Tracing mode.
    pub tracing_config: Option<TracingConfigRequest>,
    /// Log format and group.
    pub logging_config: Option<LoggingConfig>,
    /// Layer ARNs.
    pub layers: Option<Vec<String>>,
    /// Where asynchronous events that fail for good go.
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// `DeadLetterConfig`: a function's dead-letter target. Lamina delivers to functions (the
/// event, as an asynchronous invocation of the target); an empty `TargetArn` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// The target's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

/// UpdateFunctionConfiguration's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    /// The fields to change.
    #[serde(flatten)]
    pub update: ConfigUpdate,
    /// Optimistic lock: the update applies only if the function still has this revision.
    pub revision_id: Option<String>,
}

/// CreateFunction's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    /// Function name.
    pub function_name: Option<String>,
    /// Runtime.
    pub runtime: Option<String>,
    /// Role ARN.
    pub role: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// The package.
    pub code: Option<FunctionCode>,
    /// Description.
    pub description: Option<String>,
    /// Timeout in seconds.
    pub timeout: Option<i64>,
    /// Memory in MB.
    pub memory_size: Option<i64>,
    /// Publish a version at once.
    pub publish: Option<bool>,
    /// `Zip` or `Image`.
    pub package_type: Option<String>,
    /// Environment variables.
    pub environment: Option<Environment>,
    /// Tracing.
    pub tracing_config: Option<TracingConfigRequest>,
    /// Tags.
    pub tags: Option<BTreeMap<String, String>>,
    /// Layer ARNs.
    pub layers: Option<Vec<String>>,
    /// Dead-letter target.
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// Exactly one architecture.
    pub architectures: Option<Vec<String>>,
    /// `/tmp` size.
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    /// Logging.
    pub logging_config: Option<LoggingConfig>,
}

/// The `Code` member of CreateFunction.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// Base64 of the zip.
    pub zip_file: Option<String>,
    /// Code in S3 (not supported here).
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    /// S3 key.
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    /// Container image (not supported here).
    pub image_uri: Option<String>,
}

/// UpdateFunctionCode's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    /// Base64 of the new zip.
    pub zip_file: Option<String>,
    /// Code in S3 (not supported here).
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    /// S3 key.
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    /// Container image (not supported here).
    pub image_uri: Option<String>,
    /// Publish a version.
    pub publish: Option<bool>,
    /// Validate only.
    pub dry_run: Option<bool>,
    /// Optimistic lock.
    pub revision_id: Option<String>,
    /// New architecture.
    pub architectures: Option<Vec<String>>,
}

impl UpdateFunctionCodeRequest {
    /// Architecture from the request, validated.
    pub fn architecture(&self) -> Result<Option<String>, LambdaError> {
        self.architectures
            .as_deref()
            .map(validate_architectures)
            .transpose()
    }
}

/// The error for code given other than as a zip in the request.
pub fn unsupported_code_source(code_s3: bool, image: bool) -> Option<LambdaError> {
    if code_s3 {
        return Some(LambdaError::InvalidParameterValue(
            "Code from S3 (S3Bucket/S3Key) is not supported by Lamina: upload the package \
             directly as ZipFile (up to 50 MB zipped)."
                .into(),
        ));
    }
    if image {
        return Some(LambdaError::InvalidParameterValue(
            "Container images (ImageUri, PackageType Image) are not supported by Lamina: deploy \
             a .zip package with ZipFile."
                .into(),
        ));
    }
    None
}

/// `Environment` in requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// The variables.
    pub variables: Option<BTreeMap<String, String>>,
}

/// `Environment` in responses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    /// The variables.
    pub variables: BTreeMap<String, String>,
}

/// `EphemeralStorage` in requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageRequest {
    /// Size in MB.
    pub size: Option<i64>,
}

/// `EphemeralStorage` in responses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    /// Size in MB.
    pub size: u32,
}

/// `TracingConfig` in requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfigRequest {
    /// `Active` or `PassThrough`.
    pub mode: Option<String>,
}

/// `TracingConfig` in responses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    /// `Active` or `PassThrough`.
    pub mode: String,
}

/// `LoggingConfig`, both directions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Application log level (JSON format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    /// System log level (JSON format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
    /// Log group name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

/// `SnapStart` in responses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartResponse {
    /// `None` or `PublishedVersions`.
    pub apply_on: String,
    /// `On` or `Off`.
    pub optimization_status: String,
}

/// The `FunctionConfiguration` shape returned by Create/Get/Update and listed by
/// ListFunctions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    /// Name.
    pub function_name: String,
    /// Unqualified ARN.
    pub function_arn: String,
    /// Runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Role.
    pub role: String,
    /// Handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Zip size in bytes.
    pub code_size: u64,
    /// Description.
    pub description: String,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Memory in MB.
    pub memory_size: u32,
    /// Last change.
    pub last_modified: String,
    /// Base64 SHA-256 of the zip.
    pub code_sha256: String,
    /// `$LATEST` or a number.
    pub version: String,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    /// Tracing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<TracingConfig>,
    /// Revision.
    pub revision_id: String,
    /// Always `Active` once created (creation is synchronous here).
    pub state: String,
    /// Always `Successful` once an update returned.
    pub last_update_status: String,
    /// `Zip`.
    pub package_type: String,
    /// One architecture.
    pub architectures: Vec<String>,
    /// `/tmp` size.
    pub ephemeral_storage: EphemeralStorage,
    /// Logging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
    /// SnapStart (always off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snap_start: Option<SnapStartResponse>,
    /// Layers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::layer::LayerRef>,
    /// The dead-letter target, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// GetFunction's `Code`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCodeLocation {
    /// `S3` in Lambda; here the package is served by Lamina itself.
    pub repository_type: String,
    /// A URL from which the zip can be downloaded.
    pub location: String,
}

/// GetFunction's response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    /// The configuration.
    pub configuration: FunctionConfiguration,
    /// Where to download the code.
    pub code: FunctionCodeLocation,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Reserved concurrency, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ReservedConcurrency>,
}

/// GetFunction's `Concurrency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReservedConcurrency {
    /// Reserved concurrent executions.
    pub reserved_concurrent_executions: u32,
}

/// PublishVersion's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionRequest {
    /// Publish only if `$LATEST`'s code has this SHA-256.
    pub code_sha256: Option<String>,
    /// The version's description (else `$LATEST`'s).
    pub description: Option<String>,
    /// Publish only if `$LATEST`'s revision is this one.
    pub revision_id: Option<String>,
}

/// ListVersionsByFunction's response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResponse {
    /// This page: `$LATEST` first, then the versions in order.
    pub versions: Vec<FunctionConfiguration>,
    /// Marker of the next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// ListFunctions' response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    /// This page.
    pub functions: Vec<FunctionConfiguration>,
    /// Marker of the next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> CodeInfo {
        CodeInfo {
            id: "ab".into(),
            sha256: "qw==".into(),
            size: 10,
            unzipped_size: 20,
        }
    }

    fn create(json: serde_json::Value) -> Result<FunctionConfig, LambdaError> {
        let req: CreateFunctionRequest = serde_json::from_value(json).unwrap();
        FunctionConfig::from_create(&req, code(), "now".into())
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "FunctionName": "f", "Runtime": "python3.12", "Handler": "app.handler",
            "Role": "arn:aws:iam::123456789012:role/lambda-role"
        })
    }

    #[test]
    fn defaults_follow_lambda() {
        let cfg = create(base()).unwrap();
        assert_eq!(
            (cfg.timeout, cfg.memory_size, cfg.ephemeral_storage),
            (3, 128, 512)
        );
        let wire = cfg.to_wire(&Identity::default());
        assert_eq!(wire.version, "$LATEST");
        assert_eq!(wire.state, "Active");
        let json = serde_json::to_value(&wire).unwrap();
        assert_eq!(json["EphemeralStorage"]["Size"], 512);
        assert_eq!(json["LoggingConfig"]["LogGroup"], "/aws/lambda/f");
        assert_eq!(
            json["FunctionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
    }

    #[test]
    fn limits_are_enforced() {
        for (field, value) in [
            ("MemorySize", 127),
            ("MemorySize", 10_241),
            ("Timeout", 0),
            ("Timeout", 901),
        ] {
            let mut j = base();
            j[field] = value.into();
            let e = create(j).unwrap_err();
            assert_eq!(
                e.error_type(),
                "InvalidParameterValueException",
                "{field}={value}"
            );
        }
        let mut j = base();
        j["EphemeralStorage"] = serde_json::json!({"Size": 10_241});
        assert!(create(j).is_err());
        let mut j = base();
        j["Role"] = "not-a-role".into();
        assert_eq!(create(j).unwrap_err().error_type(), "ValidationException");
        let mut j = base();
        j["Runtime"] = "cobol85".into();
        assert_eq!(create(j).unwrap_err().error_type(), "ValidationException");
    }

    #[test]
    fn environment_rules() {
        let mut j = base();
        j["Environment"] = serde_json::json!({"Variables": {"AWS_REGION": "x"}});
        let e = create(j).unwrap_err();
        assert!(e.to_string().contains("AWS_REGION"), "{e}");
        let mut j = base();
        j["Environment"] = serde_json::json!({"Variables": {"BIG": "x".repeat(4096)}});
        assert!(create(j).unwrap_err().to_string().contains("4KB"));
        let mut j = base();
        j["Environment"] = serde_json::json!({"Variables": {"1BAD": "x"}});
        assert_eq!(create(j).unwrap_err().error_type(), "ValidationException");
        let mut j = base();
        j["Environment"] = serde_json::json!({"Variables": {"GOOD_1": "x"}});
        assert_eq!(create(j).unwrap().environment["GOOD_1"], "x");
    }

    #[test]
    fn json_log_format_is_refused_until_it_is_supported() {
        let mut j = base();
        j["LoggingConfig"] = serde_json::json!({"LogFormat": "JSON"});
        assert_eq!(
            create(j).unwrap_err().error_type(),
            "InvalidParameterValueException"
        );
        let mut j = base();
        j["LoggingConfig"] = serde_json::json!({"LogFormat": "Text", "LogGroup": "/custom/group"});
        assert_eq!(create(j).unwrap().log_group, "/custom/group");
    }

    #[test]
    fn update_keeps_unset_fields() {
        let mut cfg = create(base()).unwrap();
        let u: ConfigUpdate = serde_json::from_value(serde_json::json!({"Timeout": 30})).unwrap();
        cfg.apply(&u).unwrap();
        assert_eq!((cfg.timeout, cfg.memory_size), (30, 128));
        assert_eq!(cfg.handler, "app.handler");
    }
}
