//! What a rule's target receives for a matched event: its `Input` verbatim, the part of the
//! event its `InputPath` selects, its `InputTransformer`'s template with the values of its
//! `InputPathsMap` put in, or else the whole event.
//!
//! Templates follow EventBridge: a placeholder inside a JSON string is replaced by the
//! value's text (escaped for the string), one outside by the value as JSON; a path the
//! event lacks gives `null` (or nothing inside a string). Besides the map's variables,
//! `<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`
//! and `<aws.events.event>` / `<aws.events.event.json>` (the whole event) are known.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{InputTransformer, Target};

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses the JSON paths EventBridge takes: `$`, then `.name`, `['name']` or `[n]` steps.
pub fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The value at `path` in `event`, if there is one.
pub fn select<'v>(event: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(event, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(i),
    })
}

/// Checks an InputTransformer as PutTargets does.
pub fn check(t: &InputTransformer) -> Result<(), String> {
    if t.input_template.is_empty() || t.input_template.len() > 8192 {
        return Err("InputTemplate must have length between 1 and 8192".into());
    }
    let map = t.input_paths_map.clone().unwrap_or_default();
    if map.len() > 100 {
        return Err("InputPathsMap has at most 100 entries".into());
    }
    for (name, path) in &map {
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok || name.starts_with("aws.") {
            return Err(format!("InputPathsMap key {name} is not valid"));
        }
        if parse_path(path).is_none() {
            return Err(format!(
                "InputPathsMap value {path} is not a valid JSON path"
            ));
        }
    }
    Ok(())
}

/// Where a matched event came from, for the predefined placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    pub ingestion_time: &'a str,
}

/// What `target` receives for `event`.
pub fn input_for(target: &Target, event: &Value, ctx: Context<'_>) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        let value = parse_path(path)
            .and_then(|p| select(event, &p).cloned())
            .unwrap_or(Value::Null);
        return value.to_string();
    }
    match &target.input_transformer {
        Some(t) => render(t, event, ctx),
        None => event.to_string(),
    }
}

/// The template with its placeholders replaced.
pub fn render(t: &InputTransformer, event: &Value, ctx: Context<'_>) -> String {
    let mut values: BTreeMap<&str, Option<Value>> = BTreeMap::new();
    for (name, path) in t.input_paths_map.iter().flatten() {
        let v = parse_path(path).and_then(|p| select(event, &p).cloned());
        values.insert(name.as_str(), v);
    }
    values.insert("aws.events.rule-arn", Some(Value::from(ctx.rule_arn)));
    values.insert("aws.events.rule-name", Some(Value::from(ctx.rule_name)));
    values.insert(
        "aws.events.event.ingestion-time",
        Some(Value::from(ctx.ingestion_time)),
    );
    values.insert("aws.events.event", Some(event.clone()));
    values.insert("aws.events.event.json", Some(event.clone()));
    let template = &t.input_template;
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
            && let Some(value) = values.get(&rest[1..end])
        {
            out.push_str(&placed(value.as_ref(), in_string));
            rest = &rest[end + 1..];
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_string => escaped = !escaped,
            '"' if !escaped => in_string = !in_string,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A value as it goes into the template: JSON outside a string, escaped text inside.
fn placed(value: Option<&Value>, in_string: bool) -> String {
    match (value, in_string) {
        (None, false) => "null".into(),
        (None, true) => String::new(),
        (Some(v), false) => v.to_string(),
        (Some(Value::String(s)), true) => escape(s),
        (Some(v), true) => escape(&v.to_string()),
    }
}

fn escape(s: &str) -> String {
    let quoted = Value::from(s).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"id": "e1", "source": "aws.ec2", "resources": ["arn:x"],
               "detail": {"instance-id": "i-1", "state": "running", "n": 5, "tags": {"a": "b\"c"}}})
    }

    const CTX: Context<'static> = Context {
        rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r",
        rule_name: "r",
        ingestion_time: "2026-12-04T12:00:00Z",
    };

    fn transformer(map: Value, template: &str) -> InputTransformer {
        InputTransformer {
            input_paths_map: Some(serde_json::from_value(map).unwrap()),
            input_template: template.into(),
        }
    }

    #[test]
    fn paths_select_parts_of_the_event() {
        let e = event();
        let get = |p: &str| parse_path(p).and_then(|p| select(&e, &p).cloned());
        assert_eq!(get("$"), Some(e.clone()));
        assert_eq!(get("$.detail.state"), Some(json!("running")));
        assert_eq!(get("$.detail['instance-id']"), Some(json!("i-1")));
        assert_eq!(get("$.resources[0]"), Some(json!("arn:x")));
        assert_eq!(get("$.detail.missing"), None);
        for bad in ["detail", "$.", "$..a", "$[x]", "$['a'"] {
            assert!(parse_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn templates_place_values_as_aws_documents() {
        let t = transformer(
            json!({"instance": "$.detail.instance-id", "state": "$.detail.state", "n": "$.detail.n",
                   "tags": "$.detail.tags", "none": "$.detail.none"}),
            "{\"instance\": <instance>, \"text\": \"<instance> is <state>\", \"n\": <n>, \"tags\": <tags>, \
              \"in\": \"<tags>\", \"none\": <none>, \"empty\": \"<none>\", \"rule\": \"<aws.events.rule-name>\", \
              \"keep\": \"<unknown>\"}",
        );
        let out: Value = serde_json::from_str(&render(&t, &event(), CTX)).unwrap();
        assert_eq!(
            out,
            json!({"instance": "i-1", "text": "i-1 is running", "n": 5, "tags": {"a": "b\"c"},
                   "in": "{\"a\":\"b\\\"c\"}", "none": null, "empty": "", "rule": "r", "keep": "<unknown>"})
        );
        // A plain string template.
        let s = transformer(
            json!({"state": "$.detail.state"}),
            "\"the state is <state>\"",
        );
        assert_eq!(render(&s, &event(), CTX), "\"the state is running\"");
        let whole = transformer(json!({}), "{\"e\": <aws.events.event.json>}");
        let out: Value = serde_json::from_str(&render(&whole, &event(), CTX)).unwrap();
        assert_eq!(out["e"], event());
    }

    #[test]
    fn a_target_receives_its_input_its_path_or_the_event() {
        let base = Target {
            id: "t".into(),
            arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            role_arn: None,
            input: None,
            input_path: None,
            input_transformer: None,
            retry_policy: None,
            dead_letter_config: None,
        };
        assert_eq!(input_for(&base, &event(), CTX), event().to_string());
        let with_input = Target {
            input: Some("{\"fixed\":true}".into()),
            ..base.clone()
        };
        assert_eq!(input_for(&with_input, &event(), CTX), "{\"fixed\":true}");
        let with_path = Target {
            input_path: Some("$.detail.n".into()),
            ..base
        };
        assert_eq!(input_for(&with_path, &event(), CTX), "5");
    }

    #[test]
    fn transformers_are_checked() {
        assert!(check(&transformer(json!({"a": "$.detail"}), "<a>")).is_ok());
        assert!(check(&transformer(json!({"a": "detail"}), "<a>")).is_err());
        assert!(check(&transformer(json!({"aws.x": "$.detail"}), "<a>")).is_err());
        assert!(check(&transformer(json!({}), "")).is_err());
    }
}
