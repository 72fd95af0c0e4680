//! The bench harness run end to end with tiny counts against real servers.

use std::path::PathBuf;
use std::process::{Command, Output};

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The `lamina` binary of this build, beside this package's own binary; built (or rebuilt,
/// if its sources changed) first, since cargo builds only this package's binaries for its
/// tests.
fn lamina_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "lamina", "--bin", "lamina"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building lamina");
    PathBuf::from(env!("CARGO_BIN_EXE_lamina-bench")).with_file_name("lamina")
}

/// `lamina-bench` with tiny counts, so that it cannot rot: every scenario runs and every
/// figure is written. No thresholds: speed is judged from full runs, not in tests.
#[test]
fn bench_smoke_run() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lamina-bench"))
        .arg("--lamina")
        .arg(lamina_binary())
        .arg("--against")
        .arg(lamina_binary())
        .args([
            "--warm",
            "20",
            "--throughput-seconds",
            "0.2",
            "--cold",
            "1",
            "--burst",
            "3",
            "--burst-rounds",
            "2",
            "--prestart",
            "2",
            "--thaw",
            "2",
            "--paused",
            "2",
            "--pause-ms",
            "300",
            "--rated-scale",
            "2",
            "--rated-burst",
            "4",
            "--async-events",
            "50",
            "--at-schedules",
            "2",
            "--sqs-seconds",
            "0.3",
            "--metrics-rounds",
            "1",
            "--telemetry-rounds",
            "1",
            "--against-rounds",
            "1",
            "--soak-seconds",
            "2",
            "--soak-rate",
            "40",
            "--json",
        ])
        .arg(&json_path)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("warm p50")
            && stdout.contains("baseline: loopback HTTP round trip")
            && stdout.contains("metrics on against off")
            && stdout.contains("Telemetry API subscriber against none")
            && stdout.contains("this build against the one given with --against"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert!(
        report["baseline"]["http_round_trip"]["p50_us"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(report["server_pss_kib_at_end"].as_f64().unwrap() > 0.0);
    assert!(report["server_pss_kib_at_rest"].as_f64().unwrap() > 0.0);
    // The relay answers as the server does, and after a pause.
    let relay = &report["baseline"]["relay"];
    assert!(relay["warm"]["p50_us"].as_f64().unwrap() > 0.0, "{relay}");
    assert_eq!(relay["paused"]["n"], 2, "{relay}");
    assert!(
        relay["throughput"]["per_second"].as_f64().unwrap() > 0.0,
        "{relay}"
    );
    assert!(stdout.contains("provided against the relay"), "{stdout}");
    // Every invocation of the soak answered as expected, and its memory was sampled.
    let soak = &report["soak"];
    assert!(soak["invocations"].as_u64().unwrap() > 20, "{soak}");
    assert_eq!(soak["unexpected_answers"], 0, "{soak}");
    assert!(soak["pss_mib"]["max"].as_f64().unwrap() > 0.0, "{soak}");
    assert!(soak["samples"].as_array().unwrap().len() >= 2, "{soak}");
    let sqs = &report["sqs"];
    assert!(sqs["sends"]["per_second"].as_f64().unwrap() > 0.0, "{sqs}");
    assert!(
        sqs["mapping"]["per_second"].as_f64().unwrap() > 0.0,
        "{sqs}"
    );
    let schedules = &report["schedules"];
    assert_eq!(schedules["fired"], 2, "{schedules}");
    assert_eq!(schedules["lateness"]["n"], 2, "{schedules}");
    for runtime in ["provided", "python", "node"] {
        for (scenario, which) in [
            ("metrics_cost", "on"),
            ("metrics_cost", "off"),
            ("telemetry_cost", "subscribed"),
            ("telemetry_cost", "none"),
            ("against", "this"),
            ("against", "against"),
        ] {
            let cost = &report[scenario][runtime];
            assert!(
                cost[which]["warm_p50_us"].as_f64().unwrap() > 0.0
                    && cost[which]["per_second_8"].as_f64().unwrap() > 0.0,
                "{runtime}: {cost}"
            );
        }
        let r = &report["runtimes"][runtime];
        assert_eq!(r["warm"]["n"], 20, "{runtime}: {r}");
        assert!(r["warm"]["p50_us"].as_f64().unwrap() > 0.0, "{runtime}");
        for clients in ["2", "4", "8"] {
            assert!(
                r["throughput"][clients]["invocations"].as_u64().unwrap() > 0,
                "{runtime} at {clients}"
            );
        }
        assert_eq!(r["cold"]["first_invocation"]["n"], 1, "{runtime}");
        assert_eq!(
            r["cold"]["init_duration"]["n"], 1,
            "{runtime}: Init Duration was reported"
        );
        for part in [
            "sandbox_setup",
            "runtime_start_and_init",
            "platform_and_http",
        ] {
            assert_eq!(r["cold"][part]["n"], 1, "{runtime}: {part}: {}", r["cold"]);
        }
        let asynchronous = &r["async"];
        assert_eq!(asynchronous["n"], 50, "{runtime}: {asynchronous}");
        assert!(asynchronous["accepted_per_second"].as_f64().unwrap() > 0.0);
        assert!(asynchronous["drained_per_second"].as_f64().unwrap() > 0.0);
        // After a pause, on a server that keeps the next environment thawed: the native
        // echo uses no CPU while idle, so it is never frozen.
        let paused = &report["paused"][runtime];
        assert_eq!(paused["paused"]["n"], 2, "{runtime}: {paused}");
        assert!(paused["warm"]["p50_us"].as_f64().unwrap() > 0.0);
        if runtime == "provided" {
            assert_eq!(paused["thaws"], 0, "{paused}");
        }
        let thawed = &r["thawed"];
        assert_eq!(thawed["client"]["n"], 2, "{runtime}: {thawed}");
        assert!(
            thawed["thaws"].as_u64().unwrap() >= 2,
            "{runtime}: {thawed}"
        );
        // Two environments at most may start; the other two invocations wait for them.
        let rated = &r["rated_burst"];
        assert_eq!(
            (rated["failed"].as_u64(), rated["throttled"].as_u64()),
            (Some(0), Some(0)),
            "{runtime}: {rated}"
        );
        assert!(
            (1..=2).contains(&rated["environments_created"].as_u64().unwrap()),
            "{runtime}: {rated}"
        );
        let burst = &r["burst"]["3"];
        assert_eq!(burst["failed"], 0, "{runtime}: {burst}");
        let created = burst["environments_created"].as_u64().unwrap();
        assert!((1..=3).contains(&created), "{runtime}: {burst}");
        let rounds = burst["rounds_ms"].as_array().expect("two rounds");
        assert_eq!(rounds.len(), 2, "{runtime}: {burst}");
        assert!(
            rounds.iter().all(|ms| ms.as_f64().unwrap() > 0.0),
            "{runtime}: {burst}"
        );
        for c in burst["rounds_created"].as_array().unwrap() {
            assert!((1..=3).contains(&c.as_u64().unwrap()), "{runtime}: {burst}");
        }
        assert!(
            r["density"]["pss_per_environment_kib"].as_f64().unwrap() > 0.0,
            "{runtime}: {}",
            r["density"]
        );
        // The main server pre-starts no runtime; the second one does (managed runtimes).
        assert!(
            r["cold"]["prestarted"].get("runtime").is_none(),
            "{runtime}: {}",
            r["cold"]
        );
        let ahead = &r["prestarted"];
        assert_eq!(
            ahead["cold"]["first_invocation"]["n"], 1,
            "{runtime}: {ahead}"
        );
        assert_eq!(ahead["burst"]["failed"], 0, "{runtime}: {ahead}");
        if runtime != "provided" {
            assert_eq!(
                ahead["cold"]["prestarted"]["runtime"], 1,
                "{runtime}: {ahead}"
            );
        }
    }
}
