//! The flags of `lamina serve`, in groups, each turned into the configuration of the part it
//! tunes. A flag's default is that configuration's own default (`ExecutorConfig::default()`,
//! `AsyncConfig::default()`, `HttpLimits::default()`), so there is one set of defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lamina_api::HttpLimits;
use lamina_executor::ExecutorConfig;
use lamina_platform::mappings::SqsEndpoint;
use lamina_platform::{AsyncConfig, PlatformConfig, SchedulerConfig};

/// Flags of `lamina serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub executor: ExecutorArgs,
    #[command(flatten)]
    pub events: AsyncArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

/// Where the server listens, keeps its state, and who it is.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Address of the API (Lambda control plane, Invoke, CloudWatch Logs subset).
    #[arg(long, env = "LAMINA_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Cluster mode: keep every durable record in this PostgreSQL database
    /// (`postgres://user:password@host:port/db`), shared by every node started with it; the
    /// data directory then holds only this node's caches.
    #[arg(long, env = "LAMINA_DATABASE_URL")]
    pub database: Option<String>,
    /// Keep S3 objects in this S3-compatible store (`http://host:port`, path style) instead
    /// of the data directory: the S3 service proxies every object operation to it, signing
    /// with the key the AWS SDKs would find in this server's environment
    /// (AWS_ACCESS_KEY_ID..., else AWS_PROFILE). What a cluster needs to serve S3.
    #[arg(long, env = "LAMINA_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Cluster mode: seconds without a heartbeat after which a node counts as gone (its
    /// capacity is taken back; it stops using what it held a second before).
    #[arg(long, default_value_t = 5)]
    pub node_timeout_seconds: u64,
    /// Require every API request to be signed (SigV4) by one of the access keys in FILE, in
    /// the AWS shared-credentials format (`[name]`, `aws_access_key_id`,
    /// `aws_secret_access_key`; several sections allowed).
    #[arg(long, env = "LAMINA_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// With --credentials, the token a Prometheus scraper sends for `GET /metrics`
    /// (`Authorization: Bearer TOKEN`, Prometheus's `authorization: credentials`), since it
    /// cannot sign; without --credentials, /metrics is open like every route.
    #[arg(long, env = "LAMINA_METRICS_TOKEN", value_name = "TOKEN")]
    pub metrics_token: Option<String>,
    /// `off`: count invocations per function only (what `lamina ps` shows), without the
    /// per-version and per-minute figures of `GET /metrics` and CloudWatch's metric history;
    /// the bench compares the two.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub metrics: String,
    /// Export a span per sampled invocation (`Sampled=1` in its X-Ray trace header: the
    /// caller's decision, else the function's TracingConfig `Active`) over OTLP/HTTP
    /// (protobuf) to this collector, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added).
    #[arg(long, env = "LAMINA_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Listen on a non-loopback address without --credentials: anyone who can reach the port
    /// can then deploy and run code.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// A second address that serves function URLs only (they are also served on --listen).
    #[arg(long, env = "LAMINA_URL_LISTEN")]
    pub url_listen: Option<SocketAddr>,
    /// The domain function URLs are named under: `http://<url-id>.lambda-url.<region>.<domain>:<port>/`
    /// (`*.localhost` resolves to this machine; use a wildcard DNS name to serve others).
    #[arg(long, env = "LAMINA_URL_DOMAIN", default_value = "localhost")]
    pub url_domain: String,
    /// Where functions, code and logs are kept [default: /var/lib/lamina as root, else
    /// $XDG_DATA_HOME/lamina or ~/.local/share/lamina].
    #[arg(long, env = "LAMINA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where `lamina runtimes install` keeps interpreters [default: the data directory's
    /// interpreters/].
    #[arg(long, env = "LAMINA_INTERPRETERS_DIR")]
    pub interpreters_dir: Option<PathBuf>,
    /// Region in every ARN.
    #[arg(long, env = "LAMINA_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Account id in every ARN (12 digits).
    #[arg(long, env = "LAMINA_ACCOUNT", default_value = "000000000000")]
    pub account: String,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM; environments still
    /// running then are stopped, and the server waits as long again for them to go.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
    /// How environments are isolated: `sandbox` (namespaces, read-only root, unprivileged
    /// uid; needs root), `none` (plain processes: for development only), or `auto` (the
    /// sandbox when it is available, else none with a warning).
    #[arg(long, env = "LAMINA_ISOLATION", value_enum, default_value_t = Isolation::Auto)]
    pub isolation: Isolation,
    /// Sandboxes kept started ahead of time, so that a cold start does not pay their set-up.
    #[arg(long, default_value_t = 2)]
    pub sandbox_pool: usize,
    /// Whether Python and Node.js runtimes are forked from a zygote (an interpreter with
    /// Lamina's bootstrap loaded, replaced every 256 forks or 5 minutes) into their sandboxes
    /// rather than each started afresh; needs root, like pre-started runtimes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub zygotes: bool,
    /// Concurrent executions of the whole server (invocations beyond are throttled); by
    /// default one per 128 MB of this machine's memory, between 10 and 1,000.
    #[arg(long)]
    pub concurrency_limit: Option<u32>,
    /// Bytes of logs kept per function before its oldest streams are removed.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub log_group_max_bytes: u64,
    /// Threads that serve requests and the Runtime API [default: one per two CPU cores, at
    /// least one].
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// With one worker thread (as on a machine of two or three cores): while invocations
    /// come one at a time, run it and their runtimes on one core, so that the wake-ups
    /// between the server and a runtime stay on that core; as soon as two are in flight,
    /// on every core.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub colocate: bool,
}

impl ServerArgs {
    /// The async runtime's worker threads. Half the cores: an invocation hops between the
    /// caller's connection, the environment's Runtime API connection and back, and each hop
    /// to another worker wakes a thread on another core. On a 2-vCPU VM one worker served
    /// more invocations a second, with less CPU each and a lower warm p50, than two, and
    /// leaves the other core to the functions.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads
            .unwrap_or(lamina_executor::host_cores() / 2)
            .max(1)
    }

    /// The cores environments are placed on (`--colocate`): with one worker thread and at
    /// least two cores the process may use, the last of them as the worker's home.
    pub fn cores(&self) -> Option<lamina_executor::placement::Cores> {
        (self.colocate && self.worker_threads() == 1)
            .then(lamina_executor::placement::Cores::of_process)
            .flatten()
    }
}

/// `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    Auto,
    Sandbox,
    None,
}

fn executor_defaults() -> ExecutorConfig {
    ExecutorConfig::default()
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// How environments start, scale, idle and are stopped.
#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// Most execution environments per function; invocations beyond are throttled (429).
    #[arg(long, default_value_t = executor_defaults().max_environments_per_function)]
    pub max_environments_per_function: usize,
    /// Seconds an idle environment is kept before it is stopped.
    #[arg(long, default_value_t = executor_defaults().idle_timeout.as_secs())]
    pub idle_timeout: u64,
    /// Whether functions may reach other networks (through each sandbox's egress proxy, never
    /// this host itself); a function opts out with the tag `lamina:egress` = `off`.
    #[arg(long, default_value_t = executor_defaults().egress, action = clap::ArgAction::Set)]
    pub egress: bool,
    /// Runtimes kept started ahead of time per managed runtime (Python, Node.js, Ruby; Java per
    /// memory size), running without code until a cold start of a function of that runtime
    /// claims one (needs root).
    #[arg(long, default_value_t = executor_defaults().runtime_pool)]
    pub runtime_pool: usize,
    /// New execution environments per function per 10 seconds, refilled continuously (AWS
    /// Lambda: 1,000); by default 100 per CPU core, at most 1,000.
    #[arg(long)]
    pub scale_rate: Option<u32>,
    /// Invocations of one function version that may wait for an environment while the
    /// function is at its scaling rate or environment limit; more are throttled (429).
    #[arg(long, default_value_t = executor_defaults().scale_queue)]
    pub scale_queue: usize,
    /// Longest an invocation waits for an environment before it is throttled (429), in ms.
    #[arg(long, default_value_t = ms(executor_defaults().scale_wait))]
    pub scale_wait_ms: u64,
    /// Idle environments are frozen (they use no CPU) once unused this long, in ms; 0 never
    /// freezes.
    #[arg(long, default_value_t = executor_defaults().freeze_after.map_or(0, ms))]
    pub freeze_after_ms: u64,
    /// The idle environment a function's next invocation would take stays thawed this long
    /// (ms) as long as it uses no CPU, so that a function called every few seconds pays no
    /// thaw; 0 freezes it like the others.
    #[arg(long, default_value_t = ms(executor_defaults().keep_thawed))]
    pub keep_thawed_ms: u64,
    /// Memory (MB, as functions configure it) all environments may hold together; beyond it
    /// the least recently used idle environments are stopped. By default 90% of this
    /// machine's memory; 0 sets no budget.
    #[arg(long)]
    pub memory_budget_mb: Option<u64>,
    /// When this machine's available memory falls below this (MB), idle environments are
    /// stopped, least recently used first. By default 5% of its memory (at least 256); 0
    /// never.
    #[arg(long)]
    pub memory_reserve_mb: Option<u64>,
}

impl ExecutorArgs {
    /// The executor's configuration; `function_connections` is set by the composition root,
    /// which knows the server's descriptors.
    pub fn config(&self) -> ExecutorConfig {
        let d = ExecutorConfig::default();
        ExecutorConfig {
            max_environments_per_function: self.max_environments_per_function.max(1),
            idle_timeout: Duration::from_secs(self.idle_timeout.max(1)),
            egress: self.egress,
            runtime_pool: self.runtime_pool,
            scale_rate_per_10s: self.scale_rate.unwrap_or(d.scale_rate_per_10s).max(1),
            scale_queue: self.scale_queue,
            scale_wait: Duration::from_millis(self.scale_wait_ms),
            freeze_after: (self.freeze_after_ms > 0)
                .then(|| Duration::from_millis(self.freeze_after_ms)),
            keep_thawed: Duration::from_millis(self.keep_thawed_ms),
            memory_budget_mb: self.memory_budget_mb.unwrap_or(d.memory_budget_mb),
            memory_reserve_mb: self.memory_reserve_mb.unwrap_or(d.memory_reserve_mb),
            ..d
        }
    }
}

fn async_defaults() -> AsyncConfig {
    AsyncConfig::default()
}

/// Asynchronous invocation: retries, backoff, the queue's bounds.
#[derive(Debug, clap::Args)]
pub struct AsyncArgs {
    /// The wait before the first retry of an asynchronous event after a function error, in
    /// ms; the second waits twice as long (AWS Lambda: 1 minute, then 2).
    #[arg(long, default_value_t = ms(async_defaults().retry_delay))]
    pub async_retry_delay_ms: u64,
    /// The first pause before retrying an asynchronous event that was throttled or met a
    /// platform error, in ms; pauses grow with the event's age.
    #[arg(long, default_value_t = ms(async_defaults().backoff))]
    pub async_backoff_ms: u64,
    /// The longest such pause, in ms (AWS Lambda: 5 minutes).
    #[arg(long, default_value_t = ms(async_defaults().backoff_max))]
    pub async_backoff_max_ms: u64,
    /// How long one second of MaximumEventAgeInSeconds lasts, in ms: 1,000 but in tests,
    /// which shorten every event age with it.
    #[arg(long, default_value_t = ms(async_defaults().age_second), hide = true)]
    pub event_age_second_ms: u64,
    /// Most asynchronous events of one function running at once; by default 4 per CPU core,
    /// enough to keep the cores busy without starting environments they cannot serve.
    #[arg(long)]
    pub async_concurrency: Option<usize>,
    /// At shutdown, how long asynchronous events already running get to end, in ms; those
    /// still running then stay queued and run again after the restart.
    #[arg(long, default_value_t = ms(async_defaults().drain))]
    pub event_drain_ms: u64,
    /// Most asynchronous events queued at once; Event invocations beyond are refused (429).
    #[arg(long, default_value_t = 100_000)]
    pub event_queue_max_events: usize,
    /// Most megabytes of queued asynchronous events.
    #[arg(long, default_value_t = 1024)]
    pub event_queue_max_mb: u64,
    /// Cluster mode: how long an event a node took stays its own without renewal; the events
    /// of a node that died run elsewhere once this has passed.
    #[arg(long, default_value_t = 30)]
    pub event_lease_seconds: u64,
    /// How long a minute of `rate()` schedules and of flexible time windows lasts, in ms
    /// (tests shorten it).
    #[arg(long, default_value_t = SchedulerConfig::default().minute.as_millis() as u64)]
    pub schedule_minute_ms: u64,
    /// An SQS-compatible endpoint whose queues event source mappings may consume, as
    /// `ARN-PREFIX=URL` (`arn:aws:sqs:eu-west-1:123456789012=https://sqs.eu-west-1.amazonaws.com`);
    /// repeatable. Requests to it are signed with the key the AWS SDKs would find in this
    /// server's environment (AWS_ACCESS_KEY_ID..., else AWS_PROFILE), for the ARN's region.
    #[arg(long, value_name = "ARN-PREFIX=URL")]
    pub sqs_endpoint: Vec<String>,
    /// A RabbitMQ broker event source mappings may consume, as `BROKER-ARN=AMQP-URL`
    /// (`arn:aws:mq:us-east-1:123456789012:broker:orders:b-1=amqp://user:secret@10.0.0.7:5672`):
    /// the broker ARN mappings name, and where it is with the credentials to use (a mapping's
    /// BASIC_AUTH secret is not read: Lamina has no secrets manager). Repeatable.
    #[arg(long, value_name = "BROKER-ARN=AMQP-URL")]
    pub mq_broker: Vec<String>,
    /// The token other S3-compatible stores (MinIO, Ceph RGW) send with the notifications
    /// they post to /_lamina/s3-events (as `Authorization: Bearer TOKEN` or `?token=TOKEN`);
    /// without it the webhook refuses every call.
    #[arg(long, env = "LAMINA_S3_WEBHOOK_TOKEN", value_name = "TOKEN")]
    pub s3_webhook_token: Option<String>,
}

impl AsyncArgs {
    /// The dispatcher's configuration; queued events may use the server's whole
    /// `concurrency_limit`.
    pub fn config(&self, concurrency_limit: u32) -> AsyncConfig {
        let d = AsyncConfig::default();
        let backoff = Duration::from_millis(self.async_backoff_ms.max(1));
        AsyncConfig {
            retry_delay: Duration::from_millis(self.async_retry_delay_ms),
            backoff,
            backoff_max: Duration::from_millis(self.async_backoff_max_ms).max(backoff),
            max_in_flight: concurrency_limit as usize,
            max_in_flight_per_function: self
                .async_concurrency
                .unwrap_or(d.max_in_flight_per_function),
            age_second: Duration::from_millis(self.event_age_second_ms.max(1)),
            drain: Duration::from_millis(self.event_drain_ms),
        }
    }

    /// The SQS endpoints `--sqs-endpoint` names, with the key of this server's environment.
    pub fn sqs_endpoints(&self) -> Result<Vec<SqsEndpoint>, String> {
        let var = |k: &str| std::env::var(k).ok();
        let creds = lamina_sigv4::credentials::from_environment(var)
            .map_err(|e| format!("--sqs-endpoint: reading the AWS credentials: {e}"))?;
        self.sqs_endpoint
            .iter()
            .map(|given| {
                let (prefix, url) = given.split_once('=').ok_or_else(|| {
                    format!("--sqs-endpoint {given}: expected ARN-PREFIX=URL")
                })?;
                if !prefix.starts_with("arn:") || !url.starts_with("http") {
                    return Err(format!(
                        "--sqs-endpoint {given}: expected ARN-PREFIX=URL, such as arn:aws:sqs:eu-west-1:123456789012=https://sqs.eu-west-1.amazonaws.com"
                    ));
                }
                let region = prefix.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or("us-east-1");
                Ok(SqsEndpoint {
                    arn_prefix: prefix.to_string(),
                    url: url.to_string(),
                    signing: creds.clone().map(|c| (c, region.to_string())),
                })
            })
            .collect()
    }

    /// The RabbitMQ brokers `--mq-broker` names.
    pub fn mq_brokers(&self) -> Result<Vec<(String, String)>, String> {
        self.mq_broker
            .iter()
            .map(|given| match given.split_once('=') {
                Some((arn, url))
                    if arn.starts_with("arn:aws:mq:")
                        && (url.starts_with("amqp://") || url.starts_with("amqps://")) =>
                {
                    Ok((arn.to_string(), url.to_string()))
                }
                _ => Err(format!(
                    "--mq-broker {given}: expected BROKER-ARN=AMQP-URL, such as arn:aws:mq:us-east-1:123456789012:broker:orders:b-1=amqp://user:secret@10.0.0.7:5672"
                )),
            })
            .collect()
    }

    /// The Scheduler's configuration.
    pub fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            minute: Duration::from_millis(self.schedule_minute_ms.max(1)),
        }
    }

    /// The queue's bounds.
    pub fn queue_limits(&self) -> lamina_queue::Limits {
        lamina_queue::Limits {
            max_messages: self.event_queue_max_events.max(1),
            max_bytes: self.event_queue_max_mb.max(1) * 1024 * 1024,
        }
    }
}

fn http_defaults() -> HttpLimits {
    HttpLimits::default()
}

/// The API's front door.
#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// Seconds a connection to the API may wait for its next request (after connecting, or
    /// after its previous answer) before it is closed.
    #[arg(long, default_value_t = http_defaults().idle_timeout.as_secs())]
    pub http_idle_timeout: u64,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, default_value_t = http_defaults().header_timeout.as_secs())]
    pub http_header_timeout: u64,
    /// A request's body must arrive whole within this many seconds of its head.
    #[arg(long, default_value_t = http_defaults().body_timeout.as_secs())]
    pub http_body_timeout: u64,
    /// Connections to the API served at once; more are answered 429 and closed. By default
    /// a quarter of the server's descriptors, at most 4,096.
    #[arg(long)]
    pub max_connections: Option<usize>,
}

impl HttpArgs {
    /// The front door's bounds, for a server with `descriptors` descriptors.
    pub fn limits(&self, descriptors: usize) -> HttpLimits {
        HttpLimits {
            idle_timeout: Duration::from_secs(self.http_idle_timeout.max(1)),
            header_timeout: Duration::from_secs(self.http_header_timeout.max(1)),
            body_timeout: Duration::from_secs(self.http_body_timeout.max(1)),
            max_connections: self
                .max_connections
                .unwrap_or_else(|| (descriptors / 4).min(http_defaults().max_connections))
                .max(1),
        }
    }
}

impl Args {
    /// The platform's configuration (the executor's connection budget is set by the caller).
    pub fn platform_config(&self) -> anyhow::Result<PlatformConfig> {
        let server = &self.server;
        if server.account.len() != 12 || !server.account.bytes().all(|b| b.is_ascii_digit()) {
            anyhow::bail!("--account must be 12 digits, got {:?}", server.account);
        }
        let concurrency_limit = server
            .concurrency_limit
            .unwrap_or_else(PlatformConfig::default_concurrency_limit)
            .max(1);
        Ok(PlatformConfig {
            identity: lamina_model::Identity {
                region: server.region.clone(),
                account: server.account.clone(),
            },
            executor: ExecutorConfig {
                cores: server.cores(),
                ..self.executor.config()
            },
            concurrency_limit,
            events: self.events.config(concurrency_limit),
            // `serve` sets the port it binds.
            url_host: format!("{}:{}", server.url_domain, server.listen.port()),
            scheduler: self.events.scheduler(),
            sqs_endpoints: self.events.sqs_endpoints().map_err(anyhow::Error::msg)?,
            mq_brokers: self.events.mq_brokers().map_err(anyhow::Error::msg)?,
            s3_webhook_token: self
                .events
                .s3_webhook_token
                .clone()
                .filter(|t| !t.is_empty()),
            detailed_metrics: server.metrics == "on",
        })
    }
}

/// `lamina serve FLAGS`, parsed.
#[cfg(test)]
pub(super) fn parse(flags: &[&str]) -> Args {
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    Cli::parse_from(std::iter::once("serve").chain(flags.iter().copied())).args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without flags, every part runs with its own configuration's defaults: one set.
    #[test]
    fn no_flags_means_the_configurations_defaults() {
        let args = parse(&[]);
        let config = args.platform_config().unwrap();
        // Where environments run follows the server's threads, not a default of its own.
        assert_eq!(
            format!("{:?}", config.executor.cores),
            format!("{:?}", args.server.cores())
        );
        assert_eq!(
            format!(
                "{:?}",
                ExecutorConfig {
                    cores: None,
                    ..config.executor
                }
            ),
            format!("{:?}", ExecutorConfig::default())
        );
        assert_eq!(
            config.concurrency_limit,
            PlatformConfig::default_concurrency_limit()
        );
        assert_eq!(
            format!("{:?}", config.events),
            format!("{:?}", AsyncConfig::default())
        );
        let d = HttpLimits::default();
        let http = args.http.limits(1 << 20);
        assert_eq!(
            (
                http.idle_timeout,
                http.header_timeout,
                http.body_timeout,
                http.max_connections
            ),
            (
                d.idle_timeout,
                d.header_timeout,
                d.body_timeout,
                d.max_connections
            )
        );
    }

    #[test]
    fn flags_reach_the_configurations() {
        let args = parse(&[
            "--scale-rate",
            "2",
            "--freeze-after-ms",
            "0",
            "--keep-thawed-ms",
            "250",
            "--memory-budget-mb",
            "0",
            "--concurrency-limit",
            "7",
            "--async-backoff-ms",
            "50",
            "--async-backoff-max-ms",
            "10",
            "--max-connections",
            "3",
            "--idle-timeout",
            "0",
        ]);
        let config = args.platform_config().unwrap();
        assert_eq!(config.executor.scale_rate_per_10s, 2);
        assert_eq!(config.executor.freeze_after, None);
        assert_eq!(config.executor.keep_thawed, Duration::from_millis(250));
        assert_eq!(config.executor.memory_budget_mb, 0);
        // Never zero: a zero idle timeout would stop every environment at once.
        assert_eq!(config.executor.idle_timeout, Duration::from_secs(1));
        assert_eq!(config.concurrency_limit, 7);
        assert_eq!(config.events.max_in_flight, 7);
        // The longest pause is never shorter than the first.
        assert_eq!(config.events.backoff_max, Duration::from_millis(50));
        assert_eq!(args.http.limits(1 << 20).max_connections, 3);
        assert!(parse(&["--account", "12"]).platform_config().is_err());
    }

    #[test]
    fn worker_threads_are_half_the_cores_and_never_none() {
        let cores = lamina_executor::host_cores();
        assert_eq!(parse(&[]).server.worker_threads(), (cores / 2).max(1));
        assert_eq!(parse(&["--worker-threads", "3"]).server.worker_threads(), 3);
        assert_eq!(parse(&["--worker-threads", "0"]).server.worker_threads(), 1);
    }

    #[test]
    fn colocation_needs_one_worker_and_can_be_turned_off() {
        let two_cores = lamina_executor::placement::Cores::of_process().is_some();
        assert_eq!(
            parse(&["--worker-threads", "1"]).server.cores().is_some(),
            two_cores
        );
        assert!(
            parse(&["--worker-threads", "1", "--colocate", "false"])
                .server
                .cores()
                .is_none()
        );
        assert!(parse(&["--worker-threads", "2"]).server.cores().is_none());
    }

    #[test]
    fn zygotes_are_on_unless_turned_off() {
        assert!(parse(&[]).server.zygotes);
        assert!(!parse(&["--zygotes", "false"]).server.zygotes);
    }
}
