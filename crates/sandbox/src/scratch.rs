//! A sandbox's `/tmp` on disk, as Lambda's is: a sparse ext4 image of the function's
//! ephemeral storage size on a loop device (direct I/O, so its blocks are not cached twice),
//! mounted by the sandbox itself. Files written there are page cache the kernel can write
//! back and reclaim, so they do not count against the function's memory as a tmpfs would,
//! and the image bounds them to the configured size.
//!
//! Images are made in the sandbox pools, off the invocation path; one is detached and
//! deleted when its [`Scratch`] is dropped. A server that died leaves images and loop
//! devices behind: [`sweep`] removes them at the next start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{SANDBOX_GID, SANDBOX_UID};

/// One sandbox's `/tmp` image and the loop device it is attached to.
#[derive(Debug)]
pub struct Scratch {
    image: PathBuf,
    device: PathBuf,
    mb: u32,
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Scratch {
    /// Makes an empty `/tmp` of `mb` MiB in `dir` and attaches it to a free loop device.
    pub fn create(dir: &Path, mb: u32) -> io::Result<Scratch> {
        fs::create_dir_all(dir)?;
        let image = dir.join(format!("{}.img", uuid::Uuid::new_v4().simple()));
        let made = (|| {
            make_filesystem(&image, mb.max(1))?;
            // Direct I/O keeps the image's blocks out of the host's page cache; where the
            // host's file system refuses it, a plain attachment still works.
            run(Command::new("losetup")
                .args(["--direct-io=on", "--find", "--show"])
                .arg(&image))
            .or_else(|_| {
                run(Command::new("losetup")
                    .args(["--find", "--show"])
                    .arg(&image))
            })
        })();
        match made {
            Ok(device) => Ok(Scratch {
                image,
                device: PathBuf::from(device),
                mb,
            }),
            Err(e) => {
                let _ = fs::remove_file(&image);
                Err(e)
            }
        }
    }

    /// The loop device, for the sandbox to mount.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Its size in MiB.
    pub fn mb(&self) -> u32 {
        self.mb
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // While the sandbox still has it mounted, the kernel detaches the device once the
        // last mount goes (autoclear); the image's blocks go with its last user.
        let _ = run(Command::new("losetup").arg("-d").arg(&self.device));
        let _ = fs::remove_file(&self.image);
    }
}

/// Makes an ext4 file system at `image` that offers `mb` MiB, as `df` counts them (its
/// metadata comes on top, as a tmpfs of that size would offer it all): the image is grown
/// by what the metadata of the previous try took, until it fits (once, in practice).
fn make_filesystem(image: &Path, mb: u32) -> io::Result<()> {
    const BLOCK: u64 = 4096;
    let want = u64::from(mb) * (1 << 20) / BLOCK;
    // One inode per 16 KiB offered, mkfs's usual ratio, fixed so that growing the image
    // does not grow the inode tables too.
    let inodes = (u64::from(mb) * 64).max(64);
    let mut blocks = want;
    for _ in 0..4 {
        fs::File::create(image)?.set_len(blocks * BLOCK)?;
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096", "-m", "0"])
            .args(["-O", "^has_journal,^resize_inode", "-L", "lamina-tmp"])
            .arg("-N")
            .arg(inodes.to_string())
            .arg("-E")
            .arg(format!(
                "lazy_itable_init=1,nodiscard,root_owner={SANDBOX_UID}:{SANDBOX_GID}"
            ))
            .arg(image))?;
        let Some(overhead) = overhead_blocks(image) else {
            return Ok(());
        };
        if blocks.saturating_sub(overhead) >= want {
            return Ok(());
        }
        blocks = want + overhead;
    }
    Ok(())
}

/// The blocks an ext4 image's metadata takes, as its superblock records them.
fn overhead_blocks(image: &Path) -> Option<u64> {
    let header = run(Command::new("dumpe2fs").arg("-h").arg(image)).ok()?;
    header
        .lines()
        .find_map(|l| l.strip_prefix("Overhead clusters:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Detaches every loop device whose image lies in `dir` and removes the images: what a
/// server that did not stop cleanly left. Only for a directory no running server uses.
pub fn sweep(dir: &Path) {
    let Ok(dir) = dir.canonicalize() else {
        return;
    };
    for entry in fs::read_dir("/sys/block").into_iter().flatten().flatten() {
        let Ok(backing) = fs::read_to_string(entry.path().join("loop/backing_file")) else {
            continue;
        };
        if Path::new(backing.trim()).starts_with(&dir) {
            let device = Path::new("/dev").join(entry.file_name());
            let _ = run(Command::new("losetup").arg("-d").arg(device));
        }
    }
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let _ = fs::remove_file(entry.path());
    }
}

/// Whether disk-backed `/tmp`s can be made here (root, e2fsprogs and losetup).
pub fn available() -> bool {
    crate::image::available() && crate::image::tool("losetup")
}
