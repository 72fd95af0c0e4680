//! The S3 service against the real server, through boto3's `s3` client
//! (tests/compat/s3.py): buckets, objects, ranges, listings, errors, virtual-host style and
//! presigned URLs, without and with `--credentials`; bucket notifications to functions and
//! queues, multipart uploads and checksums (tests/compat/s3_events.py).

mod common;

use common::{Server, compat_suite, test_python};

#[test]
fn s3_through_boto3() {
    compat_suite("s3.py", &[]);
}

#[test]
fn s3_notifications_and_multipart_through_boto3() {
    compat_suite("s3_events.py", &[]);
}

#[test]
fn s3_checks_signatures_against_the_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIDS3TEST\naws_secret_access_key = s3-secret\n",
    )
    .unwrap();
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()], None);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/s3.py");
    let out = std::process::Command::new(test_python())
        .arg(script)
        .args([&server.endpoint, "AKIDS3TEST", "s3-secret"])
        .output()
        .expect("run the S3 suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "s3.py failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.output_text()
    );
}
