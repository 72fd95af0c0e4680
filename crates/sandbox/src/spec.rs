//! What one sandbox is made of.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a sandbox started without code says on its control socket once its root is built
/// (and its runtime, if it has one, started).
pub(crate) const BUILT: &[u8] = b"built";

/// Everything `sandbox-init` needs, sent by the platform over the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Executable, as seen inside the sandbox.
    pub program: PathBuf,
    /// Arguments (without the program).
    pub args: Vec<String>,
    /// The complete environment of the runtime.
    pub env: Vec<(String, String)>,
    /// Host directory mounted read-only at `/var/task`. `None` defers the code: the runtime
    /// starts with an empty `/var/task` and its standard input a pipe, and waits there until
    /// a [`Specialisation`] brings the code and the function's environment.
    pub task_dir: Option<PathBuf>,
    /// Host directory mounted read-only at `/var/runtime`.
    pub runtime_dir: PathBuf,
    /// Host directory mounted read-only at `/opt` (the function's layers), if any.
    #[serde(default)]
    pub opt_dir: Option<PathBuf>,
    /// Host directories mounted read-only at the same path inside (interpreters that live
    /// outside `/usr`).
    pub extra_ro: Vec<PathBuf>,
    /// Empty host directory used as the mount point of the new root.
    pub root_mountpoint: PathBuf,
    /// Size of the private `/tmp`, in MiB.
    pub tmp_mb: u32,
    /// The loop device holding `/tmp` ([`crate::scratch`]); `None`: a tmpfs of `tmp_mb`.
    #[serde(default)]
    pub tmp_device: Option<PathBuf>,
    /// Open file descriptor limit of the runtime.
    pub nofile: u64,
    /// Hostname inside.
    pub hostname: String,
    /// `RLIMIT_DATA` of the runtime, where no cgroup limits its memory.
    #[serde(default)]
    pub data_limit_bytes: Option<u64>,
    /// With no `task_dir`: start nothing until the [`Specialisation`], which then names the
    /// program (`program`, `args` and `env` here are unused). The sandbox waits fully built.
    #[serde(default)]
    pub exec_later: bool,
}

/// What turns a sandbox started without code (a [`SandboxSpec`] with no `task_dir`) into one
/// function's environment. The code travels beside it as a detached mount
/// ([`crate::fs::clone_tree`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Specialisation {
    /// The complete environment of the function, written to the waiting runtime's standard
    /// input as one JSON object.
    pub env: Vec<(String, String)>,
    /// Size of `/tmp`, in MiB (a tmpfs `/tmp` is resized to it).
    pub tmp_mb: u32,
    /// A new `/tmp` device comes as the second descriptor beside the code: the sandbox's
    /// disk-backed `/tmp` was made for another size.
    #[serde(default)]
    pub new_tmp: bool,
    /// The function's layers come as a tree (from [`crate::fs::clone_tree`]) right after the
    /// code's, to be attached at `/opt`.
    #[serde(default)]
    pub layers: bool,
    /// The program to start, for a sandbox built with `exec_later`; `None` for one whose
    /// runtime is already waiting.
    #[serde(default)]
    pub exec: Option<Exec>,
    /// For a sandbox whose runtime is already there (waiting, or forked in): a program to
    /// start, with `env` and the runtime's privileges, before the runtime is given its
    /// function (the function's extensions). It is not followed: the sandbox lives and ends
    /// with its runtime.
    #[serde(default)]
    pub beside: Option<Exec>,
    /// For a sandbox built with `exec_later` whose runtime was forked into it by a zygote
    /// ([`crate::zygote`]): that runtime's pid inside the sandbox, which its PID 1 then
    /// follows as if it had started it.
    #[serde(default)]
    pub adopt: Option<i32>,
}

/// A program and its arguments, as seen inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    /// Executable.
    pub program: PathBuf,
    /// Arguments (without the program).
    pub args: Vec<String>,
}
