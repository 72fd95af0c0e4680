//! Lamina's own service, beside the AWS ones, under `/_lamina/`: health, the status `lamina
//! ps` shows, the schedules and rules `lamina schedules` and `lamina rules` show, failed
//! asynchronous events and their replay, the records of applications deployed from
//! templates, and the code download that GetFunction's `Code.Location` points at.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lamina_model::LambdaError;
use lamina_model::application::{self, Record};
use lamina_model::event_invoke::{FailedEventsResponse, ReplayedEvent};
use lamina_platform::Platform;
use lamina_platform::applications::Applications;

use super::lambda::json;
use crate::error::ApiError;

type Params = Query<HashMap<String, String>>;

/// Where Prometheus scrapes.
pub const METRICS: &str = "/metrics";

/// The `/_lamina/` routes, and `/metrics`.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route(METRICS, get(metrics))
        .route("/_lamina/code/{file}", get(download_code))
        .route("/_lamina/health", get(health))
        .route("/_lamina/status", get(status))
        .route("/_lamina/triggers", get(triggers))
        .route("/_lamina/events/failed", get(failed_events))
        .route(
            "/_lamina/events/failed/{id}/replay",
            post(replay_failed_event),
        )
        .route("/_lamina/applications", get(list_applications))
        .route(
            "/_lamina/applications/{name}",
            get(get_application)
                .put(put_application)
                .delete(delete_application),
        )
}

/// The Prometheus export.
async fn metrics(State(p): State<Platform>) -> Response {
    let text = lamina_platform::metrics::export::render(&p).await;
    (
        [(
            "content-type",
            lamina_platform::metrics::export::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

async fn list_applications(State(p): State<Platform>) -> Result<Response, ApiError> {
    let applications = Applications::of(&p).list().await?;
    Ok(json(
        StatusCode::OK,
        application::Applications { applications },
    ))
}

async fn get_application(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, Applications::of(&p).get(&name).await?))
}

async fn put_application(
    State(p): State<Platform>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let record: Record = serde_json::from_slice(&body).map_err(|e| {
        ApiError(LambdaError::InvalidParameterValue(format!(
            "The application record is not valid: {e}"
        )))
    })?;
    Ok(json(
        StatusCode::OK,
        Applications::of(&p).put(&name, record).await?,
    ))
}

async fn delete_application(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Applications::of(&p).delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn health(State(p): State<Platform>) -> Response {
    let health = p.health();
    json(
        StatusCode::OK,
        serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "functions": health.functions,
            "environments": health.environments,
            "isolation": health.isolation,
            "region": p.identity().region,
            "account": p.identity().account,
            "runtimes": health.runtimes,
        }),
    )
}

async fn status(State(p): State<Platform>) -> Response {
    let mut status = p.status();
    p.cluster().status(&mut status).await;
    json(StatusCode::OK, status)
}

/// Schedules and rules with their next and last fires, queues and mappings (`lamina
/// schedules`, `lamina rules`, `lamina queues`, `lamina mappings`).
async fn triggers(State(p): State<Platform>) -> Result<Response, ApiError> {
    let mut triggers = p
        .scheduler()
        .triggers()
        .await
        .map_err(|e| ApiError(LambdaError::Service(e)))?;
    triggers.queues = p
        .sqs()
        .status()
        .await
        .map_err(|e| ApiError(LambdaError::Service(e.to_string())))?;
    triggers.mappings = p.event_source_mappings().status().await?;
    Ok(json(
        StatusCode::OK,
        serde_json::to_value(triggers).unwrap_or_default(),
    ))
}

async fn failed_events(State(p): State<Platform>, Query(q): Params) -> Result<Response, ApiError> {
    let events = p
        .async_invoke()
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
    let new_id = p.async_invoke().replay_failed_event(id).await?;
    Ok(json(StatusCode::OK, ReplayedEvent { id: new_id }))
}

async fn download_code(
    State(p): State<Platform>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError(LambdaError::ResourceNotFound("No such package.".into()));
    let id = file.strip_suffix(".zip").ok_or_else(not_found)?;
    let path = p.functions().code_zip(id).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    Ok(([("content-type", "application/zip")], bytes).into_response())
}
