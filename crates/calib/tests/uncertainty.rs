//! Uncertainty and mask planes (`Rules::uncertainty`, `eloy calibrate --uncertainty`):
//! against a slow reference computed here on a generated night, against astropy ccdproc on
//! the fixture night (`fixtures/uncertainty/`, made by its script), and the default path
//! left as it was.

use std::path::{Path, PathBuf};

use eloy_calib::{
    Library, MASK, MASK_INVALID, MASK_NO_FRAME, MASK_NO_UNCERTAINTY, MASK_SATURATED, MasterKind,
    Plan, Reduction, Rules, UNCERT, Uncertainty, plan,
};
use eloy_fits::{Catalog, Header, Precision, WriteOptions};
use eloy_stack::Combine;
use ndarray::Array2;
use serde_json::Value;

const GAIN: f64 = 1.5;
const READ_NOISE: f64 = 8.0;

fn uncertainty_rules(combine: Combine) -> Rules {
    let mut rules = Rules {
        uncertainty: Some(Uncertainty::default()),
        ..Rules::default()
    };
    rules.masters.combine = combine;
    rules
}

/// Runs the plan of `night` under `rules` into `out`; every light written.
fn reduce(night: &Path, out: &Path, rules: &Rules) -> Plan {
    let catalog = Catalog::scan(night).unwrap();
    let plan = plan(&catalog, rules, &Library::default());
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    let report = Reduction::new(&plan, out).run();
    assert_eq!(
        report.lights.written(),
        plan.recipes.len(),
        "{:?}",
        report.failed_masters
    );
    plan
}

/// The master of `kind` of a plan's output: data, uncertainty, mask.
fn master_planes(plan: &Plan, out: &Path, kind: MasterKind) -> Planes {
    let master = plan.masters.iter().find(|m| m.kind == kind).unwrap();
    planes(&out.join(master.file()))
}

struct Planes {
    data: Array2<f32>,
    std: Array2<f32>,
    mask: Array2<f32>,
    header: Header,
}

fn planes(path: &Path) -> Planes {
    let image = eloy_fits::read(path).unwrap();
    let std = eloy_fits::read_extension(path, UNCERT).unwrap().unwrap();
    assert_eq!(
        std.header.get::<String>("UTYPE").as_deref(),
        Some("StdDevUncertainty")
    );
    let mask = eloy_fits::read_extension(path, MASK).unwrap().unwrap();
    assert_eq!(mask.bitpix, 8);
    let mut reader = eloy_fits::Reader::open(path).unwrap();
    assert_eq!(reader.verify_checksum().unwrap(), Some(true));
    Planes {
        data: image.data,
        std: std.data,
        mask: mask.data,
        header: image.header,
    }
}

// --- A generated night against a slow reference ----------------------------------------

/// A small deterministic generator (no dependency): uniform in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        #[allow(clippy::cast_precision_loss)]
        let v = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        v
    }

    /// Roughly normal (sum of 12 uniforms), mean 0, deviation `sigma`.
    fn normal(&mut self, sigma: f64) -> f64 {
        ((0..12).map(|_| self.next()).sum::<f64>() - 6.0) * sigma
    }
}

const ROWS: usize = 9;
const COLS: usize = 11;
/// A pixel saturated in every flat: no flat can give it.
const DEAD: (usize, usize) = (4, 7);

fn write_frame(
    dir: &Path,
    name: &str,
    kind: &str,
    exptime: f64,
    data: &Array2<f32>,
    extra: &[(&str, f64)],
) {
    let mut h = Header::new();
    h.set("IMAGETYP", kind, "");
    h.set("EXPTIME", exptime, "");
    h.set("DATE-OBS", "2024-01-31T22:00:00", "");
    h.set("GAIN", GAIN, "");
    h.set("RDNOISE", READ_NOISE, "");
    for (k, v) in extra {
        h.set(k, *v, "");
    }
    let options = WriteOptions {
        precision: Precision::U16,
        ..WriteOptions::default()
    };
    eloy_fits::write(dir.join(name), data.view(), &h, &options).unwrap();
}

/// Raw frames of a night (4 of each kind, one light), as written (integers).
struct Night {
    bias: Vec<Array2<f32>>,
    dark: Vec<Array2<f32>>,
    flat: Vec<Array2<f32>>,
    light: Array2<f32>,
}

fn generate(dir: &Path) -> Night {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Lcg(20_240_131);
    let frame = |level: &dyn Fn(usize, usize) -> f64, rng: &mut Lcg| {
        Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
            #[allow(clippy::cast_possible_truncation)]
            let v = (level(r, c) + rng.normal(READ_NOISE / GAIN))
                .round()
                .clamp(0.0, 65535.0) as f32;
            v
        })
    };
    #[allow(clippy::cast_precision_loss)]
    let bias_level = |r: usize, c: usize| 500.0 + 3.0 * (c as f64 / 3.0).sin() + 0.5 * r as f64;
    #[allow(clippy::cast_precision_loss)]
    let response = |r: usize, c: usize| 1.0 - 0.02 * (c as f64 - 5.0).abs() - 0.01 * r as f64;
    let mut night = Night {
        bias: Vec::new(),
        dark: Vec::new(),
        flat: Vec::new(),
        light: Array2::zeros((0, 0)),
    };
    for i in 0..4 {
        let b = frame(&bias_level, &mut rng);
        write_frame(dir, &format!("bias_{i}.fits"), "Bias Frame", 0.0, &b, &[]);
        night.bias.push(b);
    }
    for i in 0..4 {
        let noise = rng.normal(2.0);
        let d = frame(&|r, c| bias_level(r, c) + 40.0 + noise, &mut rng);
        write_frame(dir, &format!("dark_{i}.fits"), "Dark Frame", 30.0, &d, &[]);
        night.dark.push(d);
    }
    for i in 0..4 {
        #[allow(clippy::cast_precision_loss)]
        let level = 12_000.0 * (1.0 - 0.1 * i as f64);
        let mut f = frame(&|r, c| bias_level(r, c) + level * response(r, c), &mut rng);
        f[DEAD] = 65535.0;
        write_frame(
            dir,
            &format!("flat_{i}.fits"),
            "Flat Field",
            2.0,
            &f,
            &[("SATURATE", 60000.0)],
        );
        night.flat.push(f);
    }
    night.light = frame(
        &|r, c| bias_level(r, c) + 2500.0 * response(r, c) + 80.0,
        &mut rng,
    );
    write_frame(dir, "light_0.fits", "Light Frame", 60.0, &night.light, &[]);
    night
}

/// Median of `v` (mean of the two middle values of an even count), in f64.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// ccdproc's median-combine uncertainty: 1.4826 MAD / sqrt(n).
fn mad_std_over_sqrt_n(v: &[f64]) -> f64 {
    let m = median(v);
    let dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    1.482_602_218_505_602 * median(&dev) / n.sqrt()
}

/// ccdproc's mean-combine uncertainty: population std / sqrt(n).
fn std_over_sqrt_n(v: &[f64]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt() / n.sqrt()
}

/// The slow reference, pixel by pixel in f64: masters (median or mean) with their
/// uncertainty, then the light: sqrt(g y + r^2) / g, subtraction in quadrature, division
/// with relative errors in quadrature.
fn reference(night: &Night, mean: bool) -> (Array2<f64>, Array2<f64>) {
    let combine = |v: &[f64]| -> (f64, f64) {
        if mean {
            #[allow(clippy::cast_precision_loss)]
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (m, std_over_sqrt_n(v))
        } else {
            (median(v), mad_std_over_sqrt_n(v))
        }
    };
    let at = |frames: &[Array2<f32>], p: (usize, usize)| -> Vec<f64> {
        frames.iter().map(|f| f64::from(f[p])).collect()
    };
    let mut data = Array2::zeros((ROWS, COLS));
    let mut std = Array2::zeros((ROWS, COLS));
    // The flats' means need the whole master bias and dark first.
    let mut bias = Array2::zeros((ROWS, COLS));
    let mut bias_std = Array2::zeros((ROWS, COLS));
    let mut rate = Array2::zeros((ROWS, COLS));
    let mut rate_std = Array2::zeros((ROWS, COLS));
    for r in 0..ROWS {
        for c in 0..COLS {
            let (b, sb) = combine(&at(&night.bias, (r, c)));
            // eloy rounds each master to f32.
            bias[(r, c)] = f64::from(b as f32);
            bias_std[(r, c)] = sb;
            let rates: Vec<f64> = at(&night.dark, (r, c))
                .iter()
                .map(|d| (d - bias[(r, c)]) * (1.0 / 30.0))
                .collect();
            let (d, sd) = combine(&rates);
            rate[(r, c)] = f64::from(d as f32);
            rate_std[(r, c)] = sd;
        }
    }
    let normalized: Vec<Array2<f64>> = night
        .flat
        .iter()
        .map(|f| {
            let x = Array2::from_shape_fn((ROWS, COLS), |p| {
                if p == DEAD {
                    f64::NAN
                } else {
                    f64::from(f[p]) - (rate[p] * 2.0 + bias[p])
                }
            });
            let kept: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
            #[allow(clippy::cast_precision_loss)]
            let mean = kept.iter().sum::<f64>() / kept.len() as f64;
            x.mapv(|v| f64::from((v / mean) as f32))
        })
        .collect();
    for r in 0..ROWS {
        for c in 0..COLS {
            let p = (r, c);
            if p == DEAD {
                data[p] = f64::NAN;
                std[p] = f64::NAN;
                continue;
            }
            let flats: Vec<f64> = normalized.iter().map(|f| f[p]).collect();
            let (flat, s_flat) = combine(&flats);
            let flat = f64::from(flat as f32);
            let y = f64::from(night.light[p]);
            let var_raw = (GAIN * y + READ_NOISE * READ_NOISE) / (GAIN * GAIN);
            let sub = y - (rate[p] * 60.0 + bias[p]);
            let var_sub = var_raw + (60.0 * rate_std[p]).powi(2) + bias_std[p].powi(2);
            let q = sub / flat;
            // |q| sqrt((s_a / a)^2 + (s_f / f)^2), written without dividing by a.
            let var_q = (var_sub + q * q * s_flat * s_flat) / (flat * flat);
            data[p] = q;
            std[p] = var_q.sqrt();
        }
    }
    (data, std)
}

fn max_relative(ours: &Array2<f32>, reference: &Array2<f64>) -> f64 {
    ours.iter()
        .zip(reference)
        .filter(|(_, r)| r.is_finite())
        .map(|(&o, &r)| ((f64::from(o) - r) / r).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_propagated_uncertainty_is_the_slow_references() {
    for (mean, combine) in [(false, Combine::median()), (true, Combine::mean())] {
        let dir = tempfile::tempdir().unwrap();
        let night = generate(&dir.path().join("night"));
        let out = dir.path().join("out");
        let plan = reduce(&dir.path().join("night"), &out, &uncertainty_rules(combine));
        let light = planes(&out.join(&plan.recipes[0].output));
        assert_eq!(light.header.get::<String>("BUNIT").as_deref(), Some("adu"));
        assert!(
            light
                .header
                .history()
                .any(|h| h.contains("eloy uncertainty: sqrt(1.5 * raw + 8^2) / 1.5")),
            "HISTORY says how the uncertainty was made"
        );
        let (data, std) = reference(&night, mean);
        let (d, s) = (
            max_relative(&light.data, &data),
            max_relative(&light.std, &std),
        );
        eprintln!("mean {mean}: max relative difference data {d:.2e}, uncertainty {s:.2e}");
        assert!(d < 1e-5, "data {d}");
        assert!(s < 1e-4, "uncertainty {s}");
        // The pixel no flat could give: NaN in the master flat, masked there and in the light.
        let flat = master_planes(&plan, &out, MasterKind::Flat);
        assert!(flat.data[DEAD].is_nan() && flat.std[DEAD].is_nan());
        assert_eq!(
            flat.mask[DEAD],
            f32::from(MASK_INVALID | MASK_NO_UNCERTAINTY | MASK_NO_FRAME)
        );
        assert_eq!(
            light.mask[DEAD],
            f32::from(MASK_INVALID | MASK_NO_UNCERTAINTY | MASK_NO_FRAME)
        );
        // Invalid pixels are -1 (the default rule) and masked; every other pixel is not.
        assert_eq!(light.data[DEAD], -1.0);
        let masked = light.mask.iter().filter(|&&m| m != 0.0).count();
        assert_eq!(masked, 1);
        // The masters' planes.
        let bias = master_planes(&plan, &out, MasterKind::Bias);
        assert!(bias.mask.iter().all(|&m| m == 0.0));
        assert!(bias.std.iter().all(|s| s.is_finite() && *s >= 0.0));
    }
}

/// Without `--uncertainty` nothing changes: a single HDU, `BUNIT = 'ADU'`; with it the data
/// plane is the same to 2 units in the last place (the default path's fused kernel divides
/// by the flat in `f32`, the propagating path in `f64`), with the same invalid pixels.
#[test]
fn the_default_path_is_unchanged_and_the_data_plane_the_same() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("night"));
    let plain_out = dir.path().join("plain");
    let plain = reduce(&dir.path().join("night"), &plain_out, &Rules::default());
    let path = plain_out.join(&plain.recipes[0].output);
    assert!(eloy_fits::read_extension(&path, UNCERT).unwrap().is_none());
    assert!(eloy_fits::read_extension(&path, MASK).unwrap().is_none());
    let plain_image = eloy_fits::read(&path).unwrap();
    assert_eq!(
        plain_image.header.get::<String>("BUNIT").as_deref(),
        Some("ADU")
    );
    for master in &plain.masters {
        assert!(
            eloy_fits::read_extension(plain_out.join(master.file()), UNCERT)
                .unwrap()
                .is_none()
        );
    }
    let with_out = dir.path().join("with");
    let with = reduce(
        &dir.path().join("night"),
        &with_out,
        &uncertainty_rules(Combine::median()),
    );
    let planes = planes(&with_out.join(&with.recipes[0].output));
    for (a, b) in planes.data.iter().zip(&plain_image.data) {
        assert_eq!(*a == -1.0, *b == -1.0, "{a} {b}");
        let ulp = f64::from(b.abs()) * f64::from(f32::EPSILON);
        assert!(
            (f64::from(*a) - f64::from(*b)).abs() <= 2.0 * ulp,
            "{a} {b}"
        );
    }
    // Masters built without an uncertainty are not taken for masters with one.
    let catalog = Catalog::scan(dir.path().join("night")).unwrap();
    let again = plan(
        &catalog,
        &uncertainty_rules(Combine::median()),
        &Library::default(),
    );
    let report = Reduction::new(&again, &plain_out).run();
    assert_eq!(report.lights.written(), 0);
    assert!(
        report
            .failed_masters
            .values()
            .any(|why| why.contains("built from other frames")),
        "{:?}",
        report.failed_masters
    );
}

#[test]
fn a_light_without_read_noise_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    std::fs::create_dir_all(&night).unwrap();
    let mut h = Header::new();
    h.set("IMAGETYP", "Light Frame", "");
    h.set("EXPTIME", 10.0, "");
    h.set("EGAIN", 1.2, "");
    eloy_fits::write(
        night.join("l.fits"),
        Array2::from_elem((4, 4), 100.0f32).view(),
        &h,
        &WriteOptions::default(),
    )
    .unwrap();
    let catalog = Catalog::scan(&night).unwrap();
    let p = plan(
        &catalog,
        &uncertainty_rules(Combine::median()),
        &Library::default(),
    );
    let why = &p.failures[0].why;
    assert!(
        why.contains("l.fits") && why.contains("RDNOISE") && why.contains("--read-noise"),
        "{why}"
    );
    let given = Rules {
        uncertainty: Some(Uncertainty {
            read_noise: Some(-1.0),
        }),
        ..Rules::default()
    };
    let p = plan(&catalog, &given, &Library::default());
    let why = &p.failures[0].why;
    assert!(
        why.contains("l.fits") && why.contains("--read-noise"),
        "{why}"
    );
}

// --- Against astropy ccdproc --------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/uncertainty")
        .join(name)
}

/// eloy on the fixture night against ccdproc's values (`ccdproc.json`): masters and the
/// calibrated light, data and uncertainty, for the median and the mean combine.
#[test]
fn the_planes_agree_with_ccdproc() {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ccdproc.json")).unwrap()).unwrap();
    let pixels: Vec<(usize, usize)> = reference["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_array().unwrap();
            let at = |i: usize| usize::try_from(p[i].as_u64().unwrap()).unwrap();
            (at(0), at(1))
        })
        .collect();
    for (method, combine) in [("median", Combine::median()), ("mean", Combine::mean())] {
        let dir = tempfile::tempdir().unwrap();
        let night = dir.path().join("night");
        std::fs::create_dir_all(&night).unwrap();
        for entry in std::fs::read_dir(fixture("raw")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), night.join(entry.file_name())).unwrap();
        }
        let out = dir.path().join("out");
        let plan = reduce(&night, &out, &uncertainty_rules(combine));
        let light = planes(&out.join(&plan.recipes[0].output));
        let saturated = (3, 4);
        assert_eq!(
            light.mask[saturated],
            f32::from(MASK_INVALID | MASK_NO_UNCERTAINTY | MASK_SATURATED)
        );
        for (key, ours) in [
            ("bias", master_planes(&plan, &out, MasterKind::Bias)),
            ("dark_rate", master_planes(&plan, &out, MasterKind::Dark)),
            ("flat", master_planes(&plan, &out, MasterKind::Flat)),
            ("light", light),
        ] {
            let case = &reference[method][key];
            let values = |what: &str| -> Vec<f64> {
                case[what]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            };
            let (data, std) = (values("data"), values("uncertainty"));
            let mut worst = (0.0f64, 0.0f64);
            for (i, &p) in pixels.iter().enumerate() {
                let rel = |o: f32, r: f64| ((f64::from(o) - r) / r).abs();
                worst.0 = worst.0.max(rel(ours.data[p], data[i]));
                worst.1 = worst.1.max(rel(ours.std[p], std[i]));
                assert_eq!(ours.mask[p], 0.0, "{method} {key} {p:?}");
                // eloy's values are f32 (ccdproc's f64): a MAD of values near 1 moves by
                // their rounding, a few 1e-8 of the values, whatever its own size.
                let slack = 4.0 * f64::from(f32::EPSILON) * data[i].abs();
                let diff = (f64::from(ours.std[p]) - std[i]).abs();
                assert!(
                    diff <= 1e-5 * std[i] + slack,
                    "{method} {key} {p:?}: uncertainty {} against ccdproc's {}",
                    ours.std[p],
                    std[i]
                );
            }
            eprintln!(
                "{method} {key}: max relative difference from ccdproc: data {:.2e}, uncertainty {:.2e}",
                worst.0, worst.1
            );
            assert!(worst.0 < 1e-5, "{method} {key} data {}", worst.0);
        }
    }
}

/// A colour master flat equalized (`Rules::equalize_cfa`): its uncertainty is scaled with
/// its values, so that their ratio is the one without the equalization.
#[test]
fn an_equalized_flat_scales_its_uncertainty() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    generate(&night);
    for entry in std::fs::read_dir(&night).unwrap() {
        let path = entry.unwrap().path();
        let mut image = eloy_fits::read(&path).unwrap();
        image.header.set("BAYERPAT", "RGGB", "");
        let options = WriteOptions {
            precision: Precision::U16,
            overwrite: true,
            ..WriteOptions::default()
        };
        eloy_fits::write(&path, image.data.view(), &image.header, &options).unwrap();
    }
    let rules = uncertainty_rules(Combine::median());
    let plain = reduce(&night, &dir.path().join("plain"), &rules);
    let equalized_rules = Rules {
        equalize_cfa: true,
        ..rules
    };
    let equalized = reduce(&night, &dir.path().join("equalized"), &equalized_rules);
    let a = master_planes(&plain, &dir.path().join("plain"), MasterKind::Flat);
    let b = master_planes(&equalized, &dir.path().join("equalized"), MasterKind::Flat);
    assert!(
        a.data
            .iter()
            .zip(&b.data)
            .any(|(x, y)| (x - y).abs() > 1e-4),
        "the equalization changed the flat"
    );
    for (((x, sx), y), sy) in a.data.iter().zip(&a.std).zip(&b.data).zip(&b.std) {
        if x.is_finite() {
            let (r, s) = (f64::from(*sx / *x), f64::from(*sy / *y));
            assert!((r - s).abs() <= 1e-6 * r.abs(), "{r} {s}");
        }
    }
}
