//! Tags on functions: TagResource, UntagResource and ListTags. Tags are no part of a
//! function's configuration in Lambda's model, so changing them keeps the RevisionId; the
//! one tag Lamina reads itself (`lamina:egress`) takes effect for environments started after
//! the change.

use std::collections::BTreeMap;

use lamina_model::function::validate_tags;
use lamina_model::{FunctionRef, LambdaError};

use crate::Platform;

/// TagResource, UntagResource and ListTags. A view of the platform: `platform.tags()`.
#[derive(Debug, Clone, Copy)]
pub struct Tags<'a> {
    pub(crate) p: &'a Platform,
}

impl Tags<'_> {
    /// The function a tagging call names: an unqualified function ARN of this account.
    fn tagged_function(&self, resource: &str) -> Result<String, LambdaError> {
        if !resource.starts_with("arn:") {
            return Err(LambdaError::invalid_member(
                Some(resource),
                "resource",
                "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            ));
        }
        let r = FunctionRef::parse(resource, self.p.identity())?;
        if r.qualifier.is_some() {
            return Err(LambdaError::InvalidParameterValue(
                "Tags are not supported for function versions or aliases; tag the unqualified \
                 function ARN."
                    .into(),
            ));
        }
        if self.p.registry().cached(&r.name).is_none() {
            return Err(LambdaError::function_not_found(resource));
        }
        Ok(r.name)
    }

    /// ListTags.
    pub fn list_tags(&self, resource: &str) -> Result<BTreeMap<String, String>, LambdaError> {
        let name = self.tagged_function(resource)?;
        self.p
            .registry()
            .cached(&name)
            .map(|c| c.config.tags.clone())
            .ok_or_else(|| LambdaError::function_not_found(resource))
    }

    /// TagResource: adds `tags`, replacing the values of keys already set.
    pub async fn tag_resource(
        &self,
        resource: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), LambdaError> {
        self.change_tags(resource, |current| {
            current.extend(tags);
        })
        .await
    }

    /// UntagResource: removes `keys` (keys not set are ignored).
    pub async fn untag_resource(&self, resource: &str, keys: &[String]) -> Result<(), LambdaError> {
        if keys.is_empty() {
            return Err(LambdaError::null_member("tagKeys"));
        }
        self.change_tags(resource, |current| {
            for key in keys {
                current.remove(key);
            }
        })
        .await
    }

    async fn change_tags(
        &self,
        resource: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<(), LambdaError> {
        let name = self.tagged_function(resource)?;
        self.p
            .registry()
            .change_record(&name, |_, config| {
                change(&mut config.tags);
                validate_tags(&config.tags)
            })
            .await
    }
}
