//! `lamina serve`: compose the platform and its HTTP surface, run until SIGINT or SIGTERM,
//! then drain in-flight invocations, stop every environment and exit 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lamina_executor::{ExecutorConfig, Launcher, ProcessLauncher, SandboxLauncher};
use lamina_model::Identity;
use lamina_platform::{AsyncConfig, Platform, PlatformConfig};
use lamina_store::{DataDirLock, SqliteStore};

/// Flags of `lamina serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address of the API (Lambda control plane, Invoke, CloudWatch Logs subset).
    #[arg(long, env = "LAMINA_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Where functions, code and logs are kept [default: /var/lib/lamina as root, else
    /// $XDG_DATA_HOME/lamina or ~/.local/share/lamina].
    #[arg(long, env = "LAMINA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region in every ARN.
    #[arg(long, env = "LAMINA_REGION", default_value = "us-east-1")]
    region: String,
    /// Account id in every ARN (12 digits).
    #[arg(long, env = "LAMINA_ACCOUNT", default_value = "000000000000")]
    account: String,
    /// Most execution environments per function; invocations beyond are throttled (429).
    #[arg(long, default_value_t = 64)]
    max_environments_per_function: usize,
    /// Seconds an idle environment is kept before it is stopped.
    #[arg(long, default_value_t = 600)]
    idle_timeout: u64,
    /// Seconds in-flight invocations get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    shutdown_grace: u64,
    /// How environments are isolated: `sandbox` (namespaces, read-only root, unprivileged
    /// uid; needs root), `none` (plain processes: for development only), or `auto` (the
    /// sandbox when it is available, else none with a warning).
    #[arg(long, env = "LAMINA_ISOLATION", value_enum, default_value_t = Isolation::Auto)]
    isolation: Isolation,
    /// Whether functions may reach other networks (through each sandbox's egress proxy, never
    /// this host itself); a function opts out with the tag `lamina:egress` = `off`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    egress: bool,
    /// Sandboxes kept started ahead of time, so that a cold start does not pay their set-up.
    #[arg(long, default_value_t = 2)]
    sandbox_pool: usize,
    /// Runtimes kept started ahead of time per managed runtime (Python, Node.js), running
    /// without code until a cold start of a function of that runtime claims one (needs root).
    #[arg(long, default_value_t = 1)]
    runtime_pool: usize,
    /// Concurrent executions of the whole server (invocations beyond are throttled); by
    /// default one per 128 MB of this machine's memory, between 10 and 1,000.
    #[arg(long)]
    concurrency_limit: Option<u32>,
    /// New execution environments per function per 10 seconds, refilled continuously (AWS
    /// Lambda: 1,000); by default 100 per CPU core, at most 1,000.
    #[arg(long)]
    scale_rate: Option<u32>,
    /// Invocations of one function version that may wait for an environment while the
    /// function is at its scaling rate or environment limit; more are throttled (429).
    #[arg(long, default_value_t = 64)]
    scale_queue: usize,
    /// Longest an invocation waits for an environment before it is throttled (429), in ms.
    #[arg(long, default_value_t = 10_000)]
    scale_wait_ms: u64,
    /// Idle environments are frozen (they use no CPU) once unused this long, in ms; 0 never
    /// freezes.
    #[arg(long, default_value_t = 100)]
    freeze_after_ms: u64,
    /// Memory (MB, as functions configure it) all environments may hold together; beyond it
    /// the least recently used idle environments are stopped. By default 90% of this
    /// machine's memory; 0 sets no budget.
    #[arg(long)]
    memory_budget_mb: Option<u64>,
    /// When this machine's available memory falls below this (MB), idle environments are
    /// stopped, least recently used first. By default 5% of its memory (at least 256); 0
    /// never.
    #[arg(long)]
    memory_reserve_mb: Option<u64>,
    /// The wait before the first retry of an asynchronous event after a function error, in
    /// ms; the second waits twice as long (AWS Lambda: 1 minute, then 2).
    #[arg(long, default_value_t = 60_000)]
    async_retry_delay_ms: u64,
    /// The first pause before retrying an asynchronous event that was throttled or met a
    /// platform error, in ms; pauses grow with the event's age.
    #[arg(long, default_value_t = 1_000)]
    async_backoff_ms: u64,
    /// The longest such pause, in ms (AWS Lambda: 5 minutes).
    #[arg(long, default_value_t = 300_000)]
    async_backoff_max_ms: u64,
    /// How long one second of MaximumEventAgeInSeconds lasts, in ms: 1,000 but in tests,
    /// which shorten every event age with it.
    #[arg(long, default_value_t = 1_000, hide = true)]
    event_age_second_ms: u64,
    /// Most asynchronous events of one function running at once; by default 4 per CPU core,
    /// enough to keep the cores busy without starting environments they cannot serve.
    #[arg(long)]
    async_concurrency: Option<usize>,
    /// Most asynchronous events queued at once; Event invocations beyond are refused (429).
    #[arg(long, default_value_t = 100_000)]
    event_queue_max_events: usize,
    /// Most megabytes of queued asynchronous events.
    #[arg(long, default_value_t = 1024)]
    event_queue_max_mb: u64,
    /// Bytes of logs kept per function before its oldest streams are removed.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    log_group_max_bytes: u64,
    /// Seconds a connection to the API may wait for its next request (after connecting, or
    /// after its previous answer) before it is closed.
    #[arg(long, default_value_t = 60)]
    http_idle_timeout: u64,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, default_value_t = 10)]
    http_header_timeout: u64,
    /// A request's body must arrive whole within this many seconds of its head.
    #[arg(long, default_value_t = 60)]
    http_body_timeout: u64,
    /// Connections to the API served at once; more are answered 429 and closed. By default
    /// a quarter of the server's descriptors, at most 4,096.
    #[arg(long)]
    max_connections: Option<usize>,
}

/// `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Isolation {
    Auto,
    Sandbox,
    None,
}

fn launcher(
    isolation: Isolation,
    data_dir: &std::path::Path,
    pool: usize,
) -> anyhow::Result<Arc<dyn Launcher>> {
    let root = nix::unistd::geteuid().is_root();
    let sandbox = || -> anyhow::Result<Arc<dyn Launcher>> {
        let exe = std::env::current_exe().context("locating the lamina binary")?;
        Ok(Arc::new(
            SandboxLauncher::new(&exe, data_dir, pool).context("preparing the sandbox")?,
        ))
    };
    let userns = lamina_sandbox::doctor::user_namespaces_allowed();
    match isolation {
        Isolation::Sandbox | Isolation::Auto if root => sandbox(),
        Isolation::Sandbox | Isolation::Auto if userns => {
            eprintln!(
                "lamina: WARNING: not running as root: sandboxes run in a user namespace without \
                 cgroups, so memory is bounded by RLIMIT_DATA and processes and CPU are not \
                 limited; run as root for full limits"
            );
            sandbox()
        }
        Isolation::Sandbox => anyhow::bail!(
            "--isolation sandbox needs root or user namespaces, and this host allows neither"
        ),
        Isolation::Auto => {
            eprintln!(
                "lamina: WARNING: neither root nor user namespaces are available, so environments \
                 are NOT isolated from each other or from this machine; run as root for \
                 sandboxes, or pass --isolation none to silence this warning"
            );
            Ok(Arc::new(ProcessLauncher))
        }
        Isolation::None => Ok(Arc::new(ProcessLauncher)),
    }
}

/// `/var/lib/lamina` for root (a system service; it is also the only host path a sandbox
/// sees in its mount table besides generic system ones), else the user's data directory.
fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/lamina");
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("lamina");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/lamina"),
        None => PathBuf::from(".lamina"),
    }
}

/// Keeps large buffers (code packages of tens of MB, 6 MB payloads) out of the heap. glibc
/// raises its mmap threshold to the size of each large block freed, up to 32 MiB, so after one
/// deployment of a big package later ones land in the heap and stay there once freed: a
/// server that served a few 60 MB deployments kept 90 MiB instead of 11. A fixed threshold
/// turns that adjustment off and hands such buffers back as soon as they are freed.
fn keep_large_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator parameter and takes glibc's arena locks, so
    // it is safe beside other threads; a refusal (returns 0) leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// This machine's memory in MB (8 GB when it cannot be read).
fn memory_total_mb() -> u64 {
    let total_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(8 * 1024 * 1024);
    total_kb / 1024
}

/// One concurrent execution per 128 MB of memory (Lambda's smallest function), between 10
/// and Lambda's default quota of 1,000.
fn default_concurrency_limit() -> u32 {
    (memory_total_mb() / 128).clamp(10, 1000) as u32
}

/// 100 new environments per 10 s per CPU core (a core starts about that many sandboxed
/// runtimes a second), at most Lambda's 1,000.
fn default_scale_rate() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores as u32 * 100).min(1000)
}

/// Runs the server.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    keep_large_buffers_out_of_the_heap();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAMINA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--account must be 12 digits, got {:?}", args.account);
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    // Held until this function returns (or the process dies), past every other use.
    let _data_dir_lock = DataDirLock::acquire(&data_dir)?;
    let store = SqliteStore::open(&data_dir.join("functions.sqlite3"))
        .context("opening the function store")?;
    let concurrency_limit = args
        .concurrency_limit
        .unwrap_or_else(default_concurrency_limit)
        .max(1);
    let mut config = PlatformConfig {
        identity: Identity {
            region: args.region.clone(),
            account: args.account.clone(),
        },
        data_dir: data_dir.clone(),
        executor: ExecutorConfig {
            max_environments_per_function: args.max_environments_per_function.max(1),
            idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
            egress: args.egress,
            runtime_pool: args.runtime_pool,
            scale_rate_per_10s: args.scale_rate.unwrap_or_else(default_scale_rate).max(1),
            scale_queue: args.scale_queue,
            scale_wait: Duration::from_millis(args.scale_wait_ms),
            freeze_after: (args.freeze_after_ms > 0)
                .then(|| Duration::from_millis(args.freeze_after_ms)),
            memory_budget_mb: args
                .memory_budget_mb
                .unwrap_or_else(|| memory_total_mb() * 9 / 10),
            memory_reserve_mb: args
                .memory_reserve_mb
                .unwrap_or_else(|| (memory_total_mb() / 20).max(256)),
            ..ExecutorConfig::default()
        },
        log_group_max_bytes: args.log_group_max_bytes.max(64 * 1024),
        concurrency_limit,
        events: AsyncConfig {
            retry_delay: Duration::from_millis(args.async_retry_delay_ms),
            backoff: Duration::from_millis(args.async_backoff_ms.max(1)),
            backoff_max: Duration::from_millis(
                args.async_backoff_max_ms.max(args.async_backoff_ms.max(1)),
            ),
            max_events: args.event_queue_max_events.max(1),
            max_bytes: args.event_queue_max_mb.max(1) * 1024 * 1024,
            // Queued events may use the whole server's concurrency.
            max_in_flight: concurrency_limit as usize,
            max_in_flight_per_function: args
                .async_concurrency
                .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(1, |n| n.get())),
            age_second: Duration::from_millis(args.event_age_second_ms.max(1)),
        },
    };
    let descriptors = raise_descriptor_limit();
    let max_connections = args
        .max_connections
        .unwrap_or_else(|| (descriptors / 4).min(4096))
        .max(1);
    // What the API does not reserve is split: half for functions' connections, half for
    // environments' own descriptors (listeners, pipes, cgroup files), the stores and logs.
    let function_descriptors = descriptors.saturating_sub(max_connections) / 2;
    config.executor.function_connections =
        lamina_runtime_api::ConnectionBudget::new(function_descriptors.max(64));
    let launcher = launcher(args.isolation, &data_dir, args.sandbox_pool)?;
    let platform = Platform::start(config, Arc::new(store), launcher).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "lamina {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("  data directory: {}", data_dir.display());
    eprintln!("  functions: {}", platform.function_count());
    eprintln!("  runtimes: {}", platform.available_runtimes().join(", "));
    eprintln!("  isolation: {}", platform.executor().isolation());
    eprintln!(
        "  concurrency: {} concurrent executions",
        platform.concurrency_limit()
    );
    let ex = platform.executor().config();
    eprintln!(
        "  scaling: {} new environments per function per 10 s, {} may wait up to {} ms",
        ex.scale_rate_per_10s,
        ex.scale_queue,
        ex.scale_wait.as_millis()
    );
    eprintln!(
        "  idle environments: frozen after {}, stopped after {} s; memory budget {}, reserve {}",
        ex.freeze_after
            .map_or("never".to_string(), |d| format!("{} ms", d.as_millis())),
        ex.idle_timeout.as_secs(),
        mb_or_none(ex.memory_budget_mb),
        mb_or_none(ex.memory_reserve_mb),
    );
    let q = platform.event_queue_stats();
    eprintln!(
        "  asynchronous events: {} queued ({} failed kept), at most {} events and {} MB; retries after {} ms, then {} ms",
        q.ready + q.delayed,
        q.failed,
        q.max_messages,
        q.max_bytes / (1024 * 1024),
        args.async_retry_delay_ms,
        args.async_retry_delay_ms * 2
    );
    eprintln!(
        "  descriptors: {descriptors}; API connections at most {max_connections} (closed after \
         {} s idle; heads within {} s, bodies within {} s); functions' connections at most {}",
        args.http_idle_timeout,
        args.http_header_timeout,
        args.http_body_timeout,
        function_descriptors
    );
    eprintln!("  region {} account {}", args.region, args.account);
    announce_ready(addr, &data_dir)?;
    let grace = Duration::from_secs(args.shutdown_grace);
    let limits = lamina_api::HttpLimits {
        idle_timeout: Duration::from_secs(args.http_idle_timeout.max(1)),
        header_timeout: Duration::from_secs(args.http_header_timeout.max(1)),
        body_timeout: Duration::from_secs(args.http_body_timeout.max(1)),
        max_connections,
    };
    lamina_api::serve(listener, platform.clone(), limits, shutdown_signal(), grace).await?;
    eprintln!("lamina: stopping execution environments");
    platform.shutdown(Duration::from_secs(5)).await;
    eprintln!("lamina: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Tells whoever started the server that it serves, in one JSON line on standard output
/// (the only thing the server writes there), after the human banner on standard error:
/// `{"lamina":"ready","endpoint":"http://127.0.0.1:9000","pid":1234,"version":"0.1.0","data_dir":"/var/lib/lamina"}`.
fn announce_ready(addr: SocketAddr, data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let line = serde_json::json!({
        "lamina": "ready",
        "endpoint": format!("http://{addr}"),
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": data_dir,
    });
    let mut out = std::io::stdout().lock();
    // A closed standard output (nobody listening) is not an error of the server.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    Ok(())
}

/// Raises this process's descriptor limit to its hard limit (a server holds a descriptor
/// per connection and several per environment; environments set their own, lower limit),
/// and returns what it now is.
fn raise_descriptor_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let now = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            };
            // RLIM_INFINITY, or a very large limit: the budgets below need a number.
            now.min(1 << 20) as usize
        }
        Err(_) => 1024,
    }
}

fn mb_or_none(mb: u64) -> String {
    if mb == 0 {
        "none".into()
    } else {
        format!("{mb} MB")
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the server still runs; it is then stopped by being killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => eprintln!("lamina: SIGINT received, finishing in-flight invocations"),
        _ = term.recv() => eprintln!("lamina: SIGTERM received, finishing in-flight invocations"),
    }
}
