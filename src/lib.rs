//! Calibrate astronomical images.
//!
//! `eloy` is the facade over four small crates:
//!
//! - [`fits`]: read and write FITS images, headers and per-frame metadata;
//! - [`stack`]: streaming median/mean combination of many frames in bounded memory;
//! - [`calib`]: master bias, dark and flat frames and the calibration of science frames;
//! - [`viz`]: zscale display limits and PNG previews.

pub use eloy_calib as calib;
pub use eloy_fits as fits;
pub use eloy_stack as stack;
pub use eloy_viz as viz;
