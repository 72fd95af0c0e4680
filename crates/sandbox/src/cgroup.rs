//! Resource limits of a sandbox through cgroups.
//!
//! Detected once at start:
//! - cgroup v1, and hybrid hosts such as this project's machines: the limits live in the
//!   `memory`, `pids` and `cpu` hierarchies, one directory per hierarchy for each sandbox,
//!   under `<hierarchy>/lamina/<server>/`;
//! - cgroup v2 only: one directory per sandbox under `/sys/fs/cgroup/lamina/<server>/`,
//!   with the `memory`, `pids` and `cpu` controllers enabled down the tree. (The machines
//!   this project is developed on are hybrid: the v2 code is checked against a directory
//!   tree in the tests, not against a real v2 kernel.)
//!
//! Freezing: on v1 the `freezer` hierarchy, when mounted, holds one more directory per
//! sandbox; on v2 every cgroup has `cgroup.freeze`. An idle sandbox is frozen so that it
//! uses no CPU between invocations, as Lambda freezes its environments.
//!
//! The platform creates a sandbox's cgroups and sets their limits before the sandbox starts;
//! the sandbox's first process joins them before it forks, so everything it starts is born
//! inside.

use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cgroupfs::{self, Dir};

/// Where cgroups are mounted and which controllers can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1 hierarchies (possibly with a v2 tree beside them: hybrid).
    V1 {
        /// Mount root, normally `/sys/fs/cgroup`.
        root: PathBuf,
        /// Whether the `freezer` hierarchy is mounted too.
        freezer: bool,
    },
    /// The unified cgroup v2 hierarchy with the memory, pids and cpu controllers.
    V2 {
        /// Mount root, normally `/sys/fs/cgroup`.
        root: PathBuf,
    },
    /// No usable cgroup controllers.
    Unavailable(String),
}

/// Limits of one sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes: the function's memory, plus its `/tmp` where that is a tmpfs
    /// (which the kernel charges to the same cgroup).
    pub memory_bytes: u64,
    /// Most processes and threads.
    pub pids: u64,
    /// Relative CPU weight in v1 `cpu.shares` units (1,024 = one vCPU's worth).
    pub cpu_shares: u64,
    /// CPU time allowed per period, in microseconds, for a period of 100 ms.
    pub cpu_quota_us: u64,
}

impl Limits {
    /// Lambda's proportions: CPU in proportion to memory (1,024 shares at 1,769 MB), capped at
    /// `ceil(memory / 1769)` vCPUs but never below one vCPU, so that init is not starved.
    /// `tmp_in_memory_mb`: the size of a tmpfs `/tmp`, 0 for one on disk.
    pub fn for_function(memory_mb: u32, tmp_in_memory_mb: u32, pids: u64) -> Limits {
        let shares = (u64::from(memory_mb) * 1024 / 1769).max(2);
        let vcpus = Limits::vcpus(memory_mb);
        Limits {
            memory_bytes: (u64::from(memory_mb) + u64::from(tmp_in_memory_mb)) * 1024 * 1024,
            pids,
            cpu_shares: shares,
            cpu_quota_us: vcpus * 100_000,
        }
    }

    /// The vCPUs a function of `memory_mb` may use at once: `ceil(memory / 1769)`, at least one.
    pub fn vcpus(memory_mb: u32) -> u64 {
        u64::from(memory_mb).div_ceil(1769).max(1)
    }

    /// The v2 `cpu.weight` (1-10,000) for these shares, by the kernel's own conversion.
    pub fn cpu_weight(&self) -> u64 {
        1 + (self.cpu_shares.clamp(2, 262_144) - 2) * 9999 / 262_142
    }
}

const PARENT: &str = "lamina";
const CONTROLLERS: &[&str] = &["memory", "pids", "cpu"];

/// Detects the cgroup layout of this host.
pub fn detect(root: &Path) -> Layout {
    // Only v1 hierarchies have a `tasks` file; the root of `pids` has no `pids.max`.
    let missing: Vec<&str> = CONTROLLERS
        .iter()
        .filter(|ctrl| !root.join(ctrl).join("tasks").exists())
        .copied()
        .collect();
    if missing.is_empty() {
        return Layout::V1 {
            root: root.to_path_buf(),
            freezer: root.join(FREEZER).join("tasks").exists(),
        };
    }
    if let Ok(controllers) = fs::read_to_string(root.join("cgroup.controllers")) {
        let have: Vec<&str> = controllers.split_whitespace().collect();
        let lacking: Vec<&str> = CONTROLLERS
            .iter()
            .filter(|c| !have.contains(c))
            .copied()
            .collect();
        if lacking.is_empty() {
            return Layout::V2 {
                root: root.to_path_buf(),
            };
        }
        return Layout::Unavailable(format!(
            "cgroup v2 controllers missing: {}",
            lacking.join(", ")
        ));
    }
    Layout::Unavailable(format!(
        "cgroup v1 controllers missing: {}",
        missing.join(", ")
    ))
}

/// The v1 hierarchy used for freezing, when the host mounts it; optional.
const FREEZER: &str = "freezer";

/// The cgroups of one sandbox.
#[derive(Debug)]
pub struct Cgroups {
    v2: bool,
    /// v1: memory, pids, cpu (and freezer, when mounted) directories; v2: the one directory.
    dirs: Vec<PathBuf>,
    /// The same directories, held open: their files are opened relative to them.
    open: Vec<Dir>,
    /// The peak memory file, opened on first use and read again from its start: it is read
    /// on every invocation, where walking the path and opening it cost several times the
    /// read itself.
    peak: OnceLock<Option<fs::File>>,
    /// The freezer's state file, opened on first use: written at every freeze and thaw.
    freeze: OnceLock<Option<fs::File>>,
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn mkdir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

/// Gives the groups that hold every environment (`lamina`, and `server`, a server's instance
/// under it) the weight of one busy process per CPU in `file`, given one ordinary process's
/// weight (`one`) and the controller's `max`.
///
/// With the default weight, all of a server's environments together weighed as one process
/// against each of the server's own threads (they sit in the host's root group): under load
/// the runtimes waited behind the threads that feed them. A native echo at 8 clients on two
/// CPUs served 1.08x with these groups at two processes' weight (and no more at eight), and
/// 1.16-1.24x with its runtimes in no CPU group at all (the scheduler's cost of any group,
/// which per-environment limits need); the platform's threads still weigh as much as all the
/// functions together. Each environment keeps its own group, quota and weight (in
/// proportion to memory) below these.
fn weigh_environments(server: &Path, file: &str, one: u64, max: u64) -> io::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let weight = (one * cpus).min(max).to_string();
    if let Some(parent) = server.parent() {
        write(&parent.join(file), &weight)?;
    }
    write(&server.join(file), &weight)
}

/// Enables the controllers for the children of `dir` (v2), unless they already are.
fn enable_controllers(dir: &Path) -> io::Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).unwrap_or_default();
    let wanted: Vec<String> = CONTROLLERS
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write(&file, &wanted.join(" "))
}

impl Cgroups {
    /// Creates the cgroups of sandbox `id` of server `instance` with `limits`.
    pub fn create(
        layout: &Layout,
        instance: &str,
        id: &str,
        limits: &Limits,
    ) -> io::Result<Cgroups> {
        let (v2, instances) = match layout {
            Layout::V1 { root, freezer } => {
                let instances = v1_hierarchies(root, *freezer)
                    .map(|h| {
                        let server = h.join(PARENT).join(instance);
                        cgroupfs::instance(&server, || {
                            if h.ends_with("cpu") {
                                mkdir(&server)?;
                                weigh_environments(&server, "cpu.shares", 1024, 262_144)?;
                            }
                            Ok(())
                        })
                    })
                    .collect::<io::Result<Vec<_>>>()?;
                (false, instances)
            }
            Layout::V2 { root } => {
                // Processes may only live in leaves, so the parents hold none; each enables
                // the controllers for its children.
                let parent = root.join(PARENT);
                let server = parent.join(instance);
                let made = cgroupfs::instance(&server, || {
                    enable_controllers(root)?;
                    mkdir(&parent)?;
                    enable_controllers(&parent)?;
                    mkdir(&server)?;
                    enable_controllers(&server)?;
                    weigh_environments(&server, "cpu.weight", 100, 10_000)
                })?;
                (true, vec![made])
            }
            Layout::Unavailable(why) => {
                return Err(io::Error::new(io::ErrorKind::Unsupported, why.clone()));
            }
        };
        let mut cgroups = Cgroups {
            v2,
            dirs: instances.iter().map(|i| i.path().join(id)).collect(),
            open: Vec::new(),
            peak: OnceLock::new(),
            freeze: OnceLock::new(),
        };
        let result = (|| {
            for parent in &instances {
                cgroups.open.push(parent.make(id)?);
            }
            cgroups.set_limits(limits)
        })();
        if let Err(e) = result {
            cgroups.remove(Duration::ZERO);
            return Err(e);
        }
        Ok(cgroups)
    }

    /// Sets (or changes) the limits.
    pub fn set_limits(&self, limits: &Limits) -> io::Result<()> {
        let value = limits.memory_bytes.to_string();
        if self.v2 {
            let dir = &self.open[0];
            dir.write("memory.max", &value)?;
            if dir.has("memory.swap.max") {
                dir.write("memory.swap.max", "0")?;
            }
            dir.write("pids.max", &limits.pids.to_string())?;
            dir.write("cpu.weight", &limits.cpu_weight().to_string())?;
            return dir.write("cpu.max", &format!("{} 100000", limits.cpu_quota_us));
        }
        let mem = &self.open[0];
        // With swap, memsw must never be below memory: raise it first when growing, lower it
        // last when shrinking. Without swap both equal the same value.
        const MEMSW: &str = "memory.memsw.limit_in_bytes";
        if mem.has(MEMSW) && mem.write(MEMSW, &value).is_err() {
            mem.write("memory.limit_in_bytes", &value)?;
            mem.write(MEMSW, &value)?;
        } else {
            mem.write("memory.limit_in_bytes", &value)?;
        }
        self.open[1].write("pids.max", &limits.pids.to_string())?;
        let cpu = &self.open[2];
        cpu.write("cpu.shares", &limits.cpu_shares.to_string())?;
        cpu.write("cpu.cfs_period_us", "100000")?;
        cpu.write("cpu.cfs_quota_us", &limits.cpu_quota_us.to_string())
    }

    /// Removes what servers that are no longer running left behind. Each server keeps its
    /// cgroups under `lamina/<pid>-<n>/`; only instances whose process is gone are touched,
    /// so servers sharing a host never remove each other's cgroups.
    pub fn sweep(layout: &Layout) {
        for parent in parents(layout) {
            let Ok(instances) = fs::read_dir(&parent) else {
                continue;
            };
            for instance in instances.flatten() {
                let name = instance.file_name().to_string_lossy().into_owned();
                let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                    continue;
                };
                if Path::new(&format!("/proc/{pid}")).exists() {
                    continue;
                }
                end_processes(&instance.path());
                remove_instance_dir(&instance.path());
            }
        }
    }

    /// Removes this server's instance directories once its sandboxes are gone.
    pub fn remove_instance(layout: &Layout, instance: &str) {
        for parent in parents(layout) {
            cgroupfs::forget_under(&parent.join(instance));
            remove_instance_dir(&parent.join(instance));
        }
    }

    /// The directories a process must join (write its pid into `cgroup.procs`).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The processes in the sandbox's (memory) cgroup.
    pub fn pids(&self) -> Vec<u32> {
        self.open[0]
            .read("cgroup.procs")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Peak memory use in bytes, page cache included.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        let peak = self
            .peak
            .get_or_init(|| self.open[0].file(file, false).ok())
            .as_ref()?;
        let mut buf = [0u8; 32];
        let n = peak.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// Freezes (`true`) or thaws every process of the sandbox. Returns `Ok(false)` when
    /// this host cannot freeze cgroups (v1 without the freezer hierarchy). The kernel
    /// finishes freezing asynchronously; thawing takes effect at once.
    pub fn set_frozen(&self, frozen: bool) -> io::Result<bool> {
        let (dir, file, value) = if self.v2 {
            (
                &self.open[0],
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
            )
        } else {
            match self.open.get(CONTROLLERS.len()) {
                Some(dir) => (
                    dir,
                    "freezer.state",
                    if frozen { "FROZEN" } else { "THAWED" },
                ),
                None => return Ok(false),
            }
        };
        match self.freeze.get_or_init(|| dir.file(file, true).ok()) {
            // One write per change, at the start: a cgroup file takes a value per write.
            Some(state) => state.write_at(value.as_bytes(), 0).map(|_| true),
            None => dir.write(file, value).map(|()| true),
        }
    }

    /// Whether the sandbox's cgroups can be frozen.
    pub fn can_freeze(&self) -> bool {
        self.v2 || self.dirs.len() > CONTROLLERS.len()
    }

    /// Whether the kernel's OOM killer killed a process of the sandbox.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.open[0]
            .read(file)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    /// Removes the directories, waiting up to `patience` for the last processes to go.
    /// Returns whether everything was removed.
    pub fn remove(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let mut left = false;
            for dir in &self.dirs {
                match fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => left = true,
                }
            }
            if !left {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The `lamina` directories under which servers keep their instances.
fn parents(layout: &Layout) -> Vec<PathBuf> {
    match layout {
        Layout::V1 { root, freezer } => v1_hierarchies(root, *freezer)
            .map(|h| h.join(PARENT))
            .collect(),
        Layout::V2 { root } => vec![root.join(PARENT)],
        Layout::Unavailable(_) => Vec::new(),
    }
}

/// The v1 hierarchies a sandbox joins: the required controllers, then the freezer when the
/// host mounts it.
fn v1_hierarchies(root: &Path, freezer: bool) -> impl Iterator<Item = PathBuf> + '_ {
    CONTROLLERS
        .iter()
        .map(|c| root.join(c))
        .chain(freezer.then(|| root.join(FREEZER)))
}

/// Ends every process a dead server's sandboxes left under `instance` (they outlive it only
/// when it died frozen, or before its sandboxes noticed): thaws them, since a frozen task
/// cannot act on SIGKILL, kills them, and waits briefly for them to go.
fn end_processes(instance: &Path) {
    let sandboxes: Vec<PathBuf> = fs::read_dir(instance)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    for dir in &sandboxes {
        let _ = write(&dir.join("freezer.state"), "THAWED");
        let _ = write(&dir.join("cgroup.freeze"), "0");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut left = false;
        for dir in &sandboxes {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                left = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if !left || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `dir` is a sandbox's directory in the v1 freezer hierarchy.
pub fn is_freezer(dir: &Path) -> bool {
    dir.join("freezer.state").exists()
}

/// The `freezer.state` files of a sandbox, held open so that they can be written from a
/// mount namespace that no longer shows `/sys`.
#[derive(Debug)]
pub struct Thaw(Vec<fs::File>);

impl Thaw {
    /// Opens the state files of the freezer directories among `dirs`.
    pub fn open(dirs: &[PathBuf]) -> io::Result<Thaw> {
        dirs.iter()
            .filter(|d| is_freezer(d))
            .map(|d| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("freezer.state"))
            })
            .collect::<io::Result<Vec<_>>>()
            .map(Thaw)
    }

    /// Thaws them.
    pub fn thaw(&self) {
        for mut file in &self.0 {
            let _ = io::Write::write_all(&mut file, b"THAWED");
        }
    }
}

fn remove_instance_dir(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// A name for this server's cgroup instance directory: its pid, then something unique.
pub fn instance_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:08x}", std::process::id())
}

/// Joins the calling process, which must have one thread, to `dirs` (`0` names the writer,
/// in whatever pid namespace it is). Under cgroup v1 through `tasks`, the thread: moving a
/// process through `cgroup.procs` takes the kernel's lock on every thread group, which waits
/// for an RCU grace period unless a move came just before (7-11 ms here, against 0.4).
pub fn join(dirs: &[PathBuf]) -> io::Result<()> {
    debug_assert!(threads() == Some(1), "only the calling thread would move");
    for dir in dirs {
        let tasks = Some(dir.join("tasks")).filter(|t| t.exists());
        write(&tasks.unwrap_or_else(|| dir.join("cgroup.procs")), "0")?;
    }
    Ok(())
}

/// The calling process's threads: the 20th field of `/proc/self/stat`, the 18th after the
/// command's closing parenthesis.
fn threads() -> Option<u64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let fields = stat.rsplit_once(')')?.1;
    fields.split_whitespace().nth(17)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_threads_of_this_process() {
        let before = threads().expect("read from /proc/self/stat");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        assert_eq!(threads(), Some(before + 1));
        drop(tx);
        let _ = other.join();
    }

    #[test]
    fn limits_follow_lambdas_proportions() {
        let small = Limits::for_function(128, 512, 1024);
        assert_eq!(small.memory_bytes, 640 * 1024 * 1024);
        assert_eq!(small.cpu_shares, 74);
        assert_eq!(small.cpu_quota_us, 100_000, "at least one vCPU");
        let one = Limits::for_function(1769, 512, 1024);
        assert_eq!(one.cpu_shares, 1024);
        assert_eq!(
            one.cpu_weight(),
            39,
            "the kernel's conversion of 1,024 shares"
        );
        assert_eq!(one.cpu_quota_us, 100_000);
        let big = Limits::for_function(10_240, 512, 1024);
        assert_eq!(big.cpu_quota_us, 600_000, "six vCPUs at 10 GB, as Lambda");
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lamina-cgroup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn detects_v1_v2_and_what_is_missing() {
        let dir = scratch("v1");
        for ctrl in ["memory", "cpu"] {
            fs::create_dir_all(dir.join(ctrl)).unwrap();
            fs::write(dir.join(ctrl).join("tasks"), "").unwrap();
        }
        match detect(&dir) {
            Layout::Unavailable(why) => assert!(why.contains("pids"), "{why}"),
            other => panic!("{other:?}"),
        }
        fs::create_dir_all(dir.join("pids")).unwrap();
        fs::write(dir.join("pids/tasks"), "").unwrap();
        assert_eq!(
            detect(&dir),
            Layout::V1 {
                root: dir.clone(),
                freezer: false
            }
        );

        let v2 = scratch("v2");
        fs::write(
            v2.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb\n",
        )
        .unwrap();
        assert!(matches!(detect(&v2), Layout::Unavailable(why) if why.contains("pids")));
        fs::write(
            v2.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma\n",
        )
        .unwrap();
        assert_eq!(detect(&v2), Layout::V2 { root: v2.clone() });
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&v2);
    }

    /// What a v1 host is asked to do, checked against a plain directory tree.
    #[test]
    fn v1_weighs_the_environments_groups_and_writes_limits() {
        let root = scratch("v1-tree");
        for ctrl in CONTROLLERS {
            fs::create_dir_all(root.join(ctrl)).unwrap();
            fs::write(root.join(ctrl).join("tasks"), "").unwrap();
        }
        let layout = detect(&root);
        let limits = Limits::for_function(128, 512, 1024);
        let c = Cgroups::create(&layout, "43-y", "env", &limits).unwrap();
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        let cpus = std::thread::available_parallelism().unwrap().get() as u64;
        let shares = (1024 * cpus).min(262_144).to_string();
        assert_eq!(read("cpu/lamina/cpu.shares"), shares, "all environments");
        assert_eq!(read("cpu/lamina/43-y/cpu.shares"), shares, "a server's");
        assert_eq!(
            read("cpu/lamina/43-y/env/cpu.shares"),
            "74",
            "one, by memory"
        );
        assert_eq!(read("cpu/lamina/43-y/env/cpu.cfs_quota_us"), "100000");
        assert_eq!(read("pids/lamina/43-y/env/pids.max"), "1024");
        assert!(c.dirs().contains(&root.join("cpu/lamina/43-y/env")));
        let _ = fs::remove_dir_all(&root);
    }

    /// What a v2 host is asked to do, checked against a plain directory tree.
    #[test]
    fn v2_enables_controllers_and_writes_limits() {
        let root = scratch("v2-tree");
        fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(root.join("cgroup.subtree_control"), "memory\n").unwrap();
        let layout = detect(&root);
        let limits = Limits::for_function(3538, 512, 1024);
        let c = Cgroups::create(&layout, "42-x", "env", &limits).unwrap();
        assert_eq!(c.dirs(), [root.join("lamina/42-x/env")]);
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(
            read("cgroup.subtree_control"),
            "+pids +cpu",
            "only what is not enabled yet"
        );
        assert_eq!(read("lamina/cgroup.subtree_control"), "+memory +pids +cpu");
        assert_eq!(
            read("lamina/42-x/cgroup.subtree_control"),
            "+memory +pids +cpu"
        );
        let cpus = std::thread::available_parallelism().unwrap().get() as u64;
        let weight = (100 * cpus).min(10_000).to_string();
        assert_eq!(read("lamina/cpu.weight"), weight, "all environments");
        assert_eq!(read("lamina/42-x/cpu.weight"), weight, "a server's");
        assert_eq!(
            read("lamina/42-x/env/memory.max"),
            ((3538u64 + 512) << 20).to_string()
        );
        assert_eq!(read("lamina/42-x/env/pids.max"), "1024");
        assert_eq!(read("lamina/42-x/env/cpu.max"), "200000 100000");
        assert_eq!(
            read("lamina/42-x/env/cpu.weight"),
            limits.cpu_weight().to_string()
        );
        fs::write(
            root.join("lamina/42-x/env/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(c.oom_killed());
        fs::write(root.join("lamina/42-x/env/memory.peak"), "123456\n").unwrap();
        assert_eq!(c.peak_memory_bytes(), Some(123_456));
        let _ = fs::remove_dir_all(&root);
    }
}
