//! The event-pattern engine's speed, in process: 1,000 rules of EventBridge's usual shapes
//! (exact sources and detail types, prefixes, numeric ranges, anything-but, wildcards,
//! `$or`) matched against events, as a bus does for each `PutEvents` entry.

use std::time::Instant;

use lamina_pattern::Pattern;
use serde_json::{Value, json};

/// The rules: every tenth one matches the bench's events.
fn rules(count: usize) -> Vec<Pattern> {
    (0..count)
        .map(|i| {
            let source = if i % 10 == 0 { "bench.orders".to_string() } else { format!("app.{i}") };
            let pattern = match i % 5 {
                0 => json!({"source": [source], "detail-type": ["Order Placed"]}),
                1 => json!({"source": [source], "detail": {"amount": [{"numeric": [">", i, "<=", 10_000]}]}}),
                2 => json!({"source": [{"prefix": source}], "detail": {"state": [{"anything-but": ["cancelled", "failed"]}]}}),
                3 => json!({"source": [source], "detail": {"sku": [{"wildcard": format!("SKU-{i}*-X")}]}}),
                _ => json!({"source": [source], "$or": [{"detail": {"region": ["eu-west-1"]}}, {"detail": {"priority": [{"exists": true}]}}]}),
            };
            Pattern::from_value(&pattern).expect("the bench's patterns are valid")
        })
        .collect()
}

fn event(n: usize) -> Value {
    json!({
        "version": "0",
        "id": format!("00000000-0000-0000-0000-{n:012}"),
        "detail-type": "Order Placed",
        "source": "bench.orders",
        "account": "000000000000",
        "time": "2026-12-04T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"amount": 120 + n % 50, "state": "placed", "sku": format!("SKU-{n}-X"), "region": "eu-west-1",
                   "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}
    })
}

/// Microseconds to match one event against 1,000 rules (median of rounds), the rules
/// evaluated per second, and how many matched (a check that the work was done).
pub fn pattern_matching() -> Value {
    let rules = rules(1000);
    let events: Vec<Value> = (0..64).map(event).collect();
    let rounds = 15;
    let mut per_event_us = Vec::with_capacity(rounds);
    let mut matched = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        matched = 0;
        for e in &events {
            matched += rules.iter().filter(|r| r.matches(e)).count();
        }
        per_event_us.push(t.elapsed().as_secs_f64() * 1e6 / events.len() as f64);
    }
    per_event_us.sort_by(f64::total_cmp);
    let p50 = per_event_us[rounds / 2];
    json!({
        "rules": rules.len(),
        "per_event_us_p50": p50,
        "rule_matches_per_s": rules.len() as f64 * 1e6 / p50,
        "matched_per_event": matched as f64 / events.len() as f64,
    })
}
