//! InvokeWithResponseStream (`/2021-11-15/functions/{name}/response-streaming-invocations`):
//! the answer is an event stream of `PayloadChunk` events, sent as the function writes
//! them, then one `InvokeComplete` (with the error of a stream that ended in one, and the
//! log tail). A function that answers whole is one `PayloadChunk`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use lamina_model::LambdaError;
use lamina_model::invoke::{ClientContext, InvocationType, InvokeInput, LogType};
use lamina_model::limits::SYNC_PAYLOAD_MAX_BYTES;
use lamina_platform::{InvokeOutput, Platform, StreamEvent};

use super::{Name, Params, enum_header, header};
use crate::error::{ApiError, read_body};
use crate::eventstream::event;
use crate::services::streaming::{Started, start};

pub(super) async fn invoke_with_response_stream(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let payload = read_body(body, SYNC_PAYLOAD_MAX_BYTES + 1, "InvokeWithResponseStream").await?;
    let invocation_type = match enum_header(&headers, "x-amz-invocation-type").as_deref() {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return Err(ApiError(LambdaError::not_in_enum(
                other,
                "invocationType",
                &["RequestResponse", "DryRun"],
            )));
        }
    };
    // Named here, so that a streamed answer's head carries it before the invocation ends.
    let request_id = lamina_model::new_id();
    let input = InvokeInput {
        function_name: name,
        qualifier: q.get("Qualifier").cloned(),
        invocation_type,
        log_type: LogType::parse(enum_header(&headers, "x-amz-log-type").as_deref())?,
        client_context: header(&headers, "x-amz-client-context")
            .map(|b64| ClientContext::parse(&b64))
            .transpose()?,
        payload,
        request_id: Some(request_id.clone()),
        trace_header: header(&headers, "x-amzn-trace-id"),
    };
    if invocation_type == InvocationType::DryRun {
        let out = p.invoke(input).await?;
        return Ok(head(
            StatusCode::NO_CONTENT,
            Body::empty(),
            "application/json",
            None,
            &out.request_id,
        ));
    }
    Ok(match start(&p, input).await? {
        Started::Whole(out) => {
            let mut frames = Vec::new();
            if out.function_error.is_none() && !out.payload.is_empty() {
                frames.push(Ok::<_, Infallible>(event(
                    "PayloadChunk",
                    "application/octet-stream",
                    &out.payload,
                )));
            }
            frames.push(Ok(complete(&out)));
            let version = out.executed_version.clone();
            head(
                StatusCode::OK,
                Body::from_stream(futures_util::stream::iter(frames)),
                "application/json",
                version.as_deref(),
                &out.request_id,
            )
        }
        Started::Streaming {
            content_type,
            executed_version,
            chunks,
            done,
        } => {
            let frames = futures_util::stream::unfold(
                (chunks, Some(done)),
                |(mut chunks, done)| async move {
                    let done = done?;
                    match chunks.recv().await {
                        Some(StreamEvent::Chunk(b)) => Some((
                            Ok::<_, Infallible>(event(
                                "PayloadChunk",
                                "application/octet-stream",
                                &b,
                            )),
                            (chunks, Some(done)),
                        )),
                        Some(StreamEvent::Start { .. }) => {
                            Some((Ok(Bytes::new()), (chunks, Some(done))))
                        }
                        None => {
                            let last = match done.await {
                                Ok(Ok(out)) => complete(&out),
                                Ok(Err(e)) => {
                                    complete_with(Some(e.error_type()), Some(&e.to_string()), None)
                                }
                                Err(e) => complete_with(
                                    Some("ServiceException"),
                                    Some(&e.to_string()),
                                    None,
                                ),
                            };
                            Some((Ok(last), (chunks, None)))
                        }
                    }
                },
            );
            head(
                StatusCode::OK,
                Body::from_stream(frames),
                content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
                Some(&executed_version),
                &request_id,
            )
        }
    })
}

/// The answer's head. Its `Content-Type` is the function's (`ResponseStreamContentType`);
/// the body is an event stream whatever it says.
fn head(
    status: StatusCode,
    body: Body,
    content_type: &str,
    version: Option<&str>,
    request_id: &str,
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert("content-type", v);
    }
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("x-amz-executed-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// The `InvokeComplete` event of an invocation's end.
fn complete(out: &InvokeOutput) -> Bytes {
    let (code, details) = if out.function_error.is_some() {
        let doc: serde_json::Value = serde_json::from_slice(&out.payload).unwrap_or_default();
        (
            Some(doc["errorType"].as_str().unwrap_or("Unhandled").to_string()),
            Some(
                doc["errorMessage"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&out.payload).into_owned()),
            ),
        )
    } else {
        (None, None)
    };
    complete_with(
        code.as_deref(),
        details.as_deref(),
        out.log_result.as_deref(),
    )
}

fn complete_with(code: Option<&str>, details: Option<&str>, log: Option<&str>) -> Bytes {
    let mut doc = serde_json::Map::new();
    if let Some(c) = code {
        doc.insert("ErrorCode".into(), c.into());
    }
    if let Some(d) = details {
        doc.insert("ErrorDetails".into(), d.into());
    }
    if let Some(l) = log {
        doc.insert("LogResult".into(), l.into());
    }
    event(
        "InvokeComplete",
        "application/json",
        serde_json::Value::Object(doc).to_string().as_bytes(),
    )
}
