//! The combine against values computed by numpy (`nanmedian`, `nanmean`, `nanstd`) and
//! astropy (`sigma_clip(axis=0)` then the masked mean and median), committed in
//! `tests/fixtures/stack.json` with the script that made them, `make_fixture.py`.

use eloy_stack::{Center, Combine, InMemory, Rejection, Stacked};
use ndarray::{Array2, Array3};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/stack.json");
    serde_json::from_str(text).expect("fixture is valid JSON")
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn image(v: &Value) -> Array2<f64> {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    Array2::from_shape_fn((rows.len(), cols), |(r, c)| number(&rows[r][c]))
}

fn cube(f: &Value) -> Array3<f32> {
    let shape: Vec<usize> = f["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data = &f["data"];
    // The values are float32 written as float64: the cast back is exact.
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, r, c)| {
        number(&data[i][r][c]) as f32
    })
}

fn run(combine: Combine, data: &Array3<f32>) -> Stacked {
    combine
        .with_count()
        .with_std()
        .run(data.outer_iter().map(InMemory::new))
        .unwrap()
}

/// Equal to within `rel` relative, or both NaN.
fn assert_close(found: &Array2<f32>, expected: &Array2<f64>, rel: f64, what: &str) {
    for ((idx, &f), &e) in found.indexed_iter().zip(expected) {
        let f = f64::from(f);
        let ok = (f.is_nan() && e.is_nan()) || (f - e).abs() <= rel * e.abs();
        assert!(ok, "{what} at {idx:?}: found {f}, expected {e}");
    }
}

#[test]
fn median_is_numpy_nanmedian_exactly() {
    let f = fixture();
    let data = cube(&f);
    let out = run(Combine::median(), &data);
    // The mean of two float32 values in float64, rounded to float32: exact.
    let expected = image(&f["nanmedian"]).mapv(|v| f64::from(v as f32));
    assert_close(&out.image, &expected, 0.0, "nanmedian");
}

#[test]
fn mean_and_std_are_numpy_nanmean_and_nanstd() {
    let f = fixture();
    let data = cube(&f);
    let out = run(Combine::mean(), &data);
    assert_close(&out.image, &image(&f["nanmean"]), 1e-7, "nanmean");
    assert_close(&out.std.unwrap(), &image(&f["nanstd"]), 1e-6, "nanstd");
}

#[test]
fn sigma_clip_is_astropy_sigma_clip() {
    let f = fixture();
    let data = cube(&f);
    let cases = [
        ("sigma_clip_3_median_center", Rejection::sigma_clip(3.0)),
        ("sigma_clip_2_median_center", Rejection::sigma_clip(2.0)),
        (
            "sigma_clip_1.5_mean_center",
            Rejection::SigmaClip {
                low: 1.5,
                high: 1.5,
                max_iters: 5,
                center: Center::Mean,
            },
        ),
        (
            "sigma_clip_lo1_hi2.5_no_max",
            Rejection::SigmaClip {
                low: 1.0,
                high: 2.5,
                max_iters: u32::MAX,
                center: Center::Median,
            },
        ),
    ];
    for (key, rejection) in cases {
        let expected = &f[key];
        let mean = run(Combine::mean().rejection(rejection), &data);
        assert_close(
            &mean.image,
            &image(&expected["mean"]),
            1e-7,
            &format!("{key} mean"),
        );
        let count = image(&expected["count"]).mapv(|v| v as u32);
        assert_eq!(mean.count.unwrap(), count, "{key} count");
        let median = run(Combine::median().rejection(rejection), &data);
        assert_close(
            &median.image,
            &image(&expected["median"]),
            1e-7,
            &format!("{key} median"),
        );
    }
}

/// ccdproc's `Combiner.sigma_clipping()` (one round about the mean, 3 sigma) is
/// `Rejection::SigmaClip { max_iters: 1, center: Center::Mean, .. }` (`eloy calibrate
/// --sigma-clip 3 --sigma-rounds 1 --sigma-center mean`): the mean and median combines
/// after it equal ccdproc's; astropy's iterative clipping (eloy's default rounds) rejects
/// more where a second outlier hides behind a first.
#[test]
fn one_round_about_the_mean_is_ccdproc_sigma_clipping() {
    let f = &fixture()["ccdproc_sigma_clipping"];
    let data = cube(f);
    let ccdproc = Rejection::SigmaClip {
        low: 3.0,
        high: 3.0,
        max_iters: 1,
        center: Center::Mean,
    };
    let mean = run(Combine::mean().rejection(ccdproc), &data);
    assert_close(&mean.image, &image(&f["mean"]), 1e-7, "ccdproc mean");
    let median = run(Combine::median().rejection(ccdproc), &data);
    assert_close(&median.image, &image(&f["median"]), 1e-7, "ccdproc median");
    let iterative = run(Combine::mean().rejection(Rejection::sigma_clip(3.0)), &data);
    let (one, more) = (mean.image[[0, 0]], iterative.image[[0, 0]]);
    assert!(
        (one - more).abs() > 1.0,
        "one round {one}, astropy's rounds {more}"
    );
}
