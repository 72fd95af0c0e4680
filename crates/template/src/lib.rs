//! SAM templates for Lamina. [`load`] reads a template (`Transform:
//! AWS::Serverless-2016-10-31`) into the [`Application`] it describes: parameters with their
//! overrides, conditions, `Globals.Function` and the intrinsic functions evaluated
//! ([`intrinsics`]), every name chosen, and each resource in the shape of the API requests
//! that make it. [`plan`] compares it with what the last deploy made (a
//! [`lamina_model::application::Record`]) and says what to create, update and delete.
//!
//! Nothing here talks to a server: the CLI applies the plan. Whatever a template asks that
//! Lamina cannot do is an error naming it (resource types, properties, event types,
//! intrinsic functions); what it accepts without acting on (IAM) is listed in
//! [`Application::notes`].

pub mod app;
mod events;
pub mod intrinsics;
pub mod plan;
mod props;
mod read;
mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};
use sha2::Digest;

pub use app::Application;
use intrinsics::{Scope, scalar};

/// What a template cannot be deployed for.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("{at}: Lamina does not support {what}")]
    Unsupported { what: String, at: String },
    #[error("{0}")]
    Parameter(String),
}

/// Where and as what a template is deployed.
#[derive(Debug, Clone)]
pub struct Context {
    /// The application's name (the stack name): the prefix of the names it chooses.
    pub app: String,
    pub region: String,
    pub account: String,
    /// The server's endpoint, which queue URLs start with.
    pub endpoint: String,
    /// The template's directory, which `CodeUri` and `ContentUri` are relative to.
    pub base: PathBuf,
    /// `--parameter-overrides`.
    pub overrides: BTreeMap<String, String>,
}

/// What `Ref` to a layer version gives until it is published: its ARN is known only then.
pub const LAYER_REF: &str = "lamina-layer:";

const SERVERLESS: &str = "AWS::Serverless-2016-10-31";

/// Reads `text` into the application it describes.
pub fn load(text: &str, cx: &Context) -> Result<Application, TemplateError> {
    let doc = yaml::parse(text)?;
    let top = doc
        .as_object()
        .ok_or_else(|| TemplateError::Syntax("a template is a map".into()))?;
    props::only(
        top,
        &[
            "AWSTemplateFormatVersion",
            "Transform",
            "Description",
            "Metadata",
            "Parameters",
            "Mappings",
            "Conditions",
            "Globals",
            "Resources",
            "Outputs",
        ],
        "the template",
    )?;
    let transforms: Vec<String> = match top.get("Transform") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
    };
    if let Some(t) = transforms.iter().find(|t| *t != SERVERLESS) {
        return Err(unsupported(&format!("the transform {t}"), "Transform"));
    }
    let mut scope = Scope::default();
    for (k, v) in [
        ("AWS::Region", cx.region.as_str()),
        ("AWS::AccountId", cx.account.as_str()),
        ("AWS::StackName", cx.app.as_str()),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
    ] {
        scope.pseudo.insert(k.into(), v.into());
    }
    scope.parameters = parameters(top.get("Parameters"), &cx.overrides)?;
    scope.mappings = top.get("Mappings").cloned().unwrap_or(Value::Null);
    conditions(top.get("Conditions"), &mut scope)?;
    let resources = top
        .get("Resources")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| TemplateError::Invalid {
            at: "Resources".into(),
            message: "a template needs at least one resource".into(),
        })?;
    let chosen = choose(resources, cx, &mut scope)?;
    if chosen
        .iter()
        .any(|r| r.kind.starts_with("AWS::Serverless::"))
        && !transforms.iter().any(|t| t == SERVERLESS)
    {
        return Err(TemplateError::Invalid {
            at: "Transform".into(),
            message: format!("serverless resources need Transform: {SERVERLESS}"),
        });
    }
    let globals = globals(top.get("Globals"))?;
    let mut app = Application {
        name: cx.app.clone(),
        ..Application::default()
    };
    let mut notifications = Vec::new();
    let buckets: Vec<String> = chosen
        .iter()
        .filter(|r| r.kind == "AWS::S3::Bucket")
        .map(|r| r.id.clone())
        .collect();
    for r in &chosen {
        let at = format!("Resources.{}.Properties", r.id);
        let raw = match r.kind {
            "AWS::Serverless::Function" => props::merge(&globals, &r.properties),
            _ => r.properties.clone(),
        };
        let p = match scope.resolve_some(&raw, &at)? {
            Value::Object(m) => m,
            _ => return Err(invalid(&at, "Properties must be a map")),
        };
        match r.kind {
            "AWS::Serverless::Function" => {
                let mut f = read::function(&r.id, r.name.clone(), &p, &cx.base, &mut app.notes)?;
                let empty = Map::new();
                let events = p.get("Events").and_then(Value::as_object).unwrap_or(&empty);
                let raw_events = raw
                    .get("Events")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                let ecx = events::EventContext {
                    app: &cx.app,
                    target_arn: f.target_arn(&cx.region, &cx.account),
                    buckets: &buckets,
                };
                notifications.extend(events::read(
                    &mut f,
                    events,
                    raw_events,
                    &ecx,
                    &mut app.notes,
                )?);
                app.functions.push(f);
            }
            "AWS::Serverless::LayerVersion" => {
                app.layers
                    .push(read::layer(&r.id, r.name.clone(), &p, &cx.base)?)
            }
            "AWS::SQS::Queue" => app.queues.push(read::queue(&r.id, r.name.clone(), &p)?),
            "AWS::S3::Bucket" => {
                props::only(&p, &["BucketName"], &at)?;
                app.buckets.push(app::Bucket {
                    logical_id: r.id.clone(),
                    name: r.name.clone(),
                    notifications: Vec::new(),
                });
            }
            _ => unreachable!("choose keeps only these"),
        }
    }
    for (bucket, rule) in notifications {
        if let Some(b) = app.buckets.iter_mut().find(|b| b.logical_id == bucket) {
            b.notifications.push(rule);
        }
    }
    Ok(app)
}

/// A resource the template deploys (its condition holds), with its name.
struct Chosen {
    id: String,
    kind: &'static str,
    name: String,
    properties: Value,
}

const RESOURCE_KEYS: &[&str] = &[
    "Type",
    "Properties",
    "Condition",
    "DependsOn",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
];

/// Chooses each resource's name and records what its `Ref` and `Fn::GetAtt` give.
fn choose(
    resources: &Map<String, Value>,
    cx: &Context,
    scope: &mut Scope,
) -> Result<Vec<Chosen>, TemplateError> {
    let mut chosen = Vec::new();
    let mut unknown = Vec::new();
    for (id, r) in resources {
        let at = format!("Resources.{id}");
        let r = r
            .as_object()
            .ok_or_else(|| invalid(&at, "a resource is a map"))?;
        props::only(r, RESOURCE_KEYS, &at)?;
        if let Some(c) = r.get("Condition") {
            let c = c
                .as_str()
                .ok_or_else(|| invalid(&at, "Condition is a name"))?;
            if !scope.condition(c, &at)? {
                continue;
            }
        }
        let given = |key: &str| -> Result<Option<String>, TemplateError> {
            match r.get("Properties").and_then(|p| p.get(key)) {
                None => Ok(None),
                Some(v) => scope
                    .resolve_some(v, &format!("{at}.Properties.{key}"))
                    .map(|v| scalar(&v)),
            }
        };
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        let (kind, name): (&'static str, String) = match kind {
            "AWS::Serverless::Function" => (
                "AWS::Serverless::Function",
                given("FunctionName")?.unwrap_or_else(|| fit(&format!("{}-{id}", cx.app), 64)),
            ),
            "AWS::Serverless::LayerVersion" => (
                "AWS::Serverless::LayerVersion",
                given("LayerName")?.unwrap_or_else(|| id.clone()),
            ),
            "AWS::SQS::Queue" => (
                "AWS::SQS::Queue",
                given("QueueName")?.unwrap_or_else(|| fit(&format!("{}-{id}", cx.app), 80)),
            ),
            "AWS::S3::Bucket" => (
                "AWS::S3::Bucket",
                given("BucketName")?
                    .unwrap_or_else(|| fit(&format!("{}-{id}", cx.app).to_lowercase(), 63)),
            ),
            other => {
                unknown.push(format!("{id} ({other})"));
                continue;
            }
        };
        let mut attr = |a: Option<&str>, v: String| {
            scope
                .attributes
                .insert((id.clone(), a.map(str::to_string)), Value::String(v));
        };
        let (region, account) = (&cx.region, &cx.account);
        match kind {
            "AWS::Serverless::Function" => {
                attr(None, name.clone());
                attr(
                    Some("Arn"),
                    format!("arn:aws:lambda:{region}:{account}:function:{name}"),
                );
            }
            "AWS::Serverless::LayerVersion" => attr(None, format!("{LAYER_REF}{id}")),
            "AWS::SQS::Queue" => {
                attr(None, format!("{}/{account}/{name}", cx.endpoint));
                attr(
                    Some("QueueUrl"),
                    format!("{}/{account}/{name}", cx.endpoint),
                );
                attr(Some("QueueName"), name.clone());
                attr(
                    Some("Arn"),
                    format!("arn:aws:sqs:{region}:{account}:{name}"),
                );
            }
            _ => {
                attr(None, name.clone());
                attr(Some("Arn"), format!("arn:aws:s3:::{name}"));
            }
        }
        chosen.push(Chosen {
            id: id.clone(),
            kind,
            name,
            properties: r
                .get("Properties")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
        });
    }
    if !unknown.is_empty() {
        return Err(unsupported(
            &format!("the resource type of {}", unknown.join(", ")),
            "Resources",
        ));
    }
    Ok(chosen)
}

/// `Globals.Function`; any other section is refused, named.
fn globals(g: Option<&Value>) -> Result<Value, TemplateError> {
    let Some(g) = g else {
        return Ok(Value::Object(Map::new()));
    };
    let g = g
        .as_object()
        .ok_or_else(|| invalid("Globals", "Globals is a map"))?;
    props::only(g, &["Function"], "Globals")?;
    let f = g.get("Function").cloned().unwrap_or_default();
    if let Some(m) = f.as_object() {
        let known: Vec<&str> = read::FUNCTION_PROPERTIES
            .iter()
            .copied()
            .filter(|k| !matches!(*k, "FunctionName" | "Events"))
            .chain(read::NOTED_PROPERTIES.iter().map(|(k, _)| *k))
            .collect();
        props::only(m, &known, "Globals.Function")?;
    }
    Ok(f)
}

/// Parameters' values: the override, else the default; checked against `AllowedValues`.
fn parameters(
    defs: Option<&Value>,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Value>, TemplateError> {
    let empty = Map::new();
    let defs = defs.and_then(Value::as_object).unwrap_or(&empty);
    if let Some(k) = overrides.keys().find(|k| !defs.contains_key(*k)) {
        return Err(TemplateError::Parameter(format!(
            "--parameter-overrides names {k}, which the template's Parameters do not have"
        )));
    }
    let mut out = BTreeMap::new();
    for (name, def) in defs {
        let kind = def.get("Type").and_then(Value::as_str).unwrap_or("String");
        let value = match overrides.get(name) {
            Some(v) => v.clone(),
            None => match def.get("Default").and_then(scalar) {
                Some(v) => v,
                None => {
                    return Err(TemplateError::Parameter(format!(
                        "parameter {name} has no default: give --parameter-overrides {name}=…"
                    )));
                }
            },
        };
        if let Some(Value::Array(allowed)) = def.get("AllowedValues")
            && !allowed.iter().filter_map(scalar).any(|a| a == value)
        {
            return Err(TemplateError::Parameter(format!(
                "parameter {name} is {value:?}, not one of its AllowedValues"
            )));
        }
        let value = match kind {
            "String" => Value::String(value),
            "Number" => {
                if value.parse::<f64>().is_err() {
                    return Err(TemplateError::Parameter(format!(
                        "parameter {name} is a Number, not {value:?}"
                    )));
                }
                Value::String(value)
            }
            "CommaDelimitedList" | "List<Number>" | "List<String>" => Value::Array(
                value
                    .split(',')
                    .map(|s| Value::String(s.trim().into()))
                    .collect(),
            ),
            other => {
                return Err(unsupported(
                    &format!("the parameter type {other}"),
                    &format!("Parameters.{name}"),
                ));
            }
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// Evaluates `Conditions`, each after the ones it names.
fn conditions(defs: Option<&Value>, scope: &mut Scope) -> Result<(), TemplateError> {
    let Some(defs) = defs.and_then(Value::as_object) else {
        return Ok(());
    };
    let mut left: Vec<(&String, &Value)> = defs.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        let mut last_error = None;
        left.retain(
            |(name, def)| match scope.evaluate(def, &format!("Conditions.{name}")) {
                Ok(v) => {
                    scope.conditions.insert((*name).clone(), v);
                    false
                }
                Err(e) => {
                    last_error = Some(e);
                    true
                }
            },
        );
        if left.len() == before {
            return Err(last_error.unwrap_or_else(|| invalid("Conditions", "a cycle")));
        }
    }
    Ok(())
}

/// `name` cut to `max` characters; a cut one ends with a hash of the whole, so two long
/// names stay apart.
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = sha2::Sha256::digest(name.as_bytes());
    let tag: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let head: String = name.chars().take(max - tag.len() - 1).collect();
    format!("{head}-{tag}")
}

fn unsupported(what: &str, at: &str) -> TemplateError {
    TemplateError::Unsupported {
        what: what.to_string(),
        at: at.to_string(),
    }
}

fn invalid(at: &str, message: &str) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_string(),
        message: message.to_string(),
    }
}
