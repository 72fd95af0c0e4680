//! The CloudWatch Logs subset (JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: Logs_20140328.<Operation>`) that reads function logs (FilterLogEvents,
//! GetLogEvents, DescribeLogStreams, DescribeLogGroups) and sets groups' retention
//! (PutRetentionPolicy, DeleteRetentionPolicy).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_model::LambdaError;
use lamina_platform::Platform;
use serde::de::DeserializeOwned;

/// The `X-Amz-Target` prefix of CloudWatch Logs' operations.
pub(super) const TARGET_PREFIX: &str = "Logs_20140328.";

/// An error in the CloudWatch Logs JSON 1.1 shape (`__type` and `message`).
#[derive(Debug)]
struct LogsError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.error_type, "message": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        resp
    }
}

impl From<LambdaError> for LogsError {
    fn from(e: LambdaError) -> Self {
        let (status, error_type) = match e {
            LambdaError::ResourceNotFound(_) => {
                (StatusCode::BAD_REQUEST, "ResourceNotFoundException")
            }
            LambdaError::Service(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceUnavailableException",
            ),
            _ => (StatusCode::BAD_REQUEST, "InvalidParameterException"),
        };
        LogsError {
            status,
            error_type,
            message: e.to_string(),
        }
    }
}

fn parse<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, LogsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| LogsError {
        status: StatusCode::BAD_REQUEST,
        error_type: "SerializationException",
        message: e.to_string(),
    })
}

/// One CloudWatch Logs request (its `X-Amz-Target` starts with [`TARGET_PREFIX`]).
pub(super) async fn serve(p: Platform, headers: HeaderMap, body: Body) -> Response {
    match handle(&p, &headers, body).await {
        Ok(v) => {
            let mut resp = (StatusCode::OK, axum::Json(v)).into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn handle(
    p: &Platform,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, LogsError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let bytes = crate::error::read_body(body, 1024 * 1024, target)
        .await
        .map_err(|e| LogsError {
            status: StatusCode::from_u16(crate::error::status(&e.0))
                .unwrap_or(StatusCode::BAD_REQUEST),
            error_type: "InvalidParameterException",
            message: e.0.to_string(),
        })?;
    match target.strip_prefix(TARGET_PREFIX) {
        Some("FilterLogEvents") => {
            let events = p.logs().filter_log_events(parse(&bytes)?).await?;
            Ok(serde_json::to_value(events).unwrap_or_default())
        }
        Some("DescribeLogStreams") => {
            let streams = p.logs().describe_log_streams(parse(&bytes)?).await?;
            Ok(serde_json::to_value(streams).unwrap_or_default())
        }
        Some("GetLogEvents") => {
            let events = p.logs().get_log_events(parse(&bytes)?).await?;
            Ok(serde_json::to_value(events).unwrap_or_default())
        }
        Some("DescribeLogGroups") => {
            let groups = p.logs().describe_log_groups(parse(&bytes)?).await?;
            Ok(serde_json::to_value(groups).unwrap_or_default())
        }
        Some(op @ ("PutRetentionPolicy" | "DeleteRetentionPolicy")) => {
            let put = op == "PutRetentionPolicy";
            p.logs().set_retention(parse(&bytes)?, put).await?;
            Ok(serde_json::json!({}))
        }
        _ => Err(LogsError {
            status: StatusCode::BAD_REQUEST,
            error_type: "UnknownOperationException",
            message: format!("Unknown operation: {target}"),
        }),
    }
}
