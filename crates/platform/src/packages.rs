//! The life of stored packages around their records: storing an upload (outside the
//! control lock, held by a lease until it is recorded), removing a package once no record
//! uses it and nothing holds it (or once its last lease goes), and sweeping at start what a
//! crash left unreferenced.
//!
//! Writes are ordered so that a crash leaves at most garbage for the sweep: a package is
//! in place before its record is stored, and a record is removed before its package.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use lamina_executor::Executor;
use lamina_model::LambdaError;
use lamina_model::code::{CodeSource, object_error};
use lamina_model::function::CodeInfo;
use lamina_model::layer::LayerVersion;
use lamina_objects::ObjectError;
use lamina_store::{CodeStore, Lease, StoreError};

use crate::Platform;
use crate::cached::Cached;
use crate::control::functions::package_error;

/// Storing uploaded packages and removing them once nothing uses them. A view of the platform: `platform.packages()`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packages<'a> {
    pub(crate) p: &'a Platform,
}

impl Packages<'_> {
    /// The zip a request names: its `ZipFile`, or an object of this server's S3 service
    /// (read whole: a package is extracted from memory; up to Lambda's unzipped limit).
    pub(crate) async fn zip_of(&self, source: CodeSource) -> Result<Vec<u8>, LambdaError> {
        let (bucket, key, version) = match source {
            CodeSource::Zip(b64) => return crate::control::functions::decode_zip(&b64),
            CodeSource::Bucket {
                bucket,
                key,
                version,
            } => (bucket, key, version),
        };
        // Buckets here keep no versions: the one version of an object is `null`.
        if version.as_deref().is_some_and(|v| v != "null") {
            return Err(object_error(
                "NoSuchVersion",
                "The specified version does not exist.",
            ));
        }
        let max = lamina_model::limits::CODE_UNZIPPED_MAX_BYTES;
        let Some(objects) = self.p.s3().store() else {
            return match self.p.s3().remote() {
                Some(remote) => remote
                    .read(&bucket, &key, max)
                    .await
                    .map_err(|(code, message)| object_error(&code, &message)),
                None => Err(LambdaError::InvalidParameterValue(
                    "This server serves no object storage: upload the package as ZipFile.".into(),
                )),
            };
        };
        let meta = objects.head(&bucket, &key).await.map_err(|e| match e {
            ObjectError::NoSuchBucket => object_error("NoSuchBucket", &e.to_string()),
            ObjectError::NoSuchKey => object_error("NoSuchKey", &e.to_string()),
            e => LambdaError::Service(format!("the package could not be read: {e}")),
        })?;
        if meta.size > max {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Unzipped size must be smaller than {max} bytes"
            )));
        }
        // Opened by name at once: a later write replaces the blob, but this read keeps it.
        tokio::fs::read(objects.path_of(&meta))
            .await
            .map_err(|e| LambdaError::Service(format!("the package could not be read: {e}")))
    }

    /// Stores a package off the async threads, and prepares it for environments. Needs no
    /// lock: the package is held (the lease) until the caller has recorded it or let it go.
    pub(crate) async fn store_package(
        &self,
        zip: Vec<u8>,
    ) -> Result<(CodeInfo, Lease), LambdaError> {
        let code = self.p.registry().code().clone();
        let (stored, zip) = tokio::task::spawn_blocking(move || (code.put(&zip), zip))
            .await
            .map_err(|e| LambdaError::Service(format!("package extraction failed: {e}")))?;
        let (info, lease) = stored.map_err(package_error)?;
        // In a cluster, in the archive too before any record names it, so that every
        // node can fetch it.
        if let Some(archive) = &self.p.inner.archive {
            archive.save(&info.id, &zip).await.map_err(|e| {
                tracing::error!(error = %e, "could not archive a package");
                LambdaError::Service(
                    "The package could not be stored in the cluster's database; the request \
                     may be retried."
                        .into(),
                )
            })?;
        }
        self.p
            .inner
            .executor
            .prepare_package(&self.p.registry().code().task_dir(&info.id))
            .await;
        Ok((info, lease))
    }

    /// Removes a package once no record uses it and nothing holds it; if something still
    /// holds it, the removal is tried again when it is let go ([`Platform::start`] wires
    /// that). Called with the control lock held, so that no record takes the package up
    /// while it is checked.
    pub(crate) async fn collect_code(&self, id: &str) {
        // A deleted layer version's package stays while functions still use it.
        let used_as_layer = self
            .p
            .registry()
            .entries()
            .iter()
            .flat_map(|c| std::iter::once(&**c).chain(c.published.values().map(|v| &**v)))
            .any(|c| c.config.layers.iter().any(|l| l.code_id == id));
        if used_as_layer {
            return;
        }
        match self.p.registry().store().code_in_use(id).await {
            Ok(false) => {
                if let Some(archive) = &self.p.inner.archive
                    && let Err(e) = archive.remove(id).await
                {
                    tracing::warn!(code = id, error = %e, "could not remove an archived package");
                }
                let code = self.p.registry().code().clone();
                let executor = self.p.inner.executor.clone();
                let id = id.to_string();
                let removed = tokio::task::spawn_blocking(move || {
                    let task_dir = code.task_dir(&id);
                    code.remove(&id, || executor.release_package(&task_dir))
                        .map_err(|e| (id, e))
                })
                .await;
                if let Ok(Err((id, e))) = removed {
                    tracing::warn!(code = %id, error = %e, "could not remove an unused package");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(code = id, error = %e, "could not check package use"),
        }
    }

    /// Collects each package whose removal waited for its last lease, under the control
    /// lock like any other removal.
    /// Runs `op`, a store change that frees space; if the disk was too full for it, gives
    /// the data directory's reserve back and runs it once more. The reserve is taken again
    /// once there is room ([`Platform::restore_reserve`]).
    pub(crate) async fn freeing<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let result = match op().await {
            Err(e) if e.is_disk_full() => {
                let reserve = self.p.inner.reserve.clone();
                let released = tokio::task::spawn_blocking(move || reserve.release())
                    .await
                    .unwrap_or(false);
                if !released {
                    return Err(e);
                }
                op().await
            }
            other => other,
        };
        // Each removal may have made room for a reserve given back earlier.
        if result.is_ok() {
            self.restore_reserve();
        }
        result
    }

    /// Takes the data directory's reserve again, in the background, if it was given back
    /// and there is room (once what freed space has gone).
    pub(crate) fn restore_reserve(&self) {
        let reserve = self.p.inner.reserve.clone();
        if reserve.held() {
            return;
        }
        let weak = Arc::downgrade(&self.p.inner);
        tokio::spawn(async move {
            // After the package clean-up that follows the record's removal.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if weak.upgrade().is_some() {
                let _ = tokio::task::spawn_blocking(move || reserve.restore()).await;
            }
        });
    }

    pub(crate) fn collect_freed(&self, mut freed: tokio::sync::mpsc::UnboundedReceiver<String>) {
        let weak = Arc::downgrade(&self.p.inner);
        tokio::spawn(async move {
            while let Some(id) = freed.recv().await {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let platform = Platform { inner };
                let _guard = platform.registry().lock().await;
                platform.packages().collect_code(&id).await;
            }
        });
    }
}

/// Merges, for `latest` and each of `versions` that uses layers, its layers into its `/opt`
/// tree (rebuilt if it was removed); returns those trees.
pub(crate) async fn merge_layers(
    code: &CodeStore,
    latest: &lamina_model::FunctionConfig,
    versions: &[lamina_model::FunctionConfig],
) -> Vec<PathBuf> {
    let merges: Vec<Vec<String>> = std::iter::once(latest)
        .chain(versions.iter())
        .filter(|c| !c.layers.is_empty())
        .map(|c| c.layers.iter().map(|l| l.code_id.clone()).collect())
        .collect();
    let mut trees = Vec::new();
    for ids in merges {
        trees.push(code.opt_dir(&ids));
        let code = code.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || code.merge_layers(&ids)).await {
            tracing::warn!(function = %latest.name, error = %e, "could not merge the layers");
        }
    }
    trees
}

/// Fetches from `archive` every package of `ids` this node does not have, and extracts it
/// into `code` (the node's cache). A package the archive lacks is left out: its function
/// then fails as one with missing code would, and the rest still run.
pub(crate) async fn fetch_missing(
    code: &CodeStore,
    archive: &dyn lamina_store::PackageArchive,
    ids: &[String],
) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) || code.contains(id) {
            continue;
        }
        let Some(zip) = archive.load(id).await? else {
            tracing::warn!(code = %id, "a package of the cluster is missing from its database");
            continue;
        };
        let code = code.clone();
        let id = id.clone();
        let put = tokio::task::spawn_blocking(move || code.put(&zip).map(|(info, _)| info)).await;
        match put {
            Ok(Ok(info)) if info.id == id => {}
            Ok(Ok(info)) => {
                tracing::warn!(expected = %id, got = %info.id, "an archived package's content does not match its id")
            }
            Ok(Err(e)) => {
                tracing::warn!(code = %id, error = %e, "could not extract an archived package")
            }
            Err(e) => {
                tracing::warn!(code = %id, error = %e, "could not extract an archived package")
            }
        }
    }
    Ok(())
}

/// Removes the packages and merged layer trees no record references: what a crash left
/// between storing a package and recording it, or between removing a record and its
/// package.
pub(crate) async fn sweep_unreferenced(
    code: &CodeStore,
    executor: &Executor,
    cache: &HashMap<String, Arc<Cached>>,
    layers: &[LayerVersion],
    opt_trees: Vec<PathBuf>,
) {
    let mut referenced: HashSet<String> = layers.iter().map(|l| l.code.id.clone()).collect();
    for entry in cache.values() {
        for c in std::iter::once(&**entry).chain(entry.published.values().map(|v| &**v)) {
            referenced.insert(c.config.code.id.clone());
            referenced.extend(c.config.layers.iter().map(|l| l.code_id.clone()));
        }
    }
    let code = code.clone();
    let executor = executor.clone();
    let swept = tokio::task::spawn_blocking(move || -> std::io::Result<(usize, usize)> {
        let mut packages = 0;
        for id in code.packages()? {
            if !referenced.contains(&id) {
                let task_dir = code.task_dir(&id);
                if code.remove(&id, || executor.release_package(&task_dir))? {
                    packages += 1;
                }
            }
        }
        Ok((packages, code.remove_opt_trees_except(&opt_trees)?))
    })
    .await;
    match swept {
        Ok(Ok((0, 0))) => {}
        Ok(Ok((packages, trees))) => tracing::info!(
            packages,
            layer_trees = trees,
            "removed what no function or layer references"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not sweep unreferenced packages"),
        Err(e) => tracing::warn!(error = %e, "could not sweep unreferenced packages"),
    }
}
