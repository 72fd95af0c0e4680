//! The deployment package a function or layer version points at.

use serde::{Deserialize, Serialize};

/// The deployment package a configuration points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeInfo {
    /// Lowercase hex SHA-256 of the zip: the key of the content-addressed code store.
    pub id: String,
    /// Base64 SHA-256 of the zip, as the API reports it in `CodeSha256`.
    pub sha256: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Size of the package once extracted, in bytes.
    pub unzipped_size: u64,
}

/// Where a request's package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// `ZipFile`: the zip, in base64.
    Zip(String),
    /// `S3Bucket`, `S3Key` and `S3ObjectVersion`: an object of this server's S3 service.
    Bucket {
        bucket: String,
        key: String,
        version: Option<String>,
    },
}

/// The members of a request that can name a package (`Code` of CreateFunction, the body of
/// UpdateFunctionCode, `Content` of PublishLayerVersion).
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeMembers<'a> {
    pub zip_file: Option<&'a str>,
    pub s3_bucket: Option<&'a str>,
    pub s3_key: Option<&'a str>,
    pub s3_object_version: Option<&'a str>,
    pub image_uri: Option<&'a str>,
}

/// Gives a request type with `zip_file`, `s3_bucket`, `s3_key` and `s3_object_version`
/// (and, named after them, an image member) its `members()`.
macro_rules! code_members {
    ($ty:ty $(, $image:ident)?) => {
        impl $ty {
            /// The members that name the package.
            pub fn members(&self) -> $crate::code::CodeMembers<'_> {
                $crate::code::CodeMembers {
                    zip_file: self.zip_file.as_deref(),
                    s3_bucket: self.s3_bucket.as_deref(),
                    s3_key: self.s3_key.as_deref(),
                    s3_object_version: self.s3_object_version.as_deref(),
                    image_uri: None $(.or(self.$image.as_deref()))?,
                }
            }
        }
    };
}
pub(crate) use code_members;

impl CodeMembers<'_> {
    /// The one source they name, with Lambda's refusals: a container image, both a zip and
    /// an object, an object without its bucket or key, or nothing at all.
    pub fn source(&self) -> Result<CodeSource, crate::LambdaError> {
        use crate::LambdaError::InvalidParameterValue as Invalid;
        if self.image_uri.is_some() {
            return Err(Invalid(
                "Container images (ImageUri, PackageType Image) are not supported by Lamina: \
                 deploy a .zip package with ZipFile or S3Bucket and S3Key."
                    .into(),
            ));
        }
        let s3 = self.s3_bucket.is_some() || self.s3_key.is_some();
        match (self.zip_file, s3) {
            (Some(_), true) => Err(Invalid(
                "Please do not provide other FunctionCode parameters when providing a ZipFile."
                    .into(),
            )),
            (Some(zip), false) => Ok(CodeSource::Zip(zip.to_string())),
            (None, true) => match (self.s3_bucket, self.s3_key) {
                (Some(bucket), Some(key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(CodeSource::Bucket {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        version: self.s3_object_version.map(str::to_string),
                    })
                }
                _ => Err(Invalid(
                    "Both S3Bucket and S3Key are required to take the package from S3.".into(),
                )),
            },
            (None, false) => Err(Invalid(
                "A package is required: ZipFile, or S3Bucket and S3Key.".into(),
            )),
        }
    }
}

/// Lambda's error for an object it could not read as a package, given S3's error code and
/// message (`NoSuchKey`, `The specified key does not exist.`).
pub fn object_error(code: &str, message: &str) -> crate::LambdaError {
    crate::LambdaError::InvalidParameterValue(format!(
        "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_one_source() {
        let zip = CodeMembers {
            zip_file: Some("UEsF"),
            ..Default::default()
        };
        assert_eq!(zip.source().unwrap(), CodeSource::Zip("UEsF".into()));
        let object = CodeMembers {
            s3_bucket: Some("code"),
            s3_key: Some("app.zip"),
            s3_object_version: Some("null"),
            ..Default::default()
        };
        assert_eq!(
            object.source().unwrap(),
            CodeSource::Bucket {
                bucket: "code".into(),
                key: "app.zip".into(),
                version: Some("null".into())
            }
        );
        for bad in [
            CodeMembers {
                zip_file: Some("UEsF"),
                s3_bucket: Some("code"),
                ..Default::default()
            },
            CodeMembers {
                s3_bucket: Some("code"),
                ..Default::default()
            },
            CodeMembers {
                image_uri: Some("repo/image"),
                ..Default::default()
            },
            CodeMembers::default(),
        ] {
            assert!(bad.source().is_err(), "{bad:?}");
        }
    }
}
