//! The checks Lambda applies to a function's configuration, shared by its requests.

use std::collections::BTreeMap;

use crate::error::LambdaError;
use crate::limits::*;

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

pub(super) fn in_range(
    v: i64,
    min: u32,
    max: u32,
    field: &str,
    unit: &str,
) -> Result<u32, LambdaError> {
    if v < i64::from(min) || v > i64::from(max) {
        return Err(LambdaError::InvalidParameterValue(format!(
            "{field} must be between {min} and {max} {unit}; {v} was given."
        )));
    }
    Ok(v as u32)
}

pub(super) fn valid_role(role: &str) -> bool {
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

pub(super) fn validate_architectures(arch: &[String]) -> Result<String, LambdaError> {
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
            return Err(LambdaError::invalid_member(
                None,
                "environment.variables",
                &format!(
                    "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key '{key}')"
                ),
            ));
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
