//! Unrolls the sorting networks for small frame counts into straight-line code
//! (`$OUT_DIR/unrolled_networks.rs`, included by `src/kernel.rs`): with constant indices
//! the rows of a pixel group stay in registers.

use std::fmt::Write as _;

#[path = "src/batcher.rs"]
mod batcher;

/// The largest frame count unrolled: 2625 comparators in all for 2..=32.
const UNROLLED_MAX: usize = 32;

fn main() {
    println!("cargo::rerun-if-changed=src/batcher.rs");
    println!("cargo::rerun-if-changed=build.rs");
    let mut code = format!(
        "/// The largest frame count with an unrolled network.\n\
         #[cfg_attr(not(test), allow(dead_code))]\n\
         const UNROLLED_MAX: usize = {UNROLLED_MAX};\n\n"
    );
    for n in 2..=UNROLLED_MAX {
        let pairs: Vec<String> = batcher::batcher_pairs(n)
            .iter()
            .map(|(i, j)| format!("({i}, {j})"))
            .collect();
        writeln!(
            code,
            "unrolled_network!(Unrolled{n}, {n}, [{}]);",
            pairs.join(", ")
        )
        .expect("writing to a String");
    }
    code.push_str(
        "\n/// Calls `job` with the unrolled network for `n` rows if there is one, else with \
         `Runtime(pairs)`.\n\
         fn with_sorter(n: usize, pairs: Option<&[(u16, u16)]>, job: impl WithSorter) {\n    \
         match n {\n",
    );
    for n in 2..=UNROLLED_MAX {
        writeln!(code, "        {n} => job.call(Unrolled{n}),").expect("writing to a String");
    }
    code.push_str("        _ => job.call(Runtime(pairs)),\n    }\n}\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("unrolled_networks.rs"), code).expect("OUT_DIR is writable");
}
