//! EventBridge Scheduler and EventBridge against the real server: schedules created with
//! boto3's `scheduler` client fire Lamina functions (tests/compat/schedules.py), and rules
//! made with its `events` client route put events and scheduled events to them
//! (tests/compat/events.py), with a rate's minute shortened to one second.

mod common;

use std::process::Command;

use common::{Server, test_python};

/// Runs tests/compat/`script` against a server started with `args`.
fn suite(script: &str, args: &[&str]) {
    let server = Server::start_with(args, None);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/compat")
        .join(script);
    let out = Command::new(test_python())
        .arg(path)
        .arg(&server.endpoint)
        .output()
        .expect("run a compatibility suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{script} failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.output_text()
    );
}

#[test]
fn schedules_fire_functions_through_boto3() {
    suite("schedules.py", &["--schedule-minute-ms", "1000"]);
}

#[test]
fn rules_route_events_to_functions_through_boto3() {
    suite(
        "events.py",
        &["--schedule-minute-ms", "1000", "--async-retry-delay-ms", "100"],
    );
}
