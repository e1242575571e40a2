//! `Catalog`: the frames of a folder, by night and kind, from Python.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use eloy::fits::{FrameMeta, NightRule, NightSummary, ScanOptions};

use crate::convert::Failure;

/// A JSON value (from a serde serialization) as plain Python objects.
pub(crate) fn json_to_python<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => PyList::new(
            py,
            items
                .iter()
                .map(|v| json_to_python(py, v))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_python(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// One frame as a dict: every field of eloy's `FrameMeta` (fields added to it later appear
/// too), with Python types where they help: `path` str, `kind` "bias"/"dark"/"flat"/"light"
/// or None, `date_obs` a UTC `datetime`, `night` a `date`, `shape` `(rows, columns)`,
/// `binning` "1x1".
fn frame_to_dict<'py>(py: Python<'py>, frame: &FrameMeta) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("path", frame.path.to_string_lossy())?;
    dict.set_item("kind", frame.kind.map(eloy::fits::FrameKind::name))?;
    dict.set_item("night", frame.night)?;
    dict.set_item("date_obs", frame.date_obs)?;
    dict.set_item("exposure", frame.exposure)?;
    dict.set_item("filter", frame.filter.as_deref())?;
    dict.set_item("shape", frame.shape)?;
    dict.set_item("binning", frame.binning.to_string())?;
    if let serde_json::Value::Object(map) = to_json(frame)? {
        for (key, value) in &map {
            if !dict.contains(key)? {
                dict.set_item(key, json_to_python(py, value)?)?;
            }
        }
    }
    Ok(dict)
}

/// One night of the summary as a dict.
fn night_to_dict<'py>(py: Python<'py>, night: &NightSummary) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("night", night.night)?;
    let exposures = PyDict::new(py);
    for (kind, list) in &night.exposures {
        exposures.set_item(kind.name(), list)?;
    }
    dict.set_item("exposures", exposures)?;
    dict.set_item("filters", night.filters.iter().collect::<Vec<_>>())?;
    let shapes = PyList::empty(py);
    for (shape, binning) in &night.shapes {
        let entry = PyDict::new(py);
        entry.set_item("shape", *shape)?;
        entry.set_item("binning", binning.to_string())?;
        shapes.append(entry)?;
    }
    dict.set_item("shapes", shapes)?;
    if let serde_json::Value::Object(map) = to_json(night)? {
        for (key, value) in &map {
            if !dict.contains(key)? {
                dict.set_item(key, json_to_python(py, value)?)?;
            }
        }
    }
    Ok(dict)
}

/// The FITS frames under a folder: what each is (kind, night, exposure, filter, camera
/// state), read from headers in parallel, with the files that could not be read.
///
/// ``Catalog(path)`` walks ``path`` recursively and reads the header of every FITS-named
/// file (``.fits``, ``.fit``, ``.fts``, ``.fz``, with or without ``.gz``). A frame's kind
/// comes from ``IMAGETYP`` (or ``OBSTYPE``, ``FRAMETYP``), else its folder's name
/// (``Bias/``, ``Darks/``...), else its file name. Its night is the local date at the
/// start of the night: nights split at local noon, from the site longitude in the header
/// or ``longitude``, else ``utc_offset``.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The folder to scan.
/// longitude : float or None
///     Site longitude in degrees east, overriding the headers'.
/// utc_offset : float
///     Local time minus UTC in hours, for frames whose headers give no longitude
///     (default 0: nights split at 12:00 UTC).
/// exclude : iterable of str or os.PathLike
///     Folders not to scan (an output folder inside ``path``).
///
/// Raises
/// ------
/// OSError
///     ``path`` itself cannot be read. Unreadable files are listed in ``failures``.
#[pyclass(module = "eloy_rs", frozen)]
pub(crate) struct Catalog {
    inner: eloy::fits::Catalog,
}

#[pymethods]
impl Catalog {
    #[new]
    #[pyo3(signature = (path, *, longitude=None, utc_offset=0.0, exclude=Vec::new()))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        longitude: Option<f64>,
        utc_offset: f64,
        exclude: Vec<PathBuf>,
    ) -> PyResult<Catalog> {
        let options = ScanOptions {
            night_rule: NightRule {
                longitude,
                utc_offset_hours: utc_offset,
            },
            exclude,
            ..ScanOptions::default()
        };
        let inner = py.detach(move || {
            eloy::fits::Catalog::scan_with(&path, &options).map_err(Failure::from)
        })?;
        Ok(Catalog { inner })
    }

    /// The folder scanned.
    #[getter]
    fn root(&self) -> String {
        self.inner.root.to_string_lossy().into_owned()
    }

    /// The frames, sorted by path, as a list of dicts (one per frame; pandas-free).
    ///
    /// Keys: ``path``, ``kind`` ("bias", "dark", "flat", "light" or None), ``night``
    /// (``datetime.date`` or None), ``date_obs`` (UTC ``datetime`` or None), ``exposure``
    /// (seconds or None), ``filter``, ``shape`` ``(rows, columns)``, ``binning`` ("1x1"),
    /// and the camera state eloy reads: ``ccd_temp``, ``instrument``, ``bitpix``; also
    /// ``object``, ``site_longitude``, ``kind_source`` (how the kind was found) and
    /// ``processed`` (why a frame is a master or already calibrated, else None).
    #[getter]
    fn frames<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .inner
            .frames
            .iter()
            .map(|f| frame_to_dict(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// Files (and folders) that could not be read, as dicts ``{"path", "error"}``.
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for failure in &self.inner.failures {
            let dict = PyDict::new(py);
            dict.set_item("path", failure.path.to_string_lossy())?;
            dict.set_item("error", &failure.error)?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The frames as a list of dicts: the same as ``frames``.
    fn to_dicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.frames(py)
    }

    /// The light frames (masters and already calibrated frames left out), in observation
    /// order, as dicts.
    fn lights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .inner
            .lights()
            .into_iter()
            .map(|f| frame_to_dict(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// The calibration frames of a light, as eloy's planner matches them with its default
    /// rules (same camera state, the same night or else the nearest one; flats of the
    /// same filter and night): the frames of each master its recipe uses, by kind.
    ///
    /// Parameters
    /// ----------
    /// light : str, os.PathLike or dict
    ///     The light frame's path, or its dict from ``frames``.
    ///
    /// Returns
    /// -------
    /// dict
    ///     ``{"bias": [paths], "dark": [paths], "flat": [paths]}`` (and ``"darkflat"``
    ///     when its flats get dark flats); an empty list where eloy's default stands in.
    ///
    /// Raises
    /// ------
    /// KeyError
    ///     The frame is not a light of this catalog with a recipe.
    fn calibration_for<'py>(
        &self,
        py: Python<'py>,
        light: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        use eloy::calib::{Library, MasterSource, Rules};
        let path: PathBuf = match light.cast::<PyDict>() {
            Ok(dict) => dict
                .get_item("path")?
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err("path"))?
                .extract()?,
            Err(_) => light.extract()?,
        };
        let plan =
            py.detach(|| eloy::calib::plan(&self.inner, &Rules::default(), &Library::default()));
        let recipe = plan
            .recipes
            .iter()
            .find(|r| r.frame == path)
            .ok_or_else(|| {
                pyo3::exceptions::PyKeyError::new_err(format!(
                    "{}: not a light of this catalog with a recipe",
                    path.display()
                ))
            })?;
        let dict = PyDict::new(py);
        for kind in ["bias", "dark", "flat"] {
            dict.set_item(kind, PyList::empty(py))?;
        }
        // The light's masters, and the masters those are made with (a flat's dark flat).
        let mut ids: Vec<&eloy::calib::MasterId> = recipe.masters();
        let mut i = 0;
        while i < ids.len() {
            if let Some(master) = plan.master(ids[i]) {
                for used in master.uses() {
                    if !ids.contains(&used) {
                        ids.push(used);
                    }
                }
            }
            i += 1;
        }
        for id in ids {
            let Some(master) = plan.master(id) else {
                continue;
            };
            let frames: Vec<String> = match &master.source {
                MasterSource::Frames { inputs } => inputs
                    .iter()
                    .map(|i| i.frame.to_string_lossy().into_owned())
                    .collect(),
                MasterSource::Library { path, .. } => vec![path.to_string_lossy().into_owned()],
                // a synthetic bias level: no frame
                MasterSource::Constant { .. } => Vec::new(),
            };
            let key = master.kind.name();
            if !dict.contains(key)?
                || dict
                    .get_item(key)?
                    .is_some_and(|l| l.len().is_ok_and(|n| n == 0))
            {
                dict.set_item(key, frames)?;
            }
        }
        Ok(dict)
    }

    /// The summary table, one dict per night: counts of ``light``, ``bias``, ``dark``,
    /// ``flat``, ``unknown`` and ``processed`` frames, the distinct ``exposures`` of each
    /// kind, the ``filters``, the ``shapes`` with their binning. ``str(catalog)`` prints
    /// it as ``eloy summary`` does.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .inner
            .summary()
            .nights
            .iter()
            .map(|n| night_to_dict(py, n))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// The frames as an astropy ``Table``, one row per frame (columns as the keys of
    /// ``frames``; missing values masked).
    ///
    /// Raises
    /// ------
    /// ImportError
    ///     astropy is not installed (``pip install astropy``).
    fn to_table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rows = self.frames(py)?;
        py.import("eloy_rs._table")?
            .call_method1("frames_table", (rows,))
    }

    fn __len__(&self) -> usize {
        self.inner.frames.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.frames(py)?.try_iter()?.into_any())
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyDict>> {
        let n = self.inner.frames.len();
        let i = if index < 0 {
            index.checked_add_unsigned(n)
        } else {
            Some(index)
        };
        match i.and_then(|i| usize::try_from(i).ok()).filter(|&i| i < n) {
            Some(i) => frame_to_dict(py, &self.inner.frames[i]),
            None => Err(pyo3::exceptions::PyIndexError::new_err(
                "catalog index out of range",
            )),
        }
    }

    fn __str__(&self) -> String {
        self.inner.summary().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<eloy_rs.Catalog of {}: {} frames, {} failures>",
            self.inner.root.display(),
            self.inner.frames.len(),
            self.inner.failures.len()
        )
    }

    /// The catalog as JSON (eloy's serialization, as ``eloy summary --json`` reads
    /// frames), for saving or sending to other processes.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Pickling support: the catalog travels as its JSON.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let json = slf.get().to_json()?;
        let from_json = py
            .import("eloy_rs")?
            .getattr("Catalog")?
            .getattr("from_json")?;
        PyTuple::new(py, [from_json, PyTuple::new(py, [json])?.into_any()])
    }

    /// A catalog from ``to_json``'s text, without scanning.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Catalog> {
        let inner = serde_json::from_str(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Catalog { inner })
    }
}
