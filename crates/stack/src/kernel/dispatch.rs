//! Which code runs a chunk: the loop for the kind of kernel, the sorter for the frame
//! count ([`with_sorter`]), and the vectors for the CPU.

use multiversion::multiversion;
use multiversion::target::match_target;

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

impl Job<'_, '_, '_> {
    /// The loop over the chunk's groups for the kind of kernel: one loop per kind, so that
    /// each compiles on its own. The median networks run on vectors `V`.
    #[inline(always)]
    fn run<S: Sorter, V: Vector>(self, sorter: &S, cpu: Cpu<V>) {
        let Job {
            kernel,
            input,
            stride,
            first,
            out,
            scratch,
        } = self;
        match (kernel.rejection, kernel.method) {
            (Rejection::None, Method::Mean | Method::Sum) => {
                kernel.for_groups(input, stride, first, out, scratch, PlainSums);
            }
            (Rejection::None, Method::Median) if kernel.network.is_some() => {
                let raw = Raw {
                    input,
                    stride,
                    base: first,
                    w: LANES,
                    n: kernel.n,
                };
                kernel.median_groups(&raw, out, scratch, sorter, cpu);
            }
            (Rejection::None, Method::Median) => {
                kernel.for_groups(input, stride, first, out, scratch, MedianSelect);
            }
            _ => kernel.for_groups(input, stride, first, out, scratch, Sorted(sorter)),
        }
    }
}

impl WithSorter for Job<'_, '_, '_> {
    /// Runs the job with `sorter` (see [`run_job`]).
    fn call<S: Sorter>(self, sorter: S) {
        run_job(self, &sorter);
    }
}

/// Runs `job` with `sorter`, one function per sorter, compiled for AVX2 too
/// (`multiversion`): on a CPU with AVX2 that version runs, the median networks on [`Avx2`]
/// vectors; elsewhere the portable one. Same operations, same results: Rust never fuses
/// multiply-adds on its own, and min/max are written as comparisons.
#[multiversion(targets("x86_64+avx2"))]
fn run_job<S: Sorter>(job: Job<'_, '_, '_>, sorter: &S) {
    match_target! {
        "x86_64+avx2" => {
            // The proof that the CPU has AVX2, which multiversion checked to get here.
            let cpu: Cpu<Avx2> = Cpu::avx2().expect("this version runs only on CPUs with AVX2");
            job.run(sorter, cpu);
        }
        _ => job.run(sorter, Cpu::portable()),
    }
}
