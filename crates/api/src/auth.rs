//! Who may call: the [`Gate`] every API request passes (SigV4 against the server's key ring,
//! when it has one) and that `AWS_IAM` function URLs ask, and the [`Edge`] the HTTP layer's
//! middleware shares (the platform and the gate).
//!
//! With keys, every API request must be signed by one of them within AWS's clock skew, or
//! it is answered 403 with AWS's error type (`MissingAuthenticationTokenException`,
//! `UnrecognizedClientException`, `InvalidSignatureException`, `IncompleteSignatureException`)
//! and never reaches a service. Without keys, any signature (or none) is accepted, as on a
//! trusted network; an `AWS_IAM` URL then still needs a signature, from any key.
//!
//! `GET /metrics` passes with the scraper's bearer token (`--metrics-token`) instead of a
//! signature, since Prometheus cannot sign.
//!
//! Two paths pass unsigned: `/_lamina/health`, answered for a liveness probe with
//! `{"status":"ok"}` alone (the details need a signature), and the code download behind GetFunction's `Code.Location`, which AWS
//! gives as a presigned S3 URL and clients fetch without signing (its id is not guessable
//! and only a signed GetFunction tells it).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_platform::Platform;
use lamina_sigv4::{KeyRing, SigV4Error, Signer};

/// What the middleware of one server shares.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The platform.
    pub platform: Platform,
    /// Who may call.
    pub gate: Arc<Gate>,
}

/// The server's keys, if it checks signatures.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    keys: Option<KeyRing>,
    /// The bearer token that opens `/metrics` to a scraper.
    metrics_token: Option<String>,
}

/// The largest body an API request may have (CreateFunction with a 50 MB zip in base64),
/// which the gate reads whole to check its hash.
const SIGNED_BODY_MAX_BYTES: usize = 70 * 1024 * 1024;

impl Gate {
    /// A gate that accepts any credentials.
    pub fn open() -> Gate {
        Gate::default()
    }

    /// A gate that accepts only requests signed by one of `keys`.
    pub fn with_keys(keys: KeyRing) -> Gate {
        Gate {
            keys: Some(keys),
            metrics_token: None,
        }
    }

    /// The same gate, letting `GET /metrics` through with `Authorization: Bearer token`.
    pub fn with_metrics_token(mut self, token: &str) -> Gate {
        self.metrics_token = Some(token.to_string());
        self
    }

    /// Whether `headers` carry the scraper's token.
    fn scraper(&self, headers: &HeaderMap) -> bool {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.metrics_token, sent) {
            (Some(want), Some(got)) => {
                // Constant time, as for signatures.
                want.len() == got.len()
                    && want
                        .bytes()
                        .zip(got.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            }
            _ => false,
        }
    }

    /// The secret of `access_key`, when the gate has keys and knows it.
    pub fn secret_of(&self, access_key: &str) -> Option<String> {
        self.keys.as_ref()?.secret(access_key).map(str::to_string)
    }

    /// Whether requests must be signed by a known key.
    pub fn checks_signatures(&self) -> bool {
        self.keys.is_some()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Checks a signed request; without keys, any signature is taken at its word.
    pub fn check(&self, req: &lamina_sigv4::Request<'_>) -> Result<Signer, SigV4Error> {
        match &self.keys {
            Some(keys) => {
                lamina_sigv4::verify(req, |k| keys.secret(k).map(str::to_string), Gate::now())
            }
            None => lamina_sigv4::claimed_signer(req),
        }
    }

    /// Checks a request to an `AWS_IAM` function URL: signed for the service `lambda`.
    pub fn check_url(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Signer, SigV4Error> {
        let signer = self.check(&lamina_sigv4::Request {
            method,
            path,
            query,
            headers,
            body,
        })?;
        if signer.service != "lambda" {
            return Err(SigV4Error::Incomplete(format!(
                "Credential should be scoped to correct service: 'lambda', not '{}'.",
                signer.service
            )));
        }
        Ok(signer)
    }
}

/// With keys, a request goes on (`Ok`) only if it is signed by one of them; otherwise its
/// answer (`Err`): the refusal, or the liveness probe's.
pub(crate) async fn admit(edge: &Edge, req: Request) -> Result<Request, Response> {
    let path = req.uri().path();
    // The code download carries its own token; stores calling the S3 webhook, theirs. The
    // console's assets hold no data: what it shows comes through signed requests.
    if !edge.gate.checks_signatures()
        || path.starts_with("/_lamina/code/")
        || crate::services::console::is_console(path)
        || path == crate::services::s3::external::WEBHOOK
    {
        return Ok(req);
    }
    let signed = req.headers().contains_key("authorization")
        || req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature="));
    if path == crate::services::lamina::METRICS && edge.gate.scraper(req.headers()) {
        return Ok(req);
    }
    if path == "/_lamina/health" && !signed {
        return Err(axum::Json(serde_json::json!({ "status": "ok" })).into_response());
    }
    let (parts, body) = req.into_parts();
    let body = match crate::error::read_body(body, SIGNED_BODY_MAX_BYTES, "this").await {
        Ok(b) => b,
        Err(e) => return Err(e.into_response()),
    };
    let checked = edge.gate.check(&lamina_sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
    });
    match checked {
        Ok(_) => Ok(Request::from_parts(parts, Body::from(body))),
        Err(e) => Err(refused(&e)),
    }
}

/// AWS's answer to a request whose signature is not accepted.
pub fn refused(e: &SigV4Error) -> Response {
    let mut resp = (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "Type": "User", "message": e.to_string() })),
    )
        .into_response();
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(e.error_type()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(service: &str, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            HeaderValue::from_static("abc.lambda-url.us-east-1.localhost"),
        );
        lamina_sigv4::sign(
            lamina_sigv4::Unsigned {
                method: "GET",
                path: "/who",
                query: "",
                headers: &mut headers,
                body: b"",
            },
            &lamina_sigv4::Credentials {
                access_key_id: "AKIDGATE".into(),
                secret_access_key: secret.into(),
                session_token: None,
            },
            "us-east-1",
            service,
            chrono::Utc::now(),
        );
        headers
    }

    #[test]
    fn iam_urls_take_lambda_signatures_of_known_keys() {
        let keys =
            KeyRing::parse("[k]\naws_access_key_id=AKIDGATE\naws_secret_access_key=s\n").unwrap();
        let gate = Gate::with_keys(keys);
        let check = |h: &HeaderMap| gate.check_url("GET", "/who", "", h, b"");
        assert_eq!(
            check(&signed("lambda", "s")).unwrap().access_key,
            "AKIDGATE"
        );
        assert_eq!(check(&signed("lambda", "wrong")), Err(SigV4Error::Mismatch));
        assert!(matches!(
            check(&signed("s3", "s")),
            Err(SigV4Error::Incomplete(m)) if m.contains("'lambda'")
        ));
        assert_eq!(check(&HeaderMap::new()), Err(SigV4Error::Missing));
        // Without keys, any signature passes, but a signature there must be.
        let open = Gate::open();
        assert!(!open.checks_signatures());
        assert!(
            open.check_url("GET", "/who", "", &signed("lambda", "anything"), b"")
                .is_ok()
        );
        assert_eq!(
            open.check_url("GET", "/who", "", &HeaderMap::new(), b""),
            Err(SigV4Error::Missing)
        );
    }
}
