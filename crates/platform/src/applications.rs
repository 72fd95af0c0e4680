//! Applications deployed from templates: the record of what each deploy made
//! ([`lamina_model::application::Record`]), kept as documents of kind `application`, so the
//! next deploy from any machine sees it, and every node of a cluster does.

use lamina_model::LambdaError;
use lamina_model::application::{Record, valid_name};

use crate::Platform;

/// The kind of the documents that hold applications' records.
const KIND: &str = "application";

/// The applications' records. A view of its own, not a `Platform` method: it is a
/// record kept for the CLI, not part of the platform's work.
pub struct Applications<'a> {
    p: &'a Platform,
}

fn failed(e: impl std::fmt::Display) -> LambdaError {
    LambdaError::Service(format!("The application store failed: {e}"))
}

fn checked(name: &str) -> Result<(), LambdaError> {
    if valid_name(name) {
        return Ok(());
    }
    Err(LambdaError::InvalidParameterValue(format!(
        "Application name {name:?} must start with a letter and hold only letters, digits \
         and hyphens (at most 128)."
    )))
}

impl Applications<'_> {
    /// The records of `p`'s applications.
    pub fn of(p: &Platform) -> Applications<'_> {
        Applications { p }
    }

    /// Every application's record, by name.
    pub async fn list(&self) -> Result<Vec<Record>, LambdaError> {
        let docs = self
            .p
            .inner
            .documents
            .list(KIND, "")
            .await
            .map_err(failed)?;
        Ok(docs
            .into_iter()
            .filter_map(|(_, doc)| serde_json::from_str(&doc).ok())
            .collect())
    }

    /// The record of `name`.
    pub async fn get(&self, name: &str) -> Result<Record, LambdaError> {
        checked(name)?;
        let doc = self
            .p
            .inner
            .documents
            .get(KIND, name)
            .await
            .map_err(failed)?;
        doc.and_then(|d| serde_json::from_str(&d).ok())
            .ok_or_else(|| LambdaError::ResourceNotFound(format!("Application not found: {name}")))
    }

    /// Keeps `record` as the record of `name`.
    pub async fn put(&self, name: &str, mut record: Record) -> Result<Record, LambdaError> {
        checked(name)?;
        record.name = name.to_string();
        record.updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let doc = serde_json::to_string(&record).map_err(failed)?;
        self.p
            .inner
            .documents
            .put(KIND, name, &doc)
            .await
            .map_err(failed)?;
        Ok(record)
    }

    /// Forgets the record of `name` (what it made is deleted by the client first).
    pub async fn delete(&self, name: &str) -> Result<(), LambdaError> {
        checked(name)?;
        match self
            .p
            .inner
            .documents
            .delete(KIND, name)
            .await
            .map_err(failed)?
        {
            true => Ok(()),
            false => Err(LambdaError::ResourceNotFound(format!(
                "Application not found: {name}"
            ))),
        }
    }
}
