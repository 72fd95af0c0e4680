//! What EventBridge rules' targets and the Scheduler's targets share: their retry policy and
//! dead-letter queue (the same members in both APIs), checked as AWS checks them, and the
//! [`Delivery`] that travels with each event they queue for a function.

use serde::{Deserialize, Serialize};

/// `RetryPolicy`: how long, and how many times, a target's delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// 60..=86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    /// 0..=185.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
}

impl RetryPolicy {
    /// AWS's defaults: 24 hours, 185 attempts.
    pub const DEFAULT_MAX_AGE_S: u32 = 86_400;
    /// See [`RetryPolicy::DEFAULT_MAX_AGE_S`].
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 185;

    /// Checks the ranges; the error names the member as AWS does.
    pub fn check(&self) -> Result<(), String> {
        if let Some(age) = self.maximum_event_age_in_seconds
            && !(60..=86_400).contains(&age)
        {
            return Err(format!(
                "Value '{age}' at 'target.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 86400"
            ));
        }
        if let Some(n) = self.maximum_retry_attempts
            && n > 185
        {
            return Err(format!(
                "Value '{n}' at 'target.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185"
            ));
        }
        Ok(())
    }

    /// The policy with AWS's defaults filled in.
    pub fn or_defaults(policy: Option<RetryPolicy>) -> RetryPolicy {
        let p = policy.unwrap_or(RetryPolicy {
            maximum_event_age_in_seconds: None,
            maximum_retry_attempts: None,
        });
        RetryPolicy {
            maximum_event_age_in_seconds: Some(
                p.maximum_event_age_in_seconds
                    .unwrap_or(Self::DEFAULT_MAX_AGE_S),
            ),
            maximum_retry_attempts: Some(
                p.maximum_retry_attempts
                    .unwrap_or(Self::DEFAULT_MAX_ATTEMPTS),
            ),
        }
    }
}

/// `DeadLetterConfig`: where an event goes when it cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// An SQS queue's ARN (AWS's only kind) or, in Lamina, a Lambda function's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

impl DeadLetterConfig {
    /// Checks the ARN: an SQS queue (`arn:aws:sqs:REGION:ACCOUNT:NAME`) or a Lamina
    /// function (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`).
    pub fn check(&self) -> Result<(), String> {
        let Some(arn) = &self.arn else {
            return Ok(());
        };
        let parts: Vec<&str> = arn.split(':').collect();
        let ok = parts.len() >= 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && match parts[2] {
                "sqs" => parts.len() == 6 && !parts[5].is_empty(),
                "lambda" => parts[5] == "function" && parts.len() >= 7,
                _ => false,
            };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "DeadLetterConfig Arn '{arn}' is not valid: it names an SQS queue \
                 (arn:aws:sqs:region:account:queue) or a Lambda function"
            ))
        }
    }
}

/// What travels with an event a rule or a schedule queued for a function: where it came
/// from and its target's delivery policy. A delivery that fails (the function or alias is
/// gone, reserved concurrency 0, throttled until too old) goes to the dead-letter queue;
/// the function's own errors follow the function's asynchronous-invocation configuration,
/// as in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The rule's or schedule's ARN.
    pub source_arn: String,
    /// MaximumEventAgeInSeconds of the target.
    pub max_age_s: u32,
    /// MaximumRetryAttempts of the target.
    pub max_attempts: u32,
    /// The dead-letter queue's ARN, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
}

impl Delivery {
    /// The delivery of a target with this retry policy and dead-letter queue, for the rule or
    /// schedule `source_arn`; AWS's defaults where the policy says nothing.
    pub fn for_target(
        source_arn: &str,
        retry: Option<RetryPolicy>,
        dead_letter: Option<&DeadLetterConfig>,
    ) -> Delivery {
        let retry = RetryPolicy::or_defaults(retry);
        Delivery {
            source_arn: source_arn.to_string(),
            max_age_s: retry
                .maximum_event_age_in_seconds
                .unwrap_or(RetryPolicy::DEFAULT_MAX_AGE_S),
            max_attempts: retry
                .maximum_retry_attempts
                .unwrap_or(RetryPolicy::DEFAULT_MAX_ATTEMPTS),
            dead_letter: dead_letter.and_then(|d| d.arn.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_arns_are_checked() {
        let p = |age, n| RetryPolicy {
            maximum_event_age_in_seconds: age,
            maximum_retry_attempts: n,
        };
        assert!(p(Some(60), Some(0)).check().is_ok());
        assert!(p(Some(59), None).check().is_err());
        assert!(p(Some(86_401), None).check().is_err());
        assert!(p(None, Some(186)).check().is_err());
        assert_eq!(
            RetryPolicy::or_defaults(Some(p(Some(120), None))),
            p(Some(120), Some(185))
        );
        let d = |arn: &str| DeadLetterConfig {
            arn: Some(arn.into()),
        };
        assert!(d("arn:aws:sqs:us-east-1:000000000000:dlq").check().is_ok());
        assert!(
            d("arn:aws:lambda:us-east-1:000000000000:function:dlq")
                .check()
                .is_ok()
        );
        assert!(
            d("arn:aws:sns:us-east-1:000000000000:topic")
                .check()
                .is_err()
        );
        assert!(d("dlq").check().is_err());
    }
}
