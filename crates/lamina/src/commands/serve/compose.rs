//! The composition root: the one place that opens every part of a server (the data
//! directory and its lock, the stores, the event queue, the runtime catalog, the launcher)
//! and hands them to the platform.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lamina_executor::{Launcher, ProcessLauncher, RuntimeCatalog, SandboxLauncher};
use lamina_platform::{Parts, Platform, PlatformConfig};
use lamina_store::{CodeStore, DataDirLock, LogStore, Reserve, SqliteStore};

use super::args::{Args, Isolation};

/// Space kept free in the data directory for deletes on a full disk: a few database pages
/// and their log, with room to spare.
const RESERVE_BYTES: u64 = 8 << 20;

/// A composed server, before it listens.
pub struct Server {
    pub platform: Platform,
    pub config: PlatformConfig,
    pub data_dir: PathBuf,
    /// Held until the server exits (or dies), past every other use of the data directory.
    pub _lock: DataDirLock,
    /// The process's descriptor limit, and the part of it functions' connections may use.
    pub descriptors: usize,
    pub function_descriptors: usize,
    pub http: lamina_api::HttpLimits,
    /// The S3-compatible store objects live in (`--s3-endpoint`), if not the data directory.
    pub s3_client: Option<aws_sdk_s3::Client>,
    /// The OTLP exporter of invocation spans (`--otlp-endpoint`), flushed at the end.
    pub spans: Option<Arc<crate::otlp::OtlpSpans>>,
}

/// Opens every part of the server `args` describe and starts the platform on them, naming
/// function URLs under `url_host`; in a cluster, the node is known by `endpoint`.
pub async fn compose(args: &Args, url_host: String, endpoint: &str) -> anyhow::Result<Server> {
    let mut config = args.platform_config()?;
    config.url_host = url_host;
    // Named for this process: its event leases and capacity are its own, and are taken back
    // if it dies.
    let node = format!(
        "{}-{}-{}",
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "node".into()),
        std::process::id(),
        &lamina_model::new_id()[..8]
    );
    let data_dir = args
        .server
        .data_dir
        .clone()
        .unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let lock = DataDirLock::acquire(&data_dir)?;
    let dir = |sub: &str| data_dir.join(sub);
    let pool = match &args.server.database {
        Some(url) => Some((database(url).await?, url.clone())),
        None => None,
    };
    let store: Arc<dyn lamina_store::FunctionStore> = match &pool {
        Some((pool, _)) => Arc::new(lamina_store::PgFunctionStore::new(pool.clone())),
        None => Arc::new(
            SqliteStore::open(&dir("functions.sqlite3")).context("opening the function store")?,
        ),
    };
    let documents: Arc<dyn lamina_store::Documents> = match &pool {
        Some((pool, _)) => Arc::new(lamina_store::PgDocuments::new(pool.clone())),
        None => Arc::new(
            lamina_store::SqliteDocuments::open(&dir("triggers.sqlite3"))
                .context("opening the schedules' and rules' store")?,
        ),
    };
    let sqs: Arc<dyn lamina_queue::sqs::MessageStore> = match &pool {
        Some((pool, _)) => Arc::new(lamina_store::PgMessages::new(pool.clone())),
        None => Arc::new(
            lamina_queue::sqs::SqliteMessages::open(&dir("sqs.sqlite3"))
                .context("opening the SQS message store")?,
        ),
    };
    let series: Arc<dyn lamina_store::MetricSeries> = match &pool {
        Some((pool, _)) => Arc::new(lamina_store::PgSeries::new(pool.clone())),
        None => Arc::new(
            lamina_store::SqliteSeries::open(&dir("metrics.sqlite3"))
                .context("opening the metric history")?,
        ),
    };
    let archive = pool.as_ref().map(|(pool, _)| {
        Arc::new(lamina_store::PgPackages::new(pool.clone()))
            as Arc<dyn lamina_store::PackageArchive>
    });
    let code = CodeStore::open(&dir("code")).context("opening the code store")?;
    let logs: Arc<dyn lamina_store::LogBackend> = match &pool {
        Some((pool, _)) => Arc::new(lamina_store::PgLogStore::new(pool.clone())),
        None => Arc::new(
            LogStore::open(&dir("logs"), args.server.log_group_max_bytes.max(64 * 1024))
                .context("opening the log store")?,
        ),
    };
    let interpreters = args
        .server
        .interpreters_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("interpreters"));
    let catalog = RuntimeCatalog::detect(&dir("runtimes"))
        .context("installing the runtimes' bootstraps")?
        .with_installed(&interpreters);
    let queue: Arc<dyn lamina_queue::Queue> = match &pool {
        Some((pool, url)) => Arc::new(
            lamina_store::PgQueue::open(
                pool.clone(),
                url,
                &node,
                args.events.queue_limits(),
                std::time::Duration::from_secs(args.events.event_lease_seconds),
            )
            .await
            .context("opening the event queue in the database")?,
        ),
        None => Arc::new(
            lamina_queue::EmbeddedQueue::open(&dir("events.sqlite3"), args.events.queue_limits())
                .context("opening the event queue")?,
        ),
    };
    let reserve_dir = data_dir.clone();
    let reserve =
        tokio::task::spawn_blocking(move || Reserve::new(&reserve_dir, RESERVE_BYTES)).await?;

    let descriptors = raise_descriptor_limit();
    let http = args.http.limits(descriptors);
    // What the API does not reserve is split: half for functions' connections, half for
    // environments' own descriptors (listeners, pipes, cgroup files), the stores and logs.
    let function_descriptors = descriptors.saturating_sub(http.max_connections) / 2;
    config.executor.function_connections =
        lamina_runtime_api::ConnectionBudget::new(function_descriptors.max(64));

    let (launcher, sandboxed) = launcher(
        args.server.isolation,
        &data_dir,
        args.server.sandbox_pool,
        args.server.zygotes,
    )?;
    // An archive names the runtime's jar relative to the working directory, as sandboxes lay
    // them out (`/var/runtime` beside `/var/task`): a plain process could not use one.
    let catalog = if sandboxed {
        catalog.with_java_archives(&dir("java-archives"))
    } else {
        catalog
    };
    let members = match &pool {
        Some((pool, _)) => Some(Arc::new(
            lamina_store::PgMembers::join(
                pool.clone(),
                &node,
                endpoint,
                std::time::Duration::from_secs(args.server.node_timeout_seconds.max(2)),
            )
            .await
            .context("joining the cluster")?,
        ) as Arc<dyn lamina_store::Membership>),
        None => None,
    };
    let s3_client = match &args.server.s3_endpoint {
        Some(url) => Some(s3_store(url, &config.identity.region)?),
        None => None,
    };
    let objects = match (&pool, &s3_client) {
        (None, None) => Some(
            lamina_objects::Objects::open(&dir("objects")).context("opening the object storage")?,
        ),
        _ => None,
    };
    let spans = match &args.server.otlp_endpoint {
        Some(url) => Some(Arc::new(
            crate::otlp::OtlpSpans::new(url).context("setting up the OTLP exporter")?,
        )),
        None => None,
    };
    let parts = Parts {
        objects,
        remote_objects: s3_client.clone().map(|c| {
            Arc::new(lamina_api::services::s3::proxy::StoreObjects(c))
                as Arc<dyn lamina_platform::s3::RemoteObjects>
        }),
        documents,
        sqs,
        series,
        store,
        code,
        logs,
        queue,
        launcher,
        catalog,
        reserve: Arc::new(reserve),
        archive,
        changes: args
            .server
            .database
            .as_deref()
            .map(lamina_store::postgres::changes::listen),
        members,
        metrics: pool.as_ref().map(|(pool, _)| {
            Arc::new(lamina_store::PgMetrics::new(pool.clone()))
                as Arc<dyn lamina_store::MetricsStore>
        }),
        spans: spans
            .clone()
            .map(|s| s as Arc<dyn lamina_platform::traces::SpanSink>),
    };
    let platform = Platform::start(config.clone(), parts).await?;
    Ok(Server {
        s3_client,
        spans,
        platform,
        config,
        data_dir,
        _lock: lock,
        descriptors,
        function_descriptors,
        http,
    })
}

/// A client of the S3-compatible store at `url`, with the key of this server's environment.
fn s3_store(url: &str, region: &str) -> anyhow::Result<aws_sdk_s3::Client> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        anyhow::bail!("--s3-endpoint {url}: expected http://HOST:PORT or https://HOST:PORT");
    }
    let var = |k: &str| std::env::var(k).ok();
    let creds = lamina_sigv4::credentials::from_environment(var)
        .map_err(|e| anyhow::anyhow!("--s3-endpoint: reading the AWS credentials: {e}"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--s3-endpoint needs a key for the store: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the server's environment"
            )
        })?;
    Ok(lamina_api::services::s3::proxy::client(
        url,
        region,
        &creds.access_key_id,
        &creds.secret_access_key,
    ))
}

/// The cluster's database at `url`, its schema brought up to date.
/// A node that starts while the database is away waits for it (saying so every few
/// seconds), as a node that loses it waits for it to come back; a database that answers
/// but refuses (a wrong password, a missing database) is an error at once.
async fn database(url: &str) -> anyhow::Result<lamina_store::PgPool> {
    let pool = lamina_store::PgPool::new(url, 16).context("--database")?;
    let mut said = std::time::Instant::now() - std::time::Duration::from_secs(60);
    let applied = loop {
        match pool.migrate().await {
            Ok(applied) => break applied,
            Err(e) if e.is_unavailable() => {
                if said.elapsed() >= std::time::Duration::from_secs(5) {
                    eprintln!("lamina: waiting for the database ({e})");
                    said = std::time::Instant::now();
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context("bringing the database's schema up to date")
                );
            }
        }
    };
    if !applied.is_empty() {
        eprintln!("lamina: database schema migrated to version {applied:?}");
    }
    Ok(pool)
}

/// The launcher `isolation` asks for and this host allows, and whether it sandboxes.
fn launcher(
    isolation: Isolation,
    data_dir: &Path,
    pool: usize,
    zygotes: bool,
) -> anyhow::Result<(Arc<dyn Launcher>, bool)> {
    let root = nix::unistd::geteuid().is_root();
    let sandbox = || -> anyhow::Result<(Arc<dyn Launcher>, bool)> {
        let exe = std::env::current_exe().context("locating the lamina binary")?;
        let launcher =
            SandboxLauncher::new(&exe, data_dir, pool, zygotes).context("preparing the sandbox")?;
        Ok((Arc::new(launcher), true))
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
            Ok((Arc::new(ProcessLauncher), false))
        }
        Isolation::None => Ok((Arc::new(ProcessLauncher), false)),
    }
}

/// `/var/lib/lamina` for root (a system service; it is also the only host path a sandbox
/// sees in its mount table besides generic system ones), else the user's data directory.
pub fn default_data_dir() -> PathBuf {
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
