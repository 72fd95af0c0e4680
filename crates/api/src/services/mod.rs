//! The AWS services (and Lamina's own) served on the one endpoint, and how a request finds
//! its service.
//!
//! Two kinds of AWS protocol share the endpoint:
//! - **REST services** (rest-json: Lambda; later the Scheduler, S3) are told apart by their
//!   paths: each service mounts its own routes (`/2015-03-31/functions/...` for Lambda,
//!   `/_lamina/...` for Lamina's own), and paths never overlap.
//! - **JSON-protocol services** (CloudWatch Logs; later EventBridge, SQS) all post to `/`,
//!   told apart by the prefix of `X-Amz-Target` (`Logs_20140328.`, `AWSEvents.`,
//!   `AmazonSQS.`): [`JSON_SERVICES`] maps each prefix to its service's entry point.
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

pub mod lambda;
pub mod lamina;
pub mod logs;

type JsonEntry = fn(Platform, HeaderMap, Body) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// The JSON-protocol services: `X-Amz-Target` prefix, and the service that answers it.
pub const JSON_SERVICES: &[(&str, JsonEntry)] = &[(logs::TARGET_PREFIX, |p, h, b| {
    Box::pin(logs::serve(p, h, b))
})];

/// Every service's routes.
pub fn routes() -> Router<Platform> {
    lambda::routes()
        .merge(lamina::routes())
        .route("/", post(json_protocol))
}

/// `POST /`: to the JSON-protocol service named by `X-Amz-Target`.
async fn json_protocol(State(p): State<Platform>, headers: HeaderMap, body: Body) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
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
