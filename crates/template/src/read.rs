//! The template's resources, each read from its evaluated `Properties` into the
//! application's types: `AWS::Serverless::Function`, `AWS::Serverless::LayerVersion`,
//! `AWS::SQS::Queue` and `AWS::S3::Bucket`.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::app::{CodeUri, Function, Layer, LayerRef, Queue};
use crate::intrinsics::scalar;
use crate::{LAYER_REF, TemplateError, props, unsupported};

/// The function properties Lamina deploys.
pub const FUNCTION_PROPERTIES: &[&str] = &[
    "FunctionName",
    "CodeUri",
    "Handler",
    "Runtime",
    "MemorySize",
    "Timeout",
    "Description",
    "Environment",
    "Architectures",
    "EphemeralStorage",
    "Layers",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "AutoPublishAlias",
    "DeadLetterQueue",
    "EventInvokeConfig",
    "FunctionUrlConfig",
    "Events",
    "Tags",
    "PackageType",
];

/// Function properties accepted and not acted on, each with why.
pub const NOTED_PROPERTIES: &[(&str, &str)] = &[
    ("Role", "IAM is not enforced on functions' calls"),
    ("Policies", "IAM is not enforced on functions' calls"),
    (
        "PermissionsBoundary",
        "IAM is not enforced on functions' calls",
    ),
    ("RolePath", "IAM is not enforced on functions' calls"),
    ("Tracing", "X-Ray tracing is not collected"),
];

/// Reads a function (Globals merged in) without its events.
pub fn function(
    logical_id: &str,
    name: String,
    p: &Map<String, Value>,
    base: &Path,
    notes: &mut Vec<String>,
) -> Result<Function, TemplateError> {
    let at = format!("Resources.{logical_id}.Properties");
    let known: Vec<&str> = FUNCTION_PROPERTIES
        .iter()
        .copied()
        .chain(NOTED_PROPERTIES.iter().map(|(k, _)| *k))
        .collect();
    props::only(p, &known, &at)?;
    for (k, why) in NOTED_PROPERTIES {
        if p.contains_key(*k) {
            notes.push(format!("{logical_id}: {k} accepted, not acted on: {why}"));
        }
    }
    if let Some(t) = p.get("PackageType").and_then(Value::as_str)
        && t != "Zip"
    {
        return Err(unsupported(&format!("PackageType {t}"), &at));
    }
    let code = code_uri(p.get("CodeUri"), base, &format!("{at}.CodeUri"))?;
    let mut config = Map::new();
    for key in ["Handler", "Runtime"] {
        config.insert(key.into(), props::req(p, key, &at)?);
    }
    props::copy(
        p,
        &mut config,
        &[
            "MemorySize",
            "Timeout",
            "Description",
            "Architectures",
            "EphemeralStorage",
            "Tags",
        ],
    );
    if let Some(env) = p.get("Environment") {
        let vars = env
            .get("Variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut strings = Map::new();
        for (k, v) in vars {
            let s = scalar(&v).ok_or_else(|| TemplateError::Invalid {
                at: format!("{at}.Environment.Variables.{k}"),
                message: "a variable's value is a string".into(),
            })?;
            strings.insert(k, s.into());
        }
        config.insert("Environment".into(), json!({ "Variables": strings }));
    }
    config.insert(
        "Role".into(),
        p.get("Role")
            .filter(|r| r.is_string())
            .cloned()
            .unwrap_or_else(|| "arn:aws:iam::000000000000:role/lamina".into()),
    );
    if let Some(dlq) = p.get("DeadLetterQueue") {
        match dlq.get("Type").and_then(Value::as_str) {
            Some("SQS") => {}
            other => {
                return Err(unsupported(
                    &format!("DeadLetterQueue of Type {}", other.unwrap_or("(none)")),
                    &at,
                ));
            }
        }
        let arn = props::req(
            dlq.as_object().unwrap_or(&Map::new()),
            "TargetArn",
            &format!("{at}.DeadLetterQueue"),
        )?;
        config.insert("DeadLetterConfig".into(), json!({ "TargetArn": arn }));
    }
    let layers = match p.get("Layers") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|l| match l.as_str() {
                Some(s) => Ok(match s.strip_prefix(LAYER_REF) {
                    Some(id) => LayerRef::Template(id.to_string()),
                    None => LayerRef::Arn(s.to_string()),
                }),
                None => Err(TemplateError::Invalid {
                    at: format!("{at}.Layers"),
                    message: "a layer is an ARN or !Ref to a LayerVersion".into(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let number = |key: &str| -> Result<Option<u64>, TemplateError> {
        match p.get(key) {
            None => Ok(None),
            Some(v) => scalar(v)
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| TemplateError::Invalid {
                    at: format!("{at}.{key}"),
                    message: "a whole number".into(),
                }),
        }
    };
    let alias = p
        .get("AutoPublishAlias")
        .and_then(Value::as_str)
        .map(str::to_string);
    let provisioned = match p.get("ProvisionedConcurrencyConfig") {
        None => None,
        Some(c) => {
            if alias.is_none() {
                return Err(TemplateError::Invalid {
                    at: format!("{at}.ProvisionedConcurrencyConfig"),
                    message: "needs AutoPublishAlias (provisioned concurrency is set on the \
                              alias, as SAM does)"
                        .into(),
                });
            }
            c.get("ProvisionedConcurrentExecutions")
                .and_then(scalar)
                .and_then(|s| s.parse().ok())
        }
    };
    let event_invoke = p.get("EventInvokeConfig").map(|c| {
        let mut body = Map::new();
        if let Some(Value::Object(c)) = Some(c) {
            props::copy(
                c,
                &mut body,
                &["MaximumEventAgeInSeconds", "MaximumRetryAttempts"],
            );
            if let Some(Value::Object(dests)) = c.get("DestinationConfig") {
                let mut out = Map::new();
                for (k, d) in dests {
                    let dest = d.get("Destination").cloned().unwrap_or(Value::Null);
                    out.insert(k.clone(), json!({ "Destination": dest }));
                }
                body.insert("DestinationConfig".into(), out.into());
            }
        }
        body
    });
    let url = p
        .get("FunctionUrlConfig")
        .and_then(Value::as_object)
        .cloned();
    Ok(Function {
        logical_id: logical_id.to_string(),
        name,
        code,
        config,
        layers,
        reserved_concurrency: number("ReservedConcurrentExecutions")?,
        provisioned_concurrency: provisioned,
        alias,
        event_invoke,
        url,
        routes: Vec::new(),
        triggers: Vec::new(),
    })
}

/// Reads a layer version.
pub fn layer(
    logical_id: &str,
    name: String,
    p: &Map<String, Value>,
    base: &Path,
) -> Result<Layer, TemplateError> {
    let at = format!("Resources.{logical_id}.Properties");
    props::only(
        p,
        &[
            "LayerName",
            "ContentUri",
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "Description",
            "LicenseInfo",
            "RetentionPolicy",
        ],
        &at,
    )?;
    let content = code_uri(p.get("ContentUri"), base, &format!("{at}.ContentUri"))?;
    let mut body = Map::new();
    props::copy(
        p,
        &mut body,
        &[
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "Description",
            "LicenseInfo",
        ],
    );
    let retain = p.get("RetentionPolicy").and_then(Value::as_str) == Some("Retain");
    Ok(Layer {
        logical_id: logical_id.to_string(),
        name,
        content,
        body,
        retain,
    })
}

/// Reads a queue.
pub fn queue(
    logical_id: &str,
    name: String,
    p: &Map<String, Value>,
) -> Result<Queue, TemplateError> {
    let at = format!("Resources.{logical_id}.Properties");
    let attributes = [
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds",
        "RedrivePolicy",
        "FifoQueue",
        "ContentBasedDeduplication",
    ];
    let known: Vec<&str> = attributes.iter().copied().chain(["QueueName"]).collect();
    props::only(p, &known, &at)?;
    let mut out = Map::new();
    for key in attributes {
        if let Some(v) = p.get(key) {
            // Queue attributes are strings on the wire; a redrive policy is JSON text.
            let s = scalar(v).unwrap_or_else(|| v.to_string());
            out.insert(key.into(), s.into());
        }
    }
    Ok(Queue {
        logical_id: logical_id.to_string(),
        name,
        attributes: out,
    })
}

fn code_uri(v: Option<&Value>, base: &Path, at: &str) -> Result<CodeUri, TemplateError> {
    let uri = match v {
        None => ".",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(unsupported(
                "code in an S3 bucket (give a local directory or .zip)",
                at,
            ));
        }
    };
    if uri.starts_with("s3://") {
        return Err(unsupported(
            "code in an S3 bucket (give a local directory or .zip)",
            at,
        ));
    }
    let path = base.join(uri);
    if path.is_file() {
        Ok(CodeUri::Zip(path))
    } else if path.is_dir() {
        Ok(CodeUri::Dir(path))
    } else {
        Err(TemplateError::Invalid {
            at: at.to_string(),
            message: format!("{} is neither a directory nor a file", path.display()),
        })
    }
}
