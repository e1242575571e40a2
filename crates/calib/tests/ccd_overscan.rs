//! Overscan and trim against the tools: astropy ccdproc 2.5.1 and IRAF ccdproc (V2.17).
//!
//! The reference values were made by `fixtures/ccd/make_iraf_reference.sh` and
//! `fixtures/ccd/make_ccdproc_reference.py` (see `fixtures/ccd/README.md`); these tests
//! read them and never run Python or IRAF. eloy's side is computed here with the public
//! functions (`Section`, `collapse_overscan`, `overscan_model`, `subtract_overscan`) and
//! ndarray slicing, as the pipeline will.
//!
//! Agreement reached (asserted below, printed with `--nocapture`):
//! - ccdproc `subtract_overscan(median=True, fits_section=BIASSEC)` + `trim_image(TRIMSEC)`
//!   on the SAAO frame a8280271.fits: identical (0 difference; required 1e-5 relative);
//!   mean, constant and a cubic model: 1e-7 relative (f32 rounding of eloy's output);
//! - IRAF's overscan fits (legendre, chebyshev, spline1, spline3, orders 1-8, rejection,
//!   grow, naverage) on the IRAF ccdtest frames: the vector IRAF subtracted, to 1.7e-6
//!   relative (8e-4 ADU on a level of 500 ADU; asserted: 2e-6) beyond the float32
//!   rounding of IRAF's output: IRAF computes the fit in single precision. Agreement at
//!   this level means the same lines are rejected: one line more or less moves such a fit
//!   by about its residual over the number of lines, a few 0.01 ADU.

use std::path::{Path, PathBuf};

use eloy_calib::{
    FitFunction, LineStatistic, OverscanAxis, OverscanFit, OverscanMethod, collapse_overscan,
    overscan_model, subtract_overscan,
};
use eloy_fits::{Image, Section};
use ndarray::{Array2, s};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ccd")
        .join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// The frame, its BIASSEC and its TRIMSEC.
fn frame(name: &str) -> (Image, Section, Section) {
    let path = fixture(name);
    let image = eloy_fits::read(&path).unwrap();
    let shape = image.data.dim();
    let section = |key| {
        Section::from_header(&path, &image.header, key, shape)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: no {key}"))
    };
    let (bias, trim) = (section("BIASSEC"), section("TRIMSEC"));
    (image, bias, trim)
}

/// The largest `|a - b| / max(|b|, floor)`.
fn worst_relative(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / b.abs().max(floor))
        .fold(0.0, f64::max)
}

/// ccdproc's call, as eloy's axis and method.
fn ccdproc_case(name: &str, region: (usize, usize)) -> (OverscanAxis, OverscanMethod) {
    match name {
        "median" => (OverscanAxis::Rows, OverscanMethod::Median),
        "median_axis_none" => (OverscanAxis::of_region(region), OverscanMethod::Median),
        "mean" => (OverscanAxis::Rows, OverscanMethod::Mean),
        "constant" => (OverscanAxis::Rows, OverscanMethod::Constant),
        // Polynomial1D(3) fitted by least squares to the medians: a Legendre fit of 4
        // terms without rejection spans the same polynomials.
        "poly3" => (
            OverscanAxis::Rows,
            OverscanMethod::Fit(OverscanFit {
                function: FitFunction::Legendre,
                order: 4,
                niterate: 0,
                statistic: LineStatistic::Median,
                ..OverscanFit::default()
            }),
        ),
        other => panic!("unknown ccdproc case {other}"),
    }
}

#[test]
fn ccdproc_subtract_overscan_then_trim() {
    let reference = json("ccdproc.json");
    let mut saao_worst = 0.0f64;
    for frame_ref in reference["frames"].as_array().unwrap() {
        let name = frame_ref["file"].as_str().unwrap();
        let (image, bias, trim) = frame(name);
        for case in frame_ref["cases"].as_array().unwrap() {
            let case_name = case["name"].as_str().unwrap();
            let what = format!("{name}, {case_name}");
            let region = bias.view(image.data.view());
            let (axis, method) = ccdproc_case(case_name, region.dim());
            let lines = collapse_overscan(region, axis, method.statistic()).unwrap();
            let values = overscan_model(&lines, &method).unwrap();

            // ccdproc computes in float32 for a float32 frame (np.median and np.mean keep
            // the type; a model is then fitted in float64 to those float32 values), in
            // float64 for an integer one.
            let float32 = image.bitpix == -32;
            let tolerance = if float32 { 1e-6 } else { 1e-12 };
            let expected = numbers(&case["overscan"]);
            let worst = worst_relative(&values, &expected, 1.0);
            assert!(worst <= tolerance, "{what}: overscan differs by {worst:e}");

            let mut data = image.data.clone();
            subtract_overscan(data.view_mut(), axis, &values).unwrap();
            let trimmed = trim.view(data.view());
            let shape = numbers(&case["shape"]);
            assert_eq!(
                trimmed.dim(),
                (shape[0] as usize, shape[1] as usize),
                "{what}"
            );

            // Every sampled pixel: eloy's f32 result against ccdproc's; where ccdproc
            // rounds to float32 itself, its overscan value is off by up to half an ulp.
            let mut worst_pixel = 0.0f64;
            for sample in case["samples"].as_array().unwrap() {
                let v = numbers(sample);
                let (row, col) = (v[0] as usize, v[1] as usize);
                let ours = f64::from(trimmed[(row, col)]);
                let slack = if case["dtype"] == "float32" {
                    f64::from(f32::EPSILON) * values[trim.rows().start + row].abs()
                } else {
                    0.0
                };
                let diff = ((ours - v[2]).abs() - slack).max(0.0);
                worst_pixel = worst_pixel.max(diff / v[2].abs().max(1e-3));
            }
            assert!(
                worst_pixel <= 1e-5,
                "{what}: pixels differ by {worst_pixel:e}"
            );

            let pixels: Vec<f64> = trimmed.iter().map(|&v| f64::from(v)).collect();
            let sum: f64 = pixels.iter().sum();
            let sum_sq: f64 = pixels.iter().map(|v| v * v).sum();
            let min = pixels.iter().copied().fold(f64::INFINITY, f64::min);
            let max = pixels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let scale = case["max"].as_f64().unwrap().abs() * pixels.len() as f64;
            assert!(
                (sum - case["sum"].as_f64().unwrap()).abs() <= 1e-7 * scale,
                "{what}: sum {sum} vs {}",
                case["sum"]
            );
            let sq = case["sum_sq"].as_f64().unwrap();
            assert!((sum_sq - sq).abs() <= 1e-6 * sq, "{what}: sum of squares");
            for (ours, key) in [(min, "min"), (max, "max")] {
                let theirs = case[key].as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() <= 1e-5 * theirs.abs().max(1.0),
                    "{what}: {key} {ours} vs {theirs}"
                );
            }
            eprintln!("{what}: overscan {worst:.1e}, pixels {worst_pixel:.1e} relative");
            if name.starts_with("a8280271") && case_name == "median" {
                saao_worst = worst.max(worst_pixel);
            }
        }
    }
    // The SAAO frame's median overscan is exact: integers, halves, subtractions in range.
    assert_eq!(saao_worst, 0.0);
}

#[test]
fn saao_sections_read_from_the_header() {
    let (image, bias, trim) = frame("a8280271.fits.gz");
    assert_eq!(image.data.dim(), (520, 536));
    assert_eq!(
        image.header.get::<String>("BIASSEC").unwrap(),
        "[   4:  13,   1: 520]"
    );
    assert_eq!((bias.rows(), bias.cols()), (0..520, 3..13));
    assert_eq!((trim.rows(), trim.cols()), (0..520, 16..528));
    assert_eq!(OverscanAxis::of_region(bias.shape()), OverscanAxis::Rows);
}

/// What IRAF ccdproc subtracted for one case of `iraf/overscan.json`, and eloy's values.
struct IrafCase {
    label: String,
    iraf: Vec<f64>,
    /// Per line, how far `iraf` can be from what IRAF subtracted: half a float32 spacing
    /// of IRAF's output values.
    rounding: Vec<f64>,
    ours: Vec<f64>,
    card_mean: Option<f64>,
}

fn iraf_cases() -> Vec<IrafCase> {
    let reference = json("iraf/overscan.json");
    let mut out = Vec::new();
    for case in reference["cases"].as_array().unwrap() {
        let frame_name = case["frame"].as_str().unwrap();
        let (image, bias, trim) = frame(&format!("iraf/raw/{frame_name}.fits.gz"));
        // IRAF collapses the overscan columns of every line and keeps the trimmed lines.
        let region = image.data.slice(s![trim.rows(), bias.cols()]);
        let name = case["function"].as_str().unwrap();
        let function = match name {
            "legendre" => Some(FitFunction::Legendre),
            "chebyshev" => Some(FitFunction::Chebyshev),
            "spline1" => Some(FitFunction::Spline1),
            "spline3" => Some(FitFunction::Spline3),
            _ => None,
        };
        let ours = match (function, name) {
            (Some(function), _) => {
                let fit = OverscanFit {
                    function,
                    order: case["order"].as_u64().unwrap() as usize,
                    niterate: case["niterate"].as_u64().unwrap() as usize,
                    low_reject: case["low_reject"].as_f64().unwrap(),
                    high_reject: case["high_reject"].as_f64().unwrap(),
                    grow: case["grow"].as_f64().unwrap(),
                    naverage: case["naverage"].as_i64().unwrap() as i32,
                    statistic: LineStatistic::Mean,
                };
                let method = OverscanMethod::Fit(fit);
                let lines =
                    collapse_overscan(region, OverscanAxis::Rows, method.statistic()).unwrap();
                overscan_model(&lines, &method).unwrap()
            }
            (None, "mean") => {
                collapse_overscan(region, OverscanAxis::Rows, LineStatistic::Mean).unwrap()
            }
            // IRAF's per-line median and minmax are not eloy methods: computed here to
            // check what the documentation says IRAF does (the lower middle value of an
            // even count; the mean without the lowest and the highest value).
            (None, "median") => region
                .rows()
                .into_iter()
                .map(|row| {
                    let mut v: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                    v.sort_by(f64::total_cmp);
                    v[v.len().div_ceil(2) - 1]
                })
                .collect(),
            (None, "minmax") => region
                .rows()
                .into_iter()
                .map(|row| {
                    let mut v: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                    v.sort_by(f64::total_cmp);
                    v[1..v.len() - 1].iter().sum::<f64>() / (v.len() - 2) as f64
                })
                .collect(),
            (_, other) => panic!("unknown IRAF function {other}"),
        };
        let card = case["overscan_card"].as_str().unwrap();
        let card_mean = card
            .split_once("mean=")
            .map(|(_, m)| m.trim().parse::<f64>().unwrap());
        out.push(IrafCase {
            label: format!("{} on {frame_name}", case["case"].as_str().unwrap()),
            iraf: numbers(&case["vector"]),
            rounding: numbers(&case["rounding"]),
            ours,
            card_mean,
        });
    }
    out
}

#[test]
fn iraf_overscan_fits_and_line_statistics() {
    let cases = iraf_cases();
    assert_eq!(cases.len(), 16 * 3);
    let mut worst_all = 0.0f64;
    for case in &cases {
        // Beyond the rounding of IRAF's output, relative to the overscan level.
        let worst = (0..case.ours.len())
            .map(|i| {
                let excess = (case.ours[i] - case.iraf[i]).abs() - case.rounding[i];
                excess.max(0.0) / case.iraf[i].abs()
            })
            .fold(0.0, f64::max);
        eprintln!("{}: {worst:.2e}", case.label);
        assert!(
            worst <= 2e-6,
            "{}: differs from IRAF by {worst:e}",
            case.label
        );
        worst_all = worst_all.max(worst);
        if let Some(mean) = case.card_mean {
            // OVERSCAN = '... with mean=505.5539': IRAF's float32 mean of the fitted values
            // (its sum of 96 values carries a few 1e-4 of rounding), printed to 7 digits.
            let ours = case.ours.iter().sum::<f64>() / case.ours.len() as f64;
            assert!(
                (ours - mean).abs() <= 1e-3,
                "{}: mean {ours} vs the OVERSCAN card's {mean}",
                case.label
            );
        }
    }
    eprintln!("largest difference from IRAF: {worst_all:.2e} relative");
}

#[test]
fn iraf_fits_are_not_trivially_flat() {
    // The comparison above must be able to fail: on osgrad the fits differ from each other
    // and from the raw line means by far more than the tolerance.
    let cases = iraf_cases();
    let get = |label: &str| {
        cases
            .iter()
            .find(|c| c.label == label)
            .unwrap_or_else(|| panic!("{label}"))
    };
    let pairs = [
        ("leg4 on osgrad", "leg8 on osgrad"),
        ("spl3_3 on osgrad", "spl3_6 on osgrad"),
        ("leg1 on osgrad", "leg1n0 on osgrad"),
        ("leg3g3 on osgrad", "leg4 on osgrad"),
        ("mean on osgrad", "spl3_6 on osgrad"),
        ("median on osgrad", "mean on osgrad"),
    ];
    for (a, b) in pairs {
        let spread = get(a)
            .iraf
            .iter()
            .zip(&get(b).iraf)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(spread > 0.1, "{a} and {b} differ by only {spread}");
    }
    // Each option of the fit matters on osgrad: the same fit without it is farther from
    // IRAF than the tolerance (2e-6 of 500 ADU = 1e-3 ADU).
    let (image, bias, trim) = frame("iraf/raw/osgrad.fits.gz");
    let region = image.data.slice(s![trim.rows(), bias.cols()]);
    let lines = collapse_overscan(region, OverscanAxis::Rows, LineStatistic::Mean).unwrap();
    let without = |label: &str, fit: OverscanFit| {
        let ours = fit.evaluate(&lines).unwrap();
        let spread = ours
            .iter()
            .zip(&get(label).iraf)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(spread > 1e-2, "{label}: the option changes only {spread}");
    };
    let leg3 = OverscanFit {
        order: 3,
        niterate: 3,
        low_reject: 2.5,
        high_reject: 2.5,
        ..OverscanFit::default()
    };
    without("leg3g3 on osgrad", leg3); // grow 3
    without(
        "leg2md3 on osgrad",
        OverscanFit {
            order: 2,
            niterate: 2,
            naverage: 3, // IRAF: -3, medians of 3
            ..OverscanFit::default()
        },
    );
    without(
        "leg3av4 on osgrad",
        OverscanFit {
            niterate: 2,
            ..leg3 // IRAF: naverage 4
        },
    );
    without(
        "cheb6lo on osgrad",
        OverscanFit {
            function: FitFunction::Chebyshev,
            order: 6,
            niterate: 3,
            low_reject: 2.0,
            high_reject: 2.0, // IRAF: 0, no high rejection
            ..OverscanFit::default()
        },
    );

    // And eloy's numpy-style median is not IRAF's lower median.
    let (image, bias, trim) = frame("iraf/raw/zero01.fits.gz");
    let region = image.data.slice(s![trim.rows(), bias.cols()]);
    let numpy = collapse_overscan(region, OverscanAxis::Rows, LineStatistic::Median).unwrap();
    let iraf = &get("median on zero01").iraf;
    assert!(numpy.iter().zip(iraf).any(|(a, b)| (a - b).abs() >= 0.5));
}

#[test]
fn iraf_whole_frames_overscan_and_trim() {
    for (case, file) in [
        ("leg1", "iraf/os_leg1_osgrad.fits.gz"),
        ("spl3_6", "iraf/os_spl3_6_osgrad.fits.gz"),
    ] {
        let iraf = eloy_fits::read(fixture(file)).unwrap();
        let (raw, bias, trim) = frame("iraf/raw/osgrad.fits.gz");
        let fit = match case {
            "leg1" => OverscanFit::default(),
            _ => OverscanFit {
                function: FitFunction::Spline3,
                order: 6,
                niterate: 5,
                low_reject: 2.0,
                high_reject: 2.0,
                ..OverscanFit::default()
            },
        };
        let method = OverscanMethod::Fit(fit);
        let region = raw.data.slice(s![trim.rows(), bias.cols()]);
        let lines = collapse_overscan(region, OverscanAxis::Rows, method.statistic()).unwrap();
        let values = overscan_model(&lines, &method).unwrap();
        let mut ours: Array2<f32> = trim.view(raw.data.view()).to_owned();
        subtract_overscan(ours.view_mut(), OverscanAxis::Rows, &values).unwrap();
        assert_eq!(ours.dim(), iraf.data.dim());
        let worst = ours
            .iter()
            .zip(iraf.data.iter())
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .fold(0.0, f64::max);
        eprintln!("{file}: {worst:.2e} ADU");
        // IRAF's single precision: 2e-6 of the overscan level (about 505 ADU), and the
        // rounding of its float32 output (about 100 ADU: 4e-6).
        assert!(worst <= 1.1e-3, "{file}: differs from IRAF by {worst} ADU");
        assert!(
            iraf.header
                .get::<String>("OVERSCAN")
                .unwrap()
                .contains("Overscan section is [103:130,1:100]")
        );
        assert_eq!(format!("{bias}"), "[103:130,1:100]");
    }
}
