//! `Combine::with_uncertainty`: ccdproc's `Combiner` uncertainty, with and without
//! rejection, against a direct computation.

use eloy_stack::{Combine, InMemory, Rejection};
use ndarray::Array2;

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

fn mad_std(v: &[f64]) -> f64 {
    let m = median(v);
    let d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    1.482_602_218_505_602 * median(&d)
}

/// 19 values about 10 and one far outlier, per pixel; pixel 1 has a NaN too.
fn frames() -> Vec<Array2<f32>> {
    let base = [
        10.0, 11.0, 9.0, 10.5, 12.0, 8.5, 10.0, 9.5, 11.5, 10.25, 9.75, 10.0, 13.0, 7.0, 10.0,
        10.5, 9.0, 11.0, 10.0,
    ];
    let mut out: Vec<Array2<f32>> = base
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            #[allow(clippy::cast_precision_loss)]
            let shift = i as f32 * 0.01;
            Array2::from_shape_vec((1, 2), vec![b + shift, b - shift]).unwrap()
        })
        .collect();
    out.push(Array2::from_shape_vec((1, 2), vec![1000.0, 1000.0]).unwrap());
    out[3][[0, 1]] = f32::NAN;
    out
}

fn values(frames: &[Array2<f32>], col: usize) -> Vec<f64> {
    frames
        .iter()
        .map(|f| f64::from(f[[0, col]]))
        .filter(|v| !v.is_nan())
        .collect()
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= 1e-6 * b.abs()
}

#[test]
fn median_and_mean_uncertainty_follow_ccdproc_with_and_without_rejection() {
    let frames = frames();
    let run = |c: Combine| {
        c.with_uncertainty()
            .run(frames.iter().map(|f| InMemory::new(f.view())))
            .unwrap()
    };
    #[allow(clippy::cast_precision_loss)]
    for col in 0..2 {
        let all = values(&frames, col);
        let n = all.len() as f64;
        // No rejection: the outlier counts.
        let out = run(Combine::median());
        assert!(close(out.std.unwrap()[[0, col]], mad_std(&all) / n.sqrt()));
        let out = run(Combine::mean());
        let mean = all.iter().sum::<f64>() / n;
        let std = (all.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        assert!(close(out.std.unwrap()[[0, col]], std / n.sqrt()));
        // Sigma clipping at 3: the outlier is out, of the MAD and of n.
        let kept: Vec<f64> = all.iter().copied().filter(|&x| x < 500.0).collect();
        let k = kept.len() as f64;
        let out = run(Combine::median().rejection(Rejection::sigma_clip(3.0)));
        assert_eq!(f64::from(out.count.unwrap()[[0, col]]), k);
        assert!(close(out.std.unwrap()[[0, col]], mad_std(&kept) / k.sqrt()));
        // Min/max: the lowest and the highest out.
        let mut sorted = all.clone();
        sorted.sort_by(f64::total_cmp);
        let trimmed = &sorted[1..sorted.len() - 1];
        let out = run(Combine::median().rejection(Rejection::MinMax { low: 1, high: 1 }));
        let k = trimmed.len() as f64;
        assert!(close(
            out.std.unwrap()[[0, col]],
            mad_std(trimmed) / k.sqrt()
        ));
    }
}

#[test]
fn a_pixel_without_values_has_no_uncertainty() {
    let a = Array2::from_elem((1, 1), f32::NAN);
    let out = Combine::median()
        .with_uncertainty()
        .run([InMemory::new(a.view()), InMemory::new(a.view())])
        .unwrap();
    assert!(out.std.unwrap()[[0, 0]].is_nan());
    assert_eq!(out.count.unwrap()[[0, 0]], 0);
}

/// Many frames (the median found by selection rather than by sorting), odd and even counts.
#[test]
fn many_frames() {
    for n in [70usize, 71] {
        #[allow(clippy::cast_precision_loss)]
        let frames: Vec<Array2<f32>> = (0..n)
            .map(|i| Array2::from_elem((1, 1), ((i * 37) % n) as f32 * 0.5 + (i % 3) as f32))
            .collect();
        let out = Combine::median()
            .with_uncertainty()
            .run(frames.iter().map(|f| InMemory::new(f.view())))
            .unwrap();
        let all = values(&frames, 0);
        #[allow(clippy::cast_precision_loss)]
        let expected = mad_std(&all) / (n as f64).sqrt();
        assert!(close(out.std.unwrap()[[0, 0]], expected), "{n}");
    }
}

/// Every count from 1 to 20, values with ties, against the direct MAD.
#[test]
fn small_counts_with_ties() {
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        #[allow(clippy::cast_precision_loss)]
        let v = ((state >> 40) % 9) as f32 * 0.75;
        v
    };
    for n in 1..=20usize {
        // 16 pixels, each with its own values.
        let frames: Vec<Array2<f32>> = (0..n)
            .map(|_| Array2::from_shape_fn((1, 16), |_| next()))
            .collect();
        let out = Combine::median()
            .with_uncertainty()
            .run(frames.iter().map(|f| InMemory::new(f.view())))
            .unwrap();
        for col in 0..16 {
            let all = values(&frames, col);
            #[allow(clippy::cast_precision_loss)]
            let expected = mad_std(&all) / (n as f64).sqrt();
            let got = f64::from(out.std.as_ref().unwrap()[[0, col]]);
            assert!(
                (got - expected).abs() <= 1e-6 * expected.max(1e-30),
                "n {n} col {col}: {got} {expected}"
            );
        }
    }
}
