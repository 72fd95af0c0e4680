//! Cluster mode against real servers: three `lamina serve --database` nodes on loopback
//! sharing one throw-away PostgreSQL. A function made on one node runs on the others, an
//! update made on one reaches the others' next invocations, a delete removes it everywhere,
//! and a node started later fetches every package it lacks.

mod common;

use std::time::Duration;

use common::{Server, eventually};
use serde_json::{Value, json};

fn node(database: &str) -> Server {
    Server::start_with(&["--database", database], None)
}

fn code(version: u32) -> String {
    format!(
        "import os\n\
         def handler(event, context):\n    \
         return {{'code': {version}, 'node': os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME', '')}}\n"
    )
}

async fn code_seen(server: &Server, name: &str) -> Option<u64> {
    let (status, _, body) = server.invoke_raw(name, "{}", &[]).await;
    (status == 200)
        .then(|| serde_json::from_slice::<Value>(&body).ok()?["code"].as_u64())
        .flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn any_node_serves_what_any_node_changed() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let (a, b, c) = (node(&url), node(&url), node(&url));

    a.python("shared", &code(1)).await;
    // Made on A: B and C run it, with the package fetched from the database.
    for n in [&b, &c] {
        assert!(
            eventually(Duration::from_secs(5), async || code_seen(n, "shared")
                .await
                == Some(1))
            .await,
            "a function made on one node runs on the others"
        );
    }

    // Updated on B: A and C run the new code (their old environments are retired).
    let zip = common::b64(&common::zip(&[("app.py", &code(2), 0o644)]));
    let (status, _, body) = b
        .put_json(
            "/2015-03-31/functions/shared/code",
            &json!({ "ZipFile": zip }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for n in [&a, &c] {
        assert!(
            eventually(Duration::from_secs(1), async || code_seen(n, "shared")
                .await
                == Some(2))
            .await,
            "within a second of an update on one node, the others run the new code"
        );
    }

    // A configuration change made on C is read back on A.
    let (status, _, _) = c
        .put_json(
            "/2015-03-31/functions/shared/configuration",
            &json!({ "Description": "changed on C" }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(1), async || {
            a.get("/2015-03-31/functions/shared/configuration").await.2["Description"]
                == "changed on C"
        })
        .await
    );

    // A node that joins later has every function, packages included.
    let d = node(&url);
    assert_eq!(code_seen(&d, "shared").await, Some(2));

    // Deleted on A: gone everywhere.
    let (status, _, _) = a.delete("/2015-03-31/functions/shared").await;
    assert_eq!(status, 204);
    for n in [&b, &c, &d] {
        assert!(
            eventually(Duration::from_secs(1), async || {
                n.get("/2015-03-31/functions/shared").await.0 == 404
            })
            .await,
            "a function deleted on one node is gone from the others"
        );
    }
}
