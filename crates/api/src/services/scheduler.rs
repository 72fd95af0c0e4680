//! EventBridge Scheduler's REST API (rest-json, service `scheduler`): `/schedules`,
//! `/schedule-groups` and `/tags/{ResourceArn}`. Errors are the service's own: the
//! exception's name in `x-amzn-ErrorType` and `{"Message": ...}`, with its status.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lamina_model::scheduler::{ScheduleRequest, SchedulerError, Tag};
use lamina_platform::Platform;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Largest request body (a schedule with its Input is a few kilobytes).
const BODY_MAX_BYTES: usize = 1 << 20;

/// A Scheduler error on the wire.
struct Wire(SchedulerError);

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(json!({"Message": self.0.to_string()}))).into_response();
        resp.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.0.error_type()),
        );
        resp
    }
}

impl From<SchedulerError> for Wire {
    fn from(e: SchedulerError) -> Wire {
        Wire(e)
    }
}

type Answer = Result<axum::Json<Value>, Wire>;

fn invalid(why: impl Into<String>) -> Wire {
    Wire(SchedulerError::Validation(why.into()))
}

async fn body<T: DeserializeOwned + Default>(body: Body) -> Result<T, Wire> {
    let bytes = crate::error::read_body(body, BODY_MAX_BYTES, "Scheduler")
        .await
        .map_err(|e| invalid(e.0.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("The request body is not valid: {e}")))
}

fn max_results(q: &HashMap<String, String>) -> Result<Option<i64>, Wire> {
    q.get("MaxResults")
        .map(|m| {
            m.parse::<i64>()
                .map_err(|_| invalid(format!("MaxResults {m:?} is not a number")))
        })
        .transpose()
}

/// The Scheduler's routes.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/schedules", get(list_schedules))
        .route(
            "/schedules/{name}",
            post(create_schedule)
                .get(get_schedule)
                .put(update_schedule)
                .delete(delete_schedule),
        )
        .route("/schedule-groups", get(list_groups))
        .route(
            "/schedule-groups/{name}",
            post(create_group).get(get_group).delete(delete_group),
        )
        .route(
            "/tags/{arn}",
            get(list_tags).post(tag_resource).delete(untag_resource),
        )
}

async fn create_schedule(State(p): State<Platform>, Path(name): Path<String>, req: Body) -> Answer {
    let req: ScheduleRequest = body(req).await?;
    let arn = p.scheduler().create_schedule(&name, req).await?;
    Ok(axum::Json(json!({"ScheduleArn": arn})))
}

async fn update_schedule(State(p): State<Platform>, Path(name): Path<String>, req: Body) -> Answer {
    let req: ScheduleRequest = body(req).await?;
    let arn = p.scheduler().update_schedule(&name, req).await?;
    Ok(axum::Json(json!({"ScheduleArn": arn})))
}

async fn get_schedule(
    State(p): State<Platform>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let record = p
        .scheduler()
        .get_schedule(&name, q.get("groupName").map(String::as_str))
        .await?;
    Ok(axum::Json(serde_json::to_value(record).unwrap_or_default()))
}

async fn delete_schedule(
    State(p): State<Platform>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    p.scheduler()
        .delete_schedule(&name, q.get("groupName").map(String::as_str))
        .await?;
    Ok(axum::Json(json!({})))
}

async fn list_schedules(
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (schedules, next) = p
        .scheduler()
        .list_schedules(
            get("ScheduleGroup"),
            get("NamePrefix"),
            get("State"),
            max_results(&q)?,
            get("NextToken"),
        )
        .await?;
    let mut answer = json!({
        "Schedules": schedules.iter().map(|s| s.summary()).collect::<Vec<_>>(),
    });
    if let Some(next) = next {
        answer["NextToken"] = json!(next);
    }
    Ok(axum::Json(answer))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsBody {
    #[serde(default)]
    tags: Vec<Tag>,
}

async fn create_group(State(p): State<Platform>, Path(name): Path<String>, req: Body) -> Answer {
    let req: TagsBody = body(req).await?;
    let arn = p.scheduler().create_schedule_group(&name, req.tags).await?;
    Ok(axum::Json(json!({"ScheduleGroupArn": arn})))
}

async fn get_group(State(p): State<Platform>, Path(name): Path<String>) -> Answer {
    let group = p.scheduler().get_schedule_group(&name).await?;
    Ok(axum::Json(serde_json::to_value(group).unwrap_or_default()))
}

async fn delete_group(State(p): State<Platform>, Path(name): Path<String>) -> Answer {
    p.scheduler().delete_schedule_group(&name).await?;
    Ok(axum::Json(json!({})))
}

async fn list_groups(
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let (groups, next) = p
        .scheduler()
        .list_schedule_groups(
            q.get("NamePrefix").map(String::as_str),
            max_results(&q)?,
            q.get("NextToken").map(String::as_str),
        )
        .await?;
    let mut answer = json!({ "ScheduleGroups": groups });
    if let Some(next) = next {
        answer["NextToken"] = json!(next);
    }
    Ok(axum::Json(answer))
}

async fn list_tags(State(p): State<Platform>, Path(arn): Path<String>) -> Answer {
    let tags = p.scheduler().list_tags_for_resource(&arn).await?;
    Ok(axum::Json(json!({ "Tags": tags })))
}

async fn tag_resource(State(p): State<Platform>, Path(arn): Path<String>, req: Body) -> Answer {
    let req: TagsBody = body(req).await?;
    p.scheduler().tag_resource(&arn, req.tags).await?;
    Ok(axum::Json(json!({})))
}

async fn untag_resource(
    State(p): State<Platform>,
    Path(arn): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|e| invalid(format!("The query is not valid: {e}")))?;
    let keys: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "TagKeys")
        .map(|(_, v)| v)
        .collect();
    if keys.is_empty() {
        return Err(invalid("TagKeys is required"));
    }
    p.scheduler().untag_resource(&arn, &keys).await?;
    Ok(axum::Json(json!({})))
}
