//! Finding the JVMs a host offers for the `javaN` runtimes: each `java` on the usual paths
//! and under `/usr/lib/jvm` (a distribution's JDKs side by side), its home and its major
//! version read from the home's `release` file, so that no JVM is started to ask.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// `major version → java executable` for every JVM found under `dirs` (executables named
/// `java`) and in the homes under `/usr/lib/jvm`; the first found of each version wins.
pub(crate) fn find(dirs: &[PathBuf]) -> BTreeMap<u32, PathBuf> {
    let mut found = BTreeMap::new();
    let mut candidates: Vec<PathBuf> = dirs.iter().map(|d| d.join("java")).collect();
    if let Ok(entries) = fs::read_dir("/usr/lib/jvm") {
        let mut homes: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        homes.sort();
        candidates.extend(homes.into_iter().map(|h| h.join("bin/java")));
    }
    for candidate in candidates {
        if let Some((major, java)) = identify(&candidate) {
            found.entry(major).or_insert(java);
        }
    }
    found
}

/// The major version and real path of the JVM that `java` (maybe a link) starts.
pub(crate) fn identify(java: &Path) -> Option<(u32, PathBuf)> {
    let real = fs::canonicalize(java).ok()?;
    if !super::runtimes::is_executable(&real) {
        return None;
    }
    let home = real.parent()?.parent()?;
    let release = fs::read_to_string(home.join("release")).ok()?;
    Some((major_of_release(&release)?, real))
}

/// The major version in a JDK's `release` file (`JAVA_VERSION="17.0.15"`, `"1.8.0_402"`).
fn major_of_release(release: &str) -> Option<u32> {
    let version = release
        .lines()
        .find_map(|l| l.strip_prefix("JAVA_VERSION="))?
        .trim()
        .trim_matches('"');
    let mut parts = version.split(['.', '_', '-', '+']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version_of_a_release_file() {
        let modern = "IMPLEMENTOR=\"Debian\"\nJAVA_VERSION=\"17.0.15\"\nMODULES=\"java.base\"\n";
        assert_eq!(major_of_release(modern), Some(17));
        assert_eq!(major_of_release("JAVA_VERSION=\"21\"\n"), Some(21));
        assert_eq!(major_of_release("JAVA_VERSION=\"1.8.0_402\"\n"), Some(8));
        assert_eq!(major_of_release("JAVA_VERSION=\"25-ea\"\n"), Some(25));
        assert_eq!(major_of_release("IMPLEMENTOR=\"x\"\n"), None);
    }

    #[test]
    fn finds_a_jdk_by_its_home() {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir(home.path().join("bin")).unwrap();
        let java = home.path().join("bin/java");
        fs::write(&java, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&java, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(identify(&java), None, "no release file");
        fs::write(home.path().join("release"), "JAVA_VERSION=\"21.0.8\"\n").unwrap();
        let (major, path) = identify(&java).unwrap();
        assert_eq!(major, 21);
        assert_eq!(path, fs::canonicalize(&java).unwrap());
        let found = find(&[home.path().join("bin")]);
        assert_eq!(found.get(&21), Some(&path));
    }
}
