//! A function's `Events`: each becomes a trigger (a rule, a schedule, an event source
//! mapping), a notification on one of the template's buckets, or the function's URL.
//!
//! `HttpApi` and `Api` events are served through **function URLs**: the URL's events are
//! API Gateway's payload format 2.0, which is exactly what an `HttpApi` event delivers, and
//! Lamina's front door already serves URLs with CORS, streaming and IAM auth, so no second
//! routing component is needed. The events' Path and Method are shown beside the URL; the
//! function sees every path under it. An `Api` (REST API) event gets the same 2.0 shape, not
//! REST API's 1.0, and the deploy says so.

use serde_json::{Map, Value, json};

use crate::app::{Function, Trigger, TriggerKind};
use crate::{TemplateError, fit, props, unsupported};

/// An SQS event's properties that are the mapping's own settings, by the same names.
const SQS_SETTINGS: &[&str] = &[
    "BatchSize",
    "Enabled",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "ScalingConfig",
];

/// What reading events needs from the rest of the template.
pub struct EventContext<'a> {
    pub app: &'a str,
    pub target_arn: String,
    /// The logical ids of the template's buckets.
    pub buckets: &'a [String],
}

/// A notification one of the function's S3 events asks of a bucket: (bucket logical id,
/// LambdaFunctionConfiguration).
pub type Notification = (String, Value);

/// Reads `events` (each `{Type, Properties}`, intrinsics evaluated; `raw` is the same
/// before evaluation, to tell which bucket an S3 event's `Ref` names) into `f`.
pub fn read(
    f: &mut Function,
    events: &Map<String, Value>,
    raw: &Map<String, Value>,
    cx: &EventContext<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<Notification>, TemplateError> {
    let mut notifications = Vec::new();
    for (event, def) in events {
        let at = format!("Resources.{}.Properties.Events.{event}", f.logical_id);
        let kind =
            def.get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| TemplateError::Invalid {
                    at: at.clone(),
                    message: "an event needs a Type".into(),
                })?;
        let empty = Map::new();
        let p = match def.get("Properties") {
            Some(Value::Object(m)) => m,
            None => &empty,
            Some(_) => {
                return Err(TemplateError::Invalid {
                    at,
                    message: "Properties must be a map".into(),
                });
            }
        };
        let at = format!("{at}.Properties");
        let name = |given: Option<&Value>| {
            given
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| fit(&format!("{}-{}-{event}", cx.app, f.logical_id), 64))
        };
        let mut trigger = |kind| {
            f.triggers.push(Trigger {
                event: event.clone(),
                kind,
            })
        };
        match kind {
            "Schedule" => {
                props::only(
                    p,
                    &[
                        "Schedule",
                        "Input",
                        "Enabled",
                        "State",
                        "Name",
                        "Description",
                    ],
                    &at,
                )?;
                let mut rule = Map::new();
                let rule_name = name(p.get("Name"));
                rule.insert("Name".into(), rule_name.clone().into());
                rule.insert("ScheduleExpression".into(), props::req(p, "Schedule", &at)?);
                rule.insert("State".into(), state(p).into());
                props::copy(p, &mut rule, &["Description"]);
                let target = target(cx, p, &["Input"]);
                trigger(TriggerKind::Rule {
                    name: rule_name,
                    bus: "default".into(),
                    rule,
                    target,
                });
            }
            "EventBridgeRule" | "CloudWatchEvent" => {
                props::only(
                    p,
                    &[
                        "Pattern",
                        "EventBusName",
                        "Input",
                        "InputPath",
                        "RuleName",
                        "State",
                        "Target",
                    ],
                    &at,
                )?;
                let pattern = props::req(p, "Pattern", &at)?;
                let bus = p
                    .get("EventBusName")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string();
                let rule_name = name(p.get("RuleName"));
                let mut rule = Map::new();
                rule.insert("Name".into(), rule_name.clone().into());
                rule.insert("EventPattern".into(), pattern.to_string().into());
                rule.insert("EventBusName".into(), bus.clone().into());
                rule.insert("State".into(), state(p).into());
                let mut target = target(cx, p, &["Input", "InputPath"]);
                if let Some(id) = p.get("Target").and_then(|t| t.get("Id")) {
                    target.insert("Id".into(), id.clone());
                }
                trigger(TriggerKind::Rule {
                    name: rule_name,
                    bus,
                    rule,
                    target,
                });
            }
            "ScheduleV2" => {
                props::only(
                    p,
                    &[
                        "ScheduleExpression",
                        "ScheduleExpressionTimezone",
                        "Input",
                        "State",
                        "Name",
                        "GroupName",
                        "FlexibleTimeWindow",
                        "StartDate",
                        "EndDate",
                        "RetryPolicy",
                        "DeadLetterConfig",
                        "Description",
                        "RoleArn",
                        "OmitName",
                    ],
                    &at,
                )?;
                let schedule = name(p.get("Name"));
                let group = p
                    .get("GroupName")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string();
                let mut body = Map::new();
                body.insert(
                    "ScheduleExpression".into(),
                    props::req(p, "ScheduleExpression", &at)?,
                );
                body.insert(
                    "FlexibleTimeWindow".into(),
                    p.get("FlexibleTimeWindow")
                        .cloned()
                        .unwrap_or_else(|| json!({"Mode": "OFF"})),
                );
                body.insert("State".into(), state(p).into());
                body.insert("GroupName".into(), group.clone().into());
                props::copy(
                    p,
                    &mut body,
                    &[
                        "ScheduleExpressionTimezone",
                        "StartDate",
                        "EndDate",
                        "Description",
                    ],
                );
                let mut target = Map::new();
                target.insert("Arn".into(), cx.target_arn.clone().into());
                target.insert(
                    "RoleArn".into(),
                    p.get("RoleArn")
                        .cloned()
                        .unwrap_or_else(|| "arn:aws:iam::000000000000:role/lamina".into()),
                );
                props::copy(
                    p,
                    &mut target,
                    &["Input", "RetryPolicy", "DeadLetterConfig"],
                );
                body.insert("Target".into(), target.into());
                trigger(TriggerKind::Schedule {
                    name: schedule,
                    group,
                    body,
                });
            }
            "SQS" => {
                let known: Vec<&str> = SQS_SETTINGS.iter().copied().chain(["Queue"]).collect();
                props::only(p, &known, &at)?;
                let mut body = Map::new();
                body.insert("EventSourceArn".into(), props::req(p, "Queue", &at)?);
                body.insert("FunctionName".into(), cx.target_arn.clone().into());
                props::copy(p, &mut body, SQS_SETTINGS);
                trigger(TriggerKind::Mapping { body });
            }
            "S3" => {
                props::only(p, &["Bucket", "Events", "Filter"], &at)?;
                let bucket = raw
                    .get(event)
                    .and_then(|d| d.get("Properties"))
                    .and_then(|p| p.get("Bucket"))
                    .and_then(|b| b.get("Ref"))
                    .and_then(Value::as_str)
                    .filter(|b| cx.buckets.iter().any(|x| x == b))
                    .ok_or_else(|| TemplateError::Invalid {
                        at: format!("{at}.Bucket"),
                        message: "an S3 event's Bucket must be !Ref to an AWS::S3::Bucket of \
                                  the same template (as SAM requires)"
                            .into(),
                    })?;
                let events = match props::req(p, "Events", &at)? {
                    Value::String(s) => json!([s]),
                    list => list,
                };
                let mut rule = Map::new();
                rule.insert("Id".into(), format!("{}-{event}", f.logical_id).into());
                rule.insert("LambdaFunctionArn".into(), cx.target_arn.clone().into());
                rule.insert("Events".into(), events);
                if let Some(filter) = p.get("Filter") {
                    // SAM's `Filter.S3Key.Rules` is S3's `Filter.Key.FilterRules`.
                    let rules = filter
                        .get("S3Key")
                        .and_then(|k| k.get("Rules"))
                        .cloned()
                        .unwrap_or_else(|| json!([]));
                    rule.insert("Filter".into(), json!({"Key": {"FilterRules": rules}}));
                }
                notifications.push((bucket.to_string(), Value::Object(rule)));
            }
            "HttpApi" | "Api" => {
                props::only(
                    p,
                    &["Path", "Method", "PayloadFormatVersion", "TimeoutInMillis"],
                    &at,
                )?;
                if kind == "HttpApi"
                    && p.get("PayloadFormatVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v != "2.0")
                {
                    return Err(unsupported("PayloadFormatVersion other than 2.0", &at));
                }
                if kind == "Api" {
                    notes.push(format!(
                        "{}: the Api event {event} is served through the function's URL, \
                         with HTTP API's payload format 2.0 (not REST API's 1.0)",
                        f.logical_id
                    ));
                }
                let method = p.get("Method").and_then(Value::as_str).unwrap_or("ANY");
                let path = p.get("Path").and_then(Value::as_str).unwrap_or("/");
                f.routes.push(format!("{} {path}", method.to_uppercase()));
                f.url.get_or_insert_with(|| {
                    json!({"AuthType": "NONE"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default()
                });
            }
            other => {
                return Err(unsupported(&format!("event type {other}"), &at));
            }
        }
    }
    Ok(notifications)
}

/// ENABLED or DISABLED from `State` or the older `Enabled`.
fn state(p: &Map<String, Value>) -> &'static str {
    let disabled = p.get("State").and_then(Value::as_str) == Some("DISABLED")
        || p.get("Enabled").and_then(Value::as_bool) == Some(false);
    if disabled { "DISABLED" } else { "ENABLED" }
}

/// An EventBridge target calling the function, with `keys` of the event's properties.
fn target(cx: &EventContext<'_>, p: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    let mut t = Map::new();
    t.insert("Id".into(), "lamina-function".into());
    t.insert("Arn".into(), cx.target_arn.clone().into());
    props::copy(p, &mut t, keys);
    t
}
