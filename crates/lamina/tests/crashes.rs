//! What crashes and operators' mistakes must not break: a second server on one data
//! directory, a server killed with SIGKILL (its processes, cgroups, mounts and packages),
//! and a large upload beside other control-plane changes.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ROLE, Server, b64, code_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start_with(&["--runtime-pool", "0"], Some(data.path()));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server started: {err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("in use"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    // The first one still serves.
    assert_eq!(first.get("/2015-03-31/functions").await.0, 200);
}

/// Every process below `pid`.
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = children_of(pid);
    while let Some(p) = todo.pop() {
        todo.extend(children_of(p));
        out.push(p);
    }
    out
}

/// Pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(") ")?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn loop_devices() -> usize {
    std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("loop"))
        .filter(|e| e.path().join("loop/backing_file").exists())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_outlives_a_killed_server() {
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--freeze-after-ms",
        "50",
        "--keep-thawed-ms",
        "0",
        "--sandbox-pool",
        "2",
        "--runtime-pool",
        "1",
    ];
    let mut s = Server::start_with(&args, Some(data.path()));
    let name = common::unique("crash");
    s.python(&name, "def handler(e, c):\n    return 'alive'\n")
        .await;
    assert_eq!(s.invoke(&name, json!({})).await.body, "alive");
    // Let the environment freeze: a frozen process cannot act on SIGKILL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = s.pid();
    let sandboxes = children_of(old);
    // Everything the sandboxes started: the function's runtime, and the pre-started one.
    // (Not found by the function's name in its environment: a runtime claimed from the pool
    // was started before it had a function.)
    let function: Vec<u32> = sandboxes.iter().flat_map(|p| descendants_of(*p)).collect();
    assert!(
        sandboxes.len() >= 3,
        "the pool and the environment: {sandboxes:?}"
    );
    assert!(!function.is_empty(), "the sandboxes started nothing");
    let loops = loop_devices();

    s.stop_with("KILL");
    let all: Vec<u32> = sandboxes.iter().chain(&function).copied().collect();
    let gone = common::eventually(Duration::from_secs(5), async || {
        all.iter().all(|p| !common::pid_alive(i64::from(*p)))
    })
    .await;
    let left: Vec<u32> = all
        .iter()
        .copied()
        .filter(|p| common::pid_alive(i64::from(*p)))
        .collect();
    assert!(gone, "processes of the killed server still run: {left:?}");

    // A restart sweeps what is left (cgroup directories, mounts) and serves the function.
    let s = Server::start_with(&args, Some(data.path()));
    for ctrl in ["memory", "pids", "cpu", "freezer"] {
        if std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join("lamina")
            .exists()
        {
            assert_eq!(
                common::sandbox_cgroups(old, ctrl),
                Vec::<std::path::PathBuf>::new()
            );
        }
    }
    assert_eq!(s.invoke(&name, json!({})).await.body, "alive");
    assert!(
        loop_devices() <= loops,
        "loop devices: {loops} -> {}",
        loop_devices()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_ends_frozen_processes_a_dead_server_left() {
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer");
    if !freezer.join("tasks").exists() {
        eprintln!("no v1 freezer on this host: nothing frozen can be left");
        return;
    }
    // A dead server's instance: a pid no process has, holding one frozen process.
    let dead = (3_000_000..4_000_000)
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let dir = freezer.join("lamina").join(format!("{dead}-0")).join("sb");
    std::fs::create_dir_all(&dir).unwrap();
    let mut orphan = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(dir.join("cgroup.procs"), orphan.id().to_string()).unwrap();
    std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();

    let _s = Server::start_with(&["--runtime-pool", "0"], None);
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = orphan.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = orphan.kill();
        let _ = orphan.wait();
        None
    })
    .await
    .unwrap();
    assert!(status.is_some(), "the frozen process was not ended");
    assert!(!dir.exists(), "its cgroup directory stayed");
}

/// A zip of `n` small files plus the handler.
fn many_files(n: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("app.py", opts).unwrap();
    w.write_all(b"def handler(e, c):\n    return 'big'\n")
        .unwrap();
    for i in 0..n {
        w.start_file(format!("d{}/f{i}", i % 100), opts).unwrap();
        w.write_all(b"x").unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Extracting a large package holds up no other function's Create, Update or Delete.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_upload_does_not_stall_the_control_plane() {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    let big = b64(&many_files(40_000));
    let http = s.http.clone();
    let url = s.url("/2015-03-31/functions");
    let uploading = tokio::spawn(async move {
        let t = Instant::now();
        let resp = http
            .post(url)
            .json(&json!({"FunctionName": "big", "Runtime": "python3.11",
                "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": big}}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile, another function's whole life.
    let mut slowest = Duration::ZERO;
    let mut timed = async |what: &str, f: std::pin::Pin<Box<dyn Future<Output = u16> + '_>>| {
        let t = Instant::now();
        let status = f.await;
        slowest = slowest.max(t.elapsed());
        eprintln!("during the upload, {what}: {status} in {:?}", t.elapsed());
        status
    };
    let small = json!({"FunctionName": "small", "Runtime": "python3.11",
        "Handler": "app.handler", "Role": ROLE, "Code": {"ZipFile": code_of("s")}});
    assert_eq!(
        timed(
            "create",
            Box::pin(async { s.post_json("/2015-03-31/functions", &small).await.0 })
        )
        .await,
        201
    );
    assert_eq!(
        timed(
            "update",
            Box::pin(async {
                s.put_json(
                    "/2015-03-31/functions/small/configuration",
                    &json!({"Timeout": 9}),
                )
                .await
                .0
            })
        )
        .await,
        200
    );
    assert_eq!(
        timed(
            "delete",
            Box::pin(async { s.delete("/2015-03-31/functions/small").await.0 })
        )
        .await,
        204
    );
    let (status, took) = uploading.await.unwrap();
    eprintln!("the upload of 40,000 entries took {took:?}; the slowest other change {slowest:?}");
    assert_eq!(status, 201);
    assert!(
        slowest < took / 2,
        "other changes waited for the upload: {slowest:?} of {took:?}"
    );
    assert_eq!(s.invoke("big", json!({})).await.body, "big");
}

/// Packages stored now, by id.
fn stored_packages(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data.join("code"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect()
}

/// Killing the server in the middle of code updates leaves, after the next start, only
/// packages that records reference.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_leaves_no_unreferenced_package() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--runtime-pool", "0", "--sandbox-pool", "0"];
    let mut s = Server::start_with(&args, Some(data.path()));
    s.python("victim", "def handler(e, c):\n    return 0\n")
        .await;
    let mut orphans_made = 0;
    for round in 0..6u32 {
        // Updates in flight, each a new package of many files (slow to extract and to turn
        // into an image), and a kill among them.
        let mut sent = Vec::new();
        for i in 0..2u32 {
            let http = s.http.clone();
            let url = s.url("/2015-03-31/functions/victim/code");
            let zip = b64(&many_files(15_000 + (round * 2 + i) as usize));
            sent.push(tokio::spawn(async move {
                let _ = http.put(url).json(&json!({"ZipFile": zip})).send().await;
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 250 * u64::from(round))).await;
        s.stop_with("KILL");
        for t in sent {
            let _ = t.await;
        }
        orphans_made = orphans_made.max(stored_packages(data.path()).len() - 1);
        s = Server::start_with(&args, Some(data.path()));
    }
    let (_, _, f) = s.get("/2015-03-31/functions/victim").await;
    let sha = f["Configuration"]["CodeSha256"]
        .as_str()
        .unwrap()
        .to_string();
    let id: String = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sha)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored_packages(data.path()), vec![id]);
    eprintln!(
        "crash loop: up to {orphans_made} unreferenced packages after a kill, none after the restart"
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("code"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(s.invoke("victim", json!({})).await.function_error.is_none());
}

/// A small file system of its own for a data directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mb: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root");
        SmallDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Incompressible bytes, so that a package takes its size on disk.
fn noise(n: usize, seed: u64) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

/// On a full data directory, code uploads are refused as Lambda refuses them, and deleting
/// still works, so that space can be freed through the API.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_data_directory_refuses_uploads_and_still_deletes() {
    let disk = SmallDisk::new(96);
    let data = disk.path().join("data");
    let mut s = Server::start_with(&["--runtime-pool", "0", "--sandbox-pool", "0"], Some(&data));
    s.python("keep", "def handler(e, c):\n    return 'kept'\n")
        .await;
    assert_eq!(s.invoke("keep", json!({})).await.body, "kept");

    let mut created = Vec::new();
    let mut refused = None;
    for i in 0..40u64 {
        let name = format!("big-{i}");
        let files = [
            ("app.py", "def handler(e, c):\n    return 1\n".to_string()),
            ("noise.txt", noise(4 << 20, i)),
        ];
        let zip = common::zip(&[
            (files[0].0, files[0].1.as_str(), 0o644),
            (files[1].0, files[1].1.as_str(), 0o644),
        ]);
        let (status, headers, body) = s
            .post_json(
                "/2015-03-31/functions",
                &json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
                        "Role": ROLE, "Code": {"ZipFile": b64(&zip)}}),
            )
            .await;
        if status == 201 {
            created.push(name);
            continue;
        }
        refused = Some((status, headers, body));
        break;
    }
    let (status, headers, body) = refused.expect("the disk never filled");
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        headers["x-amzn-errortype"], "CodeStorageExceededException",
        "{body}"
    );
    assert!(!created.is_empty());
    // Whatever room is left goes too.
    let filler = disk.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 1 << 16];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let free_when_full = disk.free_bytes();

    for name in &created {
        let (status, _, body) = s.delete(&format!("/2015-03-31/functions/{name}")).await;
        assert_eq!(status, 204, "delete {name} on a full disk: {body}");
    }
    let freed = disk.free_bytes() - free_when_full;
    eprintln!(
        "full disk: {} functions created, then refused; deleting them freed {} MB",
        created.len(),
        freed >> 20
    );
    assert!(
        freed >= (created.len() as u64 * 4) << 20,
        "freed {freed} bytes"
    );
    std::fs::remove_file(&filler).unwrap();
    // The space set aside for deletes, given back when the disk was full, is taken again.
    let reserve = data.join("reserve");
    let restored = common::eventually(Duration::from_secs(5), async || {
        std::fs::metadata(&reserve).is_ok_and(|m| m.len() == 8 << 20)
    })
    .await;
    assert!(restored, "the reserve was not restored");
    assert_eq!(s.invoke("keep", json!({})).await.body, "kept");

    // Log files removed by hand to free space are let go, so their space comes back.
    let logs = data.join("logs");
    std::fs::remove_dir_all(&logs).unwrap();
    std::fs::create_dir(&logs).unwrap();
    let open_deleted = || {
        std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|t| t.starts_with(&data) && t.to_string_lossy().ends_with(" (deleted)"))
            .collect::<Vec<_>>()
    };
    let let_go =
        common::eventually(Duration::from_secs(3), async || open_deleted().is_empty()).await;
    assert!(let_go, "removed files held open: {:?}", open_deleted());
    assert_eq!(s.invoke("keep", json!({})).await.body, "kept");
    s.python("again", "def handler(e, c):\n    return 'again'\n")
        .await;
    assert_eq!(s.invoke("again", json!({})).await.body, "again");
    s.stop();
}

/// Without sandboxes too, a runtime ends with the server that started it.
#[tokio::test(flavor = "multi_thread")]
async fn plain_processes_end_with_a_killed_server() {
    let mut s = Server::start_with(&["--isolation", "none"], None);
    let name = common::unique("plain");
    s.python(&name, "def handler(e, c):\n    return 'up'\n")
        .await;
    assert_eq!(s.invoke(&name, json!({})).await.body, "up");
    let runtime = common::processes_of(&name);
    assert!(!runtime.is_empty());
    // Launched from a blocking thread that ends once idle: that must not end the runtime.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(s.invoke(&name, json!({})).await.body, "up");
    assert_eq!(
        common::processes_of(&name),
        runtime,
        "the same runtime, still there"
    );
    s.stop_with("KILL");
    let gone = common::eventually(Duration::from_secs(5), async || {
        runtime.iter().all(|p| !common::pid_alive(i64::from(*p)))
    })
    .await;
    assert!(gone, "the runtime outlived its server: {runtime:?}");
}

/// The server's children that fork its sandbox inits (an init forked by one is named
/// `sandbox-init`, as an exec'd one is).
fn spawners_of(server: u32) -> Vec<u32> {
    children_of(server)
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"sandbox-spawner"))
        })
        .collect()
}

/// The spawner killed under the server: the launches that find it gone start their inits
/// afresh, none fails, a new spawner takes over, and the dead one is reaped.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_spawner_is_replaced_and_no_launch_fails() {
    let s = Server::start_with(
        &[
            "--isolation",
            "sandbox",
            "--sandbox-pool",
            "1",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    let package = common::zip_binary(&common::rust_echo_bootstrap());
    for i in 0..6 {
        s.create_with(
            json!({"FunctionName": format!("f{i}"), "Runtime": "provided.al2023",
            "Handler": "x", "Role": ROLE, "Code": {"ZipFile": b64(&package)}}),
        )
        .await;
    }
    assert_eq!(
        s.invoke("f0", json!({"n": 0})).await.body["echo"],
        json!({"n": 0})
    );
    let spawners = spawners_of(s.pid());
    assert_eq!(spawners.len(), 1, "one spawner: {spawners:?}");
    let old = spawners[0];
    let inits: Vec<u32> = children_of(s.pid())
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"sandbox-init"))
        })
        .collect();
    assert!(
        !inits.is_empty(),
        "inits are the server's children, named as inits"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Five cold starts at once: more than the pool holds, so some start inits now.
    let call = |i: i32| {
        let s = &s;
        async move { (i, s.invoke(&format!("f{i}"), json!({"n": i})).await) }
    };
    let outs = tokio::join!(call(1), call(2), call(3), call(4), call(5));
    for (i, out) in [outs.0, outs.1, outs.2, outs.3, outs.4] {
        assert_eq!(out.body["echo"], json!({"n": i}), "f{i}: {:?}", out.body);
    }
    let replaced = common::eventually(Duration::from_secs(10), async || {
        let now = spawners_of(s.pid());
        now.len() == 1 && now[0] != old
    })
    .await;
    assert!(replaced, "a new spawner: {:?}", spawners_of(s.pid()));
    let reaped = common::eventually(Duration::from_secs(10), async || {
        !std::path::Path::new(&format!("/proc/{old}")).exists()
    })
    .await;
    assert!(reaped, "the killed spawner was reaped");
    let said = s.output_text();
    assert!(
        said.contains("the sandbox spawner failed; another one is started"),
        "a launch found the spawner gone: {said}"
    );
}
