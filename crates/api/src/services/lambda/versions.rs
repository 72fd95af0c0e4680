//! PublishVersion, ListVersionsByFunction, and the alias operations.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lamina_platform::Platform;

use super::{Name, Params, Two, json, no_content, page_of, read_json};
use crate::error::ApiError;

pub(super) async fn publish_version(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::function::PublishVersionRequest =
        read_json(body, 64 * 1024, "PublishVersion").await?;
    Ok(json(
        StatusCode::CREATED,
        p.versions().publish_version(&name, req).await?,
    ))
}

pub(super) async fn list_versions(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.versions().list_versions(&name, &page_of(&q, 10_000)?)?,
    ))
}

pub(super) async fn create_alias(
    State(p): State<Platform>,
    Name(name): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::alias::CreateAliasRequest =
        read_json(body, 64 * 1024, "CreateAlias").await?;
    Ok(json(
        StatusCode::CREATED,
        p.aliases().create_alias(&name, req).await?,
    ))
}

pub(super) async fn list_aliases(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    Ok(json(
        StatusCode::OK,
        p.aliases()
            .list_aliases(&name, get("FunctionVersion"), &page_of(&q, 10_000)?)?,
    ))
}

pub(super) async fn get_alias(
    State(p): State<Platform>,
    Two(name, alias): Two,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, p.aliases().get_alias(&name, &alias)?))
}

pub(super) async fn update_alias(
    State(p): State<Platform>,
    Two(name, alias): Two,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::alias::UpdateAliasRequest =
        read_json(body, 64 * 1024, "UpdateAlias").await?;
    Ok(json(
        StatusCode::OK,
        p.aliases().update_alias(&name, &alias, req).await?,
    ))
}

pub(super) async fn delete_alias(
    State(p): State<Platform>,
    Two(name, alias): Two,
) -> Result<Response, ApiError> {
    p.aliases().delete_alias(&name, &alias).await?;
    Ok(no_content())
}
