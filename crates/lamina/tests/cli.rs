//! The client commands (`deploy`, `invoke`, `ls`, `rm`, `logs`) against a real server, and
//! their message when no server is running.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::Server;

fn lamina(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .env("LAMINA_ENDPOINT", endpoint)
        .output()
        .expect("run lamina")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_invoke_list_logs_remove() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(
        dir.path().join("lib/helper.py"),
        "WORD = 'from a directory'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "from lib.helper import WORD\n\ndef handler(event, context):\n    print('cli log line', event.get('n'))\n    return {'word': WORD, 'n': event.get('n')}\n",
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();

    let out = lamina(
        &s.endpoint,
        &[
            "deploy",
            "clifn",
            src,
            "--runtime",
            "python3.11",
            "--handler",
            "app.handler",
            "--env",
            "MODE=test",
            "--output",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("created arn:aws:lambda:us-east-1:000000000000:function:clifn"),
        "{stderr}"
    );
    let config: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(config["Environment"]["Variables"]["MODE"], "test");

    let out = lamina(
        &s.endpoint,
        &["invoke", "clifn", "--payload", r#"{"n": 5}"#, "--log"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
        serde_json::json!({"word": "from a directory", "n": 5})
    );
    assert!(
        stderr.contains("cli log line 5") && stderr.contains("REPORT RequestId:"),
        "{stderr}"
    );

    let payload_file = dir.path().join("event.json");
    std::fs::write(&payload_file, r#"{"n": 6}"#).unwrap();
    let out = lamina(
        &s.endpoint,
        &[
            "invoke",
            "clifn",
            "--payload",
            &format!("@{}", payload_file.display()),
        ],
    );
    assert!(
        text(&out).0.contains("\"n\": 6") || text(&out).0.contains("\"n\":6"),
        "{:?}",
        text(&out)
    );

    // Redeploy updates code and configuration.
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    return 'v2'\n",
    )
    .unwrap();
    let out = lamina(&s.endpoint, &["deploy", "clifn", src, "--memory", "256"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stderr.contains("updated"),
        "{stdout}{stderr}"
    );
    let out = lamina(&s.endpoint, &["invoke", "clifn"]);
    assert_eq!(text(&out).0.trim(), "\"v2\"");

    // A failing function: the error document is printed and the exit code is 3.
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    raise ValueError('nope')\n",
    )
    .unwrap();
    assert!(
        lamina(&s.endpoint, &["deploy", "clifn", src])
            .status
            .success()
    );
    let out = lamina(&s.endpoint, &["invoke", "clifn"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).0.contains("ValueError"));

    // Each outcome has its exit code: queued (0), not found (4), throttled (5, with its
    // reason), usage (2).
    let out = lamina(
        &s.endpoint,
        &["invoke", "clifn", "--invocation-type", "Event"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).1.contains("accepted (202)"));
    let out = lamina(&s.endpoint, &["invoke", "nobody"]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    // A mistyped name gets the closest ones the server has.
    let out = lamina(&s.endpoint, &["invoke", "clifm"]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("did you mean clifn?"),
        "{:?}",
        text(&out)
    );
    let zero = s
        .http
        .put(s.url("/2017-10-31/functions/clifn/concurrency"))
        .body(r#"{"ReservedConcurrentExecutions": 0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(zero.status(), 200);
    let out = lamina(&s.endpoint, &["invoke", "clifn"]);
    assert_eq!(out.status.code(), Some(5), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("ReservedFunctionConcurrentInvocationLimitExceeded"),
        "{:?}",
        text(&out)
    );
    s.http
        .delete(s.url("/2017-10-31/functions/clifn/concurrency"))
        .send()
        .await
        .unwrap();
    assert_eq!(lamina(&s.endpoint, &["invoke"]).status.code(), Some(2));

    let out = lamina(&s.endpoint, &["ls"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.lines().any(|l| l.starts_with("clifn")
            && l.contains("python3.11")
            && l.split_whitespace().any(|w| w == "256")),
        "{stdout}"
    );

    let out = lamina(&s.endpoint, &["logs", "clifn"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("cli log line 5")
            && stdout.contains("START RequestId:")
            && stdout.contains("END RequestId:"),
        "{stdout}"
    );
    // Each line: the time (UTC, to the millisecond), the stream, the message.
    let first = stdout.lines().next().unwrap();
    let parts: Vec<&str> = first.splitn(4, ' ').collect();
    assert!(
        parts.len() == 4
            && chrono::NaiveDateTime::parse_from_str(
                &format!("{} {}", parts[0], parts[1]),
                "%Y-%m-%d %H:%M:%S%.3f"
            )
            .is_ok()
            && parts[2].contains("[$LATEST]"),
        "{first}"
    );
    let filtered = text(&lamina(
        &s.endpoint,
        &["logs", "clifn", "--filter", "cli log line", "--bare"],
    ))
    .0;
    assert!(
        !filtered.is_empty() && filtered.lines().all(|l| l.starts_with("cli log line")),
        "{filtered}"
    );
    let limited = text(&lamina(
        &s.endpoint,
        &["logs", "clifn", "--limit", "2", "--since", "1h"],
    ))
    .0;
    assert_eq!(limited.lines().count(), 2, "{limited}");
    let none = text(&lamina(&s.endpoint, &["logs", "clifn", "--since", "0s"])).0;
    assert!(none.is_empty(), "{none}");

    // --follow prints events of an invocation made while it runs.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["logs", "clifn", "--follow"])
        .env("LAMINA_ENDPOINT", &s.endpoint)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    print('followed line')\n    return 1\n",
    )
    .unwrap();
    assert!(
        lamina(&s.endpoint, &["deploy", "clifn", src])
            .status
            .success()
    );
    assert!(lamina(&s.endpoint, &["invoke", "clifn"]).status.success());
    std::thread::sleep(Duration::from_millis(1500));
    let _ = follow.kill();
    let followed = follow.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&followed.stdout).contains("followed line"));

    let out = lamina(&s.endpoint, &["rm", "clifn"]);
    assert!(out.status.success());
    let out = lamina(&s.endpoint, &["invoke", "clifn"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("ResourceNotFoundException"),
        "{:?}",
        text(&out)
    );

    // Deploying a new function needs a runtime and handler.
    let out = lamina(&s.endpoint, &["deploy", "fresh", src]);
    assert!(!out.status.success() && text(&out).1.contains("--runtime and --handler"));
}

/// `lamina deploy DIR` packages what a function needs and nothing else: symbolic links
/// followed, `.git/`, `__pycache__/` and what `.laminaignore` names left out; an empty
/// directory, a package without its handler's file and a link to nothing are refused before
/// any upload, with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_packages_what_the_function_needs_and_refuses_what_cannot_run() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("words.py"), "WORD = 'linked'\n").unwrap();
    std::os::unix::fs::symlink(shared.path().join("words.py"), dir.path().join("words.py"))
        .unwrap();
    for d in [".git", "__pycache__", "local"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/main").unwrap();
    std::fs::write(dir.path().join("__pycache__/app.pyc"), "x").unwrap();
    std::fs::write(dir.path().join("local/notes.txt"), "private").unwrap();
    std::fs::write(dir.path().join(".laminaignore"), "local/\n").unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import os\nfrom words import WORD\n\ndef handler(event, context):\n    return {'word': WORD, 'files': sorted(os.listdir('.'))}\n",
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();
    let create = ["--runtime", "python3.11", "--handler", "app.handler"];
    let out = lamina(
        &s.endpoint,
        &[&["deploy", "packed", src][..], &create].concat(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let answer = s.invoke("packed", serde_json::json!({})).await;
    assert!(answer.function_error.is_none(), "{answer:?}");
    assert_eq!(answer.body["word"], "linked");
    assert_eq!(
        answer.body["files"],
        serde_json::json!(["app.py", "words.py"])
    );

    // Refused, each with its reason, and nothing created.
    let empty = tempfile::tempdir().unwrap();
    let out = lamina(
        &s.endpoint,
        &[
            &["deploy", "empty", empty.path().to_str().unwrap()][..],
            &create,
        ]
        .concat(),
    );
    assert!(
        !out.status.success() && text(&out).1.contains("nothing to deploy"),
        "{:?}",
        text(&out)
    );
    let wrong = ["--runtime", "python3.11", "--handler", "main.handler"];
    let out = lamina(
        &s.endpoint,
        &[&["deploy", "wrong", src][..], &wrong].concat(),
    );
    assert!(
        !out.status.success() && text(&out).1.contains("main.py"),
        "{:?}",
        text(&out)
    );
    std::os::unix::fs::symlink(dir.path().join("gone.py"), dir.path().join("dangling.py")).unwrap();
    let out = lamina(&s.endpoint, &["deploy", "packed", src]);
    assert!(
        !out.status.success()
            && text(&out)
                .1
                .contains("dangling.py is a symbolic link to nothing"),
        "{:?}",
        text(&out)
    );
    for name in ["empty", "wrong"] {
        assert_eq!(s.get(&format!("/2015-03-31/functions/{name}")).await.0, 404);
    }
}

/// `lamina event generate` prints each trigger's event, and `lamina invoke --payload -`
/// sends what it reads on standard input: the function gets the event as its trigger would
/// have built it.
#[test]
fn sample_events_piped_into_invoke() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    r = event.get('Records', [{}])[0]\n    return {'source': r.get('eventSource') or event.get('source') or event.get('version'), 'key': r.get('s3', {}).get('object', {}).get('key'), 'body': r.get('body') or event.get('body')}\n",
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();
    let create = ["--runtime", "python3.11", "--handler", "app.handler"];
    let out = lamina(
        &s.endpoint,
        &[&["deploy", "sampled", src][..], &create].concat(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let piped = |generate: &[&str]| -> serde_json::Value {
        let event = lamina(
            &s.endpoint,
            &[&["event", "generate"][..], generate].concat(),
        );
        assert!(event.status.success(), "{generate:?}: {:?}", text(&event));
        let mut invoke = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["invoke", "sampled", "--payload", "-"])
            .env("LAMINA_ENDPOINT", &s.endpoint)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut invoke.stdin.take().unwrap(), &event.stdout).unwrap();
        let out = invoke.wait_with_output().unwrap();
        assert!(out.status.success(), "{generate:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let got = piped(&["s3", "put", "--key", "photos/a b.jpg"]);
    assert_eq!(
        (got["source"].as_str(), got["key"].as_str()),
        (Some("aws:s3"), Some("photos/a+b.jpg"))
    );
    let got = piped(&["sqs", "receive", "--body", "hello"]);
    assert_eq!(
        (got["source"].as_str(), got["body"].as_str()),
        (Some("aws:sqs"), Some("hello"))
    );
    let got = piped(&["apigateway", "http", "--method", "POST", "--body", "form"]);
    assert_eq!(
        (got["source"].as_str(), got["body"].as_str()),
        (Some("2.0"), Some("form"))
    );
    assert_eq!(piped(&["schedule"])["source"], "aws.events");
    assert_eq!(
        piped(&["eventbridge", "--source", "shop"])["source"],
        "shop"
    );
    let bad = lamina(
        &s.endpoint,
        &["event", "generate", "eventbridge", "--detail", "[1]"],
    );
    assert!(!bad.status.success() && text(&bad).1.contains("JSON object"));
}

/// `lamina logs --follow` waits out a server that goes away and comes back on the same
/// address, and prints what is logged after.
#[test]
fn following_logs_survives_a_server_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    let serve = || {
        let child = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while lamina(&endpoint, &["ls"]).status.code() != Some(0) {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    };
    let stop = |mut child: std::process::Child| {
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
    };
    let server = serve();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    print('logged', event.get('n'))\n",
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();
    let create = ["--runtime", "python3.11", "--handler", "app.handler"];
    assert!(
        lamina(&endpoint, &[&["deploy", "kept", src][..], &create].concat())
            .status
            .success()
    );
    assert!(
        lamina(&endpoint, &["invoke", "kept", "--payload", r#"{"n": 1}"#])
            .status
            .success()
    );
    let follow = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["logs", "kept", "--follow", "--bare"])
        .env("LAMINA_ENDPOINT", &endpoint)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    stop(server);
    std::thread::sleep(Duration::from_millis(1000));
    let server = serve();
    assert!(
        lamina(&endpoint, &["invoke", "kept", "--payload", r#"{"n": 2}"#])
            .status
            .success()
    );
    std::thread::sleep(Duration::from_millis(2000));
    let _ = Command::new("kill").arg(follow.id().to_string()).status();
    let out = follow.wait_with_output().unwrap();
    stop(server);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("logged 1") && stdout.contains("logged 2"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("waiting for it") && stderr.contains("answers again"),
        "{stderr}"
    );
}

#[test]
fn helpful_message_when_the_server_is_not_running() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for args in [&["ls"][..], &["invoke", "f"], &["logs", "f"], &["rm", "f"]] {
        let out = lamina(&endpoint, args);
        assert!(!out.status.success());
        let (_, stderr) = text(&out);
        assert!(
            stderr.contains("cannot reach the Lamina server") && stderr.contains("lamina serve"),
            "{args:?}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(6), "{args:?}");
    }
}

#[test]
fn doctor_reports_each_primitive_and_proves_a_sandbox() {
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .arg("doctor")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    for name in [
        "root",
        "network namespace",
        "pid namespace",
        "cgroups",
        "seccomp",
        "trial sandbox",
    ] {
        assert!(
            stdout.lines().any(|l| l.contains(name)),
            "{name} missing from:\n{stdout}"
        );
    }
    // The tests run as root, where a full sandbox must be possible.
    assert!(out.status.success(), "{stdout}{stderr}");
    let trial = stdout
        .lines()
        .find(|l| l.contains("trial sandbox"))
        .unwrap();
    assert!(
        trial.starts_with("available") && trial.contains("ran /usr/bin/true"),
        "{trial}"
    );
    // On a VM whose idle cores halt at once, the doctor says what that costs, and only there.
    let halts = std::fs::read_to_string("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
        .is_ok_and(|ns| ns.trim() == "0");
    assert_eq!(
        stdout.contains("idle cores halt at once"),
        halts,
        "{stdout}"
    );
}

/// `--output table|json|text` on a listing, a 64-character name kept whole in every one, and
/// colour only where asked for: never through a pipe, with `CLICOLOR_FORCE=1` on request,
/// and never under `NO_COLOR` (which wins).
#[tokio::test(flavor = "multi_thread")]
async fn output_formats_hold_long_names_and_colour_follows_no_color() {
    let s = Server::start();
    let long = format!("{}-end", "n".repeat(60));
    assert_eq!(long.len(), 64);
    s.python(&long, "def handler(e, c):\n    return 1\n").await;
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lamina"));
        cmd.args(args)
            .env("LAMINA_ENDPOINT", &s.endpoint)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };

    let table = run(&["ls"], &[]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&long))
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(
        row[long.len()..].split_whitespace().next(),
        Some("python3.11"),
        "the name is whole and its column holds it: {table}"
    );
    let header = table.lines().next().unwrap();
    assert_eq!(
        header.find("RUNTIME"),
        row.find("python3.11"),
        "columns line up: {table}"
    );
    assert!(!table.contains('\u{1b}'), "no colour through a pipe");

    let listed: serde_json::Value = serde_json::from_str(&run(&["ls", "-o", "json"], &[])).unwrap();
    assert_eq!(listed["Functions"][0]["FunctionName"], long.as_str());
    let text_out = run(&["ls", "--output", "text"], &[]);
    let fields: Vec<&str> = text_out.lines().next().unwrap().split('\t').collect();
    assert_eq!((fields[0], fields[1]), (long.as_str(), "python3.11"));
    assert!(!text_out.contains("NAME"), "no header in text");

    let forced = run(&["ls"], &[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("\u{1b}[1m"),
        "bold header on request: {forced:?}"
    );
    let plain = run(&["ls"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!plain.contains('\u{1b}'), "NO_COLOR wins: {plain:?}");

    // Every listing takes the flag.
    for cmd in ["ps", "schedules", "rules", "queues", "mappings", "buckets"] {
        let out = run(&[cmd, "-o", "json"], &[]);
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("{cmd}: {e}: {out}"));
    }
    let invoked: serde_json::Value =
        serde_json::from_str(&run(&["invoke", &long, "-o", "json"], &[])).unwrap();
    assert_eq!(
        (invoked["StatusCode"].as_u64(), &invoked["Payload"]),
        (Some(200), &serde_json::json!(1))
    );
}
