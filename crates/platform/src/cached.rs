//! A function as the invocation path needs it: its configuration and the snapshot the
//! executor runs, for `$LATEST` and each published version. Replaced whole on every change.

use std::sync::Arc;
use std::time::Duration;

use lamina_executor::FunctionVersion;
use lamina_model::{FunctionConfig, Identity};
use lamina_store::{CodeStore, Lease};

/// A function as the invocation path needs it: its configuration and the snapshot the
/// executor runs. Replaced whole on every change.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) config: FunctionConfig,
    /// Holds the package while this entry lives: in the cache, or in the hands of an
    /// invocation that resolved it before an update or delete replaced it.
    _package: Lease,
    pub(crate) version: Option<Arc<FunctionVersion>>,
    /// Published versions by number, each with its own snapshot.
    pub(crate) published: std::collections::BTreeMap<u64, Arc<Cached>>,
}

impl Cached {
    /// `$LATEST` or one published version (as `config.version` says), without versions of
    /// its own.
    pub(crate) fn new(config: FunctionConfig, identity: &Identity, code: &CodeStore) -> Cached {
        let version = config.runtime_id().map(|runtime| {
            Arc::new(FunctionVersion {
                name: config.name.clone(),
                version: config.version.clone(),
                revision_id: config.revision_id.clone(),
                arn: identity.function_arn(&config.name),
                runtime,
                handler: config.handler.clone(),
                memory_mb: config.memory_size,
                ephemeral_storage_mb: config.ephemeral_storage,
                timeout: Duration::from_secs(u64::from(config.timeout)),
                environment: config.environment.clone(),
                code_dir: code.task_dir(&config.code.id),
                opt_dir: (!config.layers.is_empty()).then(|| {
                    let ids: Vec<String> =
                        config.layers.iter().map(|l| l.code_id.clone()).collect();
                    code.opt_dir(&ids)
                }),
                log_group: config.log_group.clone(),
                logging: lamina_executor::Logging::new(
                    &config.log_format,
                    config.application_log_level.as_deref(),
                    config.system_log_level.as_deref(),
                ),
                region: identity.region.clone(),
                // Tag `lamina:egress` = `off` keeps a function from reaching other networks.
                egress: config.tags.get("lamina:egress").is_none_or(|v| v != "off"),
                tracing_active: config.tracing_mode == "Active",
            })
        });
        Cached {
            _package: code.leases().lease(&config.code.id),
            config,
            version,
            published: Default::default(),
        }
    }

    /// The function's entry: `$LATEST` with its published versions.
    pub(crate) fn with_versions(
        latest: FunctionConfig,
        versions: impl IntoIterator<Item = FunctionConfig>,
        identity: &Identity,
        code: &CodeStore,
    ) -> Cached {
        let mut entry = Cached::new(latest, identity, code);
        for mut v in versions {
            // Tags belong to the function: a version's snapshot follows them (the egress tag).
            v.tags = entry.config.tags.clone();
            if let Ok(n) = v.version.parse::<u64>() {
                entry
                    .published
                    .insert(n, Arc::new(Cached::new(v, identity, code)));
            }
        }
        entry
    }
}
