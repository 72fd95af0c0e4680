//! `lamina bench`: measures a Lamina server the way the project judges itself. Starts a
//! server (or targets `--endpoint`), deploys echo functions for the native (`provided`),
//! Python and Node.js runtimes, and runs scenarios with a closed-loop, keep-alive client
//! written in Rust, outside the server's process:
//! - warm: sequential warm invocations, p50/p99/p99.9 per runtime;
//! - throughput: 2, 4 and 8 concurrent clients for a fixed time, invocations/s, p99, and the
//!   server's CPU time (its environments included) per 1,000 invocations;
//! - cold: the first invocation of a fresh function, broken down into sandbox set-up and
//!   runtime start and init (the server's `X-Lamina-Init-Ms` split of Init Duration), invoke
//!   (Duration in the REPORT line), and the rest (platform and HTTP);
//! - burst: N simultaneous first invocations of a fresh function: time until all answered,
//!   environments created (cold starts seen in the REPORT lines) against those needed;
//! - density: after the first burst, the PSS of each idle environment (its sandbox processes
//!   included), the server's own PSS, and the idle CPU of the whole process tree;
//! - thawed: invocations of an environment left idle long enough to be frozen, against warm
//!   ones, and the server's own measure of each thaw;
//! - asynchronous: `--async-events` Event invocations from `--async-clients` clients: accepted per second
//!   (each durably queued before its 202), accept p50/p99, and the drain rate until every
//!   event has run;
//! - started ahead: on a second server keeping `--prestart` runtimes and sandboxes ready, the
//!   cold start and a burst of that size again (the main server pre-starts no runtime);
//! - under a scaling rate: on a third server allowing `--rated-scale` new environments per
//!   function per 10 s, a burst of `--rated-burst`: time until all are answered, environments
//!   created against the burst's size (returning environments serve the rest), throttles;
//! - baselines measured in the same run: a bare loopback HTTP round trip with the same
//!   client, and a bare process start of each runtime.
//!
//! Prints a table and, with `--json FILE`, writes every figure.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use lamina_executor::launcher::process_tree;

use super::Endpoint;

/// Flags of `lamina bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Measured sequential warm invocations per runtime (after 10% discarded).
    #[arg(long, default_value_t = 2000)]
    warm: usize,
    /// Seconds each throughput level runs.
    #[arg(long, default_value_t = 5.0)]
    throughput_seconds: f64,
    /// Fresh functions per runtime for the cold-start scenario.
    #[arg(long, default_value_t = 10)]
    cold: usize,
    /// Simultaneous first invocations of a fresh function, one burst per size.
    #[arg(long, value_delimiter = ',', default_value = "8,32,64")]
    burst: Vec<usize>,
    /// Runtimes to measure (provided, python, node).
    #[arg(long, value_delimiter = ',', default_value = "provided,python,node")]
    runtimes: Vec<String>,
    /// Write every figure to this file as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Isolation of the server the bench starts (ignored with --endpoint).
    #[arg(long, default_value = "auto")]
    isolation: String,
    /// Measure an already running server instead of starting one.
    #[arg(long)]
    endpoint: Option<String>,
    /// Runtimes (and sandboxes) a second server keeps started ahead of time, for the cold
    /// and burst scenarios with pre-started runtimes; also that burst's size. 0 skips them.
    #[arg(long, default_value_t = 8)]
    prestart: usize,
    /// Invocations of a frozen environment per runtime (each after an idle pause).
    #[arg(long, default_value_t = 20)]
    thaw: usize,
    /// New environments per function per 10 s allowed by the server of the rate-limited
    /// burst; 0 skips that scenario.
    #[arg(long, default_value_t = 8)]
    rated_scale: u32,
    /// Size of the rate-limited burst.
    #[arg(long, default_value_t = 32)]
    rated_burst: usize,
    /// Asynchronous (Event) invocations per runtime; 0 skips that scenario.
    #[arg(long, default_value_t = 20_000)]
    async_events: usize,
    /// Concurrent clients sending them (each waits for its 202 before the next).
    #[arg(long, default_value_t = 64)]
    async_clients: usize,
}

/// The main server freezes environments idle this long (ms).
const FREEZE_AFTER_MS: u64 = 50;

const EVENT: &[u8] = br#"{"hello":"world","n":42}"#;

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, http::HeaderMap, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.sender.ready().await?;
        let resp = self.sender.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }

    async fn invoke(&mut self, function: &str) -> anyhow::Result<Duration> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        let t = Instant::now();
        let (status, _, body) = self
            .request("POST", &path, Bytes::from_static(EVENT), &[])
            .await?;
        let took = t.elapsed();
        if status != 200 || body.as_ref() != EVENT && !body.starts_with(b"{\"hello\"") {
            bail!(
                "invocation of {function} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(took)
    }
}

/// Percentile of sorted durations, in microseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    json!({
        "n": samples.len(),
        "p50_us": pct(&samples, 50.0),
        "p99_us": pct(&samples, 99.0),
        "p999_us": pct(&samples, 99.9),
    })
}

/// A server the bench started, stopped when dropped.
struct OwnServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn start_server(isolation: &str, extra: &[&str]) -> anyhow::Result<(OwnServer, String, u32)> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--isolation",
            isolation,
            "--data-dir",
        ])
        .arg(dir.path())
        .args(extra)
        .env("LAMINA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting lamina serve")?;
    let stderr = child.stderr.take().context("server stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut endpoint = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(addr) = line.split("listening on ").nth(1) {
            endpoint = Some(addr.trim().to_string());
        }
        if line.starts_with("  isolation:") {
            eprintln!(
                "server{}",
                line.trim_start().trim_start_matches("isolation")
            );
        }
        if line.starts_with("  region ") {
            break;
        }
    }
    // Keep draining the server's output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();
    let endpoint = endpoint.context("the server did not say where it listens")?;
    Ok((OwnServer { child, _dir: dir }, endpoint, pid))
}

/// One echo function to deploy: the same handler in each runtime, so that the
/// figures compare runtimes and not handlers.
struct Echo {
    label: &'static str,
    runtime: &'static str,
    handler: &'static str,
    package: Vec<u8>,
}

fn echo_packages(runtimes: &[String]) -> anyhow::Result<Vec<Echo>> {
    let zip = |files: &[(&str, &[u8], u32)]| -> anyhow::Result<Vec<u8>> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data, mode) in files {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            w.start_file(*name, options)?;
            w.write_all(data)?;
        }
        Ok(w.finish()?.into_inner())
    };
    let mut out = Vec::new();
    for runtime in runtimes {
        match runtime.as_str() {
            "provided" => {
                let me = std::fs::read(std::env::current_exe()?)?;
                out.push(Echo {
                    label: "provided",
                    runtime: "provided.al2023",
                    handler: "bootstrap",
                    package: zip(&[("bootstrap", &me, 0o755)])?,
                });
            }
            "python" => out.push(Echo {
                label: "python",
                runtime: "python3.11",
                handler: "app.handler",
                package: zip(&[(
                    "app.py",
                    b"def handler(event, context):\n    return event\n",
                    0o644,
                )])?,
            }),
            "node" => out.push(Echo {
                label: "node",
                runtime: "nodejs20.x",
                handler: "index.handler",
                package: zip(&[(
                    "index.mjs",
                    b"export const handler = async (event) => event;\n",
                    0o644,
                )])?,
            }),
            other => bail!("unknown runtime {other:?}: choose among provided, python, node"),
        }
    }
    Ok(out)
}

/// Proportional set size of one process, in KiB (0 when it cannot be read).
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Proportional set size of a process tree, in KiB.
fn tree_pss_kib(root: u32) -> u64 {
    process_tree(root).into_iter().map(pss_kib).sum()
}

/// Decodes the `REPORT` line of a tailed log and returns one of its `Name: N ms` fields.
fn report_field(log_result: Option<&http::HeaderValue>, name: &str) -> Option<f64> {
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

/// CPU time (ms) of a process and all its descendants, including reaped children.
fn tree_cpu_ms(root: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for pid in process_tree(root) {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let fields: Vec<&str> = stat
                .rsplit_once(") ")
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let get = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            // utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name).
            total += (get(11) + get(12) + get(13) + get(14)) * 1000.0 / tick;
        }
    }
    total
}

async fn bare_http_baseline(n: usize) -> anyhow::Result<Value> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(body)))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let mut conn = Conn::open(addr).await?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        conn.request("POST", "/", Bytes::from_static(EVENT), &[])
            .await?;
        if i >= n / 10 {
            samples.push(t.elapsed());
        }
    }
    Ok(summary(samples))
}

fn spawn_baseline(program: &str, args: &[&str]) -> Option<f64> {
    let mut samples = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let ok = Command::new(program)
            .args(args)
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !ok.success() {
            return None;
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    Some(samples[samples.len() / 2].as_secs_f64() * 1000.0)
}

/// Runs the bench.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The main server pre-starts no runtime, so that cold starts and bursts measure a
    // runtime's whole start; a second server measures them with runtimes started ahead.
    let (server, endpoint, server_pid) = match &args.endpoint {
        Some(e) => (None, e.clone(), None),
        None => {
            let freeze = FREEZE_AFTER_MS.to_string();
            let (s, e, pid) = start_server(
                &args.isolation,
                &["--runtime-pool", "0", "--freeze-after-ms", &freeze],
            )?;
            (Some(s), e, Some(pid))
        }
    };
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("the endpoint must be http://IP:PORT, got {endpoint}"))?;
    let client = Endpoint {
        endpoint: endpoint.clone(),
    }
    .client();
    let tag = std::process::id();
    let mut report = json!({
        "endpoint": endpoint,
        "runtimes": {},
        "server_pss_kib_at_start": server_pid.map(pss_kib),
    });

    eprintln!("baselines...");
    let http = bare_http_baseline(args.warm.max(100)).await?;
    report["baseline"] = json!({
        "http_round_trip": http,
        "spawn_ms": {
            "provided (/bin/true)": spawn_baseline("/bin/true", &[]),
            "python (python3.11 -c pass)": spawn_baseline("/usr/bin/python3.11", &["-c", "pass"]),
            "node (node -e 0)": spawn_baseline("node", &["-e", "0"]),
        }
    });

    // Encoded once: the native package is the whole binary, deployed many times.
    let echoes: Vec<(Echo, String)> = echo_packages(&args.runtimes)?
        .into_iter()
        .map(|e| {
            let zip = base64::engine::general_purpose::STANDARD.encode(&e.package);
            (e, zip)
        })
        .collect();
    let creator = |echo: &Echo, zip_file: &str| {
        let (runtime, handler, zip_file) = (echo.runtime, echo.handler, zip_file.to_string());
        move |name: &str| {
            json!({"FunctionName": name, "Runtime": runtime, "Handler": handler,
                   "Role": "arn:aws:iam::000000000000:role/bench", "Timeout": 30,
                   "Code": {"ZipFile": zip_file}})
        }
    };
    for (echo, zip_file) in &echoes {
        let (label, runtime) = (echo.label, echo.runtime);
        let name = format!("bench-{label}-{tag}");
        let create = creator(echo, zip_file);
        let _ = client.delete_function(&name).await;
        client
            .create_function(&create(&name))
            .await
            .with_context(|| format!("deploying {name}"))?;

        eprintln!("{label}: warm...");
        let mut conn = Conn::open(addr).await?;
        for _ in 0..args.warm / 10 + 1 {
            conn.invoke(&name).await?;
        }
        let mut warm = Vec::with_capacity(args.warm);
        for _ in 0..args.warm {
            warm.push(conn.invoke(&name).await?);
        }

        eprintln!("{label}: thawed...");
        let thaws_before = client.status().await?;
        let mut thawed = Vec::with_capacity(args.thaw);
        for _ in 0..args.thaw {
            // Well past the freeze delay, so the environment is surely frozen.
            tokio::time::sleep(Duration::from_millis(FREEZE_AFTER_MS * 3)).await;
            thawed.push(conn.invoke(&name).await?);
        }
        let thaws_after = client.status().await?;
        let thaw_count = thaws_after.thaws - thaws_before.thaws;
        let server_thaw_us = if thaw_count > 0 {
            (thaws_after.thaw_mean_us * thaws_after.thaws as f64
                - thaws_before.thaw_mean_us * thaws_before.thaws as f64)
                / thaw_count as f64
        } else {
            0.0
        };

        let asynchronous = if args.async_events > 0 {
            eprintln!("{label}: asynchronous...");
            async_events(addr, &client, &name, args.async_events, args.async_clients).await?
        } else {
            Value::Null
        };

        eprintln!("{label}: throughput...");
        let mut throughput = serde_json::Map::new();
        for clients in [2usize, 4, 8] {
            let cpu_before = server_pid.map(tree_cpu_ms);
            let deadline = Instant::now() + Duration::from_secs_f64(args.throughput_seconds);
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let name = name.clone();
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
            let elapsed = started.elapsed().as_secs_f64();
            let cpu = cpu_before
                .zip(server_pid.map(tree_cpu_ms))
                .map(|(a, b)| b - a);
            let n = all.len();
            all.sort();
            throughput.insert(
                clients.to_string(),
                json!({
                    "invocations": n,
                    "per_second": n as f64 / elapsed,
                    "p99_us": pct(&all, 99.0),
                    "cpu_ms_per_1000": cpu.map(|c| c * 1000.0 / n.max(1) as f64),
                }),
            );
        }

        eprintln!("{label}: cold...");
        let cold = cold_starts(
            &client,
            addr,
            &create,
            &format!("{name}-cold"),
            args.cold,
            Duration::ZERO,
        )
        .await?;
        let _ = client.delete_function(&name).await;

        eprintln!("{label}: burst...");
        let mut bursts = serde_json::Map::new();
        let mut density = Value::Null;
        for (i, &n) in args.burst.iter().enumerate() {
            let fresh = format!("{name}-burst-{n}");
            client.create_function(&create(&fresh)).await?;
            // Let the sandbox pool refill after the previous scenario, so that the tree
            // measured before and after holds the same pool.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let pss_before = server_pid.map(tree_pss_kib);
            let burst = burst(addr, &fresh, n).await?;
            let created = burst["environments_created"].as_u64().unwrap_or(0) as usize;
            bursts.insert(n.to_string(), burst);
            if i == 0
                && let (Some(pid), Some(before)) = (server_pid, pss_before)
            {
                eprintln!("{label}: density...");
                tokio::time::sleep(Duration::from_millis(500)).await;
                let after = tree_pss_kib(pid);
                let cpu_before = tree_cpu_ms(pid);
                let idle = Duration::from_secs(2);
                tokio::time::sleep(idle).await;
                let idle_cpu = tree_cpu_ms(pid) - cpu_before;
                density = json!({
                    "environments": created,
                    "pss_per_environment_kib": after.saturating_sub(before) as f64 / created.max(1) as f64,
                    "server_pss_kib": pss_kib(pid),
                    "idle_cpu_ms_per_s": idle_cpu / idle.as_secs_f64(),
                });
            }
            let _ = client.delete_function(&fresh).await;
        }
        report["runtimes"][label] = json!({
            "runtime": runtime,
                        "warm": summary(warm),
            "thawed": {
                "client": summary(thawed),
                "thaws": thaw_count,
                "server_thaw_mean_us": server_thaw_us,
                "server_thaw_max_us": thaws_after.thaw_max_us,
            },
                        "throughput": throughput,
            "async": asynchronous,
            "cold": cold,
            "burst": bursts,
            "density": density,
        });
    }

    // Runtimes started ahead of time: a second server keeps `--prestart` of each runtime
    // (and as many sandboxes) ready.
    if args.endpoint.is_none() && args.prestart > 0 {
        drop(server);
        let n = args.prestart.to_string();
        let (_server, endpoint, _) = start_server(
            &args.isolation,
            &["--runtime-pool", &n, "--sandbox-pool", &n],
        )?;
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
        let client = Endpoint { endpoint }.client();
        for (echo, zip_file) in &echoes {
            let label = echo.label;
            let create = creator(echo, zip_file);
            // The first function of a runtime starts its pool; give it time to fill (a
            // runtime takes tens of milliseconds to start, one after another).
            let settle = Duration::from_millis(500 + 250 * args.prestart as u64);
            let name = format!("bench-{label}-{tag}-ahead");
            client.create_function(&create(&name)).await?;
            tokio::time::sleep(settle).await;
            eprintln!("{label}: cold, pre-started...");
            // Apart enough for the pool to start the next runtime in the background.
            let cold = cold_starts(
                &client,
                addr,
                &create,
                &format!("{name}-cold"),
                args.cold,
                Duration::from_millis(700),
            )
            .await?;
            eprintln!("{label}: burst, pre-started...");
            let fresh = format!("{name}-burst");
            client.create_function(&create(&fresh)).await?;
            tokio::time::sleep(settle).await;
            let burst = burst(addr, &fresh, args.prestart).await?;
            let _ = client.delete_function(&fresh).await;
            let _ = client.delete_function(&name).await;
            report["runtimes"][label]["prestarted"] = json!({
                "pool": args.prestart,
                "cold": cold,
                "burst": burst,
            });
        }
    }

    // A burst under a scaling rate: a third server allows only `--rated-scale` new
    // environments per function per 10 s; the rest of the burst waits for returning ones.
    if args.endpoint.is_none() && args.rated_scale > 0 && args.rated_burst > 0 {
        let rate = args.rated_scale.to_string();
        let (_server, endpoint, _) = start_server(
            &args.isolation,
            &["--runtime-pool", "0", "--scale-rate", &rate],
        )?;
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
        let client = Endpoint { endpoint }.client();
        for (echo, zip_file) in &echoes {
            let label = echo.label;
            eprintln!("{label}: burst under a scaling rate...");
            let name = format!("bench-{label}-{tag}-rated");
            client
                .create_function(&creator(echo, zip_file)(&name))
                .await?;
            let mut burst = burst(addr, &name, args.rated_burst).await?;
            let status = client.status().await?;
            burst["throttles_counted"] = json!(
                status
                    .functions
                    .iter()
                    .find(|f| f.name == name)
                    .map_or(0, |f| f.throttles)
            );
            burst["scale_rate_per_10s"] = json!(args.rated_scale);
            let _ = client.delete_function(&name).await;
            report["runtimes"][label]["rated_burst"] = burst;
        }
    }

    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `n` Event invocations of `name` from `clients` keep-alive clients: accepted per second,
/// accept latency, and how fast the server ran them all.
async fn async_events(
    addr: SocketAddr,
    client: &lamina_client::Client,
    name: &str,
    n: usize,
    clients: usize,
) -> anyhow::Result<Value> {
    let clients = clients.clamp(1, n.max(1));
    let before = client
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
        let s = client.status().await?;
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
async fn cold_starts(
    client: &lamina_client::Client,
    addr: SocketAddr,
    create: &impl Fn(&str) -> Value,
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
fn init_split(headers: &http::HeaderMap) -> std::collections::HashMap<String, String> {
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
fn count_prestarted(
    counts: &mut serde_json::Map<String, Value>,
    split: &std::collections::HashMap<String, String>,
) {
    if let Some(ahead) = split.get("prestarted") {
        let count = counts.entry(ahead.clone()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
}

/// What each kind of pre-started environment served, for the table ("10 runtime").
fn served(counts: &Value) -> String {
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
async fn burst(addr: SocketAddr, name: &str, n: usize) -> anyhow::Result<Value> {
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

/// One section of the table: its header, then a line for each runtime whose report has
/// `key`, written by `row` from that part and the runtime's whole report. Nothing when no
/// runtime has it.
fn section(
    runtimes: &[(&String, &Value)],
    key: &str,
    header: &str,
    row: impl Fn(&Value, &Value) -> String,
) {
    if runtimes.iter().all(|(_, v)| v[key].is_null()) {
        return;
    }
    println!();
    println!("{header}");
    for (label, v) in runtimes {
        if !v[key].is_null() {
            println!("  {label:<9} {}", row(&v[key], v));
        }
    }
}

fn print_table(r: &Value) {
    let us = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "-".into())
    };
    let ms = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.1}", x / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    let http = &r["baseline"]["http_round_trip"];
    println!(
        "baseline: loopback HTTP round trip p50 {} us, p99 {} us",
        us(&http["p50_us"]),
        us(&http["p99_us"])
    );
    if let Some(spawns) = r["baseline"]["spawn_ms"].as_object() {
        for (k, v) in spawns {
            println!(
                "baseline: process start {k}: {} ms",
                v.as_f64()
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    println!();
    println!(
        "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "runtime",
        "warm p50",
        "warm p99",
        "warm p99.9",
        "c=8 inv/s",
        "c=8 p99",
        "cpu/1000",
        "cold p50",
        "init p50"
    );
    println!(
        "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "", "us", "us", "us", "", "us", "ms", "ms", "ms"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let t8 = &v["throughput"]["8"];
            println!(
                "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
                label,
                us(&v["warm"]["p50_us"]),
                us(&v["warm"]["p99_us"]),
                us(&v["warm"]["p999_us"]),
                t8["per_second"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into()),
                us(&t8["p99_us"]),
                t8["cpu_ms_per_1000"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into()),
                ms(&v["cold"]["first_invocation"]["p50_us"]),
                ms(&v["cold"]["init_duration"]["p50_us"]),
            );
        }
    }
    println!();
    println!("throughput at 2 / 4 / 8 clients (inv/s): ");
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let at = |c: &str| {
                v["throughput"][c]["per_second"]
                    .as_f64()
                    .map(|x| format!("{x:.0}"))
                    .unwrap_or_else(|| "-".into())
            };
            println!("  {label:<9} {} / {} / {}", at("2"), at("4"), at("8"));
        }
    }
    println!();
    println!(
        "cold p50 breakdown (ms): sandbox set-up + runtime start and init + invoke + platform and HTTP"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let c = &v["cold"];
            let part = |k: &str| {
                c[k]["p50_us"]
                    .as_f64()
                    .map(|x| format!("{:.2}", x / 1000.0))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "  {label:<9} {} + {} + {} + {} (first invocation {})",
                part("sandbox_setup"),
                part("runtime_start_and_init"),
                part("invoke_duration"),
                part("platform_and_http"),
                part("first_invocation"),
            );
        }
    }
    println!();
    println!(
        "burst: N simultaneous first invocations: all answered (ms), environments created/needed"
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let Some(bursts) = v["burst"].as_object() else {
                continue;
            };
            let mut bursts: Vec<_> = bursts.iter().collect();
            bursts.sort_by_key(|(n, _)| n.parse::<usize>().unwrap_or(0));
            let cells: Vec<String> = bursts
                .into_iter()
                .map(|(n, b)| {
                    format!(
                        "N={n}: {:.1} ms, {}/{}",
                        b["all_answered_ms"].as_f64().unwrap_or(0.0),
                        b["environments_created"],
                        b["environments_needed"]
                    )
                })
                .collect();
            println!("  {label:<9} {}", cells.join("; "));
        }
    }
    let ahead: Vec<(&String, &Value)> = r["runtimes"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v["prestarted"].is_null())
                .collect()
        })
        .unwrap_or_default();
    if !ahead.is_empty() {
        println!();
        println!(
            "started ahead (a server keeping runtimes and sandboxes ready): cold p50 = sandbox hand-over + handler init + rest; burst"
        );
        for (label, v) in ahead {
            let p = &v["prestarted"];
            let c = &p["cold"];
            let part = |k: &str| {
                c[k]["p50_us"]
                    .as_f64()
                    .map(|x| format!("{:.2}", x / 1000.0))
                    .unwrap_or_else(|| "-".into())
            };

            println!(
                "  {label:<9} cold {} ms ({} + {}; pre-started: {}); burst N={}: {:.1} ms, {}/{} ({})",
                part("first_invocation"),
                part("sandbox_setup"),
                part("runtime_start_and_init"),
                served(&c["prestarted"]),
                p["pool"],
                p["burst"]["all_answered_ms"].as_f64().unwrap_or(0.0),
                p["burst"]["environments_created"],
                p["burst"]["environments_needed"],
                served(&p["burst"]["prestarted"]),
            );
        }
    }
    let runtimes: Vec<(&String, &Value)> = r["runtimes"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    section(
        &runtimes,
        "async",
        "asynchronous: Event invocations, accepted per second (each synced before its 202), accept p50 / p99 (us), all run per second",
        |a, _| {
            format!(
                "{} events from {} clients: {:.0}/s accepted, {} / {} us, {:.0}/s run ({:.0} ms in all)",
                a["events"],
                a["clients"],
                f(&a["accepted_per_second"]),
                us(&a["p50_us"]),
                us(&a["p99_us"]),
                f(&a["drained_per_second"]),
                f(&a["drained_in_ms"]),
            )
        },
    );
    section(
        &runtimes,
        "thawed",
        "thawed: invocation of a frozen environment p50 / p99 (us) against warm p50; the server's thaw, mean / max (us)",
        |t, v| {
            format!(
                "{} / {} against {}; thaw {:.0} / {:.0} over {} thaws",
                us(&t["client"]["p50_us"]),
                us(&t["client"]["p99_us"]),
                us(&v["warm"]["p50_us"]),
                f(&t["server_thaw_mean_us"]),
                f(&t["server_thaw_max_us"]),
                t["thaws"],
            )
        },
    );
    section(
        &runtimes,
        "rated_burst",
        "burst under a scaling rate: all answered (ms), environments created / burst size, throttled",
        |b, _| {
            format!(
                "{} new per 10 s, N={}: {:.1} ms, {}/{}, {} throttled",
                b["scale_rate_per_10s"],
                b["environments_needed"].as_u64().unwrap_or(0)
                    + b["throttled"].as_u64().unwrap_or(0),
                f(&b["all_answered_ms"]),
                b["environments_created"],
                b["environments_needed"],
                b["throttled"],
            )
        },
    );
    println!();
    println!(
        "density: idle environments, PSS per environment, server PSS (at start: {:.1} MiB), idle CPU of the tree",
        r["server_pss_kib_at_start"].as_f64().unwrap_or(0.0) / 1024.0
    );
    if let Some(runtimes) = r["runtimes"].as_object() {
        for (label, v) in runtimes {
            let d = &v["density"];
            if d.is_null() {
                continue;
            }
            println!(
                "  {label:<9} {} envs, {:.1} MiB each, server {:.1} MiB, {:.2} ms CPU/s",
                d["environments"],
                d["pss_per_environment_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                d["server_pss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                d["idle_cpu_ms_per_s"].as_f64().unwrap_or(0.0),
            );
        }
    }
}
