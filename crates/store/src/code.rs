//! Content-addressed storage of deployment packages.
//!
//! Each package lives under `code/<sha256-hex>/` as `package.zip` (served back by GetFunction)
//! and `task/` (the extracted tree an environment runs from). A package is first extracted
//! into a temporary directory and renamed into place only when complete, so a refused or
//! interrupted upload never leaves a half-written tree behind, and identical zips are stored
//! once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use lamina_model::function::CodeInfo;
use sha2::{Digest, Sha256};

use crate::lease::{Lease, Leases};
use crate::package::{self, Bounds, PackageError};

/// The code store rooted at a directory of the data directory.
#[derive(Debug, Clone)]
pub struct CodeStore {
    root: PathBuf,
    bounds: Bounds,
    leases: Leases,
}

const UNZIPPED_SIZE_FILE: &str = "unzipped-size";

impl CodeStore {
    /// Opens the store at `root`, creating it and clearing leftovers of interrupted uploads.
    pub fn open(root: &Path) -> io::Result<CodeStore> {
        fs::create_dir_all(root)?;
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(CodeStore {
            root: root.to_path_buf(),
            bounds: Bounds::default(),
            leases: Leases::default(),
        })
    }

    /// Which packages are in use; a held package is never removed.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The ids of the packages stored now.
    pub fn packages(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Removes every merged layer tree (`opt-*`) that is not one of `keep`
    /// ([`opt_dir`](CodeStore::opt_dir) paths); returns how many went.
    pub fn remove_opt_trees_except(&self, keep: &[PathBuf]) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("opt-") || keep.iter().any(|k| k.parent() == Some(&entry.path())) {
                continue;
            }
            let doomed = self.root.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
            fs::rename(entry.path(), &doomed)?;
            fs::remove_dir_all(doomed)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Replaces the extraction bounds (tests use small ones).
    pub fn with_bounds(mut self, bounds: Bounds) -> CodeStore {
        self.bounds = bounds;
        self
    }

    /// Stores a zip, extracting it unless an identical one is stored already, and holds it
    /// (the lease) until the caller has recorded its use.
    pub fn put(&self, zip: &[u8]) -> Result<(CodeInfo, Lease), PackageError> {
        let digest = Sha256::digest(zip);
        let id = hex(&digest);
        let sha256 = base64::engine::general_purpose::STANDARD.encode(digest);
        let dir = self.root.join(&id);
        // Held before looking: a removal of the same bytes either went before (and the
        // package is extracted anew) or waits for this lease.
        let lease = self.leases.lease(&id);
        let unzipped_size = match read_size(&dir) {
            Some(n) => n,
            None => self.extract_into_place(zip, &dir)?,
        };
        Ok((
            CodeInfo {
                id,
                sha256,
                size: zip.len() as u64,
                unzipped_size,
            },
            lease,
        ))
    }

    /// Extracts `zip` into a temporary directory, then renames it to `dir` whole; returns
    /// the unzipped size.
    fn extract_into_place(&self, zip: &[u8], dir: &Path) -> Result<u64, PackageError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PackageError::io(&path, source)
        };
        let tmp = self.root.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let task = tmp.join("task");
        fs::create_dir_all(&task).map_err(io_err(&task))?;
        let result = (|| {
            let unzipped = package::extract(zip, &task, self.bounds)?;
            let zip_path = tmp.join("package.zip");
            fs::write(&zip_path, zip).map_err(io_err(&zip_path))?;
            let size_path = tmp.join(UNZIPPED_SIZE_FILE);
            fs::write(&size_path, unzipped.to_string()).map_err(io_err(&size_path))?;
            Ok(unzipped)
        })();
        let unzipped_size = match result {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs::rename(&tmp, dir) {
            let _ = fs::remove_dir_all(&tmp);
            // Another upload of the same bytes won the race; its copy is identical.
            if read_size(dir).is_none() {
                return Err(PackageError::io(dir, e));
            }
        }
        Ok(unzipped_size)
    }

    /// The extracted tree of a package.
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.root.join(id).join("task")
    }

    /// The original zip of a package.
    pub fn zip_path(&self, id: &str) -> PathBuf {
        self.root.join(id).join("package.zip")
    }

    /// Whether a package is stored.
    pub fn contains(&self, id: &str) -> bool {
        read_size(&self.root.join(id)).is_some()
    }

    /// Where the layers `ids` (in order) are merged into one tree: the function's `/opt`.
    pub fn opt_dir(&self, ids: &[String]) -> PathBuf {
        let mut h = Sha256::new();
        for id in ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.root
            .join(format!("opt-{}", &digest[..32]))
            .join("tree")
    }

    /// Builds [`opt_dir`](CodeStore::opt_dir) of `ids` unless it exists: each layer's tree
    /// copied over the ones before it, as Lambda extracts layers in order. Blocking.
    pub fn merge_layers(&self, ids: &[String]) -> io::Result<PathBuf> {
        let dir = self.opt_dir(ids);
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = self.root.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let tree = tmp.join("tree");
        fs::create_dir_all(&tree)?;
        let result = (|| {
            for id in ids {
                copy_over(&self.task_dir(id), &tree)?;
            }
            let parent = dir.parent().expect("opt_dir has a parent");
            match fs::rename(&tmp, parent) {
                Ok(()) => Ok(()),
                // Merged meanwhile by another caller: theirs is the same.
                Err(_) if dir.is_dir() => Ok(()),
                Err(e) => Err(e),
            }
        })();
        let _ = fs::remove_dir_all(&tmp);
        result.map(|()| dir)
    }

    /// Removes a package no record uses any more, unless something holds it: then the
    /// removal waits for the last lease ([`Leases::try_remove`]) and this returns
    /// `Ok(false)`. `before` runs first, with no lease taken meanwhile (the launcher lets go
    /// of the package's mount there). Blocking.
    pub fn remove(&self, id: &str, before: impl FnOnce()) -> io::Result<bool> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a package id",
            ));
        }
        // Renamed away first, so that no reader ever sees a half-deleted tree and a new
        // upload of the same bytes extracts afresh.
        let doomed = self.root.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let mut renamed = Ok(());
        let removed = self.leases.try_remove(id, || {
            before();
            renamed = fs::rename(self.root.join(id), &doomed);
        });
        if !removed {
            return Ok(false);
        }
        renamed?;
        fs::remove_dir_all(doomed)?;
        Ok(true)
    }
}

/// Copies the tree `from` into `to`, replacing what is there (files, links, modes kept).
fn copy_over(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(&target)?;
            }
            fs::create_dir_all(&target)?;
            fs::set_permissions(&target, entry.metadata()?.permissions())?;
            copy_over(&entry.path(), &target)?;
        } else {
            if let Ok(m) = target.symlink_metadata() {
                if m.is_dir() {
                    fs::remove_dir_all(&target)?;
                } else {
                    fs::remove_file(&target)?;
                }
            }
            if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
            } else {
                fs::copy(entry.path(), &target)?;
            }
        }
    }
    Ok(())
}

fn read_size(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join(UNZIPPED_SIZE_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::tests::make_zip;

    #[test]
    fn identical_zips_are_stored_once_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path()).unwrap();
        let zip = make_zip(&[(
            "app.py",
            b"def handler(e, c):\n    return e\n",
            0o644,
            false,
        )]);
        let (a, lease_a) = store.put(&zip).unwrap();
        let (b, lease_b) = store.put(&zip).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id.len(), 64);
        assert!(store.task_dir(&a.id).join("app.py").is_file());
        assert_eq!(fs::read(store.zip_path(&a.id)).unwrap(), zip);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let evil = make_zip(&[
            ("ok.txt", b"fine", 0o644, false),
            ("../evil", b"x", 0o644, false),
        ]);
        assert!(store.put(&evil).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");

        // Held by both uploads: the removal waits for them.
        assert!(!store.remove(&a.id, || {}).unwrap());
        assert!(store.contains(&a.id));
        drop((lease_a, lease_b));
        assert!(store.remove(&a.id, || {}).unwrap());
        assert!(!store.contains(&a.id));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
