//! Provisioned concurrency: what is stored per qualifier, and the wire shapes of
//! Put/Get/List/DeleteProvisionedConcurrencyConfig.

use serde::{Deserialize, Serialize};

use crate::LambdaError;

/// The provisioned concurrency set on one qualifier (a version number or an alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedSetting {
    /// Environments requested.
    pub requested: u32,
    /// When it was set, in Lambda's format.
    pub last_modified: String,
}

/// PutProvisionedConcurrencyConfig's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutProvisionedConcurrencyRequest {
    /// Environments to keep initialised.
    pub provisioned_concurrent_executions: Option<i64>,
}

impl PutProvisionedConcurrencyRequest {
    /// The requested number, checked as Lambda checks it (at least 1).
    pub fn requested(&self) -> Result<u32, LambdaError> {
        LambdaError::count_at_least(
            self.provisioned_concurrent_executions,
            "provisionedConcurrentExecutions",
            1,
        )
    }
}

/// Allocation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProvisionedStatus {
    /// Environments are being started.
    InProgress,
    /// All requested environments are initialised.
    Ready,
    /// Environments cannot be initialised (`StatusReason` says why).
    Failed,
}

/// Get/PutProvisionedConcurrencyConfig's answer, and an item of the list (with
/// `FunctionArn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedConcurrencyConfig {
    /// The qualified ARN (in listings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    /// Requested.
    pub requested_provisioned_concurrent_executions: u32,
    /// Initialised and ready to take invocations.
    pub available_provisioned_concurrent_executions: u32,
    /// Initialised.
    pub allocated_provisioned_concurrent_executions: u32,
    /// IN_PROGRESS, READY or FAILED.
    pub status: ProvisionedStatus,
    /// Why allocation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// When it was set.
    pub last_modified: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_must_be_at_least_one() {
        let req = |n: Option<i64>| PutProvisionedConcurrencyRequest {
            provisioned_concurrent_executions: n,
        };
        assert_eq!(req(Some(2)).requested().unwrap(), 2);
        for bad in [None, Some(0), Some(-1), Some(i64::MAX)] {
            assert!(matches!(
                req(bad).requested(),
                Err(LambdaError::Validation(_))
            ));
        }
    }

    #[test]
    fn wire_shape() {
        let c = ProvisionedConcurrencyConfig {
            function_arn: None,
            requested_provisioned_concurrent_executions: 2,
            available_provisioned_concurrent_executions: 0,
            allocated_provisioned_concurrent_executions: 0,
            status: ProvisionedStatus::InProgress,
            status_reason: None,
            last_modified: "2026-11-21T10:00:00.000+0000".into(),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["Status"], "IN_PROGRESS");
        assert_eq!(v["RequestedProvisionedConcurrentExecutions"], 2);
        assert!(v.get("FunctionArn").is_none() && v.get("StatusReason").is_none());
    }
}
