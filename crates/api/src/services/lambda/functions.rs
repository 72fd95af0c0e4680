//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionConfiguration, UpdateFunctionCode, DeleteFunction, GetAccountSettings.

use lamina_model::function::{
    CreateFunctionRequest, FunctionCodeLocation, GetFunctionResponse, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lamina_platform::Platform;

use super::{
    CODE_REQUEST_MAX_BYTES, Name, Params, code_location, json, no_content, page_of, read_json,
};
use crate::error::ApiError;

pub(super) async fn create_function(
    State(p): State<Platform>,
    body: Body,
) -> Result<Response, ApiError> {
    let req: CreateFunctionRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "CreateFunction").await?;
    Ok(json(
        StatusCode::CREATED,
        p.functions().create_function(req).await?,
    ))
}

pub(super) async fn list_functions(
    State(p): State<Platform>,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let page = p.functions().list_functions(&page_of(&q, 10_000)?).await?;
    Ok(json(StatusCode::OK, page))
}

pub(super) async fn get_function(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let details = p
        .functions()
        .get_function(&name, q.get("Qualifier").map(String::as_str))?;
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

pub(super) async fn get_configuration(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.functions()
            .get_configuration(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

pub(super) async fn update_configuration(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionConfigurationRequest =
        read_json(body, 1024 * 1024, "UpdateFunctionConfiguration").await?;
    Ok(json(
        StatusCode::OK,
        p.functions().update_configuration(&name, req).await?,
    ))
}

pub(super) async fn update_code(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionCodeRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "UpdateFunctionCode").await?;
    Ok(json(
        StatusCode::OK,
        p.functions().update_code(&name, req).await?,
    ))
}

pub(super) async fn delete_function(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.functions()
        .delete_function(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}

pub(super) async fn account_settings(State(p): State<Platform>) -> Response {
    json(StatusCode::OK, p.functions().account_settings())
}
