//! The one owner of function records: the function cache the invocation path reads, the
//! store it mirrors, the packages their code lives in, and the control lock that serializes
//! changes. Every operation reads a function through [`Registry::resolve`] and friends, and
//! changes one through [`Registry::change_record`] or [`Registry::put`]; nothing else
//! touches the cache.
//!
//! Lock order: the control lock (async, held across a change's store write) before the
//! cache's `RwLock` (held for a map access only, never across an `.await`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lamina_executor::Executor;
use lamina_model::{FunctionConfig, FunctionConfiguration, FunctionRef, Identity, LambdaError};
use lamina_store::{CodeStore, FunctionStore, StoreError};

use crate::cached::Cached;
use crate::provisioning;

/// Function records, cached.
#[derive(Debug)]
pub(crate) struct Registry {
    identity: Identity,
    store: Arc<dyn FunctionStore>,
    code: CodeStore,
    executor: Executor,
    // The invocation path reads this; control-plane writes replace entries whole.
    cache: RwLock<Index>,
    // Serializes control-plane changes so that code clean-up never races a create.
    control: tokio::sync::Mutex<()>,
    // This node's index among the live nodes of its cluster, and their number ((0, 1) alone):
    // its part of provisioned concurrency.
    share: std::sync::Mutex<(usize, usize)>,
}

impl Registry {
    pub(crate) fn new(
        identity: Identity,
        store: Arc<dyn FunctionStore>,
        code: CodeStore,
        executor: Executor,
        cache: HashMap<String, Arc<Cached>>,
    ) -> Registry {
        Registry {
            identity,
            store,
            code,
            executor,
            cache: RwLock::new(Index::of(cache)),
            control: tokio::sync::Mutex::new(()),
            share: std::sync::Mutex::new((0, 1)),
        }
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    pub(crate) fn store(&self) -> &Arc<dyn FunctionStore> {
        &self.store
    }

    pub(crate) fn code(&self) -> &CodeStore {
        &self.code
    }

    /// Takes the control lock: control-plane changes that span more than one record write
    /// (create, update, delete, publish) hold it throughout.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.control.lock().await
    }

    /// A function's entry, if it exists.
    pub(crate) fn cached(&self, name: &str) -> Option<Arc<Cached>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .functions
            .get(name)
            .cloned()
    }

    /// The function and qualifier (`$LATEST` or an alias) a function URL's id names.
    pub(crate) fn url(&self, url_id: &str) -> Option<(Arc<Cached>, String)> {
        let index = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let (name, qualifier) = index.urls.get(url_id)?;
        Some((index.functions.get(name)?.clone(), qualifier.clone()))
    }

    /// Every function's entry.
    pub(crate) fn entries(&self) -> Vec<Arc<Cached>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .functions
            .values()
            .cloned()
            .collect()
    }

    /// Number of functions.
    pub(crate) fn count(&self) -> usize {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .functions
            .len()
    }

    /// The whole function's reserved concurrency (held on `$LATEST`).
    pub(crate) fn reservation(&self, name: &str) -> Option<u32> {
        self.cached(name)
            .and_then(|c| c.config.reserved_concurrency)
    }

    /// Replaces a function's `$LATEST` in the cache, keeping its published versions.
    pub(crate) fn put(&self, cfg: FunctionConfig) {
        let versions: Vec<FunctionConfig> = self
            .cached(&cfg.name)
            .map(|c| c.published.values().map(|v| v.config.clone()).collect())
            .unwrap_or_default();
        self.put_with(cfg, versions);
    }

    /// Replaces a function's entry: `$LATEST` and its published versions.
    pub(crate) fn put_with(&self, cfg: FunctionConfig, versions: Vec<FunctionConfig>) {
        let cached = Arc::new(Cached::with_versions(
            cfg,
            versions,
            &self.identity,
            &self.code,
        ));
        if let Some(v) = &cached.version {
            self.executor.expect_runtime(v.runtime, v.memory_mb);
        }
        provisioning::sync(&self.executor, &cached, self.share());
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cached);
    }

    /// This node's index among the live nodes, and their number.
    pub(crate) fn share(&self) -> (usize, usize) {
        *self.share.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets this node's place among the live nodes; when it moved, hands the executor the
    /// new part of every function's provisioned concurrency.
    pub(crate) fn set_share(&self, share: (usize, usize)) {
        {
            let mut current = self.share.lock().unwrap_or_else(|p| p.into_inner());
            if *current == share {
                return;
            }
            *current = share;
        }
        tracing::info!(
            node = share.0 + 1,
            of = share.1,
            "the live nodes changed: provisioned concurrency spread again"
        );
        for entry in self.entries() {
            provisioning::sync(&self.executor, &entry, share);
        }
    }

    /// Drops a function's entry (after its record was deleted).
    pub(crate) fn forget(&self, name: &str) -> Option<Arc<Cached>> {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    /// What a function reference names: `$LATEST` (unqualified or explicit) or a published
    /// version.
    pub(crate) fn lookup(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Arc<Cached>, LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, &self.identity)?;
        self.resolve(&r)
    }

    /// [`lookup`](Registry::lookup) of a parsed reference; an alias names its primary
    /// version.
    pub(crate) fn resolve(&self, r: &FunctionRef) -> Result<Arc<Cached>, LambdaError> {
        self.resolve_with(r, || 1.0)
    }

    /// Resolves `r`; through an alias with weighted routing, `draw` (a number in [0, 1),
    /// asked for only then) picks the version.
    pub(crate) fn resolve_with(
        &self,
        r: &FunctionRef,
        draw: impl FnOnce() -> f64,
    ) -> Result<Arc<Cached>, LambdaError> {
        let identity = &self.identity;
        let entry = self
            .cached(&r.name)
            .ok_or_else(|| LambdaError::function_not_found(&identity.function_arn(&r.name)))?;
        let not_found =
            |q: &str| LambdaError::function_not_found(&identity.qualified_arn(&r.name, q));
        let version = |entry: &Arc<Cached>, v: &str| -> Option<Arc<Cached>> {
            if v == "$LATEST" {
                return Some(entry.clone());
            }
            v.parse::<u64>()
                .ok()
                .and_then(|n| entry.published.get(&n).cloned())
        };
        match r.qualifier.as_deref() {
            None | Some("$LATEST") => Ok(entry),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                version(&entry, q).ok_or_else(|| not_found(q))
            }
            Some(q) => {
                let alias = entry.config.aliases.get(q).ok_or_else(|| not_found(q))?;
                let picked = if alias.additional_weights.is_empty() {
                    alias.function_version.as_str()
                } else {
                    alias.pick(draw())
                };
                version(&entry, picked).ok_or_else(|| not_found(q))
            }
        }
    }

    /// A configuration as seen through `r`: through an alias, the version's configuration
    /// with the alias's ARN.
    pub(crate) fn wire_through(&self, r: &FunctionRef, cached: &Cached) -> FunctionConfiguration {
        let mut wire = cached.config.to_wire(&self.identity);
        if let Some(q) = r.qualifier.as_deref()
            && !q.bytes().all(|b| b.is_ascii_digit())
            && q != "$LATEST"
        {
            wire.function_arn = self.identity.qualified_arn(&r.name, q);
        }
        wire
    }

    /// Changes the stored record of `name`'s `$LATEST` with `change` (which may refuse), under
    /// the control-plane lock, keeping its RevisionId: for what is no part of the
    /// configuration (tags, policies, aliases, reserved concurrency). Returns what `change`
    /// returned once the record is stored and cached.
    pub(crate) async fn change_record<T>(
        &self,
        name: &str,
        change: impl FnOnce(&Cached, &mut FunctionConfig) -> Result<T, LambdaError>,
    ) -> Result<T, LambdaError> {
        let _guard = self.control.lock().await;
        let entry = self.lookup(name, None)?;
        let mut config = entry.config.clone();
        let out = change(&entry, &mut config)?;
        self.store
            .update(&config, &entry.config.revision_id)
            .await
            .map_err(|e| store_error(e, &self.identity))?;
        self.put(config);
        Ok(out)
    }

    /// The function to update, if the caller's RevisionId (when given) is still current.
    pub(crate) fn lookup_revision(
        &self,
        name: &str,
        revision_id: Option<&str>,
    ) -> Result<Arc<Cached>, LambdaError> {
        let r = FunctionRef::parse(name, &self.identity)?;
        if !r.is_latest() {
            return Err(LambdaError::InvalidParameterValue(
                "Published versions and aliases cannot be changed: update $LATEST (the \
                 unqualified function) and publish a new version."
                    .into(),
            ));
        }
        let current = self.resolve(&r)?;
        if revision_id.is_some_and(|r| r != current.config.revision_id) {
            return Err(revision_mismatch());
        }
        Ok(current)
    }
}

/// The cache: entries by function name, and which function and qualifier each URL id
/// serves (kept in step under one lock, so a URL never names a function that is gone).
#[derive(Debug, Default)]
struct Index {
    functions: HashMap<String, Arc<Cached>>,
    urls: HashMap<String, (String, String)>,
}

impl Index {
    fn of(functions: HashMap<String, Arc<Cached>>) -> Index {
        let mut index = Index::default();
        for cached in functions.into_values() {
            index.insert(cached);
        }
        index
    }

    fn insert(&mut self, cached: Arc<Cached>) {
        let name = cached.config.name.clone();
        self.remove(&name);
        for (qualifier, url) in &cached.config.urls {
            self.urls
                .insert(url.url_id.clone(), (name.clone(), qualifier.clone()));
        }
        self.functions.insert(name, cached);
    }

    fn remove(&mut self, name: &str) -> Option<Arc<Cached>> {
        let old = self.functions.remove(name)?;
        for url in old.config.urls.values() {
            self.urls.remove(&url.url_id);
        }
        Some(old)
    }
}

pub(crate) fn store_error(e: StoreError, identity: &Identity) -> LambdaError {
    match e {
        StoreError::Exists(name) => {
            LambdaError::ResourceConflict(format!("Function already exist: {name}"))
        }
        StoreError::NotFound(name) => {
            LambdaError::function_not_found(&identity.function_arn(&name))
        }
        StoreError::RevisionMismatch { .. } => revision_mismatch(),
        StoreError::Postgres(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "the cluster's database cannot be reached");
            LambdaError::Service(
                "The cluster's database cannot be reached, so changes cannot be stored now; \
                 invocations of known functions go on. Retry the request shortly."
                    .into(),
            )
        }
        e if e.is_disk_full() => {
            tracing::error!(error = %e, "the data directory is full");
            LambdaError::CodeStorageExceeded(
                "Storage limit exceeded: the server's data directory is full. Delete unused \
                 functions, versions or layers to free space."
                    .into(),
            )
        }
        other => {
            tracing::error!(error = %other, "function store failed");
            LambdaError::Service("The function store failed; the request may be retried.".into())
        }
    }
}

pub(crate) fn revision_mismatch() -> LambdaError {
    LambdaError::PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            .into(),
    )
}
