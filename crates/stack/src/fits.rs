//! FITS files as sources: [`eloy_fits::Reader`] is a [`BandSource`].

use std::borrow::Cow;
use std::ops::Range;

use crate::{BandSource, Error};

/// A FITS file streams its rows through cfitsio section reads: a combine of `N` files holds
/// one band of each, never a whole frame. Errors are [`Error::Fits`], naming the file.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_stack::Combine;
/// let dir = tempfile::tempdir()?;
/// let mut readers = Vec::new();
/// for i in 0..3 {
///     let path = dir.path().join(format!("bias_{i}.fits"));
///     let data = ndarray::Array2::from_elem((10, 12), 1000.0 + i as f32);
///     eloy_fits::write(&path, data.view(), &eloy_fits::Header::new(), &Default::default())?;
///     readers.push(eloy_fits::Reader::open(&path)?);
/// }
/// let master = Combine::median().run(readers)?;
/// assert_eq!(master.image[[5, 5]], 1001.0);
/// # Ok(()) }
/// ```
impl BandSource for eloy_fits::Reader {
    fn name(&self) -> Cow<'_, str> {
        self.path().to_string_lossy()
    }

    fn shape(&self) -> (usize, usize) {
        eloy_fits::Reader::shape(self)
    }

    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        eloy_fits::Reader::read_rows(self, rows, out).map_err(Error::from)
    }
}
