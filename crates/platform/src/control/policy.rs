//! A function's resource-based policy: AddPermission, RemovePermission and GetPolicy. The
//! policy is stored with the function and returned in AWS's shape; it is not enforced until
//! requests are authenticated. Each published version and alias has a policy of its own.

use lamina_model::limits::POLICY_MAX_BYTES;
use lamina_model::policy::{
    AddPermissionRequest, AddPermissionResponse, GetPolicyResponse, Policy, statement,
};
use lamina_model::{FunctionRef, LambdaError};

use crate::Platform;
use crate::registry::revision_mismatch;

/// AddPermission, RemovePermission and GetPolicy. A view of the platform: `platform.policies()`.
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a> {
    pub(crate) p: &'a Platform,
}

impl Policies<'_> {
    /// The function a policy call names, which policy (`None`: the function's own, for an
    /// unqualified or `$LATEST` reference; else that version's or alias's), and the ARN its
    /// statements apply to.
    fn policy_target(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(String, Option<String>, String), LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        let identity = self.p.identity();
        let entry = self.p.registry().lookup(&r.name, None)?;
        match r.qualifier.as_deref() {
            None => Ok((r.name.clone(), None, identity.function_arn(&r.name))),
            Some("$LATEST") => Ok((
                r.name.clone(),
                None,
                identity.qualified_arn(&r.name, "$LATEST"),
            )),
            Some(q) => {
                let exists = q.parse::<u64>().map_or_else(
                    |_| entry.config.aliases.contains_key(q),
                    |n| entry.published.contains_key(&n),
                );
                if !exists {
                    return Err(LambdaError::function_not_found(
                        &identity.qualified_arn(&r.name, q),
                    ));
                }
                Ok((
                    r.name.clone(),
                    Some(q.to_string()),
                    identity.qualified_arn(&r.name, q),
                ))
            }
        }
    }

    /// GetPolicy.
    pub fn get_policy(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<GetPolicyResponse, LambdaError> {
        let (name, key, _) = self.policy_target(name, qualifier)?;
        let policy = self
            .p
            .registry()
            .cached(&name)
            .and_then(|c| match &key {
                None => c.config.policy.clone(),
                Some(q) => c.config.qualified_policies.get(q).cloned(),
            })
            .filter(|p| !p.statements.is_empty())
            .ok_or_else(|| {
                LambdaError::ResourceNotFound("The resource you requested does not exist.".into())
            })?;
        Ok(GetPolicyResponse {
            policy: policy.document(),
            revision_id: policy.revision_id,
        })
    }

    /// AddPermission.
    pub async fn add_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: AddPermissionRequest,
    ) -> Result<AddPermissionResponse, LambdaError> {
        let (name, key, resource) = self.policy_target(name, qualifier)?;
        let added = statement(&req, &resource)?;
        let sid = added["Sid"].as_str().unwrap_or_default().to_string();
        self.change_policy(&name, key, req.revision_id.as_deref(), |policy| {
            if policy.has(&sid) {
                return Err(LambdaError::ResourceConflict(format!(
                    "The statement id ({sid}) provided already exists. Please provide a new \
                     statement id, or remove the existing statement."
                )));
            }
            policy.statements.push(added.clone());
            if policy.document().len() > POLICY_MAX_BYTES {
                return Err(LambdaError::PolicyLengthExceeded(format!(
                    "The final policy size ({} bytes) is bigger than the limit ({POLICY_MAX_BYTES} bytes).",
                    policy.document().len()
                )));
            }
            Ok(())
        })
        .await?;
        Ok(AddPermissionResponse {
            statement: added.to_string(),
        })
    }

    /// RemovePermission.
    pub async fn remove_permission(
        &self,
        name: &str,
        sid: &str,
        qualifier: Option<&str>,
        revision_id: Option<&str>,
    ) -> Result<(), LambdaError> {
        let (name, key, _) = self.policy_target(name, qualifier)?;
        self.change_policy(&name, key, revision_id, |policy| {
            if policy.remove(sid) {
                Ok(())
            } else {
                Err(LambdaError::ResourceNotFound(format!(
                    "Statement {sid} is not found in resource policy."
                )))
            }
        })
        .await
    }

    async fn change_policy(
        &self,
        name: &str,
        key: Option<String>,
        revision_id: Option<&str>,
        change: impl FnOnce(&mut Policy) -> Result<(), LambdaError>,
    ) -> Result<(), LambdaError> {
        self.p
            .registry()
            .change_record(name, |_, config| {
                let mut policy = match &key {
                    None => config.policy.take(),
                    Some(q) => config.qualified_policies.remove(q),
                }
                .unwrap_or_default();
                if revision_id.is_some_and(|r| r != policy.revision_id) {
                    return Err(revision_mismatch());
                }
                change(&mut policy)?;
                policy.revision_id = lamina_model::new_id();
                if !policy.statements.is_empty() {
                    match key {
                        None => config.policy = Some(policy),
                        Some(q) => {
                            config.qualified_policies.insert(q, policy);
                        }
                    }
                }
                Ok(())
            })
            .await
    }
}
