//! Authentication against the real server: `--credentials FILE` with boto3's right keys,
//! wrong secret, unknown key and no signature (tests/compat/signatures.py), the `lamina`
//! CLI signing from the AWS SDKs' environment and profiles, and the refusal to listen off
//! loopback without credentials.

mod common;

use std::process::Command;

use common::{Server, test_python};

const KEY: &str = "AKIDLAMINATEST";
const SECRET: &str = "lamina/test+secret";
const OTHER_KEY: &str = "AKIDSECOND";
const OTHER_SECRET: &str = "second-secret";

fn credentials_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("credentials");
    std::fs::write(
        &path,
        format!(
            "[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n\n\
             # a second team\n[ci]\naws_access_key_id={OTHER_KEY}\naws_secret_access_key={OTHER_SECRET}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn boto3_is_checked_against_the_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials_file(dir.path());
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()], None);
    assert!(
        server
            .output_text()
            .contains("must be signed by one of the 2 access keys"),
        "{}",
        server.output_text()
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/signatures.py");
    let out = Command::new(test_python())
        .arg(script)
        .args([&server.endpoint, KEY, SECRET, OTHER_KEY, OTHER_SECRET])
        .output()
        .expect("run the signatures suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "signatures suite failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.output_text()
    );
}

/// `lamina ARGS` against `endpoint` with only `env` for AWS settings.
fn lamina(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lamina"));
    cmd.args(args).env("LAMINA_ENDPOINT", endpoint);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "HOME",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run lamina")
}

#[test]
fn the_cli_signs_with_the_sdks_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials_file(dir.path());
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()], None);
    let ep = server.endpoint.as_str();
    let out = lamina(ep, &["ls"], &[]);
    assert!(!out.status.success(), "unsigned `lamina ls` was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MissingAuthenticationTokenException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lamina(
        ep,
        &["ls"],
        &[
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidSignatureException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Keys from the environment: deploy and invoke.
    let src = dir.path().join("fn");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "def handler(e, c):\n    return {'signed': True}\n",
    )
    .unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let out = lamina(
        ep,
        &[
            "deploy",
            "cli-signed",
            src.to_str().unwrap(),
            "--runtime",
            "python3.11",
            "--handler",
            "app.handler",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lamina(ep, &["invoke", "cli-signed"], &env);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("signed"),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Keys from a profile of the shared credentials file.
    let out = lamina(
        ep,
        &["ls"],
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("AWS_PROFILE", "ci"),
        ],
    );
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("cli-signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn off_loopback_needs_credentials_or_an_explicit_risk() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before anything is bound.
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--credentials") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    // A bad credentials file is refused with what is wrong in it.
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "[default]\naws_access_key_id = ONLYKEY\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["serve", "--listen", "127.0.0.1:0", "--credentials"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("[default] needs both"),
        "{stderr}"
    );
}
