//! The AWS services (and Lamina's own) served on the one endpoint, and how a request finds
//! its service.
//!
//! Two kinds of AWS protocol share the endpoint:
//! - **REST services** (rest-json: Lambda, the Scheduler) are told apart by their
//!   paths: each service mounts its own routes (`/2015-03-31/functions/...` for Lambda,
//!   `/schedules`, `/schedule-groups` and `/tags/...` for the Scheduler, `/_lamina/...` for
//!   Lamina's own), and paths never overlap.
//! - **JSON-protocol services** (CloudWatch Logs, EventBridge, SQS, CloudWatch) all post
//!   to `/`, told apart by the prefix of `X-Amz-Target` (`Logs_20140328.`, `AWSEvents.`,
//!   `AmazonSQS.`, `GraniteServiceVersion20100801.`): [`JSON_SERVICES`] maps each prefix to
//!   its service's entry point. CloudWatch's current SDKs speak CBOR on paths of their own
//!   (`/service/GraniteServiceVersion20100801/operation/...`).
//! - **Query-protocol requests** (`Action=...`, SQS's and CloudWatch's older SDKs) are told
//!   apart by their `Version`.
//! - Where neither tells (S3's path-style `/bucket/key` overlaps every other path), the
//!   service a client signed for does: [`signed_service`] reads it from the SigV4 credential
//!   scope (`Credential=AKID/20261204/us-east-1/s3/aws4_request`); [`s3`] takes those, and
//!   bucket hosts, before any route. A request signed for a service Lamina does not serve
//!   is answered as such.
//!
//! - The web console's assets are served at `/console/` ([`console`]).
//! - Function URLs are told by their `Host` (`<url-id>.lambda-url.…`) or their path prefix
//!   (`/lambda-url/<url-id>/`), before any of the above ([`url`]).
//!
//! A service's module parses requests into the core's typed calls and turns answers and
//! errors into its own wire shapes; it holds no state.

use std::future::Future;
use std::pin::Pin;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lamina_model::LambdaError;
use lamina_platform::Platform;

pub mod cloudwatch;
pub mod console;
pub mod events;
pub mod lambda;
pub mod lamina;
pub mod logs;
mod query_xml;
pub mod s3;
pub mod scheduler;
pub mod sqs;
pub mod streaming;
pub mod url;

type JsonEntry = fn(Platform, HeaderMap, Body) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// The JSON-protocol services: `X-Amz-Target` prefix, and the service that answers it.
pub const JSON_SERVICES: &[(&str, JsonEntry)] = &[
    (logs::TARGET_PREFIX, |p, h, b| {
        Box::pin(logs::serve(p, h, b))
    }),
    (events::TARGET_PREFIX, |p, h, b| {
        Box::pin(events::serve(p, h, b))
    }),
    (sqs::TARGET_PREFIX, |p, h, b| Box::pin(sqs::serve(p, h, b))),
    (cloudwatch::TARGET_PREFIX, |p, h, b| {
        Box::pin(cloudwatch::serve_json(p, h, b))
    }),
];

/// The service a request was signed for: the fourth part of its SigV4 credential scope
/// (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`),
/// or of `X-Amz-Credential` on a presigned URL's query.
pub fn signed_service(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or_default().to_string());
    let from_query = || {
        query?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "X-Amz-Credential").then(|| v.replace("%2F", "/").replace("%2f", "/"))
        })
    };
    let credential = from_header.or_else(from_query)?;
    let parts: Vec<&str> = credential.split('/').collect();
    (parts.len() == 5 && parts[4] == "aws4_request").then(|| parts[3].to_string())
}

/// What the server answers for a path or method no service serves: Lambda's
/// UnknownOperationException, naming the service the request was signed for when that is
/// one Lamina does not serve.
pub async fn unknown_operation(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let served = [
        "lambda",
        "logs",
        "scheduler",
        "events",
        "sqs",
        "s3",
        "monitoring",
    ];
    let message = match signed_service(&headers, uri.query()) {
        Some(service) if !served.contains(&service.as_str()) => format!(
            "Unknown operation: {method} {} (signed for the service {service:?}, which this \
             server does not serve; it serves {})",
            uri.path(),
            served.join(", ")
        ),
        _ => format!("Unknown operation: {method} {}", uri.path()),
    };
    crate::error::ApiError(LambdaError::UnknownOperation(message)).into_response()
}

/// Every service's routes.
pub fn routes() -> Router<Platform> {
    lambda::routes()
        .merge(lamina::routes())
        .merge(s3::external::routes())
        .merge(scheduler::routes())
        .merge(cloudwatch::routes())
        .merge(console::routes())
        .route("/", post(json_protocol).get(query_protocol))
        .route(
            "/{account}/{queue}",
            post(query_protocol).get(query_protocol),
        )
}

/// A JSON-protocol request: its operation (what follows `prefix` in `X-Amz-Target`) and
/// its members (`{}` for an empty body), or why the body could not be read as JSON.
pub(crate) async fn json_request(
    headers: &HeaderMap,
    body: Body,
    prefix: &str,
    limit: usize,
) -> Result<(String, serde_json::Value), String> {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(prefix))
        .unwrap_or_default()
        .to_string();
    let bytes = crate::error::read_body(body, limit, &op)
        .await
        .map_err(|e| e.0.to_string())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((op, serde_json::json!({})));
    }
    let members = serde_json::from_slice(&bytes)
        .map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    Ok((op, members))
}

/// Largest query-protocol request read (a batch of ten 256 KB messages, form-encoded).
const QUERY_MAX_BYTES: usize = 4 << 20;

/// A query-protocol request (`Action=...` in the query string or a form body), to `/` or to
/// an SQS queue's URL (`/<account>/<queue>`): SQS's, for the SDKs that still speak it.
async fn query_protocol(
    State(p): State<Platform>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut params: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let Ok(bytes) = crate::error::read_body(body, QUERY_MAX_BYTES, "query").await else {
            return unknown_operation(method, uri, headers).await;
        };
        params.extend(
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).unwrap_or_default(),
        );
    }
    if cloudwatch::query::is_query(&params) {
        return cloudwatch::query::serve(p, params).await;
    }
    if sqs::query::is_query(&params) {
        return sqs::serve_query(p, headers, uri.path(), params).await;
    }
    unknown_operation(method, uri, headers).await
}

/// `POST /`: to the JSON-protocol service named by `X-Amz-Target` (or, without one, a
/// query-protocol request).
async fn json_protocol(
    State(p): State<Platform>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if target.is_empty() {
        return query_protocol(State(p), method, uri, headers, body).await;
    }
    match JSON_SERVICES
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix))
    {
        Some((_, serve)) => serve(p, headers, body).await,
        None => crate::error::ApiError(LambdaError::UnknownOperation(format!(
            "Unknown operation: POST / with X-Amz-Target {target:?}"
        )))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_service_comes_from_the_credential_scope() {
        let mut h = HeaderMap::new();
        assert_eq!(signed_service(&h, None), None);
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(signed_service(&h, None).as_deref(), Some("s3"));
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/eu-west-1/lambda/aws4_request,SignedHeaders=host"
                .parse()
                .unwrap(),
        );
        assert_eq!(signed_service(&h, None).as_deref(), Some("lambda"));
        h.insert("authorization", "Bearer token".parse().unwrap());
        assert_eq!(signed_service(&h, None), None);
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fsqs%2Faws4_request";
        assert_eq!(
            signed_service(&HeaderMap::new(), Some(query)).as_deref(),
            Some("sqs")
        );
    }
}
