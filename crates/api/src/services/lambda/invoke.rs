//! Invoke (RequestResponse, Event, DryRun) and the deprecated InvokeAsync.

use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;
use lamina_model::invoke::{ClientContext, InvocationType, InvokeInput, LogType};
use lamina_model::limits::SYNC_PAYLOAD_MAX_BYTES;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lamina_model::LambdaError;
use lamina_platform::Platform;

use super::{Name, Params, enum_header, header, json};
use crate::error::{ApiError, read_body};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const FUNCTION_ERROR: HeaderName = HeaderName::from_static("x-amz-function-error");
const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-amz-executed-version");
const LOG_RESULT: HeaderName = HeaderName::from_static("x-amz-log-result");

pub(super) async fn invoke(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Read one byte past the limit so that an oversized payload is told apart from one
    // exactly at the limit.
    let payload = read_body(body, SYNC_PAYLOAD_MAX_BYTES + 1, "InvokeFunction")
        .await
        .map_err(|e| match e.0 {
            LambdaError::RequestTooLarge(_) => ApiError(LambdaError::RequestTooLarge(format!(
                "Request must be smaller than {SYNC_PAYLOAD_MAX_BYTES} bytes for the InvokeFunction operation"
            ))),
            _ => e,
        })?;
    let input = InvokeInput {
        function_name: name,
        qualifier: q.get("Qualifier").cloned(),
        invocation_type: InvocationType::parse(
            enum_header(&headers, "x-amz-invocation-type").as_deref(),
        )?,
        log_type: LogType::parse(enum_header(&headers, "x-amz-log-type").as_deref())?,
        client_context: header(&headers, "x-amz-client-context")
            .map(|b64| ClientContext::parse(&b64))
            .transpose()?,
        payload,
        request_id: None,
        trace_header: header(&headers, "x-amzn-trace-id"),
    };
    let out = p.invoke(input).await?;
    let status = StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK);
    let mut resp = Response::new(Body::from(out.payload));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    // The answer's own strings become the headers' bytes, under names made once: a name
    // given as text is copied into every response it is set on.
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(out.request_id)) {
        h.insert(REQUEST_ID, v);
    }
    if let Some(fe) = out.function_error {
        h.insert(FUNCTION_ERROR, HeaderValue::from_static(fe));
    }
    if let Some(v) = out
        .executed_version
        .and_then(|v| HeaderValue::from_maybe_shared(Bytes::from(v)).ok())
    {
        h.insert(EXECUTED_VERSION, v);
    }
    if let Some(v) = out
        .log_result
        .and_then(|v| HeaderValue::from_maybe_shared(Bytes::from(v)).ok())
    {
        h.insert(LOG_RESULT, v);
    }
    // Lamina's own: where a cold start's Init Duration went. Lambda does not say; clients
    // ignore headers they do not know.
    if let Some((setup, runtime, ahead)) = out.init_breakdown
        && let Ok(v) = HeaderValue::from_str(&format!(
            "sandbox={setup:.2}; runtime={runtime:.2}; prestarted={ahead}"
        ))
    {
        h.insert("x-lamina-init-ms", v);
    }
    Ok(resp)
}

pub(super) async fn invoke_async(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let max = lamina_model::limits::INVOKE_ASYNC_PAYLOAD_MAX_BYTES;
    let payload = read_body(body, max + 1, "InvokeAsync").await?;
    p.async_invoke().invoke_async(&name, payload).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        serde_json::json!({ "Status": 202 }),
    ))
}
