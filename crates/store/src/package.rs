//! Extraction of an untrusted deployment package into a directory.
//!
//! Every bound is checked against what is actually read, never against the sizes the zip
//! claims in its headers. Paths that would leave the root (`..`, absolute names, symlinks
//! pointing outside) are refused, not skipped. Symlinks are created only after every regular
//! file is written, so no write can ever pass through one.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use lamina_model::limits::{CODE_MAX_ENTRIES, CODE_UNZIPPED_MAX_BYTES, CODE_ZIPPED_MAX_BYTES};

/// Why a package was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The bytes are not a readable zip archive.
    #[error(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({0})"
    )]
    NotAZip(String),
    /// The zip is larger than Lambda's direct-upload limit.
    #[error("Zipped size must be smaller than {limit} bytes; the package is {size} bytes")]
    TooLargeZipped {
        /// Size of the zip.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Extracting would exceed the unzipped limit.
    #[error("Unzipped size must be smaller than {limit} bytes")]
    TooLargeUnzipped {
        /// The limit.
        limit: u64,
    },
    /// The zip has more entries than allowed.
    #[error("The package has {count} entries; at most {limit} are allowed")]
    TooManyEntries {
        /// Entries in the zip.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An entry's path or symlink target leaves the package root.
    #[error("The package entry '{entry}' is refused: {reason}")]
    UnsafeEntry {
        /// The entry's name as stored in the zip.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The data directory's file system is full (or over its quota).
    #[error("no space left to store the package under {path}")]
    NoSpace {
        /// The path being written.
        path: PathBuf,
    },
    /// Writing the extracted tree failed.
    #[error("could not write {path}: {source}")]
    Io {
        /// The path being written.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// Bounds applied while extracting; Lambda's quotas by default.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Largest zip accepted.
    pub zipped: u64,
    /// Largest total of extracted bytes.
    pub unzipped: u64,
    /// Most entries.
    pub entries: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            zipped: CODE_ZIPPED_MAX_BYTES,
            unzipped: CODE_UNZIPPED_MAX_BYTES,
            entries: CODE_MAX_ENTRIES,
        }
    }
}

/// Extracts `zip` into `dest` (which must exist and be empty), returning the number of bytes
/// written. On error `dest` may hold a partial tree: the caller removes it.
pub fn extract(zip: &[u8], dest: &Path, bounds: Bounds) -> Result<u64, PackageError> {
    if zip.len() as u64 > bounds.zipped {
        return Err(PackageError::TooLargeZipped {
            size: zip.len() as u64,
            limit: bounds.zipped,
        });
    }
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip))
        .map_err(|e| PackageError::NotAZip(e.to_string()))?;
    if archive.len() > bounds.entries {
        return Err(PackageError::TooManyEntries {
            count: archive.len(),
            limit: bounds.entries,
        });
    }
    let mut written: u64 = 0;
    let mut symlinks: Vec<(PathBuf, String, String)> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| PackageError::NotAZip(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| PackageError::NotAZip(e.to_string()))?
            .to_string();
        let rel = safe_relative(&name)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&rel);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            let name = name.clone();
            move |source| write_error(&name, &path, source)
        };
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(io_err(&target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        if entry.is_symlink() {
            let mut link = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut link)
                .map_err(|_| PackageError::UnsafeEntry {
                    entry: name.clone(),
                    reason: "symlink target is not text",
                })?;
            symlinks.push((rel, link, name));
            continue;
        }
        let mode = readable_mode(entry.unix_mode());
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&target)
            .map_err(io_err(&target))?;
        let remaining = bounds.unzipped - written;
        let n = copy_bounded(&mut entry, &mut out, remaining).map_err(|e| match e {
            CopyError::Bound => PackageError::TooLargeUnzipped {
                limit: bounds.unzipped,
            },
            CopyError::Read(e) => PackageError::NotAZip(format!("entry '{name}': {e}")),
            CopyError::Write(e) => write_error(&name, &target, e),
        })?;
        written += n;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
    }
    let outside = |name: &str| PackageError::UnsafeEntry {
        entry: name.to_string(),
        reason: "symlink points outside the package",
    };
    for (rel, link, name) in &symlinks {
        let resolved = rel.parent().unwrap_or(Path::new("")).join(link);
        if link.is_empty() || Path::new(link).is_absolute() || escapes(&resolved) {
            return Err(outside(name));
        }
        let target = dest.join(rel);
        if target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            let _ = fs::remove_file(&target);
        }
        std::os::unix::fs::symlink(link, &target).map_err(|e| write_error(name, &target, e))?;
    }
    // Each link alone stays inside, but chains may not (`d/l1 -> ..` then
    // `l2 -> d/l1/../x`): with every link in place, resolve each as the kernel would.
    for (rel, _, name) in &symlinks {
        if !resolves_inside(dest, rel) {
            return Err(outside(name));
        }
    }
    Ok(written)
}

/// An error writing `path` for the entry `name`: the entry's fault (a name too long for the
/// file system, a file and a directory sharing a name) is refused naming it; a full disk is
/// [`PackageError::NoSpace`]; anything else is the platform's.
fn write_error(name: &str, path: &Path, source: io::Error) -> PackageError {
    let refused = |reason| PackageError::UnsafeEntry {
        entry: name.to_string(),
        reason,
    };
    match source.raw_os_error() {
        Some(libc::ENAMETOOLONG) => refused("its name is too long for a file system"),
        Some(libc::ENOTDIR | libc::EISDIR | libc::EEXIST | libc::ENOTEMPTY) => {
            refused("a file, a directory or a symlink of the package already has this name")
        }
        Some(libc::ELOOP) => refused("its path passes through a symlink"),
        _ => PackageError::io(path, source),
    }
}

impl PackageError {
    /// A failed write of `path`: [`PackageError::NoSpace`] when the disk is full, else
    /// [`PackageError::Io`].
    pub fn io(path: &Path, source: io::Error) -> PackageError {
        match source.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => PackageError::NoSpace {
                path: path.to_path_buf(),
            },
            _ => PackageError::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// The mode of an extracted file: what the zip says, made readable by everyone (and
/// executable by everyone if its owner could execute it). Functions run as an unprivileged
/// user, and Lambda fails with "Permission denied" on packages whose files are not
/// world-readable, a common trap (Python's `zipfile.writestr` stores 0600); Lamina's tree
/// is its own and read-only to functions, so it simply makes them readable.
fn readable_mode(zip_mode: Option<u32>) -> u32 {
    let mode = zip_mode
        .map(|m| m & 0o777)
        .filter(|m| *m != 0)
        .unwrap_or(0o644);
    let exec = if mode & 0o100 != 0 { 0o111 } else { 0 };
    mode | 0o444 | exec
}

/// The entry name as a relative path with only normal components, or why it is unsafe.
fn safe_relative(name: &str) -> Result<PathBuf, PackageError> {
    let unsafe_entry = |reason| PackageError::UnsafeEntry {
        entry: name.to_string(),
        reason,
    };
    if name.contains('\0') {
        return Err(unsafe_entry("the name contains a NUL byte"));
    }
    // Zips written on Windows may use backslashes; treat them as separators so that
    // `..\\..\\x` cannot slip past the component check.
    let normalized = name.replace('\\', "/");
    if normalized.starts_with('/') || normalized.as_bytes().get(1) == Some(&b':') {
        return Err(unsafe_entry("absolute paths are not allowed"));
    }
    if normalized.len() >= PATH_MAX {
        return Err(unsafe_entry("its path is longer than 4,095 bytes"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(&normalized).components() {
        match c {
            Component::Normal(part) if part.len() > NAME_MAX => {
                return Err(unsafe_entry("a name in its path is longer than 255 bytes"));
            }
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry("'..' is not allowed in entry names")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry("absolute paths are not allowed"));
            }
        }
    }
    Ok(out)
}

/// Linux's longest file name and path (with its NUL).
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;
/// Symlinks the kernel follows in one lookup before giving up (ELOOP).
const MAX_LINKS: usize = 40;

/// Whether `rel` (a path inside `root`), looked up as the kernel would with `root` as `/`,
/// following every symlink on the way (chains included, at most [`MAX_LINKS`]), never climbs
/// above `root` and ends nowhere absolute. Components that do not exist are taken lexically:
/// the tree is read-only, so they can never appear.
fn resolves_inside(root: &Path, rel: &Path) -> bool {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let mut pending: VecDeque<Option<OsString>> = VecDeque::new();
    let push_front = |pending: &mut VecDeque<Option<OsString>>, path: &Path| -> bool {
        for c in path.components().rev() {
            match c {
                Component::Normal(n) => pending.push_front(Some(n.to_os_string())),
                Component::ParentDir => pending.push_front(None),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => return false,
            }
        }
        true
    };
    push_front(&mut pending, rel);
    let mut at = root.to_path_buf();
    let mut depth = 0usize;
    let mut links = 0usize;
    while let Some(next) = pending.pop_front() {
        let Some(name) = next else {
            if depth == 0 {
                return false;
            }
            at.pop();
            depth -= 1;
            continue;
        };
        let candidate = at.join(&name);
        match fs::read_link(&candidate) {
            Ok(target) => {
                links += 1;
                if links > MAX_LINKS || !push_front(&mut pending, &target) {
                    return false;
                }
            }
            Err(_) => {
                at = candidate;
                depth += 1;
            }
        }
    }
    true
}

/// Whether a relative path, resolved lexically, climbs above its root.
fn escapes(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

enum CopyError {
    Bound,
    Read(io::Error),
    Write(io::Error),
}

fn copy_bounded(r: &mut impl Read, w: &mut impl Write, limit: u64) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(CopyError::Bound);
        }
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    /// Builds a zip from (name, contents, unix mode, is_symlink) entries.
    pub(crate) fn make_zip(entries: &[(&str, &[u8], u32, bool)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data, mode, link) in entries {
            let opts = SimpleFileOptions::default().unix_permissions(*mode);
            if *link {
                w.add_symlink(*name, std::str::from_utf8(data).unwrap(), opts)
                    .unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn run(zip: &[u8]) -> Result<(tempfile::TempDir, u64), PackageError> {
        let dir = tempfile::tempdir().unwrap();
        let n = extract(zip, dir.path(), Bounds::default())?;
        Ok((dir, n))
    }

    #[test]
    fn extracts_files_modes_and_inner_symlinks() {
        let zip = make_zip(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755, false),
            ("lib/mod.py", b"x = 1\n", 0o644, false),
            ("link.py", b"lib/mod.py", 0o777, true),
        ]);
        let (dir, n) = run(&zip).unwrap();
        assert_eq!(n, 16);
        let mode = fs::metadata(dir.path().join("bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::read_to_string(dir.path().join("link.py")).unwrap(),
            "x = 1\n"
        );
    }

    #[test]
    fn files_are_readable_by_the_function_user() {
        assert_eq!(readable_mode(Some(0o600)), 0o644);
        assert_eq!(readable_mode(Some(0o700)), 0o755);
        assert_eq!(readable_mode(None), 0o644);
        assert_eq!(readable_mode(Some(0o100755)), 0o755);
    }

    #[test]
    fn refuses_zip_slip() {
        for (name, data, link) in [
            ("../evil", &b"x"[..], false),
            ("a/../../evil", b"x", false),
            ("/etc/evil", b"x", false),
            ("..\\evil", b"x", false),
            ("out", b"../../etc/passwd", true),
            ("abs", b"/etc/passwd", true),
            ("d/up", b"../../x", true),
        ] {
            let zip = make_zip(&[(name, data, 0o777, link)]);
            match run(&zip) {
                Err(PackageError::UnsafeEntry { .. }) => {}
                other => panic!("{name}: expected UnsafeEntry, got {:?}", other.map(|r| r.1)),
            }
        }
    }

    #[test]
    fn refuses_symlink_chains_that_leave_the_root() {
        // Each link alone resolves inside lexically; followed as the kernel does, l2 reaches
        // the parent of the package root.
        let zip = make_zip(&[
            ("d/e/f/l1", b"../../..", 0o777, true),
            ("l2", b"d/e/f/l1/../../../secret", 0o777, true),
        ]);
        match run(&zip) {
            Err(PackageError::UnsafeEntry { entry, .. }) => assert_eq!(entry, "l2"),
            other => panic!("expected UnsafeEntry, got {:?}", other.map(|r| r.1)),
        }
        // A loop is refused too; a chain that stays inside is kept.
        let looped = make_zip(&[("a", b"b", 0o777, true), ("b", b"a", 0o777, true)]);
        assert!(matches!(
            run(&looped),
            Err(PackageError::UnsafeEntry { .. })
        ));
        let fine = make_zip(&[
            ("d/e/f/x.txt", b"x", 0o644, false),
            ("d/e/f/l1", b"../..", 0o777, true),
            ("l2", b"d/e/f/l1/e/f/x.txt", 0o777, true),
        ]);
        let (dir, _) = run(&fine).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("l2")).unwrap(), "x");
    }

    #[test]
    fn entries_the_file_system_cannot_hold_are_refused_by_name() {
        let long = "n".repeat(256);
        let deep = format!("{}/f", ["d"; 2100].join("/"));
        for (entries, culprit) in [
            (
                vec![(long.as_str(), &b"x"[..], 0o644, false)],
                long.as_str(),
            ),
            (vec![(deep.as_str(), b"x", 0o644, false)], deep.as_str()),
            (
                vec![
                    ("same", b"x", 0o644, false),
                    ("same/inner", b"y", 0o644, false),
                ],
                "same/inner",
            ),
            (
                vec![("dir/f", b"x", 0o644, false), ("dir", b"f", 0o777, true)],
                "dir",
            ),
        ] {
            match run(&make_zip(&entries)) {
                Err(PackageError::UnsafeEntry { entry, .. }) => assert_eq!(entry, culprit),
                other => panic!(
                    "{culprit}: expected UnsafeEntry, got {:?}",
                    other.map(|r| r.1)
                ),
            }
        }
    }

    #[test]
    fn refuses_non_zip_and_bounds() {
        assert!(matches!(run(b"hello world"), Err(PackageError::NotAZip(_))));
        let dir = tempfile::tempdir().unwrap();
        let zip = make_zip(&[
            ("a", &[0u8; 1000], 0o644, false),
            ("b", &[0u8; 1000], 0o644, false),
        ]);
        let tight = Bounds {
            zipped: 1 << 20,
            unzipped: 1500,
            entries: 10,
        };
        assert!(matches!(
            extract(&zip, dir.path(), tight),
            Err(PackageError::TooLargeUnzipped { .. })
        ));
        let few = Bounds {
            zipped: 1 << 20,
            unzipped: 1 << 20,
            entries: 1,
        };
        assert!(matches!(
            extract(&zip, dir.path(), few),
            Err(PackageError::TooManyEntries { .. })
        ));
        let small = Bounds {
            zipped: 10,
            unzipped: 1 << 20,
            entries: 10,
        };
        assert!(matches!(
            extract(&zip, dir.path(), small),
            Err(PackageError::TooLargeZipped { .. })
        ));
    }
}
