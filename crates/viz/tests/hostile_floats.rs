//! zscale and rendering on arbitrary `f32` bit patterns: NaN, ±infinity, subnormals, ±0,
//! values near `f32::MAX` (whose differences overflow `f32`). Nothing panics; the limits are
//! finite, ordered and within the finite pixels' range; the rescaled image is NaN exactly
//! where the input is NaN and elsewhere in [0, 1]. (`properties.rs` covers moderate values.)

use eloy_viz::{Limits, Render, Sampling, ZScale, render, z_scale, zscale_limits};
use ndarray::Array2;
use proptest::prelude::*;

fn hostile() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<f32>(),
        1 => Just(f32::NAN),
        1 => prop_oneof![Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        1 => prop_oneof![Just(f32::MAX), Just(f32::MIN), Just(f32::MIN_POSITIVE), Just(-0.0)],
        1 => prop_oneof![Just(1e-45_f32), Just(-1e-45_f32)],
        2 => -1e3_f32..1e3,
    ]
}

fn image() -> impl Strategy<Value = Array2<f32>> {
    (1usize..24, 1usize..24).prop_flat_map(|(rows, cols)| {
        proptest::collection::vec(hostile(), rows * cols)
            .prop_map(move |values| Array2::from_shape_vec((rows, cols), values).expect("shape"))
    })
}

/// Cases per property: `default`, or `PROPTEST_CASES` for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn zscale_limits_are_finite_ordered_and_within_the_pixels(
        image in image(),
        iraf in any::<bool>(),
        contrast in prop_oneof![Just(0.0), Just(0.05), 0.0f64..2.0],
    ) {
        let params = ZScale {
            contrast,
            sampling: if iraf { Sampling::Iraf } else { Sampling::Astropy },
            ..ZScale::default()
        };
        let finite: Vec<f64> = image.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
        match zscale_limits(image.view(), &params) {
            Ok(Limits { vmin, vmax }) => {
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(vmin.is_finite() && vmax.is_finite(), "{vmin} {vmax}");
                prop_assert!(lo <= vmin && vmin <= vmax && vmax <= hi, "{lo} <= {vmin} <= {vmax} <= {hi}");
            }
            Err(e) => {
                let no_finite = matches!(e, eloy_viz::Error::NoFinitePixels { .. });
                prop_assert!(no_finite && (finite.is_empty() || iraf));
            }
        }
    }

    #[test]
    fn rescaling_and_rendering_never_panic(image in image(), width in 1usize..8) {
        if let Ok(out) = z_scale(image.view(), 0.05) {
            for (&v, &o) in image.iter().zip(&out) {
                prop_assert_eq!(v.is_nan(), o.is_nan(), "{} -> {}", v, o);
                prop_assert!(o.is_nan() || (0.0..=1.0).contains(&o), "{v} -> {o}");
            }
        }
        let options = Render { max_width: width, ..Render::default() };
        if let Ok(picture) = render(image.view(), &options) {
            prop_assert!(picture.width() <= width.max(1));
            prop_assert!(picture.to_png().is_ok());
        }
    }
}
