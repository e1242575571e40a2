//! The `eloy` binary on real nights with ground truth (`eloy::calib::synth::RealNight`):
//! nights as N.I.N.A., SharpCap, MaxIm DL and ASIAIR write them, two gains, and a bias
//! and dark library shot two nights before. `eloy calibrate --dry-run --json` gives the
//! plan (its decisions are checked), `eloy calibrate` runs it, and every calibrated light
//! must match the sky the generator put in: medians of 16 x 16 blocks away from stars
//! within 0.5 % (issue 13).

mod common;

use common::{arg, eloy, text};

use std::path::{Path, PathBuf};

use eloy::calib::synth::{FrameSet, FrameTruth, RealNight, Settings, block_ratios};
use eloy::calib::{Decision, MasterKind, Plan};
use eloy::fits::FrameKind;

/// `eloy calibrate DIR --out OUT [extra] --dry-run --json`: the plan.
fn dry_run(dir: &Path, out: &Path, extra: &[&str]) -> Plan {
    let mut args = vec![
        "calibrate",
        arg(dir),
        "--out",
        arg(out),
        "--dry-run",
        "--json",
    ];
    args.extend(extra);
    let run = eloy(&args);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&run.stdout)))
}

/// `eloy calibrate DIR --out OUT [extra]`: its status and stderr.
fn calibrate(dir: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["calibrate", arg(dir), "--out", arg(out), "--no-preview"];
    args.extend(extra);
    let run = eloy(&args);
    (run.status.code(), text(&run.stderr))
}

/// Every light of `frames` under `root`, calibrated by `plan` into `out`, against its
/// truth: the worst block's |ratio - 1|, for each.
fn check(
    name: &str,
    night: &RealNight,
    frames: &[FrameTruth],
    root: &Path,
    plan: &Plan,
    out: &Path,
) -> Vec<f64> {
    let stars = night.truth().unwrap().star_mask;
    let mut worst = Vec::new();
    for light in frames.iter().filter(|f| f.path.starts_with(root)) {
        let Some(sky) = light.sky else { continue };
        let recipe = plan
            .recipes
            .iter()
            .find(|r| r.frame == light.path)
            .unwrap_or_else(|| panic!("no recipe for {}", light.path.display()));
        let data = eloy::fits::read(out.join(&recipe.output)).unwrap().data;
        let blocks = block_ratios(data.view(), sky, stars.view(), 16).unwrap();
        assert!(blocks.len() >= 25, "{name}: {} blocks", blocks.len());
        let off = blocks
            .iter()
            .map(|b| (b.ratio - 1.0).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{name} (eloy calibrate): {}: worst block {:.3} % off",
            light.path.file_name().unwrap().to_string_lossy(),
            100.0 * off
        );
        assert!(
            off < 0.005,
            "{name}: {}: a block median is {:.3} % off the truth",
            light.path.display(),
            100.0 * off
        );
        worst.push(off);
    }
    assert!(!worst.is_empty(), "{name}: no lights");
    worst
}

/// Writes `night` into `folder` of a new folder, plans and calibrates it with `extra` options, checks the
/// lights; returns the plan and stderr.
fn run_night(name: &str, night: &RealNight, folder: &str, extra: &[&str]) -> (Plan, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(folder);
    let frames = night.write(&root).unwrap();
    run_written(name, night, &frames, &root, extra)
}

fn run_written(
    name: &str,
    night: &RealNight,
    frames: &[FrameTruth],
    root: &Path,
    extra: &[&str],
) -> (Plan, String) {
    let out = root.with_file_name(format!(
        "{}-out",
        root.file_name().unwrap().to_string_lossy()
    ));
    let plan = dry_run(root, &out, extra);
    let (status, stderr) = calibrate(root, &out, extra);
    assert_eq!(status, Some(0), "{name}:\n{stderr}");
    check(name, night, frames, root, &plan, &out);
    (plan, stderr)
}

#[test]
fn nina_night_without_bias_with_dark_flats_and_darks_of_another_gain() {
    let night = RealNight::nina();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("night");
    let frames = night.write(&root).unwrap();
    // `eloy summary` says the decisions before anything is done.
    let summary = eloy(&["summary", arg(&root)]);
    let stdout = text(&summary.stdout);
    assert_eq!(summary.status.code(), Some(0), "{}", text(&summary.stderr));
    assert!(stdout.contains("dark of 120 s:"), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("unused:") && l.contains("other gain (GAIN 200"))
            .count(),
        5,
        "{stdout}"
    );
    let (plan, stderr) = run_written("N.I.N.A.", &night, &frames, &root, &[]);
    // The decisions, printed: the dark of 120 s, the dark flats, no bias; the GAIN 200
    // darks unused, each by name, with why.
    assert!(stderr.contains("dark of 120 s:"), "{stderr}");
    assert!(stderr.contains("dark flat of 2 s:"), "{stderr}");
    let unused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("unused:") && l.contains("other gain (GAIN 200, the frames' 100)"))
        .collect();
    assert_eq!(unused.len(), 5, "{stderr}");
    let json_unused = plan
        .all_decisions()
        .filter(|d| matches!(d, Decision::Unused { why, .. } if why.contains("other gain")))
        .count();
    assert_eq!(json_unused, 5);
    for recipe in &plan.recipes {
        assert_eq!(eloy::calib::formula(&recipe.steps), "(raw - dark) / flat");
    }
}

#[test]
fn sharpcap_night() {
    run_night("SharpCap", &RealNight::sharpcap(), "night", &[]);
}

#[test]
fn maxim_dl_night() {
    let (plan, _) = run_night("MaxIm DL", &RealNight::maxim_dl(), "night", &[]);
    for recipe in &plan.recipes {
        assert_eq!(
            eloy::calib::formula(&recipe.steps),
            "(raw - (dark * 120 s + bias)) / flat"
        );
    }
}

#[test]
fn asiair_night() {
    run_night("ASIAIR", &RealNight::asiair(), "night", &[]);
}

#[test]
fn two_gains_night() {
    let (plan, _) = run_night("two gains", &RealNight::two_gains(), "night", &[]);
    assert_eq!(plan.groups.len(), 2);
}

#[test]

fn a_library_built_by_eloy_masters_serves_a_night_without_bias_or_darks() {
    let dir = tempfile::tempdir().unwrap();
    let night = RealNight::library();
    let frames = night.write(dir.path()).unwrap();
    let lib = dir.path().join("lib");
    let run = eloy(&[
        "masters",
        arg(&dir.path().join("library")),
        "--out",
        arg(&lib),
        "--no-preview",
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 master(s) built"), "{stderr}");
    let masters = lib.join("masters");
    let (plan, stderr) = run_written(
        "library",
        &night,
        &frames,
        &dir.path().join("night"),
        &["--masters", arg(&masters)],
    );
    // What came from the library is said.
    assert!(
        stderr.contains("from the library:") && stderr.contains(arg(&masters)),
        "{stderr}"
    );
    let from_library = plan.all_decisions().filter(|d| {
        matches!(
            d,
            Decision::Uses {
                origin: eloy::calib::Origin::Library { .. },
                ..
            }
        )
    });
    assert!(from_library.count() >= 2, "{:#?}", plan.groups);
}

#[test]
fn eloy_masters_on_a_folder_of_only_bias_frames_builds_a_master_bias() {
    let dir = tempfile::tempdir().unwrap();
    let night = RealNight::new(eloy::calib::synth::Software::Asiair).with(FrameSet::new(
        FrameKind::Bias,
        5,
        0.001,
        Settings::cmos(100.0, 50.0),
    ));
    let frames = night.write(&dir.path().join("bias")).unwrap();
    let out = dir.path().join("lib");
    let run = eloy(&[
        "masters",
        arg(&dir.path().join("bias")),
        "--out",
        arg(&out),
        "--no-preview",
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let built: Vec<PathBuf> = std::fs::read_dir(out.join("masters"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(built.len(), 1, "{built:?}");
    let master = eloy::fits::read(&built[0]).unwrap();
    assert_eq!(
        master.header.get::<String>("ELOYMSTR").as_deref(),
        Some("bias")
    );
    // The master is the camera's offset level and bias pattern: 500 ADU at OFFSET 50.
    let truth = night.truth().unwrap();
    let offset = night.camera.offset_level(&night.sets[0].settings);
    let mut worst: f64 = 0.0;
    for ((r, c), &v) in master.data.indexed_iter() {
        worst = worst.max((f64::from(v) - offset - f64::from(truth.bias[[r, c]])).abs());
    }
    assert!(worst < 10.0, "master bias off its truth by {worst} ADU");
    assert_eq!(frames.len(), 5);
}

#[test]

fn a_light_no_master_serves_is_named_with_why_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let at = Settings::cmos(300.0, 50.0).readout_mode("Normal");
    let night = RealNight::nina().with(
        FrameSet::new(FrameKind::Light, 1, 120.0, at)
            .filter("L")
            .object("M 42"),
    );
    let frames = night.write(&dir.path().join("night")).unwrap();
    let stray = frames.last().unwrap().path.clone();
    let out = dir.path().join("out");
    let (status, stderr) = calibrate(&dir.path().join("night"), &out, &[]);
    assert!(matches!(status, Some(0 | 1)), "{stderr}");
    assert!(stderr.contains("4 calibrated"), "{stderr}");
    let name = stray.file_name().unwrap().to_string_lossy().into_owned();
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains(&name)).collect();
    assert!(
        said.iter()
            .any(|l| l.contains("other gain (GAIN 100, the frames' 300)")),
        "the light by name, with why:\n{stderr}"
    );
    assert!(
        !said
            .iter()
            .any(|l| l.contains("no calibration frame of its night")),
        "{stderr}"
    );
    // The other lights are right.
    let root = dir.path().join("night");
    let plan = dry_run(&root, &out, &[]);
    let others: Vec<FrameTruth> = frames.iter().filter(|f| f.path != stray).cloned().collect();
    check(
        "N.I.N.A. with a GAIN 300 light",
        &night,
        &others,
        &root,
        &plan,
        &out,
    );
    assert!(plan.all_decisions().any(|d| matches!(
        d,
        Decision::NotCorrected {
            kind: MasterKind::Flat,
            ..
        }
    )));
}
