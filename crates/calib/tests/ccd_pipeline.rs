//! CCD frames with an overscan through the whole pipeline (plan, masters, lights), against
//! astropy ccdproc and IRAF ccdproc (fixtures: `fixtures/ccd/`, see its README).

use std::path::{Path, PathBuf};

use eloy_calib::{
    InvalidPixels, Library, OverscanFit, OverscanMethod, Reduction, Rules, Step, formula, plan,
};
use eloy_fits::Catalog;
use eloy_stack::{Combine, Rejection};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ccd")
        .join(name)
}

fn copy_into(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for name in names {
        let from = fixture(name);
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
}

/// The SAAO frame alone, with no calibration frame: its overscan is subtracted and it is
/// trimmed all the same, equal to ccdproc's `subtract_overscan(median=True,
/// fits_section=BIASSEC)` + `trim_image(TRIMSEC)`, and the plan says what was not done.
#[test]
fn a_lone_ccd_frame_gets_overscan_and_trim_as_ccdproc() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    copy_into(&night, &["a8280271.fits.gz"]);
    let catalog = Catalog::scan(&night).unwrap();
    let rules = Rules {
        invalid: InvalidPixels::Keep,
        ..Rules::default()
    };
    let plan = plan(&catalog, &rules, &Library::default());
    assert_eq!(plan.recipes.len(), 1, "{:?}", plan.failures);
    let recipe = &plan.recipes[0];
    assert!(matches!(recipe.steps[0], Step::Overscan { .. }));
    assert!(matches!(recipe.steps[1], Step::Trim { .. }));
    assert_eq!(recipe.shape, (520, 512));
    assert_eq!(
        formula(&recipe.steps),
        "raw - overscan[4:13,1:520][17:528,1:520]"
    );
    // DATE-OBS is a date alone (00:00 UT): the night that started on the 12th.
    assert_eq!(plan.groups[0].label, "2013-07-12_520x512_bin1x1");
    let defaults = plan.groups[0]
        .decisions
        .iter()
        .filter(|d| matches!(d, eloy_calib::Decision::Default { .. }))
        .count();
    assert_eq!(defaults, 3, "no bias, dark or flat: said");

    let out = dir.path().join("out");
    let report = Reduction::new(&plan, &out).run();
    assert_eq!(report.lights.written(), 1);
    let written = eloy_fits::read(out.join(&recipe.output)).unwrap();
    assert_eq!(written.data.dim(), (520, 512));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ccdproc.json")).unwrap()).unwrap();
    let case = &reference["frames"][0]["cases"][0];
    assert_eq!(case["name"], "median");
    let mut worst = 0.0f64;
    for sample in case["samples"].as_array().unwrap() {
        let v: Vec<f64> = sample
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let ours = f64::from(written.data[[v[0] as usize, v[1] as usize]]);
        worst = worst.max((ours - v[2]).abs() / v[2].abs().max(1.0));
    }
    assert!(worst <= 1e-5, "relative difference {worst:e}");
    let sum: f64 = written.data.iter().map(|&v| f64::from(v)).sum();
    let expected = case["sum"].as_f64().unwrap();
    assert!(
        (sum - expected).abs() <= 1e-6 * expected.abs(),
        "{sum} vs {expected}"
    );
    // What was done is in the header, as IRAF writes it; it is never done again.
    let h = &written.header;
    let overscan = h.get::<String>("OVERSCAN").unwrap();
    assert!(
        overscan.contains("Overscan section is [4:13,1:520]"),
        "{overscan}"
    );
    let trim = h.get::<String>("TRIM").unwrap();
    assert!(
        trim.contains("Trim data section is [17:528,1:520]"),
        "{trim}"
    );
    assert_eq!(h.get::<String>("BIASSEC"), None);
    let again = Catalog::scan(out.join("2013-07-12")).unwrap();
    let meta = &again.frames[0];
    assert!(meta.overscan_done && meta.trimmed);
}

/// The median of `|a - b| / |b|` over the pixels where `b` is not near zero.
fn median_relative(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> f64 {
    let mut r: Vec<f64> = a
        .iter()
        .zip(b.iter())
        .filter(|(_, b)| b.abs() > 1.0)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs() / f64::from(*b).abs())
        .collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

fn iraf_night(dir: &Path) -> PathBuf {
    let night = dir.join("raw");
    let mut names: Vec<String> = (1..=5)
        .map(|i| format!("iraf/raw/zero0{i}.fits.gz"))
        .collect();
    names.extend((1..=3).map(|i| format!("iraf/raw/dark0{i}.fits.gz")));
    names.extend((1..=4).map(|i| format!("iraf/raw/flat0{i}.fits.gz")));
    names.extend((1..=2).map(|i| format!("iraf/raw/obj0{i}.fits.gz")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    copy_into(&night, &names);
    night
}

/// IRAF's ccdtest night through eloy: overscan, trim, bias, dark and flat, against IRAF
/// ccdproc's reduced objects. With eloy's defaults (per-line median overscan, median
/// combines) the lights agree to a few 1e-3 (noise: the combines differ); with IRAF's
/// options (a constant overscan fit with 3-sigma rejection, zero and dark combined as the
/// mean after dropping each pixel's highest value) closer.
#[test]
fn the_iraf_ccdtest_night_reduces_as_iraf_ccdproc() {
    let dir = tempfile::tempdir().unwrap();
    let night = iraf_night(dir.path());
    let catalog = Catalog::scan(&night).unwrap();
    let iraf_like = Rules {
        overscan: Some(OverscanMethod::Fit(OverscanFit::default())),
        masters: eloy_calib::MasterOptions {
            combine: Combine::mean().rejection(Rejection::MinMax { low: 0, high: 1 }),
            ..Default::default()
        },
        invalid: InvalidPixels::Keep,
        ..Rules::default()
    };
    let defaults = Rules {
        invalid: InvalidPixels::Keep,
        ..Rules::default()
    };
    let mut results = Vec::new();
    for (name, rules) in [("defaults", defaults), ("iraf-like", iraf_like)] {
        let plan = plan(&catalog, &rules, &Library::default());
        assert_eq!(plan.recipes.len(), 2, "{:?}", plan.failures);
        assert_eq!(plan.masters.len(), 3, "zero, dark, flat");
        for recipe in &plan.recipes {
            assert_eq!(recipe.shape, (96, 96));
        }
        let out = dir.path().join(name);
        let report = Reduction::new(&plan, &out).run();
        assert_eq!(report.lights.written(), 2, "{:?}", report.failed_masters);
        for recipe in &plan.recipes {
            let stem = recipe.frame.file_name().unwrap().to_string_lossy();
            let stem = stem.trim_end_matches(".fits.gz");
            let ours = eloy_fits::read(out.join(&recipe.output)).unwrap().data;
            let iraf = eloy_fits::read(fixture(&format!("iraf/{stem}.fits.gz")))
                .unwrap()
                .data;
            let m = median_relative(&ours, &iraf);
            eprintln!("{name}: {stem}: median relative difference from IRAF {m:.2e}");
            results.push((name, m));
        }
    }
    for (name, m) in &results {
        // Within noise: a flat of 4 frames at ~2000-4000 ADU and biases of 5 frames differ
        // by a few 1e-3 between combine methods.
        assert!(*m < 5e-3, "{name}: {m:e}");
    }
    // Without the overscan and trim, the flat's mean is pulled down by the near-zero
    // overscan columns and the lights come out ~24% low: the step matters.
    let raw_rules = Rules {
        overscan: None,
        trim: false,
        invalid: InvalidPixels::Keep,
        ..Rules::default()
    };
    let plan = plan(&catalog, &raw_rules, &Library::default());
    let out = dir.path().join("raw-out");
    Reduction::new(&plan, &out).run();
    let recipe = &plan.recipes[0];
    let ours = eloy_fits::read(out.join(&recipe.output)).unwrap().data;
    let iraf = eloy_fits::read(fixture("iraf/obj01.fits.gz")).unwrap().data;
    let trimmed = ours.slice(ndarray::s![2..98, 2..98]).to_owned();
    assert!(median_relative(&trimmed, &iraf) > 0.05);
}

/// Bad sections: each an error naming the file and the keyword, and the rest goes on.
#[test]
fn bad_sections_are_errors_naming_file_and_keyword() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    std::fs::create_dir_all(&night).unwrap();
    let write = |name: &str, cards: &[(&str, &str)]| {
        let mut h = eloy_fits::Header::new();
        h.set("IMAGETYP", "object", "");
        h.set("EXPTIME", 10.0, "");
        h.set("DATE-OBS", "2024-01-01T22:00:00", "");
        for (k, v) in cards {
            h.set(k, *v, "");
        }
        let data = ndarray::Array2::from_elem((20, 30), 1000.0f32);
        eloy_fits::write(night.join(name), data.view(), &h, &Default::default()).unwrap();
    };
    write("malformed.fits", &[("BIASSEC", "[25:30")]);
    write("outside.fits", &[("BIASSEC", "[25:40,*]")]);
    write(
        "short.fits",
        &[("BIASSEC", "[25:30,1:10]"), ("TRIMSEC", "[1:20,1:20]")],
    );
    write(
        "good.fits",
        &[("BIASSEC", "[25:30,*]"), ("TRIMSEC", "[1:20,1:20]")],
    );
    let plan = plan(
        &Catalog::scan(&night).unwrap(),
        &Rules::default(),
        &Library::default(),
    );
    assert_eq!(plan.recipes.len(), 1);
    assert!(plan.recipes[0].frame.ends_with("good.fits"));
    let why = |name: &str| {
        plan.failures
            .iter()
            .find(|f| f.frame.ends_with(name))
            .map(|f| f.why.clone())
            .unwrap_or_else(|| panic!("{name}: {:?}", plan.failures))
    };
    assert!(
        why("malformed.fits").contains("BIASSEC = '[25:30'"),
        "{}",
        why("malformed.fits")
    );
    assert!(why("malformed.fits").contains("malformed.fits"));
    assert!(
        why("outside.fits").contains("lies outside the image"),
        "{}",
        why("outside.fits")
    );
    assert!(
        why("short.fits").contains("does not cover the rows kept"),
        "{}",
        why("short.fits")
    );
}
