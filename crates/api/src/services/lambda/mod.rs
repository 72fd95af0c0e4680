//! The AWS Lambda REST API (rest-json, the paths botocore uses), one module per group of
//! operations; this module holds the routes and what their handlers share (path
//! extractors, JSON bodies and answers).

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use lamina_model::LambdaError;
use lamina_model::paging::Page;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, read_body};
use lamina_platform::Platform;

mod access;
mod concurrency;
mod functions;
mod invoke;
mod layers;
mod mappings;
mod stream;
mod urls;
mod versions;

use access::*;
use concurrency::*;
use functions::*;
use invoke::*;
use layers::*;
use mappings::*;
use stream::*;
use urls::*;
use versions::*;

pub(super) type Params = Query<HashMap<String, String>>;

/// The `{name}` path segment, percent-decoded; a segment that does not decode to UTF-8 gets
/// Lambda's ValidationException rather than the framework's plain-text rejection.
pub(super) struct Name(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Name {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(name)) => Ok(Name(name)),
            Err(e) => Err(ApiError(LambdaError::invalid_member(
                None,
                "functionName",
                &format!("{e}"),
            ))),
        }
    }
}

/// `{name}` and a second segment (`{alias}`, `{sid}`), percent-decoded.
pub(super) struct Two(String, String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Two {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((a, b))) => Ok(Two(a, b)),
            Err(e) => Err(ApiError(LambdaError::invalid_member(
                None,
                "functionName",
                &format!("{e}"),
            ))),
        }
    }
}

/// Largest CreateFunction/UpdateFunctionCode body: a 50 MB zip in base64, plus the JSON
/// around it (Lambda's own figure).
pub(super) const CODE_REQUEST_MAX_BYTES: usize = 69_905_067;

/// The Lambda routes. Older botocore models put a trailing slash on the collection paths,
/// so both spellings are served.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(get_function).delete(delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route("/2015-03-31/functions/{name}/code", put(update_code))
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/aliases",
            get(list_aliases).post(create_alias),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(get_alias).put(update_alias).delete(delete_alias),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            get(list_versions).post(publish_version),
        )
        .route(
            "/2015-03-31/functions/{name}/policy",
            get(get_policy).post(add_permission),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{sid}",
            delete(remove_permission),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            get(list_tags).post(tag_resource).delete(untag_resource),
        )
        .route(
            "/2015-03-31/event-source-mappings",
            post(create_mapping).get(list_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(create_mapping).get(list_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/{name}",
            get(get_mapping).put(update_mapping).delete(delete_mapping),
        )
        .route("/2018-10-31/layers", get(list_layers))
        .route(
            "/2018-10-31/layers/{layer}/versions",
            get(list_layer_versions).post(publish_layer_version),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}",
            get(get_layer_version).delete(delete_layer_version),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(put_function_concurrency).delete(delete_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(get_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(get_provisioned_concurrency)
                .put(put_provisioned_concurrency)
                .delete(delete_provisioned_concurrency),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(get_event_invoke_config)
                .put(put_event_invoke_config)
                .post(update_event_invoke_config)
                .delete(delete_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(list_event_invoke_configs),
        )
        .route(
            "/2014-11-13/functions/{name}/invoke-async",
            post(invoke_async),
        )
        .route(
            "/2014-11-13/functions/{name}/invoke-async/",
            post(invoke_async),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            post(create_url_config)
                .get(get_url_config)
                .put(update_url_config)
                .delete(delete_url_config),
        )
        .route("/2021-10-31/functions/{name}/urls", get(list_url_configs))
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            post(invoke_with_response_stream),
        )
        .route("/2016-08-19/account-settings", get(account_settings))
        .route("/2016-08-19/account-settings/", get(account_settings))
}

/// In a cluster, a control-plane request naming a function first reads it back from the
/// shared store (invocations do so only when they miss), so that a change made through
/// another node is seen.
pub(crate) async fn catch_up(p: &Platform, path: &str) {
    let mut parts = path.split('/').skip(1);
    if let (Some(_version), Some("functions"), Some(name), rest) =
        (parts.next(), parts.next(), parts.next(), parts.next())
        && !matches!(rest, Some("invocations" | "response-streaming-invocations"))
    {
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        p.cluster().catch_up(&name).await;
    }
}

/// A JSON request body of at most `limit` bytes (an empty body is the type's default).
pub(super) async fn read_json<T: DeserializeOwned + Default>(
    body: Body,
    limit: usize,
    operation: &str,
) -> Result<T, ApiError> {
    parse_json(&read_body(body, limit, operation).await?)
}

/// A listing's answer: `items` under `key`, and `NextMarker` when there is a next page.
pub(super) fn listing(key: &str, items: impl serde::Serialize, next: Option<String>) -> Response {
    let mut body = serde_json::json!({ key: items });
    if let Some(next) = next {
        body["NextMarker"] = next.into();
    }
    json(StatusCode::OK, body)
}

pub(super) fn parse_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError(LambdaError::InvalidRequestContent(format!(
            "Could not parse request body into json: {e}"
        )))
    })
}

pub(crate) fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    let mut resp = (status, axum::Json(value)).into_response();
    if let Ok(v) = HeaderValue::from_str(&lamina_model::new_id()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// 204 with Lambda's request id header.
pub(super) fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&lamina_model::new_id()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A header holding one of an enum's values: bytes that are not ASCII are kept (replaced,
/// where not UTF-8), so that the value is refused rather than taken as missing.
pub(super) fn enum_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Where a stored package can be downloaded, as seen by the caller.
pub(super) fn code_location(headers: &HeaderMap, code_id: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9000");
    format!("http://{host}/_lamina/code/{code_id}.zip")
}

/// The page `?Marker=` and `?MaxItems=` ask for, for an operation whose `MaxItems` is between
/// 1 and `upper`.
pub(super) fn page_of(q: &HashMap<String, String>, upper: usize) -> Result<Page, ApiError> {
    Ok(Page::parse(
        q.get("Marker").map(String::as_str),
        q.get("MaxItems").map(String::as_str),
        upper,
    )?)
}
