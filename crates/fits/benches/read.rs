//! Placeholder, replaced by the read benchmark.
fn main() {}
