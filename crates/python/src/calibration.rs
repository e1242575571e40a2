//! Python eloy 0.0.11's `calibration` and `viz.z_scale`, with the same signatures, defaults
//! and results, computed by eloy's crates.

use std::path::PathBuf;

use ndarray::{Array2, ArrayD, Ix2};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use eloy::calib::{InvalidPixels, Master, MasterKind, Masters};
use eloy::fits::Reader;
use eloy::stack::{BandSource, Combine, Frame, InMemory, NanPolicy};

use crate::convert::{self, Failure, Operand};

/// The header keyword of the exposure in Python eloy's `default_fun_exp`.
const EXPOSURE_KEY: &str = "EXPTIME";

/// The frames of a master: files read by eloy's reader (Python eloy's `default_fun_load`,
/// `fits.open(file)[0].data`), or arrays a caller's `fun_load` returned.
enum Inputs {
    Files(Vec<PathBuf>),
    Arrays(Vec<Array2<f32>>),
}

/// What each frame gets before the median, as in Python eloy's loops.
enum Kind {
    /// `data`
    Bias,
    /// `(data - bias) / exposure`
    Dark { bias: Operand },
    /// `f = data - bias - dark * exposure; f / mean(f)`
    Flat { bias: Operand, dark: Operand },
}

/// Python eloy's 1-element "no master" array: `np.array([value])`.
fn no_master(py: Python<'_>, value: f64) -> Bound<'_, PyAny> {
    PyArray1::from_vec(py, vec![value]).into_any()
}

/// Loads the frames: through `fun_load` when given (called with each item of `files` as
/// given), else by path. Exposures come from `fun_exp` when given, else from each file's
/// `EXPTIME` (only when `exposures` is asked for).
fn load(
    files: &Bound<'_, PyAny>,
    fun_load: Option<&Bound<'_, PyAny>>,
    fun_exp: Option<&Bound<'_, PyAny>>,
    exposures: bool,
    what: &str,
) -> PyResult<(Inputs, Vec<f64>)> {
    let items = convert::items(files)?;
    if items.is_empty() {
        return Err(PyValueError::new_err(format!(
            "no {what} frames: files is empty"
        )));
    }
    let inputs = match fun_load.filter(|f| !f.is_none()) {
        Some(fun) => Inputs::Arrays(
            items
                .iter()
                .map(|item| {
                    let data = fun.call1((item,))?;
                    convert::image::<f32>(&data, &format!("fun_load({})", item.repr()?))
                })
                .collect::<PyResult<_>>()?,
        ),
        None => Inputs::Files(items.iter().map(convert::path).collect::<PyResult<_>>()?),
    };
    let mut times = Vec::new();
    if exposures {
        match fun_exp.filter(|f| !f.is_none()) {
            Some(fun) => {
                for item in &items {
                    times.push(fun.call1((item,))?.extract::<f64>()?);
                }
            }
            None => {
                let paths: Vec<PathBuf> =
                    items.iter().map(convert::path).collect::<PyResult<_>>()?;
                times = files.py().detach(move || header_exposures(&paths))?;
            }
        }
    }
    Ok((inputs, times))
}

/// `fits.open(file)[0].header["EXPTIME"]` of each file.
fn header_exposures(paths: &[PathBuf]) -> Result<Vec<f64>, Failure> {
    paths
        .iter()
        .map(|path| {
            let (header, _) = eloy::fits::read_header(path)?;
            header.get::<f64>(EXPOSURE_KEY).ok_or_else(|| {
                Failure::Key(format!(
                    "{}: header has no {EXPOSURE_KEY} keyword with a number",
                    path.display()
                ))
            })
        })
        .collect()
}

/// The NaN-skipping median (numpy `nanmedian`) of the prepared frames, by eloy-stack.
fn median(inputs: &Inputs, exposures: &[f64], kind: &Kind) -> Result<Array2<f32>, Failure> {
    let sources: Vec<Box<dyn BandSource + '_>> = match inputs {
        Inputs::Files(paths) => paths
            .iter()
            .map(|p| Reader::open(p).map(|r| Box::new(r) as Box<dyn BandSource + '_>))
            .collect::<Result<_, _>>()?,
        Inputs::Arrays(arrays) => arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Box::new(InMemory::new(a.view()).named(format!("frame {i} of fun_load")))
                    as Box<dyn BandSource + '_>
            })
            .collect(),
    };
    let shape = sources[0].shape();
    let (bias, dark) = match kind {
        Kind::Bias => (None, None),
        Kind::Dark { bias } => (bias.resolve(shape, 0.0, "bias")?, None),
        Kind::Flat { bias, dark } => (
            bias.resolve(shape, 0.0, "bias")?,
            dark.resolve(shape, 0.0, "dark")?,
        ),
    };
    let frames = sources.into_iter().enumerate().map(|(i, source)| {
        let mut frame = Frame::new(source);
        if let Some(b) = &bias {
            frame = frame.subtract(b.view());
        }
        match kind {
            Kind::Bias => frame,
            // `(data - bias) / exposure`: a division by 0 gives infinities and NaN, as numpy.
            Kind::Dark { .. } => frame.scale(1.0 / exposures[i]),
            Kind::Flat { .. } => {
                if let Some(d) = &dark {
                    frame = frame.subtract_scaled(d.view(), exposures[i]);
                }
                // np.mean: one NaN pixel makes the whole flat NaN, as in Python eloy.
                frame.normalize_by_mean(NanPolicy::Propagate)
            }
        }
    });
    Ok(Combine::median().run(frames)?.image)
}

/// Loads, then takes the median with the interpreter detached; returns float64 as eloy.
fn master<'py>(
    py: Python<'py>,
    files: &Bound<'py, PyAny>,
    fun_load: Option<&Bound<'py, PyAny>>,
    fun_exp: Option<&Bound<'py, PyAny>>,
    kind: Kind,
    what: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let exposures = !matches!(kind, Kind::Bias);
    let (inputs, times) = load(files, fun_load, fun_exp, exposures, what)?;
    let image = py.detach(move || median(&inputs, &times, &kind))?;
    Ok(convert::to_numpy_f64(py, image).into_any())
}

/// Create a master bias frame from a list of bias files.
///
/// Python eloy 0.0.11's ``calibration.master_bias``: the per-pixel NaN-skipping median
/// (``numpy.nanmedian``) of the frames, computed by eloy's streaming median (files are read
/// in bands of rows: memory does not grow with their number).
///
/// Parameters
/// ----------
/// files : iterable of str or os.PathLike, or None
///     The bias frames. ``None``: no bias, the 1-element array ``[0.0]``.
/// fun_load : callable or None
///     ``fun_load(file)`` returns the image (any real dtype); default: the FITS file's
///     image, as ``fits.open(file)[0].data``.
///
/// Returns
/// -------
/// numpy.ndarray
///     The master bias (float64, shape of the frames), or ``array([0.])``.
///
/// Raises
/// ------
/// ValueError
///     ``files`` is empty, or the frames differ in shape.
/// OSError
///     A file cannot be read (``FileNotFoundError`` when missing).
#[pyfunction]
#[pyo3(signature = (files=None, fun_load=None))]
pub(crate) fn master_bias<'py>(
    py: Python<'py>,
    files: Option<Bound<'py, PyAny>>,
    fun_load: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match files.filter(|f| !f.is_none()) {
        None => Ok(no_master(py, 0.0)),
        Some(files) => master(py, &files, fun_load.as_ref(), None, Kind::Bias, "bias"),
    }
}

/// Create a master dark frame from a list of dark files.
///
/// Python eloy 0.0.11's ``calibration.master_dark``: the per-pixel NaN-skipping median of
/// ``(dark - bias) / exposure``, a rate in ADU per second.
///
/// Parameters
/// ----------
/// bias : array-like or None
///     Master bias to subtract (anything that broadcasts against the frames, such as
///     ``master_bias()``'s ``[0.0]``); ``None``: 0.
/// files : iterable of str or os.PathLike, or None
///     The dark frames. ``None``: no dark, the 1-element array ``[0.0]``.
/// fun_load : callable or None
///     ``fun_load(file)`` returns the image; default: the FITS file's image.
/// fun_exp : callable or None
///     ``fun_exp(file)`` returns the exposure in seconds; default: the header's ``EXPTIME``.
///
/// Returns
/// -------
/// numpy.ndarray
///     The master dark rate (float64), or ``array([0.])``.
///
/// Raises
/// ------
/// ValueError
///     ``files`` is empty; frames or bias of other shapes.
/// KeyError
///     A header without ``EXPTIME`` (default ``fun_exp``).
/// OSError
///     A file cannot be read.
#[pyfunction]
#[pyo3(signature = (bias=None, files=None, fun_load=None, fun_exp=None))]
pub(crate) fn master_dark<'py>(
    py: Python<'py>,
    bias: Option<Bound<'py, PyAny>>,
    files: Option<Bound<'py, PyAny>>,
    fun_load: Option<Bound<'py, PyAny>>,
    fun_exp: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let bias = Operand::extract(bias.as_ref(), 0.0, "bias")?;
    match files.filter(|f| !f.is_none()) {
        None => Ok(no_master(py, 0.0)),
        Some(files) => master(
            py,
            &files,
            fun_load.as_ref(),
            fun_exp.as_ref(),
            Kind::Dark { bias },
            "dark",
        ),
    }
}

/// Create a master flat frame from a list of flat files.
///
/// Python eloy 0.0.11's ``calibration.master_flat``: each flat becomes
/// ``f = flat - bias - dark * exposure``, divided by its mean (``numpy.mean``: a flat with a
/// NaN pixel becomes all NaN, as in eloy), then the per-pixel NaN-skipping median.
///
/// Parameters
/// ----------
/// bias : array-like or None
///     Master bias; ``None``: 0.
/// dark : array-like or None
///     Master dark rate (ADU/s); ``None``: 0.
/// files : iterable of str or os.PathLike, or None
///     The flat frames. ``None``: no flat, the 1-element array ``[1.0]``.
/// fun_load : callable or None
///     ``fun_load(file)`` returns the image; default: the FITS file's image.
/// fun_exp : callable or None
///     ``fun_exp(file)`` returns the exposure in seconds; default: the header's ``EXPTIME``.
///
/// Returns
/// -------
/// numpy.ndarray
///     The normalized master flat (float64), or ``array([1.])``.
///
/// Raises
/// ------
/// ValueError
///     ``files`` is empty; frames, bias or dark of other shapes.
/// KeyError
///     A header without ``EXPTIME`` (default ``fun_exp``).
/// OSError
///     A file cannot be read.
#[pyfunction]
#[pyo3(signature = (bias=None, dark=None, files=None, fun_load=None, fun_exp=None))]
pub(crate) fn master_flat<'py>(
    py: Python<'py>,
    bias: Option<Bound<'py, PyAny>>,
    dark: Option<Bound<'py, PyAny>>,
    files: Option<Bound<'py, PyAny>>,
    fun_load: Option<Bound<'py, PyAny>>,
    fun_exp: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let bias = Operand::extract(bias.as_ref(), 0.0, "bias")?;
    let dark = Operand::extract(dark.as_ref(), 0.0, "dark")?;
    match files.filter(|f| !f.is_none()) {
        None => Ok(no_master(py, 1.0)),
        Some(files) => master(
            py,
            &files,
            fun_load.as_ref(),
            fun_exp.as_ref(),
            Kind::Flat { bias, dark },
            "flat",
        ),
    }
}

/// Calibrate raw image data using master calibration frames.
///
/// Python eloy 0.0.11's ``calibration.calibrate``:
/// ``(data - (dark * exposure + bias)) / flat``, then values below 0 and non-finite values
/// (NaN, infinities: a flat of 0) become ``-1``; the result holds no NaN. Computed by
/// eloy-calib on all cores, each pixel in float64 from float32 inputs.
///
/// Parameters
/// ----------
/// data : array-like
///     The raw 2-d image, any real dtype and byte order (astropy's ``uint16``, ``>f4``...).
/// exposure : float
///     Its exposure in seconds.
/// dark : array-like
///     Master dark rate; eloy's ``[0.0]`` (or any value that broadcasts) works.
/// flat : array-like
///     Master flat; ``[1.0]`` for none.
/// bias : array-like
///     Master bias; ``[0.0]`` for none.
///
/// Returns
/// -------
/// numpy.ndarray
///     The calibrated image, float64 (as eloy), shape of ``data``.
///
/// Raises
/// ------
/// ValueError
///     ``data`` is not 2-d, or a master does not broadcast to its shape.
#[pyfunction]
#[pyo3(signature = (data, exposure, dark, flat, bias))]
pub(crate) fn calibrate<'py>(
    py: Python<'py>,
    data: Bound<'py, PyAny>,
    exposure: f64,
    dark: Bound<'py, PyAny>,
    flat: Bound<'py, PyAny>,
    bias: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let image = convert::image::<f32>(&data, "data")?;
    let dark = Operand::extract(Some(&dark), 0.0, "dark")?;
    let flat = Operand::extract(Some(&flat), 1.0, "flat")?;
    let bias = Operand::extract(Some(&bias), 0.0, "bias")?;
    let image = py.detach(move || -> Result<Array2<f32>, Failure> {
        let shape = image.dim();
        let master = |kind, operand: &Operand, neutral, what| {
            Ok::<_, Failure>(
                operand
                    .resolve(shape, neutral, what)?
                    .map(|m| Master::new(kind, m)),
            )
        };
        let masters = Masters {
            bias: master(MasterKind::Bias, &bias, 0.0, "bias")?,
            dark: master(MasterKind::Dark, &dark, 0.0, "dark")?,
            flat: master(MasterKind::Flat, &flat, 1.0, "flat")?,
        };
        Ok(eloy::calib::calibrate(
            image.view(),
            exposure,
            &masters,
            InvalidPixels::MinusOne,
        )?)
    })?;
    Ok(convert::to_numpy_f64(py, image).into_any())
}

/// The image rescaled to [0, 1] between its zscale limits, as Python eloy's ``viz.z_scale``.
///
/// ``ZScaleInterval(contrast=c)(data)`` of astropy: limits from astropy's sampling and line
/// fit (computed by eloy-viz), then ``(data - vmin) / (vmax - vmin)`` clipped to [0, 1].
/// NaN stays NaN; non-finite pixels take no part in the limits.
///
/// Parameters
/// ----------
/// data : array-like
///     An image (any real dtype and byte order; any number of dimensions, flattened in C
///     order for the sample as astropy does).
/// c : float
///     The contrast (eloy's default 0.05; astropy's is 0.25).
///
/// Returns
/// -------
/// numpy.ndarray
///     Same shape as ``data``; float32 for a float32 image, float64 otherwise (numpy's
///     result type in astropy).
///
/// Raises
/// ------
/// ValueError
///     The image has no finite pixel.
#[pyfunction]
#[pyo3(signature = (data, c=0.05))]
pub(crate) fn z_scale<'py>(
    py: Python<'py>,
    data: Bound<'py, PyAny>,
    c: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let single = is_float32(&data);
    let values: ArrayD<f32> = convert::array(&data, "data")?;
    let shape = values.shape().to_vec();
    let image = flatten_2d(values)?;
    let scaled = py.detach(move || eloy::viz::z_scale(image.view(), c).map_err(Failure::from))?;
    let scaled = scaled
        .into_shape_with_order(shape)
        .expect("same number of values");
    Ok(if single {
        numpy::PyArray::from_owned_array(py, scaled).into_any()
    } else {
        numpy::PyArray::from_owned_array(py, scaled.mapv(f64::from)).into_any()
    })
}

/// Whether `obj` is a numpy array of float32 (either byte order).
pub(crate) fn is_float32(obj: &Bound<'_, PyAny>) -> bool {
    use numpy::prelude::*;
    obj.cast::<numpy::PyUntypedArray>()
        .is_ok_and(|a| a.dtype().kind() == b'f' && a.dtype().itemsize() == 4)
}

/// Any array as a 2-d image whose rows are its last axis, C order: what astropy's
/// flattening samples. A 0-d array is one pixel.
pub(crate) fn flatten_2d(values: ArrayD<f32>) -> PyResult<Array2<f32>> {
    let cols = values.shape().last().copied().unwrap_or(1);
    let rows = values.len().checked_div(cols).unwrap_or(0);
    let values = values.as_standard_layout().into_owned();
    values
        .into_shape_with_order((rows, cols))
        .map_err(|e| PyValueError::new_err(format!("data: {e}")))
        .map(|a| a.into_dimensionality::<Ix2>().expect("2-d"))
}
