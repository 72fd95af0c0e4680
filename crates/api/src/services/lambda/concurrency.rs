//! How a function scales and runs asynchronously: reserved concurrency
//! (Put/Get/DeleteFunctionConcurrency), provisioned concurrency
//! (Put/Get/DeleteProvisionedConcurrencyConfig) and asynchronous invocation's configuration
//! (Put/Update/Get/List/DeleteFunctionEventInvokeConfig).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lamina_platform::Platform;

use super::{Name, Params, json, listing, no_content, page_of, read_json};
use crate::error::ApiError;

pub(super) async fn put_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::function::FunctionConcurrency =
        read_json(body, 64 * 1024, "PutFunctionConcurrency").await?;
    Ok(json(
        StatusCode::OK,
        p.reservations()
            .put_function_concurrency(&name, req)
            .await?,
    ))
}

pub(super) async fn get_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.reservations().get_function_concurrency(&name)?,
    ))
}

pub(super) async fn delete_function_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
) -> Result<Response, ApiError> {
    p.reservations().delete_function_concurrency(&name).await?;
    Ok(no_content())
}

pub(super) async fn put_provisioned_concurrency(
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
        p.provisioned_configs()
            .put_provisioned_concurrency(&name, qualifier, req)
            .await?,
    ))
}

/// GetProvisionedConcurrencyConfig, or ListProvisionedConcurrencyConfigs with `?List=ALL`.
pub(super) async fn get_provisioned_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("List") == Some("ALL") {
        let (items, next) = p
            .provisioned_configs()
            .list_provisioned_concurrency(&name, &page_of(&q, 50)?)?;
        return Ok(listing("ProvisionedConcurrencyConfigs", items, next));
    }
    Ok(json(
        StatusCode::OK,
        p.provisioned_configs()
            .get_provisioned_concurrency(&name, get("Qualifier"))?,
    ))
}

pub(super) async fn delete_provisioned_concurrency(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.provisioned_configs()
        .delete_provisioned_concurrency(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}

pub(super) async fn event_invoke_config_body(
    body: Body,
    operation: &str,
) -> Result<lamina_model::event_invoke::EventInvokeConfigRequest, ApiError> {
    read_json(body, 64 * 1024, operation).await
}

pub(super) async fn put_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req = event_invoke_config_body(body, "PutFunctionEventInvokeConfig").await?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.event_invoke_configs()
            .put_event_invoke_config(&name, qualifier, req, false)
            .await?,
    ))
}

pub(super) async fn update_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req = event_invoke_config_body(body, "UpdateFunctionEventInvokeConfig").await?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.event_invoke_configs()
            .put_event_invoke_config(&name, qualifier, req, true)
            .await?,
    ))
}

pub(super) async fn get_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.event_invoke_configs()
            .get_event_invoke_config(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

pub(super) async fn list_event_invoke_configs(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let (items, next) = p
        .event_invoke_configs()
        .list_event_invoke_configs(&name, &page_of(&q, 50)?)?;
    Ok(listing("FunctionEventInvokeConfigs", items, next))
}

pub(super) async fn delete_event_invoke_config(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.event_invoke_configs()
        .delete_event_invoke_config(&name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(no_content())
}
