//! The per-pixel arithmetic of a [`Frame`](crate::Frame): one path for the inputs of a
//! master and for the light frames a recipe calibrates.
//!
//! Each value is taken to `f64`, goes through the operations in order, and is rounded to
//! `f32` once at the end (the one rounding of the pipeline), then the invalid-value rule
//! applies. Operations over a row run as whole-row passes on an `f64` scratch row, which
//! the compiler vectorizes; Python eloy's calibration `(x - (dark * t + bias)) / flat`
//! has a fused loop of its own, the hot path of a night, which divides by the flat in
//! `f32` (see [`calibrate_row`]).

use std::borrow::Cow;

use ndarray::ArrayView2;

/// An image operand (a master) flattened row-major, borrowed when it already is.
pub(crate) type Operand<'a> = Cow<'a, [f32]>;

pub(crate) fn flatten(view: ArrayView2<'_, f32>) -> Operand<'_> {
    match view.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(view.iter().copied().collect()),
    }
}

/// One operation of the chain, on the value `y` so far.
pub(crate) enum Op<'a> {
    /// `y - level` with `level = a_0 * k_0 + a_1 * k_1 + ...`, summed left to right in
    /// `f64` from the first term (Python eloy's `data - (dark * exposure + bias)`).
    Subtract(Vec<(Operand<'a>, f64)>),
    /// `y * factor`.
    Scale(f64),
    /// `y + value`.
    Add(f64),
    /// `y / a`.
    Divide(Operand<'a>),
    /// `y / a` where `a >= minimum`, NaN elsewhere.
    DivideAbove(Operand<'a>, f32),
}

/// The operations of a frame with its width, ready to run row by row.
pub(crate) struct Chain<'a> {
    pub(crate) ops: Vec<Op<'a>>,
    pub(crate) cols: usize,
    /// With an uncertainty to propagate: the noise of the raw values and the standard
    /// deviations of the operands, one entry per operation.
    pub(crate) uncertainty: Option<Uncertainty<'a>>,
}

/// The uncertainty a chain propagates (astropy's `StdDevUncertainty` arithmetic, errors
/// uncorrelated): the raw values' variance from the CCD equation, then each operation's.
pub(crate) struct Uncertainty<'a> {
    /// `(gain, read noise)`: electrons per ADU and electrons.
    pub(crate) noise: Option<(f64, f64)>,
    /// Per operation: the standard deviations of its operands (for a subtraction, one per
    /// term), `None` where an operand has none.
    pub(crate) stds: Vec<Vec<Option<Operand<'a>>>>,
}

/// A value per line subtracted first, before the operations (an overscan level): one
/// for the whole row, or one per column of the row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Offset<'r> {
    None,
    Value(f64),
    Values(&'r [f64]),
}

/// What follows the chain on each value: the division by the frame's mean (a flat
/// normalized by its mean), then the rounding to `f32`, then the invalid-value rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tail {
    pub(crate) divisor: Option<f64>,
    pub(crate) replace_invalid: Option<f32>,
}

impl Chain<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn span(&self, row: usize) -> std::ops::Range<usize> {
        row * self.cols..(row + 1) * self.cols
    }

    /// The chain's values of row `row` (of the frame, for the operands) from the raw values
    /// `x` less `offset`, in `f64`, into `y`.
    pub(crate) fn row_f64(&self, row: usize, x: &[f32], offset: Offset<'_>, y: &mut [f64]) {
        self.row_f64_without_ops(x, offset, y);
        let span = self.span(row);
        for op in &self.ops {
            match op {
                Op::Subtract(terms) => subtract_level(y, terms, span.clone()),
                Op::Scale(k) => y.iter_mut().for_each(|v| *v *= k),
                Op::Add(a) => y.iter_mut().for_each(|v| *v += a),
                Op::Divide(a) => y
                    .iter_mut()
                    .zip(&a[span.clone()])
                    .for_each(|(v, &a)| *v /= f64::from(a)),
                Op::DivideAbove(a, minimum) => {
                    y.iter_mut().zip(&a[span.clone()]).for_each(|(v, &a)| {
                        *v = if a >= *minimum {
                            *v / f64::from(a)
                        } else {
                            f64::NAN
                        };
                    });
                }
            }
        }
    }

    /// Sum, left to right, of the chain's values over one row, and how many values went
    /// in: the non-NaN ones if `skip_nan`, else all of them.
    pub(crate) fn row_sum(
        &self,
        row: usize,
        x: &[f32],
        offset: Offset<'_>,
        skip_nan: bool,
        y: &mut [f64],
    ) -> (f64, u64) {
        self.row_f64(row, x, offset, y);
        let mut sum = 0.0;
        let mut count = 0;
        for &v in y.iter() {
            if !(skip_nan && v.is_nan()) {
                sum += v;
                count += 1;
            }
        }
        (sum, count)
    }

    /// Row `row` of the frame, raw values in `x` less `offset`, through the chain and
    /// `tail`, in place.
    pub(crate) fn apply_row(
        &self,
        row: usize,
        x: &mut [f32],
        offset: Offset<'_>,
        tail: Tail,
        y: &mut Vec<f64>,
    ) {
        let plain = matches!(offset, Offset::None);
        if plain && tail.divisor.is_none() {
            if let Some(fused) = self.calibration(row) {
                calibrate_row(x, &fused, tail.replace_invalid);
                return;
            }
        }
        if plain && self.ops.is_empty() && tail.divisor.is_none() {
            if let Some(value) = tail.replace_invalid {
                x.iter_mut().for_each(|v| *v = replace(*v, value));
            }
            return;
        }
        y.resize(x.len(), 0.0);
        self.row_f64(row, x, offset, y);
        let divisor = tail.divisor.unwrap_or(1.0);
        let divide = tail.divisor.is_some();
        // The casts round the f64 result to the nearest f32, the one rounding.
        #[allow(clippy::cast_possible_truncation)]
        for (x, &v) in x.iter_mut().zip(y.iter()) {
            let v = if divide { v / divisor } else { v };
            *x = v as f32;
        }
        if let Some(value) = tail.replace_invalid {
            x.iter_mut().for_each(|v| *v = replace(*v, value));
        }
    }

    /// [`Chain::apply_row`] with the uncertainty: the standard deviation of each value goes
    /// to `std` (in the frame's units, after every operation).
    ///
    /// The raw variance is astropy ccdproc's `create_deviation`: `(g * y + r^2) / g^2`
    /// with `y` the value after the line offset (an overscan), NaN where `g * y < 0`; a
    /// subtraction adds `k^2 s^2` per term; a scaling by `k` multiplies by `k^2`; a division
    /// by `f` (with deviation `s`) gives `(v + q^2 s^2) / f^2`, `q` the quotient; the
    /// division by a frame's own statistic counts it as exact.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_row_with_std(
        &self,
        row: usize,
        x: &mut [f32],
        std: &mut [f32],
        offset: Offset<'_>,
        tail: Tail,
        y: &mut Vec<f64>,
        v: &mut Vec<f64>,
    ) {
        let n = x.len();
        y.resize(n, 0.0);
        v.resize(n, 0.0);
        self.row_f64_without_ops(x, offset, y);
        let span = self.span(row);
        let empty = Vec::new();
        let uncertainty = self.uncertainty.as_ref();
        match uncertainty.and_then(|u| u.noise) {
            Some((gain, read_noise)) => {
                for (v, &y) in v.iter_mut().zip(y.iter()) {
                    let electrons = gain * y;
                    *v = if electrons < 0.0 || electrons.is_nan() {
                        f64::NAN
                    } else {
                        (electrons + read_noise * read_noise) / (gain * gain)
                    };
                }
            }
            None => v.iter_mut().for_each(|v| *v = 0.0),
        }
        for (i, op) in self.ops.iter().enumerate() {
            let stds = uncertainty.and_then(|u| u.stds.get(i)).unwrap_or(&empty);
            let std_of = |t: usize| stds.get(t).and_then(Option::as_ref);
            match op {
                Op::Subtract(terms) => {
                    subtract_level(y, terms, span.clone());
                    for (t, (_, k)) in terms.iter().enumerate() {
                        if let Some(s) = std_of(t) {
                            for (v, &s) in v.iter_mut().zip(&s[span.clone()]) {
                                let s = f64::from(s) * k;
                                *v += s * s;
                            }
                        }
                    }
                }
                Op::Scale(k) => {
                    y.iter_mut().for_each(|y| *y *= k);
                    v.iter_mut().for_each(|v| *v *= k * k);
                }
                Op::Add(a) => y.iter_mut().for_each(|y| *y += a),
                Op::Divide(a) | Op::DivideAbove(a, _) => {
                    let minimum = match op {
                        Op::DivideAbove(_, m) => Some(*m),
                        _ => None,
                    };
                    let s = std_of(0).map(|s| &s[span.clone()]);
                    for (c, (y, v)) in y.iter_mut().zip(v.iter_mut()).enumerate() {
                        let f = f64::from(a[span.start + c]);
                        if minimum.is_some_and(|m| a[span.start + c] < m) {
                            *y = f64::NAN;
                            *v = f64::NAN;
                            continue;
                        }
                        *y /= f;
                        let sf = s.map_or(0.0, |s| f64::from(s[c]));
                        *v = (*v + *y * *y * sf * sf) / (f * f);
                    }
                }
            }
        }
        // The casts round the f64 results to the nearest f32.
        #[allow(clippy::cast_possible_truncation)]
        for (((x, s), &y), &v) in x.iter_mut().zip(std.iter_mut()).zip(y.iter()).zip(v.iter()) {
            let (y, v) = match tail.divisor {
                Some(m) => (y / m, v / (m * m)),
                None => (y, v),
            };
            *x = y as f32;
            *s = v.sqrt() as f32;
        }
        if let Some(value) = tail.replace_invalid {
            x.iter_mut().for_each(|v| *v = replace(*v, value));
        }
    }

    /// The raw values less `offset`, in `f64`, before the operations.
    fn row_f64_without_ops(&self, x: &[f32], offset: Offset<'_>, y: &mut [f64]) {
        match offset {
            Offset::None => y.iter_mut().zip(x).for_each(|(y, &x)| *y = f64::from(x)),
            Offset::Value(o) => y
                .iter_mut()
                .zip(x)
                .for_each(|(y, &x)| *y = f64::from(x) - o),
            Offset::Values(o) => y
                .iter_mut()
                .zip(x)
                .zip(o)
                .for_each(|((y, &x), &o)| *y = f64::from(x) - o),
        }
    }

    /// The operands of row `row` when the chain is Python eloy's calibration,
    /// `(x - (a * k + b)) / f` with any of its parts absent.
    fn calibration(&self, row: usize) -> Option<Fused<'_>> {
        let span = self.span(row);
        let mut fused = Fused::default();
        let mut ops = self.ops.iter().peekable();
        if let Some(Op::Subtract(terms)) = ops.peek() {
            match terms.as_slice() {
                [(a, k)] => fused.first = Some((&a[span.clone()], *k)),
                [(a, k), (b, one)] if *one == 1.0 => {
                    fused.first = Some((&a[span.clone()], *k));
                    fused.second = Some(&b[span.clone()]);
                }
                _ => return None,
            }
            ops.next();
        }
        if let Some(Op::Divide(f)) = ops.peek() {
            fused.divisor = Some(&f[span]);
            ops.next();
        }
        ops.next().is_none().then_some(fused)
    }
}

/// The rows of Python eloy's calibration: `(x - (first * k + second)) / divisor`.
#[derive(Default)]
struct Fused<'r> {
    first: Option<(&'r [f32], f64)>,
    second: Option<&'r [f32]>,
    divisor: Option<&'r [f32]>,
}

/// `y -= a_0 * k_0 + a_1 * k_1 + ...` over a row.
fn subtract_level(y: &mut [f64], terms: &[(Operand<'_>, f64)], span: std::ops::Range<usize>) {
    match terms {
        [] => {}
        [(a, k)] => y
            .iter_mut()
            .zip(&a[span])
            .for_each(|(v, &a)| *v -= f64::from(a) * k),
        // The same operations in the same order as the general case (`a*k0 + b*k1`, then
        // subtracted), without a row of levels: the usual bias-and-scaled-dark pair.
        [(a, k0), (b, k1)] => y
            .iter_mut()
            .zip(&a[span.clone()])
            .zip(&b[span])
            .for_each(|((v, &a), &b)| *v -= f64::from(a) * k0 + f64::from(b) * k1),
        [(a, k), rest @ ..] => {
            let mut level: Vec<f64> = a[span.clone()].iter().map(|&a| f64::from(a) * k).collect();
            for (b, k) in rest {
                level
                    .iter_mut()
                    .zip(&b[span.clone()])
                    .for_each(|(l, &b)| *l += f64::from(b) * k);
            }
            y.iter_mut().zip(&level).for_each(|(v, l)| *v -= l);
        }
    }
}

/// The invalid-value rule: values below 0, NaN and infinities become `value`. `-0.0` is
/// not below 0 and stays.
#[inline(always)]
pub(crate) fn replace(v: f32, value: f32) -> f32 {
    if v.is_nan() || v < 0.0 || v.is_infinite() {
        value
    } else {
        v
    }
}

/// Python eloy's calibration over one row, fused: compiled for AVX-512 and AVX2 too, and
/// run so when the CPU has them. Same results on every CPU: each operation is IEEE-rounded
/// whatever the vector width, and Rust never fuses the multiply and the add on its own.
///
/// The difference `x - (a * k + b)` is computed in `f64` and rounded to `f32`; a division
/// by the flat is then made in `f32` (issue 16: the `f64` division cost a third of the
/// lights' time, and an `f32` one is four times cheaper per value). The result is the
/// correctly rounded `f32` quotient of the rounded difference: within 2 units in the last
/// place of the `f64` formula rounded once (2.4e-7 relative, the parity requirement being
/// 1e-5), with the same sign, so the same pixels are valid or invalid; a difference is
/// rounded after the subtraction, so values near 0 keep their relative precision.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2"))]
fn calibrate_row(x: &mut [f32], fused: &Fused<'_>, replace_invalid: Option<f32>) {
    match replace_invalid {
        Some(value) => calibrate_with(x, fused, |v| replace(v, value)),
        None => calibrate_with(x, fused, |v| v),
    }
}

/// One loop per combination of present operands, so that each compiles to straight
/// vector code.
#[inline(always)]
fn calibrate_with(x: &mut [f32], fused: &Fused<'_>, rule: impl Fn(f32) -> f32) {
    // The casts round the f64 results to the nearest f32.
    #[allow(clippy::cast_possible_truncation)]
    let out = |v: f64| rule(v as f32);
    #[allow(clippy::cast_possible_truncation)]
    let divided = |v: f64, f: f32| rule(v as f32 / f);
    match (fused.first, fused.second, fused.divisor) {
        (Some((a, k)), Some(b), Some(f)) => {
            for (((x, &a), &b), &f) in x.iter_mut().zip(a).zip(b).zip(f) {
                *x = divided(f64::from(*x) - (f64::from(a) * k + f64::from(b)), f);
            }
        }
        (Some((a, k)), Some(b), None) => {
            for ((x, &a), &b) in x.iter_mut().zip(a).zip(b) {
                *x = out(f64::from(*x) - (f64::from(a) * k + f64::from(b)));
            }
        }
        (Some((a, k)), None, Some(f)) => {
            for ((x, &a), &f) in x.iter_mut().zip(a).zip(f) {
                *x = divided(f64::from(*x) - f64::from(a) * k, f);
            }
        }
        (Some((a, k)), None, None) => {
            for (x, &a) in x.iter_mut().zip(a) {
                *x = out(f64::from(*x) - f64::from(a) * k);
            }
        }
        (None, _, Some(f)) => {
            for (x, &f) in x.iter_mut().zip(f) {
                *x = rule(*x / f);
            }
        }
        (None, _, None) => {
            for x in x.iter_mut() {
                *x = out(f64::from(*x));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ops: Vec<Op<'static>>, cols: usize) -> Chain<'static> {
        Chain {
            ops,
            cols,
            uncertainty: None,
        }
    }

    fn owned(v: &[f32]) -> Operand<'static> {
        Cow::Owned(v.to_vec())
    }

    /// The fused loop divides the `f64` difference, rounded to `f32`, by the flat in `f32`:
    /// those bits exactly, within 2 ulp of the general passes (the `f64` formula rounded
    /// once), and the same pixels valid.
    #[test]
    fn fused_calibration_is_the_passes_within_two_ulp() {
        let x: Vec<f32> = vec![1000.0, 1234.5, -7.0, f32::NAN, 1e9, 0.0, 512.25, 99.0];
        let d = owned(&[0.5, 0.25, 1.0, 0.0, -3.0, 0.125, 7.5, 1e-3]);
        let b = owned(&[100.0, 101.0, 99.5, 100.0, 0.0, -0.0, 250.0, 98.0]);
        let f = owned(&[1.0, 0.98, 1.02, 0.0, 0.5, 1.5, f32::NAN, 0.99]);
        for replace_invalid in [None, Some(-1.0), Some(f32::NAN)] {
            let ops = vec![
                Op::Subtract(vec![(d.clone(), 37.5), (b.clone(), 1.0)]),
                Op::Divide(f.clone()),
            ];
            let c = chain(ops, 8);
            let tail = Tail {
                divisor: None,
                replace_invalid,
            };
            let mut fused = x.clone();
            let mut scratch = Vec::new();
            c.apply_row(0, &mut fused, Offset::None, tail, &mut scratch);
            let mut y = vec![0.0; 8];
            c.row_f64(0, &x, Offset::None, &mut y);
            for i in 0..8 {
                let difference = f64::from(x[i]) - (f64::from(d[i]) * 37.5 + f64::from(b[i]));
                #[allow(clippy::cast_possible_truncation)]
                let mut expected = difference as f32 / f[i];
                #[allow(clippy::cast_possible_truncation)]
                let passes = y[i] as f32;
                assert!(
                    (expected.is_nan() && passes.is_nan())
                        || (expected.is_sign_negative() == passes.is_sign_negative()
                            && (expected == passes
                                || (f64::from(expected) / f64::from(passes) - 1.0).abs()
                                    <= 2.0 * f64::from(f32::EPSILON))),
                    "{i}: {expected} vs {passes}"
                );
                if let Some(v) = replace_invalid {
                    expected = replace(expected, v);
                }
                assert!(
                    fused[i].to_bits() == expected.to_bits()
                        || (fused[i].is_nan() && expected.is_nan()),
                    "{i}: {} != {expected}",
                    fused[i]
                );
            }
        }
    }

    #[test]
    fn level_is_summed_left_to_right_from_the_first_term() {
        let c = chain(
            vec![Op::Subtract(vec![
                (owned(&[1e16]), 1.0),
                (owned(&[1.0]), 1.0),
                (owned(&[-1e16]), 1.0),
            ])],
            1,
        );
        let mut y = vec![0.0];
        c.row_f64(0, &[0.0], Offset::None, &mut y);
        // (1e16 + 1) rounds to 1e16 in f64, then - 1e16 = 0.
        assert_eq!(y[0], 0.0);
    }

    proptest::proptest! {
        /// On frames shaped like real ones (raw ADU, a dark rate times an exposure, a bias,
        /// a flat near 1), the fused `f32` division stays within 2 ulp of the `f64` formula
        /// and makes the same pixels invalid under eloy's rule.
        #[test]
        fn fused_division_stays_within_two_ulp(
            row in proptest::collection::vec(
                (0.0f32..65535.0, -1.0f32..50.0, 0.0f32..2000.0, 0.05f32..2.0),
                1..64,
            ),
            seconds in 0.001f64..3600.0,
        ) {
            let x: Vec<f32> = row.iter().map(|r| r.0).collect();
            let d = owned(&row.iter().map(|r| r.1).collect::<Vec<_>>());
            let b = owned(&row.iter().map(|r| r.2).collect::<Vec<_>>());
            let f = owned(&row.iter().map(|r| r.3).collect::<Vec<_>>());
            let c = chain(
                vec![
                    Op::Subtract(vec![(d.clone(), seconds), (b.clone(), 1.0)]),
                    Op::Divide(f.clone()),
                ],
                x.len(),
            );
            let mut fused = x.clone();
            let tail = Tail { divisor: None, replace_invalid: Some(-1.0) };
            c.apply_row(0, &mut fused, Offset::None, tail, &mut Vec::new());
            for i in 0..x.len() {
                let exact = (f64::from(x[i]) - (f64::from(d[i]) * seconds + f64::from(b[i])))
                    / f64::from(f[i]);
                #[allow(clippy::cast_possible_truncation)]
                let once = replace(exact as f32, -1.0);
                proptest::prop_assert_eq!(once == -1.0, fused[i] == -1.0);
                if once != -1.0 {
                    let ulps = (f64::from(fused[i]) - f64::from(once)).abs()
                        / (f64::from(once.abs()) * f64::from(f32::EPSILON)).max(f64::from(f32::MIN_POSITIVE));
                    proptest::prop_assert!(ulps <= 2.0, "{} vs {}: {} ulp", fused[i], once, ulps);
                }
            }
        }
    }
}
