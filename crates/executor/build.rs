//! Compiles Lamina's Java runtime (`runtimes/java/src`) into `lamina-runtime.jar`, which the
//! binary embeds like the other runtimes' bootstraps. It needs a JDK where Lamina is built
//! (`javac` and `jar` from `JAVA_HOME`, else from `PATH`); without one the jar is empty and
//! the host offers no Java runtime, which `lamina runtimes` says.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let src = manifest.join("../../runtimes/java/src");
    println!("cargo::rerun-if-changed={}", src.display());
    println!("cargo::rerun-if-env-changed=JAVA_HOME");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let jar = out.join("lamina-runtime.jar");
    if let Err(why) = build(&src, &out, &jar) {
        println!(
            "cargo::warning=Lamina's Java runtime was not built ({why}): the server will offer no javaN runtime"
        );
        fs::write(&jar, b"").expect("write an empty jar");
    }
}

fn build(src: &Path, out: &Path, jar: &Path) -> Result<(), String> {
    let mut sources = Vec::new();
    collect(src, &mut sources).map_err(|e| format!("reading {}: {e}", src.display()))?;
    sources.sort();
    let classes = out.join("java-classes");
    let _ = fs::remove_dir_all(&classes);
    fs::create_dir_all(&classes).map_err(|e| e.to_string())?;
    // Java 11's class files: the oldest JVM Lamina runs (java11) loads them, and so does
    // every newer one.
    let status = Command::new(tool("javac"))
        // String concatenation as plain StringBuilder calls: the JDK's default bootstraps
        // a method handle per concatenation at its first use, a cold start's milliseconds.
        .args([
            "--release",
            "11",
            "-encoding",
            "UTF-8",
            "-nowarn",
            "-XDstringConcat=inline",
        ])
        .arg("-d")
        .arg(&classes)
        .args(&sources)
        .status()
        .map_err(|e| format!("no javac: {e}"))?;
    if !status.success() {
        return Err(format!("javac failed: {status}"));
    }
    let _ = fs::remove_file(jar);
    // A fixed date, so that the same sources make the same jar.
    let status = Command::new(tool("jar"))
        .args(["--create", "--date=2026-01-01T00:00:00Z", "--file"])
        .arg(jar)
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .map_err(|e| format!("no jar tool: {e}"))?;
    if !status.success() {
        return Err(format!("jar failed: {status}"));
    }
    Ok(())
}

fn tool(name: &str) -> PathBuf {
    env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin").join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn collect(dir: &Path, into: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "java") {
            into.push(path);
        }
    }
    Ok(())
}
