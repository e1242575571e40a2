//! Builders of raw FITS files through cfitsio, for the tests: every BITPIX, scaling, BLANK,
//! tile compression, extensions, cubes.

#![allow(dead_code, unreachable_pub)]

use std::ffi::{CString, c_int, c_void};
use std::path::Path;
use std::ptr;

use fitsio::sys;

/// An open cfitsio output file; panics on any cfitsio error (tests only).
pub struct RawFile {
    /// An open file: [`RawFile::create`] panics when cfitsio cannot create it.
    ptr: *mut sys::fitsfile,
}

fn check(status: c_int, what: &str) {
    assert_eq!(status, 0, "cfitsio failed in {what}: status {status}");
}

impl RawFile {
    /// Creates a file; `name` may carry cfitsio's extended syntax (e.g. `x.fz[compress R]`).
    pub fn create(name: &str) -> RawFile {
        let c = CString::new(name).unwrap();
        let mut ptr = ptr::null_mut();
        let mut status = 0;
        // SAFETY: `c` is a NUL-terminated C string; `ptr` and `status` are valid out-pointers.
        unsafe { sys::ffinit(&raw mut ptr, c.as_ptr(), &raw mut status) };
        check(status, "ffinit");
        RawFile { ptr }
    }

    /// Appends an image HDU (`axes` NAXIS1 first; empty for a data-less primary).
    pub fn image(&mut self, bitpix: i32, axes: &[i64]) -> &mut Self {
        let mut naxes: Vec<sys::LONGLONG> = axes.to_vec();
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `RawFile::ptr`); `naxes` holds the
        // `naxes.len()` axes passed; `status` is a valid out-pointer.
        unsafe {
            sys::ffcrimll(
                self.ptr,
                bitpix,
                naxes.len() as c_int,
                naxes.as_mut_ptr(),
                &raw mut status,
            )
        };
        check(status, "ffcrimll");
        self
    }

    /// Writes a raw card.
    pub fn card(&mut self, card: &str) -> &mut Self {
        let c = CString::new(card).unwrap();
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `RawFile::ptr`); `c` is a NUL-terminated C
        // string; `status` is a valid out-pointer.
        unsafe { sys::ffprec(self.ptr, c.as_ptr(), &raw mut status) };
        check(status, "ffprec");
        self
    }

    /// Turns off cfitsio's scaling so that values are written as stored.
    pub fn raw_scaling(&mut self) -> &mut Self {
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `RawFile::ptr`); `status` is a valid
        // out-pointer.
        unsafe { sys::ffpscl(self.ptr, 1.0, 0.0, &raw mut status) };
        check(status, "ffpscl");
        self
    }

    /// Writes pixels of cfitsio datatype `datatype` (TBYTE, TSBYTE, TSHORT, TUSHORT, TINT,
    /// TUINT, TLONGLONG, TFLOAT, TDOUBLE) from element 1.
    ///
    /// # Panics
    ///
    /// If a value of `datatype` is not the size of a `T`, or `datatype` is another.
    pub fn pixels<T>(&mut self, datatype: u32, values: &mut [T]) -> &mut Self {
        let size = match datatype {
            sys::TBYTE | sys::TSBYTE => 1,
            sys::TSHORT | sys::TUSHORT => 2,
            sys::TINT | sys::TUINT => size_of::<c_int>(),
            sys::TFLOAT => 4,
            sys::TLONGLONG | sys::TDOUBLE => 8,
            other => panic!("RawFile::pixels does not know cfitsio datatype {other}"),
        };
        assert_eq!(size, size_of::<T>(), "cfitsio datatype {datatype}");
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `RawFile::ptr`); `values` holds the
        // `values.len()` values passed, each of the size cfitsio reads for `datatype`
        // (checked above); `status` is a valid out-pointer.
        unsafe {
            sys::ffppr(
                self.ptr,
                datatype as c_int,
                1,
                values.len() as sys::LONGLONG,
                values.as_mut_ptr().cast::<c_void>(),
                &raw mut status,
            )
        };
        check(status, "ffppr");
        self
    }

    pub fn close(self) {
        let mut status = 0;
        // SAFETY: `self.ptr` is an open file (see `RawFile::ptr`), closed once: `close` takes
        // the `RawFile`.
        unsafe { sys::ffclos(self.ptr, &raw mut status) };
        check(status, "ffclos");
    }
}

/// Writes `cards` (each padded to 80) and an END card, padded to 2880-byte blocks, followed by
/// `data` bytes as they are: for hand-made (and broken) files.
pub fn handmade(path: &Path, cards: &[&str], end: bool, data: &[u8]) {
    let mut bytes = Vec::new();
    for card in cards {
        bytes.extend_from_slice(format!("{card:<80}").as_bytes());
    }
    if end {
        bytes.extend_from_slice(format!("{:<80}", "END").as_bytes());
    }
    while bytes.len() % 2880 != 0 {
        bytes.push(b' ');
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Path as a &str for cfitsio names.
pub fn name(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[path = "../../../../tests/support/fitsverify.rs"]
mod fitsverify_tool;
pub(crate) use fitsverify_tool::fitsverify;
