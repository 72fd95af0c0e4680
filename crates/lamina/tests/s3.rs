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

/// One S3 call in virtual-host style (`<bucket>.s3.localhost`), unsigned: its status.
async fn s3_call(s: &Server, method: &str, bucket: &str, path: &str, body: Vec<u8>) -> u16 {
    let port = s.endpoint.rsplit(':').next().unwrap();
    s.http
        .request(method.parse().unwrap(), s.url(path))
        .header("host", format!("{bucket}.s3.localhost:{port}"))
        .body(body)
        .send()
        .await
        .expect("an S3 call")
        .status()
        .as_u16()
}

/// A `kill -9` right after PUTs are answered loses neither the objects nor their events:
/// each event was committed with its object, so after the restart every object is there and
/// the function has received every key (at least once). The function runs unsandboxed so
/// that it can record each key in a host file, synced before it returns.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_after_puts_loses_no_object_and_no_event() {
    let data = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let ran_file = seen.path().join("ran.txt");
    let code = format!(
        "import os, time, urllib.parse\ndef handler(event, context):\n    time.sleep(0.05)\n    fd = os.open({:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n    for r in event['Records']:\n        os.write(fd, (urllib.parse.unquote_plus(r['s3']['object']['key']) + '\\n').encode())\n    os.fsync(fd)\n    os.close(fd)\n",
        ran_file.display().to_string()
    );
    let args = ["--isolation", "none", "--runtime-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("ledger", &code).await;
    assert_eq!(s3_call(&s, "PUT", "crash", "/", vec![]).await, 200);
    let config = "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
        <CloudFunctionConfiguration><Id>ledger</Id>\
        <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:ledger</CloudFunction>\
        <Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>";
    assert_eq!(
        s3_call(&s, "PUT", "crash", "/?notification", config.into()).await,
        200
    );
    let keys: std::collections::HashSet<String> =
        (0..40).map(|i| format!("photo {i}.jpg")).collect();
    for key in &keys {
        let path = format!("/{}", key.replace(' ', "%20"));
        assert_eq!(
            s3_call(&s, "PUT", "crash", &path, key.as_bytes().to_vec()).await,
            200
        );
    }
    // Killed the moment the last PUT is answered.
    s.stop_with("KILL");
    let before = common::ledger(&ran_file).len();
    assert!(before < keys.len(), "the kill came before every event ran");
    let restarted = Server::start_with(&args, Some(data.path()));
    for key in &keys {
        let port = restarted.endpoint.rsplit(':').next().unwrap();
        let r = restarted
            .http
            .get(restarted.url(&format!("/{}", key.replace(' ', "%20"))))
            .header("host", format!("crash.s3.localhost:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{key} survived");
        assert_eq!(r.bytes().await.unwrap(), key.as_bytes());
    }
    let all = common::eventually(std::time::Duration::from_secs(60), async || {
        let seen: std::collections::HashSet<String> =
            common::ledger(&ran_file).into_iter().collect();
        keys.is_subset(&seen)
    })
    .await;
    let seen: std::collections::HashSet<String> = common::ledger(&ran_file).into_iter().collect();
    let lost: Vec<&String> = keys.difference(&seen).collect();
    assert!(
        all,
        "{} events lost ({before} ran before the kill): {lost:?}\nserver:\n{}",
        lost.len(),
        restarted.output_text()
    );
}

/// The AWS CLI (prepared by scripts/test.sh in target/test-venv-cli).
fn aws_cli() -> std::path::PathBuf {
    std::env::var_os("LAMINA_TEST_AWS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/test-venv-cli/bin/aws")
        })
}

/// The highest resident memory of process `pid` so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `aws s3 cp` and `aws s3 sync`, unmodified: a 100 MB file goes up in parts (its ETag says
/// how many) while the server's peak memory stays far below the object's size, comes back
/// whole, and a directory tree syncs both ways, keys with spaces and `+` included.
#[test]
fn the_aws_cli_copies_and_syncs() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| {
        let out = std::process::Command::new(aws_cli())
            .args(["--endpoint-url", &server.endpoint])
            .args(args)
            .args(match args[..2] {
                ["s3", "cp" | "sync"] => &["--no-progress"][..],
                _ => &[],
            })
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run the AWS CLI");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "aws {args:?}: {text}\n{}\nserver:\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.output_text()
        );
        text
    };
    aws(&["s3", "mb", "s3://cli"]);
    // 100 MB of bytes that do not repeat in any part.
    let big = work.path().join("big.bin");
    let mut bytes = Vec::with_capacity(100 * 1024 * 1024);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < 100 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&big, &bytes).unwrap();
    let before = peak_rss_kib(server.pid());
    aws(&["s3", "cp", big.to_str().unwrap(), "s3://cli/big.bin"]);
    let after = peak_rss_kib(server.pid());
    println!(
        "server peak memory: {} MiB before a 100 MB multipart upload, {} MiB after",
        before / 1024,
        after / 1024
    );
    assert!(
        after.saturating_sub(before) < 48 * 1024,
        "the upload grew the server's peak memory by {} MiB",
        after.saturating_sub(before) / 1024
    );
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli",
        "--key",
        "big.bin",
    ]);
    let head: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(head["ContentLength"], 100 * 1024 * 1024);
    assert!(
        head["ETag"].as_str().unwrap().ends_with("-13\""),
        "8 MiB parts: {head}"
    );
    let back = work.path().join("back.bin");
    aws(&["s3", "cp", "s3://cli/big.bin", back.to_str().unwrap()]);
    assert!(
        std::fs::read(&back).unwrap() == bytes,
        "the download is the upload"
    );

    // sync up, list, sync down, delete.
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("docs/deep")).unwrap();
    std::fs::write(tree.join("a b+c.txt"), "spaces and plus").unwrap();
    std::fs::write(tree.join("docs/one.md"), "one").unwrap();
    std::fs::write(tree.join("docs/deep/two.md"), "two").unwrap();
    aws(&["s3", "sync", tree.to_str().unwrap(), "s3://cli/tree"]);
    let listed = aws(&["s3", "ls", "--recursive", "s3://cli/tree/"]);
    for key in [
        "tree/a b+c.txt",
        "tree/docs/one.md",
        "tree/docs/deep/two.md",
    ] {
        assert!(listed.contains(key), "{key} in {listed}");
    }
    let top = aws(&["s3", "ls", "s3://cli/tree/"]);
    assert!(top.contains("PRE docs/"), "common prefixes: {top}");
    // A second sync sends nothing: sizes and times match.
    let again = aws(&["s3", "sync", tree.to_str().unwrap(), "s3://cli/tree"]);
    assert!(again.trim().is_empty(), "nothing to sync again: {again}");
    let down = work.path().join("down");
    aws(&["s3", "sync", "s3://cli/tree", down.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(down.join("a b+c.txt")).unwrap(),
        "spaces and plus"
    );
    assert_eq!(
        std::fs::read_to_string(down.join("docs/deep/two.md")).unwrap(),
        "two"
    );
    aws(&["s3", "rm", "--recursive", "s3://cli/"]);
    aws(&["s3", "rb", "s3://cli"]);
    assert!(!aws(&["s3", "ls"]).contains("cli"));
}

/// Runs `lamina ARGS` against `server`: its standard output, once it succeeded.
fn lamina_cli(server: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .env("LAMINA_ENDPOINT", &server.endpoint)
        .output()
        .expect("run lamina");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "lamina {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Another store's notifications reach functions through the webhook: MinIO's and Ceph's
/// own example bodies (fixtures/s3-notifications), sent as those stores send them (a bearer
/// token, a token in the URL), are made S3's records and delivered to the rules that
/// `lamina buckets notify` set for their buckets; a missing or wrong token is refused.
#[tokio::test(flavor = "multi_thread")]
async fn other_stores_notifications_reach_functions_through_the_webhook() {
    let s = Server::start_with(&["--s3-webhook-token", "hook secret"], None);
    let code =
        "import json\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n";
    s.python("thumbs", code).await;
    s.python("archive", code).await;
    let dir = tempfile::tempdir().unwrap();
    let arn = |f: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{f}");
    let config = |f: &str, suffix: &str| {
        serde_json::json!({"LambdaFunctionConfigurations": [{
            "Id": format!("to-{f}"), "LambdaFunctionArn": arn(f), "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}}}]})
    };
    let file = dir.path().join("images.json");
    std::fs::write(&file, config("thumbs", ".jpg").to_string()).unwrap();
    lamina_cli(&s, &["buckets", "notify", "images", file.to_str().unwrap()]);
    std::fs::write(&file, config("archive", ".jpg").to_string()).unwrap();
    lamina_cli(
        &s,
        &["buckets", "notify", "mybucket1", file.to_str().unwrap()],
    );
    // A rule naming a function that does not exist is refused, as S3 refuses it.
    std::fs::write(&file, config("nobody", ".jpg").to_string()).unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["buckets", "notify", "elsewhere", file.to_str().unwrap()])
        .env("LAMINA_ENDPOINT", &s.endpoint)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Unable to validate"));

    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/s3-notifications");
    let minio = std::fs::read(fixtures.join("minio-put.json")).unwrap();
    let ceph = std::fs::read(fixtures.join("ceph-put.json")).unwrap();
    let hook = s.url("/_lamina/s3-events");
    let post = |url: String, auth: Option<&str>, body: Vec<u8>| {
        let mut req = s
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a.to_string());
        }
        req.send()
    };
    // MinIO probes the endpoint with HEAD before it sends.
    assert_eq!(s.http.head(&hook).send().await.unwrap().status(), 200);
    assert_eq!(
        post(hook.clone(), None, minio.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(hook.clone(), Some("Bearer wrong"), minio.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(
            hook.clone(),
            Some("Bearer hook secret"),
            b"not json".to_vec()
        )
        .await
        .unwrap()
        .status(),
        400
    );
    let r = post(hook.clone(), Some("Bearer hook secret"), minio)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["Delivered"], 1);
    let r = post(format!("{hook}?token=hook%20secret"), None, ceph)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let record = async |function: &str| {
        let mut found = None;
        common::eventually(std::time::Duration::from_secs(20), async || {
            found = s
                .log_lines(&format!("/aws/lambda/{function}"), "EVENT")
                .await
                .first()
                .cloned();
            found.is_some()
        })
        .await;
        let line = found.unwrap_or_else(|| panic!("no event reached {function}"));
        let event: serde_json::Value = serde_json::from_str(&line["EVENT ".len()..]).unwrap();
        event["Records"][0].clone()
    };
    let from_minio = record("thumbs").await;
    assert_eq!(from_minio["eventSource"], "aws:s3");
    assert_eq!(from_minio["eventName"], "ObjectCreated:Put");
    assert_eq!(from_minio["s3"]["configurationId"], "to-thumbs");
    assert_eq!(from_minio["s3"]["object"]["key"], "gopher.jpg");
    let from_ceph = record("archive").await;
    assert_eq!(from_ceph["s3"]["object"]["size"], 1024);
    assert_eq!(from_ceph["s3"]["bucket"]["name"], "mybucket1");

    // `lamina buckets` shows both, with their rules.
    let table = lamina_cli(&s, &["buckets"]);
    assert!(
        table.contains("images") && table.contains("external"),
        "{table}"
    );
    assert!(
        table.contains("to-thumbs: s3:ObjectCreated:* [suffix=.jpg]"),
        "{table}"
    );
}

/// `lamina buckets` shows this server's buckets with their objects, bytes and rules.
#[tokio::test(flavor = "multi_thread")]
async fn lamina_buckets_lists_objects_sizes_and_rules() {
    let s = Server::start();
    assert_eq!(s3_call(&s, "PUT", "photos", "/", vec![]).await, 200);
    assert_eq!(s3_call(&s, "PUT", "empty", "/", vec![]).await, 200);
    for (key, size) in [("a.jpg", 1000), ("b.jpg", 2048)] {
        assert_eq!(
            s3_call(&s, "PUT", "photos", &format!("/{key}"), vec![7; size]).await,
            200
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&lamina_cli(&s, &["buckets", "--json"])).unwrap();
    let photos = json
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["Name"] == "photos")
        .unwrap();
    assert_eq!(
        (photos["Objects"].as_u64(), photos["Bytes"].as_u64()),
        (Some(2), Some(3048))
    );
    let table = lamina_cli(&s, &["buckets"]);
    let line = table.lines().find(|l| l.starts_with("photos")).unwrap();
    assert!(
        line.contains("local") && line.contains("3.0 KiB"),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("empty")), "{table}");
}
