//! A mosaic camera's night (GMOS-like: one image extension per amplifier) through the
//! `eloy` command: the dry run shows a recipe per extension, the run writes one mosaic
//! per light, a light whose extensions do not match its masters' is refused by name.

mod common;

use common::{arg, eloy};

use eloy::calib::synth::MosaicNight;
use eloy::fits::FrameKind;

#[test]
fn a_mosaic_night_is_calibrated_extension_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    let mosaic = MosaicNight::gmos();
    mosaic.write(&night).unwrap();
    // A light with one amplifier fewer: refused, whole.
    mosaic
        .write_frame(
            &night.join("light_short.fits"),
            FrameKind::Light,
            7,
            &[0, 2],
        )
        .unwrap();
    let out = dir.path().join("out");
    let dry = eloy(&["calibrate", arg(&night), "--out", arg(&out), "--dry-run"]);
    let plan = String::from_utf8_lossy(&dry.stdout);
    for ext in ["[SCI,1]", "[SCI,2]", "[SCI,3]"] {
        let line = plan
            .lines()
            .find(|l| l.contains(&format!("light_000.fits {ext} -> ")))
            .unwrap_or_else(|| panic!("no recipe line for {ext}:\n{plan}"));
        assert!(line.contains("overscan["), "{line}");
        assert!(line.contains("/ flat"), "{line}");
        assert!(
            plan.contains(&format!("bias_000.fits {ext}: ")),
            "{ext}: {plan}"
        );
    }
    assert!(plan.contains("_bias_SCI-2.fits"), "{plan}");
    eprintln!("{plan}");
    assert!(!out.exists(), "a dry run writes nothing");

    let run = eloy(&["calibrate", arg(&night), "--out", arg(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("light_short.fits: a mosaic of 2 image extensions"),
        "{stderr}"
    );
    let outputs: Vec<_> = std::fs::read_dir(out.join("2023-03-13"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outputs.len(), mosaic.lights, "{outputs:?}\n{stderr}");
    for output in &outputs {
        let reader = eloy::fits::Reader::open(output).unwrap();
        assert_eq!(reader.image_hdus(), &[2, 3, 4]);
        assert_eq!(
            eloy::fits::verify_file(output).unwrap(),
            eloy::fits::Integrity::Intact
        );
    }
    eprintln!("{stderr}");
    // A second run skips what it finds whole.
    let again = eloy(&["calibrate", arg(&night), "--out", arg(&out)]);
    let text = String::from_utf8_lossy(&again.stderr).into_owned()
        + &String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("skipped") || text.contains("already"),
        "{text}"
    );
}

/// `--compress` writes single images only: a mosaic light is refused by name (its
/// extensions would not fit one compressed image), the run says so and goes on.
#[test]
fn a_mosaic_is_not_compressed_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    MosaicNight::gmos().write(&night).unwrap();
    let out = dir.path().join("out");
    let run = eloy(&[
        "calibrate",
        arg(&night),
        "--out",
        arg(&out),
        "--compress",
        "rice",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("light_000.fits") && stderr.contains("a mosaic tile-compressed"),
        "{stderr}"
    );
    let written = std::fs::read_dir(out.join("2023-03-13"))
        .map(Iterator::count)
        .unwrap_or(0);
    assert_eq!(written, 0);
}
