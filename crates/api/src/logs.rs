//! The CloudWatch Logs subset (JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: Logs_20140328.<Operation>`) that reads function logs.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, Limited};
use lamina_model::LambdaError;
use lamina_platform::Platform;
use serde::de::DeserializeOwned;

/// `POST /`.
pub fn routes() -> Router<Platform> {
    Router::new().route("/", post(dispatch))
}

fn logs_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": error_type, "message": message });
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn from_lambda(e: LambdaError) -> Response {
    let status = match e {
        LambdaError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let kind = match e {
        LambdaError::ResourceNotFound(_) => "ResourceNotFoundException",
        LambdaError::Service(_) => "ServiceUnavailableException",
        _ => "InvalidParameterException",
    };
    logs_error(status, kind, &e.to_string())
}

fn parse<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        logs_error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            &e.to_string(),
        )
    })
}

fn ok(value: serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(value)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

async fn dispatch(State(p): State<Platform>, headers: HeaderMap, body: Body) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(bytes) = Limited::new(body, 1024 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
    else {
        return logs_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "InvalidParameterException",
            "request too large",
        );
    };
    let result = match target.strip_prefix("Logs_20140328.") {
        Some("FilterLogEvents") => parse(&bytes).and_then(|r| {
            p.filter_log_events(r)
                .map_err(from_lambda)
                .map(|v| serde_json::to_value(v).unwrap_or_default())
        }),
        Some("DescribeLogStreams") => {
            parse(&bytes).and_then(|r| p.describe_log_streams(r).map_err(from_lambda))
        }
        Some("GetLogEvents") => {
            parse(&bytes).and_then(|r| p.get_log_events(r).map_err(from_lambda))
        }
        _ => Err(logs_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("Unknown operation: {target}"),
        )),
    };
    match result {
        Ok(v) => ok(v),
        Err(resp) => resp,
    }
}
