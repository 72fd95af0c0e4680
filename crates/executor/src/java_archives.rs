//! Class-data sharing archives of Lamina's Java runtime, one per JDK: a JVM maps the
//! runtime's classes from the archive instead of reading, verifying and linking them, which
//! saves about a tenth of every start that no pre-started JVM serves (a burst beyond the
//! pool).
//!
//! The archive is made on the host by the runtime itself, started as a sandbox starts it
//! (`bootstrap.sh`, waiting for a function, with `-XX:ArchiveClassesAtExit`): it rehearses an
//! invocation, finds no function on its standard input, and exits. A JVM accepts an archive
//! only with the jar it was made from, named by the same path, size and modification time.
//! So the archive is made in a copy of the runtime directory laid out as a sandbox's
//! (`runtime/` beside the working directory `task/`, the jar named relative to it), and that
//! copy, archive included, is what sandboxes of this JDK are given as `/var/runtime`
//! (copied with its times). Only code Lamina ships runs in the making: no function's.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use std::{fs, io};

/// The archive's name beside the runtime's jar, where `bootstrap.sh` looks for it.
const ARCHIVE: &str = "lamina.jsa";
/// Longer than a JVM takes to start, rehearse and write its archive on a loaded machine.
const MAKING_LIMIT: Duration = Duration::from_secs(20);

/// The archives of one server, under one directory: made on first use, kept across restarts.
#[derive(Debug)]
pub struct JavaArchives {
    dir: PathBuf,
    /// Per JVM: the runtime directory with its archive, or `None` when it could not be made.
    made: Mutex<BTreeMap<PathBuf, Arc<OnceLock<Option<PathBuf>>>>>,
}

impl JavaArchives {
    /// Archives kept under `dir`.
    pub fn new(dir: &Path) -> JavaArchives {
        JavaArchives {
            dir: dir.to_path_buf(),
            made: Mutex::default(),
        }
    }

    fn slot(&self, java: &Path) -> Arc<OnceLock<Option<PathBuf>>> {
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(java.to_path_buf())
            .or_default()
            .clone()
    }

    /// Whether JVM `java`'s archive is settled (made, found, or known not to be makeable):
    /// until it is, `runtime_dir` may take a JVM's start and more.
    pub fn settled(&self, java: &Path) -> bool {
        self.slot(java).get().is_some()
    }

    /// The runtime directory JVM `java` (major version `major`) is started from: a copy of
    /// `runtime_dir` with the archive for that JVM, made now if it was not (the caller waits,
    /// once per JVM and server: call it off the async threads until `settled`); `None` when
    /// no archive could be made.
    pub fn runtime_dir(&self, java: &Path, major: u32, runtime_dir: &Path) -> Option<PathBuf> {
        self.slot(java).get_or_init(|| {
            // One directory per JVM, named by what the archive depends on; those of the
            // same JVM for another build of it or of the runtime are left behind by
            // upgrades, and removed when a new one is made.
            let jvm = format!("java{major}-{:08x}-", hash(java) as u32);
            let home = self.dir.join(format!("{jvm}{:016x}", key(java, runtime_dir)));
            let runtime = home.join("runtime");
            if runtime.join("java").join(ARCHIVE).is_file() {
                return Some(runtime);
            }
            remove_older(&self.dir, &jvm);
            let started = Instant::now();
            match make(java, major, runtime_dir, &home) {
                Ok(()) => {
                    tracing::info!(java = %java.display(), ms = started.elapsed().as_millis() as u64,
                        "class-data sharing archive made");
                    Some(runtime)
                }
                Err(e) => {
                    tracing::warn!(java = %java.display(), "no class-data sharing archive: {e}");
                    let _ = fs::remove_dir_all(&home);
                    None
                }
            }
        })
        .clone()
    }
}

fn hash(value: impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Removes the directories under `dir` whose names start with `prefix`.
fn remove_older(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// What an archive depends on: the JVM (its path and build) and the Java runtime's files in
/// `runtime_dir`.
fn key(java: &Path, runtime_dir: &Path) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    java.hash(&mut h);
    if let Ok(meta) = fs::metadata(java) {
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    for file in ["bootstrap.sh", "lamina-runtime.jar"] {
        fs::read(runtime_dir.join("java").join(file))
            .ok()
            .hash(&mut h);
    }
    h.finish()
}

/// Copies `runtime_dir` to `home/runtime` and makes the archive there.
fn make(java: &Path, major: u32, runtime_dir: &Path, home: &Path) -> io::Result<()> {
    let _ = fs::remove_dir_all(home);
    let task = home.join("task");
    fs::create_dir_all(&task)?;
    let runtime = home.join("runtime");
    lamina_sandbox::fs::copy_tree(runtime_dir, &runtime)?;
    let java_dir = runtime.join("java");
    let making = java_dir.join(format!(".{ARCHIVE}.tmp"));
    let mut child = Command::new("/bin/sh")
        .arg(java_dir.join("bootstrap.sh"))
        .arg(java)
        .arg(major.to_string())
        .arg("128")
        .current_dir(&task)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LAMINA_AWAIT_FUNCTION", "stdin")
        .env(
            "JAVA_TOOL_OPTIONS",
            format!("-XX:ArchiveClassesAtExit={}", making.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + MAKING_LIMIT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the JVM did not finish",
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The runtime ends in an error (no function came), after the rehearsal: the archive is
    // what tells whether it ran.
    if !making.is_file() {
        return Err(io::Error::other("the JVM wrote no archive"));
    }
    fs::rename(&making, java_dir.join(ARCHIVE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime directory whose bootstrap starts the JVM it is given, as Lamina's does.
    fn runtime_files() -> tempfile::TempDir {
        let runtime = tempfile::tempdir().unwrap();
        fs::create_dir_all(runtime.path().join("java")).unwrap();
        fs::write(runtime.path().join("java/bootstrap.sh"), "exec \"$1\"\n").unwrap();
        runtime
    }

    #[test]
    fn a_jvm_that_writes_no_archive_leaves_nothing_and_is_not_tried_again() {
        let runtime = runtime_files();
        let kept = tempfile::tempdir().unwrap();
        let archives = JavaArchives::new(kept.path());
        let not_java = Path::new("/bin/false");
        assert_eq!(archives.runtime_dir(not_java, 17, runtime.path()), None);
        assert_eq!(
            fs::read_dir(kept.path()).unwrap().count(),
            0,
            "the copy is removed"
        );
        // Asked again, the answer is remembered rather than made again.
        fs::remove_dir(kept.path()).unwrap();
        assert_eq!(archives.runtime_dir(not_java, 17, runtime.path()), None);
        assert!(!kept.path().exists());
    }

    #[test]
    fn making_an_archive_removes_the_same_jvms_older_ones_only() {
        let runtime = runtime_files();
        let kept = tempfile::tempdir().unwrap();
        let not_java = Path::new("/bin/false");
        let same = format!("java17-{:08x}-0123456789abcdef", hash(not_java) as u32);
        let other = format!(
            "java17-{:08x}-0123456789abcdef",
            hash("/usr/bin/java") as u32
        );
        for dir in [&same, &other] {
            fs::create_dir_all(kept.path().join(dir).join("runtime")).unwrap();
        }
        assert_eq!(
            JavaArchives::new(kept.path()).runtime_dir(not_java, 17, runtime.path()),
            None
        );
        assert!(
            !kept.path().join(&same).exists(),
            "an older one of that JVM"
        );
        assert!(kept.path().join(&other).exists(), "another JVM's");
    }

    #[test]
    fn an_archive_is_kept_per_jvm_and_runtime() {
        let runtime = runtime_files();
        let dir = runtime.path();
        let (usr, opt) = (Path::new("/usr/bin/java"), Path::new("/opt/jdk/bin/java"));
        assert_ne!(key(usr, dir), key(opt, dir));
        assert_eq!(key(usr, dir), key(usr, dir));
        let before = key(usr, dir);
        fs::write(dir.join("java/lamina-runtime.jar"), b"another runtime").unwrap();
        assert_ne!(key(usr, dir), before, "a new runtime makes a new archive");
    }
}
