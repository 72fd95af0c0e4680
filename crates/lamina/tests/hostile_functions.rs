//! What hostile functions and racing control-plane calls must not break: a function
//! cannot take the server's descriptors or more CPU than its memory buys, and invocations
//! racing updates and deletes run whole code.

mod common;

use std::time::{Duration, Instant};

use common::{ROLE, Server, code_of};
use serde_json::{Value, json};

fn descriptors_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Opens as many connections to its Runtime API as it can (several processes, so its own
/// descriptor limit is no help to the server), holds them, and reports how many it got.
const FLOOD: &str = r#"
import os, socket, time

def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    children = []
    for _ in range(4):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            held = []
            for _ in range(1000):
                try:
                    held.append(socket.create_connection((host, int(port)), timeout=1))
                except OSError:
                    break
            os.write(w, str(len(held)).encode())
            time.sleep(event["hold"])
            os._exit(0)
        os.close(w)
        children.append((pid, r))
    opened = sum(int(os.read(r, 32) or b"0") for _, r in children)
    for pid, _ in children:
        os.waitpid(pid, 0)
    return {"opened": opened}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_function_cannot_take_the_servers_descriptors() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    s.python_with_timeout("flood", FLOOD, 60).await;
    s.python("neighbour", "def handler(e, c):\n    return 'ok'\n")
        .await;
    assert_eq!(s.invoke("neighbour", json!({})).await.body, "ok");
    let pid = s.pid();
    let (fds_before, rss_before) = (descriptors_of(pid), rss_kib(pid));

    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions/flood/invocations");
    let flood = tokio::spawn(async move {
        let resp = http.post(url).body(r#"{"hold": 6}"#).send().await.unwrap();
        resp.json::<Value>().await.unwrap()
    });
    // While it holds its connections, the API and the neighbour answer, and the server's
    // descriptors and memory stay bounded.
    let mut fds_peak = 0;
    let mut rss_peak = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        fds_peak = fds_peak.max(descriptors_of(pid));
        rss_peak = rss_peak.max(rss_kib(pid));
        let t = Instant::now();
        assert_eq!(s.invoke("neighbour", json!({})).await.body, "ok");
        assert_eq!(s.get("/2015-03-31/functions").await.0, 200);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = flood.await.unwrap();
    eprintln!(
        "flood: the function opened {} connections; server descriptors {fds_before} -> peak \
         {fds_peak}, RSS {rss_before} KiB -> peak {rss_peak} KiB",
        out["opened"]
    );
    assert!(out["opened"].as_u64().unwrap() > 100, "{out}");
    assert!(fds_peak < fds_before + 100, "{fds_before} -> {fds_peak}");
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "{rss_before} -> {rss_peak}"
    );
}

/// Invokes racing UpdateFunctionCode and DeleteFunction run the old or the new code, or
/// find no function: never a platform-made error (no code mounted, a package removed under
/// a starting environment).
#[tokio::test(flavor = "multi_thread")]
async fn invokes_racing_updates_and_deletes_run_whole_code() {
    // Every update retires the environments: cold starts come faster than the default
    // scaling rate allows, and throttles are not what this is about.
    let s = Server::start_with(&["--runtime-pool", "0", "--scale-rate", "100000"], None);
    let create = json!({"FunctionName": "racer", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": code_of("a")}});
    s.create_with(create.clone()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut invokers = Vec::new();
    for _ in 0..12 {
        let http = s.http.clone();
        let url = s.url("/2015-03-31/functions/racer/invocations");
        let stop = stop.clone();
        let done = done.clone();
        invokers.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let resp = http.post(&url).body("{}").send().await.unwrap();
                let status = resp.status().as_u16();
                let error = resp
                    .headers()
                    .get("x-amzn-errortype")
                    .map(|v| v.to_str().unwrap().to_string());
                let function_error = resp.headers().contains_key("x-amz-function-error");
                let body = resp.text().await.unwrap();
                let key = match (status, error, function_error) {
                    (200, None, false) => format!("ran {body}"),
                    (404, Some(e), _) if e == "ResourceNotFoundException" => "not found".into(),
                    (status, error, _) => format!("{status} {error:?} {body}"),
                };
                *seen.entry(key).or_default() += 1;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            seen
        }));
    }
    let started = Instant::now();
    let mut changes = 0;
    // Bounded by count, and by time on a slow machine.
    while done.load(std::sync::atomic::Ordering::SeqCst) < 1500
        && started.elapsed() < Duration::from_secs(60)
    {
        for tag in ["b", "a"] {
            let (status, _, body) = s
                .put_json(
                    "/2015-03-31/functions/racer/code",
                    &json!({"ZipFile": code_of(tag)}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            changes += 1;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        if changes % 40 == 0 {
            assert_eq!(s.delete("/2015-03-31/functions/racer").await.0, 204);
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.create_with(create.clone()).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for invoker in invokers {
        for (k, n) in invoker.await.unwrap() {
            *seen.entry(k).or_default() += n;
        }
    }
    let total: usize = seen.values().sum();
    eprintln!("racing: {total} invocations over {changes} code changes: {seen:?}");
    let unexpected: Vec<_> = seen
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "ran \"a\"" | "ran \"b\"" | "not found"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "platform-made errors: {unexpected:?}"
    );
    assert!(total >= 500, "too few invocations raced: {total}");
    assert!(seen.contains_key("ran \"a\"") && seen.contains_key("ran \"b\""));
}

const MEMORY_AND_FILES: &str = r#"
import os

def handler(event, context):
    if event["do"] == "allocate":
        hold = []
        for _ in range(event["mb"]):
            hold.append(bytearray(1024 * 1024))
        return len(hold)
    if event["do"] == "write":
        listing = sorted(os.listdir("/tmp"))
        chunk = b"x" * (1024 * 1024)
        with open("/tmp/big", "wb") as f:
            for _ in range(event["mb"]):
                f.write(chunk)
        size = os.path.getsize("/tmp/big") // (1024 * 1024)
        os.remove("/tmp/big")
        st = os.statvfs("/tmp")
        return {"written_mb": size, "listing": listing, "tmp_mb": st.f_blocks * st.f_frsize // 2**20}
"#;

/// Memory is MemorySize, and `/tmp` is disk, not memory: a 128 MB function cannot
/// allocate 512 MB, yet writes 400 MB to `/tmp`; Max Memory Used counts its memory, not
/// its files.
#[tokio::test(flavor = "multi_thread")]
async fn memory_is_memory_size_and_tmp_is_disk() {
    let s = Server::start_with(&["--isolation", "sandbox"], None);
    s.create_with(
        json!({"FunctionName": "mem", "Runtime": "python3.11", "Handler": "app.handler",
        "Role": ROLE, "MemorySize": 128, "Timeout": 30, "EphemeralStorage": {"Size": 512},
        "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", MEMORY_AND_FILES, 0o644)]))}}),
    )
    .await;

    let out = s.invoke("mem", json!({"do": "write", "mb": 400})).await;
    assert!(out.function_error.is_none(), "{:?}\n{}", out.body, out.log);
    assert_eq!(out.body["written_mb"], 400);
    assert_eq!(out.body["listing"], json!([]), "/tmp starts empty");
    assert_eq!(out.body["tmp_mb"], 512, "/tmp is the configured size");
    let used = out.report_field("Max Memory Used").unwrap();
    assert!(
        used < 100.0,
        "Max Memory Used counts memory, not files: {used}"
    );

    let out = s.invoke("mem", json!({"do": "allocate", "mb": 512})).await;
    assert_eq!(
        out.body["errorType"], "Runtime.OutOfMemory",
        "{:?}",
        out.body
    );
    let peak = out.report_field("Max Memory Used").unwrap();
    assert!((100.0..=129.0).contains(&peak), "killed at 128 MB: {peak}");

    // Within its memory it allocates, and its environment is whole again.
    let out = s.invoke("mem", json!({"do": "allocate", "mb": 64})).await;
    assert_eq!(out.body, 64, "{:?}", out.body);
}

/// Spins in four processes until `seconds` have passed, and reports the CPU time they used,
/// the wall time it took, and on how many cores its processes may run.
const SPINNER: &str = r#"
import os, time

def spin(until):
    while time.monotonic() < until:
        pass

def handler(event, context):
    before, start = os.times(), time.monotonic()
    cores = len(os.sched_getaffinity(0))
    until = start + event["seconds"]
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            spin(until)
            os._exit(0)
        children.append(pid)
    spin(until)
    for pid in children:
        os.waitpid(pid, 0)
    after = os.times()
    used = sum(after[:4]) - sum(before[:4])
    return {"cpu": used, "wall": time.monotonic() - start, "cores": cores}
"#;

/// A function that spins in several processes gets the vCPUs its memory buys and no more:
/// a 128 MB function one, whatever it starts, while its neighbour is served; a 3,538 MB
/// function, alone, every core (its processes are never held on one). On a machine of one
/// CPU neither can show.
#[tokio::test(flavor = "multi_thread")]
async fn a_cpu_bound_function_gets_its_vcpus_and_no_more() {
    // One worker thread: the server colocates lone invocations with it (`--colocate`).
    let s = Server::start_with(&["--isolation", "sandbox", "--worker-threads", "1"], None);
    let spinner = |name: &str, memory: u32| {
        json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
        "Role": ROLE, "MemorySize": memory, "Timeout": 30,
        "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", SPINNER, 0o644)]))}})
    };
    s.create_with(spinner("narrow", 128)).await;
    s.create_with(spinner("wide", 3538)).await;
    s.python_with_timeout(
        "neighbour",
        "import time\ndef handler(e, c):\n    time.sleep(e['sleep'])\n    return 'ok'\n",
        10,
    )
    .await;

    // With another invocation in flight, the spinner's processes may use every core: only
    // its quota holds it to one vCPU.
    let neighbour = s.invoke("neighbour", json!({"sleep": 2.5}));
    let spinning = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.invoke("narrow", json!({"seconds": 2.0})).await
    };
    let (served, spun) = tokio::join!(neighbour, spinning);
    assert_eq!(served.body, "ok", "the neighbour is served meanwhile");
    assert!(
        spun.function_error.is_none(),
        "{:?}\n{}",
        spun.body,
        spun.log
    );
    let cpu = spun.body["cpu"].as_f64().unwrap();
    let wall = spun.body["wall"].as_f64().unwrap();
    assert!(
        cpu <= 1.2 * wall,
        "four processes of a 128 MB function used {cpu:.2} s of CPU in {wall:.2} s"
    );
    assert!(
        cpu >= 0.2 * wall,
        "the spinner spun: {cpu:.2} s in {wall:.2} s"
    );

    // Alone, after a quiet spell: the 128 MB function runs on the server's core, the
    // 3,538 MB one (two vCPUs) keeps every core the server has.
    let cores = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    let cores = (0..nix::sched::CpuSet::count())
        .filter(|&c| cores.is_set(c).unwrap_or(false))
        .count();
    if cores < 2 {
        eprintln!("one core: the rest cannot show");
        return;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lone = s.invoke("narrow", json!({"seconds": 0.1})).await;
    assert_eq!(lone.body["cores"], 1, "{:?}", lone.body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let wide = s.invoke("wide", json!({"seconds": 0.1})).await;
    assert_eq!(wide.body["cores"], cores, "{:?}", wide.body);
}
