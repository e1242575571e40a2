//! The combine kernels on arbitrary `f32` bit patterns: NaN, ±infinity, subnormals, ±0,
//! values near `f32::MAX`. Whatever the frames hold, a combine never panics and follows the
//! NaN rules: NaN is skipped, a pixel with nothing left is NaN with count 0, infinities
//! count as values, and the median is the reference median exactly.
//! (`reference.rs` checks every method against a reference on moderate values.)

use eloy_stack::{Center, Combine, Frame, InMemory, Method, NanPolicy, Rejection};
use ndarray::{Array3, s};
use proptest::prelude::*;

/// Any `f32`, weighted towards the values that break arithmetic.
fn hostile() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<f32>(),
        1 => Just(f32::NAN),
        1 => prop_oneof![Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        1 => prop_oneof![Just(f32::MAX), Just(f32::MIN), Just(f32::MIN_POSITIVE), Just(-0.0)],
        1 => prop_oneof![Just(1e-45_f32), Just(-1e-45_f32)],
    ]
}

fn cube() -> impl Strategy<Value = Array3<f32>> {
    (1usize..12, 1usize..4, 1usize..5).prop_flat_map(|(n, rows, cols)| {
        proptest::collection::vec(hostile(), n * rows * cols)
            .prop_map(move |values| Array3::from_shape_vec((n, rows, cols), values).expect("shape"))
    })
}

fn rejection() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        Just(Rejection::None),
        (0usize..3, 0usize..3).prop_map(|(low, high)| Rejection::MinMax { low, high }),
        (0.0f64..5.0, 0.0f64..5.0, 0u32..6, any::<bool>()).prop_map(
            |(low, high, max_iters, mean)| Rejection::SigmaClip {
                low,
                high,
                max_iters,
                center: if mean { Center::Mean } else { Center::Median },
            }
        ),
    ]
}

/// The median of the non-NaN values as numpy's nanmedian: the middle value, or the mean
/// (in f64) of the two middle values.
fn reference_median(values: &[f32]) -> f32 {
    let mut kept: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if kept.is_empty() {
        return f32::NAN;
    }
    kept.sort_by(f32::total_cmp);
    let n = kept.len();
    ((f64::from(kept[(n - 1) / 2]) + f64::from(kept[n / 2])) * 0.5) as f32
}

/// Cases per property: `default`, or `PROPTEST_CASES` for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn combines_never_panic_and_keep_the_nan_rules(
        data in cube(),
        method in prop_oneof![Just(Method::Median), Just(Method::Mean), Just(Method::Sum)],
        rejection in rejection(),
    ) {
        let n = data.dim().0;
        let combine = Combine::new(method).rejection(rejection).with_count().with_std();
        let result = combine.run(data.outer_iter().map(InMemory::new));
        let out = match (result, rejection) {
            (Ok(out), _) => out,
            // Rejecting as many values as there are frames is refused up front.
            (Err(eloy_stack::Error::RejectsEverything { .. }), Rejection::MinMax { low, high })
                if low + high >= n => return Ok(()),
            (Err(e), _) => panic!("{e}"),
        };
        let (count, std) = (out.count.unwrap(), out.std.unwrap());
        for ((r, c), &value) in out.image.indexed_iter() {
            let values: Vec<f32> = data.slice(s![.., r, c]).to_vec();
            let valid = values.iter().filter(|v| !v.is_nan()).count();
            let k = count[[r, c]] as usize;
            prop_assert!(k <= valid, "count {k} > {valid} valid of {values:?}");
            if k == 0 {
                prop_assert!(value.is_nan(), "{value} from nothing ({values:?})");
                prop_assert!(std[[r, c]].is_nan());
            }
            if rejection == Rejection::None {
                prop_assert_eq!(k, valid);
                if method == Method::Median {
                    let expected = reference_median(&values);
                    prop_assert!(
                        value.to_bits() == expected.to_bits() || (value.is_nan() && expected.is_nan())
                            || (value == 0.0 && expected == 0.0),
                        "median {value} != {expected} of {values:?}"
                    );
                }
                // A mean of finite values lies within them (it is computed wide enough
                // not to overflow).
                let finite = values.iter().filter(|v| !v.is_nan()).all(|v| v.is_finite());
                if method == Method::Mean && k > 0 && finite {
                    let lo = values.iter().copied().filter(|v| !v.is_nan()).fold(f32::INFINITY, f32::min);
                    let hi = values.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
                    prop_assert!(lo <= value && value <= hi, "mean {value} outside [{lo}, {hi}] of {values:?}");
                }
            }
        }
    }

    #[test]
    fn preprocessing_with_hostile_operands_never_panics(
        data in cube(),
        factor in prop_oneof![any::<f64>(), Just(0.0), Just(f64::INFINITY), Just(f64::NAN)],
        propagate in any::<bool>(),
    ) {
        let (_, rows, cols) = data.dim();
        let operand = data.slice(s![0, .., ..]).to_owned();
        let policy = if propagate { NanPolicy::Propagate } else { NanPolicy::Skip };
        let frames = data.outer_iter().map(|f| {
            Frame::new(InMemory::new(f))
                .subtract(operand.view())
                .subtract_scaled(operand.view(), factor)
                .scale(factor)
                .normalize_by_mean(policy)
        });
        let out = Combine::median().with_count().run(frames).unwrap();
        prop_assert_eq!(out.image.dim(), (rows, cols));
        // A NaN result has nothing behind it, and nothing behind a pixel gives NaN.
        let count = out.count.unwrap();
        for ((r, c), &v) in out.image.indexed_iter() {
            prop_assert_eq!(v.is_nan(), count[[r, c]] == 0, "{} with count {}", v, count[[r, c]]);
        }
    }
}
