//! Layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
//! ListLayerVersions and DeleteLayerVersion, and resolving the layers a function names.
//! A layer's archive is stored like a function's package; a function's layers are merged, in
//! order, into one tree that its environments see at `/opt`. Deleting a layer version keeps
//! its archive while functions still use it.

use std::collections::BTreeMap;

use lamina_model::layer::{
    FunctionLayer, LayerVersion, LayersListItem, PublishLayerVersionRequest, parse_version_arn,
    validate_name, validate_publish,
};
use lamina_model::limits::CODE_UNZIPPED_MAX_BYTES;
use lamina_model::{FunctionConfig, LambdaError, lambda_timestamp};

use lamina_model::paging::Page;

use crate::Platform;
use crate::registry::store_error;

/// Layer versions, and the layers functions use. A view of the platform: `platform.layers()`.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    pub(crate) p: &'a Platform,
}

fn not_found() -> LambdaError {
    LambdaError::ResourceNotFound("The resource you requested does not exist.".into())
}

/// Whether `layer` matches ListLayers' and ListLayerVersions' filters.
/// The `{VersionNumber}` of a layer path: a whole number (Lambda's `long`), else the
/// caller's 400.
fn version_number(version: &str) -> Result<i64, LambdaError> {
    version.parse::<i64>().map_err(|_| {
        LambdaError::invalid_member(
            Some(version),
            "versionNumber",
            "Member must be a whole number",
        )
    })
}

fn matches(layer: &LayerVersion, runtime: Option<&str>, architecture: Option<&str>) -> bool {
    runtime.is_none_or(|r| layer.compatible_runtimes.iter().any(|x| x == r))
        && architecture.is_none_or(|a| layer.compatible_architectures.iter().any(|x| x == a))
}

impl Layers<'_> {
    /// PublishLayerVersion.
    pub async fn publish_layer_version(
        &self,
        name: &str,
        req: PublishLayerVersionRequest,
    ) -> Result<LayerVersion, LambdaError> {
        validate_name(name)?;
        validate_publish(&req)?;
        let content = req.content.clone().unwrap_or_default();
        let zip = self
            .p
            .packages()
            .zip_of(content.members().source()?)
            .await?;
        let (code, _upload) = self.p.packages().store_package(zip).await?;
        let layer = LayerVersion {
            name: name.to_string(),
            version: 0,
            description: req.description.unwrap_or_default(),
            license_info: req.license_info,
            compatible_runtimes: req.compatible_runtimes.unwrap_or_default(),
            compatible_architectures: req.compatible_architectures.unwrap_or_default(),
            code,
            created_date: lambda_timestamp(chrono::Utc::now()),
        };
        let stored = match self.p.registry().store().publish_layer(&layer).await {
            Ok(stored) => stored,
            Err(e) => {
                let _guard = self.p.registry().lock().await;
                self.p.packages().collect_code(&layer.code.id).await;
                return Err(store_error(e, self.p.identity()));
            }
        };
        tracing::info!(layer = %name, version = stored.version, "layer version published");
        Ok(stored)
    }

    /// GetLayerVersion.
    pub async fn get_layer_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<LayerVersion, LambdaError> {
        validate_name(name)?;
        let number = u64::try_from(version_number(version)?).map_err(|_| not_found())?;
        self.p
            .registry()
            .store()
            .layer_version(name, number)
            .await
            .map_err(|e| store_error(e, self.p.identity()))?
            .ok_or_else(not_found)
    }

    /// GetLayerVersionByArn.
    pub async fn get_layer_version_by_arn(&self, arn: &str) -> Result<LayerVersion, LambdaError> {
        let (name, version) = parse_version_arn(arn, self.p.identity()).ok_or_else(|| {
            LambdaError::invalid_member(Some(arn), "arn", "Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+")
        })?;
        self.get_layer_version(&name, &version.to_string()).await
    }

    /// ListLayerVersions: newest first, optionally filtered.
    pub async fn list_layer_versions(
        &self,
        name: &str,
        runtime: Option<&str>,
        architecture: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<LayerVersion>, Option<String>), LambdaError> {
        validate_name(name)?;
        let max = page.size(50, 50);
        let mut all: Vec<LayerVersion> = self
            .p
            .registry()
            .store()
            .layer_versions()
            .await
            .map_err(|e| store_error(e, self.p.identity()))?
            .into_iter()
            .filter(|l| l.name == name && matches(l, runtime, architecture))
            .collect();
        all.reverse();
        page.slice(all, max)
    }

    /// ListLayers: each layer with its newest version that matches the filters.
    pub async fn list_layers(
        &self,
        runtime: Option<&str>,
        architecture: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<LayersListItem>, Option<String>), LambdaError> {
        let max = page.size(50, 50);
        let mut newest: BTreeMap<String, LayerVersion> = BTreeMap::new();
        for l in self
            .p
            .registry()
            .store()
            .layer_versions()
            .await
            .map_err(|e| store_error(e, self.p.identity()))?
        {
            if matches(&l, runtime, architecture) {
                newest.insert(l.name.clone(), l);
            }
        }
        let identity = self.p.identity();
        let all: Vec<LayersListItem> = newest
            .into_values()
            .map(|l| LayersListItem {
                layer_name: l.name.clone(),
                layer_arn: LayerVersion::layer_arn(identity, &l.name),
                latest_matching_version: l.to_item(identity),
            })
            .collect();
        page.slice(all, max)
    }

    /// DeleteLayerVersion: succeeds whether or not the version exists, as Lambda's does.
    pub async fn delete_layer_version(&self, name: &str, version: &str) -> Result<(), LambdaError> {
        validate_name(name)?;
        let Ok(number) = u64::try_from(version_number(version)?) else {
            // No layer has a negative version: deleting one is done already.
            return Ok(());
        };
        let _guard = self.p.registry().lock().await;
        let removed = self
            .p
            .packages()
            .freeing(|| self.p.registry().store().delete_layer_version(name, number))
            .await
            .map_err(|e| store_error(e, self.p.identity()))?;
        if let Some(layer) = removed {
            self.p.packages().collect_code(&layer.code.id).await;
            tracing::info!(layer = %name, version = number, "layer version deleted");
        }
        Ok(())
    }

    /// Resolves the layer version ARNs a function names, in order, checking they exist, are
    /// distinct layers, and fit with the function's code in the unzipped size limit; merges
    /// them into the function's `/opt`.
    pub(crate) async fn attach_layers(
        &self,
        config: &mut FunctionConfig,
        arns: &[String],
    ) -> Result<(), LambdaError> {
        let mut layers = Vec::with_capacity(arns.len());
        let mut names = std::collections::BTreeSet::new();
        for arn in arns {
            let invalid = || {
                LambdaError::InvalidParameterValue(format!("Layer version {arn} does not exist."))
            };
            let (name, version) = parse_version_arn(arn, self.p.identity()).ok_or_else(invalid)?;
            if !names.insert(name.clone()) {
                return Err(LambdaError::InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced \
                     in the same function."
                        .into(),
                ));
            }
            let layer = self
                .p
                .registry()
                .store()
                .layer_version(&name, version)
                .await
                .map_err(|e| store_error(e, self.p.identity()))?
                .ok_or_else(invalid)?;
            layers.push(FunctionLayer {
                arn: arn.clone(),
                code_size: layer.code.size,
                code_id: layer.code.id,
                unzipped_size: layer.code.unzipped_size,
            });
        }
        let total = config.code.unzipped_size + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
        if total > CODE_UNZIPPED_MAX_BYTES {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Function code combined with layers exceeds the maximum allowed size of \
                 {CODE_UNZIPPED_MAX_BYTES} bytes. The actual size is {total} bytes."
            )));
        }
        if !layers.is_empty() {
            let ids: Vec<String> = layers.iter().map(|l| l.code_id.clone()).collect();
            let code = self.p.registry().code().clone();
            let dir = tokio::task::spawn_blocking(move || code.merge_layers(&ids))
                .await
                .map_err(|e| LambdaError::Service(format!("merging layers failed: {e}")))?
                .map_err(|e| LambdaError::Service(format!("merging layers failed: {e}")))?;
            self.p.inner.executor.prepare_package(&dir).await;
        }
        config.layers = layers;
        Ok(())
    }
}
