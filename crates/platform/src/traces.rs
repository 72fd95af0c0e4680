//! Invocations as trace spans: what the platform hands to a [`SpanSink`] (an OTLP exporter,
//! plugged in by the composition root) for each sampled invocation, with the ids of its
//! X-Ray trace header, so that a span joins the trace its caller started.

use std::fmt::Debug;
use std::time::SystemTime;

/// One invocation, seen from the platform: from admission to its end.
#[derive(Debug, Clone)]
pub struct InvocationSpan {
    /// Function name.
    pub function: String,
    /// The version that ran.
    pub version: String,
    /// The ARN the caller invoked.
    pub invoked_arn: String,
    /// The invocation's request id.
    pub request_id: String,
    /// The X-Ray trace id without its dashes and version: 32 hex digits.
    pub trace_id: String,
    /// The invocation's own segment (the header's `Parent`): 16 hex digits.
    pub span_id: String,
    /// The caller's segment, when the caller sent a trace header with one.
    pub parent_span_id: Option<String>,
    /// When the platform took the invocation.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Whether it started an environment, and the Init Duration then.
    pub init_ms: Option<f64>,
    /// Billed duration.
    pub billed_ms: u64,
    /// Configured memory.
    pub memory_mb: u32,
    /// Peak memory.
    pub max_memory_used_mb: u64,
    /// The function's error type, when it failed.
    pub error_type: Option<String>,
}

/// Where sampled invocations' spans go. Must not block: buffer and return.
pub trait SpanSink: Send + Sync + Debug {
    /// Takes one span.
    fn export(&self, span: InvocationSpan);
}

/// A field of an X-Ray trace header.
fn field<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The trace id, span id and sampling decision of the header the invocation ran with:
/// `Root=1-5759e988-bd862e3fe1be46a994272793` is trace `5759e988bd862e3fe1be46a994272793`.
pub(crate) fn ids(header: &str) -> Option<(String, String, bool)> {
    let root = field(header, "Root")?;
    let trace: String = root.strip_prefix("1-")?.split('-').collect();
    let parent = field(header, "Parent")?;
    let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&trace, 32) || !hex(parent, 16) {
        return None;
    }
    Some((
        trace,
        parent.to_string(),
        field(header, "Sampled") == Some("1"),
    ))
}

/// The caller's segment id, from the header it sent.
pub(crate) fn caller_parent(header: Option<&str>) -> Option<String> {
    field(header?, "Parent")
        .filter(|p| p.len() == 16 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_x_ray_header() {
        let h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            ids(h),
            Some((
                "5759e988bd862e3fe1be46a994272793".into(),
                "53995c3f42cd8ad8".into(),
                true
            ))
        );
        let unsampled = h.replace("Sampled=1", "Sampled=0");
        assert_eq!(ids(&unsampled).map(|i| i.2), Some(false));
        assert_eq!(ids("Root=1-xyz;Parent=53995c3f42cd8ad8"), None);
        assert_eq!(ids("Parent=53995c3f42cd8ad8"), None);
        assert_eq!(caller_parent(Some(h)).as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(
            caller_parent(Some("Root=1-5759e988-bd862e3fe1be46a994272793")),
            None
        );
        assert_eq!(caller_parent(None), None);
    }
}
