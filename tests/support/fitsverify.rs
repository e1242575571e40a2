//! NASA's `fitsverify` on a file, as the tests of every crate read it (included with
//! `#[path]`: the crates' tests share no crate).

use std::path::Path;

/// fitsverify's verdict on a file: `Some((warnings, errors, full output))`, or `None` when
/// fitsverify is not installed (and `ELOY_REQUIRE_FITSVERIFY` is not set: then it panics, so
/// that CI cannot skip the check silently).
pub(crate) fn fitsverify(path: &Path) -> Option<(usize, usize, String)> {
    let output = match std::process::Command::new("fitsverify").arg(path).output() {
        Ok(o) => o,
        Err(_) => {
            assert!(
                std::env::var_os("ELOY_REQUIRE_FITSVERIFY").is_none(),
                "fitsverify is required (ELOY_REQUIRE_FITSVERIFY is set) but not installed"
            );
            eprintln!("skipped: fitsverify is not installed (apt-get install fitsverify)");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    // "**** Verification found 0 warning(s) and 0 error(s). ****"
    let line = text
        .lines()
        .find(|l| l.contains("Verification found"))
        .unwrap_or_else(|| panic!("unexpected fitsverify output:\n{text}"));
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    Some((numbers[0], numbers[1], text))
}
