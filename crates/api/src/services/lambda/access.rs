//! Who may invoke a function and how it is labelled: AddPermission, RemovePermission,
//! GetPolicy, TagResource, UntagResource, ListTags.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lamina_model::LambdaError;
use lamina_model::policy::TagsBody;
use lamina_platform::Platform;

use super::{Name, Params, Two, json, no_content, read_json};
use crate::error::ApiError;

pub(super) async fn get_policy(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        p.policies()
            .get_policy(&name, q.get("Qualifier").map(String::as_str))?,
    ))
}

pub(super) async fn add_permission(
    State(p): State<Platform>,
    Name(name): Name,
    Query(q): Params,
    body: Body,
) -> Result<Response, ApiError> {
    let req: lamina_model::policy::AddPermissionRequest =
        read_json(body, 64 * 1024, "AddPermission").await?;
    Ok(json(
        StatusCode::CREATED,
        p.policies()
            .add_permission(&name, q.get("Qualifier").map(String::as_str), req)
            .await?,
    ))
}

pub(super) async fn remove_permission(
    State(p): State<Platform>,
    Two(name, sid): Two,
    Query(q): Params,
) -> Result<Response, ApiError> {
    p.policies()
        .remove_permission(
            &name,
            &sid,
            q.get("Qualifier").map(String::as_str),
            q.get("RevisionId").map(String::as_str),
        )
        .await?;
    Ok(no_content())
}

pub(super) async fn list_tags(
    State(p): State<Platform>,
    Name(arn): Name,
) -> Result<Response, ApiError> {
    let tags = p.tags().list_tags(&arn)?;
    Ok(json(StatusCode::OK, TagsBody { tags: Some(tags) }))
}

pub(super) async fn tag_resource(
    State(p): State<Platform>,
    Name(arn): Name,
    body: Body,
) -> Result<Response, ApiError> {
    let req: TagsBody = read_json(body, 1024 * 1024, "TagResource").await?;
    let tags = req
        .tags
        .ok_or_else(|| ApiError(LambdaError::null_member("tags")))?;
    p.tags().tag_resource(&arn, tags).await?;
    Ok(no_content())
}

pub(super) async fn untag_resource(
    State(p): State<Platform>,
    Name(arn): Name,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let keys: Vec<String> = q
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect();
    p.tags().untag_resource(&arn, &keys).await?;
    Ok(no_content())
}
