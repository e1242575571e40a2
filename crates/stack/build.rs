//! Unrolls the sorting networks and the median networks for small frame counts into
//! straight-line code (`$OUT_DIR/unrolled_networks.rs`, included by `src/kernel/sort.rs`): with
//! constant indices the rows of a pixel group stay in registers.

use std::fmt::Write as _;

#[path = "src/batcher.rs"]
mod batcher;
#[path = "src/median_network.rs"]
mod median_network;
#[path = "src/median_network_table.rs"]
mod median_network_table;

use median_network::Keep;

/// The largest frame count unrolled: 2625 sorting comparators and 1690 median comparators in
/// all for 2..=32.
const UNROLLED_MAX: usize = 32;

fn main() {
    println!("cargo::rerun-if-changed=src/batcher.rs");
    println!("cargo::rerun-if-changed=src/median_network.rs");
    println!("cargo::rerun-if-changed=src/median_network_table.rs");
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
        let (lo, hi) = median_network::median_wires(n);
        let median: Vec<String> = median_network::median_comparators(n)
            .iter()
            .map(|c| {
                let keep = match c.keep {
                    Keep::Both => "both",
                    Keep::Min => "min",
                    Keep::Max => "max",
                };
                format!("{keep}({}, {})", c.i, c.j)
            })
            .collect();
        let rows: Vec<String> = (0..n).map(|f| f.to_string()).collect();
        writeln!(
            code,
            "unrolled_network!(Unrolled{n}, {n}, [{}], median({lo}, {hi}) [{}], rows [{}]);",
            pairs.join(", "),
            median.join(", "),
            rows.join(", ")
        )
        .expect("writing to a String");
    }
    code.push_str(
        "\n/// Calls `job` with the unrolled networks for `n` rows if there are, else with \
         `runtime`.\n\
         pub(super) fn with_sorter(n: usize, runtime: Runtime<'_>, job: impl WithSorter) {\n    \
         match n {\n",
    );
    for n in 2..=UNROLLED_MAX {
        writeln!(code, "        {n} => job.call(Unrolled{n}),").expect("writing to a String");
    }
    code.push_str("        _ => job.call(runtime),\n    }\n}\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("unrolled_networks.rs"), code).expect("OUT_DIR is writable");
}
