//! The control plane against in-memory records, in-process: functions, versions, aliases,
//! reserved concurrency and tags, through the HTTP API and the platform's own calls.

use lamina_model::LambdaError;
use lamina_testkit::TestPlatform;
use serde_json::json;

fn req<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("request shape")
}

#[tokio::test]
async fn create_get_update_list_and_delete() {
    let t = TestPlatform::start().await;
    let client = t.client();
    let created = client
        .create_function(&TestPlatform::function("orders", "echo"))
        .await
        .unwrap();
    assert_eq!(created.function_name, "orders");
    assert_eq!(
        created.function_arn,
        "arn:aws:lambda:us-east-1:000000000000:function:orders"
    );
    assert_eq!(created.memory_size, 128);
    assert_eq!(created.timeout, 3);

    // A second function of the same name is a conflict, and the first is untouched.
    let again = client
        .create_function(&TestPlatform::function("orders", "other"))
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("ResourceConflictException"),
        "{again}"
    );

    let updated = client
        .update_configuration(
            "orders",
            &req(json!({"MemorySize": 512, "Environment": {"Variables": {"STAGE": "test"}}})),
        )
        .await
        .unwrap();
    assert_eq!(updated.memory_size, 512);
    assert_ne!(updated.revision_id, created.revision_id);
    let got = client.get_configuration("orders").await.unwrap();
    assert_eq!(got.revision_id, updated.revision_id);
    assert_eq!(got.handler.as_deref(), Some("echo"));

    let code = client
        .update_code(
            "orders",
            &lamina_testkit::zip_bytes(&[("bootstrap", "#!/bin/sh\n# v2\n")]),
        )
        .await
        .unwrap();
    assert_ne!(code.code_sha256, created.code_sha256);

    client
        .create_function(&TestPlatform::function("billing", "echo"))
        .await
        .unwrap();
    let names: Vec<String> = client
        .list_functions()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.function_name)
        .collect();
    assert_eq!(names, ["billing", "orders"]);

    client.delete_function("orders").await.unwrap();
    assert!(
        client
            .get_configuration("orders")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        client
            .delete_function("orders")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(t.platform.health().functions, 1);
    t.stop().await;
}

#[tokio::test]
async fn bad_requests_get_lambdas_errors() {
    let t = TestPlatform::start().await;
    let client = t.client();
    let mut bad = TestPlatform::function("f", "echo");
    // botocore lets 64 through (its model is wider than Lambda's quotas); the server
    // enforces the quota.
    bad.memory_size = Some(64);
    let e = client.create_function(&bad).await.unwrap_err().to_string();
    assert!(e.contains("InvalidParameterValueException"), "{e}");
    let mut bad = TestPlatform::function("f", "echo");
    // Not one of Lambda's runtimes: the enum check.
    bad.runtime = Some("cobol1.0".into());
    let e = client.create_function(&bad).await.unwrap_err().to_string();
    assert!(e.contains("ValidationException"), "{e}");
    // One of Lambda's, but not one this host runs.
    bad.runtime = Some("java21".into());
    let e = client.create_function(&bad).await.unwrap_err().to_string();
    assert!(e.contains("InvalidParameterValueException"), "{e}");
    let mut bad = TestPlatform::function("f", "echo");
    bad.function_name = Some("no spaces allowed".into());
    let e = client.create_function(&bad).await.unwrap_err().to_string();
    assert!(e.contains("ValidationException"), "{e}");
    assert_eq!(t.platform.health().functions, 0);
}

#[tokio::test]
async fn versions_and_aliases() {
    let t = TestPlatform::start().await;
    let p = &t.platform;
    t.client()
        .create_function(&TestPlatform::function("f", "echo"))
        .await
        .unwrap();
    let v1 = p
        .versions()
        .publish_version("f", req(json!({})))
        .await
        .unwrap();
    assert_eq!(v1.version, "1");
    // Nothing changed since: publishing again gives the same version.
    assert_eq!(
        p.versions()
            .publish_version("f", req(json!({})))
            .await
            .unwrap()
            .version,
        "1"
    );
    t.client()
        .update_configuration("f", &req(json!({"Timeout": 9})))
        .await
        .unwrap();
    let v2 = p
        .versions()
        .publish_version("f", req(json!({})))
        .await
        .unwrap();
    assert_eq!((v2.version.as_str(), v2.timeout), ("2", 9));

    let live = p
        .aliases()
        .create_alias(
            "f",
            req(json!({"Name": "live", "FunctionVersion": "1",
                       "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        live.alias_arn,
        "arn:aws:lambda:us-east-1:000000000000:function:f:live"
    );
    let dup = p
        .aliases()
        .create_alias("f", req(json!({"Name": "live", "FunctionVersion": "2"})))
        .await
        .unwrap_err();
    assert!(matches!(dup, LambdaError::ResourceConflict(_)), "{dup:?}");
    let missing = p
        .aliases()
        .create_alias("f", req(json!({"Name": "next", "FunctionVersion": "7"})))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, LambdaError::ResourceNotFound(_)),
        "{missing:?}"
    );
    p.aliases().delete_alias("f", "live").await.unwrap();
    assert!(matches!(
        p.aliases().get_alias("f", "live"),
        Err(LambdaError::ResourceNotFound(_))
    ));
}

#[tokio::test]
async fn reserved_concurrency_and_tags() {
    let t = TestPlatform::start().await;
    let p = &t.platform;
    t.client()
        .create_function(&TestPlatform::function("f", "echo"))
        .await
        .unwrap();
    let set = p
        .reservations()
        .put_function_concurrency("f", req(json!({"ReservedConcurrentExecutions": 5})))
        .await
        .unwrap();
    assert_eq!(set.reserved_concurrent_executions, Some(5));
    // The server's limit is 50, and a tenth of it stays unreserved (Lambda: 100 of 1,000).
    let too_much = p
        .reservations()
        .put_function_concurrency("f", req(json!({"ReservedConcurrentExecutions": 46})))
        .await
        .unwrap_err();
    assert!(
        matches!(too_much, LambdaError::InvalidParameterValue(_)),
        "{too_much:?}"
    );
    assert_eq!(
        p.reservations()
            .get_function_concurrency("f")
            .unwrap()
            .reserved_concurrent_executions,
        Some(5)
    );
    p.reservations()
        .delete_function_concurrency("f")
        .await
        .unwrap();
    assert_eq!(
        p.reservations()
            .get_function_concurrency("f")
            .unwrap()
            .reserved_concurrent_executions,
        None
    );

    let arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
    p.tags()
        .tag_resource(arn, [("team".to_string(), "a".to_string())].into())
        .await
        .unwrap();
    assert_eq!(
        p.tags()
            .list_tags(arn)
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("a")
    );
    p.tags()
        .untag_resource(arn, &["team".to_string()])
        .await
        .unwrap();
    assert!(p.tags().list_tags(arn).unwrap().is_empty());
}

/// A request for a service the server does not serve is told so, by the service it was
/// signed for (the SigV4 credential scope).
#[tokio::test]
async fn requests_for_other_services_are_named() {
    let t = TestPlatform::start().await;
    let answer = reqwest::Client::new()
        .get(format!("{}/photos/cat.jpg", t.endpoint))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/glacier/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(
        answer.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let body: serde_json::Value = answer.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("\"glacier\"") && message.contains("lambda, logs"),
        "{message}"
    );
}
