//! The echo functions the bench deploys: the same handler in each runtime, so that the
//! figures compare runtimes and not handlers. The native one is this binary itself, run as a
//! `provided` runtime's `bootstrap` (see [`crate::echo_runtime`]).

use std::io::Write;

use anyhow::bail;

/// One echo function to deploy: the same handler in each runtime, so that the
/// figures compare runtimes and not handlers.
pub struct Echo {
    pub label: &'static str,
    pub runtime: &'static str,
    pub handler: &'static str,
    pub package: Vec<u8>,
}

/// A deployment package of `(name, contents, mode)` files.
pub fn zip(files: &[(&str, &[u8], u32)]) -> anyhow::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        w.start_file(*name, options)?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}

pub fn echo_packages(runtimes: &[String]) -> anyhow::Result<Vec<Echo>> {
    let mut out = Vec::new();
    for runtime in runtimes {
        match runtime.as_str() {
            "provided" => {
                let me = std::fs::read(std::env::current_exe()?)?;
                out.push(Echo {
                    label: "provided",
                    runtime: "provided.al2023",
                    handler: "bootstrap",
                    package: zip(&[("bootstrap", &me, 0o755)])?,
                });
            }
            "python" => out.push(Echo {
                label: "python",
                runtime: "python3.11",
                handler: "app.handler",
                package: zip(&[(
                    "app.py",
                    b"def handler(event, context):\n    return event\n",
                    0o644,
                )])?,
            }),
            "node" => out.push(Echo {
                label: "node",
                runtime: "nodejs20.x",
                handler: "index.handler",
                package: zip(&[(
                    "index.mjs",
                    b"export const handler = async (event) => event;\n",
                    0o644,
                )])?,
            }),
            "java" => out.push(Echo {
                label: "java",
                // Debian 12's JDK; the handler binds the event to a map and writes it back.
                runtime: "java17",
                handler: "Echo::handle",
                package: java_echo()?,
            }),
            "ruby" => out.push(Echo {
                label: "ruby",
                // Lambda's oldest Ruby; on Debian 12 its Ruby 3.1 stands in.
                runtime: "ruby3.2",
                handler: "app.handler",
                package: zip(&[(
                    "app.rb",
                    b"def handler(event:, context:)\n  event\nend\n",
                    0o644,
                )])?,
            }),
            other => {
                bail!("unknown runtime {other:?}: choose among provided, python, node, java, ruby")
            }
        }
    }
    Ok(out)
}

/// The Java echo, compiled here with the host's `javac` (it uses no Lambda type, so it needs
/// nothing on its class path).
fn java_echo() -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let dir = std::env::temp_dir().join(format!("lamina-bench-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("Echo.java"),
        "import java.util.Map;\n\npublic class Echo {\n    public Map<String, Object> handle(Map<String, Object> event) {\n        return event;\n    }\n}\n",
    )?;
    let status = std::process::Command::new("javac")
        .args(["--release", "11", "-d"])
        .arg(&dir)
        .arg(dir.join("Echo.java"))
        .status()
        .context("the java echo needs javac (a JDK)")?;
    let class = std::fs::read(dir.join("Echo.class"));
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("javac failed on the java echo");
    }
    zip(&[("Echo.class", &class?, 0o644)])
}
