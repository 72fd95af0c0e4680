//! The layout rules of ARCHITECTURE.md, checked so that they keep holding: every source file
//! says what it owns (`//!`), none is over 700 lines, no two modules of a crate import each
//! other in a circle, and no type has more than 30 methods.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;
const MAX_METHODS: usize = 30;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Each crate's `src` directory.
fn crate_sources() -> Vec<(String, PathBuf)> {
    let crates = workspace().join("crates");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&crates)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("src"),
            )
        })
        .filter(|(_, src)| src.is_dir())
        .collect();
    out.sort();
    out
}

/// The module path of a file (`a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; `` for the root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

#[test]
fn every_source_file_says_what_it_owns_and_stays_short() {
    let mut problems = Vec::new();
    for (_, src) in crate_sources() {
        for file in rust_files(&src) {
            let text = std::fs::read_to_string(&file).unwrap();
            if !text.starts_with("//!") {
                problems.push(format!("{}: no //! module doc", file.display()));
            }
            let lines = text.lines().count();
            if lines > MAX_LINES {
                problems.push(format!(
                    "{}: {lines} lines (at most {MAX_LINES})",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_two_modules_of_a_crate_import_each_other_in_a_circle() {
    let mut problems = Vec::new();
    for (name, src) in crate_sources() {
        let files = rust_files(&src);
        let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let from = module_of(&src, file);
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines().map(str::trim_start) {
                // Imports and paths in code; doc links and comments do not count.
                if line.starts_with("//") {
                    continue;
                }
                let mut rest = line;
                while let Some(at) = rest.find("crate::") {
                    rest = &rest[at + "crate::".len()..];
                    let path: Vec<&str> = rest
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .next()
                        .unwrap_or_default()
                        .split("::")
                        .collect();
                    // The longest prefix that is a module of this crate.
                    let target = (1..=path.len())
                        .rev()
                        .map(|k| path[..k].join("::"))
                        .find(|m| modules.contains(m));
                    if let Some(to) = target {
                        // A module and its descendants are one unit.
                        let related = to.starts_with(&format!("{from}::"))
                            || from.starts_with(&format!("{to}::"))
                            || to == from
                            || to.is_empty();
                        if !related {
                            edges.entry(from.clone()).or_default().insert(to);
                        }
                    }
                }
            }
        }
        // Depth-first search for a cycle.
        let mut state: HashMap<&str, u8> = HashMap::new();
        fn visit<'a>(
            node: &'a str,
            edges: &'a BTreeMap<String, BTreeSet<String>>,
            state: &mut HashMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
            found: &mut Vec<String>,
        ) {
            state.insert(node, 1);
            stack.push(node);
            for next in edges.get(node).into_iter().flatten() {
                match state.get(next.as_str()) {
                    Some(1) => {
                        let at = stack.iter().position(|n| *n == next).unwrap();
                        found.push(format!("{} -> {next}", stack[at..].join(" -> ")));
                    }
                    Some(_) => {}
                    None => visit(next, edges, state, stack, found),
                }
            }
            stack.pop();
            state.insert(node, 2);
        }
        let mut found = Vec::new();
        for node in edges.keys() {
            if !state.contains_key(node.as_str()) {
                visit(node, &edges, &mut state, &mut Vec::new(), &mut found);
            }
        }
        problems.extend(found.into_iter().map(|c| format!("{name}: {c}")));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_type_has_more_than_30_methods() {
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    for (name, src) in crate_sources() {
        for file in rust_files(&src) {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut current: Option<String> = None;
            for line in text.lines() {
                if line.starts_with("impl") && line.trim_end().ends_with('{') {
                    // `impl<..> Trait for Type<..> {` or `impl<..> Type<..> {`: the type.
                    let head = line.trim_end().trim_end_matches('{').trim();
                    let head = head.strip_prefix("impl").unwrap_or(head);
                    // Past the impl's own generics, if any.
                    let head = match head.strip_prefix('<') {
                        Some(rest) => rest.split_once("> ").map_or(rest, |(_, t)| t),
                        None => head,
                    };
                    let ty = head.rsplit(" for ").next().unwrap_or(head).trim();
                    let ty = ty.split('<').next().unwrap_or(ty).trim();
                    current = Some(format!("{name}::{ty}"));
                } else if line.starts_with('}') {
                    current = None;
                } else if let Some(ty) = &current {
                    let l = line.trim_start();
                    let indented = line.len() - l.len() == 4;
                    let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn "]
                        .iter()
                        .any(|p| l.starts_with(p))
                        || (l.starts_with("pub(") && l.contains(" fn "));
                    if indented && is_fn {
                        *methods.entry(ty.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    let over: Vec<_> = methods.iter().filter(|(_, n)| **n > MAX_METHODS).collect();
    assert!(over.is_empty(), "{over:?}");
    // The check sees the largest types (it would count nothing if it were broken).
    assert!(
        methods.get("platform::Platform").is_some_and(|n| *n > 10),
        "{methods:?}"
    );
}
