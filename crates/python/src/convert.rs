//! Conversions between Python and eloy: numpy arrays of any real dtype and byte order,
//! header dictionaries, errors.

use std::path::PathBuf;

use ndarray::{Array2, ArrayD, Ix2, IxDyn};
use numpy::prelude::*;
use numpy::{AllowTypeChange, Element, PyArray2, PyArrayLikeDyn, PyUntypedArray};
use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyKeyError, PyOSError,
    PyPermissionError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyDict, PyList, PyString};

use eloy::fits::{Card, Header, Value};

/// Why a call failed, gathered while detached from the interpreter and turned into a Python
/// exception once attached again.
#[derive(Debug)]
pub(crate) enum Failure {
    Fits(eloy::fits::Error),
    Stack(eloy::stack::Error),
    Calib(eloy::calib::Error),
    Viz(eloy::viz::Error),
    /// A bad argument: `ValueError`.
    Value(String),
    /// A missing header keyword: `KeyError`.
    Key(String),
}

impl From<eloy::fits::Error> for Failure {
    fn from(e: eloy::fits::Error) -> Self {
        Failure::Fits(e)
    }
}

impl From<eloy::stack::Error> for Failure {
    fn from(e: eloy::stack::Error) -> Self {
        Failure::Stack(e)
    }
}

impl From<eloy::calib::Error> for Failure {
    fn from(e: eloy::calib::Error) -> Self {
        Failure::Calib(e)
    }
}

impl From<eloy::viz::Error> for Failure {
    fn from(e: eloy::viz::Error) -> Self {
        Failure::Viz(e)
    }
}

/// An I/O error as the `OSError` subclass Python raises for it, with eloy's message (which
/// names the file).
fn io_error(kind: std::io::ErrorKind, message: String) -> PyErr {
    use std::io::ErrorKind;
    match kind {
        ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
        ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
        ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

fn fits_error(e: &eloy::fits::Error) -> PyErr {
    use eloy::fits::Error;
    let message = e.to_string();
    match e {
        Error::Io { source, .. } | Error::Scan { source, .. } => io_error(source.kind(), message),
        Error::AlreadyExists { .. } => PyFileExistsError::new_err(message),
        Error::MissingKeyword { .. } => PyKeyError::new_err(message),
        // Not FITS, truncated, corrupt, no 2-D image...: astropy raises OSError too.
        _ => PyOSError::new_err(message),
    }
}

fn stack_error(e: &eloy::stack::Error) -> PyErr {
    use eloy::stack::Error;
    match e {
        Error::Fits(inner) => fits_error(inner),
        Error::Source { .. } | Error::Sink(_) => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn calib_error(e: &eloy::calib::Error) -> PyErr {
    use eloy::calib::Error;
    match e {
        Error::Fits(inner) => fits_error(inner),
        Error::Stack(inner) => stack_error(inner),
        Error::Folder { source, .. } => io_error(source.kind(), e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Fits(e) => fits_error(&e),
            Failure::Stack(e) => stack_error(&e),
            Failure::Calib(e) => calib_error(&e),
            Failure::Viz(e) => PyValueError::new_err(e.to_string()),
            Failure::Value(message) => PyValueError::new_err(message),
            Failure::Key(message) => PyKeyError::new_err(message),
        }
    }
}

/// Refuses arrays whose dtype is not a real number type (complex, strings, objects,
/// dates): numpy would cast complex numbers to real ones with a warning only.
fn check_real(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        let dtype = array.dtype();
        if !matches!(dtype.kind(), b'b' | b'i' | b'u' | b'f') {
            return Err(PyTypeError::new_err(format!(
                "{what}: an array of real numbers is needed, not of dtype {dtype}"
            )));
        }
    }
    Ok(())
}

/// Any array-like of real numbers (numpy array of any real dtype and byte order, nested
/// lists, scalars) as an owned array of `T`, converted by numpy's casting rules.
///
/// The copy is owned so that the computation can run with the interpreter detached:
/// another Python thread may then write to the caller's array without a data race.
pub(crate) fn array<T: Element + Copy + for<'py> FromPyObjectOwned<'py>>(
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<ArrayD<T>> {
    check_real(obj, what)?;
    let like: PyArrayLikeDyn<'_, T, AllowTypeChange> = obj.extract().map_err(|e: PyErr| {
        PyTypeError::new_err(format!(
            "{what}: not an array of real numbers ({})",
            e.value(obj.py())
        ))
    })?;
    Ok(like.as_array().to_owned())
}

/// A 2-D image (rows, columns) from any array-like of real numbers, as `T`.
pub(crate) fn image<T: Element + Copy + for<'py> FromPyObjectOwned<'py>>(
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<Array2<T>> {
    let data = array::<T>(obj, what)?;
    let ndim = data.ndim();
    data.into_dimensionality::<Ix2>().map_err(|_| {
        PyValueError::new_err(format!(
            "{what}: a 2-d image is needed, this array has {ndim} dimension(s)"
        ))
    })
}

/// A float32 image as a new numpy array (no copy).
pub(crate) fn to_numpy_f32(py: Python<'_>, data: Array2<f32>) -> Bound<'_, PyArray2<f32>> {
    PyArray2::from_owned_array(py, data)
}

/// A float32 image widened to float64 (exact), as a new numpy array.
pub(crate) fn to_numpy_f64(py: Python<'_>, data: Array2<f32>) -> Bound<'_, PyArray2<f64>> {
    let wide = py.detach(move || data.mapv(f64::from));
    PyArray2::from_owned_array(py, wide)
}

/// A master or other operand of a calibration as Python eloy accepts it: anything that
/// broadcasts against the image, among them eloy's 1-element "no master" arrays.
pub(crate) enum Operand {
    /// A single value everywhere (a scalar or an array of one element).
    Constant(f32),
    /// An array to broadcast against the image.
    Array(ArrayD<f32>),
}

impl Operand {
    /// Reads an operand; `None` (Python `None`) is the constant `default`.
    pub(crate) fn extract(
        obj: Option<&Bound<'_, PyAny>>,
        default: f32,
        what: &str,
    ) -> PyResult<Operand> {
        let Some(obj) = obj else {
            return Ok(Operand::Constant(default));
        };
        if obj.is_none() {
            return Ok(Operand::Constant(default));
        }
        let data = array::<f32>(obj, what)?;
        if data.len() == 1 {
            let value = *data.iter().next().expect("one element");
            return Ok(Operand::Constant(value));
        }
        Ok(Operand::Array(data))
    }

    /// The operand for an image of `shape`: `None` when it is the constant `neutral` (0 to
    /// subtract, 1 to divide by: nothing to do, the calibration's missing master), else an
    /// image of that shape (a broadcast copy).
    ///
    /// # Errors
    /// A message like numpy's when the operand does not broadcast to `shape`.
    pub(crate) fn resolve(
        &self,
        shape: (usize, usize),
        neutral: f32,
        what: &str,
    ) -> Result<Option<Array2<f32>>, Failure> {
        match self {
            Operand::Constant(v) if v.to_bits() == neutral.to_bits() => Ok(None),
            Operand::Constant(v) => Ok(Some(Array2::from_elem(shape, *v))),
            Operand::Array(data) => {
                let broadcast = data.broadcast(IxDyn(&[shape.0, shape.1])).ok_or_else(|| {
                    Failure::Value(format!(
                        "{what} of shape {:?} does not broadcast to the image's shape {:?}",
                        data.shape(),
                        shape
                    ))
                })?;
                let image = broadcast
                    .into_dimensionality::<Ix2>()
                    .expect("broadcast to two dimensions")
                    .to_owned();
                Ok(Some(image))
            }
        }
    }
}

/// A file path from `str`, `bytes` or any `os.PathLike`.
pub(crate) fn path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>().map_err(|_| {
        PyTypeError::new_err(format!(
            "a file path (str or os.PathLike) is needed, not {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string())
        ))
    })
}

/// The items of any iterable, as a list of Python objects.
pub(crate) fn items<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    obj.try_iter()?.collect()
}

/// One header value as a Python object: bool, int, float, complex, str or `None`.
fn value_to_python<'py>(py: Python<'py>, value: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Logical(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        Value::Real(x) => x.into_pyobject(py)?.into_any(),
        Value::Complex(re, im) => PyComplex::from_doubles(py, re, im).into_any(),
        Value::Text(s) => PyString::new(py, &s).into_any(),
        _ => py.None().into_bound(py),
    })
}

/// Commentary keywords whose cards are gathered into lists of text.
fn is_commentary(key: &str) -> bool {
    matches!(key, "HISTORY" | "COMMENT" | "")
}

/// A header as a dict: keyword -> value in file order (bool, int, float, complex, str, or
/// None for an undefined value); a repeated keyword keeps its first value, as astropy's
/// and cfitsio's look-ups do; `HISTORY`, `COMMENT` and blank-keyword cards become lists of
/// their texts.
pub(crate) fn header_to_dict<'py>(
    py: Python<'py>,
    header: &Header,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for card in header.cards() {
        let key = card.keyword();
        if is_commentary(key) || card.is_commentary() {
            let text = card.text().unwrap_or_default();
            match dict.get_item(key)? {
                Some(list) => list.cast::<PyList>()?.append(text)?,
                None => dict.set_item(key, PyList::new(py, [text])?)?,
            }
            continue;
        }
        if key == "END" || key == "CONTINUE" || dict.contains(key)? {
            continue;
        }
        // Header::value joins a string continued over CONTINUE cards.
        let value = header.value(key).unwrap_or(Value::Undefined);
        dict.set_item(key, value_to_python(py, value)?)?;
    }
    Ok(dict)
}

/// One Python value as a header value.
fn value_from_python(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Undefined);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Logical(b.is_true()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::Text(s.to_cow()?.into_owned()));
    }
    if let Ok(c) = value.cast::<PyComplex>() {
        return Ok(Value::Complex(c.real(), c.imag()));
    }
    // Python and numpy integers (numpy.bool_ and numpy.floating have no __index__).
    if value.hasattr("__index__")? {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::Integer(i));
        }
    }
    if let Ok(b) = value.extract::<bool>() {
        return Ok(Value::Logical(b));
    }
    if let Ok(x) = value.extract::<f64>() {
        return Ok(Value::Real(x));
    }
    // astropy.io.fits.card.Undefined
    if value.get_type().name()?.to_cow()? == "Undefined" {
        return Ok(Value::Undefined);
    }
    Err(PyTypeError::new_err(format!(
        "header keyword {key}: value {} cannot be written in a FITS header",
        value.repr()?
    )))
}

/// A header from any mapping with `items()`: a dict (as [`header_to_dict`] makes), an
/// astropy `Header`, or `None` for an empty header. `HISTORY`, `COMMENT` and blank keywords
/// take a string or a list of strings, one card each.
pub(crate) fn header_from_python(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Header> {
    let mut header = Header::new();
    let Some(obj) = obj else {
        return Ok(header);
    };
    if obj.is_none() {
        return Ok(header);
    }
    let pairs = obj.call_method0("items").map_err(|_| {
        PyTypeError::new_err(
            "header: a dict or an astropy Header (anything with items()) is needed",
        )
    })?;
    for pair in pairs.try_iter()? {
        let (key, value): (String, Bound<'_, PyAny>) = pair?.extract()?;
        let key = key.trim().to_ascii_uppercase();
        if is_commentary(&key) {
            let texts: Vec<String> = if value.is_instance_of::<PyString>() {
                vec![value.extract()?]
            } else if value.is_instance_of::<PyList>() || value.hasattr("__iter__")? {
                value
                    .try_iter()?
                    .map(|t| t.and_then(|t| t.str().map(|s| s.to_string())))
                    .collect::<PyResult<_>>()?
            } else {
                vec![value.str()?.to_string()]
            };
            for text in texts {
                match key.as_str() {
                    "HISTORY" => header.push_history(&text),
                    "COMMENT" => header.push_comment(&text),
                    _ => header.push(Card::commentary(&key, &text)),
                }
            }
            continue;
        }
        let value = value_from_python(&key, &value)?;
        header.set(&key, value, "");
    }
    Ok(header)
}
