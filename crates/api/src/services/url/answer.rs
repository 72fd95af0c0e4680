//! A function URL's answer: the HTTP response Lambda makes of the function's answer, whole
//! (`BUFFERED`), or as it is written (`RESPONSE_STREAM`: a function URL's streamed answer
//! opens with a JSON prelude of its status, headers and cookies, ended by 8 NUL bytes, when
//! its content type says so), and the answers for invocations that could not run.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use lamina_model::LambdaError;
use lamina_model::url::response_from;
use lamina_platform::control::urls::UrlTarget;
use lamina_platform::{InvocationType, InvokeInput, LogType};

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use lamina_platform::StreamEvent;
use tokio::sync::mpsc;

use super::{forbidden, message};
use crate::auth::Edge;
use crate::services::streaming::{Started, start};

pub(super) async fn invoke(
    edge: &Edge,
    target: &UrlTarget,
    payload: String,
    request_id: String,
    trace_header: Option<String>,
) -> Response {
    let input = InvokeInput {
        function_name: target.function.clone(),
        qualifier: target.qualifier.clone(),
        invocation_type: InvocationType::RequestResponse,
        log_type: LogType::None,
        client_context: None,
        payload: payload.into(),
        request_id: Some(request_id),
        trace_header,
    };
    let out = if target.config.is_streaming() {
        match start(&edge.platform, input).await {
            Ok(Started::Whole(out)) => out,
            Ok(Started::Streaming {
                content_type,
                chunks,
                ..
            }) => return streamed(content_type, chunks).await,
            Err(e) => return failed(&e),
        }
    } else {
        match edge.platform.invoke(input).await {
            Ok(out) => out,
            Err(e) => return failed(&e),
        }
    };
    let mut resp = if out.function_error.is_some() {
        message(StatusCode::BAD_GATEWAY, "Internal Server Error", None)
    } else {
        respond(&out.payload)
    };
    if let Ok(v) = HeaderValue::from_str(&out.request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// The answer for an invocation the platform could not make.
fn failed(e: &LambdaError) -> Response {
    match e {
        LambdaError::TooManyRequests { .. } => {
            message(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.", None)
        }
        // The function went away after the URL was found: as a URL that does not exist.
        LambdaError::ResourceNotFound(_) => forbidden(),
        LambdaError::Service(_) => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", None)
        }
        _ => message(StatusCode::BAD_GATEWAY, "Internal Server Error", None),
    }
}

/// The HTTP response Lambda makes of a function's answer.
fn respond(payload: &[u8]) -> Response {
    let made = response_from(payload);
    let mut resp = Response::new(Body::from(made.body));
    *resp.status_mut() = StatusCode::from_u16(made.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (k, v) in made.headers {
        // Framing is the server's to set.
        if matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            h.insert(k, v);
        }
    }
    for c in made.cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append("set-cookie", v);
        }
    }
    resp
}

/// The content type of a streamed answer that opens with a prelude.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
/// What ends the prelude.
const PRELUDE_END: [u8; 8] = [0; 8];
/// The largest prelude read before its end must have come.
const PRELUDE_MAX_BYTES: usize = 64 * 1024;

/// A streamed answer: its prelude (when its content type announces one) as the status,
/// headers and cookies, then every chunk as it is written.
async fn streamed(
    content_type: Option<String>,
    mut chunks: mpsc::Receiver<StreamEvent>,
) -> Response {
    let mut head = Response::new(Body::empty());
    let mut rest = Bytes::new();
    if content_type.as_deref() == Some(HTTP_INTEGRATION) {
        let mut prelude = BytesMut::new();
        let end = loop {
            if let Some(at) = prelude
                .windows(PRELUDE_END.len())
                .position(|w| w == PRELUDE_END)
            {
                break at;
            }
            if prelude.len() > PRELUDE_MAX_BYTES {
                return message(StatusCode::BAD_GATEWAY, "Internal Server Error", None);
            }
            match chunks.recv().await {
                Some(StreamEvent::Chunk(c)) => prelude.extend_from_slice(&c),
                Some(StreamEvent::Start { .. }) => {}
                // Ended (or failed) before its prelude did.
                None => return message(StatusCode::BAD_GATEWAY, "Internal Server Error", None),
            }
        };
        let mut prelude = prelude.freeze();
        rest = prelude.split_off(end + PRELUDE_END.len());
        let mut fields: serde_json::Value =
            serde_json::from_slice(&prelude[..end]).unwrap_or_default();
        if !fields.is_object() {
            fields = serde_json::json!({});
        }
        if fields.get("statusCode").is_none() {
            fields["statusCode"] = 200.into();
        }
        head = respond(fields.to_string().as_bytes());
    } else if let Some(v) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        head.headers_mut().insert("content-type", v);
    }
    let first = (!rest.is_empty()).then_some(rest);
    let body = futures_util::stream::unfold((first, chunks), |(first, mut chunks)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, Infallible>(first), (None, chunks)));
        }
        loop {
            match chunks.recv().await? {
                StreamEvent::Chunk(c) => return Some((Ok(c), (None, chunks))),
                StreamEvent::Start { .. } => {}
            }
        }
    });
    *head.body_mut() = Body::from_stream(body);
    head
}
