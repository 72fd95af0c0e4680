//! Lamina's application core, exposed as one [`Platform`] handle.
//!
//! Layout:
//! - [`functions`]: the control plane (create, get, list, update, delete), with the function
//!   cache the invocation path reads and the code clean-up after updates and deletes.
//! - `packages`: storing uploads, removing packages once nothing uses them, the sweep
//!   at start.
//! - [`invoke`]: the invocation front door: payload, qualifier and header checks, then the
//!   executor.
//! - [`policy`]: AddPermission, RemovePermission and GetPolicy.
//! - [`aliases`]: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases.
//! - [`concurrency`]: the server's limit, reserved concurrency, admission and throttling.
//! - [`events`]: asynchronous invocation: the durable event queue's dispatcher, retries,
//!   destinations, failed events, and Put/Get/List/DeleteFunctionEventInvokeConfig.
//! - [`provisioned`]: provisioned concurrency on versions and aliases.
//! - [`status`]: what `lamina ps` shows: environments by state, concurrency, throttles and
//!   per-function invocation metrics.
//! - [`versions`]: PublishVersion, ListVersionsByFunction, deleting one version.
//! - [`tags`]: TagResource, UntagResource and ListTags on functions.
//! - [`layers`]: layer versions, and the layers functions use.
//! - [`logs`]: reading function logs (CloudWatch Logs' FilterLogEvents and friends), and the
//!   sink that writes them.
//!
//! The HTTP layer calls into [`Platform`] with parsed requests and gets [`LambdaError`]s
//! back; it never touches storage or environments itself.
//!
//! [`LambdaError`]: lamina_model::LambdaError

pub mod aliases;
pub mod concurrency;
pub mod events;
pub mod functions;
pub mod invoke;
pub mod layers;
pub mod logs;
mod packages;
mod paging;
pub mod policy;
pub mod provisioned;
pub mod status;
pub mod tags;
pub mod versions;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lamina_executor::{Executor, ExecutorConfig, Launcher, RuntimeCatalog};
use lamina_model::{FunctionConfig, Identity};
use lamina_store::{CodeStore, FunctionStore, LogStore};

pub use events::AsyncConfig;

/// Space kept free in the data directory for deletes on a full disk: a few database pages
/// and their log, with room to spare.
const RESERVE_BYTES: u64 = 8 << 20;
pub use invoke::{InvocationType, InvokeInput, InvokeOutput};

/// Settings of a platform, filled in by the binary from flags.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Region and account of every ARN.
    pub identity: Identity,
    /// Root of all state.
    pub data_dir: PathBuf,
    /// Executor tunables.
    pub executor: ExecutorConfig,
    /// Size bound of each function's log group, in bytes.
    pub log_group_max_bytes: u64,
    /// Concurrent executions of the whole server.
    pub concurrency_limit: u32,
    /// Asynchronous invocation.
    pub events: AsyncConfig,
}

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The function store failed.
    #[error(transparent)]
    Store(#[from] lamina_store::StoreError),
    /// The event queue could not be opened.
    #[error("event queue: {0}")]
    Queue(#[from] lamina_queue::QueueError),
}

/// The platform: cheap to clone, shared by every HTTP surface.
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    identity: Identity,
    store: Arc<dyn FunctionStore>,
    code: CodeStore,
    logs: Arc<LogStore>,
    executor: Executor,
    // The invocation path reads this; control-plane writes replace entries whole.
    cache: RwLock<HashMap<String, Arc<functions::Cached>>>,
    // Serializes control-plane changes so that code clean-up never races a create.
    control: tokio::sync::Mutex<()>,
    concurrency: Arc<concurrency::Concurrency>,
    // Space set aside so that deletes work on a full disk.
    reserve: Arc<lamina_store::Reserve>,

    events: events::Events,
}

impl Platform {
    /// Opens the data directory, loads every function, and starts the executor. Must run
    /// within a Tokio runtime.
    pub async fn start(
        config: PlatformConfig,
        store: Arc<dyn FunctionStore>,
        launcher: Arc<dyn Launcher>,
    ) -> Result<Platform, StartError> {
        let dir = |sub: &str| config.data_dir.join(sub);
        let data_err = |path: PathBuf| move |source| StartError::DataDir { path, source };
        let code = CodeStore::open(&dir("code")).map_err(data_err(dir("code")))?;
        let logs = Arc::new(
            LogStore::open(&dir("logs"), config.log_group_max_bytes)
                .map_err(data_err(dir("logs")))?,
        );
        let catalog =
            RuntimeCatalog::detect(&dir("runtimes")).map_err(data_err(dir("runtimes")))?;
        let sink = Arc::new(logs::StoreSink(logs.clone()));
        let queue = lamina_queue::EmbeddedQueue::open(
            &dir("events.sqlite3"),
            lamina_queue::Limits {
                max_messages: config.events.max_events,
                max_bytes: config.events.max_bytes,
            },
        )?;
        let executor = Executor::new(config.executor.clone(), launcher, catalog, sink);
        // A package whose removal waited for its last user is collected once it is free.
        let (freed_tx, freed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        code.leases().on_free(Box::new(move |id| {
            let _ = freed_tx.send(id.to_string());
        }));
        let mut cache = HashMap::new();
        let mut provisioned_at_start = Vec::new();
        let mut opt_trees = Vec::new();
        for cfg in store.all().await? {
            let versions = store.versions(&cfg.name).await?;
            // The merged /opt of each layered function and version, rebuilt if it was removed.
            let merges: Vec<Vec<String>> = std::iter::once(&cfg)
                .chain(versions.iter())
                .filter(|c| !c.layers.is_empty())
                .map(|c| c.layers.iter().map(|l| l.code_id.clone()).collect())
                .collect();
            for ids in merges {
                opt_trees.push(code.opt_dir(&ids));
                let code = code.clone();
                if let Ok(Err(e)) =
                    tokio::task::spawn_blocking(move || code.merge_layers(&ids)).await
                {
                    tracing::warn!(function = %cfg.name, error = %e, "could not merge the layers");
                }
            }
            let cached = functions::Cached::with_versions(cfg, versions, &config.identity, &code);
            if let Some(v) = &cached.version {
                executor.expect_runtime(v.runtime);
            }
            provisioned_at_start.push(cached.config.name.clone());
            cache.insert(cached.config.name.clone(), Arc::new(cached));
        }
        let layers = store.layer_versions().await?;
        let reserve_dir = config.data_dir.clone();
        let reserve = tokio::task::spawn_blocking(move || {
            Arc::new(lamina_store::Reserve::new(&reserve_dir, RESERVE_BYTES))
        })
        .await
        .map_err(|e| StartError::DataDir {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        packages::sweep_unreferenced(&code, &executor, &cache, &layers, opt_trees).await;
        let flusher = Arc::downgrade(&logs);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(logs) = flusher.upgrade() else {
                    return;
                };
                logs.flush();
            }
        });
        let platform = Platform {
            inner: Arc::new(Inner {
                identity: config.identity,
                store,
                code,
                logs,
                executor,
                concurrency: {
                    let c = concurrency::Concurrency::new(config.concurrency_limit.max(1));
                    let reserved: u32 = cache
                        .values()
                        .filter_map(|c: &Arc<functions::Cached>| c.config.reserved_concurrency)
                        .sum();
                    c.reserved_total
                        .store(reserved, std::sync::atomic::Ordering::SeqCst);
                    Arc::new(c)
                },
                cache: RwLock::new(cache),
                reserve,
                control: tokio::sync::Mutex::new(()),

                events: events::Events::new(Arc::new(queue), config.events.clone()),
            }),
        };
        for name in provisioned_at_start {
            if let Some(entry) = platform.cached(&name) {
                platform.inner.sync_provisioned(&entry);
            }
        }
        platform.start_dispatcher();
        platform.collect_freed(freed_rx);
        Ok(platform)
    }

    /// Region and account.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The executor (visibility, tests).
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// Runtimes this host can run.
    pub fn available_runtimes(&self) -> Vec<String> {
        self.inner.executor.catalog().available()
    }

    /// Number of functions.
    pub fn function_count(&self) -> usize {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Stops every environment (after the HTTP surfaces stopped taking requests) and writes
    /// buffered logs.
    pub async fn shutdown(&self, grace: Duration) {
        // Queued events running now get the grace period to end; the rest stay queued.
        self.stop_dispatcher(grace).await;
        self.inner.executor.shutdown(grace).await;
        self.inner.logs.flush();
    }

    fn cached(&self, name: &str) -> Option<Arc<functions::Cached>> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

impl Inner {
    /// Replaces a function's `$LATEST` in the cache, keeping its published versions.
    fn put_cache(&self, cfg: FunctionConfig) {
        let versions: Vec<FunctionConfig> = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cfg.name)
            .map(|c| c.published.values().map(|v| v.config.clone()).collect())
            .unwrap_or_default();
        self.put_cache_with(cfg, versions);
    }

    /// Replaces a function's entry: `$LATEST` and its published versions.
    fn put_cache_with(&self, cfg: FunctionConfig, versions: Vec<FunctionConfig>) {
        let cached = Arc::new(functions::Cached::with_versions(
            cfg,
            versions,
            &self.identity,
            &self.code,
        ));
        if let Some(v) = &cached.version {
            self.executor.expect_runtime(v.runtime);
        }
        self.sync_provisioned(&cached);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cached.config.name.clone(), cached);
    }
}
