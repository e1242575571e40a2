//! The sensor options of `eloy calibrate`, `eloy stats` and `eloy preview` on a small
//! colour night written here: `--cosmetic`, `--pedestal`, `--bias-level`, `--dark-scale`,
//! `--equalize-cfa` reach the plan and the outputs; `eloy stats` gives each colour of a
//! Bayer frame; `eloy preview --debayer` draws a colour PNG; bad values are clear errors.

mod common;

use common::{arg, eloy, text};

use std::path::Path;

use eloy::fits::Header;
use ndarray::Array2;

/// A colour (RGGB) night without bias frames: 5 darks and 3 lights of 60 s, 5 flats of
/// 2 s; one hot pixel at (10, 20) (row, column) of 3000 ADU in darks and lights. Pixel
/// values are deterministic (a hash of the position as noise).
fn write_night(dir: &Path) {
    let noise = |r: usize, c: usize, i: usize| ((r * 7919 + c * 104_729 + i * 13) % 17) as f32;
    let colour = |r: usize, c: usize| match (r % 2, c % 2) {
        (0, 0) => 0.4f32,
        (1, 1) => 0.3,
        _ => 1.0,
    };
    let frame = |name: &str, kind: &str, seconds: f64, value: &dyn Fn(usize, usize) -> f32| {
        let data = Array2::from_shape_fn((48, 64), |(r, c)| value(r, c));
        let mut header = Header::new();
        header.set("IMAGETYP", kind, "");
        header.set("EXPTIME", seconds, "");
        header.set("DATE-OBS", "2024-03-10T21:00:00", "");
        header.set("BAYERPAT", "RGGB", "");
        header.set("OFFSET", 20, "");
        eloy::fits::write(dir.join(name), data.view(), &header, &Default::default()).unwrap();
    };
    for i in 0..5 {
        frame(&format!("dark{i}.fits"), "Dark Frame", 60.0, &|r, c| {
            let hot = if (r, c) == (10, 20) { 3000.0 } else { 0.0 };
            200.0 + 5.0 + hot + noise(r, c, i)
        });
        frame(&format!("flat{i}.fits"), "Flat Field", 2.0, &|r, c| {
            200.0 + 20_000.0 * colour(r, c) + noise(r, c, i)
        });
    }
    for i in 0..3 {
        frame(&format!("light{i}.fits"), "Light Frame", 60.0, &|r, c| {
            let hot = if (r, c) == (10, 20) { 4800.0 } else { 0.0 };
            200.0 + 5.0 + hot + 600.0 * colour(r, c) + noise(r, c, i + 5)
        });
    }
}

#[test]
fn sensor_options_reach_the_plan_and_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    write_night(&raw);

    // The plan says the steps.
    let out = dir.path().join("out");
    let dry = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&out),
        "--cosmetic",
        "--pedestal",
        "100",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let plan = text(&dry.stdout);
    assert!(plan.contains("+ 100 ADU"), "{plan}");

    // Calibrated with and without the options.
    let plain = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&dir.path().join("plain")),
    ]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let run = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&out),
        "--cosmetic",
        "--pedestal",
        "100",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let light = |root: &Path| {
        let night = root.join("2024-03-10");
        eloy::fits::read(night.join("light0.fits")).unwrap()
    };
    let (before, after) = (light(&dir.path().join("plain")), light(&out));
    assert_eq!(after.header.get::<f64>("PEDESTAL"), Some(100.0));
    assert!(after.header.get::<usize>("COSMETIC").unwrap() >= 1);
    // The hot pixel, 1.6x hotter in the light, is left 1800 ADU high without --cosmetic,
    // and brought to its green neighbours' level (plus the pedestal) with it.
    let hot_before = before.data[[10, 20]];
    let hot_after = after.data[[10, 20]] - 100.0;
    let neighbour = before.data[[10, 22]];
    assert!(hot_before - neighbour > 1000.0, "{hot_before} {neighbour}");
    assert!(
        (hot_after - neighbour).abs() < 0.2 * neighbour,
        "{hot_after} {neighbour}"
    );
    // Elsewhere the output is the plain one plus the pedestal.
    let (p, q) = (before.data[[30, 40]], after.data[[30, 40]]);
    assert!((q - p - 100.0).abs() < 1e-3, "{p} {q}");
    assert_eq!(
        after.header.get::<String>("BAYERPAT").as_deref(),
        Some("RGGB")
    );

    // eloy stats: each colour of the Bayer frame.
    let stats = eloy(&["stats", "--json", arg(&out.join("2024-03-10/light0.fits"))]);
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(json["cfa"]["pattern"], "RGGB");
    let channels = json["cfa"]["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 3);
    assert_eq!(channels[0]["colour"], "red");
    let (r, g) = (
        channels[0]["median"].as_f64().unwrap(),
        channels[1]["median"].as_f64().unwrap(),
    );
    assert!(r > 0.0 && g > 0.0, "{json}");

    // eloy preview --debayer: a colour PNG.
    let png = dir.path().join("light.png");
    let preview = eloy(&[
        "preview",
        arg(&out.join("2024-03-10/light0.fits")),
        "-o",
        arg(&png),
        "--debayer",
    ]);
    assert!(preview.status.success(), "{}", text(&preview.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!(reader.info().color_type, png::ColorType::Rgb);
    // Not a Bayer frame: said.
    let mono = dir.path().join("mono.fits");
    eloy::fits::write(
        &mono,
        Array2::<f32>::zeros((4, 4)).view(),
        &Header::new(),
        &Default::default(),
    )
    .unwrap();
    let refused = eloy(&[
        "preview",
        arg(&mono),
        "-o",
        arg(&dir.path().join("m.png")),
        "--debayer",
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("not a Bayer frame"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn bias_level_and_equalization_reach_the_plan_and_bad_values_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    write_night(&raw);
    let out = dir.path().join("out");
    let dry = |extra: &[&str]| {
        let mut args = vec![
            "calibrate",
            arg(&raw),
            "--out",
            arg(&out),
            "--dry-run",
            "--json",
        ];
        args.extend_from_slice(extra);
        let output = eloy(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let level = dry(&["--bias-level", "=10*$OFFSET"]);
    assert!(level.contains("\"value\": 200.0"), "{level}");
    assert!(level.contains("synthetic"), "{level}");
    let equalized = dry(&["--equalize-cfa"]);
    assert!(equalized.contains("equalize_cfa"), "{equalized}");
    for (flag, value, message) in [
        ("--bias-level", "OFFSET**2", "--bias-level OFFSET**2"),
        ("--pedestal", "inf", "--pedestal inf"),
        ("--hot-sigma", "0", "--hot-sigma 0"),
    ] {
        let output = eloy(&["calibrate", arg(&raw), "--out", arg(&out), flag, value]);
        assert!(!output.status.success(), "{flag} {value}");
        assert!(
            text(&output.stderr).contains(message),
            "{}",
            text(&output.stderr)
        );
    }
    let missing = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&out),
        "--cosmetic",
        "--cosmetic-list",
        "/nonexistent/bad.lst",
    ]);
    assert!(!missing.status.success());
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("--cosmetic-list /nonexistent/bad.lst"),
        "{stderr}"
    );
    assert!(
        !out.join("masters").exists(),
        "nothing built before the error"
    );
}
