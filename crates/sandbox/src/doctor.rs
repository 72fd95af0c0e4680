//! What this host offers for isolation, each primitive checked for real where that is cheap:
//! privileges, namespaces, cgroups, seccomp, and a trial sandbox end to end.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cgroup::{self, Cgroups, Limits};
use crate::spec::SandboxSpec;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub name: &'static str,
    /// Whether it is available.
    pub ok: bool,
    /// Why, or what was measured.
    pub detail: String,
}

fn finding(name: &'static str, ok: bool, detail: impl Into<String>) -> Finding {
    Finding {
        name,
        ok,
        detail: detail.into(),
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether an unprivileged process may create user namespaces here.
pub fn user_namespaces_allowed() -> bool {
    let max = read_trimmed("/proc/sys/user/max_user_namespaces")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let unprivileged =
        read_trimmed("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|v| v == "1");
    max > 0 && unprivileged
}

/// Runs every check. `exe` is the lamina binary (for the trial sandbox); `work_dir` an
/// existing directory it may use.
pub fn run(exe: &Path, work_dir: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let root = nix::unistd::geteuid().is_root();
    out.push(finding(
        "root",
        root,
        if root {
            "running as root: full sandboxes are possible"
        } else {
            "not root: sandboxes run in a user namespace, without cgroup limits"
        },
    ));
    let userns = read_trimmed("/proc/sys/user/max_user_namespaces")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let unpriv = read_trimmed("/proc/sys/kernel/unprivileged_userns_clone")
        .map(|v| v == "1")
        .unwrap_or(true);
    out.push(finding(
        "user namespaces",
        userns > 0 && unpriv,
        format!(
            "max_user_namespaces={userns}{}",
            if unpriv {
                ""
            } else {
                ", unprivileged creation disabled"
            }
        ),
    ));
    for (name, file) in [
        ("mount namespace", "mnt"),
        ("pid namespace", "pid"),
        ("network namespace", "net"),
        ("ipc namespace", "ipc"),
        ("uts namespace", "uts"),
        ("cgroup namespace", "cgroup"),
    ] {
        let present = Path::new("/proc/self/ns").join(file).exists();
        out.push(finding(
            name,
            present,
            if present {
                "supported by the kernel"
            } else {
                "not supported by the kernel"
            },
        ));
    }
    match cgroup::detect(Path::new("/sys/fs/cgroup")) {
        cgroup::Layout::V1 { .. } => {
            let hybrid = Path::new("/sys/fs/cgroup/unified").exists();
            out.push(finding(
                "cgroups",
                true,
                format!(
                    "v1 memory, pids and cpu hierarchies{}",
                    if hybrid {
                        " (hybrid: a v2 tree beside them)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        cgroup::Layout::V2 { .. } => out.push(finding(
            "cgroups",
            true,
            "v2 unified hierarchy with the memory, pids and cpu controllers",
        )),
        cgroup::Layout::Unavailable(why) => out.push(finding("cgroups", false, why)),
    }
    let favordynmods =
        std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.contains("favordynmods"));
    out.push(finding(
        "cgroup migration",
        true,
        if favordynmods {
            "favordynmods is on: joining a cgroup is fast"
        } else {
            "joining a v1 cgroup stalls for milliseconds on this kernel; sandboxes are pre-started in a pool to keep it off cold starts"
        },
    ));
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")));
    let filter = crate::seccomp::filter();
    out.push(finding(
        "seccomp",
        seccomp && filter.is_ok(),
        match (&filter, seccomp) {
            (Ok(f), true) => format!("the filter compiles ({} instructions)", f.len()),
            (_, false) => "the kernel reports no seccomp".into(),
            (Err(e), _) => format!("the filter does not compile: {e}"),
        },
    ));
    out.push(trial(exe, work_dir, root || (userns > 0 && unpriv)));
    out
}

/// Starts a real sandbox running `/usr/bin/true` and waits for it.
fn trial(exe: &Path, work_dir: &Path, possible: bool) -> Finding {
    if !possible {
        return finding(
            "trial sandbox",
            false,
            "skipped: needs root or user namespaces",
        );
    }
    let root = nix::unistd::geteuid().is_root();
    let started = Instant::now();
    let result = (|| -> Result<(Duration, Vec<(String, u64)>), String> {
        let dir = work_dir.join("doctor");
        let (task, runtime, mountpoint) = (dir.join("task"), dir.join("runtime"), dir.join("root"));
        for d in [&task, &runtime, &mountpoint] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let layout = cgroup::detect(Path::new("/sys/fs/cgroup"));
        let instance = cgroup::instance_name();
        let cgroups = match &layout {
            cgroup::Layout::V1 { .. } | cgroup::Layout::V2 { .. } if root => Some(
                Cgroups::create(
                    &layout,
                    &instance,
                    "doctor",
                    &Limits::for_function(128, 16, 64),
                )
                .map_err(|e| format!("cgroups: {e}"))?,
            ),
            _ => None,
        };
        let (mut command, mut control) = crate::prepare(exe).map_err(|e| e.to_string())?;
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        drop(command);
        let dirs = cgroups
            .as_ref()
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default();
        control.start(&dirs).map_err(|e| e.to_string())?;
        let spec = SandboxSpec {
            program: "/usr/bin/true".into(),
            args: Vec::new(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            task_dir: Some(task),
            runtime_dir: runtime,
            opt_dir: None,
            extra_ro: Vec::new(),
            root_mountpoint: mountpoint,
            tmp_mb: 1,
            tmp_device: None,
            nofile: 64,
            hostname: "localhost".into(),
            data_limit_bytes: cgroups.is_none().then_some(64 << 20),
            exec_later: false,
        };
        let ready = control.handshake(&spec).map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        if let Some(c) = &cgroups {
            c.remove(Duration::from_secs(2));
            Cgroups::remove_instance(&layout, &instance);
        }
        if !status.success() {
            return Err(format!("the trial sandbox ended with {status}"));
        }
        Ok((started.elapsed(), ready.phases))
    })();
    match result {
        Ok((took, phases)) => {
            let cg = phases
                .iter()
                .find(|(n, _)| n == "cgroups")
                .map(|(_, us)| *us)
                .unwrap_or(0);
            finding(
                "trial sandbox",
                true,
                format!(
                    "ran /usr/bin/true in a full sandbox in {:.1} ms (joining its cgroups: {:.1} ms)",
                    took.as_secs_f64() * 1000.0,
                    cg as f64 / 1000.0
                ),
            )
        }
        Err(e) => finding("trial sandbox", false, e),
    }
}
