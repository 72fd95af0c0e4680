//! The web console in real headless Chromium (Debian's package, driven by selenium and its
//! chromedriver from `tests/compat/console.py`) against the real server: the functions list
//! with health, a test invocation with its response and log tail, graphs drawn from
//! CloudWatch's metric API after invocations, live logs, the platform page; and, with
//! `--credentials`, the console asking for keys and signing its requests while the API stays
//! closed to unsigned ones. Screenshots are kept in `target/console-screenshots/`.

mod common;

use std::path::{Path, PathBuf};

use common::{Server, run_compat_script, test_python};

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
}

fn run_console_suite(server: &Server, keys: &[&str]) {
    let dir = screenshots();
    let mut extra = vec![dir.as_os_str()];
    extra.extend(keys.iter().map(std::ffi::OsStr::new));
    run_compat_script(&test_python(), server, "console.py", &extra);
}

#[test]
fn the_console_lists_invokes_graphs_and_tails() {
    let server = Server::start();
    run_console_suite(&server, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_credentials_the_console_signs_with_the_users_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[console]\naws_access_key_id = AKIDCONSOLE\naws_secret_access_key = console-secret-key\n",
    )
    .unwrap();
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()], None);
    // The assets are served to anyone; the data is not.
    let page = server
        .http
        .get(server.url("/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/console/app.js"));
    let script = server
        .http
        .get(server.url("/console/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let unsigned = server
        .http
        .get(server.url("/2015-03-31/functions"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let server = std::sync::Arc::new(server);
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        run_console_suite(&s, &["AKIDCONSOLE", "console-secret-key"])
    })
    .await
    .unwrap();
}

/// The assets the binary embeds are what the committed sources and lockfile build: a fresh
/// `npm ci` and `vite build` of a copy of `console/` gives the same bytes as `console/dist`.
#[test]
fn the_embedded_assets_are_built_from_the_committed_sources() {
    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console");
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "package.json",
        "package-lock.json",
        "vite.config.js",
        "index.html",
    ] {
        std::fs::copy(console.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("src")).unwrap();
    for entry in std::fs::read_dir(console.join("src")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join("src").join(entry.file_name())).unwrap();
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new("npm")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("npm (the machine's Node.js) runs");
        assert!(
            out.status.success(),
            "npm {args:?}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["ci", "--no-audit", "--no-fund"]);
    run(&["run", "build"]);
    let committed: Vec<_> = std::fs::read_dir(console.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let built: Vec<_> = std::fs::read_dir(dir.path().join("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        committed.len(),
        built.len(),
        "{committed:?} against {built:?}"
    );
    for name in committed {
        let a = std::fs::read(console.join("dist").join(&name)).unwrap();
        let b = std::fs::read(dir.path().join("dist").join(&name)).unwrap();
        assert!(
            a == b,
            "console/dist/{} differs from a fresh build: run `npm ci && npm run build` in console/",
            name.to_string_lossy()
        );
    }
}
