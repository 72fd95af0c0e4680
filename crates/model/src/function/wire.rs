//! The control plane's request and response shapes for functions, as botocore sends and
//! expects them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LambdaError;
use crate::function::validate::validate_architectures;

/// The changeable part of a configuration, shared by CreateFunction and
/// UpdateFunctionConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigUpdate {
    /// New runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// New role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New timeout (signed, so that out-of-range values get Lambda's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// New memory size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i64>,
    /// New environment (replaces the old one whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentRequest>,
    /// New `/tmp` size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    /// Tracing mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<TracingConfigRequest>,
    /// Log format and group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
    /// Layer ARNs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    /// Where asynchronous events that fail for good go.
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    /// The fields to change.
    #[serde(flatten)]
    pub update: ConfigUpdate,
    /// Optimistic lock: the update applies only if the function still has this revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
}

/// CreateFunction's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    /// Function name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// Runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Role ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// The package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<FunctionCode>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Timeout in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Memory in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i64>,
    /// Publish a version at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
    /// `Zip` or `Image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_type: Option<String>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentRequest>,
    /// Tracing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<TracingConfigRequest>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Layer ARNs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    /// Dead-letter target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// Exactly one architecture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// `/tmp` size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorageRequest>,
    /// Logging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
}

/// The `Code` member of CreateFunction.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// Base64 of the zip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_file: Option<String>,
    /// The bucket of this server's S3 service that holds the zip.
    #[serde(rename = "S3Bucket", skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    /// The zip's key.
    #[serde(rename = "S3Key", skip_serializing_if = "Option::is_none")]
    pub s3_key: Option<String>,
    /// The zip's version (`null`: buckets here are not versioned).
    #[serde(rename = "S3ObjectVersion", skip_serializing_if = "Option::is_none")]
    pub s3_object_version: Option<String>,
    /// Container image (not supported here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
}

crate::code::code_members!(FunctionCode, image_uri);

/// UpdateFunctionCode's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    /// Base64 of the new zip.
    pub zip_file: Option<String>,
    /// The bucket of this server's S3 service that holds the new zip.
    #[serde(rename = "S3Bucket", skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    /// The zip's key.
    #[serde(rename = "S3Key", skip_serializing_if = "Option::is_none")]
    pub s3_key: Option<String>,
    /// The zip's version (`null`: buckets here are not versioned).
    #[serde(rename = "S3ObjectVersion", skip_serializing_if = "Option::is_none")]
    pub s3_object_version: Option<String>,
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

crate::code::code_members!(UpdateFunctionCodeRequest, image_uri);

impl UpdateFunctionCodeRequest {
    /// Architecture from the request, validated.
    pub fn architecture(&self) -> Result<Option<String>, LambdaError> {
        self.architectures
            .as_deref()
            .map(validate_architectures)
            .transpose()
    }
}

/// `Environment` in requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentRequest {
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageRequest {
    /// Size in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfigRequest {
    /// `Active` or `PassThrough`.
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// PutFunctionConcurrency's body and Put/GetFunctionConcurrency's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConcurrency {
    /// Reserved concurrent executions; absent when none is reserved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<i64>,
}

/// GetAccountSettings' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    /// Limits.
    pub account_limit: AccountLimit,
    /// Usage.
    pub account_usage: AccountUsage,
}

/// Account limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    /// Storage for all packages.
    pub total_code_size: u64,
    /// Unzipped package limit.
    pub code_size_unzipped: u64,
    /// Zipped package limit.
    pub code_size_zipped: u64,
    /// Concurrent executions.
    pub concurrent_executions: u64,
    /// Unreserved concurrent executions.
    pub unreserved_concurrent_executions: u64,
}

/// Account usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    /// Bytes of all stored packages.
    pub total_code_size: u64,
    /// Number of functions.
    pub function_count: u64,
}
