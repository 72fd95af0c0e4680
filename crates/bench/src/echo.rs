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
            other => bail!("unknown runtime {other:?}: choose among provided, python, node"),
        }
    }
    Ok(out)
}
