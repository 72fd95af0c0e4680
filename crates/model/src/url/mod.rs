//! Function URLs: the configuration a function or alias's URL is served by (auth type,
//! CORS, invoke mode), its checks and wire shapes (Create/Get/Update/Delete/
//! ListFunctionUrlConfigs), the CORS headers it answers with ([`Cors`]), and in [`http`]
//! the HTTP contract of the URL itself.

use serde::{Deserialize, Serialize};

use crate::LambdaError;

mod cors;
pub mod http;

pub use cors::Cors;
pub use http::{Caller, UrlRequest, UrlResponse, is_text, request_event, response_from};

/// `AuthType`'s values.
pub const AUTH_TYPES: &[&str] = &["NONE", "AWS_IAM"];
/// `InvokeMode`'s values.
pub const INVOKE_MODES: &[&str] = &["BUFFERED", "RESPONSE_STREAM"];

/// One URL, as stored with its function (keyed there by qualifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlConfig {
    /// The 32-character id in the URL's host name.
    pub url_id: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    /// When it was created ([`url_timestamp`]).
    pub creation_time: String,
    /// When it last changed.
    pub last_modified_time: String,
}

impl UrlConfig {
    /// Whether only signed requests may use it.
    pub fn is_iam(&self) -> bool {
        self.auth_type == "AWS_IAM"
    }

    /// Whether answers stream.
    pub fn is_streaming(&self) -> bool {
        self.invoke_mode == "RESPONSE_STREAM"
    }
}

/// A fresh URL id: 32 lower-case letters and digits, as Lambda's.
pub fn new_url_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The time format of `CreationTime` and `LastModifiedTime` (`2023-10-12T20:00:33.063455Z`).
pub fn url_timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Create- and UpdateFunctionUrlConfig's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfigRequest {
    /// `NONE` or `AWS_IAM`; required on Create.
    #[serde(default)]
    pub auth_type: Option<String>,
    /// CORS.
    #[serde(default)]
    pub cors: Option<Cors>,
    /// `BUFFERED` (default) or `RESPONSE_STREAM`.
    #[serde(default)]
    pub invoke_mode: Option<String>,
}

impl FunctionUrlConfigRequest {
    /// The URL this request makes: a new one (`base` is `None`, so `AuthType` is required),
    /// or `base` with the members given replaced.
    pub fn apply(self, base: Option<UrlConfig>, now: &str) -> Result<UrlConfig, LambdaError> {
        self.check()?;
        let mut config = match base {
            Some(base) => base,
            None => UrlConfig {
                url_id: new_url_id(),
                auth_type: self
                    .auth_type
                    .clone()
                    .ok_or_else(|| LambdaError::null_member("authType"))?,
                cors: None,
                invoke_mode: "BUFFERED".into(),
                creation_time: now.to_string(),
                last_modified_time: now.to_string(),
            },
        };
        if let Some(a) = self.auth_type {
            config.auth_type = a;
        }
        if let Some(c) = self.cors {
            config.cors = Some(c);
        }
        if let Some(m) = self.invoke_mode {
            config.invoke_mode = m;
        }
        config.last_modified_time = now.to_string();
        Ok(config)
    }

    /// Checks the members given: the enums, and CORS's limits.
    pub fn check(&self) -> Result<(), LambdaError> {
        if let Some(a) = &self.auth_type
            && !AUTH_TYPES.contains(&a.as_str())
        {
            return Err(LambdaError::not_in_enum(a, "authType", AUTH_TYPES));
        }
        if let Some(m) = &self.invoke_mode
            && !INVOKE_MODES.contains(&m.as_str())
        {
            return Err(LambdaError::not_in_enum(m, "invokeMode", INVOKE_MODES));
        }
        match &self.cors {
            Some(c) => c.check(),
            None => Ok(()),
        }
    }
}

/// Create-, Get-, Update- and ListFunctionUrlConfigs' answer for one URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfigResponse {
    /// `http://<id>.lambda-url.<region>.<host>/`.
    pub function_url: String,
    /// The function's ARN, qualified by the alias when the URL is an alias's.
    pub function_arn: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// When it was created.
    pub creation_time: String,
    /// When it last changed (not in Create's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_time: Option<String>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
}

impl FunctionUrlConfigResponse {
    /// The answer for `config`, reachable at `function_url`.
    pub fn new(config: &UrlConfig, function_url: String, function_arn: String) -> Self {
        FunctionUrlConfigResponse {
            function_url,
            function_arn,
            auth_type: config.auth_type.clone(),
            cors: config.cors.clone(),
            creation_time: config.creation_time.clone(),
            last_modified_time: Some(config.last_modified_time.clone()),
            invoke_mode: config.invoke_mode.clone(),
        }
    }
}

/// Whether `q` may name a URL's qualifier: an alias name (Lambda's pattern
/// `((?!^\d+$)^[0-9a-zA-Z-_]+$)`: no version numbers, no `$LATEST`).
pub fn check_qualifier(q: &str) -> Result<(), LambdaError> {
    let valid = !q.is_empty()
        && q.len() <= 128
        && !q.bytes().all(|b| b.is_ascii_digit())
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(LambdaError::invalid_member(
            Some(q),
            "qualifier",
            "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> FunctionUrlConfigRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn create_needs_an_auth_type_and_known_enums() {
        let now = "2026-12-04T00:00:00.000000Z";
        assert!(matches!(
            req("{}").apply(None, now),
            Err(LambdaError::Validation(m)) if m.contains("authType")
        ));
        assert!(matches!(
            req(r#"{"AuthType":"OPEN"}"#).apply(None, now),
            Err(LambdaError::Validation(m)) if m.contains("[NONE, AWS_IAM]")
        ));
        assert!(matches!(
            req(r#"{"AuthType":"NONE","InvokeMode":"STREAM"}"#).apply(None, now),
            Err(LambdaError::Validation(m)) if m.contains("invokeMode")
        ));
        let made = req(r#"{"AuthType":"NONE"}"#).apply(None, now).unwrap();
        assert_eq!(made.url_id.len(), 32);
        assert!(
            made.url_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(made.invoke_mode, "BUFFERED");
        // Update changes only what it names.
        let later = "2026-12-05T00:00:00.000000Z";
        let updated = req(r#"{"InvokeMode":"RESPONSE_STREAM"}"#)
            .apply(Some(made.clone()), later)
            .unwrap();
        assert_eq!(
            (updated.url_id.as_str(), updated.auth_type.as_str()),
            (made.url_id.as_str(), "NONE")
        );
        assert!(updated.is_streaming());
        assert_eq!(
            (
                updated.creation_time.as_str(),
                updated.last_modified_time.as_str()
            ),
            (now, later)
        );
    }

    #[test]
    fn only_alias_names_qualify_a_url() {
        check_qualifier("live").unwrap();
        check_qualifier("blue-green_2").unwrap();
        for bad in ["1", "42", "$LATEST", "", "a:b"] {
            assert!(check_qualifier(bad).is_err(), "{bad}");
        }
    }
}
