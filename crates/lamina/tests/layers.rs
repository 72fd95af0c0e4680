//! Layers against a real server: publishing, reading and listing layer versions; functions
//! that use them (a Python module from `/opt/python`, a custom runtime's `bootstrap` from
//! `/opt`, layers merged in order); deleting a layer version that a function still uses; and
//! the errors Lambda gives.

mod common;

use std::io::Write;

use common::{ROLE, Server, b64, zip};
use serde_json::{Value, json};

const USES_HELPER: &str = "import helper, which\n\ndef handler(event, context):\n    return {'helper': helper.NAME, 'which': which.LAYER}\n";

/// A custom runtime in Python (the host's /usr/bin/python3), answering with a fixed word.
const BOOTSTRAP: &str = r#"#!/usr/bin/python3
import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=b'"from the layer bootstrap"', method="POST")).read()
"#;

async fn publish(s: &Server, name: &str, files: &[(&str, &str, u32)], extra: Value) -> Value {
    let mut body = json!({"Content": {"ZipFile": b64(&zip(files))}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, _, out) = s
        .post_json(&format!("/2018-10-31/layers/{name}/versions"), &body)
        .await;
    assert_eq!(st, 201, "{out}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_are_published_used_in_order_and_outlive_their_deletion() {
    let s = Server::start();
    let deps = publish(
        &s,
        "deps",
        &[
            ("python/helper.py", "NAME = 'from deps'\n", 0o644),
            ("python/which.py", "LAYER = 'deps'\n", 0o644),
        ],
        json!({"CompatibleRuntimes": ["python3.11"], "Description": "helpers", "LicenseInfo": "MIT",
               "CompatibleArchitectures": ["x86_64"]}),
    )
    .await;
    assert_eq!(deps["Version"], 1);
    let deps_arn = deps["LayerVersionArn"].as_str().unwrap().to_string();
    assert!(deps_arn.ends_with(":layer:deps:1"), "{deps_arn}");
    assert_eq!(deps["LayerArn"], deps_arn.trim_end_matches(":1"));
    assert!(
        deps["Content"]["Location"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    let over = publish(
        &s,
        "over",
        &[("python/which.py", "LAYER = 'over'\n", 0o644)],
        json!({}),
    )
    .await;
    let over_arn = over["LayerVersionArn"].as_str().unwrap().to_string();

    // A Python function uses both; the later layer wins where they overlap.
    let (st, _, created) = s
        .post_json(
            "/2015-03-31/functions",
            &json!({"FunctionName": "layered", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Layers": [deps_arn, over_arn],
            "Code": {"ZipFile": b64(&zip(&[("app.py", USES_HELPER, 0o644)]))}}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["Layers"][0]["Arn"], deps_arn.as_str());
    assert!(created["Layers"][1]["CodeSize"].as_u64().unwrap() > 0);
    let out = s.invoke("layered", json!({})).await;
    assert_eq!(
        out.body,
        json!({"helper": "from deps", "which": "over"}),
        "{}",
        out.log
    );

    // A custom runtime whose bootstrap comes from a layer.
    let boot = publish(
        &s,
        "boot",
        &[("bootstrap", BOOTSTRAP, 0o755)],
        json!({"CompatibleRuntimes": ["provided.al2023"]}),
    )
    .await;
    s.create_with(
        json!({"FunctionName": "custom", "Runtime": "provided.al2023", "Handler": "x",
        "Role": ROLE, "Layers": [boot["LayerVersionArn"]],
        "Code": {"ZipFile": b64(&zip(&[("README", "no bootstrap here\n", 0o644)]))}}),
    )
    .await;
    assert_eq!(
        s.invoke("custom", json!({})).await.body,
        "from the layer bootstrap"
    );

    // Reading and listing.
    let (st, _, got) = s.get("/2018-10-31/layers/deps/versions/1").await;
    assert_eq!(
        (st, &got["Description"], &got["LicenseInfo"]),
        (200, &json!("helpers"), &json!("MIT"))
    );
    let (st, _, by_arn) = s
        .get(&format!(
            "/2018-10-31/layers?find=LayerVersion&Arn={}",
            deps_arn.replace(':', "%3A")
        ))
        .await;
    assert_eq!((st, &by_arn["Version"]), (200, &json!(1)));
    publish(
        &s,
        "deps",
        &[("python/helper.py", "NAME = 'v2'\n", 0o644)],
        json!({"CompatibleRuntimes": ["nodejs20.x"]}),
    )
    .await;
    let (_, _, versions) = s.get("/2018-10-31/layers/deps/versions").await;
    let numbers: Vec<u64> = versions["LayerVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");
    let (_, _, layers) = s.get("/2018-10-31/layers").await;
    let names: Vec<&str> = layers["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["LayerName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["boot", "deps", "over"]);
    assert_eq!(layers["Layers"][1]["LatestMatchingVersion"]["Version"], 2);
    let (_, _, py) = s
        .get("/2018-10-31/layers?CompatibleRuntime=python3.11")
        .await;
    assert_eq!(py["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(py["Layers"][0]["LatestMatchingVersion"]["Version"], 1);

    // Deleting a layer version does not break a function that uses it, even in a new
    // environment.
    let (st, _, _) = s.delete("/2018-10-31/layers/deps/versions/1").await;
    assert_eq!(st, 204);
    assert_eq!(s.get("/2018-10-31/layers/deps/versions/1").await.0, 404);
    assert_eq!(
        s.delete("/2018-10-31/layers/deps/versions/1").await.0,
        204,
        "idempotent"
    );
    s.put_json(
        "/2015-03-31/functions/layered/configuration",
        &json!({"Description": "new env"}),
    )
    .await;
    let out = s.invoke("layered", json!({})).await;
    assert!(
        out.report_field("Init Duration").is_some(),
        "a new environment"
    );
    assert_eq!(out.body["helper"], "from deps");
    // ... but it cannot be newly attached.
    let (st, h, _) = s
        .put_json(
            "/2015-03-31/functions/custom/configuration",
            &json!({"Layers": [deps_arn]}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn layer_errors_follow_lambda() {
    let s = Server::start();
    let one = publish(&s, "one", &[("x.txt", "x", 0o644)], json!({})).await;
    let one_arn = one["LayerVersionArn"].as_str().unwrap().to_string();
    let two = publish(&s, "one", &[("y.txt", "y", 0o644)], json!({})).await;
    let create = |layers: Value| {
        json!({"FunctionName": "f", "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
               "Layers": layers, "Code": {"ZipFile": b64(&zip(&[("app.py", "x = 1\n", 0o644)]))}})
    };
    for (layers, error) in [
        (
            json!([one_arn.replace(":one:1", ":absent:1")]),
            "InvalidParameterValueException",
        ),
        (
            json!([one_arn, two["LayerVersionArn"]]),
            "InvalidParameterValueException",
        ),
        (
            json!([one_arn, one_arn, one_arn, one_arn, one_arn, one_arn]),
            "InvalidParameterValueException",
        ),
        (json!(["not-an-arn"]), "InvalidParameterValueException"),
    ] {
        let (st, h, b) = s
            .post_json("/2015-03-31/functions", &create(layers.clone()))
            .await;
        assert_eq!(
            (st, h["x-amzn-errortype"].to_str().unwrap()),
            (400, error),
            "{layers}: {b}"
        );
    }
    let (st, h, _) = s
        .post_json(
            "/2018-10-31/layers/bad:name/versions",
            &json!({"Content": {"ZipFile": b64(&zip(&[("a", "a", 0o644)]))}}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (st, h, _) = s
        .post_json("/2018-10-31/layers/nocontent/versions", &json!({}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    let (st, h, _) = s.get("/2018-10-31/layers/one/versions/9").await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );

    // Function and layers together over 250 MB unzipped: refused.
    let big = |name: &str| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file(name, opts).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..130 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let (st, _, heavy) = s
        .post_json(
            "/2018-10-31/layers/heavy/versions",
            &json!({"Content": {"ZipFile": b64(&big("zeros"))}}),
        )
        .await;
    assert_eq!(st, 201, "{heavy}");
    let (st, h, b) = s
        .post_json(
            "/2015-03-31/functions",
            &json!({"FunctionName": "f", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Layers": [heavy["LayerVersionArn"]],
            "Code": {"ZipFile": b64(&big("app.py"))}}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException"),
        "{b}"
    );
    assert!(b.to_string().contains("262144000"), "{b}");
}
