//! Building a function's package as `sam build` does, then zipping it ([`super::package`]):
//! - Python with a `requirements.txt`: installed into the package by the runtime's own
//!   Python (`python3.12 -m pip install --target`; a build venv made with `-m venv` when that
//!   Python has no pip), run in the function's directory so local wheels and paths resolve;
//! - Node.js with a `package.json`: `npm ci --omit=dev` with a lockfile, else `npm install
//!   --omit=dev`; the directory's own `node_modules/` is replaced by what was installed;
//! - `provided` runtimes with a `Makefile`: `make build-<LogicalId>` with `ARTIFACTS_DIR`
//!   set, and the package is what the target put there (SAM's makefile builds).
//!
//! Dependencies are kept under `.lamina/build/` of the project, keyed by a hash of the files
//! that list them, so a rebuild after a code change installs nothing (what keeps `deploy
//! --watch` under a second). Long steps show a spinner on a terminal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::Digest;

use super::package;

/// Where a function comes from and how it is to be built.
pub struct Job<'a> {
    /// The name builds are kept under (the logical id, or the function's name).
    pub id: &'a str,
    pub dir: &'a Path,
    pub runtime: Option<&'a str>,
    pub handler: Option<&'a str>,
    /// `.lamina/build` of the project.
    pub work: PathBuf,
}

/// The zip of a built package.
pub fn package_of(job: &Job<'_>) -> anyhow::Result<Vec<u8>> {
    // Tools run in other directories (make in the function's, npm in the build's): every
    // path they are given is absolute.
    let dir = std::path::absolute(job.dir)?;
    let job = &Job {
        dir: &dir,
        work: std::path::absolute(&job.work)?,
        ..*job
    };
    let runtime = job.runtime.unwrap_or_default();
    let has = |f: &str| job.dir.join(f).is_file();
    let mut files = if runtime.starts_with("provided") && has("Makefile") {
        let out = make(job)?;
        package::files_of(&out)?
    } else {
        package::files_of(job.dir)?
    };
    if runtime.starts_with("python") && has("requirements.txt") {
        let deps = pip(job, runtime)?;
        add(&mut files, package::files_of(&deps)?);
    }
    if runtime.starts_with("nodejs") && has("package.json") {
        files.retain(|(inside, _)| !inside.starts_with("node_modules/"));
        let deps = npm(job)?;
        add(&mut files, package::files_of(&deps)?);
    }
    if files.is_empty() {
        bail!(
            "{} has nothing to deploy (it is empty, or everything in it is left out)",
            job.dir.display()
        );
    }
    if let (Some(r), Some(h)) = (job.runtime, job.handler) {
        package::check_handler(&files, r, h)?;
    }
    package::zip_of(&files)
}

/// `deps` added to `files`; the function's own file wins where both have one.
fn add(files: &mut Vec<(String, PathBuf)>, deps: Vec<(String, PathBuf)>) {
    let own: std::collections::BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    files.extend(deps.into_iter().filter(|(n, _)| !own.contains(n)));
    files.sort();
}

/// A hash of the files (of `dir`) that decide what is installed.
fn key_of(dir: &Path, names: &[&str], salt: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(salt.as_bytes());
    for n in names {
        h.update(n.as_bytes());
        h.update(std::fs::read(dir.join(n)).unwrap_or_default());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `cmd`, with a spinner saying `what`; its output is shown only when it fails.
fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(what.to_string());
    spinner.enable_steady_tick(Duration::from_millis(100));
    let out = cmd.output();
    spinner.finish_and_clear();
    let out = out.with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Builds into a fresh directory and moves it in place once complete, so an interrupted
/// build is never taken for a finished one.
fn fresh(
    target: &Path,
    build: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    if target.is_dir() {
        return Ok(target.to_path_buf());
    }
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    build(&partial)?;
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move the build to {}", target.display()))?;
    Ok(target.to_path_buf())
}

/// The dependencies of `requirements.txt`, installed for `runtime`'s Python.
fn pip(job: &Job<'_>, runtime: &str) -> anyhow::Result<PathBuf> {
    let version = runtime.trim_start_matches("python");
    let key = key_of(job.dir, &["requirements.txt"], runtime);
    let target = job.work.join(job.id).join(format!("python-{key}"));
    fresh(&target, |into| {
        let python = pip_python(&job.work, version)?;
        let mut cmd = Command::new(&python);
        cmd.current_dir(job.dir).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--no-compile",
            "-r",
            "requirements.txt",
            "--target",
        ]);
        cmd.arg(into);
        run(cmd, &format!("{}: pip install -r requirements.txt", job.id))
    })
}

/// A Python `version` (3.12) with pip: `python3.12` itself when it has pip, else a build
/// venv made from it (venv brings pip with it).
fn pip_python(work: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let exact = format!("python{version}");
    let works = |p: &Path, args: &[&str]| {
        Command::new(p)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let candidates = [PathBuf::from(&exact), PathBuf::from("python3")];
    let python = candidates
        .into_iter()
        .find(|p| {
            works(
                p,
                &[
                    "-c",
                    &format!("import sys; assert '%d.%d' % sys.version_info[:2] == '{version}'"),
                ],
            )
        })
        .with_context(|| {
            format!("requirements.txt needs Python {version} to install with: none on PATH")
        })?;
    if works(&python, &["-m", "pip", "--version"]) {
        return Ok(python);
    }
    let venv = work.join(format!("venv-{version}"));
    let venv = fresh(&venv, |into| {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "venv"]).arg(into);
        run(cmd, &format!("making a Python {version} venv for pip"))
    })?;
    Ok(venv.join("bin/python"))
}

/// The production dependencies of `package.json`, in a directory that holds
/// `node_modules/`.
fn npm(job: &Job<'_>) -> anyhow::Result<PathBuf> {
    let lock = job.dir.join("package-lock.json").is_file();
    let key = key_of(job.dir, &["package.json", "package-lock.json"], "npm");
    let target = job.work.join(job.id).join(format!("node-{key}"));
    fresh(&target, |into| {
        // npm installs beside package.json, and local `file:` dependencies are relative to
        // it: the copies of package.json and its lockfile it reads here name them by
        // absolute path.
        for (name, wanted) in [("package.json", true), ("package-lock.json", lock)] {
            if !wanted {
                continue;
            }
            let mut manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(job.dir.join(name))
                    .with_context(|| format!("cannot read {name}"))?,
            )
            .with_context(|| format!("{name} is not JSON"))?;
            absolute_file_deps(&mut manifest, job.dir);
            std::fs::write(into.join(name), serde_json::to_vec_pretty(&manifest)?)?;
        }
        let mut cmd = Command::new("npm");
        cmd.current_dir(into)
            .args([
                if lock { "ci" } else { "install" },
                "--omit=dev",
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--install-links",
            ])
            .env("npm_config_loglevel", "error");
        let verb = if lock { "npm ci" } else { "npm install" };
        run(cmd, &format!("{}: {verb} --omit=dev", job.id))?;
        for leftover in ["package.json", "package-lock.json"] {
            let _ = std::fs::remove_file(into.join(leftover));
        }
        Ok(())
    })
}

/// Rewrites every relative `file:` specifier in `manifest` (package.json's dependencies,
/// a lockfile's `resolved` and root dependencies) to an absolute one from `dir`.
fn absolute_file_deps(manifest: &mut serde_json::Value, dir: &Path) {
    match manifest {
        serde_json::Value::String(s) => {
            if let Some(rel) = s.strip_prefix("file:")
                && !Path::new(rel).is_absolute()
            {
                *s = format!("file:{}", dir.join(rel).display());
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                absolute_file_deps(v, dir);
            }
        }
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                absolute_file_deps(v, dir);
            }
        }
        _ => {}
    }
}

/// `make build-<id>` with `ARTIFACTS_DIR`: the directory it filled.
fn make(job: &Job<'_>) -> anyhow::Result<PathBuf> {
    let out = job.work.join(job.id).join("artifacts");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut cmd = Command::new("make");
    cmd.current_dir(job.dir)
        .arg(format!("build-{}", job.id))
        .env("ARTIFACTS_DIR", &out);
    run(cmd, &format!("{}: make build-{}", job.id, job.id))?;
    Ok(out)
}
