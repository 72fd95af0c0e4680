//! Invocations after a pause, two ways:
//! - after a pause: of a function left without any for `--pause-ms`, on a server with its
//!   default freezing policy (the environment its next invocation takes is kept thawed while
//!   it uses no CPU), against the same environment's warm p50 and the relay's after the same
//!   pause: what a user gets;
//! - thawed: on the main server, which freezes every idle environment quickly, each after a
//!   pause past its freeze delay: what a thaw costs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::Maker;
use crate::http::summary;
use crate::probe;
use crate::server::start_server;

/// Each of `makers`' echo, warm (`warm` invocations) then `n` times after `pause`.
pub async fn measure(
    lamina: &Path,
    isolation: &str,
    makers: &[Maker<'_>],
    warm: usize,
    (n, pause): (usize, Duration),
) -> anyhow::Result<Value> {
    let (_server, endpoint, _) = start_server(lamina, isolation, &["--runtime-pool", "0"])?;
    let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
    let client = lamina_client::Client::new(&endpoint);
    let tag = std::process::id();
    let mut out = json!({"pause_ms": pause.as_millis() as u64});
    for (label, make) in makers {
        let name = format!("bench-paused-{label}-{tag}");
        client.create_function(&make(&name)).await?;
        eprintln!("{label}: after pauses of {} ms...", pause.as_millis());
        let warm = probe::warm(addr, &name, warm).await?;
        let before = client.lamina().status().await?;
        let paused = probe::paused(addr, &name, (n, pause)).await?;
        let after = client.lamina().status().await?;
        out[*label] = json!({
            "warm": summary(warm),
            "paused": summary(paused),
            "thaws": after.thaws - before.thaws,
            "freezes": after.freezes - before.freezes,
        });
    }
    Ok(out)
}

/// `n` invocations of `function` on the main server (which keeps no environment thawed),
/// each after `pause`, well past its freeze delay: what a thaw costs the caller, and the
/// server's own measure of each thaw.
pub async fn thawed(
    addr: SocketAddr,
    client: &lamina_client::Client,
    function: &str,
    (n, pause): (usize, Duration),
) -> anyhow::Result<Value> {
    let before = client.lamina().status().await?;
    let samples = probe::paused(addr, function, (n, pause)).await?;
    let after = client.lamina().status().await?;
    let count = after.thaws - before.thaws;
    let server_thaw_us = if count > 0 {
        (after.thaw_mean_us * after.thaws as f64 - before.thaw_mean_us * before.thaws as f64)
            / count as f64
    } else {
        0.0
    };
    Ok(json!({
        "client": summary(samples),
        "thaws": count,
        "server_thaw_mean_us": server_thaw_us,
        "server_thaw_max_us": after.thaw_max_us,
    }))
}
