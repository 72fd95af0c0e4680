//! [`PackageArchive`]: where a cluster keeps the packages (function code and layer
//! archives) every node may need, by content id. Each node still runs packages from its own
//! [`crate::CodeStore`], which then acts as a cache keyed by SHA-256, filled from the archive
//! on first use. One node alone needs none: its code store is the only copy.

use crate::StoreError;

/// Packages shared by a cluster, by content id (the hex SHA-256 of the zip).
#[async_trait::async_trait]
pub trait PackageArchive: Send + Sync + std::fmt::Debug {
    /// Keeps `zip` under `id`; keeping an id already kept changes nothing.
    async fn save(&self, id: &str, zip: &[u8]) -> Result<(), StoreError>;
    /// The zip kept under `id`, if any.
    async fn load(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Forgets `id` (no record of the cluster uses it any more).
    async fn remove(&self, id: &str) -> Result<(), StoreError>;
}
