//! FITS files and zscale limits from Python: `read`, `read_header`, `write`,
//! `zscale_limits`.

use std::path::PathBuf;

use ndarray::Array2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use eloy::fits::{Precision, WriteOptions, Writer};
use eloy::viz::{Sampling, ZScale};

use crate::calibration::flatten_2d;
use crate::convert::{self, Failure};

/// Read the image of a FITS file and its header.
///
/// Every BITPIX is read with BSCALE/BZERO applied (unsigned 16-bit frames exactly);
/// integer pixels equal to BLANK come back as NaN. The image is the primary HDU's or, when
/// that is empty, the first image extension's; tile-compressed (``.fz``) and gzipped files
/// are decompressed. Pixels are float32: 8- and 16-bit data are exact, 32-bit integers and
/// float64 pixels are rounded to the nearest float32.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The FITS file.
///
/// Returns
/// -------
/// tuple of (numpy.ndarray, dict)
///     The image, float32 of shape ``(NAXIS2, NAXIS1)``, and the header as a dict (see
///     ``read_header``).
///
/// Raises
/// ------
/// OSError
///     The file cannot be read, is not FITS, is truncated, or holds no 2-d image
///     (``FileNotFoundError`` when it does not exist).
#[pyfunction]
pub(crate) fn read<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyTuple>> {
    let image = py.detach(move || eloy::fits::read(&path).map_err(Failure::from))?;
    let header = convert::header_to_dict(py, &image.header)?;
    let data = convert::to_numpy_f32(py, image.data);
    PyTuple::new(py, [data.into_any(), header.into_any()])
}

/// Read the header of a FITS file's image, as a dict.
///
/// Keywords map to their values in file order: ``bool``, ``int``, ``float``,
/// ``complex``, ``str`` (strings continued over ``CONTINUE`` cards are joined), or
/// ``None`` for an undefined value. A repeated keyword keeps its first value, as astropy's
/// look-ups do. ``HISTORY``, ``COMMENT`` and blank-keyword cards become lists of their
/// texts. Only the header is read.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The FITS file.
///
/// Returns
/// -------
/// dict
///     The header.
///
/// Raises
/// ------
/// OSError
///     As ``read``.
#[pyfunction]
pub(crate) fn read_header(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let (header, _) = py.detach(move || eloy::fits::read_header(&path).map_err(Failure::from))?;
    convert::header_to_dict(py, &header)
}

/// The pixel type a `write` was asked for, by numpy dtype name.
fn precision(py: Python<'_>, dtype: &Bound<'_, PyAny>) -> PyResult<Precision> {
    let name: String = py
        .import("numpy")?
        .call_method1("dtype", (dtype,))?
        .getattr("name")?
        .extract()?;
    match name.as_str() {
        "float32" => Ok(Precision::F32),
        "float64" => Ok(Precision::F64),
        "uint16" => Ok(Precision::U16),
        _ => Err(PyValueError::new_err(format!(
            "dtype {name}: eloy writes float32, float64 or uint16 images"
        ))),
    }
}

/// Write an image to a new FITS file, atomically.
///
/// The image is written to a temporary file in the same folder, then renamed: an
/// interrupted write never leaves a partial file. The header's cards are copied in order,
/// except the structural ones (``SIMPLE``, ``BITPIX``, ``NAXISn``, ``BZERO``...), which
/// are written anew for the image.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The file to create.
/// data : array-like
///     A 2-d image, any real dtype and byte order.
/// header : dict, astropy.io.fits.Header or None
///     Cards to write: a dict as ``read`` returns, an astropy ``Header``, or any mapping
///     with ``items()``. ``HISTORY`` and ``COMMENT`` take a string or a list of strings.
/// overwrite : bool
///     Replace an existing file (default: refuse with ``FileExistsError``).
/// dtype : str or numpy.dtype
///     Pixel type written: ``"float32"`` (default, BITPIX -32), ``"float64"`` (BITPIX -64,
///     the values of a float64 array written exactly) or ``"uint16"`` (BITPIX 16 with BZERO
///     32768, as cameras write: rounded, clamped to 0..65535, NaN as 0).
/// checksum : bool
///     Write ``CHECKSUM`` and ``DATASUM`` (default True).
/// sync : bool
///     ``fsync`` the file before it takes its name (default True).
///
/// Raises
/// ------
/// FileExistsError
///     The file exists and ``overwrite`` is False.
/// OSError
///     The folder is missing or not writable, or the disk is full.
#[pyfunction]
#[pyo3(signature = (path, data, header=None, *, overwrite=false, dtype=None, checksum=true, sync=true))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    py: Python<'_>,
    path: PathBuf,
    data: Bound<'_, PyAny>,
    header: Option<Bound<'_, PyAny>>,
    overwrite: bool,
    dtype: Option<Bound<'_, PyAny>>,
    checksum: bool,
    sync: bool,
) -> PyResult<()> {
    let precision = match &dtype {
        Some(d) if !d.is_none() => precision(py, d)?,
        _ => Precision::F32,
    };
    let header = convert::header_from_python(header.as_ref())?;
    let options = WriteOptions {
        precision,
        overwrite,
        checksum,
        sync,
        ..WriteOptions::default()
    };
    if precision == Precision::F64 {
        let image = convert::image::<f64>(&data, "data")?;
        py.detach(move || -> Result<(), Failure> {
            let mut writer = Writer::create(&path, image.dim(), &header, &options)?;
            let image = image.as_standard_layout();
            writer.write_rows_f64(0, image.as_slice().expect("standard layout"))?;
            writer.finish()?;
            Ok(())
        })?;
    } else {
        let image: Array2<f32> = convert::image(&data, "data")?;
        py.detach(move || eloy::fits::write(&path, image.view(), &header, &options))
            .map_err(Failure::from)?;
    }
    Ok(())
}

/// The zscale display limits ``(vmin, vmax)`` of an image, as astropy's
/// ``ZScaleInterval(...).get_limits(data)``.
///
/// astropy's algorithm (from IRAF): a sample of at most ``n_samples`` finite pixels,
/// sorted; a line fitted with iterative rejection of pixels beyond ``krej`` standard
/// deviations (grown by 1% of the sample); the slope divided by ``contrast``; limits
/// around the sample's median, within its range. When fewer than
/// ``max(min_npixels, max_reject * npix)`` pixels survive, the sample's minimum and maximum.
///
/// Parameters
/// ----------
/// data : array-like
///     The image, any real dtype, any number of dimensions (flattened in C order).
/// contrast : float
///     Default 0.25, astropy's (Python eloy's ``z_scale`` uses 0.05).
/// n_samples, max_reject, min_npixels, krej, max_iterations
///     astropy's parameters, with its defaults.
/// sampling : str
///     ``"astropy"`` (default: every ``size // n_samples``-th finite pixel) or ``"iraf"``
///     (IRAF ``display``'s regular 2-d grid; needs a 2-d image).
///
/// Returns
/// -------
/// tuple of float
///     ``(vmin, vmax)``.
///
/// Raises
/// ------
/// ValueError
///     No finite pixel, ``n_samples`` of 0, or an unknown ``sampling``.
#[pyfunction]
#[pyo3(signature = (data, contrast=0.25, *, n_samples=1000, max_reject=0.5, min_npixels=5, krej=2.5, max_iterations=5, sampling="astropy"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn zscale_limits(
    py: Python<'_>,
    data: Bound<'_, PyAny>,
    contrast: f64,
    n_samples: usize,
    max_reject: f64,
    min_npixels: usize,
    krej: f64,
    max_iterations: usize,
    sampling: &str,
) -> PyResult<(f64, f64)> {
    let sampling = match sampling {
        "astropy" => Sampling::Astropy,
        "iraf" => Sampling::Iraf,
        other => {
            return Err(PyValueError::new_err(format!(
                "sampling {other:?}: \"astropy\" or \"iraf\""
            )));
        }
    };
    let values = convert::array::<f32>(&data, "data")?;
    if sampling == Sampling::Iraf && values.ndim() != 2 {
        return Err(PyValueError::new_err(
            "IRAF sampling needs a 2-d image".to_owned(),
        ));
    }
    let image = flatten_2d(values)?;
    let params = ZScale {
        n_samples,
        contrast,
        max_reject,
        min_npixels,
        krej,
        max_iterations,
        sampling,
    };
    let limits = py
        .detach(move || eloy::viz::zscale_limits(image.view(), &params))
        .map_err(Failure::from)?;
    Ok((limits.vmin, limits.vmax))
}
