//! EventBridge (awsJson1.1: `POST /` with `X-Amz-Target: AWSEvents.<Operation>`): buses,
//! rules, targets, PutEvents, TestEventPattern and tags. Errors are the service's own:
//! `{"__type": ..., "message": ...}`, HTTP 400 (500 for an internal failure).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_model::events::{EventsError, PutRuleRequest, Tag};
use lamina_platform::Platform;
use serde::Deserialize;
use serde_json::{Value, json};

/// The `X-Amz-Target` prefix of EventBridge's operations.
pub(super) const TARGET_PREFIX: &str = "AWSEvents.";

/// Largest request body: PutEvents' 256 KB, with room for its JSON framing.
const BODY_MAX_BYTES: usize = 1 << 20;

struct Wire(EventsError);

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"__type": self.0.error_type(), "message": self.0.to_string()});
        json_response(status, body)
    }
}

impl From<EventsError> for Wire {
    fn from(e: EventsError) -> Wire {
        Wire(e)
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn invalid(why: impl Into<String>) -> Wire {
    Wire(EventsError::Validation(why.into()))
}

/// The request's members, as the operation's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Members {
    name: Option<String>,
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    description: Option<String>,
    rule: Option<String>,
    targets: Option<Vec<Value>>,
    ids: Option<Vec<String>>,
    target_arn: Option<String>,
    entries: Option<Vec<Value>>,
    event_pattern: Option<String>,
    event: Option<String>,
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn required<'a>(v: &'a Option<String>, member: &str) -> Result<&'a str, Wire> {
    v.as_deref()
        .ok_or_else(|| invalid(format!("1 validation error detected: {member} is required")))
}

fn with_token(mut answer: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        answer["NextToken"] = json!(next);
    }
    answer
}

/// One EventBridge request (its `X-Amz-Target` starts with [`TARGET_PREFIX`]).
pub(super) async fn serve(p: Platform, headers: HeaderMap, body: Body) -> Response {
    match handle(&p, &headers, body).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

async fn handle(p: &Platform, headers: &HeaderMap, body: Body) -> Result<Value, Wire> {
    let (op, raw) = super::json_request(headers, body, TARGET_PREFIX, BODY_MAX_BYTES)
        .await
        .map_err(invalid)?;
    let m: Members = serde_json::from_value(raw.clone())
        .map_err(|e| invalid(format!("The request is not valid: {e}")))?;
    let ev = p.events();
    let bus = m.event_bus_name.as_deref();
    Ok(match op.as_str() {
        "PutRule" => {
            let req: PutRuleRequest = serde_json::from_value(raw)
                .map_err(|e| invalid(format!("The request is not valid: {e}")))?;
            json!({"RuleArn": ev.put_rule(req).await?})
        }
        "DescribeRule" => {
            let rule = ev.describe_rule(required(&m.name, "Name")?, bus).await?;
            let mut v = rule.describe();
            v["CreatedBy"] = json!(p.identity().account);
            v
        }
        "ListRules" => {
            let (rules, next) = ev
                .list_rules(
                    m.name_prefix.as_deref(),
                    bus,
                    m.limit,
                    m.next_token.as_deref(),
                )
                .await?;
            let rules: Vec<Value> = rules.iter().map(|r| r.describe()).collect();
            with_token(json!({"Rules": rules}), next)
        }
        "DeleteRule" => {
            ev.delete_rule(required(&m.name, "Name")?, bus).await?;
            json!({})
        }
        "EnableRule" | "DisableRule" => {
            ev.set_rule_state(required(&m.name, "Name")?, bus, op == "EnableRule")
                .await?;
            json!({})
        }
        "ListRuleNamesByTarget" => {
            let (names, next) = ev
                .list_rule_names_by_target(
                    required(&m.target_arn, "TargetArn")?,
                    bus,
                    m.limit,
                    m.next_token.as_deref(),
                )
                .await?;
            with_token(json!({"RuleNames": names}), next)
        }
        "PutTargets" => {
            let targets = m.targets.unwrap_or_default();
            let failed = ev
                .put_targets(required(&m.rule, "Rule")?, bus, &targets)
                .await?;
            json!({"FailedEntryCount": failed.len(), "FailedEntries": failed})
        }
        "RemoveTargets" => {
            let ids = m.ids.unwrap_or_default();
            if ids.is_empty() {
                return Err(invalid("1 validation error detected: Ids is required"));
            }
            ev.remove_targets(required(&m.rule, "Rule")?, bus, &ids)
                .await?;
            json!({"FailedEntryCount": 0, "FailedEntries": []})
        }
        "ListTargetsByRule" => {
            let (targets, next) = ev
                .list_targets_by_rule(
                    required(&m.rule, "Rule")?,
                    bus,
                    m.limit,
                    m.next_token.as_deref(),
                )
                .await?;
            with_token(json!({"Targets": targets}), next)
        }
        "PutEvents" => {
            let (entries, failed) = ev.put_events(&m.entries.unwrap_or_default()).await?;
            json!({"FailedEntryCount": failed, "Entries": entries})
        }
        "TestEventPattern" => {
            let result = ev.test_event_pattern(
                required(&m.event_pattern, "EventPattern")?,
                required(&m.event, "Event")?,
            )?;
            json!({"Result": result})
        }
        "CreateEventBus" => {
            let arn = ev
                .create_event_bus(
                    required(&m.name, "Name")?,
                    m.description.clone(),
                    m.tags.unwrap_or_default(),
                )
                .await?;
            let mut v = json!({"EventBusArn": arn});
            if let Some(d) = m.description {
                v["Description"] = json!(d);
            }
            v
        }
        "DescribeEventBus" => {
            let b = ev.describe_event_bus(m.name.as_deref()).await?;
            bus_json(&b)
        }
        "ListEventBuses" => {
            let (buses, next) = ev
                .list_event_buses(m.name_prefix.as_deref(), m.limit, m.next_token.as_deref())
                .await?;
            let buses: Vec<Value> = buses.iter().map(bus_json).collect();
            with_token(json!({"EventBuses": buses}), next)
        }
        "DeleteEventBus" => {
            ev.delete_event_bus(required(&m.name, "Name")?).await?;
            json!({})
        }
        "ListTagsForResource" => {
            json!({"Tags": ev.list_tags(required(&m.resource_arn, "ResourceARN")?).await?})
        }
        "TagResource" => {
            ev.retag(
                required(&m.resource_arn, "ResourceARN")?,
                m.tags.unwrap_or_default(),
                &[],
            )
            .await?;
            json!({})
        }
        "UntagResource" => {
            ev.retag(
                required(&m.resource_arn, "ResourceARN")?,
                Vec::new(),
                &m.tag_keys.unwrap_or_default(),
            )
            .await?;
            json!({})
        }
        other => {
            return Err(Wire(EventsError::Validation(format!(
                "Operation {other} is not supported by this server's EventBridge"
            ))));
        }
    })
}

fn bus_json(b: &lamina_model::events::BusRecord) -> Value {
    let mut v = json!({
        "Name": b.name,
        "Arn": b.arn,
        "CreationTime": b.creation_time,
        "LastModifiedTime": b.last_modified_time,
    });
    if let Some(d) = &b.description {
        v["Description"] = json!(d);
    }
    v
}
