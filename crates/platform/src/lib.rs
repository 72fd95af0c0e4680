//! Lamina's application core: a [`Platform`] handle with one view per resource.
//!
//! Layout:
//! - `registry`: the one owner of function records (the cache the invocation path reads,
//!   the store it mirrors, the control lock); `cached`: an entry of that cache.
//! - [`control`]: the control plane, one view type per resource (`functions`, `versions`,
//!   `aliases`, `layers`, `policy`, `tags`, `concurrency`, `provisioned`, `event_invoke`,
//!   `urls`),
//!   reached as `platform.functions()`, `platform.aliases()`, ...
//! - [`invoke`]: the invocation front door (payload, qualifier and request checks) and
//!   `Platform::run`, the path every invocation takes after admission, with its [`RunError`].
//! - `admission`: the server's limit, reserved concurrency, admission and [`Throttle`];
//!   `metrics`: per-function figures.
//! - [`async_invoke`]: asynchronous invocation: accepting events, the dispatcher, the pure
//!   settlement policy, delivery to destinations, failed events.
//! - `provisioning`: the provisioned targets handed to the executor.
//! - `cluster`: a node of a cluster following the changes other nodes make; `grants`:
//!   reserved concurrency across a cluster, as slots each node holds.
//! - `packages`: storing uploads, removing packages once nothing uses them, the sweep at
//!   start.
//! - [`logs`]: reading function logs (CloudWatch Logs' FilterLogEvents and friends), and the
//!   sink that writes them.
//! - [`events`]: EventBridge's buses, rules and targets, and PutEvents' routing through the
//!   rules' patterns.
//! - [`mappings`]: event source mappings and their runners (SQS pollers).
//! - [`sqs`]: SQS's queues and messages (long polling, batches, FIFO, redrive).
//! - [`scheduler`]: EventBridge Scheduler's schedules and groups, and the timer that fires
//!   them through the asynchronous path.
//! - [`status`]: what `lamina ps` shows.
//! - [`cloudwatch`]: CloudWatch's metric history (one-minute figures kept 15 days) and
//!   its API.
//!
//! The HTTP layer calls into the views with typed requests and gets [`LambdaError`]s back
//! (the domain's error vocabulary; their wire form is the HTTP layer's business); it never
//! touches storage or environments itself.
//!
//! [`LambdaError`]: lamina_model::LambdaError

mod admission;
pub mod applications;
pub mod async_invoke;
mod cached;
pub mod cloudwatch;
pub mod cluster;
pub mod control;
pub mod events;
mod grants;
pub mod invoke;
pub mod logs;
pub mod mappings;
pub mod metrics;
mod packages;
mod paging;
mod provisioning;
mod registry;
pub mod s3;
pub mod scheduler;
pub mod sqs;
pub mod status;
pub mod traces;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lamina_executor::{Executor, ExecutorConfig, Launcher, RuntimeCatalog};
use lamina_model::Identity;
use lamina_queue::Queue;
use lamina_store::{CodeStore, FunctionStore, LogBackend};

pub use admission::Throttle;
pub use async_invoke::AsyncConfig;
pub use scheduler::SchedulerConfig;

pub use invoke::{InvokeOutput, RunError};
pub use lamina_executor::{StreamEvent, StreamSink};
pub use lamina_model::invoke::{ClientContext, InvocationType, InvokeInput, LogType};

/// Settings of a platform, filled in by the binary from flags.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Region and account of every ARN.
    pub identity: Identity,
    /// Executor tunables.
    pub executor: ExecutorConfig,
    /// Concurrent executions of the whole server.
    pub concurrency_limit: u32,
    /// Asynchronous invocation.
    pub events: AsyncConfig,
    /// The host (and port) function URLs are served under:
    /// `http://<url-id>.lambda-url.<region>.<url_host>/`.
    pub url_host: String,
    /// The Scheduler.
    pub scheduler: SchedulerConfig,
    /// SQS-compatible endpoints whose queues mappings may consume.
    pub sqs_endpoints: Vec<mappings::SqsEndpoint>,
    /// RabbitMQ brokers mappings may consume, by broker ARN: their AMQP URLs.
    pub mq_brokers: Vec<(String, String)>,
    /// The token other S3-compatible stores send with their notifications (none: the
    /// webhook is off).
    pub s3_webhook_token: Option<String>,
    /// Whether invocations are counted per version and per minute (the Prometheus export's
    /// per-version series, CloudWatch's history); off, only the per-function totals
    /// `lamina ps` shows are kept (for measuring what the detail costs).
    pub detailed_metrics: bool,
}

impl PlatformConfig {
    /// The server's default concurrency limit: one concurrent execution per 128 MB of this
    /// machine's memory (Lambda's smallest function), between 10 and Lambda's default quota
    /// of 1,000.
    pub fn default_concurrency_limit() -> u32 {
        (lamina_executor::host_memory_mb() / 128).clamp(10, 1000) as u32
    }
}

/// What the platform is built from, opened by the composition root (the binary, or a test
/// kit with in-memory parts).
#[derive(Debug)]
pub struct Parts {
    /// Function, version, alias and layer records.
    pub store: Arc<dyn FunctionStore>,
    /// Packages and layers' contents.
    pub code: CodeStore,
    /// Function logs.
    pub logs: Arc<dyn LogBackend>,
    /// The durable queue of asynchronous events.
    pub queue: Arc<dyn Queue>,
    /// Starts execution environments.
    pub launcher: Arc<dyn Launcher>,
    /// The runtimes this host can run.
    pub catalog: RuntimeCatalog,
    /// Space kept so that deletes work on a full disk.
    pub reserve: Arc<lamina_store::Reserve>,
    /// Where a cluster keeps every package (none for one node: `code` is the only copy).
    pub archive: Option<Arc<dyn lamina_store::PackageArchive>>,
    /// The changes other nodes of a cluster make (none for one node).
    pub changes: Option<tokio::sync::mpsc::UnboundedReceiver<lamina_store::Change>>,
    /// This node's membership of its cluster (none for one node).
    pub members: Option<Arc<dyn lamina_store::Membership>>,
    /// Where a cluster's nodes keep their invocation metrics (none for one node).
    pub metrics: Option<Arc<dyn lamina_store::MetricsStore>>,
    /// Event sources' configuration: schedules, buses, rules, SQS queues.
    pub documents: Arc<dyn lamina_store::Documents>,
    /// SQS messages.
    pub sqs: Arc<dyn lamina_queue::sqs::MessageStore>,
    /// CloudWatch's metric history.
    pub series: Arc<dyn lamina_store::MetricSeries>,
    /// The object store the S3 service serves (none where this node serves none).
    pub objects: Option<lamina_objects::Objects>,
    /// The other S3-compatible store the S3 service proxies to, for packages in its buckets.
    pub remote_objects: Option<Arc<dyn s3::RemoteObjects>>,
    /// Where sampled invocations' spans go (none: not exported).
    pub spans: Option<Arc<dyn traces::SpanSink>>,
}

/// A server's health, in brief.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Functions.
    pub functions: usize,
    /// Live environments across all functions.
    pub environments: usize,
    /// What isolation environments get, in one line.
    pub isolation: String,
    /// Runtimes this host can run.
    pub runtimes: Vec<String>,
}

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The function store failed.
    #[error(transparent)]
    Store(#[from] lamina_store::StoreError),
}

/// The platform: cheap to clone, shared by every HTTP surface.
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: registry::Registry,
    logs: Arc<dyn LogBackend>,
    executor: Executor,
    concurrency: Arc<admission::Concurrency>,
    // Space set aside so that deletes work on a full disk.
    reserve: Arc<lamina_store::Reserve>,
    events: async_invoke::Events,
    url_host: String,
    archive: Option<Arc<dyn lamina_store::PackageArchive>>,
    grants: Option<Arc<grants::Grants>>,
    metrics: Option<Arc<dyn lamina_store::MetricsStore>>,
    series: cloudwatch::SeriesState,
    documents: Arc<dyn lamina_store::Documents>,
    timer: scheduler::Timer,
    rules: events::RuleCache,
    sqs: sqs::SqsState,
    mappings: mappings::Runners,
    objects: Option<lamina_objects::Objects>,
    remote_objects: Option<Arc<dyn s3::RemoteObjects>>,
    s3_webhook_token: Option<String>,
    spans: Option<Arc<dyn traces::SpanSink>>,
}

impl Platform {
    /// Loads every function from `parts.store` and starts the executor and the background
    /// tasks (log flushing, the event dispatcher, provisioned concurrency). Must run within a
    /// Tokio runtime.
    pub async fn start(config: PlatformConfig, parts: Parts) -> Result<Platform, StartError> {
        let Parts {
            store,
            code,
            logs,
            queue,
            launcher,
            catalog,
            reserve,
            archive,
            changes,
            members,
            metrics,
            documents,
            sqs,
            series,
            objects,
            remote_objects,
            spans,
        } = parts;
        let sink = Arc::new(logs::StoreSink(logs.clone()));
        let executor = Executor::new(config.executor.clone(), launcher, catalog, sink);
        // A package whose removal waited for its last user is collected once it is free.
        let (freed_tx, freed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        code.leases().on_free(Box::new(move |id| {
            let _ = freed_tx.send(id.to_string());
        }));
        let mut cache = HashMap::new();
        let mut provisioned_at_start = Vec::new();
        let mut opt_trees = Vec::new();
        let layers = store.layer_versions().await?;
        // Read once: every function with its published versions.
        let mut records = Vec::new();
        for cfg in store.all().await? {
            let versions = store.versions(&cfg.name).await?;
            records.push((cfg, versions));
        }
        if let Some(archive) = &archive {
            // A node of a cluster may not have every package yet: it fetches what it lacks.
            let ids: Vec<String> = layers
                .iter()
                .map(|l| l.code.id.clone())
                .chain(records.iter().flat_map(|(cfg, versions)| {
                    std::iter::once(cfg)
                        .chain(versions)
                        .map(|c| c.code.id.clone())
                }))
                .collect();
            packages::fetch_missing(&code, archive.as_ref(), &ids).await?;
        }
        for (cfg, versions) in records {
            // The merged /opt of each layered function and version, rebuilt if it was removed.
            opt_trees.extend(packages::merge_layers(&code, &cfg, &versions).await);
            let cached = cached::Cached::with_versions(cfg, versions, &config.identity, &code);
            if let Some(v) = &cached.version {
                executor.expect_runtime(v.runtime, v.memory_mb);
            }
            provisioned_at_start.push(cached.config.name.clone());
            cache.insert(cached.config.name.clone(), Arc::new(cached));
        }
        packages::sweep_unreferenced(&code, &executor, &cache, &layers, opt_trees).await;
        let flusher = Arc::downgrade(&logs);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(logs) = flusher.upgrade() else {
                    return;
                };
                logs.flush().await;
            }
        });
        let mut concurrency = admission::Concurrency::new(config.concurrency_limit.max(1));
        concurrency.detailed = config.detailed_metrics;
        let reserved: u32 = cache
            .values()
            .filter_map(|c| c.config.reserved_concurrency)
            .sum();
        concurrency
            .reserved_total
            .store(reserved, std::sync::atomic::Ordering::SeqCst);
        let concurrency = Arc::new(concurrency);
        let timer = scheduler::Timer::new(config.scheduler.clone(), members.clone());
        let grants = members.map(|m| Arc::new(grants::Grants::new(m, concurrency.clone())));
        let platform = Platform {
            inner: Arc::new(Inner {
                registry: registry::Registry::new(
                    config.identity,
                    store,
                    code,
                    executor.clone(),
                    cache,
                ),
                logs,
                executor,
                concurrency,
                reserve,
                events: async_invoke::Events::new(queue, config.events.clone()),
                url_host: config.url_host,
                archive,
                grants,
                metrics,
                series: cloudwatch::SeriesState::new(series),
                documents,
                timer,
                rules: events::RuleCache::default(),
                sqs: sqs::SqsState::new(sqs, config.sqs_endpoints.clone()),
                mappings: mappings::Runners::new(config.mq_brokers.clone()),
                objects,
                remote_objects,
                s3_webhook_token: config.s3_webhook_token.clone(),
                spans,
            }),
        };
        for name in provisioned_at_start {
            if let Some(entry) = platform.registry().cached(&name) {
                provisioning::sync(platform.executor(), &entry, platform.registry().share());
            }
        }
        platform.async_invoke().start_dispatcher();
        scheduler::start_timer(&platform);
        if config.detailed_metrics {
            cloudwatch::start(&platform);
        }
        logs::start_retention(&platform);
        s3::start(&platform);
        if let Ok(all) = platform.event_source_mappings().all().await {
            for m in all {
                platform.inner.mappings.reconcile(&platform, &m.uuid);
            }
        }
        if let Some(changes) = changes {
            cluster::follow(&platform, changes);
        }
        cluster::trim_grants(&platform);
        platform.packages().collect_freed(freed_rx);
        Ok(platform)
    }

    /// Event source mappings: Create/Get/Update/Delete/ListEventSourceMappings.
    pub fn event_source_mappings(&self) -> mappings::Mappings<'_> {
        mappings::Mappings { p: self }
    }

    /// This node's view of its cluster: catching up with other nodes' changes, and the
    /// cluster's figures.
    pub fn cluster(&self) -> cluster::Cluster<'_> {
        cluster::Cluster { p: self }
    }

    /// S3: the object store this node serves and its buckets' notifications.
    pub fn s3(&self) -> s3::S3<'_> {
        s3::S3 { p: self }
    }

    /// SQS: queues and their messages.
    pub fn sqs(&self) -> sqs::Sqs<'_> {
        sqs::Sqs { p: self }
    }

    /// EventBridge: event buses, rules, targets, PutEvents.
    pub fn events(&self) -> events::EventBus<'_> {
        events::EventBus { p: self }
    }

    /// EventBridge Scheduler: schedules and schedule groups.
    pub fn scheduler(&self) -> scheduler::Scheduler<'_> {
        scheduler::Scheduler { p: self }
    }

    /// Functions: create, read, update, delete.
    pub fn functions(&self) -> control::functions::Functions<'_> {
        control::functions::Functions { p: self }
    }

    /// Published versions.
    pub fn versions(&self) -> control::versions::Versions<'_> {
        control::versions::Versions { p: self }
    }

    /// Aliases.
    pub fn aliases(&self) -> control::aliases::Aliases<'_> {
        control::aliases::Aliases { p: self }
    }

    /// Layers.
    pub fn layers(&self) -> control::layers::Layers<'_> {
        control::layers::Layers { p: self }
    }

    /// Resource-based policies.
    pub fn policies(&self) -> control::policy::Policies<'_> {
        control::policy::Policies { p: self }
    }

    /// Tags.
    pub fn tags(&self) -> control::tags::Tags<'_> {
        control::tags::Tags { p: self }
    }

    /// Reserved concurrency and throttle counts.
    pub fn reservations(&self) -> control::concurrency::Reservations<'_> {
        control::concurrency::Reservations { p: self }
    }

    /// Provisioned concurrency configurations.
    pub fn provisioned_configs(&self) -> control::provisioned::ProvisionedConfigs<'_> {
        control::provisioned::ProvisionedConfigs { p: self }
    }

    /// Asynchronous invocation's configurations.
    pub fn event_invoke_configs(&self) -> control::event_invoke::EventInvokeConfigs<'_> {
        control::event_invoke::EventInvokeConfigs { p: self }
    }

    /// Function URLs' configurations, and what a URL id names.
    pub fn function_urls(&self) -> control::urls::FunctionUrls<'_> {
        control::urls::FunctionUrls { p: self }
    }

    /// Asynchronous invocation: queued and failed events.
    pub fn async_invoke(&self) -> async_invoke::AsyncInvoke<'_> {
        async_invoke::AsyncInvoke { p: self }
    }

    /// Function logs.
    pub fn logs(&self) -> logs::Logs<'_> {
        logs::Logs { p: self }
    }

    pub(crate) fn packages(&self) -> packages::Packages<'_> {
        packages::Packages { p: self }
    }

    /// Region and account.
    pub fn identity(&self) -> &Identity {
        self.inner.registry.identity()
    }

    /// The owner of function records.
    pub(crate) fn registry(&self) -> &registry::Registry {
        &self.inner.registry
    }

    pub(crate) fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// What `/_lamina/health` and the start-up banner say of this server.
    pub fn health(&self) -> Health {
        let executor = &self.inner.executor;
        Health {
            functions: self.inner.registry.count(),
            environments: executor.live_environments(),
            isolation: executor.isolation(),
            runtimes: executor.catalog().available(),
        }
    }

    /// Stops every environment (after the HTTP surfaces stopped taking requests) and writes
    /// buffered logs.
    pub async fn shutdown(&self, grace: Duration) {
        // Queued events running now get their drain time to end; the rest stay queued.
        self.inner.mappings.stop_all();
        self.async_invoke().stop_dispatcher().await;
        self.inner.executor.shutdown(grace).await;
        self.inner.logs.flush().await;
        cloudwatch::CloudWatch::of(self).flush().await;
        if let Some(grants) = &self.inner.grants
            && let Err(e) = grants.members().leave().await
        {
            tracing::warn!(error = %e, "could not leave the cluster; it will count this node gone shortly");
        }
    }
}
