//! The errors of Lambda's domain, one variant per Lambda error type, with AWS's names and
//! wording. How each goes on the wire (its HTTP status, the `x-amzn-ErrorType` header and
//! the JSON body botocore parses into `client.exceptions.<Type>`) is decided at the edge,
//! in `lamina_api::error`.

/// One error of the Lambda API, named as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LambdaError {
    /// The function (or other resource) does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// the resource exists already, or is in a state that forbids the change.
    #[error("{0}")]
    ResourceConflict(String),
    /// the resource is in use (an event source mapping being deleted).
    #[error("{0}")]
    ResourceInUse(String),
    /// a parameter has a value Lambda does not accept.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// the request does not satisfy the API model (patterns, lengths).
    #[error("{0}")]
    Validation(String),
    /// the request body could not be parsed.
    #[error("{0}")]
    InvalidRequestContent(String),
    /// the request body is larger than Lambda accepts.
    #[error("{0}")]
    RequestTooLarge(String),
    /// a RevisionId precondition did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// a resource policy would exceed its size limit.
    #[error("{0}")]
    PolicyLengthExceeded(String),
    /// the code storage is full (Lambda: the account's code storage limit).
    #[error("{0}")]
    CodeStorageExceeded(String),
    /// the version or alias has no provisioned concurrency configuration.
    #[error("{0}")]
    ProvisionedConcurrencyConfigNotFound(String),
    /// throttled; `reason` is one of Lambda's throttle reasons.
    #[error("{message}")]
    TooManyRequests {
        /// Lambda's `Reason`, e.g. `ConcurrentInvocationLimitExceeded`.
        reason: String,
        /// Human-readable message.
        message: String,
    },
    /// the function's runtime is not available.
    #[error("{0}")]
    InvalidRuntime(String),
    /// no such operation on this server.
    #[error("{0}")]
    UnknownOperation(String),
    /// the platform failed; the request may be retried.
    #[error("{0}")]
    Service(String),
}

impl LambdaError {
    /// The error type name, as sent in `x-amzn-ErrorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            LambdaError::ResourceNotFound(_) => "ResourceNotFoundException",
            LambdaError::ResourceConflict(_) => "ResourceConflictException",
            LambdaError::ResourceInUse(_) => "ResourceInUseException",
            LambdaError::InvalidParameterValue(_) => "InvalidParameterValueException",
            LambdaError::Validation(_) => "ValidationException",
            LambdaError::InvalidRequestContent(_) => "InvalidRequestContentException",
            LambdaError::RequestTooLarge(_) => "RequestTooLargeException",
            LambdaError::PreconditionFailed(_) => "PreconditionFailedException",
            LambdaError::PolicyLengthExceeded(_) => "PolicyLengthExceededException",
            LambdaError::CodeStorageExceeded(_) => "CodeStorageExceededException",
            LambdaError::ProvisionedConcurrencyConfigNotFound(_) => {
                "ProvisionedConcurrencyConfigNotFoundException"
            }
            LambdaError::TooManyRequests { .. } => "TooManyRequestsException",
            LambdaError::InvalidRuntime(_) => "InvalidRuntimeException",
            LambdaError::UnknownOperation(_) => "UnknownOperationException",
            LambdaError::Service(_) => "ServiceException",
        }
    }

    /// ValidationException in AWS's words for one member that breaks `constraint`:
    /// "1 validation error detected: Value 'v' at 'member' failed to satisfy constraint: ..."
    /// (`Value at` when the value is not shown).
    pub fn invalid_member(value: Option<&str>, member: &str, constraint: &str) -> Self {
        let value = value.map_or(String::new(), |v| format!(" '{v}'"));
        LambdaError::Validation(format!(
            "1 validation error detected: Value{value} at '{member}' failed to satisfy \
             constraint: {constraint}"
        ))
    }

    /// [`invalid_member`](Self::invalid_member) for a value outside an enum.
    pub fn not_in_enum(value: &str, member: &str, allowed: &[&str]) -> Self {
        LambdaError::invalid_member(
            Some(value),
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )
    }

    /// ValidationException for a required member left out.
    pub fn null_member(member: &str) -> Self {
        LambdaError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy \
             constraint: Member must not be null"
        ))
    }

    /// A required whole number `member` of at least `min`, checked as Lambda checks it.
    pub fn count_at_least(value: Option<i64>, member: &str, min: u32) -> Result<u32, Self> {
        let n = value.ok_or_else(|| LambdaError::null_member(member))?;
        u32::try_from(n).ok().filter(|n| *n >= min).ok_or_else(|| {
            LambdaError::invalid_member(
                Some(&n.to_string()),
                "{member}",
                &format!("Member must have value greater than or equal to {min}"),
            )
        })
    }

    /// ResourceNotFoundException for a function ARN, worded as Lambda words it.
    pub fn function_not_found(arn: &str) -> Self {
        LambdaError::ResourceNotFound(format!("Function not found: {arn}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_follow_lambda() {
        let e = LambdaError::function_not_found("arn:aws:lambda:us-east-1:000000000000:function:f");
        assert_eq!(e.error_type(), "ResourceNotFoundException");
        assert_eq!(
            e.to_string(),
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(
            LambdaError::invalid_member(
                None,
                "description",
                "Member must have length less than or equal to 256"
            )
            .to_string(),
            "1 validation error detected: Value at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to 256"
        );
    }
}
