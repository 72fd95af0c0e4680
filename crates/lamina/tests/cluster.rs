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

    // A, which ran nothing, reads the cluster's invocation counts.
    assert!(
        eventually(Duration::from_secs(6), async || {
            let status = a.get("/_lamina/status").await.2;
            status["functions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["name"] == "shared")
                .and_then(|f| f["invocations"].as_u64())
                .is_some_and(|n| n >= 2)
        })
        .await,
        "one node's status counts the invocations other nodes ran"
    );

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

/// `SELECT` one number from the cluster's database.
async fn count(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

const SLOW: &str = "import time\n\
def handler(event, context):\n    \
    time.sleep(0.3)\n    \
    print('ran', event['n'])\n    \
    return event\n";

/// Events sent to three nodes, one of them killed with SIGKILL while it holds events: every
/// accepted event runs (the dead node's run elsewhere once their lease runs out), none is
/// left or failed, and one node's logs show the runs of every node.
#[tokio::test(flavor = "multi_thread")]
async fn accepted_events_survive_a_killed_node() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let lease = ["--database", &url, "--event-lease-seconds", "3"];
    let (a, b) = (
        Server::start_with(&lease, None),
        Server::start_with(&lease, None),
    );
    let mut c = Server::start_with(&lease, None);
    a.python("slow", SLOW).await;
    for n in [&b, &c] {
        assert!(
            eventually(Duration::from_secs(5), async || {
                n.get("/2015-03-31/functions/slow").await.0 == 200
            })
            .await
        );
    }
    let send = async |server: &Server, n: usize| {
        let (status, _, _) = server
            .invoke_raw(
                "slow",
                json!({ "n": n }).to_string(),
                &[("X-Amz-Invocation-Type", "Event")],
            )
            .await;
        status
    };
    let mut accepted = Vec::new();
    for n in 0..45 {
        let node = [&a, &b, &c][n % 3];
        if send(node, n).await == 202 {
            accepted.push(n);
        }
    }
    // Killed while it holds events (each runs 0.3 s, and 45 were just sent).
    let held_before = count(
        &url,
        "SELECT count(*) FROM queue_messages WHERE lease_until IS NOT NULL",
    )
    .await;
    c.stop_with("KILL");
    for n in 45..60 {
        let node = [&a, &b][n % 2];
        if send(node, n).await == 202 {
            accepted.push(n);
        }
    }
    assert_eq!(accepted.len(), 60, "every event was accepted");
    assert!(
        held_before > 0,
        "some events were leased when the node died"
    );
    assert!(
        eventually(Duration::from_secs(60), async || {
            count(&url, "SELECT count(*) FROM queue_messages").await == 0
        })
        .await,
        "every accepted event ran and was acknowledged (a node acknowledges only after a run)"
    );
    assert_eq!(count(&url, "SELECT count(*) FROM queue_failed").await, 0);
    // One node's FilterLogEvents sees the runs of every node.
    let body: Value = a
        .http
        .post(a.url("/"))
        .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
        .body(json!({ "logGroupName": "/aws/lambda/slow", "filterPattern": "ran" }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let streams: std::collections::BTreeSet<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["logStreamName"].as_str().unwrap())
        .collect();
    assert!(
        streams.len() >= 2,
        "runs on several nodes are read from one: {streams:?}"
    );
}

/// Counts, with a lock on a file of the host, how many of its invocations run at once, and
/// the most ever (the nodes run without sandboxes, so that every node's functions share it).
const COUNTING: &str = "import fcntl, os, time\n\
D = os.environ['COUNT_DIR']\n\
def bump(delta):\n    \
    with open(D + '/now', 'a+') as f:\n        \
        fcntl.flock(f, fcntl.LOCK_EX)\n        \
        f.seek(0)\n        \
        n = int(f.read() or 0) + delta\n        \
        f.seek(0)\n        \
        f.truncate()\n        \
        f.write(str(n))\n        \
        f.flush()\n        \
        if delta > 0:\n            \
            with open(D + '/most', 'a+') as m:\n                \
                m.seek(0)\n                \
                if n > int(m.read() or 0):\n                    \
                    m.seek(0)\n                    \
                    m.truncate()\n                    \
                    m.write(str(n))\n\
def handler(event, context):\n    \
    bump(1)\n    \
    time.sleep(0.15)\n    \
    bump(-1)\n    \
    return 'ok'\n";

/// 24 callers spread over `nodes`, 6 invocations each: how many ran, and how many were
/// throttled (Lambda's 429, and nothing else).
async fn hammer(nodes: &std::sync::Arc<[Server; 3]>, function: &'static str) -> (u32, u32) {
    let mut callers = Vec::new();
    for i in 0..24 {
        let nodes = nodes.clone();
        callers.push(tokio::spawn(async move {
            let mut seen = (0, 0);
            for _ in 0..6 {
                let (status, h, _) = nodes[i % 3].invoke_raw(function, "{}", &[]).await;
                match status {
                    200 => seen.0 += 1,
                    429 => {
                        assert_eq!(
                            h["x-amzn-errortype"], "TooManyRequestsException",
                            "a throttle is Lambda's 429"
                        );
                        seen.1 += 1;
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
            seen
        }));
    }
    let (mut ran, mut throttled) = (0, 0);
    for c in callers {
        let (r, t) = c.await.unwrap();
        ran += r;
        throttled += t;
    }
    (ran, throttled)
}

/// Three unsandboxed nodes (with `extra` flags) on a throw-away database, with the counting
/// function made on the first and, with `reserved`, a reservation set on the second; once
/// every node has it, 24 callers hammer it. Returns the most that ran at once, as the function
/// counted, and the nodes.
async fn counted_under_load(
    extra: &[&str],
    reserved: Option<u32>,
) -> (u32, std::sync::Arc<[Server; 3]>, lamina_testpg::Postgres) {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let mut flags = vec!["--database", &url, "--isolation", "none"];
    flags.extend_from_slice(extra);
    let nodes = [
        Server::start_with(&flags, None),
        Server::start_with(&flags, None),
        Server::start_with(&flags, None),
    ];
    let counts = tempfile::tempdir().unwrap();
    nodes[0]
        .create_with(json!({
            "FunctionName": "counted", "Runtime": "python3.11", "Handler": "app.handler",
            "Role": common::ROLE, "Timeout": 10,
            "Environment": {"Variables": {"COUNT_DIR": counts.path()}},
            "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", COUNTING, 0o644)]))},
        }))
        .await;
    if let Some(r) = reserved {
        let (status, _, _) = nodes[1]
            .put_json(
                "/2017-10-31/functions/counted/concurrency",
                &json!({"ReservedConcurrentExecutions": r}),
            )
            .await;
        assert_eq!(status, 200);
    }
    for n in &nodes {
        assert!(
            eventually(Duration::from_secs(5), async || {
                let got = n.get("/2019-09-30/functions/counted/concurrency").await;
                got.0 == 200
                    && got.2["ReservedConcurrentExecutions"].as_u64() == reserved.map(u64::from)
            })
            .await,
            "every node knows the function and its reservation"
        );
    }
    let nodes = std::sync::Arc::new(nodes);
    let (ran, throttled) = hammer(&nodes, "counted").await;
    assert!(ran > 0 && throttled > 0, "ran {ran}, throttled {throttled}");
    let most: u32 = std::fs::read_to_string(counts.path().join("most"))
        .unwrap()
        .parse()
        .unwrap();
    (most, nodes, pg)
}

/// The account's limit (`--concurrency-limit`, the same on every node) holds across three
/// nodes: a function without a reservation never runs more than it at once anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn the_account_limit_holds_across_the_cluster() {
    let (most, _nodes, _pg) = counted_under_load(&["--concurrency-limit", "3"], None).await;
    assert!(
        (1..=3).contains(&most),
        "at most 3 ran at once across the cluster, the function saw {most}"
    );
}

/// A reservation of 2 holds across three nodes under 24 parallel callers: never more than
/// two run at once anywhere (as the function counts), the rest are Lambda's 429.
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_holds_across_the_cluster() {
    let (most, nodes, _pg) = counted_under_load(&[], Some(2)).await;
    assert!(
        (1..=2).contains(&most),
        "at most 2 ran at once across the cluster, the function saw {most}"
    );
    let status = nodes[0].get("/_lamina/status").await.2;
    assert_eq!(
        status["nodes"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
}

/// The database stops: a node keeps serving warm invocations of the functions it knows and
/// refuses changes with a retryable error; once the database is back, it stores changes
/// again and sees other nodes' changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_outlives_its_database() {
    let mut pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let a = node(&url);
    a.python("steady", &code(1)).await;
    assert_eq!(code_seen(&a, "steady").await, Some(1));

    pg.stop();
    for _ in 0..5 {
        assert_eq!(
            code_seen(&a, "steady").await,
            Some(1),
            "warm invocations go on without the database"
        );
    }
    let (status, h, body) = a
        .put_json(
            "/2015-03-31/functions/steady/configuration",
            &json!({ "Description": "while the database is away" }),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(h["x-amzn-errortype"], "ServiceException");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Retry"),
        "{body}"
    );

    pg.restart();
    assert!(
        eventually(Duration::from_secs(15), async || {
            a.put_json(
                "/2015-03-31/functions/steady/configuration",
                &json!({ "Description": "back" }),
            )
            .await
            .0 == 200
        })
        .await,
        "changes are stored again once the database is back"
    );
    // Restarted while the database is away, a node waits for it, then serves what it holds.
    pg.stop();
    let data = tempfile::tempdir().unwrap();
    let restarted = {
        let url = url.clone();
        let dir = data.path().to_path_buf();
        std::thread::spawn(move || Server::start_with(&["--database", &url], Some(&dir)))
    };
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !restarted.is_finished(),
        "a node does not start without its database"
    );
    pg.restart();
    let late = restarted.join().unwrap();
    assert_eq!(code_seen(&late, "steady").await, Some(1));
    drop(late);

    // And another node's changes reach it again (its notifications reconnected).
    let b = node(&url);
    let zip = common::b64(&common::zip(&[("app.py", &code(2), 0o644)]));
    let (status, _, _) = b
        .put_json(
            "/2015-03-31/functions/steady/code",
            &json!({ "ZipFile": zip }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(5), async || code_seen(&a, "steady")
            .await
            == Some(2))
        .await
    );
}

/// `lamina migrate` moves a stopped node's data directory into the database: a cluster node
/// then runs its functions, versions and aliases, and holds its failed events.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_moves_a_data_directory_into_the_database() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let mut single = Server::start_with(&[], Some(dir.path()));
    single.python("moved", &code(1)).await;
    let (status, _, _) = single
        .post_json("/2015-03-31/functions/moved/versions", &json!({}))
        .await;
    assert_eq!(status, 201);
    let (status, _, _) = single
        .post_json(
            "/2015-03-31/functions/moved/aliases",
            &json!({"Name": "live", "FunctionVersion": "1"}),
        )
        .await;
    assert_eq!(status, 201);
    // An event that fails for good at once (reserved concurrency 0) is kept as failed.
    single.python("parked", &code(7)).await;
    single
        .put_json(
            "/2017-10-31/functions/parked/concurrency",
            &json!({"ReservedConcurrentExecutions": 0}),
        )
        .await;
    let (status, _, _) = single
        .invoke_raw("parked", "{}", &[("X-Amz-Invocation-Type", "Event")])
        .await;
    assert_eq!(status, 202);
    assert!(
        eventually(Duration::from_secs(10), async || {
            single.get("/_lamina/events/failed").await.2["FailedEvents"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        })
        .await
    );
    single.stop();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["migrate", "--database", &url, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("moved 2 functions"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 failed events"), "{said}");

    let cluster = node(&url);
    assert_eq!(code_seen(&cluster, "moved").await, Some(1));
    let (status, _, alias) = cluster
        .get("/2015-03-31/functions/moved/aliases/live")
        .await;
    assert_eq!(
        (status, alias["FunctionVersion"].as_str()),
        (200, Some("1"))
    );
    let (status, h, _) = cluster.invoke_raw("moved:live", "{}", &[]).await;
    assert_eq!(
        (status, h["x-amz-executed-version"].to_str().unwrap()),
        (200, "1")
    );
    let failed = cluster.get("/_lamina/events/failed").await.2;
    assert_eq!(
        failed["FailedEvents"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );

    // Run again: nothing is moved twice.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["migrate", "--database", &url, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "moved 0 functions (2 already there), 0 layer versions, 0 queued and 0 failed"
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Provisioned environments of `function` on `server`, from its status.
async fn provisioned_on(server: &Server, function: &str) -> u64 {
    let status = server.get("/_lamina/status").await.2;
    status["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == function)
        .flat_map(|f| f["versions"].as_array().cloned().unwrap_or_default())
        .map(|v| v["provisioned"].as_u64().unwrap_or(0))
        .sum()
}

/// Provisioned concurrency is spread over the live nodes, and spread again when one dies.
#[tokio::test(flavor = "multi_thread")]
async fn provisioned_concurrency_is_spread_over_live_nodes() {
    let pg = lamina_testpg::Postgres::start();
    let url = pg.url();
    let flags = ["--database", &url, "--node-timeout-seconds", "2"];
    let a = Server::start_with(&flags, None);
    let b = Server::start_with(&flags, None);
    let mut c = Server::start_with(&flags, None);
    a.python("ready", &code(1)).await;
    let (status, _, _) = a
        .post_json("/2015-03-31/functions/ready/versions", &json!({}))
        .await;
    assert_eq!(status, 201);
    // Every node sees the others before the setting, so each starts its part only.
    assert!(
        eventually(Duration::from_secs(10), async || {
            a.get("/_lamina/status").await.2["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 3)
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, body) = b
        .put_json(
            "/2019-09-30/functions/ready/provisioned-concurrency?Qualifier=1",
            &json!({"ProvisionedConcurrentExecutions": 3}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let total = async |nodes: &[&Server]| {
        let mut parts = Vec::new();
        for n in nodes {
            parts.push(provisioned_on(n, "ready").await);
        }
        parts
    };
    assert!(
        eventually(Duration::from_secs(20), async || total(&[&a, &b, &c]).await
            == [1, 1, 1])
        .await,
        "three provisioned environments, one per node: {:?}",
        total(&[&a, &b, &c]).await
    );
    c.stop_with("KILL");
    assert!(
        eventually(Duration::from_secs(20), async || {
            total(&[&a, &b]).await.iter().sum::<u64>() == 3
        })
        .await,
        "the dead node's part is spread over the others: {:?}",
        total(&[&a, &b]).await
    );
}
