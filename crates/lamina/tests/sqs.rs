//! SQS against the real server, through boto3's `sqs` client (tests/compat/sqs.py), and
//! event source mappings from its queues (tests/compat/mappings.py).

mod common;

use common::compat_suite;

#[test]
fn sqs_through_boto3() {
    compat_suite("sqs.py", &[]);
}

/// Event source mappings from SQS queues through boto3 (tests/compat/mappings.py): 1,000
/// messages in batches, partial batch failures and redrive, filters, disabling, deleting.
#[test]
fn sqs_mappings_feed_functions() {
    compat_suite("mappings.py", &[]);
}
