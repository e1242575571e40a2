//! Which code runs a chunk: the loop for the kind of kernel, the sorter for the frame
//! count ([`with_sorter`]), and the vectors for the CPU.

#[cfg(target_arch = "x86_64")]
use crate::simd::Avx2;
use crate::simd::{Cpu, Vector};
use crate::{Method, Rejection};

use super::sort::{Runtime, Sorter, WithSorter, with_sorter};
use super::{Kernel, LANES, MedianSelect, Out, PlainSums, Raw, Scratch, Sorted};

impl Kernel {
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
