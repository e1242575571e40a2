//! `eloy calibrate --compress rice`: `<light>.fits.fz` outputs within the quantisation
//! step of the float32 ones, invalid pixels NaN, masters float32; fitsverify accepts them;
//! a rerun skips whole ones, redoes damaged ones and ones of the other form, and never
//! takes a `.fits` for a `.fits.fz` or the reverse.

#[path = "../../../tests/support/fitsverify.rs"]
mod fitsverify_tool;

use fitsverify_tool::fitsverify;

use std::path::{Path, PathBuf};
use std::process::Command;

use eloy::fits::{Header, Integrity, Precision, WriteOptions};

const ROWS: usize = 60;
const COLS: usize = 90;
const LIGHTS: usize = 4;
/// The noise of the lights, in ADU.
const SIGMA: f32 = 20.0;

/// Noise of standard deviation 1, deterministic (Irwin-Hall of 12 uniforms).
fn noise(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        let mut sum = 0.0;
        for _ in 0..12 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            sum += (state >> 40) as f32 / (1u64 << 24) as f32;
        }
        sum - 6.0
    }
}

/// A night of u16 frames: 3 bias, darks and flats, and lights of sky 1500 ADU with noise
/// [`SIGMA`] and a corner of zeros (negative once calibrated: invalid).
fn write_night(root: &Path) {
    let options = WriteOptions {
        precision: Precision::U16,
        ..Default::default()
    };
    let kinds = [
        ("Bias", "bias", "Bias Frame", 0.0, 3, 1000.0),
        ("Darks", "dark", "Dark Frame", 60.0, 3, 1003.0),
        ("Flats", "flat", "Flat Field", 2.0, 3, 30_000.0),
        (
            "ScienceImages",
            "light",
            "Light Frame",
            60.0,
            LIGHTS,
            1500.0,
        ),
    ];
    for (k, (folder, stem, imagetyp, exposure, count, level)) in kinds.into_iter().enumerate() {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        for i in 0..count {
            let mut header = Header::new();
            header.set("IMAGETYP", imagetyp, "");
            header.set("EXPTIME", exposure, "");
            header.set("DATE-OBS", format!("2016-01-05T20:{k:02}:{i:02}"), "");
            header.set("FILTER", "R", "");
            let mut g = noise((k * 100 + i) as u64);
            let sigma = if k == 3 { SIGMA } else { 1.0 };
            let data = ndarray::Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
                if k == 3 && r < 3 && c < 5 {
                    0.0
                } else {
                    level + sigma * g()
                }
            });
            let path = root.join(folder).join(format!("{stem}_{i:03}.fits"));
            eloy::fits::write(&path, data.view(), &header, &options).unwrap();
        }
    }
}

fn calibrate(raw: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_eloy"))
        .arg("calibrate")
        .arg(raw)
        .arg("--out")
        .arg(out)
        .arg("--no-preview")
        .args(extra)
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&run.stderr).into_owned() + &String::from_utf8_lossy(&run.stdout);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (run.status.code(), stderr)
}

fn light(night: &Path, i: usize, suffix: &str) -> PathBuf {
    night.join(format!("light_{i:03}.fits{suffix}"))
}

#[test]
fn compressed_outputs_are_within_the_step_with_invalid_pixels_nan() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    write_night(&raw);
    let plain = dir.path().join("plain");
    let packed = dir.path().join("packed");
    let (code, stderr) = calibrate(&raw, &plain, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = calibrate(&raw, &packed, &["--compress", "rice"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (night_plain, night_packed) = (plain.join("2016-01-05"), packed.join("2016-01-05"));
    // Masters stay float32, as they are.
    let bias = format!("masters/2016-01-05_{ROWS}x{COLS}_bin1x1_bias.fits");
    assert!(packed.join(&bias).exists());
    assert!(
        std::fs::read(packed.join(&bias)).unwrap() == std::fs::read(plain.join(&bias)).unwrap()
    );
    let q = 4.0f32;
    for i in 0..LIGHTS {
        assert!(!light(&night_packed, i, "").exists());
        let fz = light(&night_packed, i, ".fz");
        let a = eloy::fits::read(&fz).unwrap();
        let b = eloy::fits::read(light(&night_plain, i, "")).unwrap();
        assert_eq!(a.header.get::<String>("CALINVAL").as_deref(), Some("nan"));
        assert_eq!(b.header.get::<String>("CALINVAL").as_deref(), Some("eloy"));
        let mut invalid = 0;
        for (x, y) in a.data.iter().zip(b.data.iter()) {
            if *y == -1.0 {
                assert!(x.is_nan(), "-1 in float32, {x} compressed");
                invalid += 1;
            } else {
                assert!(
                    (x - y).abs() <= SIGMA / q,
                    "{x} compressed, {y} in float32: more than a step (sigma / q) apart"
                );
            }
        }
        assert!(invalid >= 15, "{invalid} invalid pixels");
        assert_eq!(eloy::fits::verify_file(&fz).unwrap(), Integrity::Intact);
        if let Some((warnings, errors, text)) = fitsverify(&fz) {
            assert_eq!((warnings, errors), (0, 0), "{text}");
        }
        let plain_size = std::fs::metadata(light(&night_plain, i, "")).unwrap().len();
        let packed_size = std::fs::metadata(&fz).unwrap().len();
        // Headers are most of so small a file: the sizes of real frames are in the README.
        assert!(packed_size < plain_size, "{packed_size} vs {plain_size}");
    }

    // The dry run names the compressed outputs.
    let (code, stdout) = calibrate(&raw, &packed, &["--compress", "rice", "--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("light_000.fits.fz"), "{stdout}");
}

#[test]
fn a_rerun_verifies_compressed_outputs_and_tells_the_two_forms_apart() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    write_night(&raw);
    let out = dir.path().join("out");
    let night = out.join("2016-01-05");
    let packed = ["--compress", "rice", "--quantize", "8"];
    let (code, stderr) = calibrate(&raw, &out, &packed);
    assert_eq!(code, Some(0), "{stderr}");
    let first: Vec<_> = (0..LIGHTS)
        .map(|i| eloy::fits::read(light(&night, i, ".fz")).unwrap().data)
        .collect();
    let (code, stderr) = calibrate(&raw, &out, &packed);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("done: 0 calibrated, 4 already done (skipped)"),
        "{stderr}"
    );

    // Light 0 cut after its primary HDU (a whole FITS file, not the whole output), light
    // 1's last block zeroed, light 2 a plain float32 image under the `.fz` name.
    let bytes = std::fs::read(light(&night, 0, ".fz")).unwrap();
    std::fs::write(light(&night, 0, ".fz"), &bytes[..2880]).unwrap();
    let mut zeroed = std::fs::read(light(&night, 1, ".fz")).unwrap();
    let len = zeroed.len();
    zeroed[len - 2880..].fill(0);
    std::fs::write(light(&night, 1, ".fz"), &zeroed).unwrap();
    let options = WriteOptions {
        overwrite: true,
        ..Default::default()
    };
    eloy::fits::write(
        light(&night, 2, ".fz"),
        first[2].view(),
        &Header::new(),
        &options,
    )
    .unwrap();
    let (code, stderr) = calibrate(&raw, &out, &packed);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("redone 3 output(s)"), "{stderr}");
    assert!(
        stderr.contains("cut short: 0 of its 1 extension(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("not tile-compressed as asked"), "{stderr}");
    assert!(
        stderr.contains("done: 3 calibrated (3 redone), 1 already done (skipped)"),
        "{stderr}"
    );
    for (i, data) in first.iter().enumerate() {
        let fz = light(&night, i, ".fz");
        assert_eq!(eloy::fits::verify_file(&fz).unwrap(), Integrity::Intact);
        let reader = eloy::fits::Reader::open(&fz).unwrap();
        assert!(reader.is_tile_compressed());
        // The same pixels again: the dithering is a function of the image.
        let again = eloy::fits::read(&fz).unwrap().data;
        assert!(
            again
                .iter()
                .zip(data.iter())
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())),
            "light {i}"
        );
    }

    // A run without --compress writes `.fits` beside them, and takes none of the `.fz`
    // for its outputs; then a compressed rerun skips its own.
    let (code, stderr) = calibrate(&raw, &out, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("done: 4 calibrated, 0 already done"),
        "{stderr}"
    );
    for i in 0..LIGHTS {
        let reader = eloy::fits::Reader::open(light(&night, i, "")).unwrap();
        assert!(!reader.is_tile_compressed());
    }
    let (code, stderr) = calibrate(&raw, &out, &packed);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("done: 0 calibrated, 4 already done (skipped)"),
        "{stderr}"
    );
}

#[test]
fn compression_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    for (args, said) in [
        (&["--quantize", "8"][..], "--compress"),
        (&["--compress", "rice", "--quantize", "0"], "--quantize"),
        (&["--compress", "rice", "--float64"], "--float64"),
        (
            &["--compress", "rice", "--uncertainty", "--read-noise", "5"],
            "--uncertainty",
        ),
        (&["--compress", "gzip"], "gzip"),
    ] {
        let (code, stderr) = calibrate(&raw, &out, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert!(!out.exists());
}
