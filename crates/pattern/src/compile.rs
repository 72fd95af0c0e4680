//! From a pattern's JSON to its compiled form, refusing what EventBridge refuses.

use serde_json::{Map, Value};

use crate::text::{Affix, Cidr, Range, Wildcard};
use crate::{Field, Matcher, Node, Pattern, PatternError};

/// The longest pattern AWS accepts (EventBridge's `EventPattern`, Lambda's filter
/// `Pattern`), in characters. Callers check it: it is a limit of the API member, refused
/// as a validation error rather than as an invalid pattern.
pub const MAX_PATTERN_LENGTH: usize = 4096;

/// Names that cannot be fields inside `$or` alternatives (EventBridge then reads `$or` as
/// an ordinary field name).
const OPERATORS: &[&str] = &[
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
];

fn refuse<T>(why: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(why.into()))
}

pub(crate) fn parse(text: &str) -> Result<Pattern, PatternError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| PatternError(format!("Filter is not valid JSON: {e}")))?;
    from_value(&value)
}

pub(crate) fn from_value(value: &Value) -> Result<Pattern, PatternError> {
    match value {
        Value::Object(map) => Ok(Pattern { root: node(map)? }),
        _ => refuse("Filter is not an object"),
    }
}

fn node(map: &Map<String, Value>) -> Result<Node, PatternError> {
    if map.is_empty() {
        return refuse("Empty objects are not allowed");
    }
    let mut compiled = Node::default();
    for (name, value) in map {
        if name == "$or"
            && let Some(alternatives) = or_alternatives(value)
        {
            compiled.any_of.push(
                alternatives
                    .into_iter()
                    .map(node)
                    .collect::<Result<_, _>>()?,
            );
            continue;
        }
        let field = match value {
            Value::Object(inner) => Field::Node(node(inner)?),
            Value::Array(values) => Field::Leaf(leaf(name, values)?),
            _ => {
                return refuse(format!("\"{name}\" must be an object or an array"));
            }
        };
        compiled.fields.push((name.clone(), field));
    }
    Ok(compiled)
}

/// `$or` is the OR of its alternatives when it holds two or more objects that use no
/// operator name as a field; otherwise it is an ordinary field, as in EventBridge.
fn or_alternatives(value: &Value) -> Option<Vec<&Map<String, Value>>> {
    let items = value.as_array()?;
    if items.len() < 2 {
        return None;
    }
    items
        .iter()
        .map(|item| {
            item.as_object()
                .filter(|map| !map.keys().any(|k| OPERATORS.contains(&k.as_str())))
        })
        .collect()
}

fn leaf(name: &str, values: &[Value]) -> Result<Vec<Matcher>, PatternError> {
    if values.is_empty() {
        return refuse(format!("Empty arrays are not allowed (\"{name}\")"));
    }
    values.iter().map(matcher).collect()
}

fn matcher(value: &Value) -> Result<Matcher, PatternError> {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(_) => return refuse("Arrays are not allowed within a match array"),
        scalar => return Ok(Matcher::Exact(scalar.clone())),
    };
    let mut entries = map.iter();
    let (Some((operator, operand)), None) = (entries.next(), entries.next()) else {
        return refuse("A match expression must have exactly one key");
    };
    match operator.as_str() {
        "prefix" => affix(operator, operand).map(Matcher::Prefix),
        "suffix" => affix(operator, operand).map(Matcher::Suffix),
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(
            string(operator, operand)?.to_lowercase(),
        )),
        "wildcard" => Wildcard::parse(string(operator, operand)?)
            .map(Matcher::Wildcard)
            .map_err(PatternError),
        "anything-but" => anything_but(operand).map(Matcher::AnythingBut),
        "numeric" => numeric(operand).map(Matcher::Numeric),
        "exists" => match operand {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => refuse("exists match pattern must be either true or false."),
        },
        "cidr" => Cidr::parse(string(operator, operand)?)
            .map(Matcher::Cidr)
            .map_err(PatternError),
        other => refuse(format!("Unrecognized match type {other}")),
    }
}

fn string<'v>(operator: &str, operand: &'v Value) -> Result<&'v str, PatternError> {
    operand
        .as_str()
        .ok_or_else(|| PatternError(format!("{operator} match pattern must be a string")))
}

/// `"prefix": "x"` or `"prefix": {"equals-ignore-case": "x"}` (and the same for suffix).
fn affix(operator: &str, operand: &Value) -> Result<Affix, PatternError> {
    if let Some(s) = operand.as_str() {
        return Ok(Affix::new(s, false));
    }
    if let Some(map) = operand.as_object()
        && map.len() == 1
        && let Some(s) = map.get("equals-ignore-case").and_then(Value::as_str)
    {
        return Ok(Affix::new(s, true));
    }
    refuse(format!(
        "{operator} match pattern must be a string or an equals-ignore-case object"
    ))
}

fn anything_but(operand: &Value) -> Result<Vec<Matcher>, PatternError> {
    match operand {
        Value::String(_) | Value::Number(_) => Ok(vec![Matcher::Exact(operand.clone())]),
        Value::Array(values) => {
            let strings = values.iter().all(Value::is_string);
            let numbers = values.iter().all(Value::is_number);
            if values.is_empty() || !(strings || numbers) {
                return refuse(
                    "Inside anything but list, start|null|boolean is not supported: the list \
                     holds strings only or numbers only",
                );
            }
            Ok(values.iter().cloned().map(Matcher::Exact).collect())
        }
        Value::Object(map) => {
            let mut entries = map.iter();
            let (Some((operator, inner)), None) = (entries.next(), entries.next()) else {
                return refuse(
                    "anything-but takes one of prefix, suffix, equals-ignore-case or wildcard",
                );
            };
            if !["prefix", "suffix", "equals-ignore-case", "wildcard"].contains(&operator.as_str())
            {
                return refuse(format!("Unsupported anything-but pattern: {operator}"));
            }
            let texts: Vec<&str> = match inner {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        PatternError(format!("anything-but {operator} takes strings"))
                    })?,
                _ => {
                    return refuse(format!(
                        "anything-but {operator} takes a string or a list of strings"
                    ));
                }
            };
            texts
                .into_iter()
                .map(|text| match operator.as_str() {
                    "prefix" => Ok(Matcher::Prefix(Affix::new(text, false))),
                    "suffix" => Ok(Matcher::Suffix(Affix::new(text, false))),
                    "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(text.to_lowercase())),
                    "wildcard" => Wildcard::parse(text)
                        .map(Matcher::Wildcard)
                        .map_err(PatternError),
                    other => refuse(format!("Unsupported anything-but pattern: {other}")),
                })
                .collect()
        }
        _ => refuse("anything-but takes a string, a number, a list or an object"),
    }
}

/// `["=", n]`, `[op, n]`, or a lower bound then an upper one: `[">", 0, "<=", 5]`.
fn numeric(operand: &Value) -> Result<Range, PatternError> {
    let bad =
        || PatternError("Value of numeric must be an array of comparisons and numbers".into());
    let items = operand.as_array().ok_or_else(bad)?;
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(bad());
    }
    let mut range = Range::default();
    for pair in items.chunks(2) {
        let op = pair[0].as_str().ok_or_else(bad)?;
        let n = pair[1]
            .as_f64()
            .ok_or_else(|| PatternError(format!("Value of {op} must be numeric")))?;
        let slot = match op {
            ">" | ">=" => &mut range.lower,
            "<" | "<=" => &mut range.upper,
            "=" if items.len() == 2 => {
                range.lower = Some((n, true));
                range.upper = Some((n, true));
                continue;
            }
            _ => return refuse(format!("Unrecognized numeric range operator: {op}")),
        };
        if slot.is_some() {
            return refuse("Bad numeric range definition: one lower and one upper bound at most");
        }
        *slot = Some((n, op.len() == 2));
    }
    if let (Some((lo, _)), Some((hi, _))) = (range.lower, range.upper)
        && lo > hi
    {
        return refuse("Bad numeric range definition: the lower bound is above the upper one");
    }
    Ok(range)
}
