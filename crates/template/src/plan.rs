//! What a deploy does: the application's resources ([`desired`]) compared with what the
//! last deploy made (a [`Record`]), as ordered [`Step`]s.
//!
//! The order keeps every reference valid: triggers that go are removed first; then layers,
//! queues, buckets and functions are made or changed; then triggers are made or changed
//! (they point at functions and queues); last, functions, buckets, queues and layers that
//! left the template are deleted.

use std::collections::BTreeMap;

use lamina_model::application::Record;
use serde_json::{Value, json};
use sha2::Digest;

use crate::app::{Application, LayerRef, TriggerKind};

/// The kinds of resources, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Layer,
    Queue,
    Bucket,
    Function,
    Url,
    Rule,
    Schedule,
    Mapping,
    Notification,
}

impl Kind {
    /// The word keys start with.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Layer => "Layer",
            Kind::Queue => "Queue",
            Kind::Bucket => "Bucket",
            Kind::Function => "Function",
            Kind::Url => "Url",
            Kind::Rule => "Rule",
            Kind::Schedule => "Schedule",
            Kind::Mapping => "Mapping",
            Kind::Notification => "Notification",
        }
    }

    /// The kind of a key (`Function:Api`).
    pub fn of_key(key: &str) -> Option<Kind> {
        let word = key.split(':').next()?;
        [
            Kind::Layer,
            Kind::Queue,
            Kind::Bucket,
            Kind::Function,
            Kind::Url,
            Kind::Rule,
            Kind::Schedule,
            Kind::Mapping,
            Kind::Notification,
        ]
        .into_iter()
        .find(|k| k.word() == word)
    }

    fn is_trigger(self) -> bool {
        self >= Kind::Url
    }
}

/// A resource as the template wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `Kind:LogicalId`, or `Kind:Function.Event` for a function's triggers.
    pub key: String,
    pub kind: Kind,
    /// Its name on the server, when the template chooses it (not a mapping's UUID or a
    /// layer version's ARN).
    pub physical: Option<String>,
    pub digest: String,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Its name changed (or the server names it): the old one goes, a new one is made.
    Replace,
    Delete,
}

/// One step of a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub key: String,
    pub kind: Kind,
    pub action: Action,
    /// What the record holds of it (for Update, Replace and Delete).
    pub recorded: Option<String>,
    /// The digest to record once done (empty for Delete).
    pub digest: String,
}

/// The application's resources with their digests. `code` gives the SHA-256 of each
/// function's and layer's package by logical id: a change of code is a change.
pub fn desired(app: &Application, code: &BTreeMap<String, String>) -> Vec<Desired> {
    let mut out = Vec::new();
    let mut push = |kind: Kind, id: &str, physical: Option<&str>, spec: Value| {
        out.push(Desired {
            key: format!("{}:{id}", kind.word()),
            kind,
            physical: physical.map(str::to_string),
            digest: digest(&spec),
        });
    };
    let mut layer_digests = BTreeMap::new();
    for l in &app.layers {
        let spec = json!([l.name, l.body, code.get(&l.logical_id)]);
        layer_digests.insert(l.logical_id.clone(), digest(&spec));
        push(Kind::Layer, &l.logical_id, None, spec);
    }
    for q in &app.queues {
        push(
            Kind::Queue,
            &q.logical_id,
            Some(&q.name),
            json!(q.attributes),
        );
    }
    for b in &app.buckets {
        push(Kind::Bucket, &b.logical_id, Some(&b.name), json!(b.name));
    }
    for f in &app.functions {
        // A template layer is named by its content: a new version of it changes the
        // functions that use it.
        let layers: Vec<String> = f
            .layers
            .iter()
            .map(|l| match l {
                LayerRef::Arn(a) => a.clone(),
                LayerRef::Template(id) => layer_digests.get(id).cloned().unwrap_or_default(),
            })
            .collect();
        let spec = json!([
            f.config,
            code.get(&f.logical_id),
            layers,
            f.reserved_concurrency,
            f.provisioned_concurrency,
            f.alias,
            f.event_invoke
        ]);
        push(Kind::Function, &f.logical_id, Some(&f.name), spec);
        if let Some(url) = &f.url {
            let physical = format!("{}:{}", f.name, f.alias.as_deref().unwrap_or("$LATEST"));
            push(Kind::Url, &f.logical_id, Some(&physical), json!(url));
        }
        for t in &f.triggers {
            let id = format!("{}.{}", f.logical_id, t.event);
            match &t.kind {
                TriggerKind::Rule {
                    name,
                    bus,
                    rule,
                    target,
                } => push(
                    Kind::Rule,
                    &id,
                    Some(&format!("{bus}/{name}")),
                    json!([rule, target]),
                ),
                TriggerKind::Schedule { name, group, body } => push(
                    Kind::Schedule,
                    &id,
                    Some(&format!("{group}/{name}")),
                    json!(body),
                ),
                TriggerKind::Mapping { body } => push(Kind::Mapping, &id, None, json!(body)),
            }
        }
    }
    for b in app.buckets.iter().filter(|b| !b.notifications.is_empty()) {
        push(
            Kind::Notification,
            &b.logical_id,
            Some(&b.name),
            json!(b.notifications),
        );
    }
    out
}

/// The steps from `record` to `desired`, in the order they are to be taken. Resources
/// neither new, changed nor gone take no step.
pub fn plan(desired: &[Desired], record: &Record) -> Vec<Step> {
    let recorded: BTreeMap<&str, (&str, &str)> = record
        .resources
        .iter()
        .map(|r| (r.key.as_str(), (r.physical.as_str(), r.digest.as_str())))
        .collect();
    let mut steps = Vec::new();
    for d in desired {
        let step = |action, recorded: Option<&str>| Step {
            key: d.key.clone(),
            kind: d.kind,
            action,
            recorded: recorded.map(str::to_string),
            digest: d.digest.clone(),
        };
        match recorded.get(d.key.as_str()) {
            None => steps.push(step(Action::Create, None)),
            Some((physical, digest)) => {
                let renamed = d.physical.as_deref().is_some_and(|p| p != *physical);
                let changed = *digest != d.digest;
                // What the server names is made anew when it changes.
                let server_named = d.physical.is_none() && d.kind != Kind::Layer;
                if renamed || (changed && server_named) {
                    steps.push(step(Action::Replace, Some(physical)));
                } else if changed {
                    steps.push(step(Action::Update, Some(physical)));
                }
            }
        }
    }
    for r in &record.resources {
        if desired.iter().any(|d| d.key == r.key) {
            continue;
        }
        let Some(kind) = Kind::of_key(&r.key) else {
            continue;
        };
        steps.push(Step {
            key: r.key.clone(),
            kind,
            action: Action::Delete,
            recorded: Some(r.physical.clone()),
            digest: String::new(),
        });
    }
    steps.sort_by_key(phase);
    steps
}

/// Where a step goes in a deploy: (phase, position within it).
fn phase(s: &Step) -> (u8, i8) {
    let k = s.kind as i8;
    match (s.action, s.kind.is_trigger()) {
        (Action::Delete, true) => (0, k),
        (_, false) if s.action != Action::Delete => (1, k),
        (_, true) => (2, k),
        _ => (3, -k),
    }
}

/// The steps that remove everything `record` holds, in order.
pub fn teardown(record: &Record) -> Vec<Step> {
    plan(&[], record)
}

fn digest(v: &Value) -> String {
    let hash = sha2::Sha256::digest(v.to_string().as_bytes());
    hash.iter().take(12).map(|b| format!("{b:02x}")).collect()
}
