//! Properties of zscale on arbitrary images.

use eloy_viz::{Limits, Sampling, ZScale, z_scale, zscale_limits};
use ndarray::Array2;
use proptest::prelude::*;

/// A pixel: mostly finite values over a wide range, some NaN and infinities.
fn pixel() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -1e6_f32..1e6,
        4 => 0.0_f32..10.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => prop_oneof![Just(0.0_f32), Just(1e30), Just(-1e30)],
    ]
}

fn image() -> impl Strategy<Value = Array2<f32>> {
    (1usize..40, 1usize..40).prop_flat_map(|(rows, cols)| {
        proptest::collection::vec(pixel(), rows * cols)
            .prop_map(move |values| Array2::from_shape_vec((rows, cols), values).expect("shape"))
    })
}

fn params() -> impl Strategy<Value = ZScale> {
    (
        1usize..1500,
        prop_oneof![Just(0.0), 0.01_f64..1.0],
        0.0_f64..1.0,
        0usize..20,
        0.5_f64..5.0,
        0usize..8,
        prop_oneof![Just(Sampling::Astropy), Just(Sampling::Iraf)],
    )
        .prop_map(
            |(n_samples, contrast, max_reject, min_npixels, krej, max_iterations, sampling)| {
                ZScale {
                    n_samples,
                    contrast,
                    max_reject,
                    min_npixels,
                    krej,
                    max_iterations,
                    sampling,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The limits lie within the finite pixels' range and are ordered.
    #[test]
    fn limits_within_finite_range(image in image(), params in params()) {
        let finite: Vec<f64> = image.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
        match zscale_limits(image.view(), &params) {
            Ok(Limits { vmin, vmax }) => {
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(lo <= vmin && vmin <= vmax && vmax <= hi, "{lo} <= {vmin} <= {vmax} <= {hi}");
            }
            Err(e) => {
                let no_finite = matches!(e, eloy_viz::Error::NoFinitePixels { .. });
                prop_assert!(no_finite && (finite.is_empty() || params.sampling == Sampling::Iraf));
            }
        }
    }

    /// astropy's sampling depends only on the finite values in row-major order: the image
    /// gives the limits of its finite values laid in one row, and a transposed view gives
    /// those of its standard-layout copy.
    #[test]
    fn astropy_sampling_reads_finite_values_in_order(image in image(), n_samples in 1usize..700) {
        let params = ZScale { n_samples, ..ZScale::default() };
        let finite: Vec<f32> = image.iter().copied().filter(|v| v.is_finite()).collect();
        let row = Array2::from_shape_vec((1, finite.len()), finite).expect("shape");
        let from_image = zscale_limits(image.view(), &params).ok();
        prop_assert_eq!(from_image, zscale_limits(row.view(), &params).ok());
        let transposed = image.t().to_owned();
        prop_assert_eq!(
            zscale_limits(image.t(), &params).ok(),
            zscale_limits(transposed.view(), &params).ok()
        );
    }

    /// The rescaled image is NaN exactly where the input is NaN, elsewhere in [0, 1].
    #[test]
    fn rescaled_values_in_unit_range(image in image(), contrast in 0.01_f64..1.0) {
        if let Ok(out) = z_scale(image.view(), contrast) {
            for (&v, &o) in image.iter().zip(&out) {
                prop_assert_eq!(v.is_nan(), o.is_nan());
                prop_assert!(o.is_nan() || (0.0..=1.0).contains(&o));
            }
        }
    }
}
