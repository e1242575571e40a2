//! FITS files as sources: [`eloy_fits::Reader`] is a [`BandSource`].

use std::borrow::Cow;
use std::ops::Range;

use crate::{BandSink, BandSource, Error, StackedBand};

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

/// A FITS file being written takes the bands of a combine or of a streamed [`Frame`](crate::Frame)
/// as they come: a master or a calibrated light goes to disk without ever being whole in
/// memory. Errors are [`Error::Fits`], naming the file; a result of another shape than the
/// writer's is refused at [`BandSink::start`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_stack::{Frame, InMemory};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("scaled.fits");
/// let a = ndarray::Array2::from_elem((10, 12), 3.0_f32);
/// let mut writer = eloy_fits::Writer::create(&path, (10, 12), &eloy_fits::Header::new(), &Default::default())?;
/// Frame::new(InMemory::new(a.view())).scale(2.0).stream_into(4, &mut writer)?;
/// writer.finish()?;
/// assert_eq!(eloy_fits::read(&path)?.data[[9, 11]], 6.0);
/// # Ok(()) }
/// ```
impl BandSink for eloy_fits::Writer {
    fn start(&mut self, shape: (usize, usize)) -> Result<(), Error> {
        if shape == self.shape() {
            Ok(())
        } else {
            Err(Error::Sink(
                format!(
                    "{}: the image has shape {shape:?}, the file being written {:?}",
                    self.path().display(),
                    self.shape()
                )
                .into(),
            ))
        }
    }

    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
        let first = band.rows.start;
        match band.image.as_slice() {
            Some(values) => self.write_rows(first, values)?,
            None => self.write_rows(first, &band.image.iter().copied().collect::<Vec<_>>())?,
        }
        Ok(())
    }
}
