//! Published versions against a real server: PublishVersion and its preconditions,
//! `Publish: true`, ListVersionsByFunction, qualified Get/Invoke/Delete, and a version that
//! keeps answering with its own code after `$LATEST` changes.

mod common;

use common::{ROLE, Server, b64, zip};
use serde_json::{Value, json};

fn app(answer: &str) -> String {
    format!(
        "import os\ndef handler(event, context):\n    return {{'answer': '{answer}', \
         'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], \
         'arn': context.invoked_function_arn}}\n"
    )
}

fn code(answer: &str) -> String {
    b64(&zip(&[("app.py", &app(answer), 0o644)]))
}

async fn invoke(s: &Server, target: &str) -> (Value, Option<String>) {
    let (status, h, body) = s.invoke_raw(&target.replace(':', "%3A"), "{}", &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    (
        serde_json::from_slice(&body).unwrap(),
        h.get("x-amz-executed-version")
            .map(|v| v.to_str().unwrap().to_string()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_published_listed_invoked_and_deleted() {
    let s = Server::start();
    let created = s
        .create_with(json!({"FunctionName": "ver", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Description": "first",
            "Code": {"ZipFile": code("one")}}))
        .await;
    let sha1 = created["CodeSha256"].as_str().unwrap().to_string();
    let arn = created["FunctionArn"].as_str().unwrap().to_string();
    let versions = "/2015-03-31/functions/ver/versions";

    // Publish: 201, version 1, a qualified ARN, its own RevisionId.
    let (st, _, v1) = s
        .post_json(versions, &json!({"Description": "release one"}))
        .await;
    assert_eq!(st, 201, "{v1}");
    assert_eq!(v1["Version"], "1");
    assert_eq!(v1["FunctionArn"], format!("{arn}:1"));
    assert_eq!(v1["Description"], "release one");
    assert_ne!(v1["RevisionId"], created["RevisionId"]);
    // Nothing changed: the same version again.
    let (st, _, again) = s.post_json(versions, &json!({})).await;
    assert_eq!((st, &again["Version"]), (201, &json!("1")));

    // Preconditions.
    let (st, h, _) = s.post_json(versions, &json!({"CodeSha256": "nope"})).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (412, "PreconditionFailedException")
    );
    let (st, h, _) = s.post_json(versions, &json!({"RevisionId": "stale"})).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (412, "PreconditionFailedException")
    );

    // $LATEST changes; version 1 keeps its code and configuration.
    let (st, _, updated) = s
        .put_json(
            "/2015-03-31/functions/ver/code",
            &json!({"ZipFile": code("two"), "Publish": true}),
        )
        .await;
    assert_eq!(st, 200, "{updated}");
    assert_eq!(updated["Version"], "2", "Publish: true publishes");
    assert_ne!(updated["CodeSha256"], sha1);
    let (st, _, _) = s
        .put_json(
            "/2015-03-31/functions/ver/configuration",
            &json!({"Description": "latest"}),
        )
        .await;
    assert_eq!(st, 200);

    let (one, executed) = invoke(&s, "ver:1").await;
    assert_eq!(one["answer"], "one");
    assert_eq!(one["version"], "1");
    assert_eq!(one["arn"], format!("{arn}:1"));
    assert_eq!(executed.as_deref(), Some("1"));
    let (two, executed) = invoke(&s, &format!("{arn}:2")).await;
    assert_eq!(
        (two["answer"].as_str(), executed.as_deref()),
        (Some("two"), Some("2"))
    );
    let (latest, executed) = invoke(&s, "ver").await;
    assert_eq!(
        (latest["answer"].as_str(), latest["version"].as_str()),
        (Some("two"), Some("$LATEST"))
    );
    assert_eq!(executed.as_deref(), Some("$LATEST"));
    let (st, _, q) = s.get("/2015-03-31/functions/ver?Qualifier=1").await;
    assert_eq!(st, 200);
    assert_eq!(q["Configuration"]["Description"], "release one");
    assert_eq!(q["Configuration"]["CodeSha256"], sha1.as_str());
    let (_, _, conf) = s.get("/2015-03-31/functions/ver:2/configuration").await;
    assert_eq!(conf["Version"], "2");

    // The list: $LATEST first, then 1 and 2; paginated.
    let (st, _, page) = s.get(&format!("{versions}?MaxItems=2")).await;
    assert_eq!(st, 200);
    let names: Vec<&str> = page["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["$LATEST", "1"]);
    assert_eq!(page["Versions"][0]["FunctionArn"], format!("{arn}:$LATEST"));
    let marker = page["NextMarker"].as_str().unwrap();
    let (_, _, rest) = s.get(&format!("{versions}?Marker={marker}")).await;
    assert_eq!(rest["Versions"][0]["Version"], "2");
    assert!(rest.get("NextMarker").is_none());

    // Unknown versions, and deleting one.
    let (st, h, _) = s.invoke_raw("ver:9", "{}", &[]).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    let (st, _, _) = s.delete("/2015-03-31/functions/ver?Qualifier=1").await;
    assert_eq!(st, 204);
    let (st, _, _) = s.get("/2015-03-31/functions/ver?Qualifier=1").await;
    assert_eq!(st, 404);
    let (st, _, _) = s.delete("/2015-03-31/functions/ver?Qualifier=1").await;
    assert_eq!(st, 404);
    assert_eq!(invoke(&s, "ver:2").await.0["answer"], "two");
    // Numbers are never reused.
    let (_, _, _) = s
        .put_json(
            "/2015-03-31/functions/ver/configuration",
            &json!({"Description": "again"}),
        )
        .await;
    let (_, _, v3) = s.post_json(versions, &json!({})).await;
    assert_eq!(v3["Version"], "3");

    // Create with Publish: version 1 at once.
    let (st, _, published) = s
        .post_json("/2015-03-31/functions", &json!({"FunctionName": "ver-pub", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Publish": true, "Code": {"ZipFile": code("pub")}}))
        .await;
    assert_eq!((st, &published["Version"]), (201, &json!("1")));
    assert_eq!(invoke(&s, "ver-pub:1").await.0["answer"], "pub");

    // Deleting the function removes every version; the versions survive a restart until then.
    let mut s = s;
    let data = s.data_dir.clone();
    s.stop();
    let s = Server::start_with(&[], Some(&data));
    assert_eq!(invoke(&s, "ver:2").await.0["answer"], "two");
    let (st, _, _) = s.delete("/2015-03-31/functions/ver").await;
    assert_eq!(st, 204);
    let (st, _, _) = s.get("/2015-03-31/functions/ver?Qualifier=2").await;
    assert_eq!(st, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_route_by_weight_and_follow_lambdas_rules() {
    let s = Server::start();
    let created = s
        .create_with(json!({"FunctionName": "al", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": ROLE, "Publish": true,
            "Code": {"ZipFile": code("one")}}))
        .await;
    assert_eq!(created["Version"], "1");
    let arn = s.get("/2015-03-31/functions/al").await.2["Configuration"]["FunctionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _, v2) = s
        .put_json(
            "/2015-03-31/functions/al/code",
            &json!({"ZipFile": code("two"), "Publish": true}),
        )
        .await;
    assert_eq!((st, &v2["Version"]), (200, &json!("2")));
    let aliases = "/2015-03-31/functions/al/aliases";

    // Create: 201, the alias ARN, a RevisionId.
    let (st, _, prod) = s
        .post_json(
            aliases,
            &json!({"Name": "prod", "FunctionVersion": "1", "Description": "live"}),
        )
        .await;
    assert_eq!(st, 201, "{prod}");
    assert_eq!(prod["AliasArn"], format!("{arn}:prod"));
    assert!(prod.get("RoutingConfig").is_none());
    let (st, h, _) = s
        .post_json(aliases, &json!({"Name": "prod", "FunctionVersion": "1"}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (409, "ResourceConflictException")
    );
    for (bad, status, error) in [
        (
            json!({"Name": "123", "FunctionVersion": "1"}),
            400,
            "ValidationException",
        ),
        (
            json!({"Name": "x", "FunctionVersion": "7"}),
            404,
            "ResourceNotFoundException",
        ),
        (json!({"Name": "x"}), 400, "ValidationException"),
        (
            json!({"Name": "x", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}),
            400,
            "InvalidParameterValueException",
        ),
        (
            json!({"Name": "x", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}}),
            400,
            "ValidationException",
        ),
    ] {
        let (st, h, b) = s.post_json(aliases, &bad).await;
        assert_eq!(
            (st, h["x-amzn-errortype"].to_str().unwrap()),
            (status, error),
            "{bad}: {b}"
        );
    }

    // Invoking through the alias runs its version; the runtime sees the alias ARN.
    let (out, executed) = invoke(&s, "al:prod").await;
    assert_eq!(
        (out["answer"].as_str(), executed.as_deref()),
        (Some("one"), Some("1"))
    );
    assert_eq!(out["arn"], format!("{arn}:prod"));
    let (_, _, conf) = s
        .get("/2015-03-31/functions/al/configuration?Qualifier=prod")
        .await;
    assert_eq!(
        (conf["Version"].as_str(), conf["FunctionArn"].as_str()),
        (Some("1"), Some(format!("{arn}:prod").as_str()))
    );

    // Weighted: 0.3 of invocations to version 2, measured over 300.
    let revision = prod["RevisionId"].as_str().unwrap();
    let (st, h, _) = s
        .put_json(
            &format!("{aliases}/prod"),
            &json!({"RevisionId": "stale", "Description": "x"}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (412, "PreconditionFailedException")
    );
    let (st, _, weighted) = s
        .put_json(
            &format!("{aliases}/prod"),
            &json!({"RevisionId": revision,
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.3}}}),
        )
        .await;
    assert_eq!(st, 200, "{weighted}");
    assert_eq!(
        weighted["RoutingConfig"],
        json!({"AdditionalVersionWeights": {"2": 0.3}})
    );
    assert_ne!(weighted["RevisionId"], prod["RevisionId"]);
    let n = 300;
    let mut to_two = 0;
    for _ in 0..n {
        let (out, executed) = invoke(&s, "al:prod").await;
        assert_eq!(
            out["version"].as_str(),
            executed.as_deref(),
            "X-Amz-Executed-Version says which ran"
        );
        if executed.as_deref() == Some("2") {
            assert_eq!(out["answer"], "two");
            to_two += 1;
        }
    }
    // Expected 90 (binomial, sd 7.9); accept 0.2-0.4 of 300, over 3.8 sd either side.
    let share = to_two as f64 / n as f64;
    assert!(
        (0.2..=0.4).contains(&share),
        "version 2 got {to_two} of {n}"
    );

    // Listing, with the version filter; a referenced version cannot be deleted.
    s.post_json(
        aliases,
        &json!({"Name": "staging", "FunctionVersion": "$LATEST"}),
    )
    .await;
    let (_, _, all) = s.get(aliases).await;
    assert_eq!(all["Aliases"].as_array().unwrap().len(), 2);
    let (_, _, two) = s.get(&format!("{aliases}?FunctionVersion=2")).await;
    let names: Vec<&str> = two["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod"]);
    let (st, h, _) = s.delete("/2015-03-31/functions/al?Qualifier=2").await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (409, "ResourceConflictException")
    );
    let (_, _, page) = s.get(&format!("{aliases}?MaxItems=1")).await;
    assert_eq!(page["Aliases"].as_array().unwrap().len(), 1);
    assert!(page["NextMarker"].is_string());

    // Delete; then the alias is gone everywhere.
    let (st, _, _) = s.delete(&format!("{aliases}/prod")).await;
    assert_eq!(st, 204);
    let (st, h, _) = s.get(&format!("{aliases}/prod")).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    let (st, _, _) = s.invoke_raw("al:prod", "{}", &[]).await;
    assert_eq!(st, 404);
    let (st, _, _) = s.delete("/2015-03-31/functions/al?Qualifier=2").await;
    assert_eq!(st, 204, "no alias refers to version 2 any more");
    assert_eq!(invoke(&s, "al:staging").await.0["answer"], "two");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_and_aliases_have_policies_of_their_own() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "pol", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Publish": true,
        "Code": {"ZipFile": code("one")}}))
        .await;
    s.post_json(
        "/2015-03-31/functions/pol/aliases",
        &json!({"Name": "live", "FunctionVersion": "1"}),
    )
    .await;
    let policy = "/2015-03-31/functions/pol/policy";
    let add = |sid: &str| json!({"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "*"});
    for (q, sid) in [("1", "on-one"), ("live", "on-live")] {
        let (st, _, b) = s
            .post_json(&format!("{policy}?Qualifier={q}"), &add(sid))
            .await;
        assert_eq!(st, 201, "{b}");
        let statement: Value = serde_json::from_str(b["Statement"].as_str().unwrap()).unwrap();
        assert!(
            statement["Resource"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":pol:{q}"))
        );
    }
    let sids = |v: &Value| -> Vec<String> {
        let doc: Value = serde_json::from_str(v["Policy"].as_str().unwrap()).unwrap();
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        sids(&s.get(&format!("{policy}?Qualifier=1")).await.2),
        ["on-one"]
    );
    assert_eq!(
        sids(&s.get(&format!("{policy}?Qualifier=live")).await.2),
        ["on-live"]
    );
    assert_eq!(
        s.get(policy).await.0,
        404,
        "the function's own policy is still empty"
    );
    // The alias's policy goes with the alias.
    s.delete("/2015-03-31/functions/pol/aliases/live").await;
    s.post_json(
        "/2015-03-31/functions/pol/aliases",
        &json!({"Name": "live", "FunctionVersion": "1"}),
    )
    .await;
    assert_eq!(s.get(&format!("{policy}?Qualifier=live")).await.0, 404);
    assert_eq!(s.get(&format!("{policy}?Qualifier=2")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn published_versions_cannot_be_changed() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "frozen", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Publish": true,
        "Code": {"ZipFile": code("one")}}))
        .await;
    let (st, h, _) = s
        .put_json(
            "/2015-03-31/functions/frozen:1/configuration",
            &json!({"Timeout": 9}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    let (st, h, _) = s
        .put_json(
            "/2015-03-31/functions/frozen:1/code",
            &json!({"ZipFile": code("two")}),
        )
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    let (_, _, v1) = s.get("/2015-03-31/functions/frozen:1/configuration").await;
    assert_eq!(v1["Timeout"], 3);
}
