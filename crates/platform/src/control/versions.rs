//! Published versions: PublishVersion (also through `Publish: true` on CreateFunction and
//! UpdateFunctionCode), ListVersionsByFunction, and deleting one version. A version is an
//! immutable snapshot of `$LATEST`'s code and configuration, numbered 1, 2, ... (numbers are
//! never reused); its environments are its own.

use lamina_model::function::{ListVersionsResponse, PublishVersionRequest};
use lamina_model::limits::DESCRIPTION_MAX_CHARS;
use lamina_model::{
    FunctionConfig, FunctionConfiguration, FunctionRef, LambdaError, lambda_timestamp,
};

use lamina_model::paging::Page;

use crate::Platform;
use crate::registry::store_error;

/// PublishVersion and ListVersionsByFunction. A view of the platform: `platform.versions()`.
#[derive(Debug, Clone, Copy)]
pub struct Versions<'a> {
    pub(crate) p: &'a Platform,
}

impl Versions<'_> {
    /// PublishVersion.
    pub async fn publish_version(
        &self,
        name: &str,
        req: PublishVersionRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        if !r.is_latest() {
            return Err(LambdaError::InvalidParameterValue(
                "Versions are published from $LATEST: give the unqualified function name.".into(),
            ));
        }
        if let Some(d) = &req.description
            && d.chars().count() > DESCRIPTION_MAX_CHARS
        {
            return Err(LambdaError::invalid_member(
                None,
                "description",
                &format!("Member must have length less than or equal to {DESCRIPTION_MAX_CHARS}"),
            ));
        }
        let _guard = self.p.registry().lock().await;
        self.publish_locked(&r.name, &req).await
    }

    /// Publishes `$LATEST` of `name`; the caller holds the control-plane lock.
    pub(crate) async fn publish_locked(
        &self,
        name: &str,
        req: &PublishVersionRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let identity = self.p.identity().clone();
        let current = self
            .p
            .registry()
            .lookup_revision(name, req.revision_id.as_deref())?;
        if let Some(sha) = &req.code_sha256
            && *sha != current.config.code.sha256
        {
            return Err(LambdaError::PreconditionFailed(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please \
                 try again with the CodeSHA256 in $LATEST.",
                current.config.code.sha256
            )));
        }
        // Nothing changed since the last publication: that version is the answer.
        if current.config.published_revision.as_deref() == Some(&current.config.revision_id)
            && let Some(last) = current.published.get(&current.config.last_version)
        {
            return Ok(last.config.to_wire(&identity));
        }
        let number = current.config.last_version + 1;
        let mut version = current.config.clone();
        version.version = number.to_string();
        version.revision_id = lamina_model::new_id();
        version.last_modified = lambda_timestamp(chrono::Utc::now());
        version.last_version = 0;
        version.published_revision = None;
        version.policy = None;
        version.aliases = Default::default();
        version.qualified_policies = Default::default();
        version.reserved_concurrency = None;
        version.provisioned_concurrency = Default::default();
        version.event_invoke = Default::default();
        if let Some(d) = &req.description {
            version.description = d.clone();
        }
        let mut latest = current.config.clone();
        latest.last_version = number;
        latest.published_revision = Some(latest.revision_id.clone());
        self.p
            .registry()
            .store()
            .publish(&latest, &current.config.revision_id, &version)
            .await
            .map_err(|e| store_error(e, &identity))?;
        let mut versions: Vec<FunctionConfig> = current
            .published
            .values()
            .map(|v| v.config.clone())
            .collect();
        versions.push(version.clone());
        self.p.registry().put_with(latest, versions);
        tracing::info!(function = %name, version = number, "version published");
        Ok(version.to_wire(&identity))
    }

    /// ListVersionsByFunction: `$LATEST`, then every published version, paginated.
    pub fn list_versions(
        &self,
        name: &str,
        page: &Page,
    ) -> Result<ListVersionsResponse, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        let max = page.size(50, 10_000);
        let entry = self.p.registry().lookup(&r.name, None)?;
        let identity = self.p.identity();
        let mut all = vec![{
            let mut latest = entry.config.to_wire(identity);
            latest.function_arn = identity.qualified_arn(&r.name, "$LATEST");
            latest
        }];
        all.extend(entry.published.values().map(|v| v.config.to_wire(identity)));
        let (versions, next_marker) = page.slice(all, max)?;
        Ok(ListVersionsResponse {
            versions,
            next_marker,
        })
    }

    /// Deletes published version `number` of `name`; the caller holds the control-plane lock.
    pub(crate) async fn delete_version_locked(
        &self,
        name: &str,
        number: u64,
    ) -> Result<(), LambdaError> {
        let identity = self.p.identity().clone();
        let entry = self.p.registry().lookup(name, None)?;
        if !entry.published.contains_key(&number) {
            return Err(LambdaError::function_not_found(
                &identity.qualified_arn(name, &number.to_string()),
            ));
        }
        let label = number.to_string();
        let referring: Vec<&str> = entry
            .config
            .aliases
            .values()
            .filter(|a| a.function_version == label || a.additional_weights.contains_key(&label))
            .map(|a| a.name.as_str())
            .collect();
        if !referring.is_empty() {
            return Err(LambdaError::ResourceConflict(format!(
                "Unable to delete version because the following aliases reference it: [{}]",
                referring.join(", ")
            )));
        }
        let removed = self
            .p
            .packages()
            .freeing(|| self.p.registry().store().delete_version(name, number))
            .await
            .map_err(|e| store_error(e, &identity))?;
        let versions: Vec<FunctionConfig> = entry
            .published
            .iter()
            .filter(|(n, _)| **n != number)
            .map(|(_, v)| v.config.clone())
            .collect();
        self.p.registry().put_with(entry.config.clone(), versions);
        self.p
            .inner
            .executor
            .retire_version(name, &number.to_string());
        self.p.packages().collect_code(&removed.code.id).await;
        tracing::info!(function = %name, version = number, "version deleted");
        Ok(())
    }
}
