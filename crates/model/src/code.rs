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
