//! Aliases: named pointers to a function version, optionally sending a share of invocations
//! to a second version (weighted routing), with their wire shapes and Lambda's rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Identity, LambdaError};

/// One alias as stored with its function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// Alias name.
    pub name: String,
    /// The version it points to (`$LATEST` or a number).
    pub function_version: String,
    /// Description.
    pub description: String,
    /// Additional version and the share of invocations it gets (0.0-1.0).
    pub additional_weights: BTreeMap<String, f64>,
    /// Changes on every update.
    pub revision_id: String,
}

/// `RoutingConfig` on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingConfig {
    /// Version -> weight.
    #[serde(default)]
    pub additional_version_weights: BTreeMap<String, f64>,
}

/// CreateAlias's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    /// Alias name.
    pub name: Option<String>,
    /// The version it points to.
    pub function_version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Weighted routing.
    pub routing_config: Option<RoutingConfig>,
}

/// UpdateAlias's body: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAliasRequest {
    /// The version it points to.
    pub function_version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Weighted routing (an empty map removes it).
    pub routing_config: Option<RoutingConfig>,
    /// Update only if the alias's revision is this one.
    pub revision_id: Option<String>,
}

/// `AliasConfiguration` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    /// The alias's ARN (the function ARN qualified by the alias).
    pub alias_arn: String,
    /// Name.
    pub name: String,
    /// Version.
    pub function_version: String,
    /// Description.
    pub description: String,
    /// Weighted routing, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<RoutingConfig>,
    /// Revision.
    pub revision_id: String,
}

/// ListAliases' response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// This page.
    pub aliases: Vec<AliasConfiguration>,
    /// Marker of the next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

impl Alias {
    /// The wire shape, with ARNs from `identity`.
    pub fn to_wire(&self, function: &str, identity: &Identity) -> AliasConfiguration {
        AliasConfiguration {
            alias_arn: identity.qualified_arn(function, &self.name),
            name: self.name.clone(),
            function_version: self.function_version.clone(),
            description: self.description.clone(),
            routing_config: (!self.additional_weights.is_empty()).then(|| RoutingConfig {
                additional_version_weights: self.additional_weights.clone(),
            }),
            revision_id: self.revision_id.clone(),
        }
    }

    /// The version an invocation runs, given `draw`, uniform in [0, 1).
    pub fn pick(&self, draw: f64) -> &str {
        let mut acc = 0.0;
        for (version, weight) in &self.additional_weights {
            acc += weight;
            if draw < acc {
                return version;
            }
        }
        &self.function_version
    }
}

/// Lambda's alias name rule: 1-128 of `[a-zA-Z0-9-_]`, not all digits.
pub fn validate_name(name: &str) -> Result<(), LambdaError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(LambdaError::invalid_member(
            Some(name),
            "name",
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+) and have length between 1 and 128",
        ))
    }
}

/// `$LATEST` or a version number.
pub fn validate_version(version: &str) -> Result<(), LambdaError> {
    let ok = version == "$LATEST"
        || (!version.is_empty()
            && version.len() <= 1024
            && version.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(LambdaError::invalid_member(
            Some(version),
            "functionVersion",
            "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)",
        ))
    }
}

/// Checks weighted routing against the alias's primary version: at most one additional
/// version, a published one other than the primary, with a weight in [0, 1]; the primary
/// must be a published version too.
pub fn validate_routing(primary: &str, weights: &BTreeMap<String, f64>) -> Result<(), LambdaError> {
    if weights.is_empty() {
        return Ok(());
    }
    if weights.len() > 1 {
        return Err(LambdaError::InvalidParameterValue(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
        ));
    }
    for (version, weight) in weights {
        validate_version(version)?;
        if !(0.0..=1.0).contains(weight) || weight.is_nan() {
            return Err(LambdaError::invalid_member(
                Some(&weight.to_string()),
                "routingConfig.additionalVersionWeights",
                "Map value must satisfy constraint: [Member must have value between 0.0 and 1.0]",
            ));
        }
        if version == "$LATEST" || primary == "$LATEST" {
            return Err(LambdaError::InvalidParameterValue(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        if version == primary {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Invalid function version {version}. Function version {version} is already \
                 included in routing configuration."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_and_routing_follow_lambdas_rules() {
        assert!(validate_name("prod").is_ok() && validate_name("v-2_x").is_ok());
        for bad in ["", "123", "a b", &"x".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_version("$LATEST").is_ok() && validate_version("12").is_ok());
        assert!(validate_version("v1").is_err());
        let w = |v: &str, x: f64| BTreeMap::from([(v.to_string(), x)]);
        assert!(validate_routing("1", &w("2", 0.3)).is_ok());
        assert!(validate_routing("1", &w("1", 0.3)).is_err());
        assert!(validate_routing("$LATEST", &w("2", 0.3)).is_err());
        assert!(validate_routing("1", &w("$LATEST", 0.3)).is_err());
        assert!(validate_routing("1", &w("2", 1.5)).is_err());
        let two = BTreeMap::from([("2".to_string(), 0.1), ("3".to_string(), 0.1)]);
        assert!(validate_routing("1", &two).is_err());
    }

    #[test]
    fn picks_by_weight() {
        let a = Alias {
            name: "prod".into(),
            function_version: "1".into(),
            description: String::new(),
            additional_weights: BTreeMap::from([("2".to_string(), 0.3)]),
            revision_id: "r".into(),
        };
        assert_eq!(a.pick(0.0), "2");
        assert_eq!(a.pick(0.29), "2");
        assert_eq!(a.pick(0.3), "1");
        assert_eq!(a.pick(0.99), "1");
    }
}
