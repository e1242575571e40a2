//! Tile-compressed output ([`Compression`]): the image written by cfitsio as a Rice-coded
//! table of quantised rows, what `fpack` writes.

use std::ffi::{CString, c_int, c_long};
use std::path::Path;

use fitsio::sys;

use crate::cfitsio::Handle;
use crate::error::{Error, Result};
use crate::header::Card;

/// How [`Writer`](crate::Writer) stores the image: as it is, or tile-compressed.
///
/// `Rice { q }` is `fpack -q q`'s compression (the tiled image convention, FITS standard
/// 4.0 section 10): each row is a tile; its `f32` values are quantised to integers with a
/// step of `sigma / q`, where `sigma` is the tile's noise as cfitsio estimates it (a MAD of
/// the differences of neighbouring pixels), dithered with `SUBTRACTIVE_DITHER_2` (a random
/// offset in [0, 1) of a step added before rounding and subtracted when read; pixels that
/// are exactly 0.0 are kept exactly), and the integers Rice-coded. FITS readers that read
/// `fpack`ed files read them (checked: cfitsio, `funpack`, fitsverify, astropy, Siril).
///
/// The checksum cards are cfitsio's (`fits_write_chksum`), whose comments carry the time
/// they were written: two writes of one image hold the same pixels, not the same bytes.
///
/// **What it costs in precision**: the error a uniform quantisation adds has a standard
/// deviation of `step / sqrt(12) = sigma / (q * sqrt(12))`: 0.072 sigma of the noise for
/// `q = 4` (the default, as `fpack`'s), 0.036 for 8, 0.018 for 16. Added in quadrature to
/// the noise itself it raises it by 0.26 % (`q = 4`). A negative `q` is an absolute step:
/// `-0.01` quantises every tile with a step of 0.01.
///
/// **NaN**: non-finite pixels (NaN, infinities) are written as nulls (`ZBLANK`) and read
/// back as NaN, exactly; no other value is kept exactly but 0.0. So eloy's invalid-pixel
/// marker -1 cannot survive quantisation: a calibration writing compressed outputs marks
/// invalid pixels NaN instead.
///
/// The dither pattern's seed (`ZDITHER0`) is cfitsio's hash of the first tile written, so
/// rewriting the same image gives the same pixels and two images have different patterns.
///
/// ```
/// use eloy_fits::Compression;
/// assert_eq!(Compression::default(), Compression::None);
/// assert_eq!(Compression::rice(), Compression::Rice { q: 4.0 });
/// assert_eq!(Compression::rice().suffix(), ".fz");
/// let out = Compression::rice().output_path("out/light_001.fits".as_ref());
/// assert_eq!(out, std::path::Path::new("out/light_001.fits.fz"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// The image as it is: a primary HDU of `BITPIX` values (the default).
    #[default]
    None,
    /// Rice-coded tiles of one row of quantised values, in a `BINTABLE` extension after an
    /// empty primary HDU (`ZCMPTYPE = 'RICE_1'`, `ZQUANTIZ = 'SUBTRACTIVE_DITHER_2'`).
    Rice {
        /// Quantisation levels per sigma of the noise (`fpack -q`; see above). Default 4.
        /// Finite and not 0, else the write is an [`Error::Unsupported`].
        q: f32,
    },
}

impl Compression {
    /// `fpack`'s default quantisation: 4 levels per sigma of the noise.
    pub const DEFAULT_Q: f32 = 4.0;

    /// Rice with the default `q` ([`Compression::DEFAULT_Q`]).
    pub fn rice() -> Compression {
        Compression::Rice {
            q: Compression::DEFAULT_Q,
        }
    }

    /// Whether the image is compressed.
    ///
    /// ```
    /// assert!(eloy_fits::Compression::rice().is_compressed());
    /// assert!(!eloy_fits::Compression::None.is_compressed());
    /// ```
    pub fn is_compressed(self) -> bool {
        self != Compression::None
    }

    /// What the file name gets after `.fits`: `.fz` when compressed (`fpack`'s and
    /// Siril's convention), else nothing.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Rice { .. } => ".fz",
        }
    }

    /// `path` with [`Compression::suffix`] appended, unless it already ends with it (so
    /// that naming twice is naming once).
    pub fn output_path(self, path: &Path) -> std::path::PathBuf {
        let suffix = self.suffix();
        let name = path.as_os_str().to_string_lossy();
        if suffix.is_empty() || name.to_ascii_lowercase().ends_with(suffix) {
            return path.to_path_buf();
        }
        let mut out = path.as_os_str().to_owned();
        out.push(suffix);
        out.into()
    }
}

/// cfitsio's `FLOATNULLVALUE`: the value that stands for a null pixel on the way into the
/// compressor (what `fpack` itself passes); non-finite pixels are replaced by it.
const FLOAT_NULL: f32 = -9.119_12E-36;

// SAFETY: cfitsio's `fits_init_randoms` (imcompress.c, in the library fitsio-sys links)
// takes no argument, fills a process-wide table under cfitsio's lock, and returns a status.
unsafe extern "C" {
    fn fits_init_randoms() -> c_int;
}

/// cfitsio's table of dither offsets, filled once before any image is compressed.
///
/// cfitsio fills it on first use, but its quantiser tests the table's pointer without the
/// lock, and the pointer is set before the table is filled: a second thread quantising at
/// that moment reads offsets still zero (found as rows one step off in the first image a
/// process compressed, while another thread compressed its own). Filling it here, before
/// any quantisation and with every other thread waiting, closes the race.
fn dither_offsets(path: &Path) -> Result<()> {
    static STATUS: std::sync::OnceLock<c_int> = std::sync::OnceLock::new();
    // SAFETY: see the declaration; called once, other callers wait for it.
    let status = *STATUS.get_or_init(|| unsafe { fits_init_randoms() });
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Cfitsio {
            path: path.to_path_buf(),
            status,
            message: "cannot make the table of dither offsets".to_owned(),
        })
    }
}

/// An image being written tile-compressed by cfitsio into a temporary file.
pub(crate) struct Compressed {
    handle: Handle,
    /// Scratch copy of a band, its non-finite values replaced by [`FLOAT_NULL`].
    band: Vec<f32>,
}

impl Compressed {
    /// Creates `temp` with an empty primary HDU (`NEXTEND = 1`, its checksum) and the
    /// compressed image HDU of `shape`, holding `cards`.
    pub(crate) fn create(
        temp: &Path,
        shown: &Path,
        shape: (usize, usize),
        cards: &[Card],
        compression: Compression,
        checksum: bool,
    ) -> Result<Compressed> {
        let Compression::Rice { q } = compression else {
            unreachable!("Compressed is created for a compression")
        };
        dither_offsets(shown)?;
        let mut handle = Handle::create(temp, shown)?;
        let (rows, cols) = shape;
        let too_large = || Error::TooLarge {
            path: shown.to_path_buf(),
            rows,
            cols,
        };
        let mut axes = [
            c_long::try_from(cols).map_err(|_| too_large())?,
            c_long::try_from(rows).map_err(|_| too_large())?,
        ];
        let mut tile = [axes[0], 1];
        let ptr = handle.as_ptr();
        let mut status = 0;
        // SAFETY: `ptr` is the open file of `handle`, used by this thread only; the C
        // strings live across the calls; `axes` and `tile` hold the 2 values passed.
        unsafe {
            sys::ffcrim(
                ptr,
                sys::BYTE_IMG as c_int,
                0,
                std::ptr::null_mut(),
                &raw mut status,
            );
            let key = CString::new("NEXTEND").unwrap_or_default();
            let comment = CString::new("number of extensions").unwrap_or_default();
            sys::ffpkyj(ptr, key.as_ptr(), 1, comment.as_ptr(), &raw mut status);
            if checksum {
                sys::ffpcks(ptr, &raw mut status);
            }
            sys::fits_set_compression_type(ptr, sys::RICE_1 as c_int, &raw mut status);
            sys::fits_set_tile_dim(ptr, 2, tile.as_mut_ptr(), &raw mut status);
            sys::fits_set_quantize_level(ptr, q, &raw mut status);
            sys::fits_set_quantize_method(ptr, sys::SUBTRACTIVE_DITHER_2 as c_int, &raw mut status);
            // Negative: the seed is a hash of the first tile (deterministic per image).
            sys::fits_set_dither_seed(ptr, -1, &raw mut status);
            sys::ffcrim(ptr, sys::FLOAT_IMG, 2, axes.as_mut_ptr(), &raw mut status);
        }
        handle.check(status, "cannot create the compressed image")?;
        for card in cards {
            let text = CString::new(card.as_str()).map_err(|_| {
                handle.error(
                    sys::BAD_KEYCHAR as c_int,
                    "cannot write a header card holding a NUL byte",
                )
            })?;
            // SAFETY: as above; `text` is an 80-character C string.
            unsafe { sys::ffprec(ptr, text.as_ptr(), &raw mut status) };
            handle.check(status, &format!("cannot write card {}", card.keyword()))?;
        }
        Ok(Compressed {
            handle,
            band: Vec::new(),
        })
    }

    /// Writes `values` (whole rows) from flat pixel `first` (0-based): each whole tile
    /// (row) is quantised and compressed as it comes.
    pub(crate) fn write(&mut self, first: usize, values: &[f32]) -> Result<()> {
        self.band.clear();
        self.band.extend(
            values
                .iter()
                .map(|&v| if v.is_finite() { v } else { FLOAT_NULL }),
        );
        let ptr = self.handle.as_ptr();
        let mut status = 0;
        // SAFETY: `ptr` is the open file of `self.handle`; `self.band` holds the `len`
        // values written; cfitsio reads them only.
        unsafe {
            sys::ffppne(
                ptr,
                1,
                (first + 1) as sys::LONGLONG,
                self.band.len() as sys::LONGLONG,
                self.band.as_mut_ptr(),
                FLOAT_NULL,
                &raw mut status,
            );
        }
        self.handle.check(status, "cannot compress pixels")
    }

    /// Writes the image HDU's `CHECKSUM`/`DATASUM` (when asked) and closes the file.
    pub(crate) fn finish(mut self, checksum: bool) -> Result<()> {
        if checksum {
            let ptr = self.handle.as_ptr();
            let mut status = 0;
            // SAFETY: `ptr` is the open file of `self.handle`.
            unsafe { sys::ffpcks(ptr, &raw mut status) };
            self.handle.check(status, "cannot write the checksum")?;
        }
        self.handle.close()
    }
}
