//! A function's configuration as Lamina stores it ([`FunctionConfig`]), built from and
//! changed by the control plane's requests under the validation rules Lambda applies.
//!
//! Layout: `wire` holds the request and response shapes (CreateFunction,
//! UpdateFunctionConfiguration, UpdateFunctionCode, [`FunctionConfiguration`], ...);
//! `validate` the checks shared by them (names, roles, tags, environment variables).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LambdaError;
use crate::limits::*;
use crate::names::{Identity, valid_name};
use crate::runtime::RuntimeId;

mod validate;
mod wire;

pub use crate::code::CodeInfo;
pub use validate::{RESERVED_ENV_KEYS, validate_environment, validate_tags};
use validate::{in_range, valid_role, validate_architectures};
pub use wire::*;

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
    /// With `JSON`: the least severe application log level kept (`TRACE` … `FATAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    /// With `JSON`: the least severe system log level kept (`DEBUG`, `INFO`, `WARN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
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
    /// On `$LATEST`: function URLs by qualifier (`$LATEST` or an alias).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub urls: BTreeMap<String, crate::url::UrlConfig>,
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
                application_log_level: self.application_log_level.clone(),
                system_log_level: self.system_log_level.clone(),
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
            return Err(LambdaError::invalid_member(
                Some(&name.to_string()),
                "functionName",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length between 1 and 64",
            ));
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
            application_log_level: None,
            system_log_level: None,
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
            urls: BTreeMap::new(),
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
                return Err(LambdaError::invalid_member(
                    Some(&runtime.to_string()),
                    "runtime",
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        crate::runtime::LAMBDA_RUNTIMES.join(", ")
                    ),
                ));
            }
            self.runtime = runtime.clone();
        }
        if let Some(role) = &u.role {
            if !valid_role(role) {
                return Err(LambdaError::invalid_member(
                    Some(&role.to_string()),
                    "role",
                    "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
                ));
            }
            self.role = role.clone();
        }
        if let Some(handler) = &u.handler {
            if handler.is_empty()
                || handler.chars().count() > HANDLER_MAX_CHARS
                || handler.chars().any(char::is_whitespace)
            {
                return Err(LambdaError::invalid_member(
                    Some(&handler.to_string()),
                    "handler",
                    &format!(
                        "Member must satisfy regular expression pattern: [^\\s]+ and have length less than or equal to {HANDLER_MAX_CHARS}"
                    ),
                ));
            }
            self.handler = handler.clone();
        }
        if let Some(d) = &u.description {
            if d.chars().count() > DESCRIPTION_MAX_CHARS {
                return Err(LambdaError::invalid_member(
                    None,
                    "description",
                    &format!(
                        "Member must have length less than or equal to {DESCRIPTION_MAX_CHARS}"
                    ),
                ));
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
                Some(arn)
                    if (arn.starts_with("arn:aws:lambda:") && arn.contains(":function:"))
                        || (arn.starts_with("arn:aws:sqs:") && arn.split(':').count() == 6) =>
                {
                    Some(arn.to_string())
                }
                Some(arn) => {
                    return Err(LambdaError::InvalidParameterValue(format!(
                        "The dead-letter target {arn} is not supported: Lamina delivers dead \
                         letters to SQS queues (arn:aws:sqs:REGION:ACCOUNT:NAME) and functions \
                         (arn:aws:lambda:REGION:ACCOUNT:function:NAME)."
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
                    return Err(LambdaError::invalid_member(
                        Some(other),
                        "tracingConfig.mode",
                        "Member must satisfy enum value set: [Active, PassThrough]",
                    ));
                }
            }
        }
        if let Some(l) = &u.logging_config {
            self.apply_logging(l)?;
            if let Some(g) = &l.log_group {
                self.log_group = g.clone();
            }
        }
        Ok(())
    }

    /// A `LoggingConfig` as Lambda takes it: log levels only with the JSON format (which
    /// starts them at `INFO`), and dropped with the text format.
    fn apply_logging(&mut self, l: &LoggingConfig) -> Result<(), LambdaError> {
        let format = match l.log_format.as_deref() {
            None => self.log_format.clone(),
            Some(f @ ("Text" | "JSON")) => f.to_string(),
            Some(other) => {
                return Err(LambdaError::invalid_member(
                    Some(other),
                    "loggingConfig.logFormat",
                    "Member must satisfy enum value set: [JSON, Text]",
                ));
            }
        };
        let level = |given: &Option<String>, member: &str, set: &[&str]| match given {
            Some(v) if !set.contains(&v.as_str()) => Err(LambdaError::invalid_member(
                Some(v.as_str()),
                member,
                &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
            )),
            _ => Ok(given.clone()),
        };
        let app = level(
            &l.application_log_level,
            "loggingConfig.applicationLogLevel",
            &LOG_LEVELS,
        )?;
        let system = level(
            &l.system_log_level,
            "loggingConfig.systemLogLevel",
            &LOG_LEVELS[1..4],
        )?;
        if format == "Text" {
            if app.is_some() || system.is_some() {
                return Err(LambdaError::InvalidParameterValue(
                    "Log levels (ApplicationLogLevel, SystemLogLevel) can be set only when \
                     LogFormat is JSON."
                        .into(),
                ));
            }
            self.application_log_level = None;
            self.system_log_level = None;
        } else {
            let info = || Some("INFO".to_string());
            self.application_log_level = app.or(self.application_log_level.take()).or_else(info);
            self.system_log_level = system.or(self.system_log_level.take()).or_else(info);
        }
        self.log_format = format;
        Ok(())
    }
}

/// Lambda's log levels, least severe first (system logs take DEBUG, INFO and WARN).
pub const LOG_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

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
    fn logging_config_takes_levels_with_json_alone() {
        let mut j = base();
        j["LoggingConfig"] = serde_json::json!({"LogFormat": "JSON"});
        let cfg = create(j).unwrap();
        assert_eq!(cfg.log_format, "JSON");
        assert_eq!(cfg.application_log_level.as_deref(), Some("INFO"));
        assert_eq!(cfg.system_log_level.as_deref(), Some("INFO"));
        let mut j = base();
        j["LoggingConfig"] = serde_json::json!({"LogFormat": "JSON",
            "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN"});
        let mut cfg = create(j).unwrap();
        assert_eq!(cfg.application_log_level.as_deref(), Some("DEBUG"));
        assert_eq!(cfg.system_log_level.as_deref(), Some("WARN"));
        // An update naming one level keeps the other; back to text drops both.
        let u: ConfigUpdate = serde_json::from_value(
            serde_json::json!({"LoggingConfig": {"ApplicationLogLevel": "ERROR"}}),
        )
        .unwrap();
        cfg.apply(&u).unwrap();
        assert_eq!(cfg.application_log_level.as_deref(), Some("ERROR"));
        assert_eq!(cfg.system_log_level.as_deref(), Some("WARN"));
        let u: ConfigUpdate =
            serde_json::from_value(serde_json::json!({"LoggingConfig": {"LogFormat": "Text"}}))
                .unwrap();
        cfg.apply(&u).unwrap();
        assert_eq!(
            (cfg.application_log_level, cfg.system_log_level),
            (None, None)
        );
        for bad in [
            serde_json::json!({"LogFormat": "Text", "ApplicationLogLevel": "INFO"}),
            serde_json::json!({"ApplicationLogLevel": "INFO"}),
            serde_json::json!({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}),
            serde_json::json!({"LogFormat": "JSON", "ApplicationLogLevel": "info"}),
            serde_json::json!({"LogFormat": "XML"}),
        ] {
            let mut j = base();
            j["LoggingConfig"] = bad.clone();
            assert!(create(j).is_err(), "{bad}");
        }
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
