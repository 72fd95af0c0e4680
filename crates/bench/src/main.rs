//! `lamina-bench`: measures a Lamina server the way the project judges itself. Starts a
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
//!   environments created (cold starts seen in the REPORT lines) against those needed; with
//!   `--burst-rounds`, the median of that many bursts of each size;
//! - density: after the first burst, the PSS of each idle environment (its sandbox processes
//!   included), the server's own PSS, and the idle CPU of the whole process tree;
//! - thawed: invocations of an environment left idle long enough to be frozen (the main
//!   server keeps none thawed), against warm ones, and the server's own measure of each thaw;
//! - after a pause: on a server with its default freezing policy, `--paused` invocations each
//!   after `--pause-ms` without any, against warm ones and the relay's after the same pause;
//! - asynchronous: `--async-events` Event invocations from `--async-clients` clients: accepted per second
//!   (each durably queued before its 202), accept p50/p99, and the drain rate until every
//!   event has run;
//! - started ahead: on a second server keeping `--prestart` runtimes and sandboxes ready, the
//!   cold start and a burst of that size again (the main server pre-starts no runtime);
//! - under a scaling rate: on a third server allowing `--rated-scale` new environments per
//!   function per 10 s, a burst of `--rated-burst`: time until all are answered, environments
//!   created against the burst's size (returning environments serve the rest), throttles;
//! - function URL: the same echo through a URL (payload format 2.0 both ways), warm p50 and
//!   8 clients' throughput, beside Invoke's in the same run;
//! - schedules: `--at-schedules` one-time schedules one second apart, each firing a Python
//!   function: p50/p99 lateness from due time to the function running;
//! - SQS: SendMessage from `--async-clients` clients (sends/s), ReceiveMessage of 10 with DeleteMessageBatch
//!   until empty (messages/s), and an event source mapping draining 20,000 messages into the
//!   native echo in batches of 10 (messages/s), beside the asynchronous path's drain rate;
//! - S3: PUT and GET of 4 KB and 1 MB objects from 8 clients (4 for 1 MB), objects/s and
//!   MB/s, beside the bare 4 KB write+sync+rename rate of the data directory's file system
//!   and, with `--s3-peer`, the same against another S3-compatible server; and the time from
//!   a PUT's answer to the invocation its bucket notification causes;
//! - SigV4: the cost of verifying a signed Invoke request, in process;
//! - event patterns: one event matched against 1,000 EventBridge rules, in process;
//! - metrics' cost: two more servers, one with `--metrics off`, the echoes' warm p50 and
//!   8 clients' throughput on each in `--metrics-rounds` alternating rounds;
//! - cluster (with `--database URL`): on one node of a cluster, warm, 8 clients and
//!   asynchronous accepts, against the embedded server's of the same run; then 8 clients
//!   spread over three nodes;
//! - against another build (with `--against PATH`): each echo on a server of this `lamina`
//!   and one of the other, side by side in alternating rounds, for a change's before and
//!   after;
//! - soak (with `--soak-seconds`): mixed invocations of every echo at `--soak-rate` for that
//!   long, the server's PSS sampled throughout, and the slope of its least-squares line;
//! - baselines measured in the same run: a bare loopback HTTP round trip with the same
//!   client, a bare process start of each runtime, and the native echo behind a minimal
//!   unsandboxed Invoke-to-Runtime-API relay (warm p50 and 8 clients' throughput, the floor
//!   the warm path is judged against; see [`relay`]), the same relay with a minimal
//!   Node.js runtime loop as its runtimes (Node.js's floor, when `node` is measured), and
//!   what a wake-up costs on the same core and on another ([`wakes`]).
//!
//! Sequential figures (warm, thawed, after a pause) are taken with a blocking client on a
//! thread of its own ([`probe`]), so that the client's own wake-ups are not counted as the
//! server's; concurrent ones with hyper's client on tokio ([`http::Conn`]).
//!
//! Prints a table and, with `--json FILE`, writes every figure.
//!
//! Its own binary, not linked into `lamina`: `cargo build --release` builds both, then
//! `target/release/lamina-bench --json bench.json`. When started as a `provided` runtime's
//! `bootstrap`, it is the native echo function instead (see [`echo_runtime`]).

mod baselines;
mod cluster;
mod echo;
mod echo_runtime;
mod http;
mod metrics_cost;
mod paired;
mod patterns;
mod paused;
mod probe;
mod procfs;
mod relay;
mod s3;
mod scenarios;
mod schedules;
mod server;
mod soak;
mod sqs;
mod table;
mod telemetry_cost;
mod urls;
mod wakes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use clap::Parser;
use lamina_model::function::CreateFunctionRequest;
use serde_json::{Value, json};

use echo::{Echo, echo_packages};
use http::{Conn, pct, summary};
use procfs::{pss_kib, tree_cpu_ms, tree_pss_kib};
use scenarios::{async_events, burst, cold_starts, more_bursts};
use server::start_server;
use table::print_table;

/// Measures a Lamina server: warm and cold invocations, throughput, against same-run
/// baselines.
#[derive(Debug, Parser)]
#[command(name = "lamina-bench", version, about)]
struct Args {
    /// The `lamina` binary whose servers are measured [default: `lamina` beside this one].
    #[arg(long)]
    lamina: Option<PathBuf>,
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
    /// Bursts of each size, each of a fresh function; the median is reported, with each.
    #[arg(long, default_value_t = 1)]
    burst_rounds: usize,
    /// Runtimes to measure (provided, python, node, java, ruby).
    #[arg(long, value_delimiter = ',', default_value = "provided,python,node")]
    runtimes: Vec<String>,
    /// Write every figure to this file as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
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
    /// Invocations per runtime after `--pause-ms` without any, on a server with the default
    /// freezing policy (and of the relay); 0 skips them.
    #[arg(long, default_value_t = 10)]
    paused: usize,
    /// The pause before each of `--paused` invocations, in ms.
    #[arg(long, default_value_t = 1000)]
    pause_ms: u64,
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
    /// Also measure cluster mode: nodes started with `--database URL` (a PostgreSQL
    /// database the bench may write to).
    #[arg(long)]
    database: Option<String>,
    /// One-time schedules, one second apart, whose fire-time lateness is measured (0: none).
    #[arg(long, default_value_t = 20)]
    at_schedules: usize,
    /// Seconds the SQS send scenario runs (0: no SQS scenario).
    #[arg(long, default_value_t = 5.0)]
    sqs_seconds: f64,
    /// Seconds each S3 PUT and GET scenario runs (0: no S3 scenario).
    #[arg(long, default_value_t = 3.0)]
    s3_seconds: f64,
    /// Another S3-compatible server (http://IP:PORT, path style, unsigned requests
    /// accepted) to run the same S3 PUTs and GETs against, named by `--s3-peer-name`.
    #[arg(long)]
    s3_peer: Option<String>,
    /// What `--s3-peer` is, for the table.
    #[arg(long, default_value = "peer")]
    s3_peer_name: String,
    /// Alternating rounds of the warm and 8-client figures on a server with metrics and one
    /// with `--metrics off` (0: none).
    #[arg(long, default_value_t = 2)]
    metrics_rounds: usize,
    /// Alternating rounds of the warm and 8-client figures of each echo with and without an
    /// extension subscribed to the Telemetry API (0: none).
    #[arg(long, default_value_t = 2)]
    telemetry_rounds: usize,
    /// Only the in-process figures (SigV4 verification, event patterns): no server.
    #[arg(long)]
    in_process: bool,
    /// Seconds of mixed invocations on the main server at the end, its PSS sampled
    /// throughout and the slope reported (3600 for the hour the project judges itself
    /// over; 0: none).
    #[arg(long, default_value_t = 0.0)]
    soak_seconds: f64,
    /// Invocations per second in all during the soak.
    #[arg(long, default_value_t = 500.0)]
    soak_rate: f64,
    /// Another `lamina` binary (a build before a change) to measure side by side with this
    /// one: each echo's warm p50, 8 clients' throughput and server CPU per invocation on a
    /// server of each, in `--against-rounds` alternating rounds.
    #[arg(long)]
    against: Option<PathBuf>,
    /// Alternating rounds of `--against`.
    #[arg(long, default_value_t = 5)]
    against_rounds: usize,
}

/// The main server freezes environments idle this long (ms).
const FREEZE_AFTER_MS: u64 = 50;

fn main() -> ExitCode {
    if echo_runtime::invoked_as_bootstrap() {
        echo_runtime::run();
    }
    if let Some((runtimes, runner)) = relay::invoked_as_relay() {
        return match relay::run(runtimes, runner) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lamina-bench relay: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lamina-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lamina-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bench.
async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.in_process {
        let report = json!({
            "sigv4": urls::sigv4_verify_us(),
            "patterns": patterns::pattern_matching(),
        });
        table::print_in_process(&report);
        return Ok(ExitCode::SUCCESS);
    }
    let lamina = match &args.lamina {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("lamina"),
    };
    // The main server pre-starts no runtime, so that cold starts and bursts measure a
    // runtime's whole start; a second server measures them with runtimes started ahead.
    let (server, endpoint, server_pid) = match &args.endpoint {
        Some(e) => (None, e.clone(), None),
        None => {
            let freeze = FREEZE_AFTER_MS.to_string();
            let (s, e, pid) = start_server(
                &lamina,
                &args.isolation,
                &[
                    "--runtime-pool",
                    "0",
                    "--freeze-after-ms",
                    &freeze,
                    "--keep-thawed-ms",
                    "0",
                ],
            )?;
            (Some(s), e, Some(pid))
        }
    };
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("the endpoint must be http://IP:PORT, got {endpoint}"))?;
    let client = lamina_client::Client::new(&endpoint);
    let tag = std::process::id();
    let mut report = json!({
        "endpoint": endpoint,
        "runtimes": {},
        "server_pss_kib_at_start": server_pid.map(pss_kib),
    });

    eprintln!("baselines...");
    report["baseline"] = baselines::measure(baselines::Plan {
        warm: args.warm.max(100),
        pause: (args.paused, Duration::from_millis(args.pause_ms)),
        seconds: args.throughput_seconds,
        node: args.runtimes.iter().any(|r| r == "node"),
    })
    .await?;
    report["sigv4"] = urls::sigv4_verify_us();
    report["patterns"] = patterns::pattern_matching();

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
        move |name: &str| -> CreateFunctionRequest {
            serde_json::from_value(json!({
                "FunctionName": name, "Runtime": runtime, "Handler": handler,
                "Role": "arn:aws:iam::000000000000:role/bench", "Timeout": 30,
                "Code": {"ZipFile": zip_file}}))
            .expect("a CreateFunction request")
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
        let warm = probe::warm(addr, &name, args.warm).await?;

        eprintln!("{label}: thawed...");
        let pause = Duration::from_millis(FREEZE_AFTER_MS * 3);
        let thawed = paused::thawed(addr, &client, &name, (args.thaw, pause)).await?;

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

        eprintln!("{label}: function URL...");
        let url =
            urls::function_url(addr, &name, args.warm, args.throughput_seconds, server_pid).await?;

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
            let rounds = args.burst_rounds;
            let burst = bursts.remove(&n.to_string()).unwrap_or_default();
            let burst = more_bursts(&client, addr, &create, &fresh, n, rounds, burst).await?;
            bursts.insert(n.to_string(), burst);
        }
        report["runtimes"][label] = json!({
            "runtime": runtime,
            "warm": summary(warm),
            "thawed": thawed,
            "throughput": throughput,
            "function_url": url,
            "async": asynchronous,
            "cold": cold,
            "burst": bursts,
            "density": density,
        });
    }

    if args.sqs_seconds > 0.0
        && let Some((echo, zip_file)) = echoes.first()
    {
        eprintln!("sqs...");
        let name = format!("bench-sqs-{}-{tag}", echo.label);
        client
            .create_function(&creator(echo, zip_file)(&name))
            .await?;
        report["sqs"] = sqs::sqs(addr, &name, args.sqs_seconds, args.async_clients, tag).await?;
        report["sqs"]["function"] = json!(echo.label);
    }

    if args.s3_seconds > 0.0 {
        eprintln!("s3...");
        let lamina_s3 = s3::Target {
            addr,
            virtual_host: true,
        };
        report["s3"]["lamina"] =
            s3::throughput(&lamina_s3, &format!("bench-{tag}"), 8, args.s3_seconds).await?;
        let dir = server
            .as_ref()
            .map(|s| s._dir.path().to_path_buf())
            .unwrap_or_else(std::env::temp_dir);
        report["s3"]["bare_4kb_writes"] = s3::bare_writes(&dir, 1.0)?;
        if let Some((echo, zip_file)) = echoes.first() {
            let name = format!("bench-s3-{}-{tag}", echo.label);
            client
                .create_function(&creator(echo, zip_file)(&name))
                .await?;
            report["s3"]["upload_to_invocation"] =
                s3::upload_to_invocation(addr, &name, 50, tag).await?;
        }
        if let Some(peer) = &args.s3_peer {
            let addr: SocketAddr = peer
                .trim_start_matches("http://")
                .parse()
                .with_context(|| format!("--s3-peer must be http://IP:PORT, got {peer}"))?;
            let t = s3::Target {
                addr,
                virtual_host: false,
            };
            report["s3"]["peer"] =
                s3::throughput(&t, &format!("bench-{tag}"), 8, args.s3_seconds).await?;
            report["s3"]["peer_name"] = json!(args.s3_peer_name);
        }
    }

    if args.at_schedules > 0 {
        eprintln!("schedules: {} one-time schedules...", args.at_schedules);
        report["schedules"] = schedules::lateness(&client, args.at_schedules, tag).await?;
    }

    if args.soak_seconds > 0.0
        && let Some(pid) = server_pid
    {
        eprintln!("soak: {} s...", args.soak_seconds);
        let mut names = Vec::new();
        for (echo, zip_file) in &echoes {
            let name = format!("bench-soak-{}-{tag}", echo.label);
            client
                .create_function(&creator(echo, zip_file)(&name))
                .await?;
            names.push(name);
        }
        report["soak"] = soak::soak(addr, pid, &names, args.soak_seconds, args.soak_rate).await?;
    }

    // The main server's memory once every scenario it serves has run (its environments
    // included in none of it: PSS of its own process).
    report["server_pss_kib_at_end"] = json!(server_pid.map(pss_kib));
    // And once it has been at rest a few seconds: what it holds for good, once it has had
    // the chance to give back what its last scenario freed.
    if server_pid.is_some() {
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    }
    report["server_pss_kib_at_rest"] = json!(server_pid.map(pss_kib));

    // Each echo as a function any server of a scenario can create.
    let makers: Vec<cluster::Maker<'_>> = echoes
        .iter()
        .map(|(echo, zip)| (echo.label, Box::new(creator(echo, zip)) as _))
        .collect();
    if args.endpoint.is_none() && args.paused > 0 {
        let pause = Duration::from_millis(args.pause_ms);
        report["paused"] = paused::measure(
            &lamina,
            &args.isolation,
            &makers,
            args.warm,
            (args.paused, pause),
        )
        .await?;
    }

    if let Some(database) = &args.database {
        report["cluster"] = cluster::cluster(
            &lamina,
            &args.isolation,
            database,
            &makers,
            args.warm,
            args.throughput_seconds,
            args.async_events,
            args.async_clients,
        )
        .await?;
    }

    if args.endpoint.is_none() && args.telemetry_rounds > 0 {
        report["telemetry_cost"] = telemetry_cost::telemetry_cost(
            &lamina,
            &args.isolation,
            &makers,
            args.warm,
            args.throughput_seconds,
            args.telemetry_rounds,
        )
        .await?;
    }

    if args.endpoint.is_none() && args.metrics_rounds > 0 {
        report["metrics_cost"] = metrics_cost::metrics_cost(
            &lamina,
            &args.isolation,
            &makers,
            args.warm,
            args.throughput_seconds,
            args.metrics_rounds,
        )
        .await?;
    }

    if let Some(other) = args.against.as_deref()
        && args.endpoint.is_none()
    {
        let flags = ["--runtime-pool", "0"];
        let side = |label, lamina| metrics_cost::Side {
            label,
            lamina,
            flags: &flags,
        };
        report["against"] = metrics_cost::side_by_side(
            &[side("this", &lamina), side("against", other)],
            &args.isolation,
            &makers,
            (args.warm, args.throughput_seconds, args.against_rounds),
            "this build against --against",
        )
        .await?;
    }

    // Runtimes started ahead of time: a second server keeps `--prestart` of each runtime
    // (and as many sandboxes) ready.
    if args.endpoint.is_none() && args.prestart > 0 {
        drop(server);
        let n = args.prestart.to_string();
        let (_server, endpoint, _) = start_server(
            &lamina,
            &args.isolation,
            &["--runtime-pool", &n, "--sandbox-pool", &n],
        )?;
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
        let client = lamina_client::Client::new(&endpoint);
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
            &lamina,
            &args.isolation,
            &["--runtime-pool", "0", "--scale-rate", &rate],
        )?;
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse()?;
        let client = lamina_client::Client::new(&endpoint);
        for (echo, zip_file) in &echoes {
            let label = echo.label;
            eprintln!("{label}: burst under a scaling rate...");
            let name = format!("bench-{label}-{tag}-rated");
            client
                .create_function(&creator(echo, zip_file)(&name))
                .await?;
            let mut burst = burst(addr, &name, args.rated_burst).await?;
            let status = client.lamina().status().await?;
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
