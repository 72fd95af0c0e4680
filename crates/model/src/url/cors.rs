//! A URL's CORS settings: their checks, and the headers the URL layer answers with, so that
//! a browser's preflight never reaches the function.

use serde::{Deserialize, Serialize};

use crate::LambdaError;

/// A URL's CORS settings, as given (Lambda echoes them unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    /// `Access-Control-Allow-Credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// `Access-Control-Allow-Headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    /// `Access-Control-Allow-Methods` (`GET`, `*`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    /// The origins allowed (`https://example.com`, `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    /// `Access-Control-Max-Age`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

impl Cors {
    /// Checks the lengths and ranges Lambda's model sets (botocore checks none of them).
    pub fn check(&self) -> Result<(), LambdaError> {
        let list = |member: &str,
                    items: &Option<Vec<String>>,
                    most: usize,
                    item_min: usize,
                    item_max: usize| {
            let Some(items) = items else {
                return Ok(());
            };
            let shown = || format!("[{}]", items.join(", "));
            if items.len() > most {
                return Err(LambdaError::invalid_member(
                    Some(&shown()),
                    member,
                    &format!("Member must have length less than or equal to {most}"),
                ));
            }
            if let Some(bad) = items
                .iter()
                .find(|i| i.len() < item_min || i.len() > item_max)
            {
                return Err(LambdaError::invalid_member(
                    Some(&shown()),
                    member,
                    &format!(
                        "Member must satisfy constraint: [Member must have length less than or \
                         equal to {item_max}, Member must have length greater than or equal to \
                         {item_min}] ('{bad}')"
                    ),
                ));
            }
            Ok(())
        };
        list("cors.allowHeaders", &self.allow_headers, 100, 0, 1024)?;
        list("cors.allowMethods", &self.allow_methods, 6, 0, 6)?;
        list("cors.allowOrigins", &self.allow_origins, 100, 1, 253)?;
        list("cors.exposeHeaders", &self.expose_headers, 100, 0, 1024)?;
        if let Some(age) = self.max_age
            && !(0..=86_400).contains(&age)
        {
            return Err(LambdaError::invalid_member(
                Some(&age.to_string()),
                "cors.maxAge",
                if age < 0 {
                    "Member must have value greater than or equal to 0"
                } else {
                    "Member must have value less than or equal to 86400"
                },
            ));
        }
        Ok(())
    }

    /// Whether a request from `origin` may read the answer: an allowed origin (compared
    /// without regard to case, as origins are), or `*`.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .flatten()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

impl Cors {
    /// The answer to a browser's preflight (`OPTIONS` with `Access-Control-Request-Method`)
    /// from `origin`: the configured `Access-Control-*` headers when the origin is allowed,
    /// none when it is not (the browser then refuses the request).
    pub fn preflight_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        if !self.allows_origin(origin) {
            return Vec::new();
        }
        let mut out = self.origin_headers(origin);
        if let Some(m) = self.allow_methods.as_ref().filter(|m| !m.is_empty()) {
            out.push(("access-control-allow-methods", m.join(",")));
        }
        if let Some(h) = self.allow_headers.as_ref().filter(|h| !h.is_empty()) {
            out.push(("access-control-allow-headers", h.join(",")));
        }
        if let Some(age) = self.max_age.filter(|a| *a > 0) {
            out.push(("access-control-max-age", age.to_string()));
        }
        out
    }

    /// The headers added to an answer to a request from `origin` (they replace the
    /// function's own of the same names, as Lambda's do); none for an origin not allowed.
    pub fn response_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        if !self.allows_origin(origin) {
            return Vec::new();
        }
        let mut out = self.origin_headers(origin);
        if let Some(h) = self.expose_headers.as_ref().filter(|h| !h.is_empty()) {
            out.push(("access-control-expose-headers", h.join(",")));
        }
        out
    }

    fn origin_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut out = vec![
            // The request's origin, not `*`: a `*` answer cannot carry credentials.
            ("access-control-allow-origin", origin.to_string()),
            ("vary", "Origin".to_string()),
        ];
        if self.allow_credentials == Some(true) {
            out.push(("access-control-allow-credentials", "true".to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_limits_are_lambdas() {
        let ok: Cors = serde_json::from_str(
            r#"{"AllowOrigins":["https://a.example","*"],"AllowMethods":["GET","POST"],"MaxAge":600}"#,
        )
        .unwrap();
        ok.check().unwrap();
        assert!(ok.allows_origin("https://A.example"));
        let methods = Cors {
            allow_methods: Some(vec!["OPTIONSX".into()]),
            ..Cors::default()
        };
        assert!(
            matches!(methods.check(), Err(LambdaError::Validation(m)) if m.contains("cors.allowMethods"))
        );
        let age = Cors {
            max_age: Some(86_401),
            ..Cors::default()
        };
        assert!(age.check().is_err());
        let origin = Cors {
            allow_origins: Some(vec![String::new()]),
            ..Cors::default()
        };
        assert!(origin.check().is_err());
        assert!(!Cors::default().allows_origin("https://a.example"));
    }

    #[test]
    fn preflights_and_answers_carry_the_configured_headers_for_allowed_origins() {
        let cors: Cors = serde_json::from_str(
            r#"{"AllowOrigins":["https://app.example"],"AllowMethods":["GET","POST"],
                "AllowHeaders":["content-type","x-key"],"ExposeHeaders":["x-id"],
                "MaxAge":300,"AllowCredentials":true}"#,
        )
        .unwrap();
        let pre = cors.preflight_headers("https://app.example");
        let get =
            |h: &[(&str, String)], k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get(&pre, "access-control-allow-origin").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            get(&pre, "access-control-allow-methods").as_deref(),
            Some("GET,POST")
        );
        assert_eq!(
            get(&pre, "access-control-allow-headers").as_deref(),
            Some("content-type,x-key")
        );
        assert_eq!(get(&pre, "access-control-max-age").as_deref(), Some("300"));
        assert_eq!(
            get(&pre, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert!(cors.preflight_headers("https://evil.example").is_empty());
        let answer = cors.response_headers("https://app.example");
        assert_eq!(
            get(&answer, "access-control-expose-headers").as_deref(),
            Some("x-id")
        );
        assert!(get(&answer, "access-control-allow-methods").is_none());
        assert!(cors.response_headers("https://evil.example").is_empty());
    }
}
