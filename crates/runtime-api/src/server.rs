//! HTTP routes of the Runtime API for one environment.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::budget::EnvironmentConnections;
use crate::replies::{error_response, header, json, not_found};
use crate::session::{Refusal, Reply, Session};

const PREFIX: &str = "/2018-06-01";
const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";
const TELEMETRY_PREFIX: &str = "/2022-07-01/telemetry";

/// Serves the Runtime API for `session` on `listener` until the session is closed.
/// Connections beyond `connections`' bounds are closed at once.
pub async fn serve(
    listener: TcpListener,
    session: Arc<Session>,
    max_response_bytes: usize,
    connections: EnvironmentConnections,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "runtime api accept failed");
                    continue;
                }
            },
            _ = session.closed() => return,
        };
        let Some(held) = connections.runtime_api() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let session = session.clone();
        tokio::spawn(async move {
            let _held = held;
            let service_session = session.clone();
            let service = hyper::service::service_fn(move |req| {
                let session = service_session.clone();
                async move { Ok::<_, Infallible>(route(req, &session, max_response_bytes).await) }
            });
            // Title-case header names, as Lambda sends them: runtimes written against Lambda
            // may look up `Lambda-Runtime-Aws-Request-Id` case-sensitively.
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = session.closed() => {}
            }
        });
    }
}

/// Where a request goes, told from its method and path before the request is consumed.
enum Route {
    Extensions(String),
    Next,
    InitError,
    Ping,
    Complete { id: String, is_error: bool },
    NotFound,
}

fn route_of(req: &Request<Incoming>) -> Route {
    let path = req.uri().path();
    if path.starts_with(EXTENSION_PREFIX) || path.starts_with(TELEMETRY_PREFIX) {
        return Route::Extensions(path.to_string());
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Route::NotFound;
    };
    match (req.method(), rest) {
        (&Method::GET, "/runtime/invocation/next") => Route::Next,
        (&Method::POST, "/runtime/init/error") => Route::InitError,
        (&Method::GET, "/ping") => Route::Ping,
        (&Method::POST, rest) => {
            let Some(tail) = rest.strip_prefix("/runtime/invocation/") else {
                return Route::NotFound;
            };
            match (tail.strip_suffix("/response"), tail.strip_suffix("/error")) {
                (Some(id), _) => Route::Complete {
                    id: id.to_string(),
                    is_error: false,
                },
                (_, Some(id)) => Route::Complete {
                    id: id.to_string(),
                    is_error: true,
                },
                _ => Route::NotFound,
            }
        }
        _ => Route::NotFound,
    }
}

async fn route(req: Request<Incoming>, session: &Session, max: usize) -> Response<Full<Bytes>> {
    match route_of(&req) {
        Route::Extensions(path) => crate::extension_routes::route(req, session, &path).await,
        Route::Next => next(session).await,
        Route::InitError => {
            let error_type = header(&req, "lambda-runtime-function-error-type");
            let body = match read_body(req, max).await {
                Ok(b) => b,
                Err(status) => {
                    return error_response(status, "RequestEntityTooLarge", "payload too large");
                }
            };
            let (error_type, body) = error_document(error_type, body);
            accepted(session.init_error(error_type, body))
        }
        Route::Ping => json(StatusCode::OK, Bytes::from_static(b"pong")),
        Route::Complete { id, is_error } => complete(req, session, id, max, is_error).await,
        Route::NotFound => not_found(),
    }
}

/// `POST /runtime/invocation/{id}/response` (or `/error` when `is_error`).
async fn complete(
    req: Request<Incoming>,
    session: &Session,
    id: String,
    max: usize,
    is_error: bool,
) -> Response<Full<Bytes>> {
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming && !is_error {
        let (writer, stream) = crate::streaming::channel(header(&req, "content-type"));
        if let Err(r) = session.complete(&id, Reply::Stream(stream)) {
            return refusal(r);
        }
        return match writer.pump(req.into_body()).await {
            crate::streaming::StreamEnd::TooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!(
                    "Exceeded maximum allowed payload size ({} bytes).",
                    crate::streaming::STREAM_MAX_BYTES
                ),
            ),
            _ => accepted(Ok(())),
        };
    }
    let error_type = header(&req, "lambda-runtime-function-error-type");
    let Ok(body) = read_body(req, max).await else {
        let _ = session.complete(&id, Reply::ResponseTooLarge);
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({max} bytes)."),
        );
    };
    let reply = if is_error {
        let (error_type, body) = error_document(error_type, body);
        Reply::Error { error_type, body }
    } else {
        Reply::Response(body)
    };
    accepted(session.complete(&id, reply))
}

async fn next(session: &Session) -> Response<Full<Bytes>> {
    match session.next().await {
        Ok((event, deadline_ms)) => {
            let mut resp = Response::new(Full::new(event.payload));
            let h = resp.headers_mut();
            h.reserve(6);
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            // The event's own strings become the headers' bytes: nothing is copied.
            insert(h, REQUEST_ID, event.request_id);
            h.insert(DEADLINE_MS, HeaderValue::from(deadline_ms));
            insert(h, INVOKED_FUNCTION_ARN, event.invoked_function_arn);
            insert(h, TRACE_ID, event.trace_id);
            if let Some(cc) = event.client_context {
                insert(h, CLIENT_CONTEXT, cc);
            }
            resp
        }
        Err(r) => refusal(r),
    }
}

// Names made once: a name given as text is copied into every response it is set on.
const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const INVOKED_FUNCTION_ARN: HeaderName =
    HeaderName::from_static("lambda-runtime-invoked-function-arn");
const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");

fn insert(h: &mut http::HeaderMap, name: HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
        h.insert(name, v);
    }
}

async fn read_body(req: Request<Incoming>, max: usize) -> Result<Bytes, StatusCode> {
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE),
    }
}

/// The error document to hand back to the caller: the runtime's JSON body when it is one
/// (its `errorType` wins), else one built from the header, as Lambda does.
fn error_document(header_type: Option<String>, body: Bytes) -> (String, Bytes) {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&body) {
        let t = map
            .get("errorType")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .or(header_type)
            .unwrap_or_else(|| "Unhandled".into());
        return (t, body);
    }
    let t = header_type.unwrap_or_else(|| "Unhandled".into());
    let doc = serde_json::json!({ "errorType": t, "errorMessage": String::from_utf8_lossy(&body) });
    (t, Bytes::from(doc.to_string()))
}

fn accepted(result: Result<(), Refusal>) -> Response<Full<Bytes>> {
    match result {
        Ok(()) => json(
            StatusCode::ACCEPTED,
            Bytes::from_static(br#"{"status":"OK"}"#),
        ),
        Err(r) => refusal(r),
    }
}

fn refusal(r: Refusal) -> Response<Full<Bytes>> {
    match r {
        Refusal::InvalidRequestId => error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        ),
        Refusal::InvalidStateTransition => error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition is not allowed",
        ),
        Refusal::Closed => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.ExecutionEnvironmentClosed",
            "The execution environment is shutting down",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Invocation;
    use std::time::Duration;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn full_round_trip_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/2018-06-01", listener.local_addr().unwrap());
        let session = Arc::new(Session::new());
        tokio::spawn(serve(
            listener,
            session.clone(),
            1024,
            crate::ConnectionBudget::default().for_environment(),
        ));
        let client = reqwest::Client::new();

        let (ptx, _prx) = oneshot::channel();
        let (rtx, rrx) = oneshot::channel();
        session
            .assign(Invocation {
                request_id: "req-1".into(),
                payload: Bytes::from_static(b"{\"a\":1}"),
                timeout: Duration::from_secs(3),
                invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                trace_id: "Root=1-0-0".into(),
                client_context: Some("{\"custom\":{}}".into()),
                picked_up: ptx,
                reply: rtx,
                on_pickup: None,
            })
            .unwrap();
        let next = client
            .get(format!("{base}/runtime/invocation/next"))
            .send()
            .await
            .unwrap();
        assert_eq!(next.status(), 200);
        let h = next.headers();
        assert_eq!(h["lambda-runtime-aws-request-id"], "req-1");
        assert_eq!(h["lambda-runtime-client-context"], "{\"custom\":{}}");
        let deadline: u64 = h["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(deadline > 1_700_000_000_000, "epoch milliseconds");
        assert_eq!(next.text().await.unwrap(), "{\"a\":1}");

        let wrong = client
            .post(format!("{base}/runtime/invocation/other/response"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 400);
        let too_big = client
            .post(format!("{base}/runtime/invocation/req-1/response"))
            .body(vec![b'x'; 2048])
            .send()
            .await
            .unwrap();
        assert_eq!(too_big.status(), 413);
        assert!(matches!(rrx.await.unwrap(), Reply::ResponseTooLarge));
        let late = client
            .post(format!("{base}/runtime/init/error"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(late.status(), 403);
        let unknown = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
    }
}
