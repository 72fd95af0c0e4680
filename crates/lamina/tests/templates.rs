//! SAM templates through `lamina deploy`, `lamina delete` and `lamina deploy --watch`,
//! against a real server: three functions built with their dependencies (a Python wheel and
//! a Node.js tarball from the project itself, so no network is needed; a native bootstrap
//! from a Makefile), each trigger of the template made to fire, a second deploy that removes
//! one function and updates another, a template Lamina cannot deploy, and a save picked up by
//! watch mode.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Server, eventually};
use serde_json::{Value, json};

fn lamina(endpoint: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .current_dir(dir)
        .env("LAMINA_ENDPOINT", endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .expect("run lamina")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A wheel of a package `pyshout`, made by hand (a wheel is a zip with its metadata).
fn wheel(path: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    for (name, body) in [
        (
            "pyshout/__init__.py",
            "def shout(s):\n    return s.upper() + '!'\n",
        ),
        (
            "pyshout-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: pyshout\nVersion: 1.0\n",
        ),
        (
            "pyshout-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (
            "pyshout-1.0.dist-info/RECORD",
            "pyshout/__init__.py,,\npyshout-1.0.dist-info/METADATA,,\n\
             pyshout-1.0.dist-info/WHEEL,,\npyshout-1.0.dist-info/RECORD,,\n",
        ),
    ] {
        z.start_file(name, o).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// An npm tarball of a package `greet` (npm's layout: everything under `package/`).
fn tarball(dir: &Path, path: &Path) {
    let src = dir.join("greet-src/package");
    write(
        &src.join("package.json"),
        br#"{"name": "greet", "version": "1.0.0", "main": "index.js"}"#,
    );
    write(
        &src.join("index.js"),
        b"module.exports = (n) => 'hi ' + n;\n",
    );
    let ok = Command::new("tar")
        .arg("czf")
        .arg(path)
        .arg("-C")
        .arg(dir.join("greet-src"))
        .arg("package")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar");
    std::fs::remove_dir_all(dir.join("greet-src")).unwrap();
}

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  When: {Type: String}
  Word: {Type: String, Default: hello}
Globals:
  Function:
    Timeout: 10
    Environment: {Variables: {WORD: !Ref Word}}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Uploads:
    Type: AWS::S3::Bucket
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: api/
      Handler: app.handler
      Runtime: python3.11
      Policies: [AWSLambdaBasicExecutionRole]
      Events:
        Hello: {Type: HttpApi, Properties: {Path: /hello, Method: get}}
        Once:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Sub 'at(${When})'
            Input: '{"from": "schedule"}'
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: index.handler
      Runtime: nodejs20.x
      Environment: {Variables: {QUEUE: !Ref Jobs}}
      Events:
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 1}}
        Upload:
          Type: S3
          Properties: {Bucket: !Ref Uploads, Events: 's3:ObjectCreated:*'}
  Native:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: native/
      Handler: bootstrap
      Runtime: provided.al2023
"#;

const API: &str = "import json\nimport os\nfrom pyshout import shout\n\n\
def handler(event, context):\n    print('event', json.dumps(event))\n    \
return {'statusCode': 200, 'body': json.dumps({'said': shout(os.environ['WORD']), 'v': 1})}\n";

/// The project: the template and each function's sources.
fn project(dir: &Path) {
    write(&dir.join("template.yaml"), TEMPLATE.as_bytes());
    write(&dir.join("api/app.py"), API.as_bytes());
    wheel(&dir.join("api/pyshout-1.0-py3-none-any.whl"));
    write(
        &dir.join("api/requirements.txt"),
        b"./pyshout-1.0-py3-none-any.whl\n",
    );
    write(
        &dir.join("worker/index.js"),
        b"const greet = require('greet');\n\
exports.handler = async (event) => {\n\
  const r = event.Records || [];\n\
  console.log('records', r.length, r.map(x => x.eventSource || x.EventSource).join(','), greet('worker'));\n\
  return { records: r.length };\n};\n",
    );
    tarball(dir, &dir.join("worker/greet-1.0.0.tgz"));
    write(
        &dir.join("worker/package.json"),
        br#"{"name": "worker", "version": "1.0.0", "dependencies": {"greet": "file:greet-1.0.0.tgz"}}"#,
    );
    // A lockfile, so the build runs `npm ci` (made offline: the dependency is local).
    let locked = Command::new("npm")
        .args([
            "install",
            "--package-lock-only",
            "--offline",
            "--no-audit",
            "--no-fund",
        ])
        .current_dir(dir.join("worker"))
        .status()
        .unwrap()
        .success();
    assert!(locked && dir.join("worker/package-lock.json").is_file());
    let bootstrap = common::rust_echo_bootstrap();
    write(
        &dir.join("native/Makefile"),
        format!(
            "build-Native:\n\tcp {} $(ARTIFACTS_DIR)/bootstrap\n",
            bootstrap.display()
        )
        .as_bytes(),
    );
}

/// `at(…)` a few seconds from now, in UTC.
fn soon(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

async fn put_object(s: &Server, bucket: &str, key: &str) -> u16 {
    let port = s.endpoint.rsplit(':').next().unwrap();
    s.http
        .put(s.url(&format!("/{key}")))
        .header("host", format!("{bucket}.s3.localhost:{port}"))
        .body("x")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /hello` through the URL `id`: the JSON answered.
async fn hello(s: &Server, id: &str) -> Value {
    s.http
        .get(s.url(&format!("/lambda-url/{id}/hello")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_is_deployed_triggered_changed_and_deleted() {
    let s = Server::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("shop");
    project(&dir);
    let when = soon(6);

    // First deploy: the template in the current directory, with its dependencies built.
    let out = lamina(
        &s.endpoint,
        &dir,
        &["deploy", "--parameter-overrides", &format!("When={when}")],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}\n{}", s.output_text());
    assert!(said.contains("9 to create"), "{said}");
    assert!(
        said.contains("Policies accepted, not acted on"),
        "IAM is named, not dropped: {said}"
    );
    let url = said
        .lines()
        .find(|l| l.starts_with("Api "))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http")))
        .unwrap_or_else(|| panic!("Api's URL: {said}"))
        .to_string();
    assert!(said.contains("GET /hello"), "{said}");

    // The HTTP API event, through the function's URL: the wheel's code runs.
    let id = url.split("//").nth(1).unwrap().split('.').next().unwrap();
    let answer = hello(&s, id).await;
    assert_eq!(answer, json!({"said": "HELLO!", "v": 1}));

    // The native function built by its Makefile.
    let echoed = s.invoke("shop-Native", json!({"n": 7})).await;
    assert_eq!(echoed.body["echo"], json!({"n": 7}), "{echoed:?}");

    // The SQS and S3 events reach the Node.js function, whose tarball dependency loads.
    let (status, _) = common::aws_json(
        &s,
        "AmazonSQS.SendMessage",
        "1.0",
        json!({"QueueUrl": format!("{}/000000000000/shop-Jobs", s.endpoint), "MessageBody": "job"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(put_object(&s, "shop-uploads", "in/a.txt").await, 200);
    let group = "/aws/lambda/shop-Worker";
    let both = eventually(Duration::from_secs(20), async || {
        let lines = s.log_lines(group, "records").await.join("\n");
        lines.contains("aws:sqs hi worker") && lines.contains("aws:s3 hi worker")
    })
    .await;
    assert!(
        both,
        "{:?}\n{}",
        s.log_lines(group, "").await,
        s.output_text()
    );

    // The schedule fires once, with its input.
    let fired = eventually(Duration::from_secs(30), async || {
        !s.log_lines("/aws/lambda/shop-Api", "schedule")
            .await
            .is_empty()
    })
    .await;
    assert!(fired, "{:?}", s.log_lines("/aws/lambda/shop-Api", "").await);

    // Nothing changed: nothing is done.
    let out = lamina(
        &s.endpoint,
        &dir,
        &["deploy", "--parameter-overrides", &format!("When={when}")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("0 to create, 0 to update, 0 to replace, 0 to delete, 9 unchanged"),
        "{}",
        text(&out)
    );

    // Native leaves the template, Api's code and a parameter change.
    let template = TEMPLATE.split("  Native:").next().unwrap();
    write(&dir.join("template.yaml"), template.as_bytes());
    write(
        &dir.join("api/app.py"),
        API.replace("'v': 1", "'v': 2").as_bytes(),
    );
    let out = lamina(
        &s.endpoint,
        &dir,
        &[
            "deploy",
            "--parameter-overrides",
            &format!("When={when} Word=bye"),
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("0 to create, 2 to update, 0 to replace, 1 to delete, 6 unchanged"),
        "{said}"
    );
    assert!(said.contains("- Function:Native"), "{said}");
    assert!(said.contains("~ Function:Api"), "{said}");
    assert!(
        said.contains("~ Function:Worker"),
        "the parameter is in its environment: {said}"
    );
    let (status, _, _) = s.get("/2015-03-31/functions/shop-Native").await;
    assert_eq!(status, 404);
    let answer = hello(&s, id).await;
    assert_eq!(answer, json!({"said": "BYE!", "v": 2}));

    // Delete: everything the application made goes, and its record; a bucket that still
    // holds objects stays (as in CloudFormation), named, until it is emptied.
    let out = lamina(&s.endpoint, &dir, &["delete"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("bucket shop-uploads is not empty"),
        "{}",
        text(&out)
    );
    let (_, _, record) = s.get("/_lamina/applications/shop").await;
    assert_eq!(
        record["Resources"].as_array().map(Vec::len),
        Some(1),
        "{record}"
    );
    let port = s.endpoint.rsplit(':').next().unwrap();
    let emptied = s
        .http
        .delete(s.url("/in/a.txt"))
        .header("host", format!("shop-uploads.s3.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(emptied.status().as_u16(), 204);
    let out = lamina(&s.endpoint, &dir, &["delete"]);
    assert!(out.status.success(), "{}", text(&out));
    for f in ["shop-Api", "shop-Worker"] {
        let (status, _, _) = s.get(&format!("/2015-03-31/functions/{f}")).await;
        assert_eq!(status, 404, "{f}");
    }
    let (status, body) = common::aws_json(
        &s,
        "AmazonSQS.GetQueueUrl",
        "1.0",
        json!({"QueueName": "shop-Jobs"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = s.get("/_lamina/applications/shop").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_template_asks_that_lamina_cannot_do_is_named_and_nothing_is_deployed() {
    let s = Server::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("bad");
    write(&dir.join("f/app.py"), b"def handler(e, c):\n    return 1\n");
    write(
        &dir.join("template.yaml"),
        b"Transform: AWS::Serverless-2016-10-31\nResources:\n  T:\n    Type: AWS::DynamoDB::Table\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: f/, Handler: app.handler, Runtime: python3.11}\n",
    );
    let out = lamina(&s.endpoint, &dir, &["deploy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("T (AWS::DynamoDB::Table)"),
        "{}",
        text(&out)
    );
    write(
        &dir.join("template.yaml"),
        b"Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: f/, Handler: app.handler, Runtime: python3.11, VpcConfig: {}, KmsKeyArn: k}\n",
    );
    let out = lamina(&s.endpoint, &dir, &["deploy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(
            "Resources.F.Properties: Lamina does not support properties KmsKeyArn, VpcConfig"
        ),
        "{}",
        text(&out)
    );
    let (_, _, listed) = s.get("/2015-03-31/functions").await;
    assert_eq!(listed["Functions"], json!([]), "nothing was deployed");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_updates_the_function_whose_code_was_saved() {
    let s = Server::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("w");
    write(
        &dir.join("template.yaml"),
        b"Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.11}\n",
    );
    write(
        &dir.join("src/app.py"),
        b"def handler(e, c):\n    return 1\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["deploy", "--watch"])
        .current_dir(&dir)
        .env("LAMINA_ENDPOINT", &s.endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("watching") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "watch ended early"
        );
    }
    assert_eq!(s.invoke("w-Fn", json!({})).await.body, json!(1));
    write(
        &dir.join("src/app.py"),
        b"def handler(e, c):\n    return 2\n",
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("updated Fn") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "watch ended early"
        );
    }
    assert!(
        line.contains("CodeSha256") && line.contains("ms after the save"),
        "{line}"
    );
    assert_eq!(s.invoke("w-Fn", json!({})).await.body, json!(2));
    child.kill().unwrap();
    child.wait().unwrap();
}

const LAYERED: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Dlq:
    Type: AWS::SQS::Queue
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/, CompatibleRuntimes: [python3.11]}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref Shared]
      AutoPublishAlias: live
      ReservedConcurrentExecutions: 3
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Dlq.Arn}
      EventInvokeConfig: {MaximumRetryAttempts: 0}
      FunctionUrlConfig: {AuthType: NONE}
      Events:
        Orders:
          Type: EventBridgeRule
          Properties: {Pattern: {source: [shop]}}
"#;

/// A layer of the template, an alias published on each change with provisioned
/// concurrency on it, reserved concurrency, a dead-letter queue, an event invoke
/// configuration, a URL on the alias and an EventBridge rule; then a new layer version and
/// properties that leave the template.
#[tokio::test(flavor = "multi_thread")]
async fn layers_aliases_and_rules_follow_the_template() {
    let s = Server::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("layered");
    write(&dir.join("template.yaml"), LAYERED.as_bytes());
    write(
        &dir.join("layer/python/shared.py"),
        b"GREETING = 'from a layer'\n",
    );
    write(
        &dir.join("fn/app.py"),
        b"import shared\n\ndef handler(e, c):\n    print('got', e.get('detail-type'))\n    return shared.GREETING\n",
    );
    let out = lamina(&s.endpoint, &dir, &["deploy"]);
    assert!(out.status.success(), "{}\n{}", text(&out), s.output_text());
    assert_eq!(
        s.invoke("layered-Fn:live", json!({})).await.body,
        json!("from a layer")
    );
    let (_, _, alias) = s.get("/2015-03-31/functions/layered-Fn/aliases/live").await;
    assert_eq!(alias["FunctionVersion"], "1", "{alias}");
    let (_, _, provisioned) = s
        .get("/2019-09-30/functions/layered-Fn/provisioned-concurrency?Qualifier=live")
        .await;
    assert_eq!(
        provisioned["RequestedProvisionedConcurrentExecutions"], 1,
        "{provisioned}"
    );
    let (_, _, concurrency) = s.get("/2019-09-30/functions/layered-Fn/concurrency").await;
    assert_eq!(
        concurrency["ReservedConcurrentExecutions"], 3,
        "{concurrency}"
    );
    let (_, _, config) = s
        .get("/2015-03-31/functions/layered-Fn/configuration")
        .await;
    assert_eq!(
        config["DeadLetterConfig"]["TargetArn"],
        "arn:aws:sqs:us-east-1:000000000000:layered-Dlq"
    );
    let (status, _, _) = s
        .get("/2021-10-31/functions/layered-Fn/url?Qualifier=live")
        .await;
    assert_eq!(status, 200);
    let (status, _) = common::aws_json(
        &s,
        "AWSEvents.PutEvents",
        "1.1",
        json!({"Entries": [{"Source": "shop", "DetailType": "order", "Detail": "{}"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let routed = eventually(Duration::from_secs(15), async || {
        !s.log_lines("/aws/lambda/layered-Fn", "\"got order\"")
            .await
            .is_empty()
    })
    .await;
    assert!(
        routed,
        "{:?}",
        s.log_lines("/aws/lambda/layered-Fn", "").await
    );

    // A new layer version: the function moves to it (a new version behind the alias), the
    // old layer version goes; reserved concurrency and the invoke configuration leave.
    write(
        &dir.join("layer/python/shared.py"),
        b"GREETING = 'from layer v2'\n",
    );
    let changed = LAYERED
        .replace("      ReservedConcurrentExecutions: 3\n", "")
        .replace("      EventInvokeConfig: {MaximumRetryAttempts: 0}\n", "");
    write(&dir.join("template.yaml"), changed.as_bytes());
    let out = lamina(&s.endpoint, &dir, &["deploy"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("~ Layer:Shared") && said.contains("~ Function:Fn"),
        "{said}"
    );
    assert_eq!(
        s.invoke("layered-Fn:live", json!({})).await.body,
        json!("from layer v2")
    );
    let (_, _, versions) = s.get("/2018-10-31/layers/Shared/versions").await;
    let listed: Vec<u64> = versions["LayerVersions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["Version"].as_u64())
        .collect();
    assert_eq!(listed, vec![2], "{versions}");
    let (_, _, concurrency) = s.get("/2019-09-30/functions/layered-Fn/concurrency").await;
    assert!(
        concurrency
            .get("ReservedConcurrentExecutions")
            .is_none_or(Value::is_null),
        "{concurrency}"
    );
    let (status, _, _) = s
        .get("/2019-09-25/functions/layered-Fn/event-invoke-config")
        .await;
    assert_eq!(status, 404);

    let out = lamina(&s.endpoint, &dir, &["delete"]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, _, versions) = s.get("/2018-10-31/layers/Shared/versions").await;
    assert_eq!(versions["LayerVersions"], json!([]));
    let (status, _, _) = s.get("/2015-03-31/functions/layered-Fn").await;
    assert_eq!(status, 404);
}
