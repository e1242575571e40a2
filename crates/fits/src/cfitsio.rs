//! A small safe wrapper over the cfitsio calls this crate needs.
//!
//! cfitsio is compiled from the `fitsio` crate's bundled sources with `--enable-reentrant`,
//! so distinct `fitsfile` handles may be used from distinct threads at the same time. A
//! handle itself must not be used from two threads at once: [`Handle`] is `Send` but not
//! `Sync`.
//!
//! Files are opened and created with the "diskfile" entry points, which take the path
//! literally: cfitsio's extended file-name syntax (`file.fits[1]`, `!file.fits`) is not
//! interpreted, so any path works.

use std::ffi::{CString, c_char, c_int};
use std::path::{Path, PathBuf};
use std::ptr;

use fitsio::sys;

use crate::error::{Error, Result};
use crate::header::Header;

/// An open cfitsio file; closed on drop.
pub(crate) struct Handle {
    /// An open file whenever a `Handle` is used: [`Handle::open_readonly`] returns one only
    /// when cfitsio opened the file (the null pointer of a failed open is only dropped).
    ptr: *mut sys::fitsfile,
    /// The path shown in errors: the user's path, even when cfitsio reads a temporary copy.
    path: PathBuf,
}

// SAFETY: cfitsio is built reentrant (fitsio-sys passes --enable-reentrant): its global
// tables are guarded by a mutex, and a `fitsfile` may move between threads as long as one
// thread uses it at a time, which `&mut self` on every call guarantees (`Handle` is not
// `Sync`).
unsafe impl Send for Handle {}

/// cfitsio's short text for a status code.
pub(crate) fn status_text(status: c_int) -> String {
    let mut buf = [0 as c_char; 81];
    // SAFETY: ffgerr writes at most 30 characters plus a NUL into the buffer.
    unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
    // SAFETY: the buffer is NUL-terminated by ffgerr (and zero-initialised).
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    text.to_string_lossy().into_owned()
}

/// Header bytes as text, one character per byte: bytes outside printable ASCII (which FITS
/// forbids, yet cameras write: a Latin-1 `°` in a comment) become `?`. A lossy UTF-8
/// conversion would turn such a byte into a 3-byte character and shift every later card.
pub(crate) fn header_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

fn c_path(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    CString::new(bytes).map_err(|_| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        )
    })
}

impl Handle {
    /// Opens `real` read-only; errors name `shown`.
    pub(crate) fn open_readonly(real: &Path, shown: &Path) -> Result<Handle> {
        let name = c_path(real)?;
        let mut ptr = ptr::null_mut();
        let mut status = 0;
        // SAFETY: `name` is a valid C string; `ptr` and `status` are valid out-pointers.
        unsafe {
            sys::ffdkopn(
                &raw mut ptr,
                name.as_ptr(),
                sys::READONLY as c_int,
                &raw mut status,
            )
        };
        let handle = Handle {
            ptr,
            path: shown.to_path_buf(),
        };
        if status != 0 {
            // cfitsio leaves `ptr` null on failure; Drop skips a null pointer.
            return Err(handle.error(status, "cannot open as FITS"));
        }
        Ok(handle)
    }

    /// Creates a new file at `real` (which must not exist), open for writing; errors name
    /// `shown`.
    pub(crate) fn create(real: &Path, shown: &Path) -> Result<Handle> {
        let name = c_path(real)?;
        let mut ptr = ptr::null_mut();
        let mut status = 0;
        // SAFETY: `name` is a valid C string; `ptr` and `status` are valid out-pointers.
        unsafe { sys::ffdkinit(&raw mut ptr, name.as_ptr(), &raw mut status) };
        let handle = Handle {
            ptr,
            path: shown.to_path_buf(),
        };
        if status != 0 {
            return Err(handle.error(status, "cannot create"));
        }
        Ok(handle)
    }

    /// The open file, for calls this wrapper does not cover: only while `self` is borrowed
    /// mutably, so one thread at a time.
    pub(crate) fn as_ptr(&mut self) -> *mut sys::fitsfile {
        self.ptr
    }

    /// Closes the file, flushing what cfitsio holds, and reports whether that worked (a
    /// drop ignores it).
    pub(crate) fn close(mut self) -> Result<()> {
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`), closed once: it is nulled
        // so that Drop skips it.
        unsafe { sys::ffclos(self.ptr, &raw mut status) };
        self.ptr = ptr::null_mut();
        self.check(status, "cannot complete the file")
    }

    pub(crate) fn error(&self, status: c_int, doing: &str) -> Error {
        Error::Cfitsio {
            path: self.path.clone(),
            status,
            message: format!("{doing}: {}", status_text(status)),
        }
    }

    pub(crate) fn check(&self, status: c_int, doing: &str) -> Result<()> {
        if status == 0 {
            Ok(())
        } else {
            Err(self.error(status, doing))
        }
    }

    /// Number of HDUs in the file.
    pub(crate) fn hdu_count(&mut self) -> Result<usize> {
        let mut n = 0;
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `n` and `status` are valid
        // out-pointers.
        unsafe { sys::ffthdu(self.ptr, &raw mut n, &raw mut status) };
        self.check(status, "cannot count HDUs")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Moves to HDU `number` (1-based); returns whether it is an image HDU (tile-compressed
    /// images count as images).
    pub(crate) fn move_to(&mut self, number: usize) -> Result<bool> {
        let mut kind = 0;
        let mut status = 0;
        let n = c_int::try_from(number).unwrap_or(c_int::MAX);
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `kind` and `status` are valid
        // out-pointers; cfitsio checks that HDU `n` exists.
        unsafe { sys::ffmahd(self.ptr, n, &raw mut kind, &raw mut status) };
        self.check(status, &format!("cannot read HDU {number}"))?;
        Ok(kind == sys::IMAGE_HDU as c_int)
    }

    /// The axes of the current image HDU, NAXIS1 first.
    pub(crate) fn image_axes(&mut self) -> Result<Vec<usize>> {
        let mut naxis = 0;
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `naxis` and `status` are
        // valid out-pointers.
        unsafe { sys::ffgidm(self.ptr, &raw mut naxis, &raw mut status) };
        self.check(status, "cannot read NAXIS")?;
        let count = usize::try_from(naxis).unwrap_or(0);
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut axes = vec![0 as sys::LONGLONG; count];
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `axes` holds the `naxis`
        // elements cfitsio writes; `status` is a valid out-pointer.
        unsafe { sys::ffgiszll(self.ptr, naxis, axes.as_mut_ptr(), &raw mut status) };
        self.check(status, "cannot read NAXISn")?;
        Ok(axes
            .into_iter()
            .map(|a| usize::try_from(a).unwrap_or(0))
            .collect())
    }

    /// BITPIX of the current image as stored (ZBITPIX for compressed images).
    pub(crate) fn bitpix(&mut self) -> Result<i32> {
        let mut bitpix = 0;
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `bitpix` and `status` are
        // valid out-pointers.
        unsafe { sys::ffgidt(self.ptr, &raw mut bitpix, &raw mut status) };
        self.check(status, "cannot read BITPIX")?;
        Ok(bitpix)
    }

    pub(crate) fn is_compressed_image(&mut self) -> bool {
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `status` is a valid
        // out-pointer.
        unsafe { sys::fits_is_compressed_image(self.ptr, &raw mut status) != 0 }
    }

    /// Byte offsets of the current HDU's data start.
    pub(crate) fn data_start(&mut self) -> Result<u64> {
        let (mut head, mut data, mut end) = (0, 0, 0);
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `head`, `data`, `end` and
        // `status` are valid out-pointers.
        unsafe {
            sys::ffghadll(
                self.ptr,
                &raw mut head,
                &raw mut data,
                &raw mut end,
                &raw mut status,
            )
        };
        self.check(status, "cannot locate the data")?;
        Ok(u64::try_from(data).unwrap_or(0))
    }

    /// The current HDU's header; a tile-compressed image's header is given as that of the
    /// uncompressed image (cfitsio's `fits_convert_hdr2str`, or, for the compressed
    /// headers that cfitsio cannot convert, [`uncompressed_header`]).
    pub(crate) fn header(&mut self) -> Result<Header> {
        match self.header_text(true) {
            Err(err) if self.is_compressed_image() => match self.header_text(false) {
                Ok(raw) => Ok(uncompressed_header(&raw)),
                Err(_) => Err(err),
            },
            other => other,
        }
    }

    /// The current HDU's header as cfitsio gives it: `convert`ed to the uncompressed image's
    /// for a tile-compressed image (`fits_convert_hdr2str`), or as stored
    /// (`fits_hdr2str`).
    fn header_text(&mut self, convert: bool) -> Result<Header> {
        let mut text: *mut c_char = ptr::null_mut();
        let mut nkeys = 0;
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); the exclusion list is empty
        // (null, 0); `text`, `nkeys` and `status` are valid out-pointers; cfitsio allocates
        // `text`, freed below.
        unsafe {
            let convert_or_not = if convert {
                sys::ffcnvthdr2str
            } else {
                sys::ffhdr2str
            };
            convert_or_not(
                self.ptr,
                0,
                ptr::null_mut(),
                0,
                &raw mut text,
                &raw mut nkeys,
                &raw mut status,
            );
        };
        if status != 0 || text.is_null() {
            // cfitsio hands over the buffer even when it failed half-way (a corrupt card of
            // a tile-compressed header): free it, or each bad file leaks it.
            if !text.is_null() {
                let mut free_status = 0;
                // SAFETY: `text` was allocated by cfitsio and is freed once.
                unsafe { sys::fffree(text.cast(), &raw mut free_status) };
            }
            return Err(self.error(status, "cannot read the header"));
        }
        // SAFETY: cfitsio returns a NUL-terminated string of nkeys * 80 characters.
        let bytes = unsafe { std::ffi::CStr::from_ptr(text) }.to_bytes();
        let header = Header::parse(&header_text(bytes));
        let mut free_status = 0;
        // SAFETY: `text` was allocated by cfitsio and is freed once.
        unsafe { sys::fffree(text.cast(), &raw mut free_status) };
        Ok(header)
    }

    /// Reads `out.len()` pixels from flat element `first` (0-based) of the current image,
    /// scaled by BSCALE/BZERO.
    ///
    /// With `check_nulls`, undefined pixels (BLANK) come back as NaN; cfitsio then also
    /// turns IEEE special values (NaN, infinities) into NaN and subnormals into 0. Without
    /// it, values are converted as stored (no BLANK handling).
    pub(crate) fn read_f32(
        &mut self,
        first: usize,
        out: &mut [f32],
        check_nulls: bool,
    ) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let mut anynul = 0;
        let mut status = 0;
        // A NaN null value makes cfitsio check for undefined pixels and store NaN for them;
        // a zero null value turns the check off (for uncompressed images).
        let null = if check_nulls { f32::NAN } else { 0.0 };
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `out` has room for the
        // `out.len()` floats asked for; `anynul` and `status` are valid out-pointers.
        unsafe {
            sys::ffgpve(
                self.ptr,
                1,
                (first + 1) as sys::LONGLONG,
                out.len() as sys::LONGLONG,
                null,
                out.as_mut_ptr(),
                &raw mut anynul,
                &raw mut status,
            );
        };
        self.check(status, "cannot read pixels")
    }

    /// Verifies CHECKSUM/DATASUM of the current HDU: `Some(true)` when both are present and
    /// correct, `Some(false)` when one is wrong, `None` when they are absent.
    pub(crate) fn verify_checksum(&mut self) -> Result<Option<bool>> {
        let (mut data_ok, mut hdu_ok) = (0, 0);
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `Handle::ptr`); `data_ok`, `hdu_ok` and
        // `status` are valid out-pointers.
        unsafe { sys::ffvcks(self.ptr, &raw mut data_ok, &raw mut hdu_ok, &raw mut status) };
        self.check(status, "cannot verify the checksum")?;
        Ok(match (data_ok, hdu_ok) {
            (1, 1) => Some(true),
            (0, 0) => None,
            _ => Some(false),
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let mut status = 0;
            // SAFETY: `self.ptr` is not null, so an open file (see `Handle::ptr`), closed once:
            // the handle is dropped once.
            unsafe { sys::ffclos(self.ptr, &raw mut status) };
        }
    }
}

/// The header of the image a tile-compressed `BINTABLE` holds, from the table's header as
/// stored: the image's `BITPIX` and axes from `ZBITPIX`, `ZNAXIS`, `ZNAXISn`; the table's
/// and the compression's own keywords dropped; every other card kept in order. What cfitsio
/// does, for the headers it refuses (astropy writes some: `ZTENSION = 'IMAGE'` without
/// `ZSIMPLE`, which `funpack` cannot unpack either).
pub(crate) fn uncompressed_header(table: &Header) -> Header {
    let mut header = Header::new();
    header.set("XTENSION", "IMAGE", "image extension");
    let bitpix = table.get::<i64>("ZBITPIX").unwrap_or(0);
    header.set("BITPIX", bitpix, "array data type");
    // FITS allows at most 999 axes; a corrupt header may say anything.
    let naxis = table.get::<i64>("ZNAXIS").unwrap_or(0).clamp(0, 999);
    header.set("NAXIS", naxis, "number of array dimensions");
    for i in 1..=naxis {
        let axis = table.get::<i64>(&format!("ZNAXIS{i}")).unwrap_or(0);
        header.set(&format!("NAXIS{i}"), axis, "");
    }
    header.set("PCOUNT", 0, "");
    header.set("GCOUNT", 1, "");
    for card in table.cards() {
        if !is_table_or_compression_keyword(card.keyword()) {
            header.push(card.clone());
        }
    }
    header
}

/// Keywords of a compressed image's table that the image itself does not have.
fn is_table_or_compression_keyword(keyword: &str) -> bool {
    const EXACT: [&str; 17] = [
        "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE",
        "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0", "ZMASKCMP", "ZSIMPLE", "ZEXTEND", "ZBLOCKED",
        "ZTENSION", "ZBITPIX",
    ];
    const MORE: [&str; 6] = [
        "ZNAXIS", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "END",
    ];
    const NUMBERED: [&str; 13] = [
        "NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO", "TDISP", "ZNAXIS",
        "ZTILE", "ZNAME", "ZVAL",
    ];
    EXACT.contains(&keyword)
        || MORE.contains(&keyword)
        || NUMBERED.iter().any(|prefix| {
            keyword
                .strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}
