//! SQS against the real server, through boto3's `sqs` client (tests/compat/sqs.py).

mod common;

use common::compat_suite;

#[test]
fn sqs_through_boto3() {
    compat_suite("sqs.py", &[]);
}
