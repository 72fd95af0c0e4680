//! boto3, unmodified, against a freshly started server: the compatibility suite in
//! tests/compat/boto3_compat.py, run with the Python that scripts/test.sh prepared.

mod common;

use std::process::Command;

use common::{Server, test_python};

#[test]
fn boto3_drives_the_whole_lifecycle() {
    let python = test_python();
    let has_boto3 = Command::new(&python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_boto3,
        "boto3 is not installed for {}: run the tests through scripts/test.sh",
        python.display()
    );
    let server = Server::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/boto3_compat.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&server.endpoint)
        .output()
        .expect("run the boto3 suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 suite failed\n{stdout}\n{stderr}\nserver:\n{}",
        server.output_text()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
