//! Teardown hygiene: a thousand sandboxes created and destroyed leave nothing behind on the
//! host: no file descriptor in the server, no zombie, no mount, no network namespace, no
//! cgroup directory. Alone in its test binary, and its tests one at a time, so that
//! system-wide counts mean something.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Server, b64, eventually, rust_echo_bootstrap, zip_binary};
use serde_json::json;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn children(pid: u32) -> Vec<(u32, char)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let after = stat.rsplit_once(") ")?.1;
            let mut fields = after.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == pid).then_some((p, state))
        })
        .collect()
}

/// The server's children that `is` says yes to.
fn children_that(server: u32, is: impl Fn(u32) -> bool) -> Vec<u32> {
    children(server)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| is(*p))
        .collect()
}

/// The server's children that run Python: its zygotes.
fn zygotes(server: u32) -> Vec<u32> {
    children_that(server, |p| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.starts_with("python"))
    })
}

/// The server's children that fork its sandbox inits: its spawners.
fn spawners(server: u32) -> Vec<u32> {
    children_that(server, |p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"sandbox-spawner"))
    })
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Network namespaces held by the server's descendants (its sandboxes), not its own.
fn net_namespaces(server: u32) -> HashSet<String> {
    let own = std::fs::read_link(format!("/proc/{server}/ns/net")).ok();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let mut p = pid;
            for _ in 0..64 {
                match parent_of(p) {
                    Some(pp) if pp == server => return true,
                    Some(pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .filter_map(|pid| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok())
        .filter(|l| Some(l) != own.as_ref())
        .map(|l| l.to_string_lossy().into_owned())
        .collect()
}

fn mounts() -> usize {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .count()
}

/// Sandbox cgroup directories of this server.
fn cgroup_dirs(server: u32) -> usize {
    let mut n = 0;
    for ctrl in ["memory", "pids", "cpu"] {
        let root = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join("lamina");
        for instance in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let ours = instance
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{server}-"));
            if ours && instance.file_type().is_ok_and(|t| t.is_dir()) {
                n += std::fs::read_dir(instance.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .count();
            }
        }
    }
    n
}

/// Held by each test for its whole run: the host's mounts are counted.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_sandboxes_leave_nothing_behind() {
    let _alone = ALONE.lock().await;
    let s = Server::start_with(&["--isolation", "sandbox", "--sandbox-pool", "2"], None);
    let package = zip_binary(&rust_echo_bootstrap());
    s.create_with(
        json!({"FunctionName": "cycle", "Runtime": "provided.al2023", "Handler": "x",
                         "Role": common::ROLE, "Code": {"ZipFile": b64(&package)}}),
    )
    .await;
    cycles_leave_nothing(&s, 1000, None).await;
}

/// The same with Python runtimes forked from a zygote: each cycle's runtime is forked into a
/// new sandbox. 300 cycles pass the 256 forks after which a zygote is replaced, so the
/// replaced one must have gone too.
#[tokio::test(flavor = "multi_thread")]
async fn forked_runtimes_leave_nothing_behind() {
    let _alone = ALONE.lock().await;
    let s = Server::start_with(
        &[
            "--isolation",
            "sandbox",
            "--sandbox-pool",
            "2",
            "--runtime-pool",
            "0",
        ],
        None,
    );
    s.python(
        "cycle",
        "def handler(event, context):\n    return {'echo': event}\n",
    )
    .await;
    cycles_leave_nothing(&s, 300, Some("prestarted=forked")).await;
}

/// A configuration change retires `cycle`'s environment: the next invocation gets a new one.
async fn retire(s: &Server, description: &str) {
    let (status, _, _) = s
        .put_json(
            "/2015-03-31/functions/cycle/configuration",
            &json!({ "Description": description }),
        )
        .await;
    assert_eq!(status, 200);
}

async fn all_environments_gone(s: &Server) -> bool {
    eventually(Duration::from_secs(10), async || {
        s.health().await["environments"] == 0
    })
    .await
}

/// Invokes `cycle` in a new environment `cycles` times (a configuration change retires the
/// last one), then checks that only what was there before remains: children, descriptors,
/// mounts, network namespaces, cgroups. `started`, when given, is how every cold start's
/// `X-Lamina-Init-Ms` ends.
async fn cycles_leave_nothing(s: &Server, cycles: usize, started: Option<&str>) {
    let server = s.pid();
    // Let the pools (and a zygote) fill, then take the baseline.
    let warm_up = s.invoke("cycle", json!({"i": -1})).await;
    assert_eq!(warm_up.body["echo"], json!({"i": -1}), "{:?}", warm_up.body);
    retire(s, "baseline").await;
    assert!(all_environments_gone(s).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (fds0, mounts0, netns0, cgroups0) = (
        fds(server),
        mounts(),
        net_namespaces(server),
        cgroup_dirs(server),
    );
    assert_eq!(
        netns0.len(),
        2,
        "the two pooled sandboxes have their network namespaces"
    );
    let children0 = children(server).len();
    let zygotes0 = zygotes(server);
    let spawners0 = spawners(server);

    for i in 0..cycles {
        let (status, headers, body) = s
            .invoke_raw("cycle", json!({"i": i}).to_string(), &[])
            .await;
        assert_eq!(status, 200, "cycle {i}");
        let out: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(out["echo"], json!({"i": i}), "cycle {i}: {out}");
        let init = headers
            .get("x-lamina-init-ms")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(!init.is_empty(), "cycle {i} ran in a new environment");
        if let Some(started) = started {
            assert!(init.ends_with(started), "cycle {i}: {init}");
        }
        retire(s, &format!("cycle {i}")).await;
    }
    assert!(
        all_environments_gone(s).await,
        "every retired environment is gone"
    );
    // Cgroups are removed and namespaces let go just after an environment is counted gone
    // (on a blocking thread, which a loaded machine may run late): what is left is judged
    // once it had the time to go.
    let settled = eventually(Duration::from_secs(15), async || {
        children(server).len() == children0
            && cgroup_dirs(server) == cgroups0
            && net_namespaces(server).len() == netns0.len()
            && mounts() == mounts0
    })
    .await;
    let zombies: Vec<_> = children(server)
        .into_iter()
        .filter(|(_, st)| *st == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert_eq!(
        children(server).len(),
        children0,
        "only what was there before remains as children: {:?}",
        children(server)
    );
    // Every sandbox init was forked by a spawner, which is replaced past 256 of them.
    let spawners1 = spawners(server);
    assert_eq!(spawners0.len(), 1, "one spawner: {spawners0:?}");
    assert_eq!(spawners1.len(), 1, "one spawner: {spawners1:?}");
    if cycles > 256 {
        assert_ne!(
            spawners0, spawners1,
            "past its 256 inits the spawner was replaced, and the old one has gone"
        );
    }
    if started == Some("prestarted=forked") {
        let zygotes1 = zygotes(server);
        assert_eq!(zygotes0.len(), 1, "one zygote: {zygotes0:?}");
        assert_eq!(zygotes1.len(), 1, "one zygote: {zygotes1:?}");
        assert_ne!(
            zygotes0, zygotes1,
            "past its 256 forks the zygote was replaced, and the old one has gone"
        );
    }
    let fds1 = fds(server);
    assert!(
        fds1 <= fds0 + 4,
        "the server's descriptors: {fds0} before, {fds1} after {cycles} sandboxes"
    );
    assert_eq!(mounts(), mounts0, "host mounts unchanged");
    let netns1 = net_namespaces(server);
    assert_eq!(
        netns1.len(),
        netns0.len(),
        "network namespaces: only the pool's, {netns0:?} then {netns1:?}"
    );
    assert_eq!(
        cgroup_dirs(server),
        cgroups0,
        "cgroup directories: only the pool's"
    );
    assert!(settled);
}
