//! What the command's tests share: running `eloy` and reading what it said.
// Each test file uses some of these, none all.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `eloy` with `args` (no backtrace asked for); fails the test if it
/// panicked.
pub(crate) fn eloy(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run eloy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "eloy panicked:\n{stderr}");
    output
}

/// What a run printed, as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A path as a command-line argument (the tests' temporary paths are UTF-8).
pub(crate) fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
