//! The answers every route of an environment's APIs shares: Lambda's JSON error shape, a
//! JSON body, a request header as text.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

pub(crate) fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn not_found() -> Response<Full<Bytes>> {
    error_response(StatusCode::NOT_FOUND, "NotFound", "Not Found")
}

pub(crate) fn error_response(
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    json(status, Bytes::from(body.to_string()))
}

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}
