//! The figures measured in the same run that the server's are judged against: a bare
//! loopback HTTP round trip, the unsandboxed relay with the native echo (the warm path's
//! floor) and with a minimal Node.js runtime loop (Node.js's floor), what a wake-up costs on
//! one core and across two, and a bare process start of each runtime.

use std::time::Duration;

use serde_json::{Value, json};

use crate::http::spawn_baseline;
use crate::probe::bare_http_baseline;
use crate::{relay, wakes};

/// What the baselines are measured with.
pub struct Plan {
    /// Sequential warm invocations.
    pub warm: usize,
    /// Invocations after a pause, and the pause (the paused scenario's).
    pub pause: (usize, Duration),
    /// Seconds of the 8-client throughput.
    pub seconds: f64,
    /// Whether Node.js is measured (and so its floor).
    pub node: bool,
}

/// Every baseline, as the report's `baseline` object.
pub async fn measure(plan: Plan) -> anyhow::Result<Value> {
    let http = bare_http_baseline(plan.warm).await?;
    eprintln!("baselines: the unsandboxed relay...");
    let relay = relay::measure(
        relay::Runner::Native,
        plan.warm,
        plan.pause,
        plan.seconds,
        8,
    )
    .await?;
    // Lamina's Node.js runtime is judged against the least a Node.js runtime can do.
    let relay_node = if plan.node {
        eprintln!("baselines: the relay with a minimal Node.js runtime loop...");
        relay::measure(
            relay::Runner::Node,
            plan.warm,
            (0, Duration::ZERO),
            plan.seconds,
            8,
        )
        .await
        .unwrap_or_else(|e| {
            eprintln!("the relay with Node.js runtimes could not be measured: {e:#}");
            Value::Null
        })
    } else {
        Value::Null
    };
    Ok(json!({
        "http_round_trip": http,
        "relay": relay,
        "relay_node": relay_node,
        "wake_up": wakes::baseline(),
        "spawn_ms": {
            "provided (/bin/true)": spawn_baseline("/bin/true", &[]),
            "python (python3.11 -c pass)": spawn_baseline("/usr/bin/python3.11", &["-c", "pass"]),
            "node (node -e 0)": spawn_baseline("node", &["-e", "0"]),
            "java (java -version, Lambda's flags)": spawn_baseline(
                "java",
                &["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-version"],
            ),
            "ruby (ruby -e 0)": spawn_baseline("ruby", &["-e", "0"]),
        }
    }))
}
