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

use crate::batcher::batcher_pairs;
use crate::median_network::{Comparator, Keep, median_comparators, median_wires};
#[cfg(target_arch = "x86_64")]
use crate::simd::Avx2;
use crate::simd::{Cpu, Vector, midpoint};
use crate::{Center, Method, Rejection};

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

    /// Combines the pixels `first..first + out.image.len()` of the band in `input`, where
    /// frame `f`'s band starts at `f * stride`.
    pub(crate) fn run(
        &self,
        input: &[f32],
        stride: usize,
        first: usize,
        out: Out<'_>,
        scratch: &mut Scratch,
    ) {
        let job = Job {
            kernel: self,
            input,
            stride,
            first,
            out,
            scratch,
        };
        let sorts = !matches!(
            (self.rejection, self.method),
            (Rejection::None, Method::Mean | Method::Sum)
        ) && self.network.is_some();
        let runtime = Runtime {
            pairs: self.network.as_deref(),
            median: self.median_network.as_deref(),
        };
        if sorts {
            with_sorter(self.n, runtime, job);
        } else {
            // No sorting network involved: one instantiation for every frame count.
            job.call(runtime);
        }
    }

    /// The loop over the chunk's groups for the kind of kernel: one loop per kind, so that
    /// each compiles on its own. The median networks run on vectors `V`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run_generic<S: Sorter, V: Vector>(
        &self,
        input: &[f32],
        stride: usize,
        first: usize,
        out: Out<'_>,
        scratch: &mut Scratch,
        sorter: &S,
        cpu: Cpu<V>,
    ) {
        match (self.rejection, self.method) {
            (Rejection::None, Method::Mean | Method::Sum) => {
                self.for_groups(input, stride, first, out, scratch, PlainSums);
            }
            (Rejection::None, Method::Median) if self.network.is_some() => {
                let raw = Raw {
                    input,
                    stride,
                    base: first,
                    w: LANES,
                    n: self.n,
                };
                self.median_groups(&raw, out, scratch, sorter, cpu);
            }
            (Rejection::None, Method::Median) => {
                self.for_groups(input, stride, first, out, scratch, MedianSelect);
            }
            _ => self.for_groups(input, stride, first, out, scratch, Sorted(sorter)),
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

/// The work of [`Kernel::run`] on one chunk, waiting for its [`Sorter`].
struct Job<'k, 'a, 'o> {
    kernel: &'k Kernel,
    input: &'a [f32],
    stride: usize,
    first: usize,
    out: Out<'o>,
    scratch: &'a mut Scratch,
}

/// Something to do with a [`Sorter`] chosen at run time by [`with_sorter`]: a generic
/// callback.
trait WithSorter {
    fn call<S: Sorter>(self, sorter: S);
}

impl WithSorter for Job<'_, '_, '_> {
    /// Runs the job with `sorter`: compiled for AVX2, the median networks on AVX2 vectors,
    /// when the CPU has it.
    fn call<S: Sorter>(self, sorter: S) {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(cpu) = Cpu::avx2() {
                // SAFETY: the CPU supports AVX2 (a `Cpu<Avx2>` exists).
                unsafe { run_avx2(self, &sorter, cpu) };
                return;
            }
        }
        let Job {
            kernel,
            input,
            stride,
            first,
            out,
            scratch,
        } = self;
        let cpu = Cpu::portable();
        kernel.run_generic(input, stride, first, out, scratch, &sorter, cpu);
    }
}

/// [`Kernel::run_generic`] compiled for AVX2, one function per sorter, the median networks on
/// [`Avx2`] vectors. Same operations, same results: Rust never fuses multiply-adds on its
/// own, and min/max are written as comparisons.
///
/// # Safety
///
/// The CPU must support AVX2. (An `unsafe fn` rather than a safe `#[target_feature]` one,
/// which needs Rust 1.86.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<S: Sorter>(job: Job<'_, '_, '_>, sorter: &S, cpu: Cpu<Avx2>) {
    let Job {
        kernel,
        input,
        stride,
        first,
        out,
        scratch,
    } = job;
    kernel.run_generic(input, stride, first, out, scratch, sorter, cpu);
}

/// Sorts each lane (column) of a group's rows ascending, or finds its median.
trait Sorter {
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

/// The networks as lists of comparators read at run time. For more than [`NETWORK_MAX`]
/// frames there are none (`None`): a sort of each lane on its own.
struct Runtime<'p> {
    pairs: Option<&'p [(u16, u16)]>,
    median: Option<&'p [Comparator]>,
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
fn select_median(vals: &mut [Lanes], column: &mut [f32], k: &Idx) -> Lanes {
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
fn gather_median(vals: &[Lanes], s: &Idx, e: &Idx) -> Lanes {
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

/// The kept range after dropping the `low` lowest and `high` highest of `k` values.
#[inline(always)]
fn minmax_range(k: &Idx, low: usize, high: usize) -> (Idx, Idx) {
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
fn range_sum(vals: &[Lanes], s: &Idx, e: &Idx) -> Wide {
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
fn range_sq_dev(vals: &[Lanes], s: &Idx, e: &Idx, mean: &Wide) -> Wide {
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
fn sigma_range(
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
