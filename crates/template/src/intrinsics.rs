//! CloudFormation's intrinsic functions, as far as templates use them in what Lamina
//! deploys: `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If` (with `Conditions`: `Fn::Equals`,
//! `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`), `Fn::Join`, `Fn::Select`, `Fn::Split` and
//! `Fn::FindInMap`. Anything else is named in an error, never passed through as data.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::TemplateError;

/// What a resource's `Ref` and `Fn::GetAtt` give, by logical id and attribute (`None` for
/// `Ref`).
pub type Attributes = BTreeMap<(String, Option<String>), Value>;

/// What intrinsic functions are evaluated against.
#[derive(Debug, Default)]
pub struct Scope {
    /// Parameters' values (a string, or a list for the list types).
    pub parameters: BTreeMap<String, Value>,
    /// `AWS::Region`, `AWS::AccountId`, `AWS::StackName`, `AWS::Partition`, `AWS::URLSuffix`.
    pub pseudo: BTreeMap<String, String>,
    /// Conditions, evaluated.
    pub conditions: BTreeMap<String, bool>,
    /// The template's `Mappings`.
    pub mappings: Value,
    /// The resources' attributes.
    pub attributes: Attributes,
}

impl Scope {
    /// `value` with every intrinsic function evaluated; `None` when it is `AWS::NoValue`.
    pub fn resolve(&self, value: &Value, at: &str) -> Result<Option<Value>, TemplateError> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.resolve(item, &format!("{at}[{i}]"))? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) if map.len() == 1 => {
                let (k, v) = map.iter().next().expect("one entry");
                if k == "Ref" || k.starts_with("Fn::") {
                    return self.function(k, v, at);
                }
                self.object(map, at).map(Some)
            }
            Value::Object(map) => self.object(map, at).map(Some),
            other => Ok(Some(other.clone())),
        }
    }

    /// `value` resolved, where `AWS::NoValue` is not allowed.
    pub fn resolve_some(&self, value: &Value, at: &str) -> Result<Value, TemplateError> {
        self.resolve(value, at)?
            .ok_or_else(|| invalid(at, "AWS::NoValue is not allowed here"))
    }

    fn object(&self, map: &Map<String, Value>, at: &str) -> Result<Value, TemplateError> {
        let mut out = Map::new();
        for (k, v) in map {
            if let Some(v) = self.resolve(v, &format!("{at}.{k}"))? {
                out.insert(k.clone(), v);
            }
        }
        Ok(Value::Object(out))
    }

    fn function(&self, name: &str, arg: &Value, at: &str) -> Result<Option<Value>, TemplateError> {
        let at = &format!("{at}.{name}");
        match name {
            "Ref" => {
                let target = arg
                    .as_str()
                    .ok_or_else(|| invalid(at, "Ref takes a name"))?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(target, None, at).map(Some)
            }
            "Fn::GetAtt" => {
                let (res, attr) = match arg {
                    Value::Array(parts) if parts.len() == 2 => {
                        (self.string(&parts[0], at)?, self.string(&parts[1], at)?)
                    }
                    Value::String(s) => match s.split_once('.') {
                        Some((a, b)) => (a.to_string(), b.to_string()),
                        None => return Err(invalid(at, "Fn::GetAtt takes Resource.Attribute")),
                    },
                    _ => return Err(invalid(at, "Fn::GetAtt takes [Resource, Attribute]")),
                };
                self.reference(&res, Some(&attr), at).map(Some)
            }
            "Fn::Sub" => self.sub(arg, at).map(|s| Some(Value::String(s))),
            "Fn::If" => {
                let parts = arg
                    .as_array()
                    .filter(|p| p.len() == 3)
                    .ok_or_else(|| invalid(at, "Fn::If takes [Condition, IfTrue, IfFalse]"))?;
                let cond = parts[0]
                    .as_str()
                    .ok_or_else(|| invalid(at, "Fn::If's condition is a name"))?;
                let chosen = if self.condition(cond, at)? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.resolve(chosen, at)
            }
            "Fn::Join" => {
                let parts = arg
                    .as_array()
                    .filter(|p| p.len() == 2)
                    .ok_or_else(|| invalid(at, "Fn::Join takes [Delimiter, [Values]]"))?;
                let delimiter = self.string(&parts[0], at)?;
                let items = self.list(&parts[1], at)?;
                let strings = items
                    .iter()
                    .map(|v| scalar(v).ok_or_else(|| invalid(at, "Fn::Join joins strings")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(Value::String(strings.join(&delimiter))))
            }
            "Fn::Select" => {
                let parts = arg
                    .as_array()
                    .filter(|p| p.len() == 2)
                    .ok_or_else(|| invalid(at, "Fn::Select takes [Index, [Values]]"))?;
                let index: usize = self
                    .string(&parts[0], at)?
                    .parse()
                    .map_err(|_| invalid(at, "Fn::Select's index is a number"))?;
                let items = self.list(&parts[1], at)?;
                items
                    .get(index)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| invalid(at, &format!("Fn::Select: no item {index}")))
            }
            "Fn::Split" => {
                let parts = arg
                    .as_array()
                    .filter(|p| p.len() == 2)
                    .ok_or_else(|| invalid(at, "Fn::Split takes [Delimiter, String]"))?;
                let delimiter = self.string(&parts[0], at)?;
                let s = self.string(&parts[1], at)?;
                Ok(Some(Value::Array(
                    s.split(delimiter.as_str())
                        .map(|p| Value::String(p.into()))
                        .collect(),
                )))
            }
            "Fn::FindInMap" => {
                let parts = arg
                    .as_array()
                    .filter(|p| p.len() == 3)
                    .ok_or_else(|| invalid(at, "Fn::FindInMap takes [Map, Key, Key]"))?;
                let keys = parts
                    .iter()
                    .map(|p| self.string(p, at))
                    .collect::<Result<Vec<_>, _>>()?;
                self.mappings
                    .get(&keys[0])
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]))
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| invalid(at, &format!("no mapping {}", keys.join("."))))
            }
            other => Err(TemplateError::Unsupported {
                what: format!("intrinsic function {other}"),
                at: at.clone(),
            }),
        }
    }

    fn reference(&self, name: &str, attr: Option<&str>, at: &str) -> Result<Value, TemplateError> {
        if attr.is_none() {
            if let Some(v) = self.parameters.get(name) {
                return Ok(v.clone());
            }
            if let Some(v) = self.pseudo.get(name) {
                return Ok(Value::String(v.clone()));
            }
        }
        let key = (name.to_string(), attr.map(str::to_string));
        self.attributes.get(&key).cloned().ok_or_else(|| {
            invalid(
                at,
                &match attr {
                    None => format!("no parameter or resource {name} to Ref"),
                    Some(a) => format!("no attribute {name}.{a} that Lamina knows"),
                },
            )
        })
    }

    fn sub(&self, arg: &Value, at: &str) -> Result<String, TemplateError> {
        let (text, vars) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(parts) if parts.len() == 2 => {
                let text = parts[0]
                    .as_str()
                    .ok_or_else(|| invalid(at, "Fn::Sub's first item is a string"))?;
                let vars = match self.resolve_some(&parts[1], at)? {
                    Value::Object(m) => m,
                    _ => return Err(invalid(at, "Fn::Sub's second item is a map")),
                };
                (text.to_string(), vars)
            }
            _ => return Err(invalid(at, "Fn::Sub takes a string or [String, {Vars}]")),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(at, "Fn::Sub: an unclosed ${"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.get(name) {
                    Some(v) => v.clone(),
                    None => match name.split_once('.') {
                        Some((res, attr)) if !self.pseudo.contains_key(name) => {
                            self.reference(res, Some(attr), at)?
                        }
                        _ => self.reference(name, None, at)?,
                    },
                };
                out.push_str(&scalar(&value).ok_or_else(|| {
                    invalid(at, &format!("Fn::Sub: ${{{name}}} is not a string"))
                })?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of condition `name`.
    pub fn condition(&self, name: &str, at: &str) -> Result<bool, TemplateError> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| invalid(at, &format!("no condition {name}")))
    }

    /// A condition's definition, evaluated (conditions named in it must be evaluated
    /// before).
    pub fn evaluate(&self, def: &Value, at: &str) -> Result<bool, TemplateError> {
        let (name, arg) = match def.as_object() {
            Some(m) if m.len() == 1 => m.iter().next().expect("one entry"),
            _ => return Err(invalid(at, "a condition is one condition function")),
        };
        let items = || {
            arg.as_array()
                .ok_or_else(|| invalid(at, &format!("{name} takes a list")))
        };
        match name.as_str() {
            "Fn::Equals" => {
                let parts = items()?;
                if parts.len() != 2 {
                    return Err(invalid(at, "Fn::Equals takes two values"));
                }
                let a = self.resolve_some(&parts[0], at)?;
                let b = self.resolve_some(&parts[1], at)?;
                Ok(scalar(&a).zip(scalar(&b)).map_or(a == b, |(a, b)| a == b))
            }
            "Fn::Not" => Ok(!self.evaluate(items()?.first().unwrap_or(&Value::Null), at)?),
            "Fn::And" => {
                let mut all = true;
                for c in items()? {
                    all &= self.evaluate(c, at)?;
                }
                Ok(all)
            }
            "Fn::Or" => {
                let mut any = false;
                for c in items()? {
                    any |= self.evaluate(c, at)?;
                }
                Ok(any)
            }
            "Condition" => self.condition(arg.as_str().unwrap_or_default(), at),
            other => Err(TemplateError::Unsupported {
                what: format!("condition function {other}"),
                at: at.to_string(),
            }),
        }
    }

    fn string(&self, v: &Value, at: &str) -> Result<String, TemplateError> {
        scalar(&self.resolve_some(v, at)?).ok_or_else(|| invalid(at, "expected a string"))
    }

    fn list(&self, v: &Value, at: &str) -> Result<Vec<Value>, TemplateError> {
        match self.resolve_some(v, at)? {
            Value::Array(items) => Ok(items),
            _ => Err(invalid(at, "expected a list")),
        }
    }
}

/// A string, number or boolean as the string CloudFormation makes of it.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn invalid(at: &str, message: &str) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut s = Scope::default();
        s.parameters.insert("Stage".into(), json!("prod"));
        s.pseudo.insert("AWS::Region".into(), "us-east-1".into());
        s.attributes.insert(
            ("Queue".into(), Some("Arn".into())),
            json!("arn:aws:sqs:us-east-1:000000000000:q"),
        );
        s.conditions.insert("IsProd".into(), true);
        s
    }

    #[test]
    fn evaluates_what_function_definitions_use() {
        let s = scope();
        let v = json!({
            "A": {"Fn::Sub": "app-${Stage}-${AWS::Region}-${!Literal}"},
            "B": {"Fn::GetAtt": ["Queue", "Arn"]},
            "C": {"Fn::If": ["IsProd", 10, 1]},
            "D": {"Ref": "AWS::NoValue"},
            "E": {"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]},
            "F": {"Fn::Sub": ["${X}.${Queue.Arn}", {"X": "x"}]},
            "G": [{"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 1]}, 2],
        });
        let r = s.resolve_some(&v, "T").unwrap();
        assert_eq!(r["A"], "app-prod-us-east-1-${Literal}");
        assert_eq!(r["B"], "arn:aws:sqs:us-east-1:000000000000:q");
        assert_eq!(r["C"], 10);
        assert!(r.get("D").is_none());
        assert_eq!(r["E"], "a-prod");
        assert_eq!(r["F"], "x.arn:aws:sqs:us-east-1:000000000000:q");
        assert_eq!(r["G"], json!([2]));
    }

    #[test]
    fn names_what_it_cannot_evaluate() {
        let s = scope();
        let e = s
            .resolve(&json!({"Fn::ImportValue": "x"}), "Resources.F")
            .unwrap_err();
        assert!(e.to_string().contains("Fn::ImportValue"), "{e}");
        let e = s.resolve(&json!({"Ref": "Nope"}), "R").unwrap_err();
        assert!(e.to_string().contains("Nope"), "{e}");
    }

    #[test]
    fn conditions() {
        let s = scope();
        assert!(
            s.evaluate(&json!({"Fn::Equals": [{"Ref": "Stage"}, "prod"]}), "C")
                .unwrap()
        );
        assert!(
            !s.evaluate(
                &json!({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "IsProd"}]}]}),
                "C"
            )
            .unwrap()
        );
    }
}
