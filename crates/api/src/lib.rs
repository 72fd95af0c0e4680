//! Lamina's HTTP surfaces.
//!
//! Layout:
//! - [`services`]: one module per service on the endpoint, and how a request finds its
//!   service (paths for REST services, `X-Amz-Target` for JSON-protocol ones):
//!   - `services::lambda`: the AWS Lambda REST API (rest-json, the paths botocore uses),
//!     including Invoke;
//!   - `services::logs`: the subset of the CloudWatch Logs API (JSON 1.1) that reads function
//!     logs, so `aws logs tail /aws/lambda/NAME` works against the same endpoint;
//!   - `services::lamina`: Lamina's own `/_lamina/` routes (health, status, failed events).
//! - [`error`]: Lambda's error shape on the wire.
//! - [`sigv4`]: verifying AWS Signature Version 4 (the header and presigned forms).
//! - `server`: the HTTP/1.1 front door: the connection cap, client timeouts, graceful
//!   shutdown, and Lambda's shape for the errors hyper answers itself.
//!
//! Handlers parse HTTP into calls on [`Platform`] and turn the answers back into HTTP; no
//! state lives here. Requests are accepted whatever their SigV4 signature: the server is
//! meant for a trusted network until authentication arrives.

mod conn;
pub mod error;
mod server;
pub mod services;
pub mod sigv4;

pub use server::HttpLimits;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use lamina_platform::Platform;

/// The whole HTTP surface of one server.
pub fn router(platform: Platform) -> Router {
    services::routes()
        .fallback(services::unknown_operation)
        .method_not_allowed_fallback(services::unknown_operation)
        .layer(axum::middleware::from_fn(server::request_id))
        .with_state(platform)
}

/// Serves `platform` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish for up to `grace`, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    platform: Platform,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    server::serve(listener, router(platform), limits, shutdown, grace).await
}
