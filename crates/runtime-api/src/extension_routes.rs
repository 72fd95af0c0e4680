//! HTTP routes of the Extensions API (`/2020-01-01/extension/...`) and the Telemetry API
//! (`/2022-07-01/telemetry`), served on the environment's Runtime API listener beside the
//! runtime's routes, as Lambda serves them at `AWS_LAMBDA_RUNTIME_API`.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::extensions::ExtRefusal;
use crate::replies::{error_response, header, json, not_found};
use crate::session::Session;

/// Largest body these routes read (registrations, subscriptions, error documents).
const MAX_BODY: usize = 64 * 1024;

pub(crate) async fn route(
    req: Request<Incoming>,
    session: &Session,
    path: &str,
) -> Response<Full<Bytes>> {
    let id = header(&req, "lambda-extension-identifier");
    match (req.method().clone(), path) {
        (Method::POST, "/2020-01-01/extension/register") => register(req, session).await,
        (Method::GET, "/2020-01-01/extension/event/next") => {
            let Some(id) = id else {
                return missing_id();
            };
            match session.extensions().next(&id).await {
                Ok(Some(event)) => {
                    let mut resp = json(StatusCode::OK, event);
                    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
                        resp.headers_mut()
                            .insert("lambda-extension-event-identifier", v);
                    }
                    resp
                }
                Ok(None) => error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Runtime.ExecutionEnvironmentClosed",
                    "The execution environment is shutting down",
                ),
                Err(r) => refused(r),
            }
        }
        (Method::POST, "/2020-01-01/extension/init/error" | "/2020-01-01/extension/exit/error") => {
            let Some(id) = id else {
                return missing_id();
            };
            let init = path.ends_with("/init/error");
            let error_type = header(&req, "lambda-extension-function-error-type")
                .unwrap_or_else(|| "Extension.Unknown".into());
            let name = match session.extensions().failed(&id, &error_type) {
                Ok(name) => name,
                Err(r) => return refused(r),
            };
            if init {
                let (kind, verb) = ("Extension.InitError", "failed to initialise");
                let doc = serde_json::json!({
                    "errorType": kind,
                    "errorMessage": format!("Extension {name} {verb}: {error_type}"),
                });
                // Refused only once the runtime's init is over; the failure is kept either
                // way and resets the environment.
                let _ = session.init_error(kind.into(), Bytes::from(doc.to_string()));
            }
            json(
                StatusCode::ACCEPTED,
                Bytes::from_static(br#"{"status":"OK"}"#),
            )
        }
        (Method::PUT, "/2022-07-01/telemetry") => {
            let Some(id) = id else {
                return missing_id();
            };
            let Some(name) = session.extensions().name_of(&id) else {
                return refused(ExtRefusal {
                    status: 403,
                    error_type: "Extension.UnknownExtensionIdentifier",
                    message: "Unknown extension identifier".into(),
                });
            };
            let body = match read(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            match session.telemetry().subscribe(&name, &body) {
                Ok(()) => {
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"OK")));
                    resp.headers_mut()
                        .insert("content-type", HeaderValue::from_static("text/plain"));
                    resp
                }
                Err(e) => error_response(StatusCode::BAD_REQUEST, "ValidationError", &e.0),
            }
        }
        _ => not_found(),
    }
}

async fn register(req: Request<Incoming>, session: &Session) -> Response<Full<Bytes>> {
    let name = header(&req, "lambda-extension-name");
    let with_account = header(&req, "lambda-extension-accept-feature")
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
    let body = match read(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let events: Vec<String> = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(doc) => doc
            .get("events")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequestFormat",
                "The registration body is not JSON",
            );
        }
    };
    match session
        .extensions()
        .register(name.as_deref(), &events, with_account)
    {
        Ok((id, body)) => {
            let mut resp = json(StatusCode::OK, body);
            if let Ok(v) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert("lambda-extension-identifier", v);
            }
            resp
        }
        Err(r) => refused(r),
    }
}

async fn read(req: Request<Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "payload too large",
        )),
    }
}

fn missing_id() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::FORBIDDEN,
        "Extension.MissingExtensionIdentifier",
        "Lambda-Extension-Identifier header is required",
    )
}

fn refused(r: ExtRefusal) -> Response<Full<Bytes>> {
    error_response(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN),
        r.error_type,
        &r.message,
    )
}
