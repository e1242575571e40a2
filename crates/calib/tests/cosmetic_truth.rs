//! Cosmetic correction against the truth of generated frames.
//!
//! A colour (RGGB) and a monochrome sensor, 256 x 256, with warm pixels whose dark current
//! is 1.6 times higher in the lights than in the darks (the lights were taken warmer): a
//! correct dark subtraction leaves `0.6 x` their dark signal. The truth of every pixel
//! (sky level, noise) is known, so each warm pixel's residual after calibration is measured
//! in units of the noise a normal pixel of its colour has.
//!
//! Results (asserted below, printed with `--nocapture`; seeds fixed):
//! - without cosmetic correction 92% (colour) and 94% (mono) of the warm pixels stay more
//!   than 5 sigma off (the night: 97%);
//! - with the master dark's hot pixels found at 3 sigma and repaired from their same-colour
//!   neighbours: with eloy's default robust sigma ([`Sigma::Mad`], 1.2 ADU) every warm
//!   pixel is found and none stays beyond 5 sigma; the repaired warm pixels' residuals have
//!   an RMS of 0.35 (colour) and 0.38 (mono) sigma, the noise of a mean of 8 neighbours.
//!   With Siril's sigma (112 ADU: the warm pixels inflate it) the threshold is 342 ADU and
//!   13% of the warm pixels stay beyond 5 sigma (asserted: under 20%);
//! - pixels outside the map are left bit for bit; band by band gives the same frame; the
//!   mask mode makes exactly the map NaN;
//! - the 25 dead pixels of a vignetted colour flat are found, and nothing else.

use eloy_calib::{
    BayerPattern, CosmeticMode, DeadDetection, DefectDetection, DefectKind, Sensor, Sigma, correct,
    correct_band, find_dead, find_defects,
};
use ndarray::{Array2, s};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const ROWS: usize = 256;
const COLS: usize = 256;
const READ_NOISE: f64 = 5.0;
const DARK_BASE: f64 = 5.0;
const DARKS: f64 = 20.0; // frames in the master dark
const WARMING: f64 = 1.6;

/// A generated night: sky per pixel (truth), warm pixels, the master dark, one light.
struct Night {
    sky: Array2<f64>,
    warm: Vec<(usize, usize)>,
    master_dark: Array2<f32>,
    light: Array2<f32>,
}

fn night(sensor: Sensor, seed: u64) -> Night {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = move |rng: &mut StdRng| -> f64 { rng.sample(StandardNormal) };
    let sky = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let level = match sensor {
            Sensor::Mono => 400.0,
            Sensor::Bayer => match BayerPattern::Rggb.colour(r, c) {
                eloy_calib::CfaColour::Red => 300.0,
                eloy_calib::CfaColour::Green => 600.0,
                eloy_calib::CfaColour::Blue => 200.0,
            },
        };
        level * (1.0 + 0.1 * r as f64 / ROWS as f64)
    });
    // Warm pixels: 0.5%, dark signal log-uniform from 150 to 4000 ADU in the darks.
    let mut dark = Array2::from_elem((ROWS, COLS), DARK_BASE);
    let mut warm = Vec::new();
    for r in 0..ROWS {
        for c in 0..COLS {
            if rng.random::<f64>() < 0.005 {
                dark[[r, c]] += 150.0 * (4000.0f64 / 150.0).powf(rng.random::<f64>());
                warm.push((r, c));
            }
        }
    }
    // Master dark: the mean of 20 darks (photon and read noise averaged down).
    let master_dark = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let d = dark[[r, c]];
        (d + (d + READ_NOISE * READ_NOISE).sqrt() / DARKS.sqrt() * normal(&mut rng)) as f32
    });
    // The light, taken warmer: dark current times 1.6 (the warm pixels' excess only; the
    // base rate is the same).
    let light = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let d = DARK_BASE + WARMING * (dark[[r, c]] - DARK_BASE);
        let mean = sky[[r, c]] + d;
        (mean + (mean + READ_NOISE * READ_NOISE).sqrt() * normal(&mut rng)) as f32
    });
    Night {
        sky,
        warm,
        master_dark,
        light,
    }
}

/// The noise of a normal calibrated pixel with sky `sky`: the light's and the master dark's.
fn sigma(sky: f64) -> f64 {
    let light = sky + DARK_BASE + READ_NOISE * READ_NOISE;
    let dark = (DARK_BASE + READ_NOISE * READ_NOISE) / DARKS;
    (light + dark).sqrt()
}

/// Residuals of the warm pixels, in sigma.
fn warm_z(calibrated: &Array2<f32>, n: &Night) -> Vec<f64> {
    n.warm
        .iter()
        .map(|&(r, c)| (f64::from(calibrated[[r, c]]) - n.sky[[r, c]]) / sigma(n.sky[[r, c]]))
        .collect()
}

fn fraction_beyond(z: &[f64], limit: f64) -> f64 {
    z.iter().filter(|v| v.abs() > limit).count() as f64 / z.len() as f64
}

#[test]
fn warm_pixels_are_repaired_to_the_noise() {
    for (sensor, seed) in [(Sensor::Bayer, 1), (Sensor::Mono, 2)] {
        let n = night(sensor, seed);
        let calibrated = &n.light - &n.master_dark;
        let before = fraction_beyond(&warm_z(&calibrated, &n), 5.0);
        eprintln!(
            "{sensor:?}: {} warm pixels; after dark subtraction {:.1}% stay > 5 sigma off",
            n.warm.len(),
            100.0 * before
        );
        assert!(before > 0.9, "{before}");
        for (which, limit) in [(Sigma::Mad, 0.0), (Sigma::Siril, 0.2)] {
            let detection = DefectDetection {
                sigma: which,
                ..Default::default()
            };
            let found = find_defects(n.master_dark.view(), &detection).unwrap();
            let mut repaired = calibrated.clone();
            let done = correct(
                repaired.view_mut(),
                &found.map,
                sensor,
                CosmeticMode::Replace,
            )
            .unwrap();
            let z = warm_z(&repaired, &n);
            let after = fraction_beyond(&z, 5.0);
            let caught = n
                .warm
                .iter()
                .filter(|&&(r, c)| found.map.contains(r, c))
                .count();
            let fixed: Vec<f64> = n
                .warm
                .iter()
                .zip(&z)
                .filter(|(p, _)| found.map.contains(p.0, p.1))
                .map(|(_, &z)| z)
                .collect();
            let rms = (fixed.iter().map(|z| z * z).sum::<f64>() / fixed.len() as f64).sqrt();
            eprintln!(
                "{sensor:?}, sigma {which:?} ({:.2} ADU, hot above {:.1}): {} pixels repaired, {caught} of the warm ones; {:.2}% stay > 5 sigma off; RMS of the repaired warm pixels {rms:.2} sigma",
                found.sigma,
                found.hot_threshold.unwrap(),
                done.hot,
                100.0 * after
            );
            assert!(after <= limit, "{sensor:?} {which:?}: {after}");
            assert!(rms < 0.6, "{sensor:?} {which:?}: {rms}");
            // Off where there is no defect: every other pixel bit for bit.
            for ((i, &a), &b) in repaired.indexed_iter().zip(&calibrated) {
                if !found.map.contains(i.0, i.1) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{i:?}");
                }
            }
            // Band by band (bands of 37 rows and the map's halo): the same frame.
            let halo = found.map.halo(sensor);
            let mut banded = calibrated.clone();
            for start in (0..ROWS).step_by(37) {
                let end = (start + 37).min(ROWS);
                let (lo, hi) = (start.saturating_sub(halo), (end + halo).min(ROWS));
                let mut window = calibrated.slice(s![lo..hi, ..]).to_owned();
                correct_band(
                    window.view_mut(),
                    lo,
                    start..end,
                    &found.map,
                    sensor,
                    CosmeticMode::Replace,
                )
                .unwrap();
                banded
                    .slice_mut(s![start..end, ..])
                    .assign(&window.slice(s![start - lo..end - lo, ..]));
            }
            assert_eq!(banded, repaired);
            // Mask mode: exactly the map's pixels become NaN.
            let mut masked = calibrated.clone();
            correct(masked.view_mut(), &found.map, sensor, CosmeticMode::Mask).unwrap();
            let nan = masked.iter().filter(|v| v.is_nan()).count();
            assert_eq!(nan, found.map.count(DefectKind::Hot));
        }
    }
}

#[test]
fn dead_pixels_of_a_colour_flat_are_found() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut flat = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let (y, x) = (r as f64 / ROWS as f64 - 0.5, c as f64 / COLS as f64 - 0.5);
        let colour = match BayerPattern::Rggb.colour(r, c) {
            eloy_calib::CfaColour::Red => 1.3,
            eloy_calib::CfaColour::Green => 1.0,
            eloy_calib::CfaColour::Blue => 0.6,
        };
        let noise: f64 = rng.sample(StandardNormal);
        (colour * (1.0 - 1.2 * (x * x + y * y)) * (1.0 + 0.01 * noise)) as f32
    });
    let mut dead = Vec::new();
    for _ in 0..25 {
        let (r, c) = (rng.random_range(0..ROWS), rng.random_range(0..COLS));
        flat[[r, c]] *= 0.2;
        dead.push((r, c));
    }
    dead.sort_unstable();
    dead.dedup();
    let map = find_dead(flat.view(), Sensor::Bayer, &DeadDetection::default());
    let found: Vec<(usize, usize)> = map
        .defects()
        .iter()
        .map(|d| match *d {
            eloy_calib::Defect::Pixel { row, col, .. } => (row, col),
            _ => unreachable!(),
        })
        .collect();
    eprintln!("{} dead pixels made, {} found", dead.len(), found.len());
    assert_eq!(found, dead);
}
