//! Concurrency controls against a real server: reserved concurrency and its API, throttling
//! with Lambda's Reason and Retry-After before any environment starts, and the server's
//! concurrency limit across functions.

mod common;

use std::time::Duration;

use common::{Sent, Server};
use serde_json::json;

const SLOW: &str = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n";

async fn create(s: &Server, name: &str) {
    s.python_with_timeout(name, SLOW, 10).await;
}

/// Starts `n` invocations of `name` sleeping `secs` each, 150 ms apart, so that the first is
/// surely in flight.
async fn concurrent(s: &Server, name: &str, n: usize, secs: f64) -> Vec<Sent> {
    s.invoke_together(name, n, json!({"sleep": secs}), Duration::from_millis(150))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn reserved_concurrency_throttles_with_lambdas_reason() {
    let s = Server::start_with(&["--concurrency-limit", "20"], None);
    create(&s, "one-at-a-time").await;
    let path = "/2017-10-31/functions/one-at-a-time/concurrency";
    let (st, _, body) = s
        .put_json(path, &json!({"ReservedConcurrentExecutions": 1}))
        .await;
    assert_eq!(
        (st, body),
        (200, json!({"ReservedConcurrentExecutions": 1}))
    );
    let (_, _, got) = s
        .get("/2019-09-30/functions/one-at-a-time/concurrency")
        .await;
    assert_eq!(got, json!({"ReservedConcurrentExecutions": 1}));
    let (_, _, f) = s.get("/2015-03-31/functions/one-at-a-time").await;
    assert_eq!(f["Concurrency"], json!({"ReservedConcurrentExecutions": 1}));
    let (_, _, settings) = s.get("/2016-08-19/account-settings").await;
    assert_eq!(settings["AccountLimit"]["ConcurrentExecutions"], 20);
    assert_eq!(
        settings["AccountLimit"]["UnreservedConcurrentExecutions"],
        19
    );

    // Two slow invocations at once: exactly one is throttled, with the reason and a
    // Retry-After, and it started no environment.
    s.invoke("one-at-a-time", json!({})).await;
    let envs_before = s.health().await["environments"].clone();
    let results = concurrent(&s, "one-at-a-time", 2, 1.0).await;
    let throttled: Vec<_> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 1, "{results:?}");
    assert_eq!(
        throttled[0].reason,
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert!(!throttled[0].retry_after.is_empty(), "Retry-After");
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    assert_eq!(
        s.health().await["environments"],
        envs_before,
        "no environment for a throttle"
    );

    // 0 stops every invocation; deleting the reservation lifts it.
    s.put_json(path, &json!({"ReservedConcurrentExecutions": 0}))
        .await;
    let (st, h, _) = s.invoke_raw("one-at-a-time", "{}", &[]).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (429, "TooManyRequestsException")
    );
    let (st, _, _) = s.delete(path).await;
    assert_eq!(st, 204);
    assert_eq!(
        s.get("/2019-09-30/functions/one-at-a-time/concurrency")
            .await
            .2,
        json!({})
    );
    assert_eq!(s.invoke("one-at-a-time", json!({})).await.body, "done");

    // Reserving more than leaves the minimum (a tenth of 20) unreserved is refused.
    let (st, h, b) = s
        .put_json(path, &json!({"ReservedConcurrentExecutions": 19}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException"),
        "{b}"
    );
    assert!(b.to_string().contains("[2]"), "{b}");
    let (st, _, _) = s
        .put_json(path, &json!({"ReservedConcurrentExecutions": 18}))
        .await;
    assert_eq!(st, 200);
    let (st, h, _) = s
        .put_json(path, &json!({"ReservedConcurrentExecutions": -1}))
        .await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (st, _, _) = s
        .put_json(
            "/2017-10-31/functions/absent/concurrency",
            &json!({"ReservedConcurrentExecutions": 1}),
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_limit_throttles_across_functions() {
    let s = Server::start_with(&["--concurrency-limit", "2"], None);
    for name in ["a", "b", "c"] {
        create(&s, name).await;
        s.invoke(name, json!({})).await;
    }
    let (a, b, c) = tokio::join!(
        concurrent(&s, "a", 1, 1.5),
        concurrent(&s, "b", 1, 1.5),
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            concurrent(&s, "c", 1, 0.0).await
        }
    );
    assert_eq!((a[0].status, b[0].status), (200, 200), "{a:?} {b:?}");
    assert_eq!(c[0].status, 429, "{c:?}");
    assert_eq!(c[0].reason, "ConcurrentInvocationLimitExceeded");
    assert_eq!(
        s.invoke("c", json!({})).await.body,
        "done",
        "free again once they finished"
    );
}
