//! PublishLayerVersion, GetLayerVersion, DeleteLayerVersion, ListLayerVersions,
//! ListLayers.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lamina_platform::Platform;

use super::{
    CODE_REQUEST_MAX_BYTES, Name, Params, Two, code_location, json, listing, no_content, page_of,
    read_json,
};
use crate::error::ApiError;

pub(super) async fn publish_layer_version(
    State(p): State<Platform>,
    Name(layer): Name,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::layer::PublishLayerVersionRequest =
        read_json(body, CODE_REQUEST_MAX_BYTES, "PublishLayerVersion").await?;
    let layer = p.layers().publish_layer_version(&layer, req).await?;
    let location = code_location(&headers, &layer.code.id);
    Ok(json(
        StatusCode::CREATED,
        layer.to_wire(p.identity(), location),
    ))
}

pub(super) async fn get_layer_version(
    State(p): State<Platform>,
    Two(layer, version): Two,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = p.layers().get_layer_version(&layer, &version).await?;
    let location = code_location(&headers, &layer.code.id);
    Ok(json(StatusCode::OK, layer.to_wire(p.identity(), location)))
}

pub(super) async fn delete_layer_version(
    State(p): State<Platform>,
    Two(layer, version): Two,
) -> Result<Response, ApiError> {
    p.layers().delete_layer_version(&layer, &version).await?;
    Ok(no_content())
}

pub(super) async fn list_layer_versions(
    State(p): State<Platform>,
    Name(layer): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (versions, next) = p
        .layers()
        .list_layer_versions(
            &layer,
            get("CompatibleRuntime"),
            get("CompatibleArchitecture"),
            &page_of(&q, 50)?,
        )
        .await?;
    let items: Vec<_> = versions.iter().map(|l| l.to_item(p.identity())).collect();
    Ok(listing("LayerVersions", items, next))
}

/// ListLayers, or GetLayerVersionByArn when `find=LayerVersion` (same path).
pub(super) async fn list_layers(
    State(p): State<Platform>,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("find") == Some("LayerVersion") {
        let layer = p
            .layers()
            .get_layer_version_by_arn(get("Arn").unwrap_or_default())
            .await?;
        let location = code_location(&headers, &layer.code.id);
        return Ok(json(StatusCode::OK, layer.to_wire(p.identity(), location)));
    }
    let (layers, next) = p
        .layers()
        .list_layers(
            get("CompatibleRuntime"),
            get("CompatibleArchitecture"),
            &page_of(&q, 50)?,
        )
        .await?;
    Ok(listing("Layers", layers, next))
}
