//! Layers: versioned archives shared by functions and merged under `/opt` in their
//! environments, with their wire shapes and Lambda's rules.

use serde::{Deserialize, Serialize};

use crate::code::CodeInfo;
use crate::{Identity, LambdaError};

/// One published layer version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVersion {
    /// Layer name.
    pub name: String,
    /// Version number (1, 2, ...; never reused).
    pub version: u64,
    /// Description.
    pub description: String,
    /// License.
    pub license_info: Option<String>,
    /// Runtimes it declares.
    pub compatible_runtimes: Vec<String>,
    /// Architectures it declares.
    pub compatible_architectures: Vec<String>,
    /// Its package.
    pub code: CodeInfo,
    /// When it was published, in Lambda's format.
    pub created_date: String,
}

/// PublishLayerVersion's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishLayerVersionRequest {
    /// The archive.
    pub content: Option<LayerContentInput>,
    /// Description.
    pub description: Option<String>,
    /// Runtimes (at most 15).
    pub compatible_runtimes: Option<Vec<String>>,
    /// Architectures (at most 2).
    pub compatible_architectures: Option<Vec<String>>,
    /// License.
    pub license_info: Option<String>,
}

/// `Content` of PublishLayerVersion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerContentInput {
    /// The zip, base64.
    pub zip_file: Option<String>,
    /// The bucket of this server's S3 service that holds the zip.
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    /// The zip's key.
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    /// The zip's version (`null`: buckets here are not versioned).
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
}

crate::code::code_members!(LayerContentInput);

/// `Content` in answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerContentOutput {
    /// Download URL.
    pub location: String,
    /// Base64 SHA-256 of the zip.
    pub code_sha256: String,
    /// Zip size.
    pub code_size: u64,
}

/// PublishLayerVersion's and GetLayerVersion's answer: a list item with the archive and
/// the layer's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionResponse {
    /// The archive.
    pub content: LayerContentOutput,
    /// Layer ARN.
    pub layer_arn: String,
    /// Everything a list item shows.
    #[serde(flatten)]
    pub item: LayerVersionsListItem,
}

/// An item of ListLayerVersions, and ListLayers' `LatestMatchingVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionsListItem {
    /// Layer version ARN.
    pub layer_version_arn: String,
    /// Version number.
    pub version: u64,
    /// Description.
    pub description: String,
    /// Creation date.
    pub created_date: String,
    /// Runtimes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compatible_runtimes: Vec<String>,
    /// Architectures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compatible_architectures: Vec<String>,
    /// License.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_info: Option<String>,
}

/// An item of ListLayers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayersListItem {
    /// Name.
    pub layer_name: String,
    /// Layer ARN.
    pub layer_arn: String,
    /// Its newest version matching the filters.
    pub latest_matching_version: LayerVersionsListItem,
}

/// A layer a function uses, as stored with the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionLayer {
    /// Layer version ARN.
    pub arn: String,
    /// Zip size.
    pub code_size: u64,
    /// Its package.
    pub code_id: String,
    /// Extracted size.
    pub unzipped_size: u64,
}

/// A layer in a function's configuration on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerRef {
    /// Layer version ARN.
    pub arn: String,
    /// Zip size.
    pub code_size: u64,
}

impl LayerVersion {
    /// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME`.
    pub fn layer_arn(identity: &Identity, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{name}",
            identity.region, identity.account
        )
    }

    /// The layer version's ARN.
    pub fn arn(&self, identity: &Identity) -> String {
        format!(
            "{}:{}",
            LayerVersion::layer_arn(identity, &self.name),
            self.version
        )
    }

    /// PublishLayerVersion's and GetLayerVersion's shape; `location` is the download URL.
    pub fn to_wire(&self, identity: &Identity, location: String) -> LayerVersionResponse {
        LayerVersionResponse {
            content: LayerContentOutput {
                location,
                code_sha256: self.code.sha256.clone(),
                code_size: self.code.size,
            },
            layer_arn: LayerVersion::layer_arn(identity, &self.name),
            item: self.to_item(identity),
        }
    }

    /// The list item shape.
    pub fn to_item(&self, identity: &Identity) -> LayerVersionsListItem {
        LayerVersionsListItem {
            layer_version_arn: self.arn(identity),
            version: self.version,
            description: self.description.clone(),
            created_date: self.created_date.clone(),
            compatible_runtimes: self.compatible_runtimes.clone(),
            compatible_architectures: self.compatible_architectures.clone(),
            license_info: self.license_info.clone(),
        }
    }
}

/// `[a-zA-Z0-9-_]{1,140}`.
pub fn validate_name(name: &str) -> Result<(), LambdaError> {
    let ok = !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LambdaError::invalid_member(
            Some(name),
            "layerName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length between 1 and 140",
        ))
    }
}

/// Checks PublishLayerVersion's fields other than the archive.
pub fn validate_publish(req: &PublishLayerVersionRequest) -> Result<(), LambdaError> {
    let runtimes = req.compatible_runtimes.as_deref().unwrap_or_default();
    if runtimes.len() > 15 {
        return Err(LambdaError::invalid_member(
            None,
            "compatibleRuntimes",
            "Member must have length less than or equal to 15",
        ));
    }
    let architectures = req.compatible_architectures.as_deref().unwrap_or_default();
    if architectures.len() > 2 || architectures.iter().any(|a| a != "x86_64" && a != "arm64") {
        return Err(LambdaError::invalid_member(
            None,
            "compatibleArchitectures",
            "Member must have length less than or equal to 2, and each must be one of [x86_64, arm64]",
        ));
    }
    if req
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(LambdaError::invalid_member(
            None,
            "description",
            "Member must have length less than or equal to 256",
        ));
    }
    if req
        .license_info
        .as_deref()
        .is_some_and(|l| l.chars().count() > 512)
    {
        return Err(LambdaError::invalid_member(
            None,
            "licenseInfo",
            "Member must have length less than or equal to 512",
        ));
    }
    Ok(())
}

/// Parses a layer version ARN of this account into (name, version).
pub fn parse_version_arn(arn: &str, identity: &Identity) -> Option<(String, u64)> {
    let prefix = format!(
        "arn:aws:lambda:{}:{}:layer:",
        identity.region, identity.account
    );
    let rest = arn.strip_prefix(&prefix)?;
    let (name, version) = rest.rsplit_once(':')?;
    validate_name(name).ok()?;
    Some((name.to_string(), version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_fields() {
        let id = Identity {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        assert!(validate_name("deps_1-a").is_ok());
        assert!(validate_name("a:b").is_err() && validate_name("").is_err());
        assert_eq!(
            parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:deps:3", &id),
            Some(("deps".into(), 3))
        );
        assert_eq!(
            parse_version_arn("arn:aws:lambda:eu-west-1:123456789012:layer:deps:3", &id),
            None
        );
        let many = PublishLayerVersionRequest {
            compatible_runtimes: Some(vec!["python3.11".into(); 16]),
            ..Default::default()
        };
        assert!(validate_publish(&many).is_err());
        let arch = PublishLayerVersionRequest {
            compatible_architectures: Some(vec!["sparc".into()]),
            ..Default::default()
        };
        assert!(validate_publish(&arch).is_err());
    }
}
