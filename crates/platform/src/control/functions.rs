//! The control plane: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, GetAccountSettings.

use base64::Engine;
use lamina_model::function::{
    AccountLimit, AccountSettings, AccountUsage, CodeInfo, CreateFunctionRequest,
    FunctionConfiguration, ListFunctionsResponse, PublishVersionRequest, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
};
use lamina_model::limits::{CODE_UNZIPPED_MAX_BYTES, CODE_ZIPPED_MAX_BYTES, LIST_PAGE_MAX};
use lamina_model::{FunctionConfig, FunctionRef, LambdaError, lambda_timestamp};
use lamina_store::PackageError;

use lamina_model::paging::Page;

use crate::Platform;
use crate::registry::store_error;

/// CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction and GetAccountSettings. A view of the platform: `platform.functions()`.
#[derive(Debug, Clone, Copy)]
pub struct Functions<'a> {
    pub(crate) p: &'a Platform,
}

/// GetFunction's answer before the HTTP layer adds the download URL.
#[derive(Debug, Clone)]
pub struct FunctionDetails {
    /// The configuration.
    pub configuration: FunctionConfiguration,
    /// Id of the stored package.
    pub code_id: String,
    /// Tags.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Reserved concurrency.
    pub reserved_concurrency: Option<u32>,
}

pub(crate) fn package_error(e: PackageError) -> LambdaError {
    match e {
        PackageError::NotAZip(_) => LambdaError::InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
                .into(),
        ),
        PackageError::TooLargeZipped { .. } => LambdaError::RequestTooLarge(format!(
            "Zipped size must be smaller than {CODE_ZIPPED_MAX_BYTES} bytes"
        )),
        PackageError::TooLargeUnzipped { .. } => LambdaError::InvalidParameterValue(format!(
            "Unzipped size must be smaller than {CODE_UNZIPPED_MAX_BYTES} bytes"
        )),
        e @ (PackageError::TooManyEntries { .. } | PackageError::UnsafeEntry { .. }) => {
            LambdaError::InvalidParameterValue(e.to_string())
        }
        PackageError::NoSpace { path } => {
            tracing::error!(path = %path.display(), "the data directory is full");
            LambdaError::CodeStorageExceeded(
                "Code storage limit exceeded: the server's data directory is full. Delete \
                 unused functions, versions or layers to free space."
                    .into(),
            )
        }
        PackageError::Io { path, source } => {
            tracing::error!(path = %path.display(), error = %source, "could not store a package");
            LambdaError::Service(
                "The package could not be stored; the request may be retried.".into(),
            )
        }
    }
}

pub(crate) fn decode_zip(b64: &str) -> Result<Vec<u8>, LambdaError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            LambdaError::InvalidRequestContent(format!("Could not decode ZipFile as base64: {e}"))
        })
}

impl Functions<'_> {
    fn check_runtime(&self, runtime: &str) -> Result<(), LambdaError> {
        self.p
            .inner
            .executor
            .catalog()
            .check(runtime)
            .map(|_| ())
            .map_err(|e| LambdaError::InvalidParameterValue(e.to_string()))
    }

    /// CreateFunction.
    pub async fn create_function(
        &self,
        req: CreateFunctionRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let mut code = req.code.clone().unwrap_or_default();
        if req.package_type.as_deref() == Some("Image") {
            code.image_uri.get_or_insert_default();
        }
        let source = code.members().source()?;
        // Validate everything that needs no package before paying for extraction.
        let probe = CodeInfo {
            id: String::new(),
            sha256: String::new(),
            size: 0,
            unzipped_size: 0,
        };
        let mut config = FunctionConfig::from_create(&req, probe, String::new())?;
        self.check_runtime(&config.runtime)?;
        let name = config.name.clone();
        if self.p.registry().cached(&name).is_some() {
            return Err(LambdaError::ResourceConflict(format!(
                "Function already exist: {name}"
            )));
        }
        // Extracted (and its image built) before the control lock: a large package must not
        // hold up every other function's changes. The lease keeps it until it is recorded.
        let (code, _upload) = self
            .p
            .packages()
            .store_package(self.p.packages().zip_of(source).await?)
            .await?;
        config.code = code;
        let _guard = self.p.registry().lock().await;
        let recorded = async {
            if self.p.registry().cached(&name).is_some() {
                return Err(LambdaError::ResourceConflict(format!(
                    "Function already exist: {name}"
                )));
            }
            if let Some(arns) = &req.layers {
                self.p.layers().attach_layers(&mut config, arns).await?;
            }
            config.last_modified = lambda_timestamp(chrono::Utc::now());
            self.p
                .registry()
                .store()
                .create(&config)
                .await
                .map_err(|e| store_error(e, self.p.identity()))
        }
        .await;
        if let Err(e) = recorded {
            // Still held by this upload: it goes once the upload lets go of it.
            self.p.packages().collect_code(&config.code.id).await;
            return Err(e);
        }
        self.p.registry().put(config.clone());
        tracing::info!(function = %name, runtime = %config.runtime, "function created");
        if req.publish == Some(true) {
            return self
                .p
                .versions()
                .publish_locked(&name, &PublishVersionRequest::default())
                .await;
        }
        Ok(config.to_wire(self.p.identity()))
    }

    /// GetFunction.
    pub fn get_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionDetails, LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        let cached = self.p.registry().resolve(&r)?;
        Ok(FunctionDetails {
            configuration: self.p.registry().wire_through(&r, &cached),
            code_id: cached.config.code.id.clone(),
            tags: cached.config.tags.clone(),
            // Reserved for the whole function, whichever version was asked for.
            reserved_concurrency: self
                .p
                .registry()
                .cached(&r.name)
                .and_then(|c| c.config.reserved_concurrency),
        })
    }

    /// GetFunctionConfiguration.
    pub fn get_configuration(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        let cached = self.p.registry().resolve(&r)?;
        Ok(self.p.registry().wire_through(&r, &cached))
    }

    /// ListFunctions: name order, `marker` is the last name of the previous page.
    pub async fn list_functions(&self, page: &Page) -> Result<ListFunctionsResponse, LambdaError> {
        let max = page.size(LIST_PAGE_MAX, LIST_PAGE_MAX);
        let rows = self
            .p
            .registry()
            .store()
            .list(page.marker.as_deref(), max + 1)
            .await
            .map_err(|e| store_error(e, self.p.identity()))?;
        let more = rows.len() > max;
        let functions: Vec<FunctionConfiguration> = rows
            .iter()
            .take(max)
            .map(|c| c.to_wire(self.p.identity()))
            .collect();
        let next_marker = more
            .then(|| functions.last().map(|f| f.function_name.clone()))
            .flatten();
        Ok(ListFunctionsResponse {
            functions,
            next_marker,
        })
    }

    /// UpdateFunctionCode.
    pub async fn update_code(
        &self,
        name: &str,
        req: UpdateFunctionCodeRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let source = req.members().source()?;
        let architecture = req.architecture()?;
        let zip = self.p.packages().zip_of(source).await?;
        // Checked before the package is stored, and again under the lock.
        self.p
            .registry()
            .lookup_revision(name, req.revision_id.as_deref())?;
        let (code, _upload) = self.p.packages().store_package(zip).await?;
        let _guard = self.p.registry().lock().await;
        let current = match self
            .p
            .registry()
            .lookup_revision(name, req.revision_id.as_deref())
        {
            Ok(current) => current,
            Err(e) => {
                // Deleted or changed while the package was stored: it goes with this upload.
                self.p.packages().collect_code(&code.id).await;
                return Err(e);
            }
        };
        let mut config = current.config.clone();
        let old_code = std::mem::replace(&mut config.code, code);
        if let Some(a) = architecture {
            config.architecture = a;
        }
        if req.dry_run == Some(true) {
            if old_code.id != config.code.id {
                self.p.packages().collect_code(&config.code.id).await;
            }
            return Ok(config.to_wire(self.p.identity()));
        }
        config.revision_id = lamina_model::new_id();
        config.last_modified = lambda_timestamp(chrono::Utc::now());
        if let Err(e) = self
            .p
            .registry()
            .store()
            .update(&config, &current.config.revision_id)
            .await
        {
            if old_code.id != config.code.id {
                self.p.packages().collect_code(&config.code.id).await;
            }
            return Err(store_error(e, self.p.identity()));
        }
        self.p.registry().put(config.clone());
        self.p
            .inner
            .executor
            .retire_version(&config.name, "$LATEST");
        if old_code.id != config.code.id {
            self.p.packages().collect_code(&old_code.id).await;
        }
        tracing::info!(function = %config.name, "function code updated");
        if req.publish == Some(true) {
            return self
                .p
                .versions()
                .publish_locked(&config.name, &PublishVersionRequest::default())
                .await;
        }
        Ok(config.to_wire(self.p.identity()))
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_configuration(
        &self,
        name: &str,
        req: UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let _guard = self.p.registry().lock().await;
        let current = self
            .p
            .registry()
            .lookup_revision(name, req.revision_id.as_deref())?;
        let mut config = current.config.clone();
        config.apply(&req.update)?;
        if req.update.runtime.is_some() {
            self.check_runtime(&config.runtime)?;
        }
        if let Some(arns) = &req.update.layers {
            self.p.layers().attach_layers(&mut config, arns).await?;
        }
        config.revision_id = lamina_model::new_id();
        config.last_modified = lambda_timestamp(chrono::Utc::now());
        self.p
            .registry()
            .store()
            .update(&config, &current.config.revision_id)
            .await
            .map_err(|e| store_error(e, self.p.identity()))?;
        self.p.registry().put(config.clone());
        self.p
            .inner
            .executor
            .retire_version(&config.name, "$LATEST");
        tracing::info!(function = %config.name, "function configuration updated");
        Ok(config.to_wire(self.p.identity()))
    }

    /// DeleteFunction: the record, its environments, its package (if unused) and its logs.
    pub async fn delete_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        if r.qualifier.as_deref() == Some("$LATEST") {
            return Err(LambdaError::InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ));
        }
        let _guard = self.p.registry().lock().await;
        if let Some(q) = &r.qualifier {
            let number = q.parse::<u64>().map_err(|_| {
                LambdaError::function_not_found(&self.p.identity().qualified_arn(&r.name, q))
            })?;
            self.p
                .versions()
                .delete_version_locked(&r.name, number)
                .await?;
            self.p.inner.concurrency.counters(&r.name).forget_version(q);
            return Ok(());
        }
        let version_codes: Vec<String> = self
            .p
            .registry()
            .cached(&r.name)
            .map(|c| {
                c.published
                    .values()
                    .map(|v| v.config.code.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        let removed = self
            .p
            .packages()
            .freeing(|| self.p.registry().store().delete(&r.name))
            .await
            .map_err(|e| store_error(e, self.p.identity()))?;
        if let Some(reserved) = removed.reserved_concurrency {
            self.p
                .inner
                .concurrency
                .reserved_total
                .fetch_sub(reserved, std::sync::atomic::Ordering::SeqCst);
        }
        self.p.registry().forget(&r.name);
        self.p.inner.executor.set_provisioned(&r.name, Vec::new());
        self.p.inner.concurrency.forget(&r.name);
        if let Some(metrics) = &self.p.inner.metrics
            && let Err(e) = metrics.forget(&r.name).await
        {
            tracing::warn!(function = %r.name, error = %e, "could not drop a deleted function's metrics");
        }
        self.p.async_invoke().purge_events(&r.name).await;
        self.p.inner.executor.retire_function(&r.name);
        self.p.packages().collect_code(&removed.code.id).await;
        let mut version_codes = version_codes;
        version_codes.sort();
        version_codes.dedup();
        for id in version_codes.iter().filter(|id| **id != removed.code.id) {
            self.p.packages().collect_code(id).await;
        }
        tracing::info!(function = %r.name, "function deleted");
        Ok(())
    }

    /// Path of a stored package's zip, for GetFunction's download link.
    pub fn code_zip(&self, code_id: &str) -> Option<std::path::PathBuf> {
        let valid = code_id.len() == 64 && code_id.bytes().all(|b| b.is_ascii_hexdigit());
        (valid && self.p.registry().code().contains(code_id))
            .then(|| self.p.registry().code().zip_path(code_id))
    }

    /// GetAccountSettings.
    pub fn account_settings(&self) -> AccountSettings {
        let entries = self.p.registry().entries();
        let state = &self.p.inner.concurrency;
        let limit = u64::from(state.limit);
        let reserved = u64::from(
            state
                .reserved_total
                .load(std::sync::atomic::Ordering::SeqCst),
        );
        AccountSettings {
            account_limit: AccountLimit {
                total_code_size: 75 * 1024 * 1024 * 1024,
                code_size_unzipped: CODE_UNZIPPED_MAX_BYTES,
                code_size_zipped: CODE_ZIPPED_MAX_BYTES,
                concurrent_executions: limit,
                unreserved_concurrent_executions: limit.saturating_sub(reserved),
            },
            account_usage: AccountUsage {
                total_code_size: entries.iter().map(|c| c.config.code.size).sum(),
                function_count: entries.len() as u64,
            },
        }
    }
}
