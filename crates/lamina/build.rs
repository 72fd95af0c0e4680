//! Links the `lamina` binary at a fixed address (not position-independent).
//!
//! Every execution environment runs this binary twice (the sandbox's outer init and its
//! PID 1). A position-independent build makes each copy apply about 100,000 relocations at
//! start: 2.2 MiB of pointer tables (`.data.rel.ro`) rewritten in private memory, per
//! process, and about a millisecond of CPU. Linked at a fixed address, those tables are
//! ready in the file and shared through the page cache by the server and every sandbox.
//! The libraries, heap, stacks and mappings are still placed at random (ASLR); only the
//! binary's own image has a known address, as in Go's default builds.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
