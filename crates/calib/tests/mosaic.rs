//! Mosaics (one image extension per amplifier, GMOS-like) through the whole pipeline:
//! each extension calibrated with the masters of the same extension, against the known
//! sky of each amplifier; pairing by name whatever the order; refusals; the outputs'
//! layout and checksums.

#[path = "../../../tests/support/fitsverify.rs"]
mod fitsverify_tool;

use fitsverify_tool::fitsverify;

use std::path::Path;

use eloy_calib::synth::MosaicNight;
use eloy_calib::{Library, MasterKind, Reduction, Rules, plan};
use eloy_fits::{Catalog, FrameKind, Integrity, Reader};

/// Median of the finite values.
fn median(values: &[f32]) -> f64 {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f32::total_cmp);
    f64::from(v[v.len() / 2])
}

/// Each extension of each output against the truth of its amplifier (by `EXTVER`):
/// the largest relative error of the median sky.
fn worst_error(night: &MosaicNight, output: &Path) -> f64 {
    let reader = Reader::open(output).unwrap();
    assert_eq!(
        reader.image_hdus().len(),
        night.amplifiers.len(),
        "{}",
        output.display()
    );
    let mut worst: f64 = 0.0;
    for &hdu in reader.image_hdus() {
        let mut image = Reader::open_hdu(output, hdu).unwrap();
        let (rows, cols) = image.shape();
        assert_eq!(
            (rows, cols),
            (night.rows, night.cols - night.overscan),
            "trimmed"
        );
        let mut values = vec![0.0f32; rows * cols];
        image.read_rows(0..rows, &mut values).unwrap();
        let version = image.header().get::<i64>("EXTVER").unwrap();
        assert_eq!(
            image.header().get::<String>("EXTNAME").as_deref(),
            Some("SCI")
        );
        assert!(image.header().contains("OVERSCAN") && image.header().contains("TRIM"));
        assert!(image.header().contains("ZEROCOR") && image.header().contains("FLATCOR"));
        let truth = night.true_sky(usize::try_from(version - 1).unwrap());
        let error = (median(&values) - truth).abs() / truth;
        eprintln!(
            "{} [SCI,{version}]: median {:.3}, truth {truth:.3}, relative error {error:.2e}",
            output.display(),
            median(&values)
        );
        worst = worst.max(error);
    }
    worst
}

fn reduce(dir: &Path) -> (eloy_calib::Plan, eloy_calib::ReductionReport) {
    let catalog = Catalog::scan(dir.join("raw")).unwrap();
    let plan = plan(&catalog, &Rules::default(), &Library::default());
    let report = Reduction::new(&plan, dir.join("out")).run();
    (plan, report)
}

#[test]
fn every_extension_is_calibrated_with_its_own_masters() {
    let dir = tempfile::tempdir().unwrap();
    let night = MosaicNight::gmos();
    night.write(&dir.path().join("raw")).unwrap();
    let (plan, report) = reduce(dir.path());
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    // One group; a recipe per light and extension; bias, dark, flat per extension.
    assert_eq!(plan.groups.len(), 1, "{:?}", plan.groups);
    assert_eq!(plan.recipes.len(), night.lights * 3);
    for kind in [MasterKind::Bias, MasterKind::Dark, MasterKind::Flat] {
        let names: Vec<&str> = plan
            .masters
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.id.0.as_str())
            .collect();
        assert_eq!(names.len(), 3, "{kind}: {names:?}");
        for (name, suffix) in names.iter().zip(["SCI-1", "SCI-2", "SCI-3"]) {
            assert!(name.ends_with(suffix), "{name}");
        }
    }
    // Each extension's inputs are its own extension of the calibration files.
    for master in &plan.masters {
        if let eloy_calib::MasterSource::Frames { inputs } = &master.source {
            let ext = inputs[0].extension.clone().unwrap();
            assert!(master.id.0.ends_with(&ext.file_suffix()), "{}", master.id);
            assert!(inputs.iter().all(|i| i.extension.as_ref() == Some(&ext)));
        }
    }
    assert_eq!(
        report.lights.written(),
        night.lights,
        "{:?}",
        report.lights.outcomes
    );
    assert!(
        report.failed_masters.is_empty(),
        "{:?}",
        report.failed_masters
    );
    let mut worst: f64 = 0.0;
    for recipe in plan.recipes.iter().step_by(3) {
        let output = dir.path().join("out").join(&recipe.output);
        assert_eq!(eloy_fits::verify_file(&output).unwrap(), Integrity::Intact);
        // The primary is the light's, without data.
        let reader = Reader::open(&output).unwrap();
        assert_eq!(
            reader.primary_header().get::<String>("INSTRUME").as_deref(),
            Some("GMOS-S")
        );
        worst = worst.max(worst_error(&night, &output));
        if let Some((warnings, errors, text)) = fitsverify(&output) {
            assert_eq!((warnings, errors), (0, 0), "{text}");
        }
    }
    eprintln!("worst relative error of an extension's sky: {worst:.2e}");
    assert!(worst < 3e-3, "{worst}");
    // Without the overscan, each amplifier's drift stays in: the check can fail.
    let masters = dir.path().join("out/masters");
    let saved: Vec<String> = std::fs::read_dir(&masters)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(saved.len(), 9, "{saved:?}");
    // A rerun finds every output whole and skips it; a damaged one is done again.
    let (_, again) = reduce(dir.path());
    assert_eq!(again.lights.skipped(), night.lights);
    let output = dir.path().join("out").join(&plan.recipes[0].output);
    let mut bytes = std::fs::read(&output).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x55;
    std::fs::write(&output, &bytes).unwrap();
    let (_, third) = reduce(dir.path());
    assert_eq!(third.lights.redone(), 1);
    assert_eq!(eloy_fits::verify_file(&output).unwrap(), Integrity::Intact);
}

#[test]
fn without_overscan_the_sky_is_off() {
    // The same night without the overscan subtraction (and so without the trim to
    // DATASEC that goes with it): each frame's drift of the bias level and the overscan
    // strip stay in, and the check of the test above fails.
    let dir = tempfile::tempdir().unwrap();
    let night = MosaicNight::gmos();
    night.write(&dir.path().join("raw")).unwrap();
    let catalog = Catalog::scan(dir.path().join("raw")).unwrap();
    let rules = Rules {
        overscan: None,
        ..Rules::default()
    };
    let plan = plan(&catalog, &rules, &Library::default());
    let report = Reduction::new(&plan, dir.path().join("out")).run();
    assert_eq!(report.lights.written(), night.lights);
    let worst = plan
        .recipes
        .iter()
        .step_by(3)
        .map(|r| {
            let output = dir.path().join("out").join(&r.output);
            let reader = Reader::open(&output).unwrap();
            let mut error: f64 = 0.0;
            for &hdu in reader.image_hdus() {
                let mut image = Reader::open_hdu(&output, hdu).unwrap();
                let (rows, cols) = image.shape();
                let mut values = vec![0.0f32; rows * cols];
                image.read_rows(0..rows, &mut values).unwrap();
                let version = image.header().get::<i64>("EXTVER").unwrap();
                let truth = night.true_sky(usize::try_from(version - 1).unwrap());
                error = error.max((median(&values) - truth).abs() / truth);
            }
            error
        })
        .fold(0.0, f64::max);
    eprintln!("worst relative error without the overscan: {worst:.2e}");
    assert!(worst > 3e-3, "{worst}");
}

#[test]
fn extensions_pair_by_name_whatever_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let night = MosaicNight::gmos();
    for (kind, index, name) in night.frames() {
        // Half the biases, one flat, one dark and one light with their extensions
        // in another order.
        let order: &[usize] = match (kind, index) {
            (FrameKind::Bias, i) if i % 2 == 0 => &[2, 0, 1],
            (FrameKind::Flat | FrameKind::Dark, 1) | (FrameKind::Light, 0) => &[1, 2, 0],
            _ => &[0, 1, 2],
        };
        night
            .write_frame(&raw.join(name), kind, index, order)
            .unwrap();
    }
    let (plan, report) = reduce(dir.path());
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    assert_eq!(report.lights.written(), night.lights);
    let mut worst: f64 = 0.0;
    for recipe in plan.recipes.iter().step_by(3) {
        worst = worst.max(worst_error(
            &night,
            &dir.path().join("out").join(&recipe.output),
        ));
    }
    eprintln!("worst relative error, extensions swapped: {worst:.2e}");
    assert!(worst < 3e-3, "{worst}");
    // The swapped light keeps its own layout: SCI,2 first.
    let first = plan
        .recipes
        .iter()
        .find(|r| r.frame.ends_with("light_000.fits"))
        .unwrap();
    let output = dir.path().join("out").join(&first.output);
    let reader = Reader::open(&output).unwrap();
    assert_eq!(reader.header().get::<i64>("EXTVER"), Some(2));
}

#[test]
fn a_light_whose_extensions_are_not_those_of_its_masters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let night = MosaicNight::gmos();
    night.write(&raw).unwrap();
    // One more amplifier in one light, one fewer in another.
    let mut four = night.clone();
    four.amplifiers.push(eloy_calib::synth::Amplifier {
        version: Some(4),
        ..night.amplifiers[2].clone()
    });
    four.write_frame(
        &raw.join("light_900.fits"),
        FrameKind::Light,
        9,
        &[0, 1, 2, 3],
    )
    .unwrap();
    night
        .write_frame(&raw.join("light_901.fits"), FrameKind::Light, 10, &[0, 1])
        .unwrap();
    let (plan, report) = reduce(dir.path());
    let why = |name: &str| {
        plan.failures
            .iter()
            .find(|f| f.frame.ends_with(name))
            .map(|f| f.why.clone())
            .unwrap_or_else(|| panic!("{name} not refused: {:?}", plan.failures))
    };
    let extra = why("light_900.fits");
    assert!(extra.contains("light_900.fits"), "{extra}");
    assert!(extra.contains("[SCI,4]"), "{extra}");
    let fewer = why("light_901.fits");
    assert!(fewer.contains("light_901.fits"), "{fewer}");
    assert!(fewer.contains("a mosaic of 2 image extensions"), "{fewer}");
    assert!(
        plan.recipes
            .iter()
            .all(|r| !r.frame.ends_with("light_900.fits") && !r.frame.ends_with("light_901.fits"))
    );
    // The others are calibrated, the refused ones written nowhere.
    assert_eq!(report.lights.written(), night.lights);
    let written: Vec<_> = walk(&dir.path().join("out"));
    assert!(
        written
            .iter()
            .all(|p| !p.ends_with("light_900.fits") && !p.ends_with("light_901.fits")),
        "{written:?}"
    );
    eprintln!("{extra}\n{fewer}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn an_extension_that_fails_fails_its_mosaic_whole() {
    let dir = tempfile::tempdir().unwrap();
    let night = MosaicNight::gmos();
    night.write(&dir.path().join("raw")).unwrap();
    let catalog = Catalog::scan(dir.path().join("raw")).unwrap();
    let plan = plan(&catalog, &Rules::default(), &Library::default());
    let out = dir.path().join("out");
    let masters = eloy_calib::build_masters(&plan, &out).unwrap();
    let recipes: Vec<&eloy_calib::Recipe> = plan.recipes.iter().collect();
    let mut jobs = eloy_calib::Job::from_recipes(&recipes, &out);
    assert_eq!(jobs.len(), night.lights);
    assert!(jobs.iter().all(|j| j.parts.len() == 3));
    // The third extension of the first light points at an HDU the file lacks.
    jobs[0].parts[2].extension.hdu = 9;
    std::fs::create_dir_all(jobs[0].output.parent().unwrap()).unwrap();
    let report =
        eloy_calib::Batch::new(eloy_calib::CalibrateOptions::default()).run(&jobs, &masters);
    assert_eq!(report.written(), night.lights - 1);
    let (light, error) = report.failures().next().unwrap();
    let why = error.to_string();
    assert!(light.ends_with("light_000.fits"));
    assert!(why.contains("light_000.fits [SCI,3]: "), "{why}");
    // Nothing of it is left: no output, no temporary file.
    let left: Vec<_> = std::fs::read_dir(jobs[0].output.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.contains("light_000")), "{left:?}");
}

#[test]
fn uncertainty_planes_are_refused_for_mosaics_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let night = MosaicNight::gmos();
    night.write(&dir.path().join("raw")).unwrap();
    let catalog = Catalog::scan(dir.path().join("raw")).unwrap();
    let rules = Rules {
        uncertainty: Some(eloy_calib::Uncertainty { read_noise: None }),
        ..Rules::default()
    };
    let plan = plan(&catalog, &rules, &Library::default());
    assert!(plan.recipes.is_empty());
    assert_eq!(plan.failures.len(), night.lights);
    assert!(
        plan.failures[0]
            .why
            .contains("uncertainty planes are not made for mosaics"),
        "{}",
        plan.failures[0].why
    );
}

/// A GMOS-like mosaic written by astropy (`fixtures/mosaic/make_ccdproc_mosaic.py`),
/// alone in its folder: each extension's overscan and trim equal astropy ccdproc's
/// `subtract_overscan(median=True, fits_section=BIASSEC)` + `trim_image(DATASEC)` of that
/// extension.
#[test]
fn each_extension_is_overscan_subtracted_and_trimmed_as_ccdproc() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mosaic");
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::copy(
        fixtures.join("gmos_mosaic.fits"),
        raw.join("gmos_mosaic.fits"),
    )
    .unwrap();
    let catalog = Catalog::scan(&raw).unwrap();
    let rules = Rules {
        invalid: eloy_calib::InvalidPixels::Keep,
        ..Rules::default()
    };
    let plan = plan(&catalog, &rules, &Library::default());
    assert_eq!(plan.recipes.len(), 2, "{:?}", plan.failures);
    let report = Reduction::new(&plan, dir.path().join("out")).run();
    assert_eq!(report.lights.written(), 1);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("ccdproc_mosaic.json")).unwrap(),
    )
    .unwrap();
    let output = dir.path().join("out").join(&plan.recipes[0].output);
    let reader = Reader::open(&output).unwrap();
    let mut worst: f64 = 0.0;
    for (hdu, expected) in reader
        .image_hdus()
        .iter()
        .zip(reference["extensions"].as_array().unwrap())
    {
        let mut image = Reader::open_hdu(&output, *hdu).unwrap();
        assert_eq!(
            image.header().get::<i64>("EXTVER"),
            expected["extver"].as_i64()
        );
        let (rows, cols) = image.shape();
        let mut values = vec![0.0f32; rows * cols];
        image.read_rows(0..rows, &mut values).unwrap();
        let expected: Vec<f64> = expected["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        assert_eq!(expected.len(), values.len());
        for (&got, want) in values.iter().zip(expected) {
            worst = worst.max((f64::from(got) - want).abs() / want.abs().max(1.0));
        }
    }
    eprintln!("largest relative difference from ccdproc: {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn a_mosaic_master_is_no_library_master_for_single_images() {
    let dir = tempfile::tempdir().unwrap();
    let night = MosaicNight::gmos();
    night.write(&dir.path().join("raw")).unwrap();
    let (_, report) = reduce(dir.path());
    assert_eq!(report.built.len(), 9);
    let library = Library::scan(dir.path().join("out/masters"), &Default::default()).unwrap();
    assert!(library.masters.is_empty(), "{:?}", library.masters);
    assert_eq!(library.skipped.len(), 9);
    assert!(
        library.skipped[0].1.contains("image extension [SCI,"),
        "{:?}",
        library.skipped[0]
    );
}
