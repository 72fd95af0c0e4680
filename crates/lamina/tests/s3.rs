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
