//! The sensor steps end to end: a colour (RGGB) night written as FITS files with a known
//! truth (offset, warm pixels, dark current, vignetting, sky per colour), planned with
//! [`Rules`] and run by the [`Reduction`] like `eloy calibrate` does.
//!
//! What is checked, against the truth and against the same run without the step:
//! - `cosmetic`: warm pixels 1.6x hotter in the lights than in the darks stay beyond 5
//!   sigma without correction (most of them), and within 5 sigma with it (all but a few);
//!   the other pixels are left bit for bit; `COSMETIC` counts them; the mask mode makes
//!   them NaN;
//! - a trim at an odd row and column: the output's `BAYERPAT` is the trimmed frame's
//!   pattern, and the cosmetic correction still uses same-colour neighbours;
//! - `pedestal`: the outputs are the plain run's plus the pedestal, `PEDESTAL` says so;
//! - `bias_level` on a night without bias frames and darks of another exposure: the
//!   synthetic bias makes the dark rate right (within noise of the truth), where the
//!   rate model with bias 0 keeps the offset scaled by the exposure ratio;
//! - `dark_scale = None`: lights whose exposure no dark has get no dark, said so;
//! - `equalize_cfa`: the master flat's red and blue means equal green's.

use std::path::{Path, PathBuf};

use eloy_calib::{
    BayerPattern, CfaColour, Cosmetic, CosmeticMode, DarkScale, MasterKind, Plan, Reduction, Rules,
    plan,
};
use eloy_fits::{Catalog, Header};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const ROWS: usize = 96;
const COLS: usize = 128;
const OFFSET: f64 = 500.0;
const READ_NOISE: f64 = 3.0;
const DARK_RATE: f64 = 0.02;
const WARMING: f64 = 1.6;
const LIGHT_SECONDS: f64 = 120.0;

/// The truth of the night.
struct Truth {
    /// Warm pixels and their dark current in ADU/s at the darks' temperature.
    warm: Vec<((usize, usize), f64)>,
    /// The flat field, mean about 1 (vignetting and the colour of the flat lamp).
    flat: Array2<f64>,
    /// Sky of the lights in ADU/s per pixel before the flat field, by colour.
    sky: Array2<f64>,
}

fn truth(seed: u64) -> Truth {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut warm = Vec::new();
    for r in 2..ROWS - 2 {
        for c in 2..COLS - 2 {
            if rng.random::<f64>() < 0.004 {
                // 150 to 4000 ADU in 120 s, log-uniform.
                let adu = 150.0 * (4000.0f64 / 150.0).powf(rng.random::<f64>());
                warm.push(((r, c), adu / LIGHT_SECONDS));
            }
        }
    }
    let flat = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let (y, x) = (
            (r as f64 - ROWS as f64 / 2.0) / ROWS as f64,
            (c as f64 - COLS as f64 / 2.0) / COLS as f64,
        );
        1.0 - 0.4 * (x * x + y * y)
    });
    let sky = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        match BayerPattern::Rggb.colour(r, c) {
            CfaColour::Red => 3.0,
            CfaColour::Green => 6.0,
            CfaColour::Blue => 2.0,
        }
    });
    Truth { warm, flat, sky }
}

/// Writes a frame of `kind` with `seconds` of exposure: offset + dark (warm pixels times
/// `warming`) + `signal` per second through the flat, Gaussian noise.
#[allow(clippy::too_many_arguments)]
fn frame(
    dir: &Path,
    name: &str,
    kind: &str,
    seconds: f64,
    warming: f64,
    signal: &dyn Fn(usize, usize) -> f64,
    truth: &Truth,
    rng: &mut StdRng,
) -> PathBuf {
    let mut dark = Array2::from_elem((ROWS, COLS), DARK_RATE);
    for &((r, c), rate) in &truth.warm {
        dark[[r, c]] = rate * warming;
    }
    let data = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let electrons = dark[[r, c]] * seconds + signal(r, c) * seconds * truth.flat[[r, c]];
        let noise: f64 = rng.sample(StandardNormal);
        let shot: f64 = rng.sample(StandardNormal);
        (OFFSET + electrons + shot * electrons.max(0.0).sqrt() + noise * READ_NOISE).round() as f32
    });
    let mut header = Header::new();
    header.set("IMAGETYP", kind, "");
    header.set("EXPTIME", seconds, "");
    header.set("DATE-OBS", "2024-03-10T21:00:00", "");
    header.set("BAYERPAT", "RGGB", "");
    header.set("OFFSET", 50, "");
    let path = dir.join(name);
    eloy_fits::write(&path, data.view(), &header, &Default::default()).unwrap();
    path
}

struct Night {
    truth: Truth,
    dir: tempfile::TempDir,
    raw: PathBuf,
}

/// A night: `darks` darks of `dark_seconds`, 7 flats of 2 s with 7 dark flats (or bias
/// frames when `bias`), 3 lights of 120 s.
fn night(dark_seconds: f64, bias: bool, seed: u64) -> Night {
    let truth = truth(seed);
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    let mut rng = StdRng::seed_from_u64(seed + 1);
    let none = |_: usize, _: usize| 0.0;
    for i in 0..9 {
        frame(
            &raw,
            &format!("dark_{i}.fits"),
            "Dark Frame",
            dark_seconds,
            1.0,
            &none,
            &truth,
            &mut rng,
        );
    }
    let lamp = |r: usize, c: usize| match BayerPattern::Rggb.colour(r, c) {
        CfaColour::Red => 4000.0,
        CfaColour::Green => 9000.0,
        CfaColour::Blue => 2500.0,
    };
    for i in 0..7 {
        frame(
            &raw,
            &format!("flat_{i}.fits"),
            "Flat Field",
            2.0,
            1.0,
            &lamp,
            &truth,
            &mut rng,
        );
        if bias {
            frame(
                &raw,
                &format!("bias_{i}.fits"),
                "Bias Frame",
                0.0,
                1.0,
                &none,
                &truth,
                &mut rng,
            );
        } else {
            frame(
                &raw,
                &format!("darkflat_{i}.fits"),
                "DARKFLAT",
                2.0,
                1.0,
                &none,
                &truth,
                &mut rng,
            );
        }
    }
    let sky = |r: usize, c: usize| truth.sky[[r, c]];
    for i in 0..3 {
        frame(
            &raw,
            &format!("light_{i}.fits"),
            "Light Frame",
            LIGHT_SECONDS,
            WARMING,
            &sky,
            &truth,
            &mut rng,
        );
    }
    Night { truth, dir, raw }
}

impl Night {
    fn plan(&self, rules: &Rules) -> Plan {
        let catalog = Catalog::scan(&self.raw).unwrap();
        assert!(catalog.failures.is_empty(), "{:?}", catalog.failures);
        plan(&catalog, rules, &Default::default())
    }

    /// Runs `rules` into `OUT/name`; the calibrated lights (data and header), by name,
    /// and the master flat.
    fn run(&self, rules: &Rules, name: &str) -> Vec<(String, eloy_fits::Image)> {
        self.run_with_flat(rules, name).0
    }

    /// [`Night::run`], and the master flat.
    fn run_with_flat(
        &self,
        rules: &Rules,
        name: &str,
    ) -> (Vec<(String, eloy_fits::Image)>, Array2<f32>) {
        let plan = self.plan(rules);
        let out = self.dir.path().join(name);
        let report = Reduction::new(&plan, &out).run();
        assert!(
            report.failed_masters.is_empty(),
            "{:?}",
            report.failed_masters
        );
        assert_eq!(report.lights.failures().count(), 0, "{name}");
        let mut lights: Vec<_> = plan
            .recipes
            .iter()
            .map(|r| {
                (
                    r.frame.file_name().unwrap().to_string_lossy().into_owned(),
                    eloy_fits::read(out.join(&r.output)).unwrap(),
                )
            })
            .collect();
        lights.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(lights.len(), 3);
        let flat = plan
            .masters
            .iter()
            .find(|m| m.kind == MasterKind::Flat)
            .unwrap();
        let flat = eloy_fits::read(out.join(flat.file())).unwrap().data;
        (lights, flat)
    }

    /// The true sky of a calibrated light at raw pixel `(r, c)`, pixel `(y, x)` of the
    /// calibrated frame: the sky through the true flat field over the master flat (which
    /// also holds the lamp's colour), in ADU.
    fn expected(&self, flat: &Array2<f32>, (r, c): (usize, usize), (y, x): (usize, usize)) -> f64 {
        self.truth.sky[[r, c]] * LIGHT_SECONDS * self.truth.flat[[r, c]] / f64::from(flat[[y, x]])
    }

    /// The noise of that pixel, in ADU: photon noise of sky and dark, read noise, over the
    /// master flat.
    fn sigma(&self, flat: &Array2<f32>, (r, c): (usize, usize), (y, x): (usize, usize)) -> f64 {
        let electrons =
            (self.truth.sky[[r, c]] * self.truth.flat[[r, c]] + DARK_RATE) * LIGHT_SECONDS;
        (electrons + READ_NOISE * READ_NOISE).sqrt() / f64::from(flat[[y, x]])
    }

    /// The fraction of warm pixels more than 5 sigma off the true sky, in a light (and its
    /// master flat) whose first pixel is `first` of the raw frame.
    fn warm_off(&self, data: &Array2<f32>, flat: &Array2<f32>, first: (usize, usize)) -> f64 {
        let inside: Vec<_> = self
            .truth
            .warm
            .iter()
            .filter(|((r, c), _)| {
                *r >= first.0 + 2
                    && *c >= first.1 + 2
                    && r - first.0 < data.nrows() - 2
                    && c - first.1 < data.ncols() - 2
            })
            .collect();
        assert!(inside.len() > 20, "{} warm pixels", inside.len());
        let off = inside
            .iter()
            .filter(|((r, c), _)| {
                let raw = (*r, *c);
                let at = (r - first.0, c - first.1);
                let v = f64::from(data[at]);
                (v - self.expected(flat, raw, at)).abs() > 5.0 * self.sigma(flat, raw, at)
                    || v.is_nan()
            })
            .count();
        off as f64 / inside.len() as f64
    }

    /// The mean of (calibrated - true sky) over the pixels that are not warm, in ADU.
    fn mean_residual(&self, data: &Array2<f32>, flat: &Array2<f32>) -> f64 {
        let (mut sum, mut n) = (0.0, 0.0);
        for ((r, c), v) in data.indexed_iter() {
            if self.truth.warm.iter().all(|(p, _)| *p != (r, c)) {
                sum += f64::from(*v) - self.expected(flat, (r, c), (r, c));
                n += 1.0;
            }
        }
        sum / n
    }
}

fn cosmetic(mode: CosmeticMode) -> Rules {
    Rules {
        cosmetic: Some(Cosmetic {
            mode,
            ..Cosmetic::default()
        }),
        ..Rules::default()
    }
}

#[test]
fn warm_pixels_are_repaired_from_their_same_colour_neighbours() {
    let night = night(LIGHT_SECONDS, false, 7);
    let (plain, flat) = night.run_with_flat(&Rules::default(), "plain");
    let repaired = night.run(&cosmetic(CosmeticMode::Replace), "cosmetic");
    // Masked pixels are invalid: NaN with the NaN rule (with eloy's rule they become -1,
    // as every invalid pixel).
    let masked = night.run(
        &Rules {
            invalid: eloy_calib::InvalidPixels::Nan,
            ..cosmetic(CosmeticMode::Mask)
        },
        "masked",
    );
    for ((name, plain), ((_, fixed), (_, masked))) in plain.iter().zip(repaired.iter().zip(&masked))
    {
        let before = night.warm_off(&plain.data, &flat, (0, 0));
        let after = night.warm_off(&fixed.data, &flat, (0, 0));
        println!(
            "{name}: warm pixels beyond 5 sigma: {before:.3} without, {after:.3} with cosmetic"
        );
        assert!(before > 0.5, "{name}: {before}");
        assert!(after < 0.05, "{name}: {after}");
        let count = fixed.header.get::<usize>("COSMETIC").unwrap();
        assert!(
            count >= night.truth.warm.len() * 9 / 10,
            "{count} of {}",
            night.truth.warm.len()
        );
        // Pixels away from defects are the plain run's, bit for bit; the mask mode makes
        // exactly the corrected pixels NaN.
        let mut changed = 0;
        for (((p, f), m), idx) in plain
            .data
            .iter()
            .zip(&fixed.data)
            .zip(&masked.data)
            .zip(0..)
        {
            if p.to_bits() != f.to_bits() {
                changed += 1;
                assert!(m.is_nan(), "pixel {idx} replaced but not masked");
            } else if m.is_nan() {
                // A defect whose repair gave the same value: possible only by chance.
                assert!(!p.is_nan());
            } else {
                assert_eq!(p.to_bits(), m.to_bits());
            }
        }
        assert!(changed <= count, "{changed} changed, {count} counted");
        let nan = masked.data.iter().filter(|v| v.is_nan()).count();
        assert_eq!(nan, count, "{name}: masked pixels");
    }
}

#[test]
fn a_trim_at_odd_offsets_updates_the_pattern_and_keeps_the_colours() {
    let night = night(LIGHT_SECONDS, false, 11);
    // Rows 2.. and columns 2.. (1-based: an odd start, 0-based 1): RGGB becomes BGGR.
    let rules = Rules {
        trimsec: Some(format!("[2:{},2:{}]", COLS - 1, ROWS - 1)),
        ..cosmetic(CosmeticMode::Replace)
    };
    let (trimmed, flat) = night.run_with_flat(&rules, "trimmed");
    for (name, image) in &trimmed {
        assert_eq!(image.data.dim(), (ROWS - 2, COLS - 2));
        assert_eq!(
            image.header.get::<String>("BAYERPAT").as_deref(),
            Some("BGGR"),
            "{name}"
        );
        let off = night.warm_off(&image.data, &flat, (1, 1));
        assert!(off < 0.05, "{name}: {off}");
    }
}

#[test]
fn a_pedestal_is_added_and_recorded() {
    let night = night(LIGHT_SECONDS, false, 3);
    let plain = night.run(&Rules::default(), "plain");
    let raised = night.run(
        &Rules {
            pedestal: Some(100.0),
            ..Rules::default()
        },
        "pedestal",
    );
    for ((name, a), (_, b)) in plain.iter().zip(&raised) {
        assert_eq!(b.header.get::<f64>("PEDESTAL"), Some(100.0), "{name}");
        let mut checked = 0;
        for (x, y) in a.data.iter().zip(&b.data) {
            if *x >= 0.0 {
                assert!(
                    (f64::from(*y) - f64::from(*x) - 100.0).abs() < 1e-3,
                    "{x} {y}"
                );
                checked += 1;
            }
        }
        assert!(checked > ROWS * COLS / 2);
    }
}

#[test]
fn a_synthetic_bias_level_makes_a_dark_rate_without_bias_frames() {
    // Darks of 300 s for lights of 120 s, no bias frames: the dark must be scaled, and
    // its offset must come off first.
    let night = night(300.0, false, 5);
    let level = |rules: &Rules| {
        let (lights, flat) =
            night.run_with_flat(rules, &format!("level_{}", rules.bias_level.is_some()));
        let (name, image) = &lights[0];
        let residual = night.mean_residual(&image.data, &flat);
        println!("{name}: mean residual {residual:.2} ADU");
        residual
    };
    let with = level(&Rules {
        bias_level: Some("=10*$OFFSET".parse().unwrap()),
        ..Rules::default()
    });
    // With the true offset removed the residual is within noise of 0.
    assert!(with.abs() < 1.0, "{with}");
    // Without, no dark serves (darks of 300 s hold the offset: they cannot be scaled),
    // and the offset stays.
    let without = level(&Rules::default());
    assert!(without > 0.5 * OFFSET * (1.0 - 120.0 / 300.0), "{without}");
    let plan = night.plan(&Rules {
        bias_level: Some("=10*$OFFSET".parse().unwrap()),
        ..Rules::default()
    });
    let bias = plan
        .masters
        .iter()
        .find(|m| m.kind == MasterKind::Bias)
        .unwrap();
    assert!(
        matches!(bias.source, eloy_calib::MasterSource::Constant { value } if value == OFFSET),
        "{:?}",
        bias.source
    );
}

#[test]
fn dark_scale_none_takes_only_darks_of_the_lights_exposure() {
    let night = night(300.0, true, 9);
    let scaled = night.plan(&Rules::default());
    let exact = night.plan(&Rules {
        dark_scale: DarkScale::None,
        ..Rules::default()
    });
    let uses_dark = |plan: &Plan| {
        plan.recipes
            .iter()
            .filter(|r| {
                r.masters()
                    .into_iter()
                    .filter_map(|id| plan.master(id))
                    .any(|m| m.kind == MasterKind::Dark)
            })
            .count()
    };
    assert_eq!(uses_dark(&scaled), 3);
    assert_eq!(uses_dark(&exact), 0);
    let text = format!("{:?}", exact.groups);
    assert!(
        text.contains("300"),
        "the decision names the darks' exposure: {text}"
    );
}

#[test]
fn equalized_master_flats_have_grey_cells() {
    let night = night(LIGHT_SECONDS, false, 13);
    let out = night.dir.path().join("flats");
    let flat_of = |rules: &Rules, overwrite: bool| {
        let plan = night.plan(rules);
        let options = eloy_calib::CalibrateOptions {
            overwrite,
            ..Default::default()
        };
        let report = Reduction::new(&plan, &out).options(options).run();
        assert!(
            report.failed_masters.is_empty(),
            "{:?}",
            report.failed_masters
        );
        let flat = plan
            .masters
            .iter()
            .find(|m| m.kind == MasterKind::Flat)
            .unwrap();
        let data = eloy_fits::read(out.join(flat.file())).unwrap().data;
        eloy_calib::cfa_statistics(data.view(), BayerPattern::Rggb).map(|s| s.mean.unwrap())
    };
    // Without, the lamp's colour stays: red at 4000/9000 of green.
    let plain = flat_of(&Rules::default(), false);
    assert!(plain[0] / plain[1] < 0.6, "{plain:?}");
    // With, into the same folder: the saved flat is not taken for the equalized one (it
    // is not overwritten without asking, and with --overwrite it is made again, grey).
    let equalized = Rules {
        equalize_cfa: true,
        ..Rules::default()
    };
    let refused = Reduction::new(&night.plan(&equalized), &out).run();
    assert!(
        refused
            .failed_masters
            .values()
            .any(|why| why.contains("built from other frames")),
        "{:?}",
        refused.failed_masters
    );
    let means = flat_of(&equalized, true);
    println!("equalized flat means (R, G, B): {means:?}");
    for m in &means {
        assert!((m / means[1] - 1.0).abs() < 1e-3, "{means:?}");
    }
}

#[test]
fn dark_optimisation_finds_how_much_warmer_the_lights_are() {
    // Bias frames, darks of 120 s shot colder than the lights: the warm pixels have 1.6x
    // their dark current in the lights.
    let night = night(LIGHT_SECONDS, true, 17);
    let (plain, flat) = night.run_with_flat(&Rules::default(), "exposure");
    let rules = Rules {
        dark_scale: DarkScale::Optimize,
        ..Rules::default()
    };
    let plan = night.plan(&rules);
    assert!(
        plan.recipes
            .iter()
            .all(|r| eloy_calib::formula(&r.steps).contains("k * dark")),
        "{}",
        eloy_calib::formula(&plan.recipes[0].steps)
    );
    let optimized = night.run(&rules, "optimized");
    for ((name, plain), (_, opt)) in plain.iter().zip(&optimized) {
        let k = opt.header.get::<f64>("DARKOPT").unwrap();
        let before = night.warm_off(&plain.data, &flat, (0, 0));
        let after = night.warm_off(&opt.data, &flat, (0, 0));
        println!("{name}: k = {k:.3}; warm pixels beyond 5 sigma {before:.3} -> {after:.3}");
        assert!((k - WARMING).abs() < 0.1, "{name}: k = {k}");
        assert!(after < before / 2.0, "{name}: {before} -> {after}");
    }
    // Without bias frames there is no bias-free dark to scale: said, and not done.
    let no_bias = night_without_bias_plan(&rules);
    assert!(format!("{:?}", no_bias.groups).contains("dark optimisation needs bias frames"));
    assert!(no_bias.recipes.iter().all(|r| {
        !r.steps
            .iter()
            .any(|s| matches!(s, eloy_calib::Step::OptimizeDark { .. }))
    }));
}

fn night_without_bias_plan(rules: &Rules) -> Plan {
    night(LIGHT_SECONDS, false, 19).plan(rules)
}
