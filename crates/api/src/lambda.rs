//! The AWS Lambda REST API routes.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use lamina_model::LambdaError;
use lamina_model::event_invoke::{FailedEventsResponse, ReplayedEvent};
use lamina_model::function::{
    CreateFunctionRequest, FunctionCodeLocation, GetFunctionResponse, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
};
use lamina_model::limits::SYNC_PAYLOAD_MAX_BYTES;
use lamina_platform::{InvocationType, InvokeInput, Platform};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, read_body};

type Params = Query<HashMap<String, String>>;

/// The `{name}` path segment, percent-decoded; a segment that does not decode to UTF-8 gets
/// Lambda's ValidationException rather than the framework's plain-text rejection.
struct Name(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Name {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(name)) => Ok(Name(name)),
            Err(e) => Err(ApiError(LambdaError::Validation(format!(
                "1 validation error detected: Value at 'functionName' failed to satisfy constraint: {e}"
            )))),
        }
    }
}

/// Largest CreateFunction/UpdateFunctionCode body: a 50 MB zip in base64, plus the JSON
/// around it (Lambda's own figure).
const CODE_REQUEST_MAX_BYTES: usize = 69_905_067;

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
        .route("/2016-08-19/account-settings", get(account_settings))
        .route("/2016-08-19/account-settings/", get(account_settings))
        .route("/_lamina/code/{file}", get(download_code))
        .route("/_lamina/health", get(health))
        .route("/_lamina/status", get(status))
        .route("/_lamina/events/failed", get(failed_events))
        .route(
            "/_lamina/events/failed/{id}/replay",
            post(replay_failed_event),
        )
}

/// A JSON request body of at most `limit` bytes (an empty body is the type's default).
async fn read_json<T: DeserializeOwned + Default>(
    body: Body,
    limit: usize,
    operation: &str,
) -> Result<T, ApiError> {
    parse_json(&read_body(body, limit, operation).await?)
}

/// A listing's answer: `items` under `key`, and `NextMarker` when there is a next page.
fn listing(key: &str, items: impl serde::Serialize, next: Option<String>) -> Response {
    let mut body = serde_json::json!({ key: items });
    if let Some(next) = next {
        body["NextMarker"] = next.into();
    }
    json(StatusCode::OK, body)
}

fn parse_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError(LambdaError::InvalidRequestContent(format!(
            "Could not parse request body into json: {e}"
        )))
    })
}

fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    let mut resp = (status, axum::Json(value)).into_response();
    if let Ok(v) = HeaderValue::from_str(&lamina_model::new_id()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

async fn create_function(State(p): State<Platform>, body: Body) -> Result<Response, ApiError> {
    let req: CreateFunctionRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "CreateFunction").await?;
    Ok(json(StatusCode::CREATED, p.create_function(req).await?))
}

async fn list_functions(State(p): State<Platform>, Query(q): Params) -> Result<Response, ApiError> {
    let page = p
        .list_functions(
            q.get("Marker").map(String::as_str),
            q.get("MaxItems").map(String::as_str),
        )
        .await?;
    Ok(json(StatusCode::OK, page))
}

async fn get_function(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let details = p.get_function(&name, q.get("Qualifier").map(String::as_str))?;
    let resp = GetFunctionResponse {
        configuration: details.configuration,
        code: FunctionCodeLocation {
            repository_type: "S3".into(),
            location: code_location(&headers, &details.code_id),
        },
        tags: (!details.tags.is_empty()).then_some(details.tags),
        concurrency: details.reserved_concurrency.map(|n| {
            lamina_model::function::ReservedConcurrency {
                reserved_concurrent_executions: n,
            }
        }),
    };
    Ok(json(StatusCode::OK, resp))
}

async fn get_configuration(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.get_configuration(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

async fn update_configuration(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionConfigurationRequest =
        read_json(body, 1024 * 1024, "UpdateFunctionConfiguration").await?;
    Ok(json(
        StatusCode::OK,
        p.update_configuration(&name, req).await?,
    ))
}

async fn update_code(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionCodeRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "UpdateFunctionCode").await?;
    Ok(json(StatusCode::OK, p.update_code(&name, req).await?))
}

async fn delete_function(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.delete_function(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}

/// `{name}` and a second segment (`{alias}`, `{sid}`), percent-decoded.
struct Two(String, String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Two {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((a, b))) => Ok(Two(a, b)),
            Err(e) => Err(ApiError(LambdaError::Validation(format!(
                "1 validation error detected: Value at 'functionName' failed to satisfy constraint: {e}"
            )))),
        }
    }
}

async fn create_alias(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::alias::CreateAliasRequest =
        read_json(body, 64 * 1024, "CreateAlias").await?;
    Ok(json(StatusCode::CREATED, p.create_alias(&name, req).await?))
}

async fn list_aliases(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.list_aliases(
            &name,
            get("FunctionVersion"),
            get("Marker"),
            get("MaxItems"),
        )?,
    ))
}

async fn get_alias(State(p): State<Platform>, Two(name, alias): Two) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, p.get_alias(&name, &alias)?))
}

async fn update_alias(
    State(p): State<Platform>,
    Two(name, alias): Two,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::alias::UpdateAliasRequest =
        read_json(body, 64 * 1024, "UpdateAlias").await?;
    Ok(json(
        StatusCode::OK,
        p.update_alias(&name, &alias, req).await?,
    ))
}

async fn delete_alias(
    State(p): State<Platform>,
    Two(name, alias): Two,
) -> Result<Response, ApiError> {
    p.delete_alias(&name, &alias).await?;
    Ok(no_content())
}

/// Where a stored package can be downloaded, as seen by the caller.
fn code_location(headers: &HeaderMap, code_id: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9000");
    format!("http://{host}/_lamina/code/{code_id}.zip")
}

async fn publish_layer_version(
    State(p): State<Platform>,
    Name(layer): Name,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::layer::PublishLayerVersionRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "PublishLayerVersion").await?;
    let layer = p.publish_layer_version(&layer, req).await?;
    let location = code_location(&headers, &layer.code.id);
    Ok(json(
        StatusCode::CREATED,
        layer.to_wire(p.identity(), location),
    ))
}

async fn get_layer_version(
    State(p): State<Platform>,
    Two(layer, version): Two,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = p.get_layer_version(&layer, &version).await?;
    let location = code_location(&headers, &layer.code.id);
    Ok(json(StatusCode::OK, layer.to_wire(p.identity(), location)))
}

async fn delete_layer_version(
    State(p): State<Platform>,
    Two(layer, version): Two,
) -> Result<Response, ApiError> {
    p.delete_layer_version(&layer, &version).await?;
    Ok(no_content())
}

async fn list_layer_versions(
    State(p): State<Platform>,
    Name(layer): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (versions, next) = p
        .list_layer_versions(
            &layer,
            get("CompatibleRuntime"),
            get("CompatibleArchitecture"),
            get("Marker"),
            get("MaxItems"),
        )
        .await?;
    let items: Vec<_> = versions.iter().map(|l| l.to_item(p.identity())).collect();
    Ok(listing("LayerVersions", items, next))
}

/// ListLayers, or GetLayerVersionByArn when `find=LayerVersion` (same path).
async fn list_layers(
    State(p): State<Platform>,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("find") == Some("LayerVersion") {
        let layer = p
            .get_layer_version_by_arn(get("Arn").unwrap_or_default())
            .await?;
        let location = code_location(&headers, &layer.code.id);
        return Ok(json(StatusCode::OK, layer.to_wire(p.identity(), location)));
    }
    let (layers, next) = p
        .list_layers(
            get("CompatibleRuntime"),
            get("CompatibleArchitecture"),
            get("Marker"),
            get("MaxItems"),
        )
        .await?;
    Ok(listing("Layers", layers, next))
}

async fn put_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_platform::concurrency::FunctionConcurrency =
        read_json(body, 64 * 1024, "PutFunctionConcurrency").await?;
    Ok(json(
        StatusCode::OK,
        p.put_function_concurrency(&name, req).await?,
    ))
}

async fn get_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, p.get_function_concurrency(&name)?))
}

async fn delete_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
) -> Result<Response, ApiError> {
    p.delete_function_concurrency(&name).await?;
    Ok(no_content())
}

async fn publish_version(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::function::PublishVersionRequest =
        read_json(body, 64 * 1024, "PublishVersion").await?;
    Ok(json(
        StatusCode::CREATED,
        p.publish_version(&name, req).await?,
    ))
}

async fn list_versions(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.list_versions(
            &name,
            q.get("Marker").map(String::as_str),
            q.get("MaxItems").map(String::as_str),
        )?,
    ))
}

async fn get_policy(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.get_policy(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

async fn add_permission(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::policy::AddPermissionRequest =
        read_json(body, 64 * 1024, "AddPermission").await?;
    Ok(json(
        StatusCode::CREATED,
        p.add_permission(&name, q.get("Qualifier").map(String::as_str), req)
            .await?,
    ))
}

async fn remove_permission(
    State(p): State<Platform>,
    Two(name, sid): Two,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.remove_permission(
        &name,
        &sid,
        q.get("Qualifier").map(String::as_str),
        q.get("RevisionId").map(String::as_str),
    )
    .await?;
    Ok(no_content())
}

/// TagResource's and ListTags' body.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct TagsBody {
    #[serde(rename = "Tags", default)]
    tags: Option<std::collections::BTreeMap<String, String>>,
}

async fn list_tags(State(p): State<Platform>, Name(arn): Name) -> Result<Response, ApiError> {
    let tags = p.list_tags(&arn)?;
    Ok(json(StatusCode::OK, TagsBody { tags: Some(tags) }))
}

async fn tag_resource(
    State(p): State<Platform>,
    Name(arn): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: TagsBody = read_json(body, 1024 * 1024, "TagResource").await?;
    let tags = req
        .tags
        .ok_or_else(|| ApiError(LambdaError::null_member("tags")))?;
    p.tag_resource(&arn, tags).await?;
    Ok(no_content())
}

async fn untag_resource(
    State(p): State<Platform>,
    Name(arn): Name,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let keys: Vec<String> = q
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect();
    p.untag_resource(&arn, &keys).await?;
    Ok(no_content())
}

/// 204 with Lambda's request id header.
fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&lamina_model::new_id()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

async fn account_settings(State(p): State<Platform>) -> Response {
    json(StatusCode::OK, p.account_settings())
}

async fn status(State(p): State<Platform>) -> Response {
    json(StatusCode::OK, p.status())
}

async fn failed_events(State(p): State<Platform>, Query(q): Params) -> Result<Response, ApiError> {
    let events = p
        .failed_events(q.get("FunctionName").map(String::as_str))
        .await?;
    Ok(json(
        StatusCode::OK,
        FailedEventsResponse {
            failed_events: events,
        },
    ))
}

async fn replay_failed_event(
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError(LambdaError::InvalidParameterValue(format!(
            "Invalid failed event id: {id}"
        )))
    })?;
    let new_id = p.replay_failed_event(id).await?;
    Ok(json(StatusCode::OK, ReplayedEvent { id: new_id }))
}

async fn invoke_async(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let max = lamina_model::limits::INVOKE_ASYNC_PAYLOAD_MAX_BYTES;
    let payload = read_body(body, max + 1, "InvokeAsync").await?;
    p.invoke_async(&name, payload).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        serde_json::json!({ "Status": 202 }),
    ))
}

async fn event_invoke_config_body(
    body: Body,
    operation: &str,
) -> Result<lamina_model::event_invoke::EventInvokeConfigRequest, ApiError> {
    read_json(body, 64 * 1024, operation).await
}

async fn put_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req = event_invoke_config_body(body, "PutFunctionEventInvokeConfig").await?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.put_event_invoke_config(&name, qualifier, req, false)
            .await?,
    ))
}

async fn update_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req = event_invoke_config_body(body, "UpdateFunctionEventInvokeConfig").await?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.put_event_invoke_config(&name, qualifier, req, true)
            .await?,
    ))
}

async fn get_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.get_event_invoke_config(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

async fn list_event_invoke_configs(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (items, next) = p.list_event_invoke_configs(&name, get("Marker"), get("MaxItems"))?;
    Ok(listing("FunctionEventInvokeConfigs", items, next))
}

async fn delete_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.delete_event_invoke_config(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}

async fn put_provisioned_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::provisioned::PutProvisionedConcurrencyRequest =
        read_json(body, 64 * 1024, "PutProvisionedConcurrencyConfig").await?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    Ok(json(
        StatusCode::ACCEPTED,
        p.put_provisioned_concurrency(&name, qualifier, req).await?,
    ))
}

/// GetProvisionedConcurrencyConfig, or ListProvisionedConcurrencyConfigs with `?List=ALL`.
async fn get_provisioned_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("List") == Some("ALL") {
        let (items, next) =
            p.list_provisioned_concurrency(&name, get("Marker"), get("MaxItems"))?;
        return Ok(listing("ProvisionedConcurrencyConfigs", items, next));
    }
    Ok(json(
        StatusCode::OK,
        p.get_provisioned_concurrency(&name, get("Qualifier"))?,
    ))
}

async fn delete_provisioned_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.delete_provisioned_concurrency(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}

async fn health(State(p): State<Platform>) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "functions": p.function_count(),
            "environments": p.live_environments(),
            "isolation": p.isolation(),
            "runtimes": p.available_runtimes(),
        }),
    )
}

async fn download_code(
    State(p): State<Platform>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError(LambdaError::ResourceNotFound("No such package.".into()));
    let id = file.strip_suffix(".zip").ok_or_else(not_found)?;
    let path = p.code_zip(id).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    Ok(([("content-type", "application/zip")], bytes).into_response())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A header holding one of an enum's values: bytes that are not ASCII are kept (replaced,
/// where not UTF-8), so that the value is refused rather than taken as missing.
fn enum_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn invoke(
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
        log_type: enum_header(&headers, "x-amz-log-type"),
        client_context: header(&headers, "x-amz-client-context"),
        payload,
    };
    let out = p.invoke(input).await?;
    let status = StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK);
    let mut resp = Response::new(Body::from(out.payload));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&out.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(fe) = out.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static(fe));
    }
    if let Some(v) = out
        .executed_version
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert("x-amz-executed-version", v);
    }
    if let Some(v) = out.log_result.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("x-amz-log-result", v);
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
