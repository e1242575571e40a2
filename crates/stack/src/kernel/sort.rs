//! Sorting the lanes of a group: the sorting and median networks, unrolled or read at run
//! time, and the per-lane sorts and selections for many frames.

use crate::median_network::{Comparator, Keep, median_wires};
use crate::simd::{Cpu, Vector, midpoint};

use super::{Idx, LANES, Lanes, Raw};

/// Something to do with a [`Sorter`] chosen at run time by [`with_sorter`]: a generic
/// callback.
pub(super) trait WithSorter {
    fn call<S: Sorter>(self, sorter: S);
}

/// Sorts each lane (column) of a group's rows ascending, or finds its median.
pub(super) trait Sorter {
    /// Whether the networks are unrolled: [`Sorter::median_of_numbers`] works.
    const UNROLLED: bool;

    /// Sorts the lanes of `vals`; `column` is scratch of the same length.
    fn sort(&self, vals: &mut [Lanes], column: &mut [f32]);

    /// The median of each of the `V::WIDTH` pixels from `raw.base` if none of their values
    /// is NaN, by the unrolled median network on `V`; `None` if a value is NaN, or without
    /// an unrolled network.
    fn median_of_numbers<V: Vector>(&self, cpu: Cpu<V>, raw: &Raw<'_>) -> Option<V>;

    /// The median of each pixel of the group `raw` if none of its values is NaN (the
    /// padding of a short group is no value of it), by the median network on [`Portable`](crate::simd::Portable)
    /// lanes; `vals` is scratch of one row per frame. `None` if a value is NaN, or without
    /// a median network.
    fn median_of_lanes(&self, raw: &Raw<'_>, vals: &mut [Lanes]) -> Option<Lanes>;
}

/// The networks as lists of comparators read at run time. For more than
/// [`NETWORK_MAX`](super::NETWORK_MAX) frames there are none (`None`): a sort of each lane on
/// its own.
pub(super) struct Runtime<'p> {
    pub(super) pairs: Option<&'p [(u16, u16)]>,
    pub(super) median: Option<&'p [Comparator]>,
}

impl Sorter for Runtime<'_> {
    const UNROLLED: bool = false;

    #[inline(always)]
    fn sort(&self, vals: &mut [Lanes], column: &mut [f32]) {
        match self.pairs {
            Some(pairs) => sort_network(vals, pairs),
            None => sort_lanes(vals, column),
        }
    }

    #[inline(always)]
    fn median_of_numbers<V: Vector>(&self, _: Cpu<V>, _: &Raw<'_>) -> Option<V> {
        None
    }

    #[inline(always)]
    fn median_of_lanes(&self, raw: &Raw<'_>, vals: &mut [Lanes]) -> Option<Lanes> {
        let median = self.median?;
        if raw.load_numbers(vals) {
            return None;
        }
        for c in median {
            let (i, j) = (usize::from(c.i), usize::from(c.j));
            let (x, y) = (vals[i], vals[j]);
            match c.keep {
                Keep::Both => {
                    vals[i] = min_lanes(&x, &y);
                    vals[j] = max_lanes(&x, &y);
                }
                Keep::Min => vals[i] = min_lanes(&x, &y),
                Keep::Max => vals[j] = max_lanes(&x, &y),
            }
        }
        let (lo, hi) = median_wires(vals.len());
        Some(vals[lo].midpoint(vals[hi]))
    }
}

/// Defines the unit struct `$name`, a [`Sorter`] for `$n` rows that runs the comparators
/// listed as straight-line code on a local copy of the rows: the sorting network's `(i, j)`
/// pairs, and the pruned median network's `both(i, j)`, `min(i, j)` and `max(i, j)`
/// ([`Keep`]), which leaves the middle values on rows `$lo` and `$hi`.
macro_rules! unrolled_network {
    (
        $name:ident,
        $n:literal,
        [$(($i:literal, $j:literal)),* $(,)?],
        median($lo:literal, $hi:literal) [$($keep:ident($a:literal, $b:literal)),* $(,)?],
        rows [$($row:literal),* $(,)?]
    ) => {
        struct $name;

        impl Sorter for $name {
            const UNROLLED: bool = true;

            #[inline(always)]
            fn sort(&self, vals: &mut [Lanes], _: &mut [f32]) {
                let mut v = [[0.0; LANES]; $n];
                v.copy_from_slice(&vals[..$n]);
                $(
                    let (x, y) = (v[$i], v[$j]);
                    v[$i] = min_lanes(&x, &y);
                    v[$j] = max_lanes(&x, &y);
                )*
                vals[..$n].copy_from_slice(&v);
            }

            #[inline(always)]
            fn median_of_numbers<V: Vector>(&self, cpu: Cpu<V>, raw: &Raw<'_>) -> Option<V> {
                // Constant indices only, so that the rows stay in registers.
                let mut v = [$(V::load(cpu, raw.row($row, V::WIDTH))),*];
                let mut nan = V::no_nan(cpu);
                $(nan = v[$row].or_nan(nan);)*
                if V::any_nan(nan) {
                    return None;
                }
                $(compare!($keep, v, $a, $b);)*
                Some(v[$lo].midpoint(v[$hi]))
            }

            #[inline(always)]
            fn median_of_lanes(&self, raw: &Raw<'_>, _: &mut [Lanes]) -> Option<Lanes> {
                if raw.w < LANES {
                    return None;
                }
                self.median_of_numbers(Cpu::portable(), raw)
            }
        }
    };
}

/// One comparator of a pruned network on the [`Vector`] rows `$v`, computing what `$keep`
/// says.
macro_rules! compare {
    (both, $v:ident, $i:literal, $j:literal) => {
        let (x, y) = ($v[$i], $v[$j]);
        $v[$i] = x.min(y);
        $v[$j] = x.max(y);
    };
    (min, $v:ident, $i:literal, $j:literal) => {
        $v[$i] = $v[$i].min($v[$j]);
    };
    (max, $v:ident, $i:literal, $j:literal) => {
        $v[$j] = $v[$i].max($v[$j]);
    };
}

// `UNROLLED_MAX`, the largest frame count whose networks the build script unrolls into
// straight-line code (constant indices keep the rows in registers: measured 20% faster for
// a whole median of 16 frames), `unrolled_network!` for 2..=UNROLLED_MAX rows, and
// `fn with_sorter(n: usize, runtime: Runtime<'_>, job: impl WithSorter)`, which calls the
// job with the unrolled networks for `n` rows if there are, else with `runtime`.
// Written by build.rs from `batcher_pairs` and `median_comparators`.
include!(concat!(env!("OUT_DIR"), "/unrolled_networks.rs"));

/// Sorts each lane (column) of `vals` ascending with the comparators `pairs`.
#[inline(always)]
fn sort_network(vals: &mut [Lanes], pairs: &[(u16, u16)]) {
    for &(i, j) in pairs {
        let (i, j) = (usize::from(i), usize::from(j));
        let (x, y) = (vals[i], vals[j]);
        vals[i] = min_lanes(&x, &y);
        vals[j] = max_lanes(&x, &y);
    }
}

/// Lane-wise minimum, written as the comparison x86 `minps` computes, so that it compiles
/// to one instruction (the inputs hold no NaN).
#[inline(always)]
fn min_lanes(x: &Lanes, y: &Lanes) -> Lanes {
    Vector::min(*x, *y)
}

/// Lane-wise maximum, as x86 `maxps`.
#[inline(always)]
fn max_lanes(x: &Lanes, y: &Lanes) -> Lanes {
    Vector::max(*x, *y)
}

/// Sorts each lane of `vals` on its own: the fallback for many frames.
#[inline(always)]
fn sort_lanes(vals: &mut [Lanes], column: &mut [f32]) {
    for l in 0..LANES {
        for (c, row) in column.iter_mut().zip(vals.iter()) {
            *c = row[l];
        }
        column.sort_unstable_by(f32::total_cmp);
        for (c, row) in column.iter().zip(vals.iter_mut()) {
            row[l] = *c;
        }
    }
}

/// The median of each lane's `k` valid values by selection, for many frames.
#[inline(always)]
pub(super) fn select_median(vals: &mut [Lanes], column: &mut [f32], k: &Idx) -> Lanes {
    let mut out = [f32::NAN; LANES];
    for l in 0..LANES {
        let k = k[l] as usize;
        if k == 0 {
            continue;
        }
        for (c, row) in column.iter_mut().zip(vals.iter()) {
            *c = row[l];
        }
        let hi_at = k / 2;
        let (left, hi, _) = column.select_nth_unstable_by(hi_at, f32::total_cmp);
        let hi = *hi;
        let lo = if k % 2 == 0 {
            left.iter().copied().max_by(f32::total_cmp).unwrap_or(hi)
        } else {
            hi
        };
        out[l] = midpoint(lo, hi);
    }
    out
}

/// The median of the sorted range `s..e` of each lane; NaN for an empty range.
#[inline(always)]
pub(super) fn gather_median(vals: &[Lanes], s: &Idx, e: &Idx) -> Lanes {
    let mut out = [f32::NAN; LANES];
    for l in 0..LANES {
        if e[l] > s[l] {
            let lo = (s[l] + e[l] - 1) as usize / 2;
            let hi = (s[l] + e[l]) as usize / 2;
            out[l] = midpoint(vals[lo][l], vals[hi][l]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::batcher_pairs;
    use crate::median_network::median_comparators;

    #[test]
    fn unrolled_networks_sort() {
        /// Sorts with whatever sorter `with_sorter` picks, outside a kernel.
        fn sort(vals: &mut [Lanes]) {
            let n = vals.len();
            let pairs = batcher_pairs(n);
            struct Check<'v>(&'v mut [Lanes]);
            impl WithSorter for Check<'_> {
                fn call<S: Sorter>(self, sorter: S) {
                    let mut column = vec![0.0; self.0.len()];
                    sorter.sort(self.0, &mut column);
                }
            }
            let runtime = Runtime {
                pairs: Some(&pairs),
                median: None,
            };
            with_sorter(n, runtime, Check(vals));
        }
        let mut state = 0x1234_5678_9abc_def1_u64;
        for n in 0..=UNROLLED_MAX + 1 {
            let mut vals: Vec<Lanes> = (0..n)
                .map(|_| {
                    let mut row = [0.0; LANES];
                    for v in &mut row {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        *v = (state % 7) as f32;
                    }
                    row
                })
                .collect();
            sort(&mut vals);
            for l in 0..LANES {
                assert!(vals.windows(2).all(|w| w[0][l] <= w[1][l]), "n = {n}");
            }
        }
    }

    /// Runs the median networks that `with_sorter` picks for `n` rows (on [`Portable`](crate::simd::Portable)
    /// lanes, and on each vector type the CPU has), and their list read at run time, on a
    /// group of `n` rows.
    fn network_medians(rows: &[Lanes]) -> Vec<Option<Lanes>> {
        struct Median<'r>(&'r Raw<'r>, &'r mut Vec<Option<Lanes>>);
        impl WithSorter for Median<'_> {
            fn call<S: Sorter>(self, sorter: S) {
                let mut vals = vec![[0.0; LANES]; self.0.n];
                self.1.push(sorter.median_of_lanes(self.0, &mut vals));
                #[cfg(target_arch = "x86_64")]
                if let (true, Some(cpu)) = (S::UNROLLED, Cpu::avx2()) {
                    let median = sorter.median_of_numbers(cpu, self.0).map(|v| {
                        let mut out = [0.0; LANES];
                        v.store(&mut out);
                        out
                    });
                    self.1.push(median);
                }
            }
        }
        let n = rows.len();
        let input: Vec<f32> = rows.iter().flatten().copied().collect();
        let raw = Raw {
            input: &input,
            stride: LANES,
            base: 0,
            w: LANES,
            n,
        };
        let median = median_comparators(n);
        let mut medians = Vec::new();
        with_sorter(
            n,
            Runtime {
                pairs: None,
                median: Some(&median),
            },
            Median(&raw, &mut medians),
        );
        let listed = Runtime {
            pairs: None,
            median: Some(&median),
        };
        Median(&raw, &mut medians).call(listed);
        medians
    }

    #[test]
    fn median_networks_match_a_sort() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let specials = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
        ];
        for n in (1..=40).chain([63, 64, 100, 255, 256]) {
            for round in 0..40 {
                let mut rows = vec![[0.0_f32; LANES]; n];
                for v in rows.iter_mut().flatten() {
                    let r = next();
                    *v = match (round % 4, r % 16) {
                        // Many ties, a few special values.
                        (0 | 1, 0) => specials[(r >> 8) as usize % specials.len()],
                        (0, _) => (r >> 8) as f32 % 5.0,
                        _ => (r >> 40) as f32 * 1e-3 - 8e3,
                    };
                }
                let medians = network_medians(&rows);
                let first = medians[0].unwrap();
                for l in 0..LANES {
                    let mut column: Vec<f32> = rows.iter().map(|row| row[l]).collect();
                    column.sort_by(f32::total_cmp);
                    let want = midpoint(column[(n - 1) / 2], column[n / 2]);
                    // == and not bits: which of -0 and +0 a network leaves is its own.
                    assert!(first[l] == want, "n = {n}, lane {l}");
                    // Every way to run the network gives the same bits.
                    for median in &medians {
                        assert_eq!(first[l].to_bits(), median.unwrap()[l].to_bits(), "n = {n}");
                    }
                }
                // One NaN anywhere: no median from the networks.
                let f = next() as usize % n;
                rows[f][next() as usize % LANES] = f32::NAN;
                let medians = network_medians(&rows);
                assert!(medians.iter().all(Option::is_none), "n = {n}");
            }
        }
    }

    /// The 0-1 principle: a comparator network sorts every input if it sorts every input
    /// of zeros and ones.
    #[test]
    fn batcher_network_sorts_every_zero_one_input() {
        for n in 0..=18 {
            let pairs = batcher_pairs(n);
            for bits in 0u32..(1 << n) {
                let mut v: Vec<u32> = (0..n).map(|i| (bits >> i) & 1).collect();
                for &(i, j) in &pairs {
                    let (i, j) = (usize::from(i), usize::from(j));
                    if v[j] < v[i] {
                        v.swap(i, j);
                    }
                }
                assert!(v.is_sorted(), "n = {n}, input {bits:b}");
            }
        }
    }

    #[test]
    fn batcher_network_sorts_large_random_inputs() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for n in [19, 31, 32, 33, 47, 63, 64] {
            let pairs = batcher_pairs(n);
            for _ in 0..200 {
                let mut v: Vec<u64> = (0..n)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state % 10
                    })
                    .collect();
                for &(i, j) in &pairs {
                    let (i, j) = (usize::from(i), usize::from(j));
                    if v[j] < v[i] {
                        v.swap(i, j);
                    }
                }
                assert!(v.is_sorted());
            }
        }
    }

    #[test]
    fn network_sizes_are_batcher_sizes() {
        // (k^2 - k + 4) 2^(k-2) - 1 comparators for n = 2^k.
        assert_eq!(batcher_pairs(16).len(), 63);
        assert_eq!(batcher_pairs(64).len(), 543);
        assert!(batcher_pairs(1).is_empty());
    }
}
