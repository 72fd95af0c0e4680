//! S3's bucket notifications, as values: a bucket's configuration and S3's checks of it
//! (`notification`), and what a destination receives (`record`: the event record 2.1 and
//! `s3:TestEvent`), with the delivery the object store's outbox keeps until it is queued;
//! `external`: other stores' notifications (MinIO, Ceph RGW) made S3's; `wire`: the
//! configuration's JSON form and what `lamina buckets` shows.

pub mod external;
pub mod notification;
pub mod record;
pub mod wire;

pub use notification::{FilterRule, NotificationConfig, Rule};
pub use record::{ObjectEvent, encode_key, event_record, test_event};

/// Where a notification goes: a function (invoked asynchronously) or an SQS queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// A function's ARN, possibly qualified.
    Function(String),
    /// A queue's ARN.
    Queue(String),
}

/// One notification waiting in the outbox: its destination and the body it receives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub to: Destination,
    pub body: String,
}

impl Delivery {
    /// Its form in the outbox.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read back from the outbox (none if it is not one).
    pub fn from_json(s: &str) -> Option<Delivery> {
        serde_json::from_str(s).ok()
    }
}

/// The ARN of a bucket.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}
