//! `stack`: eloy-stack's streaming combine from Python.

use std::path::PathBuf;

use ndarray::Array2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use eloy::fits::Reader;
use eloy::stack::{BandSource, Center, Combine, DEFAULT_MEMORY_BUDGET, InMemory, Rejection};

use crate::convert::{self, Failure};

/// One input of a stack: a file streamed in bands, or an array copied from Python.
enum Input {
    File(PathBuf),
    Array(Array2<f32>),
}

/// What to compute, from `stack`'s arguments.
#[allow(clippy::too_many_arguments)]
fn combine(
    method: &str,
    rejection: Option<&str>,
    memory: usize,
    sigma: f64,
    sigma_lower: Option<f64>,
    sigma_upper: Option<f64>,
    maxiters: Option<u32>,
    cenfunc: &str,
    nlow: usize,
    nhigh: usize,
) -> PyResult<Combine> {
    let combine = match method {
        "median" => Combine::median(),
        "mean" => Combine::mean(),
        "sum" => Combine::sum(),
        other => {
            return Err(PyValueError::new_err(format!(
                "method {other:?}: \"median\", \"mean\" or \"sum\""
            )));
        }
    };
    let rejection = match rejection {
        None | Some("none") => Rejection::None,
        Some("sigma_clip") => Rejection::SigmaClip {
            low: sigma_lower.unwrap_or(sigma),
            high: sigma_upper.unwrap_or(sigma),
            // astropy's maxiters=None: until nothing changes.
            max_iters: maxiters.unwrap_or(u32::MAX),
            center: match cenfunc {
                "median" => Center::Median,
                "mean" => Center::Mean,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "cenfunc {other:?}: \"median\" or \"mean\""
                    )));
                }
            },
        },
        Some("minmax") => Rejection::MinMax {
            low: nlow,
            high: nhigh,
        },
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "rejection {other:?}: None, \"sigma_clip\" or \"minmax\""
            )));
        }
    };
    Ok(combine.rejection(rejection).memory_budget(memory))
}

/// Combine frames pixel by pixel: median, mean or sum, after an optional rejection.
///
/// eloy-stack's streaming combine: files are read in bands of rows into one buffer of at
/// most ``memory`` bytes, so memory does not grow with the number of frames; each band is
/// combined on all cores. NaN is "no value" and skipped (``numpy.nanmedian``,
/// ``nanmean``); a pixel left with no value is NaN. Results are the same for every thread
/// count and memory budget.
///
/// Parameters
/// ----------
/// files : iterable of str, os.PathLike or array-like
///     The frames: FITS files (streamed) or 2-d arrays (any real dtype), all of one shape.
/// method : str
///     ``"median"`` (default; mean of the two middle values for an even count),
///     ``"mean"`` or ``"sum"``.
/// rejection : str or None
///     ``None`` (default), ``"sigma_clip"`` (astropy's ``sigma_clip`` along the frames:
///     centre ``cenfunc``, population standard deviation, bounds ``sigma_lower`` and
///     ``sigma_upper``, ``maxiters`` rounds) or ``"minmax"`` (IRAF: the ``nlow`` lowest and
///     ``nhigh`` highest values of each pixel dropped).
/// memory : int
///     Memory budget of the combine in bytes (default 256 MiB).
/// sigma : float
///     Clipping bound in standard deviations on both sides (default 3, astropy's).
/// sigma_lower, sigma_upper : float or None
///     Lower and upper bounds when they differ (default ``sigma``).
/// maxiters : int or None
///     Most clipping rounds (default 5, astropy's; None: until nothing changes).
/// cenfunc : str
///     ``"median"`` (default, astropy's) or ``"mean"``.
/// nlow, nhigh : int
///     Values dropped by ``"minmax"`` (default 1 and 1).
///
/// Returns
/// -------
/// numpy.ndarray
///     The combined image, float32.
///
/// Raises
/// ------
/// ValueError
///     No frames, frames of different shapes, a budget too small for one row, bad
///     options.
/// OSError
///     A file cannot be read.
#[pyfunction]
#[pyo3(signature = (files, method="median", rejection=None, memory=DEFAULT_MEMORY_BUDGET, *, sigma=3.0, sigma_lower=None, sigma_upper=None, maxiters=Some(5), cenfunc="median", nlow=1, nhigh=1))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn stack<'py>(
    py: Python<'py>,
    files: Bound<'py, PyAny>,
    method: &str,
    rejection: Option<&str>,
    memory: usize,
    sigma: f64,
    sigma_lower: Option<f64>,
    sigma_upper: Option<f64>,
    maxiters: Option<u32>,
    cenfunc: &str,
    nlow: usize,
    nhigh: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let combine = combine(
        method,
        rejection,
        memory,
        sigma,
        sigma_lower,
        sigma_upper,
        maxiters,
        cenfunc,
        nlow,
        nhigh,
    )?;
    let inputs: Vec<Input> = convert::items(&files)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.extract::<PathBuf>().is_ok() {
                convert::path(item).map(Input::File)
            } else {
                convert::image::<f32>(item, &format!("frame {i}")).map(Input::Array)
            }
        })
        .collect::<PyResult<_>>()?;
    let image = py.detach(move || -> Result<Array2<f32>, Failure> {
        let sources: Vec<Box<dyn BandSource + '_>> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| -> Result<Box<dyn BandSource + '_>, Failure> {
                Ok(match input {
                    Input::File(path) => Box::new(Reader::open(path)?),
                    Input::Array(a) => {
                        Box::new(InMemory::new(a.view()).named(format!("frame {i}")))
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(combine.run(sources)?.image)
    })?;
    Ok(convert::to_numpy_f32(py, image).into_any())
}
