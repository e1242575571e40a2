//! The `eloy` binary on generated nights.

mod common;

use common::{arg, eloy, text};

use std::path::{Path, PathBuf};

use eloy::calib::synth::{Night, NightSpec};
use eloy::fits::{Header, WriteOptions};

fn small_night(dir: &Path, lights: usize) -> Night {
    let night = Night::new(NightSpec {
        rows: 48,
        cols: 64,
        biases: 3,
        darks: 3,
        flats: 3,
        lights,
        ..Default::default()
    });
    night.write(dir).unwrap();
    night
}

fn outputs(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn calibrate_happy_path_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    small_night(&raw, 4);
    let run = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("4 calibrated"), "{stderr}");
    let night = out.join("2016-01-05");
    let calibrated = outputs(&night);
    assert_eq!(calibrated.len(), 4, "{calibrated:?}");
    let image = eloy::fits::read(&calibrated[0]).unwrap();
    assert_eq!(image.data.dim(), (48, 64));
    assert_eq!(image.bitpix, -32);
    assert_eq!(
        image.header.get::<String>("CALINVAL").as_deref(),
        Some("eloy")
    );
    let masters = outputs(&out.join("masters"));
    let names: Vec<String> = masters
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "_bias.fits",
        "_dark.fits",
        "_R_flat.fits",
        "_bias.png",
        "_dark.png",
        "_R_flat.png",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} in {names:?}"
        );
    }
    // A rerun skips what is done and reuses the masters.
    let again = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 calibrated, 4 already done"), "{stderr}");
    assert!(stderr.contains("reused"), "{stderr}");
}

#[test]
fn outputs_inside_the_scanned_tree_are_never_reduced_again() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    small_night(&night, 3);
    let first = eloy(&["calibrate", arg(&night), "--out", arg(&night.join("run1"))]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // A second reduction into another folder of the same tree scans run1's masters and
    // calibrated lights: they are said and left out, not stacked or calibrated again.
    let second = eloy(&["calibrate", arg(&night), "--out", arg(&night.join("run2"))]);
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 lights in 1 group"), "{stderr}");
    assert!(stderr.contains("3 calibrated, 0 already done"), "{stderr}");
    assert!(
        stderr.contains("left out: 6 processed frame(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("built"), "{stderr}");
    assert!(stderr.contains("from 3 frames"), "{stderr}");
    let summary = eloy(&["summary", arg(&night)]);
    let stdout = text(&summary.stdout);
    assert!(stdout.contains("12 processed frame(s)"), "{stdout}");
}

#[test]
fn corrupt_and_text_files_are_reported_and_the_rest_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    small_night(&raw, 3);
    let good = std::fs::read(raw.join("ScienceImages/light_000.fits")).unwrap();
    std::fs::write(
        raw.join("ScienceImages/light_cut.fits"),
        &good[..good.len() / 2],
    )
    .unwrap();
    std::fs::write(
        raw.join("ScienceImages/notes.fits"),
        "observing log, not FITS",
    )
    .unwrap();
    std::fs::write(raw.join("ScienceImages/notes.txt"), "ignored").unwrap();
    let run = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("light_cut.fits") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(
        stderr.contains("notes.fits") && stderr.contains("not a FITS file"),
        "{stderr}"
    );
    assert!(!stderr.contains("notes.txt"), "{stderr}");
    assert_eq!(outputs(&out.join("2016-01-05")).len(), 3);

    let summary = eloy(&["summary", arg(&raw)]);
    assert_eq!(summary.status.code(), Some(1));
    let stdout = text(&summary.stdout);
    assert!(
        stdout.contains("2016-01-05") && stdout.contains("light_cut.fits"),
        "{stdout}"
    );
    let json = eloy(&["summary", arg(&raw), "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["summary"]["nights"][0]["light"], 3);
    assert_eq!(value["catalog"]["failures"].as_array().unwrap().len(), 2);
}

#[test]
fn a_night_without_darks_uses_dark_zero_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    small_night(&raw, 2);
    std::fs::remove_dir_all(raw.join("Darks")).unwrap();
    let run = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("no dark frames") && stderr.contains("dark taken as 0"),
        "{stderr}"
    );
    let calibrated = eloy::fits::read(&outputs(&out.join("2016-01-05"))[0]).unwrap();
    assert_eq!(
        calibrated.header.get::<String>("DARKCOR").as_deref(),
        Some("none (dark 0)")
    );
}

#[test]
fn a_light_of_another_shape_gets_its_own_group_and_missing_masters() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    let night = small_night(&raw, 2);
    // A light of another shape, same night: it has no calibration frames of its shape.
    let plan = night.plan();
    let light = plan
        .iter()
        .find(|p| p.kind == eloy::fits::FrameKind::Light)
        .unwrap();
    let header = night.header(light);
    let odd = ndarray::Array2::from_elem((20, 30), 1500.0f32);
    let options = WriteOptions {
        precision: eloy::fits::Precision::U16,
        ..Default::default()
    };
    eloy::fits::write(
        raw.join("ScienceImages/odd.fits"),
        odd.view(),
        &header,
        &options,
    )
    .unwrap();
    let run = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("20x30") && stderr.contains("no bias frames"),
        "{stderr}"
    );
    assert_eq!(outputs(&out.join("2016-01-05")).len(), 3);

    // Through the library, a light whose shape differs from given masters is an error naming it.
    let masters = eloy::calib::Masters {
        bias: Some(eloy::calib::Master::new(
            eloy::calib::MasterKind::Bias,
            ndarray::Array2::zeros((48, 64)),
        )),
        ..Default::default()
    };
    let err = eloy::calib::calibrate_file(
        &raw.join("ScienceImages/odd.fits"),
        &dir.path().join("x.fits"),
        &masters,
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("odd.fits") && err.to_string().contains("(20, 30)"),
        "{err}"
    );
}

#[test]
fn an_unwritable_output_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    small_night(&raw, 1);
    // /sys refuses new entries even to root.
    let out = Path::new("/sys/eloy-test-out");
    if !Path::new("/sys").is_dir() {
        eprintln!("skipped: no /sys here to refuse new entries");
        return;
    }
    let run = eloy(&["calibrate", arg(&raw), "--out", arg(out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: /sys/eloy-test-out"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    // A read-only folder inside a writable one (when not root): every light fails, reported.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::File::create(locked.join("probe")).is_err() {
            let run = eloy(&["calibrate", arg(&raw), "--out", arg(&locked)]);
            assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
        }
    }
}

#[test]
fn no_frames_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = eloy(&[
        "calibrate",
        arg(dir.path()),
        "--out",
        arg(&dir.path().join("out")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("no light frames"),
        "{}",
        text(&run.stderr)
    );
    let run = eloy(&["summary", "/no/such/folder"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("/no/such/folder"));
    let run = eloy(&["calibrate"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn stats_json_keeps_input_order_and_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.fits");
    let data = ndarray::Array2::from_shape_fn((10, 11), |(r, c)| (r * 11 + c) as f32);
    eloy::fits::write(&a, data.view(), &Header::new(), &WriteOptions::default()).unwrap();
    let bad = dir.path().join("bad.fits");
    std::fs::write(&bad, "nope").unwrap();
    let run = eloy(&["stats", "--json", arg(&bad), arg(&a)]);
    assert_eq!(run.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], arg(&bad));
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("not a FITS file")
    );
    assert_eq!(lines[1]["path"], arg(&a));
    assert_eq!(lines[1]["shape"], serde_json::json!([10, 11]));
    assert_eq!(lines[1]["min"], 0.0);
    assert_eq!(lines[1]["max"], 109.0);
    assert_eq!(lines[1]["median"], 54.5);
    assert_eq!(lines[1]["nan"], 0);
    let sd = lines[1]["stddev"].as_f64().unwrap();
    assert!((sd - 31.898_276).abs() < 1e-4, "{sd}");
}

#[test]
fn preview_draws_row_zero_at_the_bottom() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.fits");
    let mut data =
        ndarray::Array2::from_shape_fn((40, 50), |(r, c)| ((r * 7 + c * 13) % 17) as f32);
    data[[0, 0]] = 1.0e6; // a bright pixel on row 0, column 0
    eloy::fits::write(&a, data.view(), &Header::new(), &WriteOptions::default()).unwrap();
    let png = dir.path().join("a.png");
    let run = eloy(&["preview", arg(&a), "-o", arg(&png)]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (50, 40));
    assert_eq!(buf[(39 * 50) as usize], 255, "bottom-left is white");
    // Refuses to overwrite by surprise.
    let again = eloy(&["preview", arg(&a), "-o", arg(&png)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
}

/// `--sigma-rounds 1 --sigma-center mean` (ccdproc's `Combiner.sigma_clipping`) reaches
/// the masters' combine in the plan; the two options need `--sigma-clip`.
#[test]
fn sigma_clipping_rounds_and_centre_reach_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    small_night(&raw, 1);
    let run = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&out),
        "--dry-run",
        "--json",
        "--sigma-clip",
        "3",
        "--sigma-rounds",
        "1",
        "--sigma-center",
        "mean",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        plan["options"]["combine"]["rejection"],
        serde_json::json!({
            "rejection": "sigma_clip", "low": 3.0, "high": 3.0, "max_iters": 1, "center": "mean"
        })
    );
    let run = eloy(&[
        "calibrate",
        arg(&raw),
        "--out",
        arg(&out),
        "--sigma-rounds",
        "1",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("--sigma-clip"),
        "{}",
        text(&run.stderr)
    );
}

/// A night named relatively, then absolutely: the same frames, so the saved masters are
/// reused, not refused as built from other frames.
#[test]
fn masters_are_reused_whatever_the_spelling_of_the_night() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    small_night(&raw, 2);
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_eloy"))
        .current_dir(dir.path())
        .args(["calibrate", "raw", "--out", "out"])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let rerun = eloy(&["calibrate", arg(&raw), "--out", arg(&out)]);
    let stderr = text(&rerun.stderr);
    assert_eq!(rerun.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("  reused ").count(), 3, "{stderr}");
}
