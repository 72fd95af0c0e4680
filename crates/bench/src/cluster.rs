//! Cluster mode's figures (`--database URL`): the same echoes on one node of a cluster
//! (warm, throughput at 8 clients, asynchronous accepts), to read against the embedded
//! node's of the same run, then on three nodes sharing the database, 8 clients spread over
//! them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lamina_model::function::CreateFunctionRequest;
use serde_json::{Value, json};

use crate::http::{Conn, pct, summary};
use crate::scenarios::async_events;
use crate::server::start_server;

/// A runtime's echo: its label, and how to make a function of it.
pub type Maker<'a> = (&'a str, Box<dyn Fn(&str) -> CreateFunctionRequest + 'a>);

/// Invocations per second and p99 (µs) of `clients` closed-loop clients, spread over
/// `nodes`, for `seconds`.
pub async fn rate(
    nodes: &[SocketAddr],
    name: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(f64, f64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (addr, name) = (nodes[c % nodes.len()], name.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                samples.push(conn.invoke(&name).await?);
            }
            anyhow::Ok(samples)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let per_second = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    Ok((per_second, pct(&all, 99.0)))
}

/// Runs the cluster scenarios on nodes of `lamina` against `database`.
#[allow(clippy::too_many_arguments)]
pub async fn cluster(
    lamina: &Path,
    isolation: &str,
    database: &str,
    makers: &[Maker<'_>],
    warm: usize,
    seconds: f64,
    async_n: usize,
    async_clients: usize,
) -> anyhow::Result<Value> {
    let flags = ["--database", database, "--runtime-pool", "0"];
    let (_first, endpoint, _) = start_server(lamina, isolation, &flags)?;
    let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
    let client = lamina_client::Client::new(&endpoint);
    let tag = std::process::id();
    let mut out = json!({});
    for (label, make) in makers {
        let name = format!("bench-cluster-{label}-{tag}");
        let _ = client.delete_function(&name).await;
        client.create_function(&make(&name)).await?;
        eprintln!("{label}: one cluster node, warm...");
        let samples = crate::probe::warm(addr, &name, warm).await?;
        eprintln!("{label}: one cluster node, throughput...");
        let (per_second, p99) = rate(&[addr], &name, 8, seconds).await?;
        let asynchronous = if async_n > 0 {
            eprintln!("{label}: one cluster node, asynchronous...");
            async_events(addr, &client, &name, async_n, async_clients).await?
        } else {
            Value::Null
        };
        out[*label] = json!({
            "warm": summary(samples),
            "throughput_8": {"per_second": per_second, "p99_us": p99},
            "async": asynchronous,
        });
    }
    eprintln!("three cluster nodes...");
    let (_second, e2, _) = start_server(lamina, isolation, &flags)?;
    let (_third, e3, _) = start_server(lamina, isolation, &flags)?;
    let nodes: Vec<SocketAddr> = [endpoint.as_str(), e2.as_str(), e3.as_str()]
        .iter()
        .map(|e| e.trim_start_matches("http://").parse())
        .collect::<Result<_, _>>()?;
    for (label, _) in makers {
        let name = format!("bench-cluster-{label}-{tag}");
        // Each node warms its own environments first.
        for n in &nodes {
            let mut conn = Conn::open(*n).await?;
            for _ in 0..20 {
                conn.invoke(&name).await?;
            }
        }
        let (per_second, p99) = rate(&nodes, &name, 8, seconds).await?;
        out[*label]["three_nodes_throughput_8"] = json!({"per_second": per_second, "p99_us": p99});
        let _ = client.delete_function(&name).await;
    }
    Ok(out)
}
