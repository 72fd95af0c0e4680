//! Lamina's test kit: what in-process tests build a platform from, without root, without
//! interpreters, in milliseconds.
//!
//! Layout:
//! - [`launcher`]: [`ScriptedLauncher`], whose environments' runtimes are tasks inside the
//!   test answering the real Runtime API with scripted behaviour.
//! - [`platform`]: [`TestPlatform`], a whole platform on [`lamina_store::MemoryStore`] and
//!   [`lamina_queue::MemoryQueue`], serving its HTTP API on a free loopback port.
//! - [`zip_bytes`], [`zip_of`]: packages built in memory.
//!
//! The end-to-end suite (`crates/lamina/tests`) still starts the real binary, with real
//! runtimes and sandboxes; this kit is for the platform's own policies and flows.

pub mod launcher;
pub mod platform;

pub use launcher::{Script, ScriptedLauncher};
pub use platform::TestPlatform;

/// A zip holding `files` (name, contents; every file executable).
pub fn zip_bytes(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        w.start_file(*name, options).expect("zip entry");
        w.write_all(data.as_bytes()).expect("zip write");
    }
    w.finish().expect("zip").into_inner()
}

/// [`zip_bytes`], base64-encoded as CreateFunction's `Code.ZipFile` takes it.
pub fn zip_of(files: &[(&str, &str)]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(zip_bytes(files))
}
