//! Compiles Lamina's Java runtime (`runtimes/java/src`) into `lamina-runtime.jar`, which the
//! binary embeds like the other runtimes' bootstraps. It needs a JDK where Lamina is built
//! (`javac` and `jar` from `JAVA_HOME`, else from `PATH`); without one the jar is empty and
//! the host offers no Java runtime, which `lamina runtimes` says.
//!
//! It also builds `liblamina-await.so` (`runtimes/java/native`), the JNI library with which a
//! JVM started ahead of time takes its function's environment and working directory, with
//! the C compiler the `cc` crate finds and the JDK's `jni.h`; without them the library is
//! empty and Java runtimes are only ever started for their function.
//!
//! And `lamina-zygote.node` (`runtimes/node/native`), the Node-API module with which Lamina's
//! Node.js zygote forks runtimes; it needs only a C compiler (Node-API is declared in the
//! file). Without one it is empty, and Node.js runtimes are started rather than forked.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let src = manifest.join("../../runtimes/java/src");
    println!("cargo::rerun-if-changed={}", src.display());
    let native = manifest.join("../../runtimes/java/native/lamina_await.c");
    println!("cargo::rerun-if-changed={}", native.display());
    println!("cargo::rerun-if-env-changed=JAVA_HOME");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let jar = out.join("lamina-runtime.jar");
    if let Err(why) = build(&src, &out, &jar) {
        println!(
            "cargo::warning=Lamina's Java runtime was not built ({why}): the server will offer no javaN runtime"
        );
        fs::write(&jar, b"").expect("write an empty jar");
    }
    let zygote = manifest.join("../../runtimes/node/native/lamina_zygote.c");
    println!("cargo::rerun-if-changed={}", zygote.display());
    let module = out.join("lamina-zygote.node");
    if let Err(why) = compile_shared(&zygote, &module, &[]) {
        println!(
            "cargo::warning=Lamina's Node.js zygote was not built ({why}): Node.js runtimes will be started, not forked"
        );
        fs::write(&module, b"").expect("write an empty module");
    }
    let library = out.join("liblamina-await.so");
    if let Err(why) = build_native(&native, &library) {
        println!(
            "cargo::warning=Lamina's Java runtime cannot be started ahead of time ({why}): its JVMs will start on demand"
        );
        fs::write(&library, b"").expect("write an empty library");
    }
}

/// Compiles the JNI library against the `jni.h` of the JDK whose `javac` builds the jar.
fn build_native(source: &Path, library: &Path) -> Result<(), String> {
    let javac = fs::canonicalize(which(&tool("javac")).ok_or("no javac")?)
        .map_err(|e| format!("javac: {e}"))?;
    let include = javac
        .parent()
        .and_then(Path::parent)
        .map(|home| home.join("include"))
        .filter(|dir| dir.join("jni.h").exists())
        .ok_or("the JDK has no include/jni.h")?;
    compile_shared(source, library, &[include.clone(), include.join("linux")])
}

/// Compiles one C file into a shared library with the C compiler the `cc` crate finds.
fn compile_shared(source: &Path, library: &Path, includes: &[PathBuf]) -> Result<(), String> {
    let compiler = cc::Build::new()
        .try_get_compiler()
        .map_err(|e| format!("no C compiler: {e}"))?;
    let mut command = compiler.to_command();
    command.args(["-shared", "-fPIC", "-O2", "-s", "-Wall", "-Werror"]);
    for dir in includes {
        command.arg("-I").arg(dir);
    }
    let status = command
        .arg("-o")
        .arg(library)
        .arg(source)
        .status()
        .map_err(|e| format!("no C compiler: {e}"))?;
    if !status.success() {
        return Err(format!("the C compiler failed: {status}"));
    }
    Ok(())
}

/// `program` as found on `PATH`, or itself when it is a path.
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
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
