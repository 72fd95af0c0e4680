//! The Lambda control-plane API against a real server: every operation, its defaults, its
//! errors, and persistence across a restart.

mod common;

use common::{ROLE, Server, b64, zip};
use serde_json::json;

const APP: &str = "def handler(event, context):\n    return event\n";
const PROXY_APP: &str =
    "import os\ndef handler(event, context):\n    return os.environ.get('HTTP_PROXY')\n";

#[tokio::test(flavor = "multi_thread")]
async fn create_get_update_list_delete() {
    let s = Server::start();
    let created = s
        .create(
            "alpha",
            "python3.11",
            "app.handler",
            &[("app.py", APP, 0o644)],
        )
        .await;
    assert_eq!(created["FunctionName"], "alpha");
    assert_eq!(
        created["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:alpha"
    );
    assert_eq!(created["Version"], "$LATEST");
    assert_eq!(created["State"], "Active");
    assert_eq!(created["LastUpdateStatus"], "Successful");
    assert_eq!(created["MemorySize"], 128);
    assert_eq!(created["Timeout"], 3);
    assert_eq!(created["EphemeralStorage"]["Size"], 512);
    assert_eq!(created["Architectures"], json!(["x86_64"]));
    assert_eq!(created["PackageType"], "Zip");
    assert_eq!(created["Role"], ROLE);
    let package = zip(&[("app.py", APP, 0o644)]);
    assert_eq!(
        created["CodeSha256"],
        sha256_b64(&package),
        "base64 SHA-256 of the zip"
    );
    assert_eq!(created["CodeSize"], package.len());
    let last_modified = created["LastModified"].as_str().unwrap();
    assert!(
        last_modified.ends_with("+0000") && last_modified.len() == 28,
        "{last_modified}"
    );

    // GetFunction, by name, partial ARN and full ARN, percent-encoded as botocore sends them.
    for name in [
        "alpha",
        "000000000000%3Afunction%3Aalpha",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aalpha",
        "alpha%3A%24LATEST",
    ] {
        let (status, _, got) = s.get(&format!("/2015-03-31/functions/{name}")).await;
        assert_eq!(status, 200, "{name}: {got}");
        assert_eq!(got["Configuration"]["FunctionName"], "alpha");
        let location = got["Code"]["Location"].as_str().unwrap();
        let zip_back = reqwest::get(location).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            &zip_back[..],
            &package[..],
            "the package can be downloaded back"
        );
    }
    let (_, _, cfg) = s.get("/2015-03-31/functions/alpha/configuration").await;
    assert_eq!(cfg["RevisionId"], created["RevisionId"]);

    // UpdateFunctionConfiguration keeps unset fields and changes the revision.
    let (status, _, updated) = s
        .put_json(
            "/2015-03-31/functions/alpha/configuration",
            &json!({"MemorySize": 256, "Timeout": 10, "Description": "d",
                    "Environment": {"Variables": {"GREETING": "hi"}}, "EphemeralStorage": {"Size": 1024}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["MemorySize"].as_u64(), updated["Timeout"].as_u64()),
        (Some(256), Some(10))
    );
    assert_eq!(updated["Handler"], "app.handler");
    assert_eq!(updated["Environment"]["Variables"]["GREETING"], "hi");
    assert_eq!(updated["EphemeralStorage"]["Size"], 1024);
    assert_ne!(updated["RevisionId"], created["RevisionId"]);

    // A stale RevisionId is refused.
    let (status, h, e) = s
        .put_json(
            "/2015-03-31/functions/alpha/configuration",
            &json!({"Timeout": 5, "RevisionId": created["RevisionId"]}),
        )
        .await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (412, "PreconditionFailedException"),
        "{e}"
    );

    // UpdateFunctionCode.
    let new_zip = zip(&[("app.py", "def handler(e, c):\n    return 2\n", 0o644)]);
    let (status, _, code) = s
        .put_json(
            "/2015-03-31/functions/alpha/code",
            &json!({"ZipFile": b64(&new_zip)}),
        )
        .await;
    assert_eq!(status, 200, "{code}");
    assert_eq!(code["CodeSha256"], sha256_b64(&new_zip));
    assert_eq!(code["MemorySize"], 256);

    // ListFunctions pagination.
    for name in ["beta", "gamma", "delta"] {
        s.python(name, APP).await;
    }
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let (status, _, page) = s
            .get(&format!("/2015-03-31/functions?MaxItems=3&Marker={marker}"))
            .await;
        assert_eq!(status, 200);
        let fns = page["Functions"].as_array().unwrap();
        assert!(fns.len() <= 3);
        names.extend(
            fns.iter()
                .map(|f| f["FunctionName"].as_str().unwrap().to_string()),
        );
        match page["NextMarker"].as_str() {
            Some(m) => marker = m.to_string(),
            None => break,
        }
    }
    assert_eq!(names, ["alpha", "beta", "delta", "gamma"]);
    let (_, _, trailing) = s.get("/2015-03-31/functions/").await;
    assert_eq!(trailing["Functions"].as_array().unwrap().len(), 4);

    // GetAccountSettings.
    let (status, _, account) = s.get("/2016-08-19/account-settings").await;
    assert_eq!(status, 200);
    assert_eq!(account["AccountUsage"]["FunctionCount"], 4);
    assert_eq!(account["AccountLimit"]["CodeSizeZipped"], 52_428_800);
    assert_eq!(account["AccountLimit"]["CodeSizeUnzipped"], 262_144_000);

    // DeleteFunction, then it is gone.
    let (status, _, _) = s.delete("/2015-03-31/functions/beta").await;
    assert_eq!(status, 204);
    let (status, h, e) = s.get("/2015-03-31/functions/beta").await;
    assert_eq!(status, 404);
    assert_eq!(h["x-amzn-errortype"], "ResourceNotFoundException");
    assert_eq!(
        e["message"],
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:beta"
    );
    assert!(h.contains_key("x-amzn-requestid"));
    let (status, _, _) = s.delete("/2015-03-31/functions/beta").await;
    assert_eq!(status, 404);
}

/// Errors carry Lambda's names, statuses and the header botocore reads.
#[tokio::test(flavor = "multi_thread")]
async fn errors_have_lambdas_names_and_statuses() {
    let s = Server::start();
    s.python("taken", APP).await;
    let good = || {
        json!({"FunctionName": "f1", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
               "Code": {"ZipFile": b64(&zip(&[("app.py", APP, 0o644)]))}})
    };
    let cases: Vec<(serde_json::Value, u16, &str, &str)> = vec![
        (
            {
                let mut b = good();
                b["FunctionName"] = "taken".into();
                b
            },
            409,
            "ResourceConflictException",
            "Function already exist: taken",
        ),
        (
            {
                let mut b = good();
                b["MemorySize"] = 64.into();
                b
            },
            400,
            "InvalidParameterValueException",
            "MemorySize",
        ),
        (
            {
                let mut b = good();
                b["MemorySize"] = 10_241.into();
                b
            },
            400,
            "InvalidParameterValueException",
            "MemorySize",
        ),
        (
            {
                let mut b = good();
                b["Timeout"] = 901.into();
                b
            },
            400,
            "InvalidParameterValueException",
            "Timeout",
        ),
        (
            {
                let mut b = good();
                b["EphemeralStorage"] = json!({"Size": 100});
                b
            },
            400,
            "InvalidParameterValueException",
            "EphemeralStorage",
        ),
        (
            {
                let mut b = good();
                b["Environment"] = json!({"Variables": {"AWS_REGION": "x"}});
                b
            },
            400,
            "InvalidParameterValueException",
            "reserved keys",
        ),
        (
            {
                let mut b = good();
                b["Environment"] = json!({"Variables": {"BIG": "x".repeat(5000)}});
                b
            },
            400,
            "InvalidParameterValueException",
            "4KB",
        ),
        (
            {
                let mut b = good();
                b["FunctionName"] = "bad name".into();
                b
            },
            400,
            "ValidationException",
            "functionName",
        ),
        (
            {
                let mut b = good();
                b["Role"] = "nope".into();
                b
            },
            400,
            "ValidationException",
            "role",
        ),
        (
            {
                let mut b = good();
                b["Runtime"] = "python3.99".into();
                b
            },
            400,
            "ValidationException",
            "runtime",
        ),
        (
            {
                let mut b = good();
                b["Runtime"] = "java21".into();
                b
            },
            400,
            "InvalidParameterValueException",
            "Available runtimes",
        ),
        (
            {
                let mut b = good();
                b["Code"] = json!({"S3Bucket": "nowhere", "S3Key": "k"});
                b
            },
            400,
            "InvalidParameterValueException",
            "S3 Error Code: NoSuchBucket",
        ),
        (
            {
                let mut b = good();
                b["Code"] = json!({"ImageUri": "x"});
                b["PackageType"] = "Image".into();
                b
            },
            400,
            "InvalidParameterValueException",
            "zip",
        ),
        (
            {
                let mut b = good();
                b["Code"] = json!({"ZipFile": b64(b"this is not a zip")});
                b
            },
            400,
            "InvalidParameterValueException",
            "Could not unzip",
        ),
    ];
    for (body, status, error_type, needle) in cases {
        let (got, h, e) = s.post_json("/2015-03-31/functions", &body).await;
        assert_eq!(got, status, "{body:?} -> {e}");
        assert_eq!(h["x-amzn-errortype"], error_type, "{e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{needle} not in {e}"
        );
        assert_eq!(e["Type"], "User");
    }
    let available = s.health().await["runtimes"].as_array().unwrap().clone();
    let (_, _, e) = s
        .post_json("/2015-03-31/functions", &{
            let mut b = good();
            b["Runtime"] = "java21".into();
            b
        })
        .await;
    for r in available {
        assert!(
            e["message"].as_str().unwrap().contains(r.as_str().unwrap()),
            "names every available runtime: {e}"
        );
    }

    // Malformed JSON and unknown operations.
    let resp = s
        .http
        .post(s.url("/2015-03-31/functions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "InvalidRequestContentException"
    );
    let resp = s
        .http
        .get(s.url("/2099-01-01/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let resp = s
        .http
        .patch(s.url("/2015-03-31/functions/taken"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "a known path with an unknown method");
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let (status, h, e) = s.get("/2015-03-31/functions/%FF%FE").await;
    assert_eq!(status, 400, "a name that does not decode: {e}");
    assert_eq!(h["x-amzn-errortype"], "ValidationException");

    // The server is still serving after all of that.
    assert_eq!(s.health().await["status"], "ok");
    assert_eq!(s.health().await["functions"], 1);
}

/// Bad packages: each a clear error, nothing half-written left behind, identical zips
/// stored once.
#[tokio::test(flavor = "multi_thread")]
async fn packages_are_checked_and_stored_once() {
    let s = Server::start();
    let code_dir = s.data_dir.join("code");
    let entries = || std::fs::read_dir(&code_dir).map(|d| d.count()).unwrap_or(0);

    let slip = |name: &str| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        use std::io::Write;
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        w.finish().unwrap().into_inner()
    };
    let symlink_out = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.add_symlink(
            "app.py",
            "../../../../etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.finish().unwrap().into_inner()
    };
    for (what, package) in [
        ("dot-dot", slip("../../escape.py")),
        ("absolute", slip("/etc/escape.py")),
        ("symlink", symlink_out),
    ] {
        let body = json!({"FunctionName": "slip", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
                          "Code": {"ZipFile": b64(&package)}});
        let (status, h, e) = s.post_json("/2015-03-31/functions", &body).await;
        assert_eq!(status, 400, "{what}: {e}");
        assert_eq!(
            h["x-amzn-errortype"], "InvalidParameterValueException",
            "{what}"
        );
        assert!(
            e["message"].as_str().unwrap().contains("refused"),
            "{what}: {e}"
        );
        assert_eq!(entries(), 0, "{what}: nothing half-written");
    }
    assert!(
        !s.data_dir.join("escape.py").exists() && !std::path::Path::new("/etc/escape.py").exists()
    );

    // 260 MB of zeros compresses to a small zip: refused while extracting.
    let bomb = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        use std::io::Write;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        w.start_file("zeros.bin", opts).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..260 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    assert!(bomb.len() < 2 << 20);
    let body = json!({"FunctionName": "bomb", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
                      "Code": {"ZipFile": b64(&bomb)}});
    let (status, h, e) = s.post_json("/2015-03-31/functions", &body).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException"),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("262144000"), "{e}");
    assert_eq!(entries(), 0, "the partial extraction was removed");

    // More entries than allowed: refused before extracting anything.
    let crowded = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..100_001 {
            w.start_file(format!("f{i}"), opts).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let body = json!({"FunctionName": "crowded", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
                      "Code": {"ZipFile": b64(&crowded)}});
    let (status, h, e) = s.post_json("/2015-03-31/functions", &body).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException"),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap().contains("100001 entries"),
        "{e}"
    );
    assert_eq!(entries(), 0);

    // Over 50 MB zipped: refused before anything is stored.
    let big: Vec<u8> = (0..51u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let body = json!({"FunctionName": "big", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
                      "Code": {"ZipFile": b64(&big)}});
    let (status, h, _) = s.post_json("/2015-03-31/functions", &body).await;
    assert_eq!(
        (status, h["x-amzn-errortype"].to_str().unwrap()),
        (413, "RequestTooLargeException")
    );
    assert_eq!(entries(), 0);

    // Two functions with the same zip share one stored package.
    s.python("one", APP).await;
    s.python("two", APP).await;
    assert_eq!(entries(), 1, "identical zips are stored once");
    s.delete("/2015-03-31/functions/one").await;
    assert_eq!(entries(), 1, "still used by 'two'");
    s.delete("/2015-03-31/functions/two").await;
    assert_eq!(entries(), 0, "removed once unused");
    assert_eq!(s.health().await["status"], "ok");
}

/// Functions and their code survive a restart.
#[tokio::test(flavor = "multi_thread")]
async fn functions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_with(&[], Some(dir.path()));
    s.create(
        "keep",
        "python3.11",
        "app.handler",
        &[(
            "app.py",
            "def handler(e, c):\n    return {'kept': e}\n",
            0o644,
        )],
    )
    .await;
    assert!(
        s.stop_with("INT").success(),
        "SIGINT stops the server with exit 0"
    );
    let s = Server::start_with(&[], Some(dir.path()));
    let (status, _, got) = s.get("/2015-03-31/functions/keep").await;
    assert_eq!(status, 200, "{got}");
    let out = s.invoke("keep", json!({"n": 1})).await;
    assert_eq!(out.body, json!({"kept": {"n": 1}}));
}

fn sha256_b64(data: &[u8]) -> String {
    use sha2::Digest;
    b64(&sha2::Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_added_listed_removed_and_checked() {
    let s = Server::start();
    let created = s
        .create_with(json!({"FunctionName": "tagged", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": common::ROLE, "Tags": {"team": "core"},
            "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", PROXY_APP, 0o644)]))}}))
        .await;
    let arn = created["FunctionArn"].as_str().unwrap().to_string();
    let revision = created["RevisionId"].clone();
    // The ARN travels percent-encoded, as the SDKs send it.
    let path = format!("/2017-03-31/tags/{}", arn.replace(':', "%3A"));

    let (status, _, body) = s.get(&path).await;
    assert_eq!((status, &body), (200, &json!({"Tags": {"team": "core"}})));
    let (status, _, _) = s
        .post_json(&path, &json!({"Tags": {"stage": "dev", "team": "edge"}}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        s.get(&path).await.2,
        json!({"Tags": {"stage": "dev", "team": "edge"}})
    );
    let (status, _, _) = s
        .delete(&format!("{path}?tagKeys=team&tagKeys=absent"))
        .await;
    assert_eq!(status, 204);
    let (_, _, got) = s.get("/2015-03-31/functions/tagged").await;
    assert_eq!(got["Tags"], json!({"stage": "dev"}));
    assert_eq!(
        got["Configuration"]["RevisionId"], revision,
        "tags keep the revision"
    );

    // The one tag Lamina reads: environments started after it changed follow it.
    assert!(
        s.invoke("tagged", json!({})).await.body.is_string(),
        "egress on"
    );
    let (status, _, _) = s
        .post_json(&path, &json!({"Tags": {"lamina:egress": "off"}}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        s.invoke("tagged", json!({})).await.body,
        json!(null),
        "egress off"
    );

    // Errors, in Lambda's shape.
    let (st, h, b) = s
        .post_json(&format!("{path}%3A1"), &json!({"Tags": {"a": "b"}}))
        .await;
    assert_eq!(
        h["x-amzn-errortype"], "InvalidParameterValueException",
        "{b}"
    );
    assert_eq!(st, 400);
    let (st, h, b) = s.get("/2017-03-31/tags/tagged").await;
    assert_eq!(h["x-amzn-errortype"], "ValidationException", "{b}");
    assert_eq!(st, 400);
    let missing = arn.replace("tagged", "absent");
    let (st, h, b) = s.get(&format!("/2017-03-31/tags/{missing}")).await;
    assert_eq!(h["x-amzn-errortype"], "ResourceNotFoundException", "{b}");
    assert_eq!(st, 404);
    let (st, h, b) = s
        .post_json(&path, &json!({"Tags": {"aws:owner": "x"}}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException"),
        "{b}"
    );
    let many: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (st, _, b) = s.post_json(&path, &json!({"Tags": many})).await;
    assert_eq!(st, 400, "{b}");
    let (st, h, _) = s.delete(&path).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (st, h, _) = s.post_json(&path, &json!({})).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    // Creating with bad tags is refused too.
    let (st, h, _) = s
        .post_json(
            "/2015-03-31/functions",
            &json!({"FunctionName": "badtags", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": common::ROLE, "Tags": {"": "x"},
            "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", "x = 1\n", 0o644)]))}}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_policies_are_stored_and_returned_in_aws_shape() {
    let s = Server::start();
    let created = s
        .create_with(json!({"FunctionName": "guarded", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": b64(&zip(&[("app.py", APP, 0o644)]))}}))
        .await;
    let arn = created["FunctionArn"].as_str().unwrap().to_string();
    let policy = "/2015-03-31/functions/guarded/policy";
    let (st, h, _) = s.get(policy).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );

    let (st, _, body) = s
        .post_json(
            policy,
            &json!({"StatementId": "s3-invoke", "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::uploads",
            "SourceAccount": "123456789012"}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let added: serde_json::Value =
        serde_json::from_str(body["Statement"].as_str().unwrap()).unwrap();
    assert_eq!(
        added,
        json!({"Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
               "Action": "lambda:InvokeFunction", "Resource": arn,
               "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                             "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}}})
    );
    let (st, h, _) = s
        .post_json(policy, &json!({"StatementId": "s3-invoke", "Action": "lambda:InvokeFunction", "Principal": "*"}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (409, "ResourceConflictException")
    );
    let (st, _, _) = s
        .post_json(policy, &json!({"StatementId": "acct", "Action": "lambda:GetFunction", "Principal": "210987654321"}))
        .await;
    assert_eq!(st, 201);

    let (st, _, got) = s.get(policy).await;
    assert_eq!(st, 200);
    let doc: serde_json::Value = serde_json::from_str(got["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["Statement"][1]["Principal"],
        json!({"AWS": "arn:aws:iam::210987654321:root"})
    );
    let revision = got["RevisionId"].as_str().unwrap().to_string();

    // RevisionId guards changes; removing a statement needs the current one.
    let (st, h, _) = s.delete(&format!("{policy}/acct?RevisionId=stale")).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (412, "PreconditionFailedException")
    );
    let (st, _, _) = s
        .delete(&format!("{policy}/acct?RevisionId={revision}"))
        .await;
    assert_eq!(st, 204);
    let (st, h, _) = s.delete(&format!("{policy}/acct")).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );

    // Bad statements, and qualifiers that do not exist.
    for (bad, error) in [
        (
            json!({"StatementId": "bad id", "Action": "lambda:InvokeFunction", "Principal": "*"}),
            "ValidationException",
        ),
        (
            json!({"StatementId": "x", "Action": "s3:GetObject", "Principal": "*"}),
            "ValidationException",
        ),
        (
            json!({"StatementId": "x", "Action": "lambda:InvokeFunction"}),
            "ValidationException",
        ),
        (
            json!({"StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "nobody"}),
            "InvalidParameterValueException",
        ),
    ] {
        let (st, h, b) = s.post_json(policy, &bad).await;
        assert_eq!(
            (st, h["x-amzn-errortype"].to_str().unwrap()),
            (400, error),
            "{bad} {b}"
        );
    }
    let (st, h, _) = s
        .post_json(
            &format!("{policy}?Qualifier=7"),
            &json!({"StatementId": "v", "Action": "lambda:InvokeFunction", "Principal": "*"}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    // The statement not removed is still there.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            s.get(policy).await.2["Policy"].as_str().unwrap()
        )
        .unwrap()["Statement"][0]["Sid"],
        "s3-invoke"
    );
}
