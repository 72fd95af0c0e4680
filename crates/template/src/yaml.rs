//! A template's text (YAML, or JSON, which YAML reads too) into JSON values, with
//! CloudFormation's short forms (`!Ref x`, `!Sub …`, `!GetAtt a.b`, `!If [...]`) turned into
//! their long forms (`{"Ref": x}`, `{"Fn::Sub": …}`), so the rest of the crate sees one form.

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use crate::TemplateError;

/// The template's document as JSON.
pub fn parse(text: &str) -> Result<Value, TemplateError> {
    let yaml: Yaml =
        serde_yaml_ng::from_str(text).map_err(|e| TemplateError::Syntax(e.to_string()))?;
    to_json(yaml)
}

fn to_json(yaml: Yaml) -> Result<Value, TemplateError> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => {
                        return Err(TemplateError::Syntax(format!(
                            "a mapping key must be a string, not {other:?}"
                        )));
                    }
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            let key = match tag {
                "Ref" | "Condition" => tag.to_string(),
                _ => format!("Fn::{tag}"),
            };
            // `!GetAtt a.b` is the one short form whose long form is a list.
            let value = match (tag, value) {
                ("GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((a, b)) => Value::Array(vec![a.into(), b.into()]),
                    None => Value::String(s),
                },
                (_, v) => v,
            };
            let mut out = Map::new();
            out.insert(key, value);
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "A: !Ref Name\nB: !Sub '${AWS::StackName}-x'\nC: !GetAtt Queue.Arn\n\
             D: !If [IsProd, 1, 2]\nE: !Equals [a, b]\n",
        )
        .unwrap();
        assert_eq!(v["A"], serde_json::json!({"Ref": "Name"}));
        assert_eq!(
            v["B"],
            serde_json::json!({"Fn::Sub": "${AWS::StackName}-x"})
        );
        assert_eq!(v["C"], serde_json::json!({"Fn::GetAtt": ["Queue", "Arn"]}));
        assert_eq!(v["D"], serde_json::json!({"Fn::If": ["IsProd", 1, 2]}));
        assert_eq!(v["E"], serde_json::json!({"Fn::Equals": ["a", "b"]}));
    }

    #[test]
    fn bad_yaml_is_a_syntax_error() {
        assert!(matches!(parse("A: [1, 2\n"), Err(TemplateError::Syntax(_))));
    }
}
