//! FITS images for eloy: read and write any image, its header, and what a frame is.
//!
//! - [`read`] an image whole, or open a [`Reader`] and read bands of rows on demand
//!   (the stacking engine streams through it);
//! - [`Header`]: every card kept verbatim and in order, with typed look-ups;
//! - [`FrameMeta`]: kind (bias, dark, flat, light), date, observing night, exposure, filter,
//!   binning, shape, read from a header;
//! - [`Catalog`]: the frames under a folder, by night and kind, with the files that could
//!   not be read;
//! - [`write()`] an image atomically, or stream one with a [`Writer`], as it is or
//!   tile-compressed as `fpack` does ([`Compression`]: `.fits.fz`);
//! - [`Section`]: image sections (`BIASSEC = '[103:130,*]'`) in IRAF/FITS notation.
//!
//! Pixels are `f32` in an [`ndarray::Array2`] of shape `(NAXIS2, NAXIS1)`: row 0 is the
//! first row in the file. cfitsio does the decoding (compiled from the `fitsio` crate's
//! sources; no system library is needed).
//!
//! ```
//! # fn main() -> Result<(), eloy_fits::Error> {
//! use eloy_fits::{FrameMeta, Header, NightRule};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("light_001.fits");
//!
//! let mut header = Header::new();
//! header.set("IMAGETYP", "Light Frame", "");
//! header.set("EXPTIME", 30.0, "exposure [s]");
//! header.set("DATE-OBS", "2016-01-05T23:10:00", "");
//! let pixels = ndarray::Array2::from_shape_fn((20, 30), |(r, c)| (r * 30 + c) as f32);
//! eloy_fits::write(&path, pixels.view(), &header, &Default::default())?;
//!
//! let image = eloy_fits::read(&path)?;
//! assert_eq!(image.data, pixels);
//! let meta = FrameMeta::from_header(&path, &image.header, image.data.dim(), image.bitpix, &NightRule::default())?;
//! assert_eq!(meta.exposure, Some(30.0));
//!
//! let mut reader = eloy_fits::Reader::open(&path)?;
//! let mut band = vec![0.0; 2 * 30];
//! reader.read_rows(5..7, &mut band)?;
//! assert_eq!(band[0], 150.0);
//! # Ok(()) }
//! ```

mod catalog;
mod cfitsio;
mod compress;
mod date;
mod error;
mod exposure;
mod header;
mod integrity;
mod kind;
mod meta;
mod read;
mod rice;
mod section;
mod write;

pub use catalog::{Catalog, NightSummary, ScanFailure, ScanOptions, Summary, is_fits_name};
pub use compress::Compression;
pub use date::{LONGITUDE_KEYWORDS, NightRule, TIME_KEYWORDS, parse_datetime};
pub use error::{Error, Result};
pub use exposure::{EXPOSURE_KEYWORDS, ExposureCard, ExposureKey, dark_time, exposure};
pub use header::{CARD_LEN, Card, FromValue, Header, Value};
pub use integrity::{Integrity, sync_files, verify_file};
pub use kind::{
    CALIBRATED_KEYWORDS, FrameKind, KIND_KEYWORDS, KindSource, detect_kind, processed_marker,
};
pub use meta::{Binning, FrameMeta, ImageExtension};
pub use read::{Image, Reader, read, read_extension, read_header};
pub use section::Section;
pub use write::{
    Complete, ExtensionPixels, MosaicWriter, Precision, WriteOptions, Writer, is_temporary_name,
    write,
};
