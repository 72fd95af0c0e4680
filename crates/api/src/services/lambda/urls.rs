//! Function URLs' configuration: Create, Get, Update, Delete and ListFunctionUrlConfigs
//! (the `2021-10-31` paths). The URLs themselves are served by [`crate::services::url`].

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lamina_model::url::FunctionUrlConfigRequest;
use lamina_platform::Platform;

use super::{Name, Params, json, listing, no_content, page_of, read_json};
use crate::error::ApiError;

fn qualifier(q: &std::collections::HashMap<String, String>) -> Option<&str> {
    q.get("Qualifier").map(String::as_str)
}

async fn body(body: Body, operation: &str) -> Result<FunctionUrlConfigRequest, ApiError> {
    read_json(body, 64 * 1024, operation).await
}

pub(super) async fn create_url_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    b: Body,
) -> Result<Response, ApiError> {
    let req = body(b, "CreateFunctionUrlConfig").await?;
    let made = p.function_urls().create(&name, qualifier(&q), req).await?;
    Ok(json(StatusCode::CREATED, made))
}

pub(super) async fn get_url_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.function_urls().get(&name, qualifier(&q))?,
    ))
}

pub(super) async fn update_url_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    b: Body,
) -> Result<Response, ApiError> {
    let req = body(b, "UpdateFunctionUrlConfig").await?;
    let updated = p.function_urls().update(&name, qualifier(&q), req).await?;
    Ok(json(StatusCode::OK, updated))
}

pub(super) async fn delete_url_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.function_urls().delete(&name, qualifier(&q)).await?;
    Ok(no_content())
}

pub(super) async fn list_url_configs(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let (items, next) = p.function_urls().list(&name, &page_of(&q, 50)?)?;
    Ok(listing("FunctionUrlConfigs", items, next))
}
