//! Parity with Python eloy 0.0.11 on a committed tiny night.
//!
//! The inputs and eloy's float64 outputs were made by `fixtures/make_eloy_parity.py`.
//! Required agreement: 1e-5 relative (f32 pipeline vs eloy's f64), and the same pixels
//! marked invalid (-1).

use std::path::{Path, PathBuf};

use eloy_calib::{
    Batch, CalibrateOptions, InvalidPixels, Job, MasterOptions, MasterSet, Masters, calibrate,
    master_bias, master_dark, master_flat,
};
use eloy_stack::NanPolicy;
use ndarray::Array2;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eloy_parity")
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture().join("raw").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn expected(name: &str) -> Array2<f32> {
    eloy_fits::read(fixture().join("expected").join(name))
        .unwrap()
        .data
}

/// Largest |ours - eloy| / max(|eloy|, 1), asserting the same invalid (-1) pixels.
fn max_relative_difference(ours: &Array2<f32>, eloy: &Array2<f32>) -> f64 {
    assert_eq!(ours.dim(), eloy.dim());
    let mut worst = 0.0f64;
    for (a, b) in ours.iter().zip(eloy.iter()) {
        let (a, b) = (f64::from(*a), f64::from(*b));
        assert_eq!(a.is_nan(), b.is_nan());
        if a.is_nan() {
            continue;
        }
        worst = worst.max((a - b).abs() / b.abs().max(1.0));
    }
    worst
}

fn masters() -> Masters {
    // Python eloy's np.mean is not NaN-aware; these flats hold no NaN, so both agree, but use
    // eloy's rule here to be exact about what is compared.
    let options = MasterOptions {
        flat_mean: NanPolicy::Propagate,
        ..Default::default()
    };
    let mut masters = Masters {
        bias: Some(master_bias(&files("Bias"), &options).unwrap()),
        ..Masters::default()
    };
    masters.dark = Some(master_dark(&files("Darks"), &masters, &options).unwrap());
    masters.flat = Some(master_flat(&files("Flats"), &masters, &options).unwrap());
    masters
}

#[test]
fn masters_match_python_eloy() {
    let masters = masters();
    for (name, master) in [
        ("master_bias.fits", &masters.bias),
        ("master_dark.fits", &masters.dark),
        ("master_flat.fits", &masters.flat),
    ] {
        let worst = max_relative_difference(&master.as_ref().unwrap().data, &expected(name));
        eprintln!("{name}: max relative difference vs eloy {worst:e}");
        assert!(worst < 1e-5, "{name}: relative difference {worst:e}");
    }
}

#[test]
fn calibrated_lights_match_python_eloy() {
    let masters = masters();
    for light in files("ScienceImages") {
        let image = eloy_fits::read(&light).unwrap();
        let exposure = image.header.get::<f64>("EXPTIME").unwrap();
        let ours = calibrate(
            image.data.view(),
            exposure,
            &masters,
            InvalidPixels::MinusOne,
        )
        .unwrap();
        let stem = light.file_stem().unwrap().to_string_lossy();
        let eloy = expected(&format!("calibrated_{stem}.fits"));
        // The same pixels are invalid.
        let invalid = |a: &Array2<f32>| a.iter().map(|&v| v == -1.0).collect::<Vec<_>>();
        assert_eq!(invalid(&ours), invalid(&eloy), "{stem}: -1 pixels differ");
        assert!(
            eloy.iter().filter(|&&v| v == -1.0).count() >= 2,
            "the fixture has invalid pixels"
        );
        let worst = max_relative_difference(&ours, &eloy);
        eprintln!("{stem}: max relative difference vs eloy {worst:e}");
        assert!(worst < 1e-5, "{stem}: relative difference {worst:e}");
    }
}

#[test]
fn batch_outputs_match_python_eloy() {
    let masters = masters();
    let dir = tempfile::tempdir().unwrap();
    let lights = files("ScienceImages");
    let outputs: Vec<PathBuf> = lights
        .iter()
        .map(|l| dir.path().join(eloy_calib::output_name(l)))
        .collect();
    let options = CalibrateOptions {
        band_rows: 7,
        sync: false,
        ..Default::default()
    };
    let jobs: Vec<Job> = lights
        .iter()
        .zip(&outputs)
        .map(|(light, output)| Job::with_masters(light, output, &masters, &options).unwrap())
        .collect();
    let report = Batch::new(options).run(&jobs, &MasterSet::from(masters));
    assert_eq!(report.written(), lights.len(), "{:?}", report.outcomes);
    for (light, output) in lights.iter().zip(&outputs) {
        let stem = light.file_stem().unwrap().to_string_lossy();
        let written = eloy_fits::read(output).unwrap();
        let worst =
            max_relative_difference(&written.data, &expected(&format!("calibrated_{stem}.fits")));
        assert!(worst < 1e-5, "{stem}: relative difference {worst:e}");
        // The light's header travels, with what was done.
        assert_eq!(
            written.header.get::<String>("IMAGETYP").as_deref(),
            Some("Light Frame")
        );
        assert_eq!(
            written.header.get::<String>("CALINVAL").as_deref(),
            Some("eloy")
        );
        assert!(written.header.history().any(|h| h.contains("calibrate")));
    }
}
