//! CCD frames with an overscan strip through the `eloy` command.

mod common;

use common::{arg, eloy};

use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../calib/tests/fixtures/ccd")
        .join(name)
}

/// A folder holding only the SAAO frame: overscan and trim are done (as ccdproc's
/// subtract_overscan(median=True) + trim_image), and the command says what was not.
#[test]
fn a_lone_ccd_frame_is_overscan_subtracted_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    std::fs::create_dir(&night).unwrap();
    std::fs::copy(fixture("a8280271.fits.gz"), night.join("a8280271.fits.gz")).unwrap();
    let out = dir.path().join("out");
    let dry = eloy(&["calibrate", arg(&night), "--out", arg(&out), "--dry-run"]);
    let plan = String::from_utf8_lossy(&dry.stdout);
    assert!(
        plan.contains("overscan[4:13,1:520][17:528,1:520]"),
        "{plan}"
    );
    assert!(!out.exists(), "a dry run writes nothing");

    let run = eloy(&[
        "calibrate",
        arg(&night),
        "--out",
        arg(&out),
        "--invalid",
        "keep",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    for missing in ["no bias frames", "no dark frames", "no flat frames"] {
        assert!(stderr.contains(missing), "{missing}: {stderr}");
    }
    let written = eloy::fits::read(out.join("2013-07-12/a8280271.fits")).unwrap();
    assert_eq!(written.data.dim(), (520, 512));
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ccdproc.json")).unwrap()).unwrap();
    let case = &reference["frames"][0]["cases"][0];
    let expected = case["sum"].as_f64().unwrap();
    let sum: f64 = written.data.iter().map(|&v| f64::from(v)).sum();
    assert!(
        (sum - expected).abs() <= 1e-6 * expected.abs(),
        "{sum} vs {expected}"
    );

    // Without the overscan and trim, the frame is written as it came.
    let raw_out = dir.path().join("raw-out");
    let run = eloy(&[
        "calibrate",
        arg(&night),
        "--out",
        arg(&raw_out),
        "--no-overscan",
        "--no-trim",
    ]);
    assert_eq!(run.status.code(), Some(0));
    let raw = eloy::fits::read(raw_out.join("2013-07-12/a8280271.fits")).unwrap();
    assert_eq!(raw.data.dim(), (520, 536));
    assert!(raw.header.get::<String>("OVERSCAN").is_none());
}

/// --biassec and --trimsec serve frames whose headers lack the keywords; a malformed one
/// is an error naming the file and the keyword.
#[test]
fn sections_given_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    std::fs::create_dir(&night).unwrap();
    let mut h = eloy::fits::Header::new();
    h.set("IMAGETYP", "object", "");
    h.set("EXPTIME", 10.0, "");
    h.set("DATE-OBS", "2024-01-01T22:00:00", "");
    let data =
        ndarray::Array2::from_shape_fn((20, 30), |(_, c)| if c >= 25 { 500.0f32 } else { 1500.0 });
    eloy::fits::write(night.join("a.fits"), data.view(), &h, &Default::default()).unwrap();
    let out = dir.path().join("out");
    let run = eloy(&[
        "calibrate",
        arg(&night),
        "--out",
        arg(&out),
        "--biassec",
        "[26:30,*]",
        "--trimsec",
        "[1:24,1:20]",
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let written = eloy::fits::read(out.join("2024-01-01/a.fits")).unwrap();
    assert_eq!(written.data.dim(), (20, 24));
    assert!(written.data.iter().all(|&v| v == 1000.0));

    let bad = eloy(&[
        "calibrate",
        arg(&night),
        "--out",
        arg(&dir.path().join("bad")),
        "--biassec",
        "[26:30",
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a.fits") && stderr.contains("BIASSEC"),
        "{stderr}"
    );
}
