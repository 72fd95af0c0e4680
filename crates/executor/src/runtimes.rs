//! The managed runtimes this host can run, and Lamina's bootstraps for them.
//!
//! `python3.N` runs Lamina's Python bootstrap under a host CPython 3.N; `nodejsN.x` runs the
//! Node bootstrap under a host Node.js N; `javaN` runs Lamina's Java runtime (compiled when
//! Lamina is built, see `build.rs`) under a JVM of major version N; `rubyX.Y` runs the Ruby
//! bootstrap under a host Ruby X.Y, or, where the host has none of that version, under its
//! newest Ruby X.* as a stand-in that says what it is (`AWS_EXECUTION_ENV`, `lamina
//! runtimes`); `provided*` runs the package's own `bootstrap`.
//! Interpreters are found once at start by scanning the usual install locations. Version
//! managers' shims are skipped: they are shell scripts that cost ~100 ms per start.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lamina_model::RuntimeId;
use lamina_model::runtime::ProvidedFlavor;

use crate::java_archives::JavaArchives;

/// Lamina's Python bootstrap, embedded so that one binary is the whole install.
pub const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
/// Lamina's Python zygote: the bootstrap loaded once, runtimes forked from it
/// (`lamina_sandbox::zygote`).
pub const PYTHON_ZYGOTE: &str = include_str!("../../../runtimes/python/zygote.py");
/// Lamina's Node.js bootstrap.
pub const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.cjs");
/// Lamina's Node.js zygote, which forks runtimes as the Python one does.
pub const NODE_ZYGOTE: &str = include_str!("../../../runtimes/node/zygote.cjs");
/// The Node-API module the Node.js zygote makes its system calls with (`runtimes/node/native`,
/// built by `build.rs`); empty when Lamina was built without a C compiler, and then Node.js
/// runtimes are started rather than forked.
pub const NODE_ZYGOTE_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lamina-zygote.node"));
/// Lamina's Java runtime, `runtimes/java/src` compiled by `build.rs`; empty when Lamina was
/// built without a JDK.
pub const JAVA_RUNTIME_JAR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lamina-runtime.jar"));
/// The JNI library with which a JVM started ahead of time becomes its function's runtime
/// (`runtimes/java/native`, built by `build.rs`); empty when Lamina was built without a C
/// compiler or the JDK's headers, and then Java runtimes are not started ahead of time.
pub const JAVA_AWAIT_LIBRARY: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/liblamina-await.so"));
/// The JVM's launcher for the Java runtime: Lambda's default flags and heap.
pub const JAVA_BOOTSTRAP: &str = include_str!("../../../runtimes/java/bootstrap.sh");
/// Lamina's Ruby bootstrap.
pub const RUBY_BOOTSTRAP: &str = include_str!("../../../runtimes/ruby/bootstrap.rb");
/// Lamina's launcher of external extensions, which then becomes the runtime.
pub const EXTENSIONS_LAUNCHER: &str = include_str!("../../../runtimes/extensions/launch.sh");

/// How to start an environment of some runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Directory of the interpreter, put first on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// The runtime this interpreter really is, when it stands in for the one asked for (a
    /// host's Ruby 3.1 for `ruby3.3`): `AWS_EXECUTION_ENV` names it.
    pub actual: Option<RuntimeId>,
    /// The runtime directory (`/var/runtime`) it runs from, when not the catalog's: a Java
    /// runtime's with its class-data sharing archive (see `java_archives.rs`).
    pub runtime_dir: Option<PathBuf>,
}

/// Why an environment cannot be started for a runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The host has no interpreter for this runtime.
    #[error("The runtime {runtime} is not available on this Lamina host. Available runtimes: {}", available.join(", "))]
    Unavailable {
        /// What was asked for.
        runtime: String,
        /// What this host offers.
        available: Vec<String>,
    },
    /// A `provided` package without an executable `bootstrap`.
    #[error("Couldn't find valid bootstrap(s): [{}]", path.display())]
    NoBootstrap {
        /// Where it was looked for.
        path: PathBuf,
    },
}

/// The interpreters found on this host and where the bootstraps were written.
#[derive(Debug, Clone)]
pub struct RuntimeCatalog {
    runtime_dir: PathBuf,
    python: BTreeMap<u32, PathBuf>,
    node: BTreeMap<u32, PathBuf>,
    java: BTreeMap<u32, PathBuf>,
    ruby: BTreeMap<(u32, u32), PathBuf>,
    java_archives: Option<Arc<JavaArchives>>,
}

impl RuntimeCatalog {
    /// Writes the bootstraps into `runtime_dir` and scans the host for interpreters.
    pub fn detect(runtime_dir: &Path) -> io::Result<RuntimeCatalog> {
        let mut catalog =
            RuntimeCatalog::with_interpreters(runtime_dir, BTreeMap::new(), BTreeMap::new())?;
        for dir in search_dirs() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for name in names {
                let name = name.to_string_lossy();
                if let Some(minor) = name
                    .strip_prefix("python3.")
                    .and_then(|m| m.parse::<u32>().ok())
                {
                    let path = dir.join(&*name);
                    if is_executable(&path) {
                        catalog.python.entry(minor).or_insert(path);
                    }
                }
                // Debian names its Ruby X.Y `rubyX.Y`, as it does Python.
                if let Some((Ok(major), Ok(minor))) = name
                    .strip_prefix("ruby")
                    .and_then(|v| v.split_once('.'))
                    .map(|(a, b)| (a.parse::<u32>(), b.parse::<u32>()))
                {
                    let path = dir.join(&*name);
                    if is_executable(&path) {
                        catalog.ruby.entry((major, minor)).or_insert(path);
                    }
                }
            }
            for name in ["node", "nodejs"] {
                let path = dir.join(name);
                if is_executable(&path)
                    && let Some(major) = node_major(&path)
                {
                    catalog.node.entry(major).or_insert(path);
                }
            }
        }
        if !JAVA_RUNTIME_JAR.is_empty() {
            catalog.java = crate::jdk::find(&search_dirs());
        }
        Ok(catalog)
    }

    /// A catalog with the given interpreters (tests, and explicit configuration).
    pub fn with_interpreters(
        runtime_dir: &Path,
        python: BTreeMap<u32, PathBuf>,
        node: BTreeMap<u32, PathBuf>,
    ) -> io::Result<RuntimeCatalog> {
        for (sub, file, bytes) in [
            ("python", "bootstrap.py", PYTHON_BOOTSTRAP.as_bytes()),
            ("python", "zygote.py", PYTHON_ZYGOTE.as_bytes()),
            ("node", "bootstrap.cjs", NODE_BOOTSTRAP.as_bytes()),
            ("node", "zygote.cjs", NODE_ZYGOTE.as_bytes()),
            ("node", "lamina-zygote.node", NODE_ZYGOTE_MODULE),
            ("java", "bootstrap.sh", JAVA_BOOTSTRAP.as_bytes()),
            ("java", "lamina-runtime.jar", JAVA_RUNTIME_JAR),
            ("java", "liblamina-await.so", JAVA_AWAIT_LIBRARY),
            ("ruby", "bootstrap.rb", RUBY_BOOTSTRAP.as_bytes()),
            ("extensions", "launch.sh", EXTENSIONS_LAUNCHER.as_bytes()),
        ] {
            let dir = runtime_dir.join(sub);
            fs::create_dir_all(&dir)?;
            let path = dir.join(file);
            if fs::read(&path).ok().as_deref() != Some(bytes) {
                let tmp = dir.join(format!(".{file}.tmp"));
                fs::write(&tmp, bytes)?;
                fs::rename(&tmp, &path)?;
            }
        }
        Ok(RuntimeCatalog {
            runtime_dir: runtime_dir.to_path_buf(),
            python,
            node,
            java: BTreeMap::new(),
            ruby: BTreeMap::new(),
            java_archives: None,
        })
    }

    /// The same catalog with Java runtimes started with class-data sharing archives kept
    /// under `dir` (made at each JVM's first use).
    pub fn with_java_archives(mut self, dir: &Path) -> RuntimeCatalog {
        self.java_archives = Some(Arc::new(JavaArchives::new(dir)));
        self
    }

    /// The same catalog with the interpreters `lamina runtimes install` put under
    /// `interpreters_dir` (one directory per runtime identifier: `nodejs22.x/bin/node`,
    /// `java21/bin/java`), which take precedence over the host's of the same version.
    pub fn with_installed(mut self, interpreters_dir: &Path) -> RuntimeCatalog {
        let Ok(entries) = fs::read_dir(interpreters_dir) else {
            return self;
        };
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(RuntimeId::parse) else {
                continue;
            };
            let home = entry.path();
            match id {
                RuntimeId::Node { major } => {
                    let node = home.join("bin/node");
                    if is_executable(&node) {
                        self.node.insert(major, node);
                    }
                }
                RuntimeId::Java { major } if !JAVA_RUNTIME_JAR.is_empty() => {
                    if let Some((found, java)) = crate::jdk::identify(&home.join("bin/java"))
                        && found == major
                    {
                        self.java.insert(major, java);
                    }
                }
                _ => {}
            }
        }
        self
    }

    /// Each managed runtime this host can run with the interpreter that runs it.
    pub fn interpreters(&self) -> Vec<(RuntimeId, PathBuf)> {
        let python = self
            .python
            .iter()
            .map(|(&minor, p)| (RuntimeId::Python { minor }, p.clone()));
        let node = self
            .node
            .iter()
            .map(|(&major, p)| (RuntimeId::Node { major }, p.clone()));
        let java = self
            .java
            .iter()
            .map(|(&major, p)| (RuntimeId::Java { major }, p.clone()));
        let ruby = self.rubies().into_iter().filter_map(|id| match id {
            RuntimeId::Ruby { major, minor } => {
                self.ruby_for(major, minor).map(|(_, p)| (id, p.clone()))
            }
            _ => None,
        });
        python
            .chain(node)
            .chain(java)
            .chain(ruby)
            .filter(|(id, _)| offered(id))
            .collect()
    }

    /// The same catalog with these Rubies (`(major, minor) → ruby`).
    pub fn with_ruby(mut self, ruby: BTreeMap<(u32, u32), PathBuf>) -> RuntimeCatalog {
        self.ruby = ruby;
        self
    }

    /// The Ruby that serves `rubyMAJOR.MINOR`: that version, else the newest of the same
    /// major version (a stand-in), with what it really is.
    pub fn ruby_for(&self, major: u32, minor: u32) -> Option<(RuntimeId, &PathBuf)> {
        let exact = self.ruby.get(&(major, minor)).map(|p| ((major, minor), p));
        let (found, path) = exact.or_else(|| {
            self.ruby
                .range((major, 0)..(major + 1, 0))
                .next_back()
                .map(|(k, p)| (*k, p))
        })?;
        Some((
            RuntimeId::Ruby {
                major: found.0,
                minor: found.1,
            },
            path,
        ))
    }

    /// Lambda's `rubyX.Y` identifiers this host serves.
    fn rubies(&self) -> Vec<RuntimeId> {
        lamina_model::runtime::LAMBDA_RUNTIMES
            .iter()
            .filter_map(|name| match RuntimeId::parse(name) {
                Some(RuntimeId::Ruby { major, minor }) if self.ruby_for(major, minor).is_some() => {
                    Some(RuntimeId::Ruby { major, minor })
                }
                _ => None,
            })
            .collect()
    }

    /// Where the bootstraps live (`LAMBDA_RUNTIME_DIR`).
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// Every runtime identifier this host can run, sorted.
    pub fn available(&self) -> Vec<String> {
        let mut ids: Vec<RuntimeId> = self
            .python
            .keys()
            .map(|&minor| RuntimeId::Python { minor })
            .chain(self.node.keys().map(|&major| RuntimeId::Node { major }))
            .chain(self.java.keys().map(|&major| RuntimeId::Java { major }))
            .chain(self.rubies())
            .chain([
                RuntimeId::Provided(ProvidedFlavor::Al1),
                RuntimeId::Provided(ProvidedFlavor::Al2),
                RuntimeId::Provided(ProvidedFlavor::Al2023),
            ])
            .filter(offered)
            .collect();
        ids.sort();
        ids.iter().map(ToString::to_string).collect()
    }

    /// The managed runtimes (Python, Node.js, Java, Ruby) this host can run.
    pub fn managed(&self) -> Vec<RuntimeId> {
        self.python
            .keys()
            .map(|&minor| RuntimeId::Python { minor })
            .chain(self.node.keys().map(|&major| RuntimeId::Node { major }))
            .chain(self.java.keys().map(|&major| RuntimeId::Java { major }))
            .chain(self.rubies())
            .collect()
    }

    /// Whether this host can run `runtime` (by its API name).
    pub fn check(&self, runtime: &str) -> Result<RuntimeId, RuntimeError> {
        let unavailable = || RuntimeError::Unavailable {
            runtime: runtime.to_string(),
            available: self.available(),
        };
        let id = RuntimeId::parse(runtime).ok_or_else(unavailable)?;
        match id {
            RuntimeId::Python { minor } if !self.python.contains_key(&minor) => Err(unavailable()),
            RuntimeId::Node { major } if !self.node.contains_key(&major) => Err(unavailable()),
            RuntimeId::Java { major } if !self.java.contains_key(&major) => Err(unavailable()),
            RuntimeId::Ruby { major, minor } if self.ruby_for(major, minor).is_none() => {
                Err(unavailable())
            }
            _ => Ok(id),
        }
    }

    /// What must be made before `command` can answer for `runtime` without blocking (a JVM's
    /// class-data sharing archive, at its first use: a JVM's start): work to run off the
    /// async threads, or `None` when there is nothing to make.
    pub fn preparation(&self, runtime: RuntimeId) -> Option<impl FnOnce() + Send + 'static> {
        let RuntimeId::Java { major } = runtime else {
            return None;
        };
        let archives = self.java_archives.clone()?;
        let java = self.java.get(&major)?.clone();
        if archives.settled(&java) {
            return None;
        }
        let runtime_dir = self.runtime_dir.clone();
        Some(move || {
            archives.runtime_dir(&java, major, &runtime_dir);
        })
    }

    /// The command that starts an environment of `runtime` for code in `code_dir`, with its
    /// layers merged in `opt_dir` (a custom runtime's `bootstrap` may come from a layer) and
    /// `memory_mb` of memory (a JVM's heap is fixed when it starts).
    pub fn command(
        &self,
        runtime: RuntimeId,
        code_dir: &Path,
        opt_dir: Option<&Path>,
        memory_mb: u32,
    ) -> Result<RuntimeCommand, RuntimeError> {
        let unavailable = || RuntimeError::Unavailable {
            runtime: runtime.to_string(),
            available: self.available(),
        };
        match runtime {
            RuntimeId::Python { minor } => {
                let python = self.python.get(&minor).ok_or_else(unavailable)?;
                Ok(RuntimeCommand {
                    program: python.clone(),
                    // -s: the host user's site directory is no part of a function.
                    args: vec![
                        "-s".into(),
                        self.runtime_dir
                            .join("python/bootstrap.py")
                            .display()
                            .to_string(),
                    ],
                    bin_dir: python.parent().map(Path::to_path_buf),
                    actual: None,
                    runtime_dir: None,
                })
            }
            RuntimeId::Node { major } => {
                let node = self.node.get(&major).ok_or_else(unavailable)?;
                Ok(RuntimeCommand {
                    program: node.clone(),
                    args: vec![
                        self.runtime_dir
                            .join("node/bootstrap.cjs")
                            .display()
                            .to_string(),
                    ],
                    bin_dir: node.parent().map(Path::to_path_buf),
                    actual: None,
                    runtime_dir: None,
                })
            }
            RuntimeId::Java { major } => {
                let java = self.java.get(&major).ok_or_else(unavailable)?;
                let archived = self
                    .java_archives
                    .as_ref()
                    .and_then(|a| a.runtime_dir(java, major, &self.runtime_dir));
                let dir = archived
                    .as_deref()
                    .unwrap_or(&self.runtime_dir)
                    .join("java");
                Ok(RuntimeCommand {
                    program: PathBuf::from("/bin/sh"),
                    args: vec![
                        dir.join("bootstrap.sh").display().to_string(),
                        java.display().to_string(),
                        major.to_string(),
                        memory_mb.to_string(),
                    ],
                    bin_dir: java.parent().map(Path::to_path_buf),
                    actual: None,
                    runtime_dir: archived,
                })
            }
            RuntimeId::Ruby { major, minor } => {
                let (actual, ruby) = self.ruby_for(major, minor).ok_or_else(unavailable)?;
                Ok(RuntimeCommand {
                    program: ruby.clone(),
                    args: vec![
                        self.runtime_dir
                            .join("ruby/bootstrap.rb")
                            .display()
                            .to_string(),
                    ],
                    bin_dir: ruby.parent().map(Path::to_path_buf),
                    actual: (actual != runtime).then_some(actual),
                    runtime_dir: None,
                })
            }
            RuntimeId::Provided(_) => {
                // As Lambda: the package's own bootstrap, else one a layer put in /opt.
                let own = code_dir.join("bootstrap");
                let bootstrap = [Some(own.clone()), opt_dir.map(|o| o.join("bootstrap"))]
                    .into_iter()
                    .flatten()
                    .find(|b| is_executable(b))
                    .ok_or(RuntimeError::NoBootstrap { path: own })?;
                Ok(RuntimeCommand {
                    program: bootstrap,
                    args: Vec::new(),
                    bin_dir: None,
                    actual: None,
                    runtime_dir: None,
                })
            }
        }
    }
}

impl RuntimeCommand {
    /// The extension launcher alone: it starts the extensions in `extensions_dir` (host
    /// paths; the launcher maps them into the environment) and ends, or, given a runtime's
    /// program and arguments after its own, becomes that runtime.
    pub fn extension_launcher(runtime_dir: &Path, extensions_dir: &Path) -> RuntimeCommand {
        RuntimeCommand {
            program: PathBuf::from("/bin/sh"),
            args: vec![
                runtime_dir
                    .join("extensions/launch.sh")
                    .display()
                    .to_string(),
                extensions_dir.display().to_string(),
            ],
            bin_dir: None,
            actual: None,
            runtime_dir: None,
        }
    }
}

/// How many external extensions a function's layers hold: the executable files in
/// `opt_dir/extensions`, at most Lambda's ten (more fail their registration).
pub fn count_extensions(opt_dir: Option<&Path>) -> usize {
    let Some(dir) = opt_dir.map(|o| o.join("extensions")) else {
        return 0;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| is_executable(&e.path()))
        .count()
        .min(lamina_runtime_api::extensions::MAX_EXTENSIONS)
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec!["/usr/bin".into(), "/usr/local/bin".into(), "/bin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(
            std::env::split_paths(&path).filter(|p| !p.to_string_lossy().contains("shims")),
        );
    }
    if let Some(home) = std::env::var_os("HOME") {
        let versions = Path::new(&home).join(".pyenv/versions");
        if let Ok(entries) = fs::read_dir(versions) {
            let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
            found.sort();
            dirs.extend(found);
        }
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
    dirs
}

/// Whether CreateFunction takes `id`: an old interpreter on the host (`python3.6`) is
/// found but offers no runtime.
fn offered(id: &RuntimeId) -> bool {
    RuntimeId::parse(&id.to_string()) == Some(*id)
}

pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn node_major(path: &Path) -> Option<u32> {
    // A clean environment: an inherited NODE_OPTIONS or CA bundle would slow or break this.
    let out = Command::new(path)
        .arg("--version")
        .env_clear()
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ruby_of_the_same_major_stands_in_and_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let cat = RuntimeCatalog::with_interpreters(dir.path(), BTreeMap::new(), BTreeMap::new())
            .unwrap()
            .with_ruby(BTreeMap::from([
                ((3, 1), PathBuf::from("/usr/bin/ruby3.1")),
                ((3, 3), PathBuf::from("/opt/ruby33/bin/ruby3.3")),
            ]));
        let ruby = |major, minor| RuntimeId::Ruby { major, minor };
        assert_eq!(
            cat.ruby_for(3, 3).unwrap().0,
            ruby(3, 3),
            "the exact version"
        );
        assert_eq!(
            cat.ruby_for(3, 4).unwrap().0,
            ruby(3, 3),
            "the newest of 3.x"
        );
        assert!(cat.ruby_for(4, 0).is_none(), "never across major versions");
        assert!(cat.check("ruby3.2").is_ok() && cat.check("ruby4.0").is_err());
        let code = tempfile::tempdir().unwrap();
        let exact = cat.command(ruby(3, 3), code.path(), None, 128).unwrap();
        assert_eq!(exact.actual, None);
        let stand_in = cat.command(ruby(3, 2), code.path(), None, 128).unwrap();
        assert_eq!(stand_in.actual, Some(ruby(3, 3)));
        assert_eq!(stand_in.program, PathBuf::from("/opt/ruby33/bin/ruby3.3"));
        assert!(dir.path().join("ruby/bootstrap.rb").is_file());
        let listed = cat.available();
        assert!(
            listed.contains(&"ruby3.2".to_string()) && !listed.contains(&"ruby3.1".to_string())
        );
    }

    #[test]
    fn reports_what_is_missing_and_what_is_available() {
        let dir = tempfile::tempdir().unwrap();
        let python = BTreeMap::from([(11, PathBuf::from("/usr/bin/python3.11"))]);
        let cat = RuntimeCatalog::with_interpreters(dir.path(), python, BTreeMap::new()).unwrap();
        assert!(dir.path().join("python/bootstrap.py").is_file());
        assert_eq!(
            cat.available(),
            ["python3.11", "provided", "provided.al2", "provided.al2023"]
        );
        assert!(cat.check("python3.11").is_ok());
        let err = cat.check("nodejs22.x").unwrap_err().to_string();
        assert!(
            err.contains("nodejs22.x") && err.contains("python3.11"),
            "{err}"
        );
        let code = tempfile::tempdir().unwrap();
        assert!(matches!(
            cat.command(
                RuntimeId::parse("provided.al2023").unwrap(),
                code.path(),
                None,
                128
            ),
            Err(RuntimeError::NoBootstrap { .. })
        ));
    }
}
