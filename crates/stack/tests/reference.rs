//! Property tests: the streaming combine against a slow, obvious reference that sorts every
//! pixel's values, for random shapes, frame counts 1..=70 (and 250..=300, both sides of the
//! sorting-network limit of 256), NaNs and infinities sprinkled, band heights 1..=rows and
//! 1 or 4 threads.
//!
//! The reference sums in the same order as the engine (frame order without rejection,
//! ascending order after a sort), so every result must match exactly, not approximately.

use eloy_stack::{Center, Combine, Frame, InMemory, Method, NanPolicy, Rejection};
use ndarray::{Array2, Array3, Axis, s};
use proptest::prelude::*;

/// xorshift64*: enough randomness for test data from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A cube of `n` frames with repeated values (ties), outliers, NaN with probability
/// `nan`, and a few infinities.
fn cube(n: usize, rows: usize, cols: usize, nan: f64, seed: u64) -> Array3<f32> {
    let mut rng = Rng(seed | 1);
    Array3::from_shape_simple_fn((n, rows, cols), || {
        let u = rng.unit();
        if u < nan {
            f32::NAN
        } else if rng.unit() < 0.005 {
            if rng.unit() < 0.5 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            }
        } else if rng.unit() < 0.05 {
            (rng.unit() * 1e4 - 5e3) as f32
        } else {
            100.0 + (rng.unit() * 20.0).floor() as f32 * 0.5
        }
    })
}

fn midpoint(a: f32, b: f32) -> f32 {
    ((f64::from(a) + f64::from(b)) * 0.5) as f32
}

/// astropy's `compute_sigma_clipped_bounds` (C fast path), literally, on a buffer kept in
/// ascending order, then the final mask: valid values within the last bounds.
fn sigma_clip(sorted: &[f32], low: f64, high: f64, max_iters: u32, center: Center) -> Vec<f32> {
    if max_iters == 0 || sorted.is_empty() {
        return sorted.to_vec();
    }
    let mut buf: Vec<f32> = sorted.to_vec();
    let (mut lower, mut upper);
    let mut iteration = 0;
    loop {
        let count = buf.len();
        let (lo, hi) = if count == 0 {
            (f64::NAN, f64::NAN)
        } else {
            let mean = buf.iter().map(|&v| f64::from(v)).sum::<f64>() / count as f64;
            let var = buf
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / count as f64;
            let std = var.sqrt();
            let centre = match center {
                Center::Mean => mean,
                Center::Median => {
                    0.5 * (f64::from(buf[(count - 1) / 2]) + f64::from(buf[count / 2]))
                }
            };
            (centre - low * std, centre + high * std)
        };
        lower = lo;
        upper = hi;
        buf.retain(|&v| f64::from(v) >= lower && f64::from(v) <= upper);
        if buf.len() == count {
            break;
        }
        iteration += 1;
        if iteration >= max_iters {
            break;
        }
    }
    sorted
        .iter()
        .copied()
        .filter(|&v| f64::from(v) >= lower && f64::from(v) <= upper)
        .collect()
}

/// The reference combine of one pixel's values, with its count and std.
fn reference_pixel(values: &[f32], method: Method, rejection: Rejection) -> (f32, u32, f32) {
    let finite_only = matches!(rejection, Rejection::SigmaClip { .. });
    let valid: Vec<f32> = values
        .iter()
        .copied()
        .filter(|v| {
            if finite_only {
                v.is_finite()
            } else {
                !v.is_nan()
            }
        })
        .collect();
    let mut sorted = valid.clone();
    sorted.sort_by(f32::total_cmp);
    let kept = match rejection {
        // Without rejection, mean and sum go in frame order.
        Rejection::None if method != Method::Median => valid,
        Rejection::None => sorted,
        Rejection::MinMax { low, high } => {
            if sorted.len() > low + high {
                sorted[low..sorted.len() - high].to_vec()
            } else {
                Vec::new()
            }
        }
        Rejection::SigmaClip {
            low,
            high,
            max_iters,
            center,
        } => sigma_clip(&sorted, low, high, max_iters, center),
        other => unimplemented!("no reference for {other:?}"),
    };
    let n = kept.len();
    if n == 0 {
        return (f32::NAN, 0, f32::NAN);
    }
    let sum: f64 = kept.iter().map(|&v| f64::from(v)).sum();
    let mean = sum / n as f64;
    let var = kept
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let value = match method {
        Method::Median => {
            let mut s = kept.clone();
            s.sort_by(f32::total_cmp);
            midpoint(s[(n - 1) / 2], s[n / 2])
        }
        Method::Mean => mean as f32,
        Method::Sum => sum as f32,
    };
    (value, n as u32, var.sqrt() as f32)
}

fn same(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// A budget that gives exactly `height` rows a band on a pool of `threads`.
fn budget_for(height: usize, n: usize, cols: usize, threads: usize) -> usize {
    threads * 36 * n + height * cols * (4 * n + 12)
}

fn method_strategy() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Median), Just(Method::Mean), Just(Method::Sum)]
}

fn rejection_strategy() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        Just(Rejection::None),
        (0usize..3, 0usize..3).prop_map(|(low, high)| Rejection::MinMax { low, high }),
        (
            0.5f64..4.0,
            0.5f64..4.0,
            prop_oneof![Just(0u32), Just(1), Just(5), Just(u32::MAX)],
            any::<bool>()
        )
            .prop_map(|(low, high, max_iters, mean)| Rejection::SigmaClip {
                low,
                high,
                max_iters,
                center: if mean { Center::Mean } else { Center::Median },
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn streamed_combine_matches_reference(
        rows in 1usize..12,
        cols in 1usize..13,
        n in prop_oneof![4 => 1usize..=70, 1 => 250usize..=300],
        nan in prop_oneof![Just(0.0), Just(0.1), Just(0.5), Just(1.0)],
        seed in any::<u64>(),
        method in method_strategy(),
        rejection in rejection_strategy(),
        height_pick in any::<prop::sample::Index>(),
        threads in prop_oneof![Just(1usize), Just(4)],
    ) {
        if let Rejection::MinMax { low, high } = rejection {
            prop_assume!(low + high < n);
        }
        let data = cube(n, rows, cols, nan, seed);
        let height = height_pick.index(rows) + 1;
        let combine = Combine::new(method)
            .rejection(rejection)
            .with_count()
            .with_std()
            .memory_budget(budget_for(height, n, cols, threads));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let out = pool.install(|| {
            assert_eq!(combine.band_rows(n, (rows, cols)).unwrap(), height);
            combine.run(data.outer_iter().map(InMemory::new))
        }).unwrap();
        let (count, std) = (out.count.unwrap(), out.std.unwrap());
        for r in 0..rows {
            for c in 0..cols {
                let values: Vec<f32> = data.slice(s![.., r, c]).to_vec();
                let (v, k, s) = reference_pixel(&values, method, rejection);
                prop_assert!(same(out.image[[r, c]], v), "value at ({r}, {c}): {} != {v} for {values:?}", out.image[[r, c]]);
                prop_assert_eq!(count[[r, c]], k, "count at ({}, {})", r, c);
                prop_assert!(same(std[[r, c]], s), "std at ({r}, {c}): {} != {s}", std[[r, c]]);
            }
        }
    }

    #[test]
    fn preprocessing_matches_reference(
        rows in 1usize..10,
        cols in 1usize..10,
        n in 1usize..8,
        seed in any::<u64>(),
        nan in prop_oneof![Just(0.0), Just(0.2)],
        propagate in any::<bool>(),
        height_pick in any::<prop::sample::Index>(),
        threads in prop_oneof![Just(1usize), Just(4)],
    ) {
        let data = cube(n, rows, cols, nan, seed);
        let bias = cube(1, rows, cols, 0.0, seed ^ 0xb1a5).index_axis_move(Axis(0), 0);
        // A transposed operand, to go through the copy for non-standard layouts.
        let dark = cube(1, cols, rows, 0.0, seed ^ 0xda4c).index_axis_move(Axis(0), 0).reversed_axes();
        let exposures: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 * 0.7).collect();
        let nan_policy = if propagate { NanPolicy::Propagate } else { NanPolicy::Skip };
        let height = height_pick.index(rows) + 1;
        let combine = Combine::median().memory_budget(budget_for(height, n, cols, threads) - 12 * cols * height + 4 * cols * height);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let out = pool.install(|| {
            assert_eq!(combine.band_rows(n, (rows, cols)).unwrap(), height);
            combine.run(data.outer_iter().zip(&exposures).map(|(frame, &t)| {
                Frame::new(InMemory::new(frame))
                    .subtract(&bias)
                    .subtract_scaled(dark.view(), t)
                    .scale(0.5)
                    .scale(1.0 / t)
                    .normalize_by_mean(nan_policy)
            }))
        }).unwrap();

        // The reference: f64 arithmetic, the mean row by row.
        let mut pre = Array3::<f32>::zeros((n, rows, cols));
        for (i, frame) in data.outer_iter().enumerate() {
            let t = exposures[i];
            let s = 0.5 * (1.0 / t);
            let value = |r: usize, c: usize| {
                ((f64::from(frame[[r, c]]) - f64::from(bias[[r, c]])) - f64::from(dark[[r, c]]) * t) * s
            };
            let (mut total, mut count) = (0.0, 0u64);
            for r in 0..rows {
                let mut row_sum = 0.0;
                for c in 0..cols {
                    let v = value(r, c);
                    if propagate || !v.is_nan() {
                        row_sum += v;
                        count += 1;
                    }
                }
                total += row_sum;
            }
            let mean = if count == 0 { f64::NAN } else { total / count as f64 };
            for r in 0..rows {
                for c in 0..cols {
                    pre[[i, r, c]] = (value(r, c) / mean) as f32;
                }
            }
        }
        for r in 0..rows {
            for c in 0..cols {
                let values: Vec<f32> = pre.slice(s![.., r, c]).to_vec();
                let (v, _, _) = reference_pixel(&values, Method::Median, Rejection::None);
                prop_assert!(same(out.image[[r, c]], v), "({r}, {c}): {} != {v}", out.image[[r, c]]);
            }
        }
    }
}

#[test]
fn one_frame_is_returned_as_is() {
    let a = cube(1, 7, 9, 0.1, 3).index_axis_move(Axis(0), 0);
    for combine in [Combine::median(), Combine::mean(), Combine::sum()] {
        let out = combine.run([InMemory::new(a.view())]).unwrap();
        assert!(out.image.iter().zip(&a).all(|(&x, &y)| same(x, y)));
    }
    // Sigma clipping has no value for infinities (astropy masks non-finite values).
    let out = Combine::median()
        .rejection(Rejection::sigma_clip(3.0))
        .run([InMemory::new(a.view())])
        .unwrap();
    assert!(
        out.image
            .iter()
            .zip(&a)
            .all(|(&x, &y)| same(x, if y.is_finite() { y } else { f32::NAN }))
    );
}

#[test]
fn all_nan_pixel_is_nan_with_count_zero() {
    let mut frames = vec![Array2::from_elem((2, 2), 1.0_f32); 5];
    for f in &mut frames {
        f[[1, 0]] = f32::NAN;
    }
    for method in [Method::Median, Method::Mean, Method::Sum] {
        let out = Combine::new(method)
            .with_count()
            .with_std()
            .run(frames.iter().map(|f| InMemory::new(f.view())))
            .unwrap();
        assert!(out.image[[1, 0]].is_nan());
        assert_eq!(out.count.as_ref().unwrap()[[1, 0]], 0);
        assert!(out.std.as_ref().unwrap()[[1, 0]].is_nan());
        assert_eq!(
            out.image[[0, 0]],
            if method == Method::Sum { 5.0 } else { 1.0 }
        );
    }
}

#[test]
fn constant_pixel_survives_sigma_clipping() {
    let frames = vec![Array2::from_elem((3, 17), 42.5_f32); 20];
    for center in [Center::Median, Center::Mean] {
        let clip = Rejection::SigmaClip {
            low: 0.0,
            high: 0.0,
            max_iters: u32::MAX,
            center,
        };
        let out = Combine::mean()
            .rejection(clip)
            .with_count()
            .run(frames.iter().map(|f| InMemory::new(f.view())))
            .unwrap();
        assert!(out.image.iter().all(|&v| v == 42.5));
        assert!(out.count.unwrap().iter().all(|&c| c == 20));
    }
}

#[test]
fn strided_and_transposed_views_read_like_contiguous_ones() {
    let data = cube(5, 9, 7, 0.1, 11);
    // The same frames as transposed views of a (n, cols, rows) cube, and as every other
    // column of a wider cube.
    let transposed = data
        .clone()
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .into_owned();
    let mut wide = Array3::<f32>::zeros((5, 9, 14));
    wide.slice_mut(s![.., .., ..;2]).assign(&data);
    let expected = Combine::median()
        .run(data.outer_iter().map(InMemory::new))
        .unwrap();
    let from_transposed = Combine::median()
        .run(
            transposed
                .outer_iter()
                .map(|f| InMemory::new(f.reversed_axes())),
        )
        .unwrap();
    let strided = wide.slice(s![.., .., ..;2]);
    // Several bands: 168 bytes a row and 2 * 180 bytes of scratch in 1000 bytes.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let from_strided = pool
        .install(|| {
            Combine::median()
                .memory_budget(1000)
                .run(strided.outer_iter().map(InMemory::new))
        })
        .unwrap();
    for out in [from_transposed, from_strided] {
        assert!(
            out.image
                .iter()
                .zip(&expected.image)
                .all(|(&a, &b)| same(a, b))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Line values and a crop (an overscan and a trim), then a level, a flat and the
    /// invalid rule, streamed in bands of any height: equal to the same arithmetic done
    /// pixel by pixel on the whole frame.
    #[test]
    fn lines_and_crop_match_reference(
        rows in 2usize..14,
        cols in 2usize..14,
        seed in any::<u64>(),
        by_column in any::<bool>(),
        r0 in 0usize..4, c0 in 0usize..4,
        band in 1usize..6,
        threads in prop_oneof![Just(1usize), Just(3)],
    ) {
        let data = cube(1, rows + 4, cols + 4, 0.05, seed).index_axis_move(Axis(0), 0);
        let (src_rows, src_cols) = data.dim();
        let crop = (r0..r0 + rows, c0..c0 + cols);
        let mut rng = Rng(seed ^ 0x5eed | 1);
        let line_values: Vec<f64> = (0..if by_column { src_cols } else { src_rows })
            .map(|_| 400.0 + 200.0 * rng.unit())
            .collect();
        let level = Array2::from_shape_fn((rows, cols), |_| (rng.unit() * 50.0) as f32);
        let flat = Array2::from_shape_fn((rows, cols), |_| (0.5 + rng.unit()) as f32);
        let lines = if by_column {
            eloy_stack::Lines::Columns(line_values.clone())
        } else {
            eloy_stack::Lines::Rows(line_values.clone())
        };
        struct Collect(Array2<f32>);
        impl eloy_stack::BandSink for Collect {
            fn write_band(&mut self, band: eloy_stack::StackedBand<'_>) -> Result<(), eloy_stack::Error> {
                self.0.slice_mut(s![band.rows.clone(), ..]).assign(&band.image);
                Ok(())
            }
        }
        let mut sink = Collect(Array2::zeros((rows, cols)));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            Frame::new(InMemory::new(data.view()))
                .subtract_lines(lines)
                .crop(crop.0.clone(), crop.1.clone())
                .subtract_scaled(level.view(), 2.0)
                .divide(flat.view())
                .replace_invalid(-1.0)
                .stream_into(band, &mut sink)
        }).unwrap();
        for r in 0..rows {
            for c in 0..cols {
                let (sr, sc) = (r + r0, c + c0);
                let line = if by_column { line_values[sc] } else { line_values[sr] };
                let v = ((f64::from(data[[sr, sc]]) - line - f64::from(level[[r, c]]) * 2.0)
                    / f64::from(flat[[r, c]])) as f32;
                let v = if v.is_nan() || v < 0.0 || v.is_infinite() { -1.0 } else { v };
                prop_assert!(same(sink.0[[r, c]], v), "({r}, {c}): {} != {v}", sink.0[[r, c]]);
            }
        }
    }

    /// A crop outside the source and line values of the wrong count are errors.
    #[test]
    fn bad_crops_and_lines_are_errors(rows in 1usize..6, cols in 1usize..6) {
        let data = Array2::<f32>::zeros((rows, cols));
        let crop = Frame::new(InMemory::new(data.view())).crop(0..rows + 1, 0..cols);
        let crop_refused = matches!(crop.collect(), Err(eloy_stack::Error::Crop { .. }));
        prop_assert!(crop_refused);
        let lines = Frame::new(InMemory::new(data.view()))
            .subtract_lines(eloy_stack::Lines::Rows(vec![0.0; rows + 1]));
        let lines_refused = matches!(lines.collect(), Err(eloy_stack::Error::LineCount { .. }));
        prop_assert!(lines_refused);
    }
}
