//! The sandbox's filesystem: a fresh tmpfs root holding read-only binds of `/usr` (and the
//! merged-usr links), a short list of `/etc` entries, the function's code at `/var/task`,
//! the bootstraps at `/var/runtime`, a sized private `/tmp`, a minimal `/dev` and the
//! sandbox's own `/proc`. Everything but `/tmp` is read-only.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::pivot_root;

use crate::spec::SandboxSpec;
use crate::{SANDBOX_GID, SANDBOX_UID};

/// `/etc` entries a runtime may need: name resolution, TLS roots, the dynamic loader cache,
/// time zones, Debian's alternatives links, and its JDKs' configuration (a JDK's
/// `lib/jvm.cfg` links there: the JVM does not start without it). `/etc/hosts` is the
/// sandbox's own.
const ETC_ENTRIES: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "gai.conf",
    "host.conf",
    "java-11-openjdk",
    "java-17-openjdk",
    "java-21-openjdk",
    "java-25-openjdk",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
];

/// Host directories that may be links into `/usr` (merged-usr) or directories of their own.
const TOP_LEVEL: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Device nodes a runtime may open.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

fn err(what: &str, path: &Path, e: impl Into<io::Error>) -> io::Error {
    let e = e.into();
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn bind_ro(src: &Path, dst: &Path) -> io::Result<()> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("bind", src, e))?;
    seal(dst)
}

/// Remounts the mount at `dst` read-only, without set-uid programs.
fn seal(dst: &Path) -> io::Result<()> {
    // Inside a user namespace the flags the mount already has (nodev, noexec, atime, ...)
    // are locked: a remount must repeat them, so read them first.
    let mut flags =
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
    if let Ok(st) = nix::sys::statvfs::statvfs(dst) {
        use nix::sys::statvfs::FsFlags;
        for (have, keep) in [
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if st.flags().contains(have) {
                flags |= keep;
            }
        }
    }
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>)
        .map_err(|e| err("read-only remount of", dst, e))
}

fn tmpfs(dst: &Path, options: &str, flags: MsFlags) -> io::Result<()> {
    mount(Some("tmpfs"), dst, Some("tmpfs"), flags, Some(options))
        .map_err(|e| err("tmpfs at", dst, e))
}

/// Mounts `src` (a file or directory) at the same kind of node under `root`.
fn bind_entry(src: &Path, dst: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    if meta.file_type().is_symlink() {
        return symlink(fs::read_link(src)?, dst);
    }
    if meta.is_dir() {
        fs::create_dir_all(dst)?;
    } else {
        fs::write(dst, b"")?;
    }
    bind_ro(src, dst)
}

/// Copies the tree `src` into `dst`, files with their modification times.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src).map_err(|e| err("read", src, e))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            // One handle each way: the copy, its mode and its time through the same
            // descriptor (this runs for every file of every sandbox built).
            let from = entry.path();
            let mut input = fs::File::open(&from).map_err(|e| err("open", &from, e))?;
            let meta = input.metadata()?;
            let mut out = fs::File::create(&to).map_err(|e| err("create", &to, e))?;
            io::copy(&mut input, &mut out).map_err(|e| err("copy", &from, e))?;
            out.set_permissions(meta.permissions())?;
            // A class-data sharing archive names the jars it was made from by path, size
            // and modification time: the copy keeps the time, or the JVM ignores it.
            out.set_modified(meta.modified()?)
                .map_err(|e| err("set the time of", &to, e))?;
        }
    }
    Ok(())
}

fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Builds the root and pivots into it. Must run as root, in a fresh mount namespace and as
/// the first process of a fresh pid namespace (for `/proc`).
pub fn build_root(spec: &SandboxSpec) -> io::Result<()> {
    // Nothing mounted from here on may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| err("make private", Path::new("/"), e))?;
    let root = spec.root_mountpoint.as_path();
    // A limit, not an allocation: the runtime's files (with a Java runtime's class-data
    // sharing archive, about a megabyte) and the mount points.
    tmpfs(
        root,
        "size=4m,mode=0755",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    )?;
    for dir in [
        "usr",
        "etc",
        "var/task",
        "var/runtime",
        "tmp",
        "dev",
        "proc",
        "opt",
        ".oldroot",
    ] {
        fs::create_dir_all(root.join(dir)).map_err(|e| err("mkdir", &root.join(dir), e))?;
    }
    bind_ro(Path::new("/usr"), &root.join("usr"))?;
    for name in TOP_LEVEL {
        let host = Path::new("/").join(name);
        if fs::symlink_metadata(&host).is_ok() {
            bind_entry(&host, &root.join(name)).map_err(|e| err("top-level", &host, e))?;
        }
    }
    for name in ETC_ENTRIES {
        let host = Path::new("/etc").join(name);
        if fs::symlink_metadata(&host).is_ok() {
            bind_entry(&host, &root.join("etc").join(name))
                .map_err(|e| err("etc entry", &host, e))?;
        }
    }
    fs::write(
        root.join("etc/passwd"),
        format!(
            "root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user1051:x:{SANDBOX_UID}:{SANDBOX_GID}::/tmp:/usr/sbin/nologin\n"
        ),
    )?;
    // The sandbox's own names: its loopback is all its network, and `sandbox.localdomain`
    // is where Lambda's extensions listen for the Telemetry API.
    fs::write(
        root.join("etc/hosts"),
        "127.0.0.1\tlocalhost sandbox.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )?;
    fs::write(
        root.join("etc/group"),
        format!("root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\n"),
    )?;
    if let Some(task) = &spec.task_dir {
        bind_ro(task, &root.join("var/task"))?;
    }
    if let Some(opt) = &spec.opt_dir {
        bind_ro(opt, &root.join("opt"))?;
    }
    // The bootstraps are a few kilobytes: copied rather than bound, so that no host path
    // shows in the sandbox's mount table.
    copy_tree(&spec.runtime_dir, &root.join("var/runtime"))?;
    match &spec.tmp_device {
        Some(device) => mount_scratch(device, &root.join("tmp"))?,
        None => tmpfs(
            &root.join("tmp"),
            &format!("size={}m,mode=1777", spec.tmp_mb.max(1)),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        )?,
    }
    // After /tmp: an interpreter kept under the host's /tmp (a data directory there) would
    // be hidden by the sandbox's own.
    for extra in &spec.extra_ro {
        let dst = inside(root, extra);
        fs::create_dir_all(&dst).map_err(|e| err("mkdir", &dst, e))?;
        bind_ro(extra, &dst)?;
    }
    let dev = root.join("dev");
    tmpfs(
        &dev,
        "size=64k,mode=0755",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    )?;
    for name in DEVICES {
        let node = dev.join(name);
        fs::write(&node, b"")?;
        mount(
            Some(&Path::new("/dev").join(name)),
            &node,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err("bind device", &node, e))?;
    }
    symlink("/proc/self/fd", dev.join("fd"))?;
    for (i, name) in ["stdin", "stdout", "stderr"].iter().enumerate() {
        symlink(format!("/proc/self/fd/{i}"), dev.join(name))?;
    }
    mount(
        Some("proc"),
        &root.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| err("proc at", &root.join("proc"), e))?;

    pivot_root(root, &root.join(".oldroot")).map_err(|e| err("pivot_root to", root, e))?;
    std::env::set_current_dir("/")?;
    umount2("/.oldroot", MntFlags::MNT_DETACH)
        .map_err(|e| err("detach", Path::new("/.oldroot"), e))?;
    fs::remove_dir("/.oldroot")?;
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| err("read-only root", Path::new("/"), e))
}

// The new mount API's flags (linux/mount.h); stable kernel ABI since Linux 5.2.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// A detached copy of the mount (or directory) at `path` and the mounts under it, as a
/// descriptor: it can cross into a sandbox whose root no longer shows `path` and be attached
/// there with [`attach_tree`]. Needs `CAP_SYS_ADMIN`.
pub fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: open_tree reads a NUL-terminated path that outlives the call and returns a new
    // descriptor or -1; it touches no memory of ours otherwise.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(err("clone mount", path, io::Error::last_os_error()));
    }
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches a tree from [`clone_tree`] at `target`, read-only and without set-uid programs.
pub fn attach_tree(tree: &OwnedFd, target: &Path) -> io::Result<()> {
    let to = CString::new(target.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let empty = c"";
    // SAFETY: move_mount reads two NUL-terminated paths that outlive the call; the source is
    // the descriptor itself (empty path), which we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(err("attach mount at", target, io::Error::last_os_error()));
    }
    seal(target)
}

/// Mounts a disk-backed `/tmp` ([`crate::scratch`]) from `device` at `at`, as Lambda's
/// `/tmp` looks: empty, writable by everyone, sticky.
fn mount_scratch(device: &Path, at: &Path) -> io::Result<()> {
    mount(
        Some(device),
        at,
        Some("ext4"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| err("mount /tmp from", device, e))?;
    fs::set_permissions(at, std::os::unix::fs::PermissionsExt::from_mode(0o1777))?;
    let _ = fs::remove_dir(at.join("lost+found"));
    Ok(())
}

/// Replaces the sandbox's `/tmp` with the disk-backed one on `device` (an open descriptor
/// of it), from inside, after the root is built.
pub fn replace_tmp(device: &OwnedFd) -> io::Result<()> {
    umount2("/tmp", MntFlags::MNT_DETACH).map_err(|e| err("unmount", Path::new("/tmp"), e))?;
    let source = PathBuf::from(format!("/proc/self/fd/{}", device.as_raw_fd()));
    mount_scratch(&source, Path::new("/tmp"))
}

/// Resizes the sandbox's `/tmp` (from inside, after the root is built).
pub fn resize_tmp(mb: u32) -> io::Result<()> {
    mount(
        None::<&str>,
        "/tmp",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("size={}m,mode=1777", mb.max(1)).as_str()),
    )
    .map_err(|e| err("resize", Path::new("/tmp"), e))
}
