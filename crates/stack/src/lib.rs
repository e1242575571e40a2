//! Streaming per-pixel combination of image stacks: master bias, dark and flat frames.
//!
//! A master frame is the per-pixel median (or mean, or sum) of `N` frames, often after
//! rejecting outliers and after subtracting or scaling each frame. `eloy-stack` computes it
//! without holding the `N` frames: it reads them in bands of rows into one buffer whose
//! size a [memory budget](Combine::memory_budget) sets (256 MiB by default), combines the
//! band on all cores, and hands the band of results on. Memory does not grow with `N`.
//!
//! Main types:
//!
//! - [`Combine`]: what to compute ([`Method`], [`Rejection`], optional count and standard
//!   deviation outputs, the budget); [`Combine::run`] returns a [`Stacked`] image,
//!   [`Combine::run_into`] streams the result into a [`BandSink`].
//! - [`BandSource`]: anything that yields row bands of one frame. [`InMemory`] wraps an
//!   `ndarray` view; [`eloy_fits::Reader`] is another, so a combine streams FITS files.
//! - [`Frame`]: a source plus the preprocessing applied while it streams: subtract a master
//!   bias, subtract a master dark times the exposure, scale by `1 / exposure`, normalize a
//!   flat by its own mean.
//!
//! NaN means "no value" throughout: it is skipped, as numpy's `nanmedian` and `nanmean`
//! do, and a pixel with no value left is NaN. Results are bit-identical for any thread
//! count and band height.
//!
//! # Example
//!
//! A master flat: each flat minus the master bias, divided by its own mean, then the
//! sigma-clipped mean of the stack.
//!
//! ```
//! use eloy_stack::{Combine, Frame, InMemory, NanPolicy, Rejection};
//! use ndarray::Array2;
//!
//! let bias = Array2::from_elem((64, 48), 100.0_f32);
//! let flats: Vec<Array2<f32>> = (0..9)
//!     .map(|i| Array2::from_shape_fn((64, 48), |(r, c)| 100.0 + (1000 * (i + 1) + r + c) as f32))
//!     .collect();
//! let frames = flats.iter().enumerate().map(|(i, flat)| {
//!     Frame::new(InMemory::new(flat.view()).named(format!("flat {i}")))
//!         .subtract(&bias)
//!         .normalize_by_mean(NanPolicy::Skip)
//! });
//! let master = Combine::mean()
//!     .rejection(Rejection::sigma_clip(3.0))
//!     .memory_budget(64 << 10)
//!     .with_count()
//!     .run(frames)?;
//! assert_eq!(master.image.dim(), (64, 48));
//! assert!((master.image.mean().unwrap() - 1.0).abs() < 1e-3);
//! # Ok::<(), eloy_stack::Error>(())
//! ```

mod batcher;
mod chain;
mod combine;
mod error;
mod fits;
mod frame;
mod kernel;
mod median_network;
mod median_network_table;
mod simd;
mod source;

pub use combine::{
    BandSink, Center, Combine, DEFAULT_MEMORY_BUDGET, Method, Rejection, Stacked, StackedBand,
};
pub use error::Error;
pub use frame::{Frame, Lines, NanPolicy, Normalization};
pub use source::{BandSource, InMemory};
