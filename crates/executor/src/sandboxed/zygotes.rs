//! One zygote per template of a managed runtime that can fork: Python (a single-threaded
//! interpreter) and Node.js, whose zygote runs V8 single-threaded (`--single-threaded`), since
//! a fork keeps only the calling thread; see `runtimes/node/zygote.cjs`. The zygote has the
//! template's interpreter, flags and start-up environment, so a runtime forked from it is the
//! runtime the template would have started, minus the start.
//!
//! Runtimes forked from one zygote share its memory layout (where libraries and the heap are)
//! and its interpreter's hash seed, though never a writable page. So a zygote is replaced,
//! in the background, once it has forked [`MAX_FORKS`] runtimes or is [`MAX_AGE`] old:
//! whatever one function learns of that layout is soon worth nothing.

use std::path::Path;
use std::time::Duration;

use lamina_sandbox::zygote::{self, Fork};
use lamina_sandbox::{SandboxSpec, Zygote, ZygoteCommand};

use super::inits::{Handoff, Inits, Ready};
use crate::launcher::LaunchError;

/// Runtimes one zygote forks before it is replaced.
pub(super) const MAX_FORKS: u64 = 256;
/// Age at which a zygote is replaced.
pub(super) const MAX_AGE: Duration = Duration::from_secs(300);

/// The zygote of a template whose program is Lamina's Python or Node.js bootstrap; `None` for
/// any other. `runtime_dir` is where the bootstraps are on the host.
pub(super) fn command(sandbox: &SandboxSpec, runtime_dir: &Path) -> Option<ZygoteCommand> {
    const PYTHON: &str = "/var/runtime/python/bootstrap.py";
    const NODE: &str = "/var/runtime/node/bootstrap.cjs";
    let (last, flags) = sandbox.args.split_last()?;
    let (sub, zygote, bootstrap, extra): (_, _, _, &[&str]) = match last.as_str() {
        PYTHON => ("python", "zygote.py", "bootstrap.py", &[]),
        NODE if !crate::runtimes::NODE_ZYGOTE_MODULE.is_empty() => (
            "node",
            "zygote.cjs",
            "bootstrap.cjs",
            &["--single-threaded"],
        ),
        _ => return None,
    };
    let args = flags
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .chain([zygote, bootstrap, last.as_str()])
        .map(str::to_string)
        .collect();
    Some(ZygoteCommand {
        program: sandbox.program.clone(),
        args,
        dir: runtime_dir.join(sub),
        env: sandbox.env.clone(),
    })
}

/// Whether `zygote` should be replaced.
pub(super) fn stale(zygote: &Zygote) -> bool {
    zygote.forks() >= MAX_FORKS || zygote.age() >= MAX_AGE || !zygote.is_alive()
}

impl Inits {
    /// Forks a runtime from `zygote` into `ready`, a sandbox built to the end without a
    /// program. The runtime then waits, without code, for its function.
    pub(super) fn fork_into(
        &self,
        mut ready: Ready,
        zygote: &Zygote,
        sandbox: &SandboxSpec,
        now: bool,
    ) -> Result<Ready, LaunchError> {
        let setup = |e: std::io::Error| LaunchError::Setup(e);
        let failed = |e: lamina_sandbox::SandboxError| {
            LaunchError::Setup(std::io::Error::other(e.to_string()))
        };
        let init_pid = ready.init_pid();
        let init = zygote::pidfd(init_pid).map_err(setup)?;
        // PID 1's standard output is the sandbox's output pipe; this opens that same pipe.
        let output: std::os::fd::OwnedFd = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{init_pid}/fd/1"))
            .map_err(setup)?
            .into();
        let (stdin, env_pipe) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| setup(e.into()))?;
        let (ended, ended_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| setup(e.into()))?;
        let cgroups = ready.cgroup_dirs();
        let host = zygote
            .fork_into(&Fork {
                init: &init,
                cgroups: &cgroups,
                stdin: &stdin,
                output: &output,
                ended: &ended_end,
                nofile: sandbox.nofile,
                data_limit: sandbox.data_limit_bytes,
            })
            .map_err(failed)?;
        let pid = zygote::pid_inside(host).map_err(setup)?;
        ready.marks.mark("forked");
        ready.handoff = Some(Handoff {
            env_pipe,
            pid,
            ended,
            now,
        });
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(program: &str, args: &[&str]) -> SandboxSpec {
        SandboxSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![("PYTHONHASHSEED".into(), "0".into())],
            task_dir: None,
            runtime_dir: "/data/runtimes".into(),
            opt_dir: None,
            extra_ro: Vec::new(),
            root_mountpoint: "/data/sandbox-root".into(),
            tmp_mb: 512,
            tmp_device: None,
            nofile: 1024,
            hostname: "localhost".into(),
            data_limit_bytes: None,
            exec_later: false,
        }
    }

    #[test]
    fn only_the_python_and_node_bootstraps_have_a_zygote() {
        let python = sandbox(
            "/usr/bin/python3.11",
            &["-s", "/var/runtime/python/bootstrap.py"],
        );
        let z = command(&python, Path::new("/data/runtimes")).unwrap();
        assert_eq!(z.program, Path::new("/usr/bin/python3.11"));
        assert_eq!(
            z.args,
            [
                "-s",
                "zygote.py",
                "bootstrap.py",
                "/var/runtime/python/bootstrap.py"
            ],
            "the interpreter's flags, then the zygote with the bootstrap as the sandbox names \
             it, and no host path: the forked runtimes' command line is the zygote's"
        );
        assert_eq!(z.dir, Path::new("/data/runtimes/python"));
        assert_eq!(
            z.env, python.env,
            "started as the template's runtime would be"
        );
        let node = sandbox("/usr/bin/node", &["/var/runtime/node/bootstrap.cjs"]);
        let z = command(&node, Path::new("/data/runtimes")).unwrap();
        assert_eq!(
            z.args,
            [
                "--single-threaded",
                "zygote.cjs",
                "bootstrap.cjs",
                "/var/runtime/node/bootstrap.cjs"
            ],
            "V8 on one thread, since a fork keeps only one"
        );
        assert_eq!(z.dir, Path::new("/data/runtimes/node"));
        assert_eq!(
            command(&sandbox("/var/task/bootstrap", &[]), Path::new("/r")),
            None
        );
    }
}
