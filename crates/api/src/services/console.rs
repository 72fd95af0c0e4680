//! The web console at `/console/`: its built assets (`console/dist`, built from `console/src`
//! with the lockfile in `console/`), embedded so that the binary is the whole install. The
//! assets hold no data: the page reads everything through the same APIs as any client, signed
//! with the user's keys when the server checks signatures, so they are served without one.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use lamina_platform::Platform;

/// Where the console lives.
pub const PREFIX: &str = "/console";

const INDEX: &[u8] = include_bytes!("../../../../console/dist/index.html");
const SCRIPT: &[u8] = include_bytes!("../../../../console/dist/app.js");
const STYLE: &[u8] = include_bytes!("../../../../console/dist/app.css");

/// Whether `path` is one of the console's (served without a signature).
pub fn is_console(path: &str) -> bool {
    path == PREFIX || path.starts_with("/console/")
}

pub(crate) fn routes() -> Router<Platform> {
    Router::new()
        .route(PREFIX, get(|| async { Redirect::permanent("/console/") }))
        .route(
            "/console/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A new binary may bring new assets under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}
