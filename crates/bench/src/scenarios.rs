//! The scenarios measured beyond warm invocations and throughput: asynchronous events, cold
//! starts and their split, and bursts of first invocations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

use anyhow::bail;

use crate::http::{Conn, EVENT, summary};

/// Decodes the `REPORT` line of a tailed log and returns one of its `Name: N ms` fields.
pub fn report_field(log_result: Option<&http::HeaderValue>, name: &str) -> Option<f64> {
    let log = log_result.and_then(|v| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_bytes())
            .ok()
    })?;
    let log = String::from_utf8_lossy(&log);
    log.lines()
        .find(|l| l.starts_with("REPORT "))?
        .split('\t')
        .find_map(|p| p.strip_prefix(name))?
        .trim()
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// `n` Event invocations of `name` from `clients` keep-alive clients: accepted per second,
/// accept latency, and how fast the server ran them all.
pub async fn async_events(
    addr: SocketAddr,
    client: &lamina_client::Client,
    name: &str,
    n: usize,
    clients: usize,
) -> anyhow::Result<Value> {
    let clients = clients.clamp(1, n.max(1));
    let before = client
        .lamina()
        .status()
        .await?
        .functions
        .iter()
        .find(|f| f.name == name)
        .map_or(0, |f| f.invocations);
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let path = path.clone();
        let count = n / clients + usize::from(c < n % clients);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut samples = Vec::with_capacity(count);
            for _ in 0..count {
                let t = Instant::now();
                let (status, _, body) = conn
                    .request(
                        "POST",
                        &path,
                        Bytes::from_static(EVENT),
                        &[("x-amz-invocation-type", "Event")],
                    )
                    .await?;
                if status != 202 {
                    bail!(
                        "an Event invocation answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut accepts = Vec::with_capacity(n);
    for t in tasks {
        accepts.extend(t.await??);
    }
    let accepted_in = start.elapsed();
    // Every event has run once the function counts them all.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let s = client.lamina().status().await?;
        let ran = s
            .functions
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.invocations)
            - before;
        if ran as usize >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {ran} of {n} events ran within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drained_in = start.elapsed();
    let mut report = summary(accepts);
    report["events"] = json!(n);
    report["clients"] = json!(clients);
    report["accepted_per_second"] = json!(n as f64 / accepted_in.as_secs_f64());
    report["drained_per_second"] = json!(n as f64 / drained_in.as_secs_f64());
    report["drained_in_ms"] = json!(drained_in.as_secs_f64() * 1000.0);
    Ok(report)
}

/// The first invocation of `n` fresh functions made by `create`, one at a time, `pause`
/// apart: client time, Init Duration and its split, Duration, the rest, and what the server
/// had pre-started for each.
pub async fn cold_starts(
    client: &lamina_client::Client,
    addr: SocketAddr,
    create: &impl Fn(&str) -> lamina_model::function::CreateFunctionRequest,
    base: &str,
    n: usize,
    pause: Duration,
) -> anyhow::Result<Value> {
    let mut first = Vec::new();
    let mut init = Vec::new();
    let mut duration = Vec::new();
    let (mut setup, mut runtime_init, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    let mut prestarted = serde_json::Map::new();
    for i in 0..n {
        let cold = format!("{base}-{i}");
        client.create_function(&create(&cold)).await?;
        tokio::time::sleep(pause).await;
        let path = format!("/2015-03-31/functions/{cold}/invocations");
        let mut c = Conn::open(addr).await?;
        let t = Instant::now();
        let (status, headers, _) = c
            .request(
                "POST",
                &path,
                Bytes::from_static(EVENT),
                &[("x-amz-log-type", "Tail")],
            )
            .await?;
        first.push(t.elapsed());
        if status != 200 {
            bail!("cold invocation of {cold} answered {status}");
        }
        let log = headers.get("x-amz-log-result");
        let field = |name: &str| report_field(log, name);
        let ms = |v: f64| Duration::from_secs_f64(v.max(0.0) / 1000.0);
        let (i, d) = (field("Init Duration: "), field("Duration: "));
        init.extend(i.map(ms));
        duration.extend(d.map(ms));
        // "sandbox=0.63; runtime=38.87; prestarted=sandbox": the server's split of Init
        // Duration, and what it had started ahead of time.
        let split = init_split(&headers);
        let part = |k: &str| split.get(k).and_then(|v| v.parse::<f64>().ok()).map(ms);
        setup.extend(part("sandbox"));
        runtime_init.extend(part("runtime"));
        count_prestarted(&mut prestarted, &split);
        if let (Some(i), Some(d)) = (i, d) {
            let client = first
                .last()
                .map(|t| t.as_secs_f64() * 1000.0)
                .unwrap_or(0.0);
            rest.push(ms(client - i - d));
        }
        let _ = client.delete_function(&cold).await;
    }
    Ok(json!({
        "first_invocation": summary(first),
        "init_duration": summary(init),
        "sandbox_setup": summary(setup),
        "runtime_start_and_init": summary(runtime_init),
        "invoke_duration": summary(duration),
        "platform_and_http": summary(rest),
        "prestarted": prestarted,
    }))
}

/// The server's `X-Lamina-Init-Ms` on a cold start ("sandbox=0.63; runtime=38.87;
/// prestarted=sandbox") as key -> value; empty on a warm one.
pub fn init_split(headers: &http::HeaderMap) -> std::collections::HashMap<String, String> {
    headers
        .get("x-lamina-init-ms")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Counts, by kind, what a cold start had pre-started.
pub fn count_prestarted(
    counts: &mut serde_json::Map<String, Value>,
    split: &std::collections::HashMap<String, String>,
) {
    if let Some(ahead) = split.get("prestarted") {
        let count = counts.entry(ahead.clone()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
}

/// What each kind of pre-started environment served, for the table ("10 runtime").
pub fn served(counts: &Value) -> String {
    counts
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .join(", ")
}

/// `n` simultaneous first invocations of the fresh function `name`: time until all answered,
/// environments created (cold starts seen in REPORT lines) and needed.
pub async fn burst(addr: SocketAddr, name: &str, n: usize) -> anyhow::Result<Value> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::open(addr).await?);
    }
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for mut c in conns {
        let (path, start) = (path.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            c.request(
                "POST",
                &path,
                Bytes::from_static(EVENT),
                &[("x-amz-log-type", "Tail")],
            )
            .await
        }));
    }
    start.wait().await;
    let t = Instant::now();
    let (mut created, mut throttled, mut failed) = (0usize, 0usize, 0usize);
    let mut prestarted = serde_json::Map::new();
    for task in tasks {
        let (status, headers, _) = task.await??;
        count_prestarted(&mut prestarted, &init_split(&headers));
        match status {
            200 if headers.contains_key("x-amz-function-error") => failed += 1,
            200 => {
                if report_field(headers.get("x-amz-log-result"), "Init Duration: ").is_some() {
                    created += 1;
                }
            }
            429 => throttled += 1,
            _ => failed += 1,
        }
    }
    Ok(json!({
        "all_answered_ms": t.elapsed().as_secs_f64() * 1000.0,
        "environments_created": created,
        "environments_needed": n - throttled - failed,
                "throttled": throttled,
        "failed": failed,
        "prestarted": prestarted,
    }))
}

/// `rounds - 1` more bursts of `n` after `first` (a burst's result), each of a fresh
/// function made by `create` and deleted after, with `base` in its name: `first`, its
/// `all_answered_ms` now the median of every round, with `rounds_ms` (each round's, in
/// order) and `rounds_created` (the environments each created). Single bursts on a shared
/// machine moved by a fifth between runs.
pub async fn more_bursts(
    client: &lamina_client::Client,
    addr: SocketAddr,
    create: &impl Fn(&str) -> lamina_model::function::CreateFunctionRequest,
    base: &str,
    n: usize,
    rounds: usize,
    mut first: Value,
) -> anyhow::Result<Value> {
    let mut ms = vec![first["all_answered_ms"].as_f64().unwrap_or(0.0)];
    let mut created = vec![first["environments_created"].clone()];
    for round in 1..rounds {
        let fresh = format!("{base}-{round}");
        client.create_function(&create(&fresh)).await?;
        // The sandbox pool refills between rounds, as before the first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let b = burst(addr, &fresh, n).await?;
        ms.push(b["all_answered_ms"].as_f64().unwrap_or(0.0));
        created.push(b["environments_created"].clone());
        let _ = client.delete_function(&fresh).await;
    }
    if rounds > 1 {
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        first["all_answered_ms"] = json!(sorted[sorted.len() / 2]);
        first["rounds_ms"] = json!(ms);
        first["rounds_created"] = json!(created);
    }
    Ok(first)
}
