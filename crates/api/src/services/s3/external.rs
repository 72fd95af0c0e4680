//! Lamina's own S3 routes, under `/_lamina/`:
//! - `POST /_lamina/s3-events`: the webhook other S3-compatible stores send their
//!   notifications to (MinIO's webhook target, Ceph RGW's HTTP push endpoint), with the
//!   server's token as `Authorization: Bearer <token>` (MinIO's `auth_token`) or
//!   `?token=<token>` (a Ceph push endpoint is only a URL); `HEAD` answers MinIO's liveness
//!   probe. It is not behind the gate: stores do not sign, the token is their credential.
//! - `GET|PUT|DELETE /_lamina/s3/external/{bucket}`: an external bucket's notification
//!   configuration, in S3's JSON form; `GET /_lamina/s3/external` lists them.
//! - `GET /_lamina/buckets`: what `lamina buckets` shows.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lamina_model::s3::wire::WireConfiguration;
use lamina_platform::Platform;
use lamina_platform::s3::{BucketError, Requester};
use serde_json::json;

/// The webhook's path.
pub const WEBHOOK: &str = "/_lamina/s3-events";

/// The routes.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route(WEBHOOK, post(receive).head(alive))
        .route("/_lamina/s3/external", get(list_external))
        .route(
            "/_lamina/s3/external/{bucket}",
            get(get_external).put(put_external).delete(delete_external),
        )
        .route("/_lamina/buckets", get(buckets))
}

fn answer(status: StatusCode, code: &str, message: String) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"Code": code, "Message": message})),
    )
        .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(code) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

fn error(e: BucketError) -> Response {
    match e {
        BucketError::Forbidden(m) => answer(StatusCode::FORBIDDEN, "AccessDenied", m),
        BucketError::InvalidArgument(m) => answer(StatusCode::BAD_REQUEST, "InvalidArgument", m),
        BucketError::Unavailable(m) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", m)
        }
        BucketError::NotServed => answer(StatusCode::NOT_FOUND, "NotImplemented", e.to_string()),
        BucketError::Objects(lamina_objects::ObjectError::InvalidBucketName) => answer(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.".into(),
        ),
        BucketError::Objects(o) => {
            tracing::error!(error = %o, "object storage failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                o.to_string(),
            )
        }
    }
}

/// The token a store sent: `Authorization: Bearer <token>` (or the whole header, as MinIO
/// sends a token of two words verbatim), else `?token=`.
fn token_of<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .or_else(|| query.get("token").map(String::as_str))
}

async fn receive(
    State(p): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match p.s3().receive(token_of(&headers, &query), &body).await {
        Ok(delivered) => {
            (StatusCode::OK, axum::Json(json!({"Delivered": delivered}))).into_response()
        }
        Err(e) => error(e),
    }
}

async fn alive() -> StatusCode {
    StatusCode::OK
}

async fn list_external(State(p): State<Platform>) -> Response {
    match p.s3().externals().await {
        Ok(all) => {
            let all: serde_json::Map<String, serde_json::Value> = all
                .iter()
                .map(|(b, c)| (b.clone(), json!(WireConfiguration::of(c))))
                .collect();
            axum::Json(json!({"Buckets": all})).into_response()
        }
        Err(e) => error(e),
    }
}

async fn get_external(State(p): State<Platform>, Path(bucket): Path<String>) -> Response {
    match p.s3().external(&bucket).await {
        Ok(c) => axum::Json(WireConfiguration::of(&c)).into_response(),
        Err(e) => error(e),
    }
}

async fn put_external(
    State(p): State<Platform>,
    Path(bucket): Path<String>,
    body: Bytes,
) -> Response {
    let wire: WireConfiguration = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "MalformedJSON",
                format!("The body is not a notification configuration: {e}"),
            );
        }
    };
    let config = match wire.into_config() {
        Ok(c) => c,
        Err(m) => return answer(StatusCode::BAD_REQUEST, "InvalidArgument", m),
    };
    let who = Requester {
        source_ip: String::new(),
        principal: "lamina".into(),
        request_id: lamina_model::new_id(),
    };
    match p.s3().put_external(&bucket, config, &who).await {
        Ok(()) => get_external(State(p), Path(bucket)).await,
        Err(e) => error(e),
    }
}

async fn delete_external(State(p): State<Platform>, Path(bucket): Path<String>) -> Response {
    let who = Requester {
        source_ip: String::new(),
        principal: "lamina".into(),
        request_id: lamina_model::new_id(),
    };
    match p.s3().put_external(&bucket, Default::default(), &who).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn buckets(State(p): State<Platform>) -> Response {
    match p.s3().buckets().await {
        Ok(lines) => axum::Json(json!({"Buckets": lines})).into_response(),
        Err(e) => error(e),
    }
}
