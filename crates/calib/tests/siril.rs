//! Cosmetic correction, CFA equalisation, Bayer pattern reading and dark optimisation
//! against Siril 1.0.6 (Debian's `siril-cli`).
//!
//! The references were made by `fixtures/siril/make_siril_reference.sh` (inputs from
//! `make_inputs.py`, Siril driven by `reference.ssf`; see `fixtures/siril/README.md`);
//! these tests read them and never run Siril. Siril works on values scaled to `[0, 1]`
//! (16-bit data divided by 65535); the tests give eloy the same values, so the comparisons
//! are in Siril's units (1e-7 is 0.0066 ADU).
//!
//! Agreement reached (asserted below, printed with `--nocapture`):
//! - hot and cold pixels found in the master dark (`find_hot dark 3 3`, mono and RGGB):
//!   the same list as Siril's, byte for byte;
//! - repair from a list (`cosme`, `cosme_cfa`: pixels, bad rows and columns) and the whole
//!   `preprocess -dark= [-cfa]` (dark subtraction, then Siril's 3-sigma hot pixels):
//!   every pixel within 1.9e-9 of Siril's (1.2e-4 ADU; asserted: 1.2e-7, the f32
//!   rounding of Siril's f32 sums), with [`correct_like_siril`]; eloy's own rule
//!   ([`correct`]) differs exactly at the repaired pixels that read another defect among
//!   their same-colour neighbours (listed: 0, 9, 2 and 11 pixels in the four cases),
//!   where Siril averages that defect's value in;
//! - CFA equalisation (`grey_flat`): within 1 f32 ulp (relative 1.2e-7);
//! - the header's Bayer pattern (BAYERPAT, XBAYROFF, YBAYROFF, ROWORDER, even and odd
//!   heights): eloy's colour of every pixel is the colour Siril's debayering gives it, in
//!   all 7 cases;
//! - dark optimisation (`preprocess -opt`): the same factor as Siril's (1.299194 and
//!   0.749590; Siril's, recovered from its f32 output to about 1e-6: 1.299193, 0.749590;
//!   asserted: 2e-6), within 0.001 of the truth (1.3, 0.75) of the generated frames: the
//!   master dark's own noise pulls k down by var(noise) / var(dark signal), 6e-4 here.

use std::path::{Path, PathBuf};

use eloy_calib::{
    BayerPattern, CfaColour, CfaLayout, CosmeticMode, DarkOptimization, Defect, DefectDetection,
    DefectKind, DefectMap, Sensor, Sigma, correct, correct_like_siril, equalize_cfa, find_defects,
    optimize_dark,
};
use ndarray::Array2;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/siril")
        .join(name)
}

fn read(name: &str) -> Array2<f32> {
    eloy_fits::read(fixture(name)).unwrap().data
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn summary() -> Value {
    serde_json::from_str(&text("siril.json")).unwrap()
}

/// Siril's conversion of 16-bit data: `value * (1.f / 65535.f)` (`convert_floats`).
fn siril_scale(raw: &Array2<f32>) -> Array2<f32> {
    const INV: f32 = 1.0 / 65535.0;
    raw.mapv(|v| v * INV)
}

/// Largest |a - b|, and where.
fn max_difference(a: &Array2<f32>, b: &Array2<f32>) -> (f64, (usize, usize)) {
    assert_eq!(a.dim(), b.dim());
    let mut worst = (0.0, (0, 0));
    for ((i, &x), &y) in a.indexed_iter().zip(b) {
        let d = (f64::from(x) - f64::from(y)).abs();
        if d > worst.0 || d.is_nan() {
            worst = (d, i);
        }
    }
    worst
}

const SENSORS: [(&str, Sensor); 2] = [("mono", Sensor::Mono), ("bayer", Sensor::Bayer)];

/// Tolerance of a repaired pixel: Siril sums up to 24 values in f32.
const REPAIR_TOLERANCE: f64 = 1.2e-7;

#[test]
fn detection_lists_siril_s_pixels() {
    for (name, _) in SENSORS {
        let dark = read(&format!("{name}/dark.fits.gz"));
        let options = DefectDetection {
            hot_sigma: Some(3.0),
            cold_sigma: Some(3.0),
            sigma: Sigma::Siril,
        };
        let found = find_defects(dark.view(), &options).unwrap();
        let siril = text(&format!("{name}/hot.lst"));
        eprintln!(
            "{name}: median {:.7}, sigma {:.7} ([0, 1] units), {} hot, {} cold",
            found.median,
            found.sigma,
            found.map.count(DefectKind::Hot),
            found.map.count(DefectKind::Cold)
        );
        assert_eq!(found.map.to_siril_list(), siril, "{name}");
        // And the list reads back to the same map.
        assert_eq!(
            DefectMap::from_siril_list(&siril, dark.dim()).unwrap(),
            found.map
        );
    }
}

#[test]
fn repair_from_lists_matches_siril_cosme() {
    for (name, sensor) in SENSORS {
        let frame = read(&format!("{name}/frame.fits.gz"));
        for list in ["hot", "lines"] {
            let map = DefectMap::from_siril_list(&text(&format!("{name}/{list}.lst")), frame.dim())
                .unwrap();
            let siril = read(&format!("{name}/cosme_{list}.fits.gz"));
            let mut eloy = frame.clone();
            correct_like_siril(eloy.view_mut(), &map, sensor).unwrap();
            let (worst, at) = max_difference(&eloy, &siril);
            let changed = frame.iter().zip(&siril).filter(|(a, b)| a != b).count();
            eprintln!(
                "{name} cosme {list}.lst: {changed} pixels changed by Siril, eloy (Siril's order) within {worst:.1e} (at {at:?})"
            );
            assert!(
                worst <= REPAIR_TOLERANCE,
                "{name} {list}: {worst} at {at:?}"
            );
            assert!(
                changed >= map.len(),
                "{name} {list}: Siril repaired the defects"
            );
        }
    }
}

/// The pixels a map changes, each with the offsets of the neighbours its repair reads:
/// lines first, then pixels (which win where both apply), as eloy writes them.
/// A pixel and the offsets of the neighbours its repair reads.
type Repair = ((usize, usize), Vec<(isize, isize)>);

fn repaired_pixels(map: &DefectMap, sensor: Sensor) -> Vec<Repair> {
    let (rows, cols) = map.shape();
    let s = sensor.step() as isize;
    let square = |reach: isize| -> Vec<(isize, isize)> {
        (-reach..=reach)
            .flat_map(|i| (-reach..=reach).map(move |j| (i * s, j * s)))
            .filter(|&o| o != (0, 0))
            .collect()
    };
    let mut out = std::collections::BTreeMap::new();
    for d in map.defects() {
        match *d {
            Defect::Row(r) => {
                let hood: Vec<_> = [-s, s]
                    .iter()
                    .flat_map(|&i| [-s, 0, s].map(|j| (i, j)))
                    .collect();
                for c in 0..cols {
                    out.entry((r, c)).or_insert_with(|| hood.clone());
                }
            }
            Defect::Column(c) => {
                let hood: Vec<_> = [-s, 0, s]
                    .iter()
                    .flat_map(|&i| [-s, s].map(|j| (i, j)))
                    .collect();
                for r in 0..rows {
                    out.entry((r, c)).or_insert_with(|| hood.clone());
                }
            }
            Defect::Pixel { .. } => {}
        }
    }
    for d in map.defects() {
        if let Defect::Pixel { row, col, kind } = *d {
            let reach = if kind == DefectKind::Hot { 1 } else { 2 };
            out.insert((row, col), square(reach));
        }
    }
    out.into_iter().collect()
}

/// eloy's order-independent rule against Siril's output: equal except at the repaired
/// pixels with a defect among the neighbours their repair reads (Siril averages the
/// defect's value in, or a value it repaired before).
#[test]
fn eloy_rule_differs_only_where_defects_touch() {
    let mut touching_seen = 0;
    for (name, sensor) in SENSORS {
        let frame = read(&format!("{name}/frame.fits.gz"));
        let (rows, cols) = frame.dim();
        for list in ["hot", "lines"] {
            let map = DefectMap::from_siril_list(&text(&format!("{name}/{list}.lst")), frame.dim())
                .unwrap();
            let siril = read(&format!("{name}/cosme_{list}.fits.gz"));
            let mut eloy = frame.clone();
            correct(eloy.view_mut(), &map, sensor, CosmeticMode::Replace).unwrap();
            let touching: Vec<(usize, usize)> = repaired_pixels(&map, sensor)
                .into_iter()
                .filter(|((r, c), hood)| {
                    hood.iter().any(|&(i, j)| {
                        let (nr, nc) = (*r as isize + i, *c as isize + j);
                        nr >= 0
                            && nc >= 0
                            && (nr as usize) < rows
                            && (nc as usize) < cols
                            && map.contains(nr as usize, nc as usize)
                    })
                })
                .map(|(p, _)| p)
                .collect();
            let differing: Vec<(usize, usize)> = eloy
                .indexed_iter()
                .filter(|&(i, &v)| (f64::from(v) - f64::from(siril[i])).abs() > REPAIR_TOLERANCE)
                .map(|(i, _)| i)
                .collect();
            eprintln!(
                "{name} {list}.lst: eloy's rule differs from Siril at {} pixels, the {} repaired pixels that read a defect: {differing:?}",
                differing.len(),
                touching.len()
            );
            assert_eq!(differing, touching, "{name} {list}");
            touching_seen += touching.len();
        }
    }
    assert!(touching_seen > 0, "the fixtures have touching defects");
}

#[test]
fn preprocess_dark_and_cosmetic_match_siril() {
    let log = text("siril.log");
    for (name, sensor) in SENSORS {
        let dark = read(&format!("{name}/dark.fits.gz"));
        let light = siril_scale(&read(&format!("{name}/light_00001.fits.gz")));
        let siril = read(&format!("{name}/pp_light_00001.fits.gz"));
        // Siril's preprocess: light - dark in f32, then the hot pixels of the dark at
        // 3 sigma (cold detection off) repaired.
        let mut eloy = &light - &dark;
        let siril_defaults = DefectDetection {
            sigma: Sigma::Siril,
            ..Default::default()
        };
        let found = find_defects(dark.view(), &siril_defaults).unwrap();
        let done = correct_like_siril(eloy.view_mut(), &found.map, sensor).unwrap();
        let (worst, at) = max_difference(&eloy, &siril);
        eprintln!(
            "{name} preprocess -dark{}: {} hot pixels repaired, within {worst:.1e} of Siril (at {at:?})",
            if sensor == Sensor::Bayer { " -cfa" } else { "" },
            done.hot
        );
        assert!(worst <= REPAIR_TOLERANCE, "{name}: {worst} at {at:?}");
        let said = format!("{} corrected pixels (0 + {})", done.hot, done.hot);
        assert!(log.contains(&said), "{name}: Siril's log lacks '{said}'");
    }
}

#[test]
fn cfa_equalisation_matches_grey_flat() {
    let mut flat = read("bayer/flat.fits.gz");
    let siril = read("bayer/flat_equalized.fits.gz");
    let e = equalize_cfa(flat.view_mut(), BayerPattern::Rggb).unwrap();
    let mut worst = 0.0f64;
    for (a, b) in flat.iter().zip(&siril) {
        worst = worst.max(((f64::from(*a) - f64::from(*b)) / f64::from(*b)).abs());
    }
    eprintln!(
        "grey_flat: R/G {:.6}, B/G {:.6}; eloy within {worst:.1e} relative of Siril",
        e.red, e.blue
    );
    assert!(worst <= 1.2e-7, "{worst}");
    // The flat's light was R 1.3, B 0.7 of G (with 1% noise).
    assert!((e.red - 1.3).abs() < 0.01 && (e.blue - 0.7).abs() < 0.01);
}

#[test]
fn bayer_patterns_read_as_siril_debayers() {
    let summary = summary();
    let cases = summary["debayer"].as_object().unwrap();
    assert_eq!(cases.len(), 7);
    for (case, planes) in cases {
        let image = eloy_fits::read(fixture(&format!("debayer/{case}.fits.gz"))).unwrap();
        let rows = image.data.nrows();
        let layout = CfaLayout::from_header(&image.header, rows)
            .unwrap()
            .unwrap();
        for (i, colour) in CfaColour::ALL.into_iter().enumerate() {
            let siril = planes[i].as_f64().unwrap();
            let values: Vec<f32> = image
                .data
                .indexed_iter()
                .filter(|&((r, c), _)| layout.pattern.colour(r, c) == colour)
                .map(|(_, &v)| v)
                .collect();
            assert!(
                values.iter().all(|&v| f64::from(v) == siril),
                "{case}: eloy's {} pixels ({}) are not Siril's {} plane ({siril})",
                colour.name(),
                layout.pattern,
                colour.name()
            );
        }
        eprintln!(
            "{case}: BAYERPAT {:?}, ROWORDER {:?}, {rows} rows -> array pattern {}, as Siril",
            image.header.get::<String>("BAYERPAT").unwrap(),
            image.header.get::<String>("ROWORDER"),
            layout.pattern
        );
    }
}

// --- dark optimisation: the frames of make_inputs.py `hash_frames`, rebuilt here ---------

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(stream: u64, i: u64) -> f64 {
    (splitmix64((stream << 32) + i) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

fn gauss(stream: u64, i: u64) -> f64 {
    let z = splitmix64((stream << 32) + i);
    let s = (z & 0xFFFF) + ((z >> 16) & 0xFFFF) + ((z >> 32) & 0xFFFF) + (z >> 48);
    (s as f64 - 131_070.0) / 37_837.0
}

fn to_u16(x: f64) -> u16 {
    (x + 0.5).floor().clamp(0.0, 65535.0) as u16
}

fn fnv1a(values: &[u16]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &v in values {
        for byte in v.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

/// (bias, dark, lights) as 16-bit values, `make_inputs.py`'s `hash_frames`.
fn opt_frames(k: &[f64]) -> (Vec<u16>, Vec<u16>, Vec<Vec<u16>>) {
    let n = 512u64;
    let column: Vec<f64> = (0..n).map(|c| 3.0 * gauss(1, c)).collect();
    let (mut bias_true, mut dark_true, mut bias, mut dark) = (vec![], vec![], vec![], vec![]);
    for r in 0..n {
        for c in 0..n {
            let i = r * n + c;
            let b = 1000.0 + column[c as usize];
            let glow = 40.0 * (40_000i64 - (r * r + c * c) as i64).max(0) as f64 / 40_000.0;
            let mut d = 10.0 + glow;
            if unit(3, i) < 0.003 {
                d += 200.0 + 2000.0 * unit(4, i);
            }
            bias_true.push(b);
            dark_true.push(d);
            bias.push(to_u16(b + 2.0 * gauss(2, i)));
            dark.push(to_u16(d + 1.0 * gauss(5, i)));
        }
    }
    let lights = k
        .iter()
        .enumerate()
        .map(|(j, &k)| {
            (0..(n * n) as usize)
                .map(|i| {
                    to_u16(
                        bias_true[i]
                            + k * dark_true[i]
                            + 300.0
                            + 6.0 * gauss(10 + j as u64, i as u64),
                    )
                })
                .collect()
        })
        .collect();
    (bias, dark, lights)
}

#[test]
fn dark_optimisation_matches_siril_and_the_truth() {
    let summary = summary();
    let opt = &summary["opt"];
    let k_true: Vec<f64> = opt["digests"]["k_true"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (bias, dark, lights) = opt_frames(&k_true);
    // The frames Siril read: the same bits.
    assert_eq!(fnv1a(&bias), opt["digests"]["bias"]);
    assert_eq!(fnv1a(&dark), opt["digests"]["dark"]);
    let shape = (512, 512);
    let frame = |v: &[u16]| {
        Array2::from_shape_vec(shape, v.iter().map(|&x| f32::from(x)).collect()).unwrap()
    };
    // Siril's [0, 1] values: 16-bit frames scaled as Siril reads them; the dark as
    // make_inputs.py wrote it (float32 of value / 65535).
    let dark_01 = Array2::from_shape_vec(
        shape,
        dark.iter()
            .map(|&d| (f64::from(d) / 65535.0) as f32)
            .collect(),
    )
    .unwrap();
    for (j, light) in lights.iter().enumerate() {
        assert_eq!(fnv1a(light), opt["digests"]["lights"][j]);
        let light_01 = siril_scale(&frame(light));
        let k = optimize_dark(
            light_01.view(),
            None,
            dark_01.view(),
            &DarkOptimization::default(),
        )
        .unwrap();
        let siril = opt["k"][j].as_f64().unwrap();
        // Siril's k recovered from its output (f32): good to about 1e-6.
        eprintln!(
            "light {}: k eloy {k:.6}, Siril {siril:.6} (logged {}), truth {}",
            j + 1,
            opt["k0_logged"][j],
            k_true[j]
        );
        assert!(
            (k - siril).abs() < 2e-6,
            "light {}: {k} vs Siril {siril}",
            j + 1
        );
        assert!(
            (k - k_true[j]).abs() < 1e-3,
            "light {}: {k} vs truth {}",
            j + 1,
            k_true[j]
        );
        // In ADU, with the bias subtracted first (eloy's option): the same answer here,
        // the bias being uncorrelated with the dark.
        let bias_adu = frame(&bias);
        let dark_adu = frame(&dark);
        let k_adu = optimize_dark(
            frame(light).view(),
            Some(bias_adu.view()),
            dark_adu.view(),
            &DarkOptimization::default(),
        )
        .unwrap();
        eprintln!(
            "light {}: k with the bias subtracted first, in ADU: {k_adu:.6}",
            j + 1
        );
        assert!((k_adu - k_true[j]).abs() < 2e-3, "{k_adu}");
    }
}
