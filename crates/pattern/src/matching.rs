//! Matching a compiled pattern against an event: objects field by field, arrays element by
//! element, leaves against the operators.

use serde_json::Value;

use crate::{Field, Matcher, Node};

/// Whether `value` (absent when `None`) matches the object `node`.
pub(crate) fn node(node: &Node, value: Option<&Value>) -> bool {
    match value {
        // Objects in arrays are matched one element at a time, so that the fields of one
        // sub-pattern come from the same element.
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().any(|item| self::node(node, Some(item)))
        }
        Some(Value::Object(map)) => fields_and_ors(node, value, |name| map.get(name)),
        // A scalar where the pattern expects an object has none of its fields.
        _ => fields_and_ors(node, value, |_| None),
    }
}

fn fields_and_ors<'v>(
    node: &Node,
    value: Option<&'v Value>,
    get: impl Fn(&str) -> Option<&'v Value>,
) -> bool {
    node.fields.iter().all(|(name, field)| match field {
        Field::Leaf(matchers) => leaf(matchers, get(name)),
        Field::Node(inner) => self::node(inner, get(name)),
    }) && node
        .any_of
        .iter()
        .all(|alternatives| alternatives.iter().any(|alt| self::node(alt, value)))
}

/// Whether a leaf field matches: any of its matchers against any of its values.
fn leaf(matchers: &[Matcher], value: Option<&Value>) -> bool {
    matchers.iter().any(|m| match m {
        Matcher::Exists(wanted) => has_scalar(value) == *wanted,
        _ => any_scalar(value, &|v| scalar(m, v)),
    })
}

/// Whether there is a leaf value here: objects (and arrays holding only objects) are not
/// leaves, as EventBridge's `exists` only sees leaf nodes.
fn has_scalar(value: Option<&Value>) -> bool {
    any_scalar(value, &|_| true)
}

/// Calls `f` on every scalar at this place (arrays flattened, objects skipped) until it
/// returns true.
fn any_scalar(value: Option<&Value>, f: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        None | Some(Value::Object(_)) => false,
        Some(Value::Array(items)) => items.iter().any(|item| any_scalar(Some(item), f)),
        Some(v) => f(v),
    }
}

/// Whether one scalar of the event matches one matcher.
fn scalar(matcher: &Matcher, value: &Value) -> bool {
    match matcher {
        Matcher::Exact(wanted) => wanted == value,
        Matcher::Prefix(affix) => value.as_str().is_some_and(|s| affix.is_prefix_of(s)),
        Matcher::Suffix(affix) => value.as_str().is_some_and(|s| affix.is_suffix_of(s)),
        Matcher::EqualsIgnoreCase(lower) => value
            .as_str()
            .is_some_and(|s| crate::text::eq_ignore_case(s, lower)),
        Matcher::Wildcard(w) => value.as_str().is_some_and(|s| w.matches(s)),
        Matcher::AnythingBut(not) => {
            // String operators under anything-but only ever see strings.
            let strings_only = not.iter().any(|m| !matches!(m, Matcher::Exact(_)));
            (!strings_only || value.is_string()) && !not.iter().any(|m| scalar(m, value))
        }
        Matcher::Numeric(range) => value.as_f64().is_some_and(|n| range.contains(n)),
        Matcher::Cidr(cidr) => value.as_str().is_some_and(|s| cidr.contains(s)),
        // Decided on the whole field in `leaf`; never inside anything-but.
        Matcher::Exists(_) => false,
    }
}
