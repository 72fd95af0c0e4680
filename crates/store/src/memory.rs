//! [`MemoryStore`]: a [`FunctionStore`] held in memory, for tests and throw-away servers. It
//! keeps the SQLite store's contract exactly (the same tests run against both, in
//! `functions::tests`); nothing survives the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use lamina_model::FunctionConfig;
use lamina_model::layer::LayerVersion;

use crate::functions::{FunctionStore, StoreError};

/// Function, version and layer records in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // One lock for everything, as SQLite's one connection: each call is atomic.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    functions: BTreeMap<String, FunctionConfig>,
    versions: BTreeMap<(String, u64), FunctionConfig>,
    layers: BTreeMap<(String, u64), LayerVersion>,
    /// Highest version each layer name ever had.
    layer_last: BTreeMap<String, u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Why an update guarded by `expected` cannot apply, if it cannot.
    fn check_revision(&self, name: &str, expected: &str) -> Result<(), StoreError> {
        match self.functions.get(name) {
            None => Err(StoreError::NotFound(name.to_string())),
            Some(stored) if stored.revision_id != expected => Err(StoreError::RevisionMismatch {
                name: name.to_string(),
                expected: expected.to_string(),
                actual: stored.revision_id.clone(),
            }),
            Some(_) => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl FunctionStore for MemoryStore {
    async fn create(&self, config: &FunctionConfig) -> Result<(), StoreError> {
        let mut st = self.state();
        if st.functions.contains_key(&config.name) {
            return Err(StoreError::Exists(config.name.clone()));
        }
        st.functions.insert(config.name.clone(), config.clone());
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<FunctionConfig>, StoreError> {
        Ok(self.state().functions.get(name).cloned())
    }

    async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let st = self.state();
        Ok(st
            .functions
            .iter()
            .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn all(&self) -> Result<Vec<FunctionConfig>, StoreError> {
        Ok(self.state().functions.values().cloned().collect())
    }

    async fn update(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        st.check_revision(&config.name, expected_revision)?;
        st.functions.insert(config.name.clone(), config.clone());
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<FunctionConfig, StoreError> {
        let mut st = self.state();
        let removed = st
            .functions
            .remove(name)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        st.versions.retain(|(n, _), _| n != name);
        Ok(removed)
    }

    async fn code_in_use(&self, code_id: &str) -> Result<bool, StoreError> {
        let st = self.state();
        Ok(st.functions.values().any(|c| c.code.id == code_id)
            || st.versions.values().any(|c| c.code.id == code_id)
            || st.layers.values().any(|l| l.code.id == code_id))
    }

    async fn publish(
        &self,
        latest: &FunctionConfig,
        expected_revision: &str,
        version: &FunctionConfig,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        st.check_revision(&latest.name, expected_revision)?;
        let number: u64 = version.version.parse().unwrap_or(0);
        st.functions.insert(latest.name.clone(), latest.clone());
        st.versions
            .insert((version.name.clone(), number), version.clone());
        Ok(())
    }

    async fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>, StoreError> {
        let st = self.state();
        Ok(st
            .versions
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn delete_version(&self, name: &str, version: u64) -> Result<FunctionConfig, StoreError> {
        self.state()
            .versions
            .remove(&(name.to_string(), version))
            .ok_or_else(|| StoreError::NotFound(format!("{name}:{version}")))
    }

    async fn publish_layer(&self, layer: &LayerVersion) -> Result<LayerVersion, StoreError> {
        let mut st = self.state();
        let last = st.layer_last.entry(layer.name.clone()).or_insert(0);
        *last += 1;
        let mut stored = layer.clone();
        stored.version = *last;
        st.layers
            .insert((stored.name.clone(), stored.version), stored.clone());
        Ok(stored)
    }

    async fn layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        Ok(self
            .state()
            .layers
            .get(&(name.to_string(), version))
            .cloned())
    }

    async fn layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError> {
        Ok(self.state().layers.values().cloned().collect())
    }

    async fn delete_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        Ok(self.state().layers.remove(&(name.to_string(), version)))
    }
}
