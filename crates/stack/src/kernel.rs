//! The per-pixel kernels: everything that happens to the `N` values of one pixel.
//!
//! The band buffer is frame-major (each frame's band contiguous), so the kernels work on
//! groups of [`LANES`] adjacent pixels at once: row `f` of a group is `LANES` consecutive
//! values of frame `f`, one load. Every step then runs the same operation on all lanes, in
//! plain loops over `[f32; LANES]` that LLVM turns into SIMD instructions:
//!
//! - mean and sum without rejection: masked `f64` sums in frame order, no sorting;
//! - median without rejection of a group with no NaN (the usual case): a median selection
//!   network (`median_network.rs`) brings the two middle values of each column to two
//!   known rows, with about half the min/max operations of a sort;
//! - median and every rejection otherwise: NaN (and, for sigma clipping, ±inf) become
//!   `+inf`, the number of valid values `k` is counted per lane, and the group is sorted
//!   column-wise by a Batcher odd-even merge sorting network of branch-free min/max
//!   comparators. The valid values of a pixel are then the first `k` of its column, and
//!   the values kept by any rejection are a contiguous range `s..e` of it, so the median
//!   is a gather and the mean a masked sum over the range.
//!
//! Networks are unrolled at compile time for `N <= 32` and read from a list up to
//! `NETWORK_MAX`; above, each lane is sorted, or for a plain median selected, on its own.
//!
//! Every pixel goes through the same code whatever its position in the band (a short last
//! group is padded), so results do not depend on band height or thread count.
//!
//! This file holds the kernel, its loops over groups and the arithmetic on lanes;
//! `dispatch` picks the code that runs a chunk (loop, sorter, CPU), `sort` the sorting
//! and median networks, `reject` the ranges kept by min/max rejection and sigma clipping.

mod dispatch;
mod reject;
mod sort;

use crate::batcher::batcher_pairs;
use crate::median_network::{Comparator, median_comparators};
use crate::simd::{Cpu, Vector};
use crate::{Method, Rejection};

use reject::{minmax_range, range_sq_dev, range_sum, sigma_range};
use sort::{Sorter, gather_median, select_median};

/// Pixels processed together: 8 `f32` fill one AVX register.
pub(crate) const LANES: usize = 8;
/// Largest frame count sorted by the network; above, per-pixel selection and sorting.
/// Measured (one thread, median): the network is 2.6 times faster than selection at 100
/// frames, 2 times at 128, and about even at 256.
pub(crate) const NETWORK_MAX: usize = 256;
/// Pixels per parallel task.
pub(crate) const CHUNK: usize = 2048;

type Lanes = [f32; LANES];
type Wide = [f64; LANES];
type Idx = [u32; LANES];

/// The output slices of one task, all of the same length.
pub(crate) struct Out<'a> {
    pub(crate) image: &'a mut [f32],
    pub(crate) count: Option<&'a mut [u32]>,
    pub(crate) std: Option<&'a mut [f32]>,
}

/// Per-thread working memory, allocated once per task split, never per pixel.
pub(crate) struct Scratch {
    vals: Vec<Lanes>,
    column: Vec<f32>,
}

/// What to compute for every pixel of a combine of `n` frames.
pub(crate) struct Kernel {
    method: Method,
    rejection: Rejection,
    n: usize,
    std: bool,
    /// Comparators when the network sorts (`n <= NETWORK_MAX`).
    network: Option<Vec<(u16, u16)>>,
    /// The pruned median network, for a median without rejection (`n <= NETWORK_MAX`).
    median_network: Option<Vec<Comparator>>,
}
impl Kernel {
    pub(crate) fn new(method: Method, rejection: Rejection, n: usize, std: bool) -> Self {
        let network = (n <= NETWORK_MAX).then(|| batcher_pairs(n));
        let median_network =
            (n <= NETWORK_MAX && method == Method::Median && rejection == Rejection::None)
                .then(|| median_comparators(n));
        Self {
            method,
            rejection,
            n,
            std,
            network,
            median_network,
        }
    }

    /// Bytes of one [`Scratch`].
    pub(crate) fn scratch_bytes(n: usize) -> usize {
        n * size_of::<Lanes>() + n * size_of::<f32>()
    }

    pub(crate) fn scratch(&self) -> Scratch {
        Scratch {
            vals: vec![[0.0; LANES]; self.n],
            column: vec![0.0; self.n],
        }
    }

    /// Runs `group` on each group of `LANES` pixels (the last one maybe shorter) and stores
    /// its results.
    #[inline(always)]
    fn for_groups(
        &self,
        input: &[f32],
        stride: usize,
        first: usize,
        out: Out<'_>,
        scratch: &mut Scratch,
        group: impl Group,
    ) {
        let Out {
            image,
            mut count,
            mut std,
        } = out;
        let len = image.len();
        let mut g = 0;
        while g < len {
            let w = (len - g).min(LANES);
            let raw = Raw {
                input,
                stride,
                base: first + g,
                w,
                n: self.n,
            };
            let r = group.run(self, &raw, scratch);
            r.store(
                &mut image[g..g + w],
                count.as_deref_mut(),
                std.as_deref_mut(),
                g,
            );
            g += w;
        }
    }

    /// Median without rejection, for the pixels `raw.base..raw.base + out.image.len()`:
    /// each vector of `V::WIDTH` pixels with no NaN by the unrolled median network on `V`;
    /// the others (a NaN, too few pixels left, many frames, or the standard deviation
    /// asked for) by groups of `LANES` with [`Kernel::plain_median`].
    #[inline(always)]
    fn median_groups<S: Sorter, V: Vector>(
        &self,
        raw: &Raw<'_>,
        out: Out<'_>,
        scratch: &mut Scratch,
        sorter: &S,
        cpu: Cpu<V>,
    ) {
        let Out {
            image,
            mut count,
            mut std,
        } = out;
        // The frame count is far below u32::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let n = self.n as u32;
        let len = image.len();
        let mut g = 0;
        while g < len {
            let at = Raw {
                base: raw.base + g,
                ..*raw
            };
            let vector = S::UNROLLED && !self.std && len - g >= V::WIDTH;
            if vector {
                if let Some(value) = sorter.median_of_numbers(cpu, &at) {
                    value.store(&mut image[g..]);
                    if let Some(c) = count.as_deref_mut() {
                        c[g..g + V::WIDTH].fill(n);
                    }
                    g += V::WIDTH;
                    continue;
                }
            }
            // By groups: `LANES` pixels, or a vector that has a NaN.
            let end = if vector { g + V::WIDTH } else { len };
            while g < end {
                let w = (end - g).min(LANES);
                let group = Raw {
                    base: raw.base + g,
                    w,
                    ..*raw
                };
                // A vector of LANES has been tried already.
                let network = !(vector && V::WIDTH == LANES);
                let r = self.plain_median(&group, scratch, sorter, network);
                r.store(
                    &mut image[g..g + w],
                    count.as_deref_mut(),
                    std.as_deref_mut(),
                    g,
                );
                g += w;
            }
        }
    }

    /// Mean or sum without rejection: masked sums in frame order, no sorting.
    #[inline(always)]
    fn plain_sums(&self, raw: &Raw<'_>) -> GroupResult {
        let (sum, count) = raw.sums();
        let mean = divide(&sum, &count);
        let value = if self.method == Method::Mean {
            mean
        } else {
            nan_if_empty(&sum, &count)
        };
        GroupResult {
            value: to_f32(&value),
            count,
            std: self.std_raw(raw, &mean, &count),
        }
    }

    /// Median without rejection of a group by the networks: if `network` and no value of
    /// the group is NaN, the median network on [`Portable`](crate::simd::Portable) lanes; else the sort.
    #[inline(always)]
    fn plain_median<S: Sorter>(
        &self,
        raw: &Raw<'_>,
        scratch: &mut Scratch,
        sorter: &S,
        network: bool,
    ) -> GroupResult {
        let median = if network {
            sorter.median_of_lanes(raw, &mut scratch.vals)
        } else {
            None
        };
        if let Some(value) = median {
            // The frame count is far below u32::MAX.
            #[allow(clippy::cast_possible_truncation)]
            let count = [self.n as u32; LANES];
            return GroupResult {
                value,
                count,
                std: self.std_plain(raw),
            };
        }
        let k = raw.load_sortable(&mut scratch.vals, false);
        sorter.sort(&mut scratch.vals, &mut scratch.column);
        GroupResult {
            value: gather_median(&scratch.vals, &ZERO, &k),
            count: k,
            std: self.std_plain(raw),
        }
    }

    /// Median without rejection of many frames, by selection per pixel.
    #[inline(always)]
    fn plain_median_select(&self, raw: &Raw<'_>, scratch: &mut Scratch) -> GroupResult {
        let k = raw.load_sortable(&mut scratch.vals, false);
        GroupResult {
            value: select_median(&mut scratch.vals, &mut scratch.column, &k),
            count: k,
            std: self.std_plain(raw),
        }
    }

    /// Any rejection: sort, find the kept range, combine it.
    #[inline(always)]
    fn sorted<S: Sorter>(&self, raw: &Raw<'_>, scratch: &mut Scratch, sorter: &S) -> GroupResult {
        let finite = matches!(self.rejection, Rejection::SigmaClip { .. });
        let k = raw.load_sortable(&mut scratch.vals, finite);
        sorter.sort(&mut scratch.vals, &mut scratch.column);
        let vals = &scratch.vals[..];
        let (s, e, known_sum) = match self.rejection {
            Rejection::None => (ZERO, k, None),
            Rejection::MinMax { low, high } => {
                let (s, e) = minmax_range(&k, low, high);
                (s, e, None)
            }
            Rejection::SigmaClip {
                low,
                high,
                max_iters,
                center,
            } => sigma_range(vals, &k, low, high, max_iters, center),
        };
        let count = sub_idx(&e, &s);
        let need_sum = self.method != Method::Median || self.std;
        let (sum, mean) = if need_sum {
            let sum = known_sum.unwrap_or_else(|| range_sum(vals, &s, &e));
            (sum, divide(&sum, &count))
        } else {
            ([0.0; LANES], [0.0; LANES])
        };
        let value = match self.method {
            Method::Median => gather_median(vals, &s, &e),
            Method::Mean => to_f32(&mean),
            Method::Sum => to_f32(&nan_if_empty(&sum, &count)),
        };
        let std = if self.std {
            to_f32(&std_from(&range_sq_dev(vals, &s, &e, &mean), &count))
        } else {
            [f32::NAN; LANES]
        };
        GroupResult { value, count, std }
    }

    /// The standard deviation of the non-NaN values, if asked for.
    #[inline(always)]
    fn std_plain(&self, raw: &Raw<'_>) -> Lanes {
        if self.std {
            let (sum, count) = raw.sums();
            self.std_raw(raw, &divide(&sum, &count), &count)
        } else {
            [f32::NAN; LANES]
        }
    }

    #[inline(always)]
    fn std_raw(&self, raw: &Raw<'_>, mean: &Wide, count: &Idx) -> Lanes {
        if self.std {
            to_f32(&std_from(&raw.sq_dev(mean), count))
        } else {
            [f32::NAN; LANES]
        }
    }
}

/// What a kernel computes for one group of pixels. A trait of `#[inline(always)]`
/// methods rather than a closure: a closure is a function of its own that LLVM may leave
/// out of line, and then it runs compiled without AVX2 (measured: the whole median kernel
/// of 20 frames ran as SSE2 code).
trait Group {
    fn run(&self, kernel: &Kernel, raw: &Raw<'_>, scratch: &mut Scratch) -> GroupResult;
}

/// [`Kernel::plain_sums`].
struct PlainSums;

impl Group for PlainSums {
    #[inline(always)]
    fn run(&self, kernel: &Kernel, raw: &Raw<'_>, _: &mut Scratch) -> GroupResult {
        kernel.plain_sums(raw)
    }
}

/// [`Kernel::plain_median_select`].
struct MedianSelect;

impl Group for MedianSelect {
    #[inline(always)]
    fn run(&self, kernel: &Kernel, raw: &Raw<'_>, scratch: &mut Scratch) -> GroupResult {
        kernel.plain_median_select(raw, scratch)
    }
}

/// [`Kernel::sorted`].
struct Sorted<'s, S>(&'s S);

impl<S: Sorter> Group for Sorted<'_, S> {
    #[inline(always)]
    fn run(&self, kernel: &Kernel, raw: &Raw<'_>, scratch: &mut Scratch) -> GroupResult {
        kernel.sorted(raw, scratch, self.0)
    }
}

const ZERO: Idx = [0; LANES];

/// Copies the first `out.len()` lanes of `lanes` to `out`: one store for a whole group,
/// where a copy of variable length would be a call to `memcpy` per group.
#[inline(always)]
fn store<T: Copy>(out: &mut [T], lanes: &[T; LANES]) {
    if out.len() == LANES {
        out.copy_from_slice(lanes);
    } else {
        out.copy_from_slice(&lanes[..out.len()]);
    }
}

struct GroupResult {
    value: Lanes,
    count: Idx,
    std: Lanes,
}

impl GroupResult {
    /// Stores the group's pixels: its values into `image` (the group's own slice), its
    /// counts and standard deviations, when asked for, at `g..g + image.len()` of theirs.
    #[inline(always)]
    fn store(
        &self,
        image: &mut [f32],
        count: Option<&mut [u32]>,
        std: Option<&mut [f32]>,
        g: usize,
    ) {
        let w = image.len();
        store(image, &self.value);
        if let Some(c) = count {
            store(&mut c[g..g + w], &self.count);
        }
        if let Some(s) = std {
            store(&mut s[g..g + w], &self.std);
        }
    }
}

/// The raw values of a group of `w` pixels in the band buffer.
struct Raw<'a> {
    input: &'a [f32],
    stride: usize,
    base: usize,
    w: usize,
    n: usize,
}

impl Raw<'_> {
    /// Frame `f`'s values, padded with `pad` past `w`.
    #[inline(always)]
    fn load(&self, f: usize, pad: f32) -> Lanes {
        let start = f * self.stride + self.base;
        if self.w == LANES {
            let mut v = [0.0; LANES];
            v.copy_from_slice(&self.input[start..start + LANES]);
            v
        } else {
            let mut v = [pad; LANES];
            v[..self.w].copy_from_slice(&self.input[start..start + self.w]);
            v
        }
    }

    /// Sum (frame order, `f64`) and count of the non-NaN values of each pixel.
    #[inline(always)]
    fn sums(&self) -> (Wide, Idx) {
        let mut sum = [0.0; LANES];
        let mut count = [0; LANES];
        for f in 0..self.n {
            let v = self.load(f, f32::NAN);
            for l in 0..LANES {
                let ok = !v[l].is_nan();
                sum[l] += if ok { f64::from(v[l]) } else { 0.0 };
                count[l] += u32::from(ok);
            }
        }
        (sum, count)
    }

    /// Sum of squared deviations from `mean` of the non-NaN values of each pixel.
    #[inline(always)]
    fn sq_dev(&self, mean: &Wide) -> Wide {
        let mut acc = [0.0; LANES];
        for f in 0..self.n {
            let v = self.load(f, f32::NAN);
            for l in 0..LANES {
                let d = f64::from(v[l]) - mean[l];
                acc[l] += if v[l].is_nan() { 0.0 } else { d * d };
            }
        }
        acc
    }

    /// `width` values of frame `f` from the group's first pixel, whatever `w`: a row of a
    /// vector.
    #[inline(always)]
    fn row(&self, f: usize, width: usize) -> &[f32] {
        let start = f * self.stride + self.base;
        &self.input[start..start + width]
    }

    /// Copies the group into `vals` (short groups padded with `+inf`); true if a value is
    /// NaN.
    #[inline(always)]
    fn load_numbers(&self, vals: &mut [Lanes]) -> bool {
        let mut nan = [0_u32; LANES];
        for (f, row) in vals.iter_mut().enumerate() {
            *row = self.load(f, f32::INFINITY);
            for l in 0..LANES {
                nan[l] |= u32::from(row[l].is_nan());
            }
        }
        nan.iter().any(|&x| x != 0)
    }

    /// Copies the group into `vals` with NaN (or, if `finite`, every non-finite value)
    /// replaced by `+inf`, and counts the other values per pixel.
    #[inline(always)]
    fn load_sortable(&self, vals: &mut [Lanes], finite: bool) -> Idx {
        // Integer tests on the bits, branch-free, so that the loop vectorizes: with the
        // sign cleared, infinity is `INF_BITS` and NaN is above it.
        const INF_BITS: u32 = 0x7f80_0000;
        let limit = if finite { INF_BITS } else { INF_BITS + 1 };
        let mut k = [0; LANES];
        for (f, row) in vals.iter_mut().enumerate() {
            let v = self.load(f, f32::INFINITY);
            for l in 0..LANES {
                let bits = v[l].to_bits();
                let ok = u32::from((bits & 0x7fff_ffff) < limit);
                let keep = 0u32.wrapping_sub(ok);
                row[l] = f32::from_bits((bits & keep) | (INF_BITS & !keep));
                k[l] += ok;
            }
        }
        k
    }
}

#[inline(always)]
fn sub_idx(e: &Idx, s: &Idx) -> Idx {
    let mut out = ZERO;
    for l in 0..LANES {
        out[l] = e[l].saturating_sub(s[l]);
    }
    out
}

/// `sum / count`: NaN where the count is 0, since the sum of nothing is 0.
#[inline(always)]
fn divide(sum: &Wide, count: &Idx) -> Wide {
    let mut out = [0.0; LANES];
    for l in 0..LANES {
        // Counts are at most the frame count, far below i32::MAX; i32 converts to f64 in
        // one AVX2 instruction, u32 does not.
        #[allow(clippy::cast_possible_wrap)]
        let c = count[l] as i32;
        out[l] = sum[l] / f64::from(c);
    }
    out
}

/// The sum itself, NaN where nothing was summed.
#[inline(always)]
fn nan_if_empty(sum: &Wide, count: &Idx) -> Wide {
    let mut out = *sum;
    for l in 0..LANES {
        if count[l] == 0 {
            out[l] = f64::NAN;
        }
    }
    out
}

/// Population standard deviation from the sum of squared deviations.
#[inline(always)]
fn std_from(sq_dev: &Wide, count: &Idx) -> Wide {
    let mut out = divide(sq_dev, count);
    for v in &mut out {
        *v = v.sqrt();
    }
    out
}

#[inline(always)]
#[allow(clippy::cast_possible_truncation)]
fn to_f32(v: &Wide) -> Lanes {
    let mut out = [0.0; LANES];
    for l in 0..LANES {
        out[l] = v[l] as f32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Center;

    fn one_pixel(method: Method, rejection: Rejection, values: &[f32]) -> (f32, u32, f32) {
        let n = values.len();
        let kernel = Kernel::new(method, rejection, n, true);
        let mut scratch = kernel.scratch();
        let (mut image, mut count, mut std) = ([0.0], [0], [0.0]);
        kernel.run(
            values,
            1,
            0,
            Out {
                image: &mut image,
                count: Some(&mut count),
                std: Some(&mut std),
            },
            &mut scratch,
        );
        (image[0], count[0], std[0])
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle_values() {
        assert_eq!(
            one_pixel(Method::Median, Rejection::None, &[4.0, 1.0, 3.0, 2.0]).0,
            2.5
        );
        let many: Vec<f32> = (0..100u16).rev().map(f32::from).collect();
        assert_eq!(one_pixel(Method::Median, Rejection::None, &many).0, 49.5);
    }

    #[test]
    fn nan_is_skipped_and_all_nan_is_nan() {
        let nan = f32::NAN;
        assert_eq!(
            one_pixel(Method::Median, Rejection::None, &[nan, 1.0, 5.0]),
            (3.0, 2, 2.0)
        );
        assert_eq!(
            one_pixel(Method::Mean, Rejection::None, &[nan, 1.0, 5.0]),
            (3.0, 2, 2.0)
        );
        let (v, c, s) = one_pixel(Method::Median, Rejection::None, &[nan, nan]);
        assert!(v.is_nan() && c == 0 && s.is_nan());
        let (v, c, _) = one_pixel(Method::Sum, Rejection::None, &[nan, nan]);
        assert!(v.is_nan() && c == 0);
    }

    #[test]
    fn sigma_clip_keeps_a_constant_pixel() {
        let clip = Rejection::SigmaClip {
            low: 3.0,
            high: 3.0,
            max_iters: 5,
            center: Center::Median,
        };
        assert_eq!(one_pixel(Method::Mean, clip, &[7.0; 5]), (7.0, 5, 0.0));
    }

    #[test]
    fn sigma_clip_rejects_an_outlier() {
        let clip = Rejection::SigmaClip {
            low: 2.0,
            high: 2.0,
            max_iters: 5,
            center: Center::Median,
        };
        let mut v = vec![1.0_f32; 9];
        v.push(1000.0);
        assert_eq!(one_pixel(Method::Mean, clip, &v), (1.0, 9, 0.0));
    }

    #[test]
    fn minmax_drops_extremes() {
        let r = Rejection::MinMax { low: 1, high: 2 };
        assert_eq!(
            one_pixel(Method::Mean, r, &[9.0, 1.0, 5.0, 3.0, 8.0]).0,
            4.0
        );
        assert!(
            one_pixel(Method::Mean, r, &[f32::NAN, 1.0, 5.0, 3.0])
                .0
                .is_nan()
        );
    }
}
