//! Package images: a function's code as a read-only ext4 image, loop-mounted once per
//! package and bound into its sandboxes at `/var/task`.
//!
//! A bind mount of a directory shows its source path in the sandbox's
//! `/proc/self/mountinfo`; a filesystem of its own shows only `/`. Images are built with
//! e2fsprogs (`mkfs.ext4 -d` populates the image from a directory without root, `debugfs`
//! removes the `lost+found` that ext4 always creates) and mounted with `mount -o loop`
//! (root only). Where any of that is unavailable, the caller binds the directory instead.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Bytes and entries of a tree.
fn measure(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            entries += 1;
            bytes += meta.len();
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok((bytes, entries))
}

/// Builds `image` from the tree at `dir` (atomically: a partial image never has the final
/// name).
pub fn build(dir: &Path, image: &Path) -> io::Result<()> {
    let (bytes, entries) = measure(dir)?;
    // Every file takes at least a block, plus metadata; leave a margin.
    let size = ((bytes + entries * 4096) * 6 / 5 + (4 << 20)).div_ceil(4096) * 4096;
    let tmp = image.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let result = run(Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-b",
            "4096",
            "-m",
            "0",
            "-O",
            "^has_journal",
            "-L",
            "lamina-task",
        ])
        .arg("-N")
        .arg((entries + 64).to_string())
        .arg("-d")
        .arg(dir)
        .arg(&tmp)
        .arg(format!("{}k", size / 1024)))
    .and_then(|()| {
        run(Command::new("debugfs")
            .args(["-w", "-R", "rmdir lost+found"])
            .arg(&tmp))
    })
    .and_then(|()| fs::rename(&tmp, image));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Mounts `image` read-only at `at` (created if needed).
pub fn mount(image: &Path, at: &Path) -> io::Result<()> {
    fs::create_dir_all(at)?;
    run(Command::new("mount")
        .args(["-o", "loop,ro,nodev,nosuid"])
        .arg(image)
        .arg(at))
}

/// Detaches the mount at `at` (lazily: sandboxes that use it keep it alive until they end)
/// and removes the mount point.
pub fn unmount(at: &Path) {
    let _ = run(Command::new("umount").arg("-l").arg(at));
    let _ = fs::remove_dir(at);
}

/// Whether images can be built and mounted here.
pub fn available() -> bool {
    let root = nix::unistd::geteuid().is_root();
    root && ["mkfs.ext4", "debugfs", "mount", "umount"]
        .iter()
        .all(|t| tool(t))
}

/// Whether the command `name` is on the PATH (or in the sbin directories).
pub(crate) fn tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(name).exists())
        })
        .unwrap_or(false)
}
