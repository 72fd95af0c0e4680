//! Lamina's HTTP surfaces.
//!
//! Layout:
//! - [`services`]: one module per service on the endpoint, and how a request finds its
//!   service (paths for REST services, `X-Amz-Target` for JSON-protocol ones):
//!   - `services::lambda`: the AWS Lambda REST API (rest-json, the paths botocore uses),
//!     including Invoke;
//!   - `services::logs`: the subset of the CloudWatch Logs API (JSON 1.1) that reads function
//!     logs, so `aws logs tail /aws/lambda/NAME` works against the same endpoint;
//!   - `services::lamina`: Lamina's own `/_lamina/` routes (health, status, failed events);
//!   - `services::url`: function URLs (by `Host` or `/lambda-url/<id>/`), served before
//!     the gate, which `AWS_IAM` URLs ask themselves;
//!   - `services::s3`: the S3 service (`s3s` over the `objects` crate), also before the
//!     gate, checking signatures itself.
//! - [`error`]: Lambda's error shape on the wire; [`eventstream`]: AWS's event-stream
//!   framing, for InvokeWithResponseStream.
//! - [`auth`]: the [`Gate`] (SigV4 against the server's keys, when it has them) and the
//!   [`Edge`] the middleware shares.
//! - `server`: the HTTP/1.1 front door: the connection cap, client timeouts, graceful
//!   shutdown, and Lambda's shape for the errors hyper answers itself.
//!
//! Handlers parse HTTP into calls on [`Platform`] and turn the answers back into HTTP; no
//! state lives here.

pub mod auth;
mod conn;
pub mod error;
pub mod eventstream;
mod finish;
mod front;
mod server;
pub mod services;

pub use server::HttpLimits;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use lamina_platform::Platform;

pub use auth::{Edge, Gate};

/// The whole HTTP surface of one server: function URLs (by host or path prefix), S3 (by
/// host or the service it is signed for, when the server has object storage), then the API
/// behind the gate.
pub fn router(platform: Platform, gate: Arc<Gate>, s3: Option<services::s3::S3Surface>) -> Router {
    let front = front::Front {
        edge: Edge { platform, gate },
        s3,
    };
    let platform = front.edge.platform.clone();
    services::routes()
        .fallback(services::unknown_operation)
        .method_not_allowed_fallback(services::unknown_operation)
        .layer(axum::middleware::from_fn_with_state(front, front::front))
        .with_state(platform)
}

/// A surface that serves function URLs only (`--url-listen`).
pub fn url_router(platform: Platform, gate: Arc<Gate>) -> Router {
    Router::new()
        .fallback(services::url::only)
        .with_state(Edge { platform, gate })
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish for up to `grace`, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    server::serve(listener, app, limits, shutdown, grace).await
}
