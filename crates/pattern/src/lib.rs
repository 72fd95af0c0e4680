//! EventBridge's event patterns, as rules and event source mappings' `FilterCriteria` take
//! them: a pattern is compiled once ([`Pattern::parse`], which refuses what AWS refuses with
//! a reason) and then matched against events ([`Pattern::matches`]) without IO or
//! allocation on the common paths.
//!
//! The grammar: a pattern is a JSON object whose keys name event fields and whose values
//! are either nested objects (a path into the event) or non-empty arrays of what the field
//! may be (OR). All named fields must match (AND); fields the pattern does not name are
//! ignored. A value in the array is a literal (string, number, `true`, `false`, `null`,
//! compared exactly: `300` is not `300.0`) or one operator object: `prefix`, `suffix` and
//! `equals-ignore-case` (strings; the first two also in an `{"equals-ignore-case": …}`
//! form), `wildcard` (`*` for any run, `\*` and `\\` escapes), `anything-but` (a value, a
//! list of strings or of numbers, or a `prefix`, `suffix`, `equals-ignore-case` or
//! `wildcard` object), `numeric` (one or two comparisons), `exists`, `cidr` (IPv4 and IPv6).
//! `"$or": [{…}, {…}, …]` matches when any of its alternatives does.
//!
//! Arrays in the event: a leaf matches when any element does; objects inside arrays are
//! matched element by element, so two fields of one sub-pattern must be found in the same
//! element (what EventBridge calls array-consistent matching).

mod compile;
mod matching;
mod text;

use serde_json::Value;

pub use compile::MAX_PATTERN_LENGTH;

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: Node,
}

/// Why a pattern is refused, in words close to EventBridge's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct PatternError(pub String);

/// An object of the pattern: fields that must all match, and `$or` groups of which one
/// alternative each must match.
#[derive(Debug, Clone, Default)]
struct Node {
    fields: Vec<(String, Field)>,
    any_of: Vec<Vec<Node>>,
}

#[derive(Debug, Clone)]
enum Field {
    /// The values a leaf may have (any one of them).
    Leaf(Vec<Matcher>),
    /// A nested object.
    Node(Node),
}

#[derive(Debug, Clone)]
enum Matcher {
    /// A literal: a string, a number, `true`, `false` or `null`.
    Exact(Value),
    Prefix(text::Affix),
    Suffix(text::Affix),
    EqualsIgnoreCase(String),
    Wildcard(text::Wildcard),
    /// Matches a present value that none of these match.
    AnythingBut(Vec<Matcher>),
    Numeric(text::Range),
    Exists(bool),
    Cidr(text::Cidr),
}

impl Pattern {
    /// Compiles the JSON text of a pattern.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        compile::parse(text)
    }

    /// Compiles a pattern already parsed as JSON.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        compile::from_value(value)
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        matching::node(&self.root, Some(event))
    }
}
