//! What the query-protocol services (SQS's and CloudWatch's older SDKs) share: their
//! answers are XML, and text inside them is escaped.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An XML answer.
pub(crate) fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    resp
}

/// Text made safe inside an XML element.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}
