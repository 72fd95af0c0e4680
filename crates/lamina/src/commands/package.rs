//! Making a deployment package of a directory, as `sam build` would lay it out and what a
//! deploy should never ship left out:
//! - symbolic links are followed (a link's target is packaged under the link's name); a
//!   link that leads nowhere, or back into a directory being walked, is an error naming it;
//! - `.git/`, `.aws-sam/`, `.lamina/` (builds), `__pycache__/` and `node_modules/.cache/` are left out, and so is
//!   whatever `.laminaignore` (gitignore syntax, in any directory) names;
//! - file modes are kept (a `bootstrap` must stay executable);
//! - an empty package, or one without the file its handler names, is refused before upload
//!   with the reason.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Directories never packaged, wherever they are.
const LEFT_OUT: &[&str] = &[".git", ".aws-sam", ".lamina", "__pycache__"];

/// The file users put patterns of what to leave out in.
pub const IGNORE_FILE: &str = ".laminaignore";

/// The files of `dir` to package, sorted, each with its path inside the package.
pub fn files_of(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let walk = ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(true)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            let cache = name == ".cache"
                && e.path()
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|p| p == "node_modules");
            !(is_dir && (LEFT_OUT.contains(&name.as_ref()) || cache))
        })
        .build();
    let mut files = Vec::new();
    for entry in walk {
        let entry = entry.map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        // A link that leads nowhere shows up as itself: refused, named.
        let meta = std::fs::metadata(path).with_context(|| {
            format!(
                "{} is a symbolic link to nothing: remove it or make it point at a file",
                path.display()
            )
        })?;
        if meta.is_file() && entry.file_name() != IGNORE_FILE {
            let inside = path
                .strip_prefix(dir)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            files.push((inside, path.to_path_buf()));
        }
    }
    files.sort();
    Ok(files)
}

/// What a walk error says, with the path it names.
fn describe(e: &ignore::Error) -> String {
    match e {
        ignore::Error::Loop { child, ancestor } => format!(
            "{} is a symbolic link back to {}: a package cannot contain a loop",
            child.display(),
            ancestor.display()
        ),
        ignore::Error::WithPath { path, .. } if dangling(path) => format!(
            "{} is a symbolic link to nothing: remove it or make it point at a file",
            path.display()
        ),
        ignore::Error::WithPath { path, err } => format!("{}: {}", path.display(), describe(err)),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            describe(err)
        }
        other => other.to_string(),
    }
}

/// Whether `path` is a symbolic link whose target does not exist.
fn dangling(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
}

/// Refuses a package whose handler names a file it does not have (for the runtimes whose
/// handlers name files), saying what was looked for.
pub fn check_handler(
    files: &[(String, PathBuf)],
    runtime: &str,
    handler: &str,
) -> anyhow::Result<()> {
    let has = |name: &str| files.iter().any(|(inside, _)| inside == name);
    let module = handler.rsplit_once('.').map_or(handler, |(m, _)| m);
    let wanted: Vec<String> = if runtime.starts_with("python") {
        let path = module.replace('.', "/");
        vec![format!("{path}.py"), format!("{path}/__init__.py")]
    } else if runtime.starts_with("nodejs") {
        ["js", "mjs", "cjs"]
            .iter()
            .map(|ext| format!("{module}.{ext}"))
            .collect()
    } else if runtime.starts_with("provided") {
        vec!["bootstrap".to_string()]
    } else {
        return Ok(());
    };
    if wanted.iter().any(|w| has(w)) {
        return Ok(());
    }
    bail!(
        "the package has no {} for the handler {handler:?} ({runtime}): nothing would answer",
        wanted.join(" or ")
    )
}

/// A zip of `files`, modes kept.
pub fn zip_of(files: &[(String, PathBuf)]) -> anyhow::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (inside, file) in files {
        let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        writer.start_file(inside.as_str(), options)?;
        writer.write_all(
            &std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
        )?;
    }
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        files_of(dir).unwrap().into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn leaves_out_what_a_deploy_should_not_ship_and_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for dir in [
            ".git/objects",
            ".aws-sam",
            "pkg/__pycache__",
            "node_modules/.cache/x",
            "node_modules/dep",
            "secrets",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "app.py",
            ".git/objects/ab",
            ".aws-sam/build.toml",
            "pkg/__init__.py",
            "pkg/__pycache__/x.pyc",
            "node_modules/.cache/x/y",
            "node_modules/dep/index.js",
            "secrets/key.pem",
            "notes.tmp",
        ] {
            std::fs::write(root.join(file), file).unwrap();
        }
        std::fs::write(root.join(IGNORE_FILE), "secrets/\n*.tmp\n").unwrap();
        let shared = tempfile::tempdir().unwrap();
        std::fs::write(shared.path().join("common.py"), "X = 1").unwrap();
        std::os::unix::fs::symlink(shared.path().join("common.py"), root.join("common.py"))
            .unwrap();
        std::os::unix::fs::symlink(shared.path(), root.join("vendored")).unwrap();
        assert_eq!(
            names(root),
            [
                "app.py",
                "common.py",
                "node_modules/dep/index.js",
                "pkg/__init__.py",
                "vendored/common.py"
            ]
        );
        let files = files_of(root).unwrap();
        let linked = files.iter().find(|(n, _)| n == "common.py").unwrap();
        assert_eq!(std::fs::read_to_string(&linked.1).unwrap(), "X = 1");
    }

    #[test]
    fn refuses_links_to_nothing_and_loops_naming_them() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(d.path().join("gone.py"), d.path().join("dangling.py")).unwrap();
        let e = files_of(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("dangling.py") && e.contains("symbolic link"),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(d.path(), d.path().join("sub/up")).unwrap();
        let e = files_of(d.path()).unwrap_err().to_string();
        assert!(e.contains("up") && e.contains("loop"), "{e}");
    }

    #[test]
    fn a_handler_needs_its_file() {
        let files = |names: &[&str]| -> Vec<(String, PathBuf)> {
            names
                .iter()
                .map(|n| (n.to_string(), PathBuf::from(n)))
                .collect()
        };
        assert!(check_handler(&files(&["app.py"]), "python3.12", "app.handler").is_ok());
        assert!(
            check_handler(
                &files(&["svc/api/__init__.py"]),
                "python3.12",
                "svc.api.handler"
            )
            .is_ok()
        );
        assert!(check_handler(&files(&["index.mjs"]), "nodejs20.x", "index.handler").is_ok());
        assert!(check_handler(&files(&["bootstrap"]), "provided.al2023", "anything").is_ok());
        let e = check_handler(&files(&["main.py"]), "python3.12", "app.handler").unwrap_err();
        assert!(e.to_string().contains("app.py"), "{e}");
        assert!(check_handler(&files(&["index.js"]), "provided.al2", "x").is_err());
    }
}
