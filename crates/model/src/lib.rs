//! Lamina's domain vocabulary: function names and ARNs, function configuration and its
//! validation, Lambda's limits, runtime identifiers, and the errors Lambda's API speaks.
//!
//! Layout:
//! - [`alias`]: aliases and their weighted routing.
//! - [`application`]: what a template's deploy made, kept for the next deploy and delete.
//! - [`cloudwatch`]: CloudWatch's metric API (GetMetricStatistics, GetMetricData,
//!   ListMetrics): its wire shapes, statistics, range checks and errors.
//! - [`code`]: the deployment package a function or layer version points at.
//! - [`names`]: parsing `name`, `name:qualifier`, partial and full ARNs; building ARNs.
//! - [`function`]: the stored function configuration, its validation, and the wire shapes of
//!   the control plane.
//! - [`invoke`]: Invoke's request as its headers give it (invocation type, log type, client
//!   context).
//! - [`layer`]: layer versions and the layers a function uses.
//! - [`events`]: EventBridge's buses, rules, targets, PutEvents entries and the envelope, and
//!   what a target receives (`events::transform`).
//! - [`event_invoke`]: asynchronous invocation's configuration (retries, age, destinations).
//! - [`provisioned`]: provisioned concurrency's request and answer shapes.
//! - [`status`]: what `lamina ps` reads (`/_lamina/status`).
//! - [`limits`]: Lambda's documented quotas, in one place.
//! - [`logs`]: CloudWatch Logs' wire shapes for reading function logs.
//! - [`paging`]: `Marker` and `MaxItems`, parsed once into a [`paging::Page`].
//! - [`policy`]: a function's resource-based policy (AddPermission's statements).
//! - [`runtime`]: managed and custom runtime identifiers.
//! - [`s3`]: S3's bucket notifications: a bucket's configuration and its checks, the event
//!   record and `s3:TestEvent` a destination receives.
//! - [`schedule`]: schedule expressions (`at`, `rate`, AWS's `cron`) and when they fire.
//! - [`scheduler`]: EventBridge Scheduler's schedules and groups, their checks and errors.
//! - [`mapping`]: event source mappings: their checks, record, wire shape, and the SQS
//!   records and batch-item failures of an SQS source.
//! - [`rabbitmq`]: Lambda's `aws:rmq` event, as a RabbitMQ source's batches become.
//! - [`sqs`]: SQS's message attributes, digests, queue attributes and errors.
//! - [`delivery`]: what rules' and schedules' targets share: retry policy, dead-letter queue.
//! - [`url`]: function URLs: their configuration, and their HTTP contract (a request as
//!   payload format 2.0, an answer as the HTTP response).
//! - [`error`]: [`LambdaError`], one variant per Lambda error type the platform answers.
//!
//! **Architecture invariant:** this crate does no IO and knows nothing of HTTP, Tokio or
//! storage. Everything here is a value that can be checked in a unit test.

pub mod alias;
pub mod application;
pub mod cloudwatch;
pub mod code;
pub mod delivery;
pub mod error;
pub mod event_invoke;
pub mod events;
pub mod function;
pub mod invoke;
pub mod kafka;
pub mod layer;
pub mod limits;
pub mod logs;
pub mod mapping;
pub mod names;
pub mod paging;
pub mod policy;
pub mod provisioned;
pub mod rabbitmq;
pub mod runtime;
pub mod s3;
pub mod schedule;
pub mod scheduler;
pub mod sqs;
pub mod status;
pub mod url;

pub use error::LambdaError;
pub use function::{FunctionConfig, FunctionConfiguration};
pub use names::{FunctionRef, Identity};
pub use runtime::RuntimeId;

/// Formats a timestamp as Lambda does in `LastModified` (`2019-08-14T22:26:11.234+0000`).
pub fn lambda_timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A fresh request or revision id in the UUID form Lambda uses.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A number drawn uniformly from [0, 1), for weighted routing (from the same random source
/// as [`new_id`]).
pub fn random_unit() -> f64 {
    // The top 48 bits of a version-4 UUID are all random (the version and variant bits sit
    // below them).
    let bits = (uuid::Uuid::new_v4().as_u128() >> 80) as u64;
    bits as f64 / (1u64 << 48) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_unit_spreads_over_the_interval() {
        let draws: Vec<f64> = (0..4000).map(|_| super::random_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        for q in 0..4 {
            let (lo, hi) = (q as f64 / 4.0, (q + 1) as f64 / 4.0);
            let n = draws.iter().filter(|d| (lo..hi).contains(*d)).count();
            assert!((800..1200).contains(&n), "quarter {q}: {n} of 4000");
        }
    }
}
