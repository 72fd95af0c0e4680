//! A sandbox's `/tmp` on disk, as Lambda's is: a sparse ext4 image of the function's
//! ephemeral storage size on a loop device (direct I/O, so its blocks are not cached twice),
//! mounted by the sandbox itself. Files written there are page cache the kernel can write
//! back and reclaim, so they do not count against the function's memory as a tmpfs would,
//! and the image bounds them to the configured size.
//!
//! An image is a sparse copy of an empty file system made once per size (a template, kept
//! under `templates/`), attached with `LOOP_CONFIGURE` and unlinked at once: no process is
//! started, and nothing is left to clean up. The loop device is set to clear itself, so it
//! and its image go when the last of its users does: the [`Scratch`] (its open device) and
//! the sandbox's mount. That holds however the server ends.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{SANDBOX_GID, SANDBOX_UID};

/// One sandbox's `/tmp`: an open loop device holding its (unlinked) image.
#[derive(Debug)]
pub struct Scratch {
    device: fs::File,
    path: PathBuf,
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
        let template = template(dir, mb.max(1))?;
        let image = dir.join(format!("{}.img", uuid::Uuid::new_v4().simple()));
        let attached = copy_sparse(&template, &image).and_then(|()| attach(&image));
        // Held by the loop device from here on; its blocks go when the device does.
        let _ = fs::remove_file(&image);
        let (device, path) = attached?;
        Ok(Scratch { device, path, mb })
    }

    /// The loop device's path, for a sandbox that mounts it before it leaves the host's
    /// `/dev`.
    pub fn device(&self) -> &Path {
        &self.path
    }

    /// The open loop device, for a sandbox that is handed it.
    pub fn file(&self) -> &fs::File {
        &self.device
    }

    /// Its size in MiB.
    pub fn mb(&self) -> u32 {
        self.mb
    }
}

/// The empty file system of `mb` MiB that images are copied from, made on first use, once:
/// the first launches of a burst all ask for it, and each would otherwise run its own
/// `mkfs.ext4` and `dumpe2fs` for the same file.
fn template(dir: &Path, mb: u32) -> io::Result<PathBuf> {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let templates = dir.join("templates");
    let path = templates.join(format!("{mb}.img"));
    if path.exists() {
        return Ok(path);
    }
    let _turn = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    // Made by whoever had the turn before.
    if path.exists() {
        return Ok(path);
    }
    fs::create_dir_all(&templates)?;
    let tmp = templates.join(format!("{mb}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let made = make_filesystem(&tmp, mb).and_then(|()| fs::rename(&tmp, &path));
    if made.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    made.map(|()| path)
}

/// Copies the data of sparse file `from` to a new file `to` of the same length, leaving its
/// holes holes (an empty file system is a few hundred KiB of metadata in a large image).
fn copy_sparse(from: &Path, to: &Path) -> io::Result<()> {
    use nix::unistd::{Whence, lseek};
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut src = fs::File::open(from)?;
    let len = src.metadata()?.len();
    let mut dst = fs::File::create(to)?;
    dst.set_len(len)?;
    let mut at: i64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    while (at as u64) < len {
        let start = match lseek(&src, at, Whence::SeekData) {
            Ok(start) => start,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let end = lseek(&src, start, Whence::SeekHole)?;
        src.seek(SeekFrom::Start(start as u64))?;
        dst.seek(SeekFrom::Start(start as u64))?;
        let mut left = (end - start) as u64;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = src.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            dst.write_all(&buf[..n])?;
            left -= n as u64;
        }
        at = end;
    }
    Ok(())
}

// The loop driver's interface (linux/loop.h).
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_DIRECT_IO: u32 = 16;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// Attaches `image` to a free loop device that clears itself once unused; direct I/O where
/// the host's file system allows it.
fn attach(image: &Path) -> io::Result<(fs::File, PathBuf)> {
    let backing = fs::OpenOptions::new().read(true).write(true).open(image)?;
    let control = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")?;
    // The driver names the same free device to every caller until one configures it: the
    // launches of a burst, asking at once, took each other's devices until their tries ran
    // out. Ours take turns; another process may still take a device first.
    static ATTACHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ATTACHING.lock().unwrap_or_else(|p| p.into_inner());
    let mut last = io::Error::other("no free loop device");
    for _ in 0..8 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number or -1.
        let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let path = PathBuf::from(format!("/dev/loop{n}"));
        let device = fs::OpenOptions::new().read(true).write(true).open(&path)?;
        for flags in [LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO, LO_FLAGS_AUTOCLEAR] {
            let mut config = LoopConfig {
                fd: backing.as_raw_fd() as u32,
                block_size: 0,
                // SAFETY: an all-zero loop_info64 is valid: it names no file and no cipher.
                info: unsafe { std::mem::zeroed() },
                reserved: [0; 8],
            };
            config.info.lo_flags = flags;
            // SAFETY: LOOP_CONFIGURE reads one loop_config, which `config` is, laid out as
            // the kernel's; the kernel takes its own reference to the backing file.
            let rc = unsafe {
                libc::ioctl(
                    device.as_raw_fd(),
                    LOOP_CONFIGURE as _,
                    &config as *const LoopConfig,
                )
            };
            if rc == 0 {
                return Ok((device, path));
            }
            last = io::Error::last_os_error();
            // EBUSY: taken meanwhile, try another device; EINVAL: no direct I/O here.
            if last.raw_os_error() == Some(libc::EBUSY) {
                break;
            }
        }
    }
    Err(last)
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

/// Removes the image files a server that did not finish making them left in `dir` (images
/// are unlinked once attached; their loop devices clear themselves). Templates stay.
pub fn sweep(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
    for entry in fs::read_dir(dir.join("templates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether disk-backed `/tmp`s can be made here (root, e2fsprogs and losetup).
pub fn available() -> bool {
    crate::image::available() && crate::image::tool("losetup")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_template_asked_for_at_once_is_made_once() {
        if !crate::image::tool("mkfs.ext4") || !crate::image::tool("dumpe2fs") {
            eprintln!("skipped: e2fsprogs is not installed");
            return;
        }
        let dir = std::env::temp_dir().join(format!("lamina-template-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Each caller notes the file it was given as soon as it has it: had several made it,
        // later renames would have replaced what earlier ones were given.
        let inodes: Vec<u64> = std::thread::scope(|s| {
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let path = template(&dir, 1).unwrap();
                        fs::metadata(path).unwrap().ino()
                    })
                })
                .collect();
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert!(
            inodes.iter().all(|i| *i == inodes[0]),
            "every caller got the one image made: {inodes:?}"
        );
        let left: Vec<_> = fs::read_dir(dir.join("templates"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            left,
            [std::ffi::OsString::from("1.img")],
            "nothing else left"
        );
    }

    #[test]
    fn a_burst_of_scratches_all_get_a_loop_device() {
        if !available() || !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root, e2fsprogs and loop devices");
            return;
        }
        let dir = std::env::temp_dir().join(format!("lamina-scratches-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // As a burst's launches ask: all at once, each from its own thread.
        let made: Vec<io::Result<Scratch>> = std::thread::scope(|s| {
            let makers: Vec<_> = (0..32)
                .map(|_| s.spawn(|| Scratch::create(&dir, 1)))
                .collect();
            makers.into_iter().map(|m| m.join().unwrap()).collect()
        });
        let devices: std::collections::BTreeSet<_> = made
            .iter()
            .map(|m| match m {
                Ok(scratch) => scratch.device().to_path_buf(),
                Err(e) => panic!("a scratch of the burst got no device: {e}"),
            })
            .collect();
        assert_eq!(devices.len(), 32, "each its own device");
        drop(made);
        fs::remove_dir_all(&dir).unwrap();
    }
}
