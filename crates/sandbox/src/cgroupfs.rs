//! cgroup directories held open, and their files reached relative to them.
//!
//! Every name looked up under a cgroup mount takes the cgroup file system's lock, and each
//! `mkdir` there takes it for writing; a burst of launches queues on it. So a server's
//! instance directory is opened once, a sandbox's directories are made relative to it and
//! kept open, and a sandbox's files are opened by one name relative to its directory
//! rather than by a path of six or seven names.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};

/// An open cgroup directory.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn annotate(path: &Path, e: Errno) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Dir {
    /// Opens the directory at `path`.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| annotate(path, e))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Makes the directory `name` in this one and opens it.
    pub fn make(&self, name: &str) -> io::Result<Dir> {
        let path = self.path.join(name);
        match mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(annotate(&path, e)),
        }
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| annotate(&path, e))?;
        Ok(Dir { fd, path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file `name` in this directory, for writing or for reading. (Opened for
    /// writing as `fs::write` opens a file, so that a plain directory tree stands in for
    /// cgroupfs in tests; cgroupfs's files exist already.)
    pub fn file(&self, name: &str, write: bool) -> io::Result<fs::File> {
        let flags = if write {
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC
        } else {
            OFlag::O_RDONLY
        };
        openat(
            self.fd.as_fd(),
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(fs::File::from)
        .map_err(|e| annotate(&self.path.join(name), e))
    }

    /// Writes `value` to the file `name`, as one write (a cgroup file takes a value per write).
    pub fn write(&self, name: &str, value: &str) -> io::Result<()> {
        self.file(name, true)?
            .write_all(value.as_bytes())
            .map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e}", self.path.join(name).display()))
            })
    }

    /// The contents of the file `name`.
    pub fn read(&self, name: &str) -> io::Result<String> {
        let mut text = String::new();
        self.file(name, false)?.read_to_string(&mut text)?;
        Ok(text)
    }

    /// Whether this directory has a file `name`.
    pub fn has(&self, name: &str) -> bool {
        nix::sys::stat::fstatat(self.fd.as_fd(), name, nix::fcntl::AtFlags::empty()).is_ok()
    }
}

/// Server instance directories opened so far, by path.
static INSTANCES: Mutex<Vec<(PathBuf, Arc<Dir>)>> = Mutex::new(Vec::new());

/// The instance directory at `path`, opened once per process; on first use `prepare` runs
/// and the directory (with its parents) is made.
pub fn instance(path: &Path, prepare: impl FnOnce() -> io::Result<()>) -> io::Result<Arc<Dir>> {
    let mut open = INSTANCES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, dir)) = open.iter().find(|(p, _)| p == path) {
        return Ok(dir.clone());
    }
    prepare()?;
    fs::create_dir_all(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let dir = Arc::new(Dir::open(path)?);
    open.push((path.to_path_buf(), dir.clone()));
    Ok(dir)
}

/// Forgets the instance directories under `parent` (they are being removed).
pub fn forget_under(parent: &Path) {
    INSTANCES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(p, _)| !p.starts_with(parent));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_reached_relative_to_a_made_directory() {
        let root = std::env::temp_dir().join(format!("lamina-cgroupfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let instance_path = root.join("lamina/1-a");
        let mut prepared = 0;
        let inst = instance(&instance_path, || {
            prepared += 1;
            Ok(())
        })
        .unwrap();
        let again = instance(&instance_path, || {
            prepared += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(prepared, 1, "an instance directory is prepared once");
        assert!(Arc::ptr_eq(&inst, &again));

        let sandbox = inst.make("sb").unwrap();
        assert_eq!(sandbox.path(), instance_path.join("sb"));
        // Made again (a retry): the same directory, not an error.
        inst.make("sb").unwrap();
        fs::write(instance_path.join("sb/pids.max"), "").unwrap();
        sandbox.write("pids.max", "64").unwrap();
        assert_eq!(
            fs::read_to_string(instance_path.join("sb/pids.max")).unwrap(),
            "64"
        );
        assert_eq!(sandbox.read("pids.max").unwrap(), "64");
        assert!(sandbox.has("pids.max"));
        assert!(!sandbox.has("memory.max"));
        let missing = sandbox.read("memory.max").unwrap_err();
        assert!(missing.to_string().contains("sb/memory.max"), "{missing}");

        forget_under(&root);
        let mut prepared_after = 0;
        instance(&instance_path, || {
            prepared_after += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(prepared_after, 1, "a forgotten instance is opened afresh");
        forget_under(&root);
        fs::remove_dir_all(&root).unwrap();
    }
}
