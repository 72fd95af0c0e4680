//! The main listener's one middleware: what every request passes before the API's
//! routes. In order: a request addressed to a function URL (by host or path) is
//! served as one; S3's (by host or signature) goes to the S3 surface; every other must pass
//! the gate ([`crate::auth::admit`]); in a cluster, a control-plane request naming a
//! function first catches up with the shared store; then the routes. Every answer carries
//! `x-amzn-RequestId`.
//!
//! One middleware rather than one per concern: each axum layer boxes every request's
//! future and clones the service behind it, and Invoke's path pays for each.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::Edge;
use crate::services::{lambda, s3, url};

/// What the middleware needs: the platform and the gate, and the S3 surface if the server
/// has object storage.
#[derive(Clone)]
pub(crate) struct Front {
    pub(crate) edge: Edge,
    pub(crate) s3: Option<s3::S3Surface>,
}

/// The middleware.
pub(crate) async fn front(State(front): State<Front>, req: Request, next: Next) -> Response {
    let mut resp = dispatch(&front, req, next).await;
    crate::server::add_request_id(&mut resp);
    resp
}

async fn dispatch(front: &Front, req: Request, next: Next) -> Response {
    let req = match url::answer_if_addressed(&front.edge, req).await {
        Ok(answered) => return answered,
        Err(req) => req,
    };
    if let Some(s3) = s3::for_request(front.s3.as_ref(), &req) {
        return s3::answer(s3, req).await;
    }
    let req = match crate::auth::admit(&front.edge, req).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    lambda::catch_up(&front.edge.platform, req.uri().path()).await;
    next.run(req).await
}
