//! Options of the per-frame chain, each tested both ways (on: the effect; off: unchanged):
//! saturation, flat normalization, the minimum flat, the conversion to electrons.

use std::path::Path;

use eloy_calib::{Gain, InvalidPixels, Library, Reduction, Rules, Saturation, plan};
use eloy_fits::{Catalog, Header, Value};
use eloy_stack::Normalization;
use ndarray::Array2;

fn write(path: &Path, data: &Array2<f32>, cards: &[(&str, Value)]) {
    let mut h = Header::new();
    h.set("DATE-OBS", "2024-03-10T22:00:00", "");
    for (k, v) in cards {
        h.set(k, v.clone(), "");
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    eloy_fits::write(path, data.view(), &h, &Default::default()).unwrap();
}

/// Three bias frames (one with a saturated pixel), three flats with a ramp, one light.
fn night(root: &Path, light_cards: &[(&str, Value)]) {
    for i in 0..3 {
        let mut bias = Array2::from_elem((6, 8), 100.0 + i as f32);
        if i == 0 {
            bias[[2, 3]] = 65535.0;
        }
        write(
            &root.join(format!("Bias/b{i}.fits")),
            &bias,
            &[("IMAGETYP", "Bias".into()), ("SATURATE", 60000.0.into())],
        );
        let flat = Array2::from_shape_fn((6, 8), |(r, c)| 1100.0 + 10.0 * (r * 8 + c) as f32);
        write(
            &root.join(format!("Flats/f{i}.fits")),
            &flat,
            &[("IMAGETYP", "Flat".into()), ("EXPTIME", 1.0.into())],
        );
    }
    let light = Array2::from_elem((6, 8), 1101.0f32);
    let mut cards = vec![("IMAGETYP", "Light".into()), ("EXPTIME", 30.0.into())];
    cards.extend(light_cards.iter().cloned());
    write(&root.join("Lights/l.fits"), &light, &cards);
}

fn run(root: &Path, out: &str, rules: &Rules) -> (eloy_calib::Plan, Array2<f32>, Header) {
    let catalog = Catalog::scan(root).unwrap();
    let plan = plan(&catalog, rules, &Library::default());
    let out = root.join(out);
    let report = Reduction::new(&plan, &out).run();
    assert_eq!(
        report.lights.written(),
        1,
        "{:?} {:?}",
        plan.failures,
        report.lights.outcomes
    );
    let image = eloy_fits::read(out.join(&plan.recipes[0].output)).unwrap();
    (plan, image.data, image.header)
}

fn master(root: &Path, out: &str, suffix: &str) -> Array2<f32> {
    let folder = root.join(out).join("masters");
    let file = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap();
    eloy_fits::read(file).unwrap().data
}

#[test]
fn saturated_pixels_have_no_value_in_masters() {
    let dir = tempfile::tempdir().unwrap();
    night(dir.path(), &[]);
    // On (the header's SATURATE): the saturated pixel is left out of the median.
    run(dir.path(), "on", &Rules::default());
    let bias = master(dir.path(), "on", "_bias.fits");
    assert_eq!(bias[[2, 3]], 101.5, "median of 101 and 102");
    assert_eq!(bias[[0, 0]], 101.0);
    // Off: the median of 65535, 101 and 102.
    let off = Rules {
        saturation: Saturation::None,
        ..Rules::default()
    };
    run(dir.path(), "off", &off);
    assert_eq!(master(dir.path(), "off", "_bias.fits")[[2, 3]], 102.0);
}

#[test]
fn flats_normalized_by_mean_median_mode_or_region() {
    let dir = tempfile::tempdir().unwrap();
    night(dir.path(), &[]);
    // The flats minus the bias (101; 101.5 at the pixel saturated in one bias frame, k =
    // 19) are 999 + 10 k for k = 0..48.
    let mut values: Vec<f64> = (0..48).map(|k| 999.0 + 10.0 * f64::from(k)).collect();
    values[19] -= 0.5;
    let mean = values.iter().sum::<f64>() / 48.0;
    let median = (values[23] + values[24]) / 2.0;
    let region: f64 = [2usize, 3, 10, 11].iter().map(|&k| values[k]).sum::<f64>() / 4.0;
    for (name, by, divisor) in [
        ("mean", Normalization::Mean, mean),
        ("median", Normalization::Median, median),
        (
            "region",
            Normalization::RegionMean {
                rows: 0..2,
                cols: 2..4,
            },
            region,
        ),
    ] {
        let rules = Rules {
            flat_normalization: by,
            ..Rules::default()
        };
        run(dir.path(), name, &rules);
        let flat = master(dir.path(), name, "_flat.fits");
        let expected = (values[0] / divisor) as f32;
        assert!(
            (flat[[0, 0]] - expected).abs() < 1e-6,
            "{name}: {} vs {expected}",
            flat[[0, 0]]
        );
    }
    // The mode of a flat field: a bright field with a few dark (dust, vignetted) pixels
    // has its mode at the bright level, its mean below.
    let mut field: Vec<f32> = Vec::new();
    for (value, count) in [
        (1003.0, 100),
        (1002.0, 60),
        (1004.0, 60),
        (1001.0, 30),
        (1005.0, 30),
        (1000.0, 10),
        (1006.0, 10),
    ] {
        field.extend(std::iter::repeat_n(value, count));
    }
    field.extend(std::iter::repeat_n(1003.0, 100));
    field.extend((0..100).map(|i| 300.0 + i as f32));
    let a = Array2::from_shape_vec((20, 25), field).unwrap();
    let out = eloy_stack::Frame::new(eloy_stack::InMemory::new(a.view()))
        .normalize(Normalization::Mode, eloy_stack::NanPolicy::Skip)
        .collect()
        .unwrap();
    let mode = f64::from(a[[0, 0]]) / f64::from(out[[0, 0]]);
    assert!((mode - 1003.0).abs() < 0.5, "mode {mode}");
    let mean = f64::from(a.mean().unwrap());
    assert!(mean < 1000.0, "the dark pixels pull the mean down: {mean}");
}

#[test]
fn a_minimum_flat_marks_pixels_invalid_instead_of_amplifying() {
    let dir = tempfile::tempdir().unwrap();
    night(dir.path(), &[]);
    let (_, plain, _) = run(dir.path(), "plain", &Rules::default());
    assert!(plain.iter().all(|&v| v > 0.0));
    // The master flat runs from 999/1234 = 0.81 to 1.19: a minimum of 0.9 cuts the first
    // rows.
    let rules = Rules {
        flat_minimum: Some(0.9),
        ..Rules::default()
    };
    let (_, cut, _) = run(dir.path(), "cut", &rules);
    assert_eq!(cut[[0, 0]], -1.0);
    assert_eq!(cut[[5, 7]], plain[[5, 7]]);
}

#[test]
fn lights_in_electrons_with_the_gain() {
    let dir = tempfile::tempdir().unwrap();
    night(dir.path(), &[("EGAIN", 1.5.into()), ("GAIN", 100.into())]);
    let (_, adu, h) = run(dir.path(), "adu", &Rules::default());
    assert_eq!(h.get::<String>("BUNIT").as_deref(), Some("ADU"));
    let rules = Rules {
        gain: Gain::Header,
        invalid: InvalidPixels::Keep,
        ..Rules::default()
    };
    let (plan, electrons, h) = run(dir.path(), "e", &rules);
    assert_eq!(h.get::<String>("BUNIT").as_deref(), Some("electron"));
    assert!(eloy_calib::formula(&plan.recipes[0].steps).ends_with("* 1.5 e/ADU"));
    for (a, e) in adu.iter().zip(electrons.iter()) {
        assert!((a * 1.5 - e).abs() <= 1e-4 * e.abs(), "{a} {e}");
    }
}

#[test]
fn a_gain_that_cannot_be_used_fails_the_light_naming_file_and_keyword() {
    let dir = tempfile::tempdir().unwrap();
    night(dir.path(), &[("GAIN", 100.into())]);
    let rules = Rules {
        gain: Gain::Header,
        ..Rules::default()
    };
    let catalog = Catalog::scan(dir.path()).unwrap();
    let p = plan(&catalog, &rules, &Library::default());
    assert!(p.recipes.is_empty());
    let why = &p.failures[0].why;
    assert!(
        why.contains("l.fits") && why.contains("GAIN = 100"),
        "{why}"
    );
    let zero = Rules {
        gain: Gain::Given(0.0),
        ..Rules::default()
    };
    let p = plan(&catalog, &zero, &Library::default());
    assert!(
        p.failures[0].why.contains("--gain = 0"),
        "{}",
        p.failures[0].why
    );
}
