//! Function URLs' data plane: a request to `http://<url-id>.lambda-url.<region>.<domain>/…`
//! (told by its `Host`), or to `/lambda-url/<url-id>/…` on any host (for clients that cannot
//! set one), becomes an invocation of the URL's function or alias with API Gateway's payload
//! format 2.0, through the same path as Invoke (admission, throttles, logs, metrics), and
//! the function's answer becomes the HTTP response as Lambda makes it.
//!
//! The URL layer answers itself, without invoking the function: CORS preflights (from the
//! URL's Cors), unsigned requests to `AWS_IAM` URLs (403), unknown ids (403, as a URL that
//! does not exist), and requests too large (413).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use lamina_model::limits::SYNC_PAYLOAD_MAX_BYTES;
use lamina_model::url::{Caller, UrlRequest, request_event};

use crate::auth::Edge;
use crate::error::read_body;

mod answer;

/// The path prefix URLs are also served under: `/lambda-url/<url-id>/…`.
pub const PATH_PREFIX: &str = "/lambda-url/";

/// Where a request names a URL: its id, and the path the function sees.
fn addressed(headers: &HeaderMap, path: &str) -> Option<(String, String)> {
    let host = headers.get("host").and_then(|h| h.to_str().ok());
    if let Some(host) = host {
        let mut labels = host.split('.');
        if let (Some(id), Some(kind)) = (labels.next(), labels.next())
            && kind.eq_ignore_ascii_case("lambda-url")
            && !id.is_empty()
        {
            return Some((id.to_string(), path.to_string()));
        }
    }
    let rest = path.strip_prefix(PATH_PREFIX)?;
    let (id, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if id.is_empty() {
        return None;
    }
    let tail = if tail.is_empty() { "/" } else { tail };
    Some((id.to_string(), tail.to_string()))
}

/// On the API's listener: a request addressed to a URL is served here (`Ok`, its answer);
/// every other is given back to go on to the API.
pub(crate) async fn answer_if_addressed(edge: &Edge, req: Request) -> Result<Response, Request> {
    match addressed(req.headers(), req.uri().path()) {
        Some((id, path)) => Ok(serve(edge, &id, path, req).await),
        None => Err(req),
    }
}

/// The handler of a listener that serves URLs only (`--url-listen`).
pub async fn only(State(edge): State<Edge>, req: Request) -> Response {
    match addressed(req.headers(), req.uri().path()) {
        Some((id, path)) => serve(&edge, &id, path, req).await,
        None => forbidden(),
    }
}

/// An answer of the URL layer itself: `{"Message": ...}`, as Lambda's URL front end gives.
pub(super) fn message(
    status: StatusCode,
    message: &str,
    error_type: Option<&'static str>,
) -> Response {
    let body = serde_json::json!({ "Message": message }).to_string();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(t) = error_type {
        h.insert("x-amzn-errortype", HeaderValue::from_static(t));
    }
    resp
}

pub(super) fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Forbidden",
        Some("AccessDeniedException"),
    )
}

async fn serve(edge: &Edge, id: &str, raw_path: String, req: Request) -> Response {
    let Some(target) = edge.platform.function_urls().resolve(id) else {
        return forbidden();
    };
    let (parts, body) = req.into_parts();
    let origin = parts
        .headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(cors) = &target.config.cors
        && parts.method == axum::http::Method::OPTIONS
        && parts.headers.contains_key("access-control-request-method")
        && let Some(origin) = &origin
    {
        let mut resp = Response::new(Body::empty());
        for (k, v) in cors.preflight_headers(origin) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }
    // Read one byte past the limit, so that a body exactly at it is told from one over.
    let Ok(body) = read_body(body, SYNC_PAYLOAD_MAX_BYTES + 1, "InvokeFunctionUrl").await else {
        return too_large();
    };
    let query = parts.uri.query().unwrap_or_default();
    let caller = if target.config.is_iam() {
        match edge.gate.check_url(
            parts.method.as_str(),
            parts.uri.path(),
            query,
            &parts.headers,
            &body,
        ) {
            Ok(caller) => Some(caller),
            Err(_) => return forbidden(),
        }
    } else {
        None
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .chain(forwarded(&parts.extensions))
        .collect();
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let request_id = lamina_model::new_id();
    let identity = edge.platform.identity();
    let domain = format!(
        "{id}.lambda-url.{}.{}",
        identity.region,
        edge.platform.function_urls().domain()
    );
    let event = request_event(&UrlRequest {
        method: parts.method.as_str(),
        raw_path: &raw_path,
        raw_query: query,
        headers: &headers,
        body: &body,
        source_ip: &source_ip,
        url_id: id,
        domain: &domain,
        request_id: &request_id,
        time_epoch_ms: chrono::Utc::now().timestamp_millis(),
        caller: caller.as_ref().map(|c| Caller {
            access_key: &c.access_key,
            account_id: &identity.account,
        }),
    });
    let payload = event.to_string();
    if payload.len() > SYNC_PAYLOAD_MAX_BYTES {
        return too_large();
    }
    let trace = parts
        .headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut resp = answer::invoke(edge, &target, payload, request_id, trace).await;
    if let Some(cors) = &target.config.cors
        && let Some(origin) = &origin
    {
        // The URL's CORS headers win over the function's own of the same names.
        for (k, v) in cors.response_headers(origin) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
    }
    resp
}

/// The headers Lambda's front end adds for the function: how the request came in.
fn forwarded(ext: &axum::http::Extensions) -> Vec<(String, String)> {
    let mut out = vec![("x-forwarded-proto".to_string(), "http".to_string())];
    if let Some(ConnectInfo(peer)) = ext.get::<ConnectInfo<SocketAddr>>() {
        out.push(("x-forwarded-for".into(), peer.ip().to_string()));
    }
    out
}

fn too_large() -> Response {
    message(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request Entity Too Large",
        Some("RequestTooLargeException"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_addressed_by_host_or_by_path() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            "abc123.lambda-url.us-east-1.localhost:9000"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            addressed(&h, "/orders/1"),
            Some(("abc123".into(), "/orders/1".into()))
        );
        h.insert("host", "127.0.0.1:9000".parse().unwrap());
        assert_eq!(addressed(&h, "/2015-03-31/functions"), None);
        assert_eq!(
            addressed(&h, "/lambda-url/abc123/orders/1"),
            Some(("abc123".into(), "/orders/1".into()))
        );
        assert_eq!(
            addressed(&h, "/lambda-url/abc123"),
            Some(("abc123".into(), "/".into()))
        );
        assert_eq!(addressed(&h, "/lambda-url/"), None);
    }
}
