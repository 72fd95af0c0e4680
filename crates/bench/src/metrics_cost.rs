//! What counting costs: two servers side by side, one counting every invocation per version
//! and per minute (the default: `GET /metrics`' series and CloudWatch's history), one with
//! `--metrics off` (per-function totals only). Each runtime's echo is measured on both,
//! warm p50 and 8 clients' throughput, in alternating rounds (on, off, on, off, …) so that
//! the machine's drift falls on both; the medians are reported.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::cluster::{Maker, rate};
use crate::http::pct;
use crate::procfs::{cpu_ms, tree_cpu_between, tree_cpu_each};
use crate::server::start_server;

/// How long each round's new environments are warmed at 8 clients before they are measured.
const WARM_UP_SECONDS: f64 = 0.5;

/// The pause between the warm-up at 8 clients and the sequential warm phase, so that the
/// latter measures what a lone caller gets: the server places a lone invocation's runtime on
/// its own core only once invocations have begun alone for a while (25 ms, `placement.rs`).
const QUIET_BEFORE_WARM: std::time::Duration = std::time::Duration::from_millis(100);

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Warm p50 (µs) of `n` sequential invocations after a warm-up.
async fn warm_p50(addr: SocketAddr, name: &str, n: usize) -> anyhow::Result<f64> {
    let mut samples = crate::probe::warm(addr, name, n).await?;
    samples.sort();
    Ok(pct(&samples, 50.0))
}

/// One of the variants compared: a server (its address and process id) and a function.
pub(crate) struct Variant<'a> {
    pub(crate) label: &'a str,
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
    pub(crate) function: &'a str,
}

/// Gives `function` new environments: a change of its description is a new revision, and
/// the environments of the old one are retired.
async fn renew(addr: SocketAddr, function: &str, round: usize) -> anyhow::Result<()> {
    let client = lamina_client::Client::new(&format!("http://{addr}"));
    let mut changes = lamina_model::function::UpdateFunctionConfigurationRequest::default();
    changes.update.description = Some(format!("bench round {round}"));
    client.update_configuration(function, &changes).await?;
    Ok(())
}

/// Measures each of `variants` `rounds` times, one after the other in each round and each
/// round starting one variant later, so that the machine's drift and the order fall on all of
/// them alike: the warm p50 and 8 clients' throughput of each, and the server process's CPU
/// time per invocation at 8 clients, and its whole process tree's (the server, every
/// sandbox, runtime and extension: what the machine spends per invocation, which decides
/// the throughput of a saturated machine). Each round gives
/// every variant new environments (then
/// warms them at 8 clients, unmeasured): where an environment happens to run and how its
/// memory is laid out make a function faster or slower by several percent for as long as it
/// keeps them, which would otherwise fall on one variant in every round. Each
/// figure is kept per round (`…_each`, in the variants' order within a round's index), so
/// that variants can be compared round by round, and as the median.
pub(crate) async fn alternating_rounds(
    variants: &[Variant<'_>],
    warm: usize,
    seconds: f64,
    rounds: usize,
) -> anyhow::Result<Value> {
    #[derive(Default, Clone)]
    struct Figures {
        p50s: Vec<f64>,
        rates: Vec<f64>,
        server_cpu: Vec<f64>,
        tree_cpu: Vec<f64>,
    }
    let mut figures = vec![Figures::default(); variants.len()];
    for round in 0..rounds {
        for i in (0..variants.len()).map(|i| (i + round) % variants.len()) {
            let (v, f) = (&variants[i], &mut figures[i]);
            renew(v.addr, v.function, round).await?;
            rate(&[v.addr], v.function, 8, WARM_UP_SECONDS).await?;
            tokio::time::sleep(QUIET_BEFORE_WARM).await;
            f.p50s.push(warm_p50(v.addr, v.function, warm).await?);
            let server = cpu_ms(v.pid);
            let tree = tree_cpu_each(v.pid);
            let started = Instant::now();
            let per_second = rate(&[v.addr], v.function, 8, seconds).await?.0;
            let n = (per_second * started.elapsed().as_secs_f64()).max(1.0);
            f.rates.push(per_second);
            f.server_cpu.push((cpu_ms(v.pid) - server) * 1000.0 / n);
            f.tree_cpu
                .push(tree_cpu_between(&tree, &tree_cpu_each(v.pid)) * 1000.0 / n);
        }
    }
    let mut out = json!({});
    for (v, f) in variants.iter().zip(figures) {
        out[v.label] = json!({
            "warm_p50_us": median(f.p50s.clone()),
            "per_second_8": median(f.rates.clone()),
            "server_cpu_us_8": median(f.server_cpu.clone()),
            "tree_cpu_us_8": median(f.tree_cpu.clone()),
            "tree_cpu_us_8_each": f.tree_cpu,
            "warm_p50_us_each": f.p50s,
            "per_second_8_each": f.rates,
            "server_cpu_us_8_each": f.server_cpu,
        });
    }
    Ok(out)
}

/// One server of a side-by-side comparison: its label, the `lamina` binary and its flags.
pub(crate) struct Side<'a> {
    pub(crate) label: &'static str,
    pub(crate) lamina: &'a Path,
    pub(crate) flags: &'a [&'a str],
}

/// Starts one server per side, deploys each runtime's echo on every one of them, and
/// measures them in `rounds` alternating rounds (`what` says what is compared, for the
/// progress line).
pub(crate) async fn side_by_side(
    sides: &[Side<'_>],
    isolation: &str,
    makers: &[Maker<'_>],
    (warm, seconds, rounds): (usize, f64, usize),
    what: &str,
) -> anyhow::Result<Value> {
    let mut servers = Vec::new();
    for side in sides {
        let (server, endpoint, pid) = start_server(side.lamina, isolation, side.flags)?;
        servers.push((side.label, server, endpoint, pid));
    }
    let tag = std::process::id();
    let mut out = json!({"rounds": rounds});
    for (label, make) in makers {
        let name = format!("bench-side-{label}-{tag}");
        let mut variants = Vec::new();
        for (side, _, endpoint, pid) in &servers {
            let client = lamina_client::Client::new(endpoint);
            let _ = client.delete_function(&name).await;
            client.create_function(&make(&name)).await?;
            variants.push(Variant {
                label: side,
                addr: endpoint.trim_start_matches("http://").parse()?,
                pid: *pid,
                function: &name,
            });
        }
        eprintln!("{label}: {what}, {rounds} rounds...");
        out[*label] = alternating_rounds(&variants, warm, seconds, rounds).await?;
    }
    Ok(out)
}

/// Runs `rounds` alternating rounds on a server with metrics and one without.
pub async fn metrics_cost(
    lamina: &Path,
    isolation: &str,
    makers: &[Maker<'_>],
    warm: usize,
    seconds: f64,
    rounds: usize,
) -> anyhow::Result<Value> {
    let side = |label, flags| Side {
        label,
        lamina,
        flags,
    };
    side_by_side(
        &[
            side("on", &["--runtime-pool", "0", "--metrics", "on"]),
            side("off", &["--runtime-pool", "0", "--metrics", "off"]),
        ],
        isolation,
        makers,
        (warm, seconds, rounds),
        "metrics on against off",
    )
    .await
}
