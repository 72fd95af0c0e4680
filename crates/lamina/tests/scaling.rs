//! Scaling against a real server: the scaling rate and the bounded wait for an environment,
//! provisioned concurrency on an alias, freezing idle environments, stopping idle ones for
//! memory, and what `lamina ps` shows of it all.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Sent, Server, eventually, processes_of, unique};
use serde_json::{Value, json};

const APP: &str = r#"
import os, threading, time
spin = {"on": False}
def burn():
    while spin["on"]:
        pass
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("start"):
        spin["on"] = True
        threading.Thread(target=burn, daemon=True).start()
    if event.get("stop"):
        spin["on"] = False
    return {"cpu": time.process_time(), "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"#;

/// A function of `APP` with the default 128 MB.
async fn create(s: &Server, name: &str) {
    s.python_with_timeout(name, APP, 30).await;
}

/// `n` invocations of `target` sleeping `secs`, all sent at once.
async fn burst(s: &Server, target: &str, n: usize, secs: f64) -> Vec<Sent> {
    s.invoke_together(target, n, json!({"sleep": secs}), Duration::ZERO)
        .await
}

async fn status(s: &Server) -> Value {
    s.get("/_lamina/status").await.2
}

/// The status of `function`'s `version` environments (all zero when it has none).
async fn envs(s: &Server, function: &str, version: &str) -> Value {
    let st = status(s).await;
    st["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == function)
        .and_then(|f| {
            f["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["version"] == version)
                .cloned()
        })
        .unwrap_or(json!({"initialising": 0, "idle": 0, "busy": 0, "frozen": 0,
                          "provisioned": 0, "waiting": 0, "created": 0}))
}

async fn function_status(s: &Server, function: &str) -> Value {
    status(s).await["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == function)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scaling_rate_makes_invocations_wait_for_a_returning_environment() {
    let s = Server::start_with(
        &[
            "--scale-rate",
            "2",
            "--scale-queue",
            "3",
            "--scale-wait-ms",
            "8000",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    create(&s, "rated").await;
    // Two environments may start at once; three more invocations wait for them to come
    // back rather than start their own.
    let first = burst(&s, "rated", 5, 0.5).await;
    assert!(first.iter().all(|r| r.status == 200), "{first:?}");
    let e = envs(&s, "rated", "$LATEST").await;
    assert_eq!(
        e["created"], 2,
        "never more environments than the rate allows: {e}"
    );
    // A second burst: two run on the idle environments, three wait, two more find the queue
    // full and are throttled at once.
    // (The next token comes 5 s after the first two were taken.)
    let second = burst(&s, "rated", 7, 0.5).await;
    let ok = second.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<_> = second.iter().filter(|r| r.status == 429).collect();
    assert_eq!((ok, throttled.len()), (5, 2), "{second:?}");
    for Sent { reason, took, .. } in throttled {
        assert_eq!(reason, "FunctionInvocationRateLimitExceeded");
        assert!(
            *took < Duration::from_millis(900),
            "a full queue throttles at once: {took:?}"
        );
    }
    assert_eq!(envs(&s, "rated", "$LATEST").await["created"], 2);
    assert_eq!(function_status(&s, "rated").await["throttles"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_for_an_environment_ends_cleanly_with_a_throttle() {
    let s = Server::start_with(
        &[
            "--scale-rate",
            "1",
            "--scale-wait-ms",
            "300",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    create(&s, "waits").await;
    let got = burst(&s, "waits", 2, 2.0).await;
    let mut statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 429], "{got:?}");
    let Sent { reason, took, .. } = got.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(reason, "FunctionInvocationRateLimitExceeded");
    assert!(
        *took >= Duration::from_millis(300) && *took < Duration::from_millis(1500),
        "throttled when its wait is over, not when the other invocation ends: {took:?}"
    );
    // The server goes on serving the function.
    assert_eq!(s.invoke("waits", json!({})).await.body["init"], "on-demand");
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioned_concurrency_on_an_alias() {
    // Not frozen while idle, so that the process killed below dies at once (a frozen one
    // dies when it is thawed).
    let s = Server::start_with(
        &[
            "--idle-timeout",
            "1",
            "--runtime-pool",
            "0",
            "--freeze-after-ms",
            "0",
        ],
        None,
    );
    let name = unique("prov");
    create(&s, &name).await;
    let (st, _, v) = s
        .post_json(
            &format!("/2015-03-31/functions/{name}/versions"),
            &json!({}),
        )
        .await;
    assert_eq!((st, v["Version"].as_str()), (201, Some("1")));
    let (st, _, _) = s
        .post_json(
            &format!("/2015-03-31/functions/{name}/aliases"),
            &json!({"Name": "live", "FunctionVersion": "1"}),
        )
        .await;
    assert_eq!(st, 201);
    let path = format!("/2019-09-30/functions/{name}/provisioned-concurrency");

    // Refused: $LATEST, no qualifier, an unknown qualifier, less than 1.
    let put = |q: &str, n: i64| {
        let path = format!("{path}{q}");
        let s = &s;
        async move {
            s.put_json(&path, &json!({"ProvisionedConcurrentExecutions": n}))
                .await
        }
    };
    let (st, h, _) = put("?Qualifier=$LATEST", 1).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "InvalidParameterValueException")
    );
    let (st, h, _) = put("", 1).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (st, h, _) = put("?Qualifier=nope", 1).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ResourceNotFoundException")
    );
    let (st, h, _) = put("?Qualifier=live", 0).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (400, "ValidationException")
    );
    let (st, h, _) = s.get(&format!("{path}?Qualifier=live")).await;
    assert_eq!(
        (st, h["x-amzn-errortype"].to_str().unwrap()),
        (404, "ProvisionedConcurrencyConfigNotFoundException")
    );

    let (st, _, body) = put("?Qualifier=live", 2).await;
    assert_eq!(st, 202, "{body}");
    assert_eq!(body["RequestedProvisionedConcurrentExecutions"], 2);
    assert!(
        matches!(body["Status"].as_str(), Some("IN_PROGRESS" | "READY")),
        "{body}"
    );
    let ready = eventually(Duration::from_secs(20), async || {
        s.get(&format!("{path}?Qualifier=live")).await.2["Status"] == "READY"
    })
    .await;
    let (_, _, got) = s.get(&format!("{path}?Qualifier=live")).await;
    assert!(ready, "{got}");
    assert_eq!(got["AllocatedProvisionedConcurrentExecutions"], 2);
    assert_eq!(got["AvailableProvisionedConcurrentExecutions"], 2);
    let e = envs(&s, &name, "1").await;
    assert_eq!(
        (e["provisioned"].as_u64(), e["created"].as_u64()),
        (Some(2), Some(2)),
        "{e}"
    );
    let (_, _, list) = s.get(&format!("{path}?List=ALL")).await;
    let items = list["ProvisionedConcurrencyConfigs"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["FunctionArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{name}:live"))
    );

    // The first invocation through the alias has no cold start and knows it is provisioned.
    let first = s.invoke(&format!("{name}:live"), json!({})).await;
    assert_eq!(
        first.body["init"], "provisioned-concurrency",
        "{}",
        first.log
    );
    assert!(first.log.contains("REPORT RequestId"), "{}", first.log);
    assert!(!first.log.contains("Init Duration"), "{}", first.log);

    // Provisioned environments outlive the idle timeout (1 s here).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(envs(&s, &name, "1").await["provisioned"], 2);

    // One that dies is replaced.
    let pids = processes_of(&name);
    assert_eq!(pids.len(), 2, "{pids:?}");
    let _ = Command::new("kill")
        .args(["-KILL", &pids[0].to_string()])
        .status();
    assert!(
        eventually(Duration::from_secs(20), async || {
            let e = envs(&s, &name, "1").await;
            e["created"] == 3 && e["provisioned"] == 2
        })
        .await,
        "{}",
        envs(&s, &name, "1").await
    );
    assert!(
        eventually(Duration::from_secs(20), async || {
            s.get(&format!("{path}?Qualifier=live")).await.2["Status"] == "READY"
        })
        .await
    );

    // Above the provisioned two, the alias scales on demand as usual.
    let three = burst(&s, &format!("{name}:live"), 3, 1.0).await;
    assert!(three.iter().all(|r| r.status == 200), "{three:?}");
    let e = envs(&s, &name, "1").await;
    assert_eq!(
        (e["provisioned"].as_u64(), e["created"].as_u64()),
        (Some(2), Some(4)),
        "{e}"
    );

    // `lamina ps` shows them.
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["ps", "--endpoint", &s.url("")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with(&name) && l.split_whitespace().nth(1) == Some("1"))
        .unwrap_or_else(|| panic!("{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // FUNCTION VERSION INIT IDLE BUSY FROZEN PROV WAIT CREATED
    assert_eq!((cols[6], cols[8]), ("2", "4"), "{text}");

    let (st, _, _) = s.delete(&format!("{path}?Qualifier=live")).await;
    assert_eq!(st, 204);
    assert!(
        eventually(Duration::from_secs(10), async || {
            envs(&s, &name, "1").await["provisioned"] == 0
        })
        .await
    );
    let (st, _, _) = s.get(&format!("{path}?Qualifier=live")).await;
    assert_eq!(st, 404);
}

/// CPU seconds the function's process used between two invocations `secs` apart, the first of
/// which starts a thread that spins until the second.
async fn cpu_while_idle(s: &Server, name: &str, secs: u64) -> f64 {
    let before = s.invoke(name, json!({"start": true})).await.body["cpu"]
        .as_f64()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = s.invoke(name, json!({"stop": true})).await.body["cpu"]
        .as_f64()
        .unwrap();
    after - before
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_environments_are_frozen_and_thawed_for_their_next_invocation() {
    // Every idle environment frozen: none kept thawed for the next invocation.
    let s = Server::start_with(
        &[
            "--freeze-after-ms",
            "100",
            "--keep-thawed-ms",
            "0",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    create(&s, "frozen").await;
    s.invoke("frozen", json!({})).await;
    assert!(
        eventually(Duration::from_secs(5), async || {
            envs(&s, "frozen", "$LATEST").await["frozen"] == 1
        })
        .await
    );
    // A thread left spinning after the invocation stops with the environment.
    let used = cpu_while_idle(&s, "frozen", 3).await;
    assert!(
        used < 0.8,
        "a frozen environment used {used:.2} s of CPU in 3 s"
    );
    let st = status(&s).await;
    assert!(st["thaws"].as_u64().unwrap() >= 2, "{st}");
    assert!(st["freezes"].as_u64().unwrap() >= 2, "{st}");
    let e = envs(&s, "frozen", "$LATEST").await;
    assert_eq!(
        e["created"], 1,
        "the same environment, thawed each time: {e}"
    );

    // A process killed while frozen dies at the thaw: the invocation goes to a new
    // environment instead of failing.
    assert!(
        eventually(Duration::from_secs(5), async || {
            envs(&s, "frozen", "$LATEST").await["frozen"] == 1
        })
        .await
    );
    for pid in processes_of("frozen") {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let after = s.invoke("frozen", json!({})).await;
    assert!(after.function_error.is_none(), "{}", after.log);
    assert_eq!(envs(&s, "frozen", "$LATEST").await["created"], 2);

    // The same function on a server that does not freeze burns CPU while idle.
    let plain = Server::start_with(&["--freeze-after-ms", "0", "--runtime-pool", "0"], None);
    create(&plain, "frozen").await;
    plain.invoke("frozen", json!({})).await;
    let used = cpu_while_idle(&plain, "frozen", 3).await;
    assert!(used > 1.0, "without freezing the thread spins: {used:.2} s");
    assert_eq!(envs(&plain, "frozen", "$LATEST").await["frozen"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_environment_stays_thawed_while_it_uses_no_cpu() {
    let s = Server::start_with(
        &[
            "--freeze-after-ms",
            "100",
            "--keep-thawed-ms",
            "3000",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    create(&s, "kept").await;
    s.invoke("kept", json!({})).await;
    // Idle for ten freeze delays: still thawed, and its next invocation needs no thaw.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(envs(&s, "kept", "$LATEST").await["frozen"], 0);
    s.invoke("kept", json!({})).await;
    assert_eq!(status(&s).await["thaws"], 0);
    // Idle past the keep: frozen like the others.
    assert!(
        eventually(Duration::from_secs(10), async || {
            envs(&s, "kept", "$LATEST").await["frozen"] == 1
        })
        .await
    );

    // Two environments: the one the next invocation takes stays thawed, the other freezes.
    let got = burst(&s, "kept", 2, 0.5).await;
    assert!(got.iter().all(|r| r.status == 200), "{got:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let e = envs(&s, "kept", "$LATEST").await;
    assert_eq!((&e["created"], &e["frozen"]), (&json!(2), &json!(1)), "{e}");

    // A thread left running while it is idle: frozen within a few housekeeping periods,
    // well before the keep is over.
    let used = cpu_while_idle(&s, "kept", 3).await;
    assert!(
        used < 0.8,
        "an environment kept thawed used {used:.2} s of CPU in 3 s"
    );
    assert!(status(&s).await["thaws"].as_u64().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_least_recently_used_idle_environment_makes_room_in_memory() {
    // Room for three 128 MB environments.
    let s = Server::start_with(&["--memory-budget-mb", "384", "--runtime-pool", "0"], None);
    for f in ["lru-a", "lru-b", "lru-c", "lru-d"] {
        create(&s, f).await;
    }
    for f in ["lru-a", "lru-b", "lru-c"] {
        s.invoke(f, json!({})).await;
    }
    assert_eq!(s.health().await["environments"], 3);
    // A fourth function's cold start stops the environment used least recently: lru-a's.
    s.invoke("lru-d", json!({})).await;
    assert!(
        eventually(Duration::from_secs(5), async || {
            envs(&s, "lru-a", "$LATEST").await["created"] == 0
        })
        .await
    );
    for f in ["lru-b", "lru-c", "lru-d"] {
        assert_eq!(envs(&s, f, "$LATEST").await["created"], 1, "{f}");
    }
    assert_eq!(status(&s).await["evicted"], 1);
    // lru-a starts again, and lru-b (now the oldest) makes room.
    let again = s.invoke("lru-a", json!({})).await;
    assert!(again.log.contains("Init Duration"), "{}", again.log);
    assert!(
        eventually(Duration::from_secs(5), async || {
            envs(&s, "lru-b", "$LATEST").await["created"] == 0
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_environments_go_when_the_host_runs_short_of_memory() {
    // A reserve larger than any machine's memory: the host always looks short of memory.
    let s = Server::start_with(
        &["--memory-reserve-mb", "100000000", "--runtime-pool", "0"],
        None,
    );
    create(&s, "pressed").await;
    s.invoke("pressed", json!({})).await;
    assert!(
        eventually(
            Duration::from_secs(5),
            async || s.health().await["environments"] == 0
        )
        .await
    );
    assert!(status(&s).await["evicted"].as_u64().unwrap() >= 1);
    // Invocations still run: the environment a busy invocation uses is never taken.
    assert_eq!(
        s.invoke("pressed", json!({})).await.body["init"],
        "on-demand"
    );
}

const WHERE: &str = r#"
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    for line in open("/proc/self/status"):
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
"#;

/// The cores a `Cpus_allowed_list` names ("1", "0-1", "0,2-3").
fn cores_in(list: &str) -> Vec<usize> {
    list.split(',')
        .filter_map(|part| {
            let (a, b) = part
                .trim()
                .split_once('-')
                .unwrap_or((part.trim(), part.trim()));
            Some(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?)
        })
        .flatten()
        .collect()
}

/// The cores of the server's async worker threads (their threads named `tokio-rt-worker`
/// with a single core; blocking threads share the name but not the pinning).
fn pinned_workers(pid: u32) -> Vec<Vec<usize>> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "tokio-rt-worker")
        })
        .filter_map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let list = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
            Some(cores_in(list))
        })
        .filter(|cores| cores.len() == 1)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_invocation_runs_on_the_servers_core_and_concurrent_ones_spread() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: one core");
        return;
    }
    let s = Server::start_with(&["--worker-threads", "1"], None);
    s.python_with_timeout("where", WHERE, 30).await;
    let worker = pinned_workers(s.pid());
    assert_eq!(worker.len(), 1, "one worker pinned to one core: {worker:?}");
    // Alone: on the worker's core.
    let lone = s.invoke("where", json!({})).await;
    assert_eq!(
        cores_in(lone.body.as_str().unwrap()),
        worker[0],
        "{}",
        lone.body
    );
    // Eight at once, overlapping: those that began with others in flight run on every core.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let http = s.http.clone();
        let url = s.url("/2015-03-31/functions/where/invocations");
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .body(r#"{"sleep": 0.5}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<Value>().await.unwrap()
        }));
    }
    let mut spread = 0;
    for t in tasks {
        let got = t.await.unwrap();
        if cores_in(got.as_str().unwrap()).len() >= 2 {
            spread += 1;
        }
    }
    assert!(
        spread >= 1,
        "none of 8 concurrent invocations ran on every core"
    );
    // Turned off: nothing is pinned.
    let off = Server::start_with(&["--worker-threads", "1", "--colocate", "false"], None);
    off.python_with_timeout("where", WHERE, 30).await;
    assert_eq!(pinned_workers(off.pid()), Vec::<Vec<usize>>::new());
    let alone = off.invoke("where", json!({})).await;
    assert!(
        cores_in(alone.body.as_str().unwrap()).len() >= 2,
        "{}",
        alone.body
    );
}
