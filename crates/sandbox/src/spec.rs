//! What one sandbox is made of.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything `sandbox-init` needs, sent by the platform over the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Executable, as seen inside the sandbox.
    pub program: PathBuf,
    /// Arguments (without the program).
    pub args: Vec<String>,
    /// The complete environment of the runtime.
    pub env: Vec<(String, String)>,
    /// Host directory mounted read-only at `/var/task`.
    pub task_dir: PathBuf,
    /// Host directory mounted read-only at `/var/runtime`.
    pub runtime_dir: PathBuf,
    /// Host directories mounted read-only at the same path inside (interpreters that live
    /// outside `/usr`).
    pub extra_ro: Vec<PathBuf>,
    /// Empty host directory used as the mount point of the new root.
    pub root_mountpoint: PathBuf,
    /// Size of the private `/tmp`, in MiB.
    pub tmp_mb: u32,
    /// Open file descriptor limit of the runtime.
    pub nofile: u64,
    /// Hostname inside.
    pub hostname: String,
    /// `RLIMIT_DATA` of the runtime, where no cgroup limits its memory.
    #[serde(default)]
    pub data_limit_bytes: Option<u64>,
}
