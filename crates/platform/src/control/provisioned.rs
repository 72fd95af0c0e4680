//! Provisioned concurrency: PutProvisionedConcurrencyConfig, GetProvisionedConcurrencyConfig,
//! ListProvisionedConcurrencyConfigs and DeleteProvisionedConcurrencyConfig, on a published
//! version or an alias. The settings live in the function's `$LATEST` record; every time a
//! function's cache entry is replaced, the versions they come to are handed to the executor,
//! which keeps that many environments initialised (see `lamina_executor::provisioned`).
//!
//! A weighted alias splits its number between its two versions by weight, as Lambda does
//! during a canary deployment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use lamina_model::provisioned::{
    ProvisionedConcurrencyConfig, ProvisionedSetting, ProvisionedStatus,
    PutProvisionedConcurrencyRequest,
};
use lamina_model::{FunctionRef, LambdaError, lambda_timestamp};

use lamina_model::paging::Page;

use crate::Platform;
use crate::cached::Cached;
use crate::provisioning::{live_settings, shares};

/// Put, Get, List and DeleteProvisionedConcurrencyConfig. A view of the platform: `platform.provisioned_configs()`.
#[derive(Debug, Clone, Copy)]
pub struct ProvisionedConfigs<'a> {
    pub(crate) p: &'a Platform,
}

fn unpublished() -> LambdaError {
    LambdaError::InvalidParameterValue(
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            .into(),
    )
}

impl ProvisionedConfigs<'_> {
    /// The function and the qualifier a provisioned-concurrency call names, checked.
    fn provisioned_target(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Arc<Cached>, String), LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        let qualifier = match (qualifier.filter(|q| !q.is_empty()), r.qualifier.as_deref()) {
            (Some(q), Some(own)) if q != own => {
                return Err(LambdaError::InvalidParameterValue(
                    "The derived qualifier from the function name does not match the specified \
                     qualifier."
                        .into(),
                ));
            }
            (Some(q), _) | (None, Some(q)) => q.to_string(),
            (None, None) => {
                return Err(LambdaError::null_member("qualifier"));
            }
        };
        let entry = self.p.registry().lookup(&r.name, None)?;
        if qualifier == "$LATEST" {
            return Err(unpublished());
        }
        let exists = match qualifier.parse::<u64>() {
            Ok(n) => entry.published.contains_key(&n),
            Err(_) => entry.config.aliases.contains_key(&qualifier),
        };
        if !exists {
            return Err(LambdaError::function_not_found(
                &self.p.identity().qualified_arn(&r.name, &qualifier),
            ));
        }
        Ok((entry, qualifier))
    }

    /// The configuration's answer, with where its allocation stands.
    fn provisioned_config(
        &self,
        entry: &Cached,
        qualifier: &str,
        setting: &ProvisionedSetting,
        with_arn: bool,
    ) -> ProvisionedConcurrencyConfig {
        let name = &entry.config.name;
        let mut allocated = 0;
        let mut failure = None;
        for (version, share) in shares(entry, qualifier, setting.requested) {
            let status = self
                .p
                .inner
                .executor
                .provisioned_status(name, &version.to_string());
            allocated += (status.allocated as u32).min(share);
            failure = failure.or(status.failure);
        }
        let status = if allocated >= setting.requested {
            ProvisionedStatus::Ready
        } else if failure.is_some() {
            ProvisionedStatus::Failed
        } else {
            ProvisionedStatus::InProgress
        };
        ProvisionedConcurrencyConfig {
            function_arn: with_arn.then(|| self.p.identity().qualified_arn(name, qualifier)),
            requested_provisioned_concurrent_executions: setting.requested,
            available_provisioned_concurrent_executions: allocated,
            allocated_provisioned_concurrent_executions: allocated,
            status,
            status_reason: failure.filter(|_| status == ProvisionedStatus::Failed),
            last_modified: setting.last_modified.clone(),
        }
    }

    /// PutProvisionedConcurrencyConfig: answered at once (202) with `IN_PROGRESS`; the
    /// environments start in the background.
    pub async fn put_provisioned_concurrency(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: PutProvisionedConcurrencyRequest,
    ) -> Result<ProvisionedConcurrencyConfig, LambdaError> {
        let requested = req.requested()?;
        let (entry, qualifier) = self.provisioned_target(name, qualifier)?;
        if let Some(alias) = entry.config.aliases.get(&qualifier)
            && alias.function_version == "$LATEST"
        {
            return Err(unpublished());
        }
        // Every other function's provisioned concurrency comes out of the unreserved pool
        // unless that function reserves its own.
        let others_unreserved: u32 = self
            .p
            .registry()
            .entries()
            .iter()
            .filter(|c| {
                c.config.name != entry.config.name && c.config.reserved_concurrency.is_none()
            })
            .map(|c| total(&c.config.provisioned_concurrency, None))
            .sum();
        let state = self.p.inner.concurrency.clone();
        let setting = self
            .p
            .registry()
            .change_record(&entry.config.name, |_, config| {
                let mine = total(&config.provisioned_concurrency, Some(&qualifier)) + requested;
                match config.reserved_concurrency {
                    Some(reserved) if mine > reserved => {
                        return Err(LambdaError::InvalidParameterValue(
                            "Requested Provisioned Concurrency should not be greater than the \
                             reservedConcurrentExecution for function"
                                .into(),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        let unreserved = state
                            .limit
                            .saturating_sub(state.reserved_total.load(Ordering::SeqCst));
                        let left = unreserved.saturating_sub(others_unreserved + mine);
                        if others_unreserved + mine > unreserved || left < state.unreserved_minimum
                        {
                            return Err(LambdaError::InvalidParameterValue(format!(
                                "Specified ConcurrentExecutions for function decreases account's \
                                 UnreservedConcurrentExecution below its minimum value of [{}].",
                                state.unreserved_minimum
                            )));
                        }
                    }
                }
                let setting = ProvisionedSetting {
                    requested,
                    last_modified: lambda_timestamp(chrono::Utc::now()),
                };
                config
                    .provisioned_concurrency
                    .insert(qualifier.clone(), setting.clone());
                Ok(setting)
            })
            .await?;
        let entry = self.p.registry().lookup(&entry.config.name, None)?;
        tracing::info!(function = %entry.config.name, %qualifier, requested, "provisioned concurrency set");
        Ok(self.provisioned_config(&entry, &qualifier, &setting, false))
    }

    /// GetProvisionedConcurrencyConfig.
    pub fn get_provisioned_concurrency(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<ProvisionedConcurrencyConfig, LambdaError> {
        let (entry, qualifier) = self.provisioned_target(name, qualifier)?;
        let setting = entry
            .config
            .provisioned_concurrency
            .get(&qualifier)
            .ok_or_else(not_found)?;
        Ok(self.provisioned_config(&entry, &qualifier, setting, false))
    }

    /// ListProvisionedConcurrencyConfigs.
    pub fn list_provisioned_concurrency(
        &self,
        name: &str,
        page: &Page,
    ) -> Result<(Vec<ProvisionedConcurrencyConfig>, Option<String>), LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        let max = page.size(50, 50);
        let entry = self.p.registry().lookup(&r.name, None)?;
        let all: Vec<ProvisionedConcurrencyConfig> = live_settings(&entry)
            .map(|(q, s)| self.provisioned_config(&entry, q, s, true))
            .collect();
        page.slice(all, max)
    }

    /// DeleteProvisionedConcurrencyConfig: its environments are stopped (busy ones once
    /// their invocation ends).
    pub async fn delete_provisioned_concurrency(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), LambdaError> {
        let (entry, qualifier) = self.provisioned_target(name, qualifier)?;
        self.p
            .registry()
            .change_record(&entry.config.name, |_, config| {
                config
                    .provisioned_concurrency
                    .remove(&qualifier)
                    .map(|_| ())
                    .ok_or_else(not_found)
            })
            .await
    }
}

fn not_found() -> LambdaError {
    LambdaError::ProvisionedConcurrencyConfigNotFound(
        "No Provisioned Concurrency Config found for this function".into(),
    )
}

/// Provisioned concurrency requested on a function, leaving out `except`.
fn total(settings: &BTreeMap<String, ProvisionedSetting>, except: Option<&str>) -> u32 {
    settings
        .iter()
        .filter(|(q, _)| Some(q.as_str()) != except)
        .map(|(_, s)| s.requested)
        .sum()
}
