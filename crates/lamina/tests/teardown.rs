//! Teardown hygiene: a thousand sandboxes created and destroyed leave nothing behind on the
//! host: no file descriptor in the server, no zombie, no mount, no network namespace, no
//! cgroup directory. Alone in its test binary, so that system-wide counts mean something.

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

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_sandboxes_leave_nothing_behind() {
    let s = Server::start_with(&["--isolation", "sandbox", "--sandbox-pool", "2"], None);
    let server = s.pid();
    let package = zip_binary(&rust_echo_bootstrap());
    s.create_with(
        json!({"FunctionName": "cycle", "Runtime": "provided.al2023", "Handler": "x",
                         "Role": common::ROLE, "Code": {"ZipFile": b64(&package)}}),
    )
    .await;
    // Let the pool fill, then take the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
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

    let cycles = 1000;
    for i in 0..cycles {
        let out = s.invoke("cycle", json!({"i": i})).await;
        assert_eq!(
            out.body["echo"],
            json!({"i": i}),
            "cycle {i}: {:?}",
            out.body
        );
        assert!(
            out.report_field("Init Duration").is_some(),
            "cycle {i} ran in a new sandbox"
        );
        // A configuration change retires the environment: the next invocation gets a new one.
        let (status, _, _) = s
            .put_json(
                "/2015-03-31/functions/cycle/configuration",
                &json!({"Description": format!("cycle {i}")}),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert!(
        eventually(
            Duration::from_secs(10),
            async || s.health().await["environments"] == 0
        )
        .await,
        "every retired environment is gone"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let zombies: Vec<_> = children(server)
        .into_iter()
        .filter(|(_, st)| *st == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert_eq!(
        children(server).len(),
        children0,
        "only the pooled sandboxes remain as children"
    );
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
}
