//! `eloy calibrate --uncertainty`: masters and lights with `UNCERT` and `MASK` planes.

mod common;

use common::{arg, eloy};

use std::path::{Path, PathBuf};

fn raw() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../calib/tests/fixtures/uncertainty/raw")
}

#[test]
fn uncertainty_planes_are_written_and_the_read_noise_can_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = eloy(&[
        "calibrate",
        arg(&raw()),
        "--out",
        arg(&out),
        "--uncertainty",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let light = out.join("2024-01-31/light_0.fits");
    let std = eloy::fits::read_extension(&light, "UNCERT")
        .unwrap()
        .unwrap();
    let mask = eloy::fits::read_extension(&light, "MASK").unwrap().unwrap();
    assert_eq!(
        mask.data[[3, 4]],
        7.0,
        "the saturated pixel: invalid, no uncertainty, saturated"
    );
    assert_eq!(mask.data.iter().filter(|&&m| m != 0.0).count(), 1);
    assert!(std.data[[10, 10]] > 0.0 && std.data[[10, 10]].is_finite());
    for entry in std::fs::read_dir(out.join("masters")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "fits") {
            assert!(
                eloy::fits::read_extension(&path, "UNCERT")
                    .unwrap()
                    .is_some()
            );
        }
    }
    // A larger read noise given on the command line: a larger uncertainty.
    let noisy = dir.path().join("noisy");
    let run = eloy(&[
        "calibrate",
        arg(&raw()),
        "--out",
        arg(&noisy),
        "--uncertainty",
        "--read-noise",
        "80",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let more = eloy::fits::read_extension(noisy.join("2024-01-31/light_0.fits"), "UNCERT")
        .unwrap()
        .unwrap();
    assert!(more.data[[10, 10]] > std.data[[10, 10]]);
    // Without --uncertainty, --read-noise is refused; a negative read noise too.
    let run = eloy(&[
        "calibrate",
        arg(&raw()),
        "--out",
        arg(&noisy),
        "--read-noise",
        "5",
    ]);
    assert!(!run.status.success());
    let run = eloy(&[
        "calibrate",
        arg(&raw()),
        "--out",
        arg(&noisy),
        "--uncertainty",
        "--read-noise=-5",
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--read-noise"));
}
