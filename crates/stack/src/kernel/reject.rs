//! Rejection: the range of each lane's sorted values that min/max rejection or sigma
//! clipping keeps, and sums over such ranges.

use crate::Center;

use super::{Idx, LANES, Lanes, Wide, ZERO, divide, std_from, sub_idx};

/// The kept range after dropping the `low` lowest and `high` highest of `k` values.
#[inline(always)]
pub(super) fn minmax_range(k: &Idx, low: usize, high: usize) -> (Idx, Idx) {
    let mut s = ZERO;
    let mut e = ZERO;
    for l in 0..LANES {
        let k = k[l] as usize;
        if k > low + high {
            // Both below k, which is a u32.
            #[allow(clippy::cast_possible_truncation)]
            {
                s[l] = low as u32;
                e[l] = (k - high) as u32;
            }
        }
    }
    (s, e)
}

/// Sum, in `f64`, of the range `s..e` of each lane.
#[inline(always)]
pub(super) fn range_sum(vals: &[Lanes], s: &Idx, e: &Idx) -> Wide {
    let mut acc = [0.0; LANES];
    for (f, row) in (0u32..).zip(vals) {
        let x = mask_range(row, f, s, e);
        for l in 0..LANES {
            acc[l] += f64::from(x[l]);
        }
    }
    acc
}

/// Sum of squared deviations from `mean` over the range `s..e` of each lane.
#[inline(always)]
pub(super) fn range_sq_dev(vals: &[Lanes], s: &Idx, e: &Idx, mean: &Wide) -> Wide {
    let mut acc = [0.0; LANES];
    for (f, row) in (0u32..).zip(vals) {
        let inside = in_range(f, s, e);
        for l in 0..LANES {
            let d = f64::from(row[l]) - mean[l];
            let sq = d * d;
            acc[l] += if inside[l] != 0 { sq } else { 0.0 };
        }
    }
    acc
}

/// `u32::MAX` in the lanes where row `f` is in the range `s..e`, else 0.
#[inline(always)]
fn in_range(f: u32, s: &Idx, e: &Idx) -> Idx {
    let mut out = ZERO;
    for l in 0..LANES {
        // One unsigned comparison: f - s wraps above e - s when f < s.
        out[l] = if f.wrapping_sub(s[l]) < e[l].wrapping_sub(s[l]) {
            u32::MAX
        } else {
            0
        };
    }
    out
}

/// Row `f` with the lanes outside the range `s..e` set to 0.
#[inline(always)]
fn mask_range(row: &Lanes, f: u32, s: &Idx, e: &Idx) -> Lanes {
    let inside = in_range(f, s, e);
    let mut out = [0.0; LANES];
    for l in 0..LANES {
        out[l] = f32::from_bits(row[l].to_bits() & inside[l]);
    }
    out
}

/// Sigma clipping as astropy's `sigma_clip(axis=...)` (its C `_fast_sigma_clip`) does it,
/// on the sorted valid values `0..k` of each lane; returns the kept range.
///
/// Each round computes, over the surviving values, the centre (median or mean) and the
/// population standard deviation about the mean, and keeps the survivors `v` with
/// `centre - low * std <= v <= centre + high * std`. It stops when a round keeps every
/// survivor or after `max_iters` rounds that rejected something. Survivors of sorted
/// values stay a contiguous range. As astropy does, the values kept in the end are all
/// valid values within the last bounds, which may bring back a value rejected in an
/// earlier round: that is the range each round counts, over all valid values.
#[inline(always)]
pub(super) fn sigma_range(
    vals: &[Lanes],
    k: &Idx,
    low: f64,
    high: f64,
    max_iters: u32,
    center: Center,
) -> (Idx, Idx, Option<Wide>) {
    if max_iters == 0 {
        return (ZERO, *k, None);
    }
    let mut s = ZERO;
    let mut e = *k;
    // The range within the last bounds, over all valid values; empty without bounds.
    let mut kept_s = ZERO;
    let mut kept_e = ZERO;
    // The last range summed, and its sum, to spare the final sum when it is the kept one.
    let mut summed = (ZERO, ZERO, [0.0; LANES]);
    // u32 masks rather than bools: they vectorize.
    let mut active = ZERO;
    for l in 0..LANES {
        active[l] = u32::from(k[l] > 0);
    }
    let mut round = 0;
    while round < max_iters && active.iter().any(|&a| a != 0) {
        let count = sub_idx(&e, &s);
        let sum = range_sum(vals, &s, &e);
        summed = (s, e, sum);
        let mean = divide(&sum, &count);
        let std = std_from(&range_sq_dev(vals, &s, &e, &mean), &count);
        let centre = match center {
            Center::Mean => mean,
            Center::Median => gather_median_wide(vals, &s, &e),
        };
        let mut lower = [0.0; LANES];
        let mut upper = [0.0; LANES];
        for l in 0..LANES {
            lower[l] = centre[l] - low * std[l];
            upper[l] = centre[l] + high * std[l];
        }
        let (below, within) = count_bounds(vals, k, &lower, &upper);
        for l in 0..LANES {
            let on = active[l] != 0;
            kept_s[l] = if on { below[l] } else { kept_s[l] };
            kept_e[l] = if on { within[l] } else { kept_e[l] };
            let ns = s[l].max(below[l]);
            let ne = e[l].min(within[l]).max(ns);
            // Nothing rejected (an empty range has NaN bounds and rejects nothing).
            let done = (e[l] <= s[l]) | ((ns == s[l]) & (ne == e[l]));
            let go_on = on & !done;
            active[l] = u32::from(go_on);
            s[l] = if go_on { ns } else { s[l] };
            e[l] = if go_on { ne } else { e[l] };
        }
        round += 1;
    }
    let (ss, se, sum) = summed;
    let same = (0..LANES).all(|l| (ss[l] == kept_s[l]) & (se[l] == kept_e[l]));
    (kept_s, kept_e, same.then_some(sum))
}

/// The median of the range `s..e` of each lane as astropy's C code computes it: the mean of
/// the two middle values in `f64`, not rounded to `f32`.
#[inline(always)]
fn gather_median_wide(vals: &[Lanes], s: &Idx, e: &Idx) -> Wide {
    let mut out = [f64::NAN; LANES];
    for l in 0..LANES {
        if e[l] > s[l] {
            let lo = (s[l] + e[l] - 1) as usize / 2;
            let hi = (s[l] + e[l]) as usize / 2;
            out[l] = 0.5 * (f64::from(vals[lo][l]) + f64::from(vals[hi][l]));
        }
    }
    out
}

/// For each lane, how many of the sorted valid values `0..k` are below `lower` and how
/// many are at most `upper`: the range of values within the bounds. NaN bounds give an
/// empty range.
///
/// The values are sorted, so the counts come from scanning up from the lowest value and
/// down from the highest, stopping when every lane is inside its bounds: usually a row or
/// two from each end instead of all `N`.
#[inline(always)]
fn count_bounds(vals: &[Lanes], k: &Idx, lower: &Wide, upper: &Wide) -> (Idx, Idx) {
    let mut below = ZERO;
    let mut above = ZERO;
    let mut done_low = ZERO;
    let mut done_high = ZERO;
    for l in 0..LANES {
        let nan = u32::from(lower[l].is_nan() | upper[l].is_nan());
        done_low[l] = nan;
        done_high[l] = nan;
    }
    for (f, row) in (0u32..).zip(vals) {
        for l in 0..LANES {
            let stop = u32::from((f >= k[l]) | (f64::from(row[l]) >= lower[l]));
            done_low[l] |= stop;
            below[l] += 1 - done_low[l];
        }
        if done_low.iter().all(|&d| d != 0) {
            break;
        }
    }
    for (f, row) in vals.iter().enumerate().rev() {
        for l in 0..LANES {
            let valid = f < k[l] as usize;
            let out = u32::from(valid & (f64::from(row[l]) > upper[l]));
            done_high[l] |= u32::from(valid) & (1 - out);
            above[l] += out & (1 - done_high[l]);
        }
        if done_high.iter().all(|&d| d != 0) {
            break;
        }
    }
    let mut within = ZERO;
    for l in 0..LANES {
        let nan = lower[l].is_nan() | upper[l].is_nan();
        within[l] = if nan {
            0
        } else {
            (k[l] - above[l]).max(below[l])
        };
    }
    (below, within)
}
