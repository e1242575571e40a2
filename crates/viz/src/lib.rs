//! Looking at astronomical frames: zscale limits identical to astropy's, and grayscale PNG
//! pictures of frames and of figures of several frames, without Python.
//!
//! Pixels are `f32` in an [`ndarray::ArrayView2`] of shape `(rows, cols)` =
//! `(NAXIS2, NAXIS1)`; row 0 is the first row of the FITS file, drawn at the bottom as
//! matplotlib does with `origin="lower"`.
//!
//! - [`zscale_limits`] computes the display limits ([`Limits`]) of astropy's
//!   `ZScaleInterval` with the parameters of [`ZScale`] (astropy's defaults), from
//!   astropy's sampling or IRAF's ([`Sampling`]); [`Limits::rescale`] maps an image to
//!   `[0, 1]`, and [`z_scale`] does both as eloy's `viz.z_scale(data, 0.05)`.
//! - [`render`] draws a frame as an 8-bit grayscale [`Picture`] through zscale, with the
//!   options of [`Render`] (maximum width with area-averaging downsampling, transpose);
//!   [`Figure`] puts several frames side by side under titles.
//!   [`Picture::to_png`] and [`Picture::save_png`] encode it.
//!
//! Everything that depends on the data returns [`Error`]; nothing panics on data or prints.
//!
//! # Examples
//!
//! ```
//! use eloy_viz::{Figure, Overwrite, Render, ZScale, render, zscale_limits};
//! use ndarray::Array2;
//!
//! // A sky of about 100 ADU with a star and a bad (NaN) pixel.
//! let mut science = Array2::from_shape_fn((120, 160), |(r, c)| 100.0 + ((r * 13 + c * 7) % 10) as f32);
//! science[[60, 80]] = 50_000.0;
//! science[[0, 0]] = f32::NAN;
//!
//! // astropy: ZScaleInterval(contrast=0.05).get_limits(science)
//! let limits = zscale_limits(science.view(), &ZScale { contrast: 0.05, ..ZScale::default() })?;
//! assert!(limits.vmin >= 100.0 && limits.vmax < 1000.0);
//!
//! // One frame, then a figure of two, as PNG files.
//! let dir = tempfile::tempdir().unwrap();
//! let picture = render(science.view(), &Render::default())?;
//! picture.save_png(dir.path().join("science.png"), Overwrite::Never)?;
//!
//! let calibrated = science.mapv(|v| v - 100.0);
//! Figure::new()
//!     .panel("raw", science.view())
//!     .panel("calibrated", calibrated.view())
//!     .render()?
//!     .save_png(dir.path().join("raw_calibrated.png"), Overwrite::Never)?;
//! # Ok::<(), eloy_viz::Error>(())
//! ```

mod error;
mod figure;
mod render;
mod sample;
mod zscale;

pub use error::Error;
pub use figure::Figure;
pub use render::{Overwrite, Picture, Render, render, render_colour};
pub use zscale::{Limits, Sampling, ZScale, z_scale, zscale_limits};
