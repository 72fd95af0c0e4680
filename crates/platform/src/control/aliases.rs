//! Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases. An alias names a
//! version of its function and may send a share of invocations to a second one; invoking
//! through it runs the version it picks, and the runtime sees the alias's ARN.

use lamina_model::alias::{
    Alias, AliasConfiguration, CreateAliasRequest, ListAliasesResponse, UpdateAliasRequest,
    validate_name, validate_routing, validate_version,
};
use lamina_model::limits::DESCRIPTION_MAX_CHARS;
use lamina_model::{FunctionRef, LambdaError};

use lamina_model::paging::Page;

use crate::Platform;
use crate::cached::Cached;
use crate::registry::revision_mismatch;

/// CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases. A view of the platform: `platform.aliases()`.
#[derive(Debug, Clone, Copy)]
pub struct Aliases<'a> {
    pub(crate) p: &'a Platform,
}

impl Aliases<'_> {
    /// The function named by `name` (unqualified).
    fn alias_function(&self, name: &str) -> Result<String, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        if !r.is_latest() {
            return Err(LambdaError::InvalidParameterValue(
                "Aliases belong to the function: give the unqualified function name.".into(),
            ));
        }
        self.p.registry().lookup(&r.name, None)?;
        Ok(r.name)
    }

    fn alias_not_found(&self, function: &str, alias: &str) -> LambdaError {
        LambdaError::ResourceNotFound(format!(
            "Alias not found: {}",
            self.p.identity().qualified_arn(function, alias)
        ))
    }

    /// Checks that `version` exists for the function in `entry`.
    fn check_version(&self, entry: &Cached, version: &str) -> Result<(), LambdaError> {
        validate_version(version)?;
        let exists = version == "$LATEST"
            || version
                .parse::<u64>()
                .is_ok_and(|n| entry.published.contains_key(&n));
        if exists {
            Ok(())
        } else {
            Err(LambdaError::function_not_found(
                &self.p.identity().qualified_arn(&entry.config.name, version),
            ))
        }
    }

    fn check_alias(&self, entry: &Cached, alias: &Alias) -> Result<(), LambdaError> {
        if alias.description.chars().count() > DESCRIPTION_MAX_CHARS {
            return Err(LambdaError::invalid_member(
                None,
                "description",
                &format!("Member must have length less than or equal to {DESCRIPTION_MAX_CHARS}"),
            ));
        }
        self.check_version(entry, &alias.function_version)?;
        validate_routing(&alias.function_version, &alias.additional_weights)?;
        for version in alias.additional_weights.keys() {
            self.check_version(entry, version)?;
        }
        Ok(())
    }

    /// CreateAlias.
    pub async fn create_alias(
        &self,
        name: &str,
        req: CreateAliasRequest,
    ) -> Result<AliasConfiguration, LambdaError> {
        let function = self.alias_function(name)?;
        let alias_name = req.name.clone().unwrap_or_default();
        validate_name(&alias_name)?;
        let version = req
            .function_version
            .clone()
            .ok_or_else(|| LambdaError::null_member("functionVersion"))?;
        let alias = Alias {
            name: alias_name.clone(),
            function_version: version,
            description: req.description.clone().unwrap_or_default(),
            additional_weights: req
                .routing_config
                .map(|r| r.additional_version_weights)
                .unwrap_or_default(),
            revision_id: lamina_model::new_id(),
        };
        let identity = self.p.identity().clone();
        self.change_aliases(&function, |entry, aliases| {
            if aliases.contains_key(&alias_name) {
                return Err(LambdaError::ResourceConflict(format!(
                    "Alias already exists: {}",
                    identity.qualified_arn(&function, &alias_name)
                )));
            }
            self.check_alias(entry, &alias)?;
            aliases.insert(alias_name.clone(), alias.clone());
            Ok(())
        })
        .await?;
        Ok(alias.to_wire(&function, &identity))
    }

    /// GetAlias.
    pub fn get_alias(&self, name: &str, alias: &str) -> Result<AliasConfiguration, LambdaError> {
        let function = self.alias_function(name)?;
        let entry = self.p.registry().lookup(&function, None)?;
        entry
            .config
            .aliases
            .get(alias)
            .map(|a| a.to_wire(&function, self.p.identity()))
            .ok_or_else(|| self.alias_not_found(&function, alias))
    }

    /// UpdateAlias.
    pub async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        req: UpdateAliasRequest,
    ) -> Result<AliasConfiguration, LambdaError> {
        let function = self.alias_function(name)?;
        let mut updated = None;
        self.change_aliases(&function, |entry, aliases| {
            let current = aliases
                .get(alias)
                .ok_or_else(|| self.alias_not_found(&function, alias))?;
            if req
                .revision_id
                .as_ref()
                .is_some_and(|r| *r != current.revision_id)
            {
                return Err(revision_mismatch());
            }
            let mut next = current.clone();
            if let Some(v) = &req.function_version {
                next.function_version = v.clone();
            }
            if let Some(d) = &req.description {
                next.description = d.clone();
            }
            if let Some(r) = &req.routing_config {
                next.additional_weights = r.additional_version_weights.clone();
            }
            next.revision_id = lamina_model::new_id();
            self.check_alias(entry, &next)?;
            aliases.insert(alias.to_string(), next.clone());
            updated = Some(next);
            Ok(())
        })
        .await?;
        let next = updated.expect("set by a successful change");
        Ok(next.to_wire(&function, self.p.identity()))
    }

    /// DeleteAlias.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), LambdaError> {
        let function = self.alias_function(name)?;
        self.change_aliases(&function, |_, aliases| {
            aliases
                .remove(alias)
                .map(|_| ())
                .ok_or_else(|| self.alias_not_found(&function, alias))
        })
        .await
    }

    /// ListAliases, optionally only those that route to `function_version`.
    pub fn list_aliases(
        &self,
        name: &str,
        function_version: Option<&str>,
        page: &Page,
    ) -> Result<ListAliasesResponse, LambdaError> {
        let function = self.alias_function(name)?;
        let max = page.size(50, 10_000);
        let entry = self.p.registry().lookup(&function, None)?;
        let all: Vec<AliasConfiguration> = entry
            .config
            .aliases
            .values()
            .filter(|a| {
                function_version
                    .is_none_or(|v| a.function_version == v || a.additional_weights.contains_key(v))
            })
            .map(|a| a.to_wire(&function, self.p.identity()))
            .collect();
        let (aliases, next_marker) = page.slice(all, max)?;
        Ok(ListAliasesResponse {
            aliases,
            next_marker,
        })
    }

    /// Applies `change` to the function's aliases and stores the result.
    async fn change_aliases(
        &self,
        function: &str,
        change: impl FnOnce(
            &Cached,
            &mut std::collections::BTreeMap<String, Alias>,
        ) -> Result<(), LambdaError>,
    ) -> Result<(), LambdaError> {
        self.p
            .registry()
            .change_record(function, |entry, config| {
                change(entry, &mut config.aliases)?;
                // An alias's policy goes with it: a new alias of the same name starts without one.
                let aliases = &config.aliases;
                config
                    .qualified_policies
                    .retain(|q, _| q.parse::<u64>().is_ok() || aliases.contains_key(q));
                // So does its provisioned concurrency.
                config
                    .provisioned_concurrency
                    .retain(|q, _| q.parse::<u64>().is_ok() || aliases.contains_key(q));
                // And its function URL (a new alias of the same name gets a new URL).
                config
                    .urls
                    .retain(|q, _| q == "$LATEST" || aliases.contains_key(q));
                Ok(())
            })
            .await
    }
}
