//! What counting costs: two servers side by side, one counting every invocation per version
//! and per minute (the default: `GET /metrics`' series and CloudWatch's history), one with
//! `--metrics off` (per-function totals only). Each runtime's echo is measured on both,
//! warm p50 and 8 clients' throughput, in alternating rounds (on, off, on, off, …) so that
//! the machine's drift falls on both; the medians are reported.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};

use crate::cluster::{Maker, rate};
use crate::http::{Conn, pct};
use crate::server::start_server;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Warm p50 (µs) of `n` sequential invocations after a warm-up.
async fn warm_p50(addr: SocketAddr, name: &str, n: usize) -> anyhow::Result<f64> {
    let mut conn = Conn::open(addr).await?;
    for _ in 0..n / 10 + 1 {
        conn.invoke(name).await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push(conn.invoke(name).await?);
    }
    samples.sort();
    Ok(pct(&samples, 50.0))
}

/// Measures each of `variants` (a server and a function) `rounds` times, one after the
/// other in each round, so that the machine's drift falls on all of them: the warm p50 and
/// 8 clients' throughput of each, with their medians, under its label.
pub(crate) async fn alternating_rounds(
    variants: &[(&str, SocketAddr, &str)],
    warm: usize,
    seconds: f64,
    rounds: usize,
) -> anyhow::Result<Value> {
    let mut figures: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, addr, name)) in variants.iter().enumerate() {
            figures[i].0.push(warm_p50(*addr, name, warm).await?);
            figures[i].1.push(rate(&[*addr], name, 8, seconds).await?.0);
        }
    }
    let mut out = json!({});
    for ((label, _, _), (p50s, rates)) in variants.iter().zip(figures) {
        out[*label] = json!({
            "warm_p50_us": median(p50s.clone()),
            "per_second_8": median(rates.clone()),
            "warm_p50_us_each": p50s,
            "per_second_8_each": rates,
        });
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
    let flags = |metrics: &'static str| ["--runtime-pool", "0", "--metrics", metrics];
    let (_on, on, _) = start_server(lamina, isolation, &flags("on"))?;
    let (_off, off, _) = start_server(lamina, isolation, &flags("off"))?;
    let servers: Vec<(&str, SocketAddr)> = vec![
        ("on", on.trim_start_matches("http://").parse()?),
        ("off", off.trim_start_matches("http://").parse()?),
    ];
    let tag = std::process::id();
    let mut out = json!({"rounds": rounds});
    for (label, make) in makers {
        let name = format!("bench-metrics-{label}-{tag}");
        for endpoint in [&on, &off] {
            let client = lamina_client::Client::new(endpoint);
            let _ = client.delete_function(&name).await;
            client.create_function(&make(&name)).await?;
        }
        eprintln!("{label}: metrics on against off, {rounds} rounds...");
        let variants: Vec<(&str, SocketAddr, &str)> = servers
            .iter()
            .map(|(which, addr)| (*which, *addr, name.as_str()))
            .collect();
        out[*label] = alternating_rounds(&variants, warm, seconds, rounds).await?;
    }
    Ok(out)
}
