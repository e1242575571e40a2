//! Vectors of `f32` lanes for the median networks: the portable `[f32; 8]` that LLVM
//! vectorizes as it can, and x86 AVX2 registers, whose explicit `vminps`/`vmaxps` keep the
//! rows of a network in registers (measured 1.5 times faster than the portable code
//! compiled for AVX2 on a median of 20 frames).
//!
//! Every vector computes the same operations with the same IEEE results: min and max as
//! x86 `minps`/`maxps` (`if a < b { a } else { b }`, the portable code is written so), and
//! the midpoint of two `f32` in `f64`.

use std::marker::PhantomData;

/// Proof that the CPU runs the instructions of the vector type `V`: vectors are made only
/// by [`Vector::load`], which takes one, so code generic over `V` stays sound.
pub(crate) struct Cpu<V>(PhantomData<V>);

impl<V> Clone for Cpu<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Cpu<V> {}

impl Cpu<Portable> {
    /// Portable vectors run everywhere.
    pub(crate) fn portable() -> Self {
        Cpu(PhantomData)
    }
}

/// Lanes of `f32` and the operations a median network needs.
pub(crate) trait Vector: Copy {
    /// Lanes of a vector: pixels processed together.
    const WIDTH: usize;
    /// Which lanes held a NaN among the vectors seen.
    type Nan: Copy;

    /// The first [`Vector::WIDTH`] values of `values`.
    ///
    /// # Panics
    ///
    /// If `values` is shorter.
    fn load(cpu: Cpu<Self>, values: &[f32]) -> Self;
    /// No NaN seen yet.
    fn no_nan(cpu: Cpu<Self>) -> Self::Nan;
    /// `nan` with the lanes where `self` is NaN.
    fn or_nan(self, nan: Self::Nan) -> Self::Nan;
    /// Whether any lane saw a NaN.
    fn any_nan(nan: Self::Nan) -> bool;
    /// Lane-wise `if self < other { self } else { other }`.
    fn min(self, other: Self) -> Self;
    /// Lane-wise `if self > other { self } else { other }`.
    fn max(self, other: Self) -> Self;
    /// Lane-wise `((self as f64 + other as f64) * 0.5) as f32`.
    fn midpoint(self, other: Self) -> Self;
    /// Stores the lanes to `out[..WIDTH]`.
    ///
    /// # Panics
    ///
    /// If `out` is shorter.
    fn store(self, out: &mut [f32]);
}

/// Eight lanes in a plain array, vectorized by LLVM for whatever the function is compiled.
pub(crate) type Portable = [f32; 8];

impl Vector for Portable {
    const WIDTH: usize = 8;
    type Nan = [u32; 8];

    #[inline(always)]
    fn load(_: Cpu<Self>, values: &[f32]) -> Self {
        let mut v = [0.0; 8];
        v.copy_from_slice(&values[..8]);
        v
    }

    #[inline(always)]
    fn no_nan(_: Cpu<Self>) -> [u32; 8] {
        [0; 8]
    }

    #[inline(always)]
    fn or_nan(self, nan: [u32; 8]) -> [u32; 8] {
        let mut out = nan;
        for l in 0..8 {
            out[l] |= u32::from(self[l].is_nan());
        }
        out
    }

    #[inline(always)]
    fn any_nan(nan: [u32; 8]) -> bool {
        nan.iter().any(|&x| x != 0)
    }

    #[inline(always)]
    fn min(self, other: Self) -> Self {
        let mut out = [0.0; 8];
        for l in 0..8 {
            out[l] = if self[l] < other[l] {
                self[l]
            } else {
                other[l]
            };
        }
        out
    }

    #[inline(always)]
    fn max(self, other: Self) -> Self {
        let mut out = [0.0; 8];
        for l in 0..8 {
            out[l] = if self[l] > other[l] {
                self[l]
            } else {
                other[l]
            };
        }
        out
    }

    #[inline(always)]
    fn midpoint(self, other: Self) -> Self {
        let mut out = [0.0; 8];
        for l in 0..8 {
            out[l] = midpoint(self[l], other[l]);
        }
        out
    }

    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        out[..8].copy_from_slice(&self);
    }
}

/// `(a + b) / 2` rounded once, as numpy's float64 median then a cast to `f32`.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn midpoint(a: f32, b: f32) -> f32 {
    ((f64::from(a) + f64::from(b)) * 0.5) as f32
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx2;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, _CMP_UNORD_Q, _mm256_add_pd, _mm256_castps256_ps128, _mm256_cmp_ps,
        _mm256_cvtpd_ps, _mm256_cvtps_pd, _mm256_extractf128_ps, _mm256_loadu_ps, _mm256_max_ps,
        _mm256_min_ps, _mm256_movemask_ps, _mm256_mul_pd, _mm256_or_ps, _mm256_set_m128,
        _mm256_set1_pd, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    use std::marker::PhantomData;

    use super::{Cpu, Vector};

    /// Eight lanes in an AVX2 register. A value exists only on a CPU with AVX2: it comes
    /// from [`Vector::load`] with a [`Cpu<Avx2>`], which only [`Cpu::avx2`] makes.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(__m256);

    impl Cpu<Avx2> {
        /// The proof, if the CPU has AVX2.
        pub(crate) fn avx2() -> Option<Self> {
            std::arch::is_x86_feature_detected!("avx2").then_some(Cpu(PhantomData))
        }
    }

    // Every `unsafe` block below calls AVX intrinsics, which need a CPU with AVX2: a
    // `Cpu<Avx2>` is made only by `Cpu::avx2` on such a CPU, and an `Avx2` only from one.
    impl Vector for Avx2 {
        const WIDTH: usize = 8;
        type Nan = Avx2;

        #[inline(always)]
        fn load(_: Cpu<Self>, values: &[f32]) -> Self {
            let values = &values[..8];
            // SAFETY: the `Cpu<Avx2>` argument proves AVX2; `values` holds the 8 floats read
            // (sliced above, which panics otherwise), and the load is unaligned.
            Avx2(unsafe { _mm256_loadu_ps(values.as_ptr()) })
        }

        #[inline(always)]
        fn no_nan(_: Cpu<Self>) -> Self {
            // SAFETY: the `Cpu<Avx2>` argument proves AVX2; registers only.
            Avx2(unsafe { _mm256_setzero_ps() })
        }

        #[inline(always)]
        fn or_nan(self, nan: Self) -> Self {
            // SAFETY: `self` exists, so the CPU has AVX2; registers only.
            Avx2(unsafe { _mm256_or_ps(nan.0, _mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0)) })
        }

        #[inline(always)]
        fn any_nan(nan: Self) -> bool {
            // SAFETY: `nan` is an `Avx2`, so the CPU has AVX2; registers only.
            unsafe { _mm256_movemask_ps(nan.0) != 0 }
        }

        #[inline(always)]
        fn min(self, other: Self) -> Self {
            // SAFETY: `self` exists, so the CPU has AVX2; registers only.
            Avx2(unsafe { _mm256_min_ps(self.0, other.0) })
        }

        #[inline(always)]
        fn max(self, other: Self) -> Self {
            // SAFETY: `self` exists, so the CPU has AVX2; registers only.
            Avx2(unsafe { _mm256_max_ps(self.0, other.0) })
        }

        #[inline(always)]
        fn midpoint(self, other: Self) -> Self {
            // SAFETY: `self` exists, so the CPU has AVX2; registers only.
            unsafe {
                let half = _mm256_set1_pd(0.5);
                let low = _mm256_add_pd(
                    _mm256_cvtps_pd(_mm256_castps256_ps128(self.0)),
                    _mm256_cvtps_pd(_mm256_castps256_ps128(other.0)),
                );
                let high = _mm256_add_pd(
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(self.0)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(other.0)),
                );
                Avx2(_mm256_set_m128(
                    _mm256_cvtpd_ps(_mm256_mul_pd(high, half)),
                    _mm256_cvtpd_ps(_mm256_mul_pd(low, half)),
                ))
            }
        }

        #[inline(always)]
        fn store(self, out: &mut [f32]) {
            let out = &mut out[..8];
            // SAFETY: `self` exists, so the CPU has AVX2; `out` holds the 8 floats written
            // (sliced above, which panics otherwise), and the store is unaligned.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), self.0) };
        }
    }
}
