//! Ground truth: on a synthetic night whose true bias, dark current and flat are known, the
//! masters recover them within the noise the photons allow, and a calibrated light's sky
//! is the true sky, flat across the field.

use std::path::PathBuf;

use eloy_calib::synth::{Night, NightSpec};
use eloy_calib::{
    InvalidPixels, MasterOptions, Masters, calibrate, master_bias, master_dark, master_flat,
};
use eloy_fits::{Catalog, FrameKind};
use ndarray::{Array2, s};

struct Reduced {
    night: Night,
    catalog: Catalog,
    masters: Masters,
    _dir: tempfile::TempDir,
}

fn reduce(spec: NightSpec) -> Reduced {
    let dir = tempfile::tempdir().unwrap();
    let night = Night::new(spec);
    night.write(dir.path()).unwrap();
    let catalog = Catalog::scan(dir.path()).unwrap();
    assert!(catalog.failures.is_empty(), "{:?}", catalog.failures);
    let files = |kind| -> Vec<PathBuf> {
        let mut f: Vec<PathBuf> = catalog
            .frames
            .iter()
            .filter(|m| m.kind == Some(kind))
            .map(|m| m.path.clone())
            .collect();
        f.sort();
        f
    };
    let options = MasterOptions::default();
    let mut masters = Masters {
        bias: Some(master_bias(&files(FrameKind::Bias), &options).unwrap()),
        ..Masters::default()
    };
    masters.dark = Some(master_dark(&files(FrameKind::Dark), &masters, &options).unwrap());
    masters.flat = Some(master_flat(&files(FrameKind::Flat), &masters, &options).unwrap());
    Reduced {
        night,
        catalog,
        masters,
        _dir: dir,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

fn spec() -> NightSpec {
    NightSpec {
        rows: 160,
        cols: 240,
        biases: 9,
        darks: 7,
        flats: 9,
        lights: 2,
        ..Default::default()
    }
}

#[test]
fn recovered_flat_is_within_photon_noise_of_the_truth() {
    let r = reduce(spec());
    let truth = r.night.truth();
    let spec = r.night.spec();
    let flat = &r.masters.flat.as_ref().unwrap().data;

    // Expected noise of one normalized flat at a pixel: photon noise of its signal (in
    // electrons, through the gain) plus read noise, relative to the signal; the median of
    // N frames has 1.2533 / sqrt(N) of that noise (large-N efficiency of the median).
    let mut ratios = Vec::new();
    let mut expected_var = 0.0;
    for ((r_, c), &recovered) in flat.indexed_iter() {
        if truth.dark_rate[[r_, c]] > 1.0 {
            continue; // hot pixels carry their own dark noise
        }
        let true_flat = f64::from(truth.flat[[r_, c]]);
        ratios.push(f64::from(recovered) / true_flat);
        let mut per_frame_var = 0.0;
        for i in 0..spec.flats {
            let t = (spec.flat_exposure * 1.1f64.powi(i as i32) * 1000.0).round() / 1000.0;
            let signal = spec.flat_rate * 0.9f64.powi(i as i32) * true_flat * t;
            per_frame_var += (signal / spec.gain + spec.read_noise.powi(2)) / signal.powi(2);
        }
        per_frame_var /= spec.flats as f64;
        expected_var += per_frame_var * 1.2533f64.powi(2) / spec.flats as f64;
    }
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let rms = (ratios.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let expected_rms = (expected_var / n).sqrt();
    eprintln!(
        "flat: mean ratio {mean:.6}, rms {rms:.5}, photon-noise expectation {expected_rms:.5}"
    );
    assert!((mean - 1.0).abs() < 1e-3, "mean recovered/true = {mean}");
    assert!(
        rms < 1.3 * expected_rms,
        "rms {rms} vs expected {expected_rms}"
    );
    assert!(
        rms > 0.7 * expected_rms,
        "rms {rms} is below the photon noise {expected_rms}: the test would not see errors"
    );
}

#[test]
fn recovered_bias_and_dark_match_the_truth() {
    let r = reduce(spec());
    let truth = r.night.truth();
    let spec = r.night.spec();
    let bias = &r.masters.bias.as_ref().unwrap().data;
    let diff: Vec<f64> = bias
        .iter()
        .zip(truth.bias.iter())
        .map(|(a, b)| f64::from(a - b))
        .collect();
    let n = diff.len() as f64;
    let mean = diff.iter().sum::<f64>() / n;
    let rms = (diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
    // Median of 9 frames of read noise 8 ADU (+ rounding to integers): ~ 8 * 1.2533 / 3.
    let expected =
        (spec.read_noise.powi(2) + 1.0 / 12.0).sqrt() * 1.2533 / (spec.biases as f64).sqrt();
    eprintln!("bias: mean offset {mean:.3} ADU, rms {rms:.3} ADU, expected {expected:.3}");
    assert!(mean.abs() < 0.2, "bias offset {mean}");
    assert!(
        rms < 1.3 * expected && rms > 0.7 * expected,
        "bias rms {rms} vs {expected}"
    );

    // Hot pixels are recovered in the dark rate, to their photon noise.
    let dark = &r.masters.dark.as_ref().unwrap().data;
    let mut checked = 0;
    for ((row, col), &rate) in truth.dark_rate.indexed_iter() {
        if rate > 1.0 {
            let recovered = f64::from(dark[[row, col]]);
            let electrons = f64::from(rate) * spec.exposure * spec.gain;
            let sigma = (electrons.sqrt() / spec.gain + 2.0 * spec.read_noise) / spec.exposure;
            assert!(
                (recovered - f64::from(rate)).abs() < 5.0 * sigma,
                "hot pixel ({row},{col}): {recovered} vs {rate}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10);
    // Elsewhere the median dark rate is the base rate.
    let cold: Vec<f64> = dark
        .iter()
        .zip(truth.dark_rate.iter())
        .filter(|(_, t)| **t < 0.06)
        .map(|(d, _)| f64::from(*d))
        .collect();
    let m = median(cold);
    assert!(
        (m - spec.dark_rate).abs() < 0.02,
        "median dark rate {m} vs {}",
        spec.dark_rate
    );
}

#[test]
fn calibrated_sky_is_the_true_sky_and_flat() {
    let r = reduce(spec());
    let truth = r.night.truth();
    let spec = r.night.spec();
    let true_sky = spec.sky_rate * spec.exposure;
    for light in r
        .catalog
        .frames
        .iter()
        .filter(|f| f.kind == Some(FrameKind::Light))
    {
        let image = eloy_fits::read(&light.path).unwrap();
        let exposure = image.header.get::<f64>("EXPTIME").unwrap();
        let calibrated = calibrate(
            image.data.view(),
            exposure,
            &r.masters,
            InvalidPixels::MinusOne,
        )
        .unwrap();
        let sky = |region: ndarray::ArrayView2<f32>, mask: ndarray::ArrayView2<bool>| {
            median(
                region
                    .iter()
                    .zip(mask.iter())
                    .filter(|(_, m)| !**m)
                    .map(|(v, _)| f64::from(*v))
                    .collect(),
            )
        };
        let (rows, cols) = calibrated.dim();
        let (h, w) = (rows / 4, cols / 4);
        let whole = sky(calibrated.view(), truth.star_mask.view());
        let centre = sky(
            calibrated.slice(s![
                rows / 2 - h / 2..rows / 2 + h / 2,
                cols / 2 - w / 2..cols / 2 + w / 2
            ]),
            truth.star_mask.slice(s![
                rows / 2 - h / 2..rows / 2 + h / 2,
                cols / 2 - w / 2..cols / 2 + w / 2
            ]),
        );
        let corner = sky(
            calibrated.slice(s![..h, ..w]),
            truth.star_mask.slice(s![..h, ..w]),
        );
        let raw_centre = sky(
            image.data.slice(s![
                rows / 2 - h / 2..rows / 2 + h / 2,
                cols / 2 - w / 2..cols / 2 + w / 2
            ]),
            truth.star_mask.slice(s![
                rows / 2 - h / 2..rows / 2 + h / 2,
                cols / 2 - w / 2..cols / 2 + w / 2
            ]),
        );
        let raw_corner = sky(
            image.data.slice(s![..h, ..w]),
            truth.star_mask.slice(s![..h, ..w]),
        );
        eprintln!(
            "{}: sky {whole:.2} (true {true_sky}), centre {centre:.2}, corner {corner:.2}; raw centre-corner {:.1}",
            light.path.display(),
            raw_centre - raw_corner
        );
        assert!(
            (whole - true_sky).abs() < 0.005 * true_sky,
            "sky {whole} vs {true_sky}"
        );
        assert!(
            (centre - corner).abs() < 0.01 * true_sky,
            "vignetting left: centre {centre}, corner {corner}"
        );
        assert!(
            raw_centre - raw_corner > 0.1 * true_sky,
            "the raw frame is vignetted (the test can fail)"
        );
    }
}

#[test]
fn missing_darks_mean_dark_zero_as_eloy() {
    // Without darks the calibration uses dark 0: a light's dark current stays in.
    let r = reduce(NightSpec {
        rows: 40,
        cols: 60,
        ..spec()
    });
    let without = Masters {
        dark: None,
        ..r.masters.clone()
    };
    let light = r
        .catalog
        .frames
        .iter()
        .find(|f| f.kind == Some(FrameKind::Light))
        .unwrap();
    let image = eloy_fits::read(&light.path).unwrap();
    let a = calibrate(image.data.view(), 60.0, &r.masters, InvalidPixels::Keep).unwrap();
    let b = calibrate(image.data.view(), 60.0, &without, InvalidPixels::Keep).unwrap();
    let flat = &r.masters.flat.as_ref().unwrap().data;
    let dark = &r.masters.dark.as_ref().unwrap().data;
    let expected: Array2<f32> = &a + &(dark * 60.0 / flat);
    for (x, y) in b.iter().zip(expected.iter()) {
        assert!((x - y).abs() <= 1e-3 * y.abs().max(1.0), "{x} vs {y}");
    }
}
