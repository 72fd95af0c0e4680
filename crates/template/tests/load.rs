//! A SAM template read into its application, and the plans between two versions of it,
//! without a server.

use std::collections::BTreeMap;

use lamina_model::application::{Record, Recorded};
use lamina_template::app::{CodeUri, LayerRef, TriggerKind};
use lamina_template::plan::{Action, Kind, desired, plan, teardown};
use lamina_template::{Context, TemplateError, load};

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Uploads:
    Type: AWS::S3::Bucket
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: api/
      Handler: app.handler
      Runtime: python3.12
      MemorySize: !If [IsProd, 1024, 256]
      Layers: [!Ref Deps]
      Policies: [AWSLambdaBasicExecutionRole]
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
          QUEUE_ARN: !GetAtt Jobs.Arn
          NAME: !Sub '${AWS::StackName}-${Stage}'
      Events:
        Hello:
          Type: HttpApi
          Properties: {Path: /hello, Method: get}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day), Input: '{"job": "nightly"}'}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: index.handler
      Runtime: nodejs20.x
      AutoPublishAlias: live
      Events:
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 5}
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}]}}
  ProdOnly:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties: {CodeUri: api/, Handler: app.handler, Runtime: python3.12}
"#;

fn context(dir: &std::path::Path, overrides: &[(&str, &str)]) -> Context {
    for d in ["layer", "api", "worker"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    Context {
        app: "shop".into(),
        region: "us-east-1".into(),
        account: "000000000000".into(),
        endpoint: "http://127.0.0.1:9000".into(),
        base: dir.to_path_buf(),
        overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn a_template_becomes_its_application() {
    let d = tempfile::tempdir().unwrap();
    let app = load(TEMPLATE, &context(d.path(), &[])).unwrap();
    assert_eq!(app.functions.len(), 2, "ProdOnly's condition is false");
    let api = &app.functions[0];
    assert_eq!(api.name, "shop-Api");
    assert_eq!(api.code, CodeUri::Dir(d.path().join("api/")));
    assert_eq!(api.config["Timeout"], 5, "from Globals");
    assert_eq!(api.config["MemorySize"], 256, "the !If's false branch");
    let vars = &api.config["Environment"]["Variables"];
    assert_eq!(vars["STAGE"], "dev", "Globals' variables merged in");
    assert_eq!(
        vars["QUEUE_URL"],
        "http://127.0.0.1:9000/000000000000/shop-Jobs"
    );
    assert_eq!(
        vars["QUEUE_ARN"],
        "arn:aws:sqs:us-east-1:000000000000:shop-Jobs"
    );
    assert_eq!(vars["NAME"], "shop-dev");
    assert_eq!(api.layers, vec![LayerRef::Template("Deps".into())]);
    assert_eq!(api.routes, vec!["GET /hello"]);
    assert_eq!(api.url.as_ref().unwrap()["AuthType"], "NONE");
    match &api.triggers[0].kind {
        TriggerKind::Rule {
            name, rule, target, ..
        } => {
            assert_eq!(name, "shop-Api-Nightly");
            assert_eq!(rule["ScheduleExpression"], "rate(1 day)");
            assert_eq!(target["Input"], r#"{"job": "nightly"}"#);
            assert_eq!(
                target["Arn"],
                "arn:aws:lambda:us-east-1:000000000000:function:shop-Api"
            );
        }
        other => panic!("{other:?}"),
    }
    let worker = &app.functions[1];
    match &worker.triggers[0].kind {
        TriggerKind::Mapping { body } => {
            assert_eq!(
                body["EventSourceArn"],
                "arn:aws:sqs:us-east-1:000000000000:shop-Jobs"
            );
            assert_eq!(
                body["FunctionName"],
                "arn:aws:lambda:us-east-1:000000000000:function:shop-Worker:live",
                "triggers call the alias"
            );
        }
        other => panic!("{other:?}"),
    }
    let bucket = &app.buckets[0];
    assert_eq!(bucket.name, "shop-uploads");
    assert_eq!(
        bucket.notifications[0]["Filter"]["Key"]["FilterRules"][0]["Value"],
        "in/"
    );
    assert!(
        app.notes.iter().any(|n| n.contains("Policies")),
        "{:?}",
        app.notes
    );
}

#[test]
fn overrides_and_their_mistakes() {
    let d = tempfile::tempdir().unwrap();
    let app = load(TEMPLATE, &context(d.path(), &[("Stage", "prod")])).unwrap();
    assert_eq!(app.functions.len(), 3);
    assert_eq!(app.functions[0].config["MemorySize"], 1024);
    let e = load(TEMPLATE, &context(d.path(), &[("Stage", "qa")])).unwrap_err();
    assert!(e.to_string().contains("AllowedValues"), "{e}");
    let e = load(TEMPLATE, &context(d.path(), &[("Nope", "x")])).unwrap_err();
    assert!(e.to_string().contains("Nope"), "{e}");
}

#[test]
fn what_lamina_cannot_do_is_named() {
    let d = tempfile::tempdir().unwrap();
    let cx = context(d.path(), &[]);
    let cases = [
        (
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n  U:\n    Type: AWS::SNS::Topic\n",
            "T (AWS::DynamoDB::Table), U (AWS::SNS::Topic)",
        ),
        (
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: api/, Handler: a.b, Runtime: python3.12, VpcConfig: {}}\n",
            "VpcConfig",
        ),
        (
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: api/\n      Handler: a.b\n      Runtime: python3.12\n      Events:\n        S:\n          Type: SNS\n          Properties: {Topic: t}\n",
            "event type SNS",
        ),
        (
            "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  HttpApi: {Cors: true}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: api/, Handler: a.b, Runtime: python3.12}\n",
            "HttpApi",
        ),
        (
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: api/, Handler: a.b, Runtime: python3.12}\n",
            "Transform",
        ),
    ];
    for (text, named) in cases {
        let e = load(text, &cx).unwrap_err();
        assert!(
            matches!(
                e,
                TemplateError::Unsupported { .. } | TemplateError::Invalid { .. }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains(named), "{e} should name {named}");
    }
}

fn record(steps: &[lamina_template::plan::Desired]) -> Record {
    Record {
        name: "shop".into(),
        updated: String::new(),
        resources: steps
            .iter()
            .map(|d| Recorded {
                key: d.key.clone(),
                physical: d.physical.clone().unwrap_or_else(|| "server-named".into()),
                digest: d.digest.clone(),
            })
            .collect(),
    }
}

#[test]
fn plans_make_change_and_remove_in_an_order_that_keeps_references_valid() {
    let d = tempfile::tempdir().unwrap();
    let cx = context(d.path(), &[]);
    let app = load(TEMPLATE, &cx).unwrap();
    let mut code = BTreeMap::new();
    code.insert("Api".to_string(), "sha-a".to_string());
    code.insert("Worker".to_string(), "sha-w".to_string());
    let first = desired(&app, &code);
    let steps = plan(&first, &Record::default());
    assert!(steps.iter().all(|s| s.action == Action::Create));
    let kinds: Vec<Kind> = steps.iter().map(|s| s.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        kinds, sorted,
        "layers, queues, buckets, functions, then triggers"
    );
    let done = record(&first);
    assert!(
        plan(&first, &done).is_empty(),
        "nothing changed, nothing to do"
    );

    // Api's code changes; Worker leaves the template.
    let changed = TEMPLATE.replace("  Worker:", "  Gone:").replace(
        "      CodeUri: worker/\n      Handler: index.handler\n      Runtime: nodejs20.x\n      AutoPublishAlias: live\n      Events:\n        Queue:\n          Type: SQS\n          Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 5}\n        Upload:\n          Type: S3\n          Properties:\n            Bucket: !Ref Uploads\n            Events: s3:ObjectCreated:*\n            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}]}}\n",
        "      CodeUri: worker/\n      Handler: index.handler\n      Runtime: nodejs20.x\n",
    );
    let app = load(&changed, &cx).unwrap();
    code.insert("Api".into(), "sha-a2".into());
    code.insert("Gone".into(), "sha-w".into());
    let second = desired(&app, &code);
    let steps = plan(&second, &done);
    let find = |key: &str| steps.iter().find(|s| s.key == key).map(|s| s.action);
    assert_eq!(find("Function:Api"), Some(Action::Update));
    assert_eq!(find("Function:Worker"), Some(Action::Delete));
    assert_eq!(find("Mapping:Worker.Queue"), Some(Action::Delete));
    assert_eq!(find("Notification:Uploads"), Some(Action::Delete));
    assert_eq!(find("Function:Gone"), Some(Action::Create));
    assert_eq!(find("Rule:Api.Nightly"), None, "unchanged");
    let position = |key: &str| steps.iter().position(|s| s.key == key).unwrap();
    assert!(position("Mapping:Worker.Queue") < position("Function:Api"));
    assert!(position("Function:Worker") > position("Function:Gone"));

    let all = teardown(&done);
    assert!(all.iter().all(|s| s.action == Action::Delete));
    assert_eq!(all.last().unwrap().kind, Kind::Layer, "layers go last");
    assert!(all.first().unwrap().kind >= Kind::Url, "triggers go first");
}

#[test]
fn code_is_a_directory_or_a_zip_and_api_events_say_how_they_are_served() {
    let d = tempfile::tempdir().unwrap();
    let cx = context(d.path(), &[]);
    std::fs::write(d.path().join("fn.zip"), b"PK").unwrap();
    let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn.zip\n      Handler: a.b\n      Runtime: python3.12\n      Events:\n        Rest: {Type: Api, Properties: {Path: /items, Method: post}}\n";
    let app = load(text, &cx).unwrap();
    assert_eq!(app.functions[0].code, CodeUri::Zip(d.path().join("fn.zip")));
    assert_eq!(app.functions[0].routes, vec!["POST /items"]);
    assert!(
        app.notes.iter().any(|n| n.contains("payload format 2.0")),
        "{:?}",
        app.notes
    );
    let missing = text.replace("fn.zip", "nowhere/");
    let e = load(&missing, &cx).unwrap_err().to_string();
    assert!(e.contains("CodeUri") && e.contains("nowhere"), "{e}");
}
