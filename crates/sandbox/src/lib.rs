//! Linux isolation for execution environments. Synchronous; it knows of Lambda only what a
//! sandbox shows a function: the fixed paths (`/var/task`, `/var/runtime`, `/opt`), the
//! sandbox user, and the memory-to-CPU rule its limits are given.
//!
//! Layout:
//! - [`spec`]: [`SandboxSpec`], everything the launcher needs to build one sandbox.
//! - [`launch`]: the platform's side: starts `lamina sandbox-init` with a control socket,
//!   sends the spec, and receives the Runtime API listener created inside the sandbox's
//!   network namespace.
//! - [`init`]: the sandbox's side, run by the re-executed binary: network namespace and
//!   listener, the other namespaces, the minimal root, the reaping init (PID 1), and the
//!   hardened exec of the runtime.
//! - [`cgroup`]: memory, pids and CPU limits, peak memory and OOM detection.
//! - [`doctor`]: what this host offers for isolation, for `lamina doctor`.
//! - [`net`]: loopback up and the listener inside a fresh network namespace.
//! - [`seccomp`]: the system call filters of the runtime.
//! - [`image`]: packages as read-only filesystem images, so mount tables show no host path.
//! - [`scratch`]: each sandbox's `/tmp` as a sparse ext4 image on a loop device.
//! - [`fs`]: the minimal read-only root.
//! - [`zygote`]: interpreters started once that fork runtimes into sandboxes built ahead.
//! - [`spawner`]: the re-executed binary started once, forking sandbox inits on request.
//!
//! **Architecture invariant:** the multi-threaded server never forks to do isolation work;
//! it only spawns processes (the re-executed binary, the spawner, or a zygote), which do
//! every fork, namespace, mount and privilege change while single-threaded.

pub mod cgroup;
pub mod cgroupfs;
pub mod doctor;
pub mod fs;
mod helper;
pub mod image;
pub mod init;
pub mod launch;
pub mod net;
pub mod scratch;
pub mod seccomp;
pub mod spawner;
pub mod spec;
pub mod zygote;

pub use launch::{Control, Deferred, Launched, SandboxError, prepare};
pub use spawner::Spawner;
pub use spec::{Exec, SandboxSpec, Specialisation};
pub use zygote::{Zygote, ZygoteCommand};

/// The subcommand under which the binary runs [`init::main`].
pub const INIT_SUBCOMMAND: &str = "sandbox-init";
/// Where the Runtime API listens inside every sandbox.
pub const RUNTIME_API_ADDR: &str = "127.0.0.1:9001";
/// Where the egress proxy listens inside every sandbox.
pub const EGRESS_PROXY_ADDR: &str = "127.0.0.1:3128";
/// The uid functions run as (Lambda's `sbx_user1051`).
pub const SANDBOX_UID: u32 = 993;
/// The gid functions run as.
pub const SANDBOX_GID: u32 = 990;
