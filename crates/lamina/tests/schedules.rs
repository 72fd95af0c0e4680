//! EventBridge Scheduler against the real server: schedules created with boto3's
//! `scheduler` client fire Lamina functions (tests/compat/schedules.py), with a rate's minute
//! shortened to one second.

mod common;

use std::process::Command;

use common::{Server, test_python};

#[test]
fn schedules_fire_functions_through_boto3() {
    let server = Server::start_with(&["--schedule-minute-ms", "1000"], None);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/schedules.py");
    let out = Command::new(test_python())
        .arg(path)
        .arg(&server.endpoint)
        .output()
        .expect("run the schedules suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "schedules.py failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.output_text()
    );
}
