//! Event source mappings: Create (202), Get, Update (202), Delete (202) and
//! ListEventSourceMappings, on `/2015-03-31/event-source-mappings`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lamina_model::mapping::MappingRequest;
use lamina_platform::Platform;

use super::{Name, Params, json, read_json};
use crate::error::ApiError;

async fn body(body: Body, operation: &str) -> Result<MappingRequest, ApiError> {
    read_json(body, 256 * 1024, operation).await
}

pub(super) async fn create_mapping(
    State(p): State<Platform>,
    b: Body,
) -> Result<Response, ApiError> {
    let req = body(b, "CreateEventSourceMapping").await?;
    let made = p
        .event_source_mappings()
        .create_event_source_mapping(req)
        .await?;
    Ok(json(StatusCode::ACCEPTED, made))
}

pub(super) async fn get_mapping(
    State(p): State<Platform>,
    Name(uuid): Name,
) -> Result<Response, ApiError> {
    let got = p
        .event_source_mappings()
        .get_event_source_mapping(&uuid)
        .await?;
    Ok(json(StatusCode::OK, got))
}

pub(super) async fn update_mapping(
    State(p): State<Platform>,
    Name(uuid): Name,
    b: Body,
) -> Result<Response, ApiError> {
    let req = body(b, "UpdateEventSourceMapping").await?;
    let updated = p
        .event_source_mappings()
        .update_event_source_mapping(&uuid, req)
        .await?;
    Ok(json(StatusCode::ACCEPTED, updated))
}

pub(super) async fn delete_mapping(
    State(p): State<Platform>,
    Name(uuid): Name,
) -> Result<Response, ApiError> {
    let deleted = p
        .event_source_mappings()
        .delete_event_source_mapping(&uuid)
        .await?;
    Ok(json(StatusCode::ACCEPTED, deleted))
}

pub(super) async fn list_mappings(
    State(p): State<Platform>,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let max = match get("MaxItems") {
        Some(m) => Some(m.parse::<i64>().map_err(|_| {
            ApiError(lamina_model::LambdaError::InvalidParameterValue(
                "MaxItems must be a number.".into(),
            ))
        })?),
        None => None,
    };
    let (mappings, next) = p
        .event_source_mappings()
        .list_event_source_mappings(
            get("EventSourceArn"),
            get("FunctionName"),
            get("Marker"),
            max,
        )
        .await?;
    let mut answer = serde_json::json!({ "EventSourceMappings": mappings });
    if let Some(next) = next {
        answer["NextMarker"] = serde_json::json!(next);
    }
    Ok(json(StatusCode::OK, answer))
}
