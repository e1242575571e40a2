//! A night's reduction from Python: eloy-calib's [`Plan`](eloy::calib::Plan) (what every
//! frame gets, decided from headers) and its engine ([`Reduction`]), as the command line
//! runs them; sub-plans of one master or of a few lights for Dask tasks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use std::sync::Arc;

use eloy::calib::{
    Batch, CalibrateOptions, Event, ExposureMatch, InvalidPixels, Job, Library, Master,
    MasterEvent, MasterId, MasterOptions, MasterSet, MasterSource, Outcome, Progress, Reduction,
    ReductionReport, Rules,
};
use eloy::fits::{Catalog, ExposureKey, NightRule, Precision, ScanOptions};
use eloy::stack::{Center, Combine, NanPolicy, Rejection};

use crate::catalog::json_to_python;
use crate::convert::Failure;

fn to_python<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    json_to_python(py, &json)
}

/// What a night's reduction will do, decided from the headers alone: the masters to build
/// (each with its frames and the steps they get), a recipe per light (its ordered steps,
/// the masters they use, its output), and the decisions behind them, with reasons.
///
/// Made by :func:`eloy_rs.plan`; run by :func:`eloy_rs.calibrate_night` (on this machine
/// or on a Dask cluster). It is eloy's ``Plan``, as ``eloy calibrate --dry-run --json``
/// prints it: ``to_json()`` gives that text, and a plan pickles as it.
#[pyclass(module = "eloy_rs", frozen)]
pub(crate) struct Plan {
    pub(crate) inner: eloy::calib::Plan,
    /// Files of the scanned folder that could not be read (not part of eloy's plan, nor of
    /// its JSON).
    pub(crate) unreadable: Vec<eloy::fits::ScanFailure>,
}

impl Plan {
    fn new(inner: eloy::calib::Plan) -> Plan {
        Plan {
            inner,
            unreadable: Vec::new(),
        }
    }
}

/// Master ids of the plan built from frames (not taken from a library): the ones a run
/// builds into `OUT/masters/`.
fn built_here(plan: &eloy::calib::Plan, id: &MasterId) -> bool {
    plan.master(id)
        .is_some_and(|m| matches!(m.source, MasterSource::Frames { .. }))
}

/// `master` as a plan entry that loads the file a run saved it to (`OUT/masters/<id>.fits`)
/// rather than building it; a library master stays as it is.
fn saved(master: &eloy::calib::MasterPlan, out: &Path) -> eloy::calib::MasterPlan {
    let mut entry = master.clone();
    if let MasterSource::Frames { inputs } = &master.source {
        entry.source = MasterSource::Library {
            path: out.join(master.file()),
            frames: Some(inputs.len()),
            normalize: false,
        };
    }
    entry
}

#[pymethods]
impl Plan {
    /// The plan as JSON (eloy's serialization, as ``eloy calibrate --dry-run --json``).
    #[pyo3(signature = (indent=false))]
    fn to_json(&self, indent: bool) -> PyResult<String> {
        let text = if indent {
            serde_json::to_string_pretty(&self.inner)
        } else {
            serde_json::to_string(&self.inner)
        };
        text.map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A plan from ``to_json``'s text.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Plan> {
        let inner = serde_json::from_str(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Plan::new(inner))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let json = slf.get().to_json(false)?;
        let from_json = py
            .import("eloy_rs")?
            .getattr("Plan")?
            .getattr("from_json")?;
        PyTuple::new(py, [from_json, PyTuple::new(py, [json])?.into_any()])
    }

    /// The masters to build or load, in build order, as dicts (``id``, ``kind``,
    /// ``night``, ``shape``, ``filter``, ``source`` with the input frames and their steps).
    #[getter]
    fn masters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.masters)
    }

    /// One recipe per light that can be calibrated, as dicts (``frame``, ``output``,
    /// ``group``, ``exposure``, ``shape``, ``steps``).
    #[getter]
    fn recipes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.recipes)
    }

    /// The groups of lights sharing their masters, with the decisions taken for each.
    #[getter]
    fn groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.groups)
    }

    /// Files of the folder that could not be read when it was scanned (``path``,
    /// ``error``); empty for a plan made from JSON.
    #[getter]
    fn unreadable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.unreadable)
    }

    /// Lights that cannot be calibrated, with why (``frame``, ``why``).
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.failures)
    }

    /// Every decision of the plan (the groups' and those about frames left unused), each
    /// a dict with ``decision`` = ``uses``, ``default``, ``not_corrected``, ``unused`` or
    /// ``left_out`` and its reasons.
    #[getter]
    fn decisions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let all: Vec<_> = self.inner.all_decisions().collect();
        to_python(py, &all)
    }

    /// Each light with its formula: ``[(light, "(raw - (dark * 30 s + bias)) / flat"), ...]``.
    fn formulas(&self) -> Vec<(String, String)> {
        self.inner
            .recipes
            .iter()
            .map(|r| {
                (
                    r.frame.to_string_lossy().into_owned(),
                    eloy::calib::formula(&r.steps),
                )
            })
            .collect()
    }

    /// The ids of the masters built from frames (in build order), which a run saves as
    /// ``OUT/masters/<id>.fits``.
    fn built_masters(&self) -> Vec<String> {
        self.inner
            .masters
            .iter()
            .filter(|m| matches!(m.source, MasterSource::Frames { .. }))
            .map(|m| m.id.0.clone())
            .collect()
    }

    /// The masters built from frames that master ``id``'s inputs use (a dark rate uses
    /// its bias).
    fn master_uses(&self, id: &str) -> PyResult<Vec<String>> {
        let id = MasterId::from(id);
        let master = self
            .inner
            .master(&id)
            .ok_or_else(|| PyKeyError::new_err(format!("no master {id} in the plan")))?;
        Ok(master
            .uses()
            .into_iter()
            .filter(|d| built_here(&self.inner, d))
            .map(|d| d.0.clone())
            .collect())
    }

    /// The masters built from frames that recipe ``index`` uses.
    fn recipe_uses(&self, index: usize) -> PyResult<Vec<String>> {
        let recipe = self
            .inner
            .recipes
            .get(index)
            .ok_or_else(|| PyKeyError::new_err(format!("no recipe {index}")))?;
        Ok(recipe
            .masters()
            .into_iter()
            .filter(|d| built_here(&self.inner, d))
            .map(|d| d.0.clone())
            .collect())
    }

    /// The plan of one master alone, for a task: the masters it uses are loaded from
    /// ``OUT/masters/`` (where their own tasks saved them), the master is built (or reused
    /// when saved from the same frames) exactly as a whole run would.
    fn master_task(&self, id: &str, out: PathBuf) -> PyResult<Plan> {
        let id = MasterId::from(id);
        let master = self
            .inner
            .master(&id)
            .ok_or_else(|| PyKeyError::new_err(format!("no master {id} in the plan")))?;
        let mut masters: Vec<_> = master
            .uses()
            .into_iter()
            .filter_map(|d| self.inner.master(d))
            .map(|d| saved(d, &out))
            .collect();
        masters.push(master.clone());
        Ok(Plan::new(eloy::calib::Plan {
            options: self.inner.options.clone(),
            masters,
            ..Default::default()
        }))
    }

    /// The plan of a few lights of one group, for a task: their recipes, with the masters
    /// they use loaded from ``OUT/masters/`` (or the library) rather than built.
    ///
    /// Raises ``ValueError`` when the recipes are of several groups.
    fn lights_task(&self, recipes: Vec<usize>, out: PathBuf) -> PyResult<Plan> {
        let chosen = recipes
            .iter()
            .map(|&i| {
                self.inner
                    .recipes
                    .get(i)
                    .ok_or_else(|| PyKeyError::new_err(format!("no recipe {i}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let groups: BTreeSet<usize> = chosen.iter().map(|r| r.group).collect();
        if groups.len() > 1 {
            return Err(PyValueError::new_err(
                "the lights of a task must be of one group",
            ));
        }
        let Some(&group) = groups.iter().next() else {
            return Ok(Plan::new(eloy::calib::Plan {
                options: self.inner.options.clone(),
                ..Default::default()
            }));
        };
        let ids: BTreeSet<&MasterId> = chosen.iter().flat_map(|r| r.masters()).collect();
        let masters = self
            .inner
            .masters
            .iter()
            .filter(|m| ids.contains(&m.id))
            .map(|m| saved(m, &out))
            .collect();
        let recipes = chosen
            .into_iter()
            .map(|r| {
                let mut r = r.clone();
                r.group = 0;
                r
            })
            .collect();
        Ok(Plan::new(eloy::calib::Plan {
            options: self.inner.options.clone(),
            masters,
            groups: vec![self.inner.groups[group].clone()],
            recipes,
            ..Default::default()
        }))
    }

    /// The number of lights with a recipe.
    fn __len__(&self) -> usize {
        self.inner.recipes.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<eloy_rs.Plan: {} masters, {} lights in {} groups, {} lights failed>",
            self.inner.masters.len(),
            self.inner.recipes.len(),
            self.inner.groups.len(),
            self.inner.failures.len()
        )
    }
}

/// How masters are combined, from the command line's options.
fn master_options(
    method: &str,
    sigma_clip: Option<(f64, u32, &str)>,
    minmax: Option<(usize, usize)>,
    memory: usize,
    flat_mean_propagates_nan: bool,
    exposure_key: &str,
) -> PyResult<MasterOptions> {
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
    let rejection = match (sigma_clip, minmax) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "sigma_clip and minmax cannot be used together",
            ));
        }
        (Some((sigma, rounds, center)), None) => Rejection::SigmaClip {
            low: sigma,
            high: sigma,
            max_iters: rounds,
            center: match center {
                "median" => Center::Median,
                "mean" => Center::Mean,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "sigma_center {other:?}: \"median\" or \"mean\""
                    )));
                }
            },
        },
        (None, Some((low, high))) => Rejection::MinMax { low, high },
        (None, None) => Rejection::None,
    };
    Ok(MasterOptions {
        combine: combine
            .rejection(rejection)
            .memory_budget(memory.saturating_mul(1 << 20)),
        exposure_key: exposure_key.to_owned(),
        flat_mean: if flat_mean_propagates_nan {
            NanPolicy::Propagate
        } else {
            NanPolicy::Skip
        },
    })
}

/// The CCD options of the planner (the command's overscan, trim, flat and saturation
/// options), onto `rules`.
#[allow(clippy::too_many_arguments)]
fn ccd_rules(
    rules: Rules,
    overscan: Option<&str>,
    overscan_order: usize,
    overscan_niterate: usize,
    overscan_reject: (f64, f64),
    overscan_axis: Option<&str>,
    trim: bool,
    biassec: Option<String>,
    trimsec: Option<String>,
    flat_normalization: &str,
    flat_region: Option<&str>,
    flat_minimum: Option<f32>,
    saturation: &Bound<'_, PyAny>,
    gain: Option<&Bound<'_, PyAny>>,
) -> PyResult<Rules> {
    use eloy::calib::{FitFunction, Gain, OverscanAxis, OverscanFit, OverscanMethod, Saturation};
    use eloy::stack::Normalization;
    let fit = |function| {
        OverscanMethod::Fit(OverscanFit {
            function,
            order: overscan_order,
            niterate: overscan_niterate,
            low_reject: overscan_reject.0,
            high_reject: overscan_reject.1,
            ..OverscanFit::default()
        })
    };
    let overscan = match overscan {
        None | Some("none") => None,
        Some("median") => Some(OverscanMethod::Median),
        Some("mean") => Some(OverscanMethod::Mean),
        Some("constant") => Some(OverscanMethod::Constant),
        Some("legendre") => Some(fit(FitFunction::Legendre)),
        Some("chebyshev") => Some(fit(FitFunction::Chebyshev)),
        Some("spline1") => Some(fit(FitFunction::Spline1)),
        Some("spline3") => Some(fit(FitFunction::Spline3)),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "overscan {other:?}: None, \"median\", \"mean\", \"constant\", \"legendre\", \"chebyshev\", \"spline1\" or \"spline3\""
            )));
        }
    };
    let overscan_axis = match overscan_axis {
        None => None,
        Some("rows") => Some(OverscanAxis::Rows),
        Some("columns") => Some(OverscanAxis::Columns),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "overscan_axis {other:?}: None, \"rows\" or \"columns\""
            )));
        }
    };
    let flat_normalization = match flat_normalization {
        "mean" => Normalization::Mean,
        "median" => Normalization::Median,
        "mode" => Normalization::Mode,
        "region" => {
            let text = flat_region.ok_or_else(|| {
                PyValueError::new_err("flat_normalization=\"region\" needs flat_region")
            })?;
            let section = eloy::fits::Section::parse(text, (usize::MAX / 2, usize::MAX / 2))
                .map_err(|e| PyValueError::new_err(format!("flat_region: {e}")))?;
            Normalization::RegionMean {
                rows: section.rows(),
                cols: section.cols(),
            }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "flat_normalization {other:?}: \"mean\", \"median\", \"mode\" or \"region\""
            )));
        }
    };
    let saturation = if saturation.is_none() {
        Saturation::Header
    } else if let Ok(text) = saturation.extract::<String>() {
        match text.trim() {
            "header" => Saturation::Header,
            "none" => Saturation::None,
            other => {
                return Err(PyValueError::new_err(format!(
                    "saturation {other:?}: \"header\", \"none\" or a positive level"
                )));
            }
        }
    } else {
        match saturation.extract::<f64>() {
            Ok(x) if x > 0.0 && x.is_finite() => Saturation::Level(x),
            _ => {
                return Err(PyValueError::new_err(
                    "saturation: \"header\", \"none\" or a positive level in ADU",
                ));
            }
        }
    };
    let gain = match gain.filter(|g| !g.is_none()) {
        None => Gain::None,
        Some(g) => match g.extract::<String>() {
            Ok(text) if text.trim() == "header" => Gain::Header,
            Ok(text) => {
                return Err(PyValueError::new_err(format!(
                    "gain {text:?}: None, \"header\" or a positive number of electrons per ADU"
                )));
            }
            Err(_) => match g.extract::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Gain::Given(x),
                _ => {
                    return Err(PyValueError::new_err(
                        "gain: None, \"header\" or a positive number of electrons per ADU",
                    ));
                }
            },
        },
    };
    Ok(Rules {
        overscan,
        overscan_axis,
        trim,
        biassec,
        trimsec,
        flat_normalization,
        flat_minimum,
        saturation,
        gain,
        ..rules
    })
}

/// The sensor options of the planner (the command's `--cosmetic`, `--hot-sigma`,
/// `--cold-sigma`, `--no-dead-pixels`, `--cosmetic-list`, `--pedestal`, `--bias-level`,
/// `--dark-scale` and `--equalize-cfa`), onto `rules`, with the command's checks.
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn sensor_rules(
    rules: Rules,
    cosmetic: Option<&Bound<'_, PyAny>>,
    hot_sigma: f64,
    cold_sigma: Option<f64>,
    dead_pixels: bool,
    cosmetic_list: Option<PathBuf>,
    pedestal: Option<f64>,
    bias_level: Option<&Bound<'_, PyAny>>,
    dark_scale: &str,
    equalize_cfa: bool,
) -> PyResult<Rules> {
    use eloy::calib::{
        BiasLevel, Cosmetic, CosmeticMode, DarkScale, DeadDetection, DefectDetection,
    };
    let expected_cosmetic = "cosmetic: None or False (off), \"replace\" or True (hot and cold pixels take their same-colour neighbours' values), or \"mask\" (they become invalid)";
    let mode = match cosmetic.filter(|c| !c.is_none()) {
        None => None,
        Some(c) => {
            if c.is_instance_of::<pyo3::types::PyBool>() {
                c.extract::<bool>()?.then_some(CosmeticMode::Replace)
            } else {
                match c.extract::<String>().as_deref() {
                    Ok("replace") => Some(CosmeticMode::Replace),
                    Ok("mask") => Some(CosmeticMode::Mask),
                    Ok(other) => {
                        return Err(PyValueError::new_err(format!(
                            "cosmetic {other:?}: {}",
                            &expected_cosmetic["cosmetic: ".len()..]
                        )));
                    }
                    Err(_) => return Err(PyValueError::new_err(expected_cosmetic)),
                }
            }
        }
    };
    for (name, sigma) in [("hot_sigma", Some(hot_sigma)), ("cold_sigma", cold_sigma)] {
        if let Some(s) = sigma {
            if !(s.is_finite() && s > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "{name} {s}: not a positive number of sigma"
                )));
            }
        }
    }
    if mode.is_none() && cosmetic_list.is_some() {
        return Err(PyValueError::new_err(
            "cosmetic_list needs cosmetic=\"replace\" or \"mask\"",
        ));
    }
    // Absolute, as the other paths of a plan: Dask workers may run elsewhere.
    let list = match cosmetic_list {
        None => None,
        Some(list) => {
            let list = std::path::absolute(&list).unwrap_or(list);
            // Said before anything is done, as the command does (FileNotFoundError,
            // PermissionError...); its lines are checked against each frame.
            if let Err(e) = std::fs::File::open(&list) {
                let message = format!("cosmetic_list {}: {e}", list.display());
                return Err(std::io::Error::new(e.kind(), message).into());
            }
            Some(list)
        }
    };
    let cosmetic = mode.map(|mode| Cosmetic {
        mode,
        detection: DefectDetection {
            hot_sigma: Some(hot_sigma),
            cold_sigma,
            ..DefectDetection::default()
        },
        dead: dead_pixels.then(DeadDetection::default),
        list,
    });
    if let Some(p) = pedestal {
        if !p.is_finite() {
            return Err(PyValueError::new_err(format!(
                "pedestal {p}: not a finite number of ADU"
            )));
        }
    }
    let expected_level = "bias_level: None, a number of ADU (2048) or a keyword times a number (\"OFFSET*64\", Siril's \"=64*$OFFSET\")";
    let bias_level = match bias_level.filter(|b| !b.is_none()) {
        None => None,
        Some(b) if b.is_instance_of::<pyo3::types::PyBool>() => {
            return Err(PyValueError::new_err(expected_level));
        }
        Some(b) => match b.extract::<String>() {
            Ok(text) => Some(
                BiasLevel::parse(&text)
                    .map_err(|e| PyValueError::new_err(format!("bias_level {text:?}: {e}")))?,
            ),
            Err(_) => match b.extract::<f64>() {
                Ok(x) if x.is_finite() => Some(BiasLevel::Constant(x)),
                _ => return Err(PyValueError::new_err(expected_level)),
            },
        },
    };
    let dark_scale = match dark_scale {
        "exposure" => DarkScale::Exposure,
        "none" => DarkScale::None,
        "optimize" => DarkScale::Optimize,
        other => {
            return Err(PyValueError::new_err(format!(
                "dark_scale {other:?}: \"exposure\" (the default), \"none\" or \"optimize\""
            )));
        }
    };
    Ok(Rules {
        cosmetic,
        pedestal,
        bias_level,
        dark_scale,
        equalize_cfa,
        ..rules
    })
}

pub(crate) fn invalid_rule(name: &str) -> PyResult<InvalidPixels> {
    match name {
        "eloy" => Ok(InvalidPixels::MinusOne),
        "nan" => Ok(InvalidPixels::Nan),
        "keep" => Ok(InvalidPixels::Keep),
        other => Err(PyValueError::new_err(format!(
            "invalid {other:?}: \"eloy\" (-1), \"nan\" or \"keep\""
        ))),
    }
}

/// Plan the reduction of a folder of raw frames, as ``eloy calibrate --dry-run`` does.
///
/// Scans ``path`` (headers only, in parallel; ``out`` and the ``masters`` library left
/// out), reads the library, and decides what every light gets: the masters to build (or
/// take from the library), each light's steps, and why. No pixel is read, no file written.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The folder of raw frames (scanned recursively).
/// out : str, os.PathLike or None
///     The output folder, left out of the scan when inside ``path``.
/// masters : str, os.PathLike or None
///     A folder of master frames (eloy's, or other programs' ``IMAGETYP = 'Master
///     Dark'``...) for nights that lack frames of a kind (the command's ``--masters``).
/// night_of : datetime.date or None
///     Only the lights of this night.
/// longitude, utc_offset
///     How frames are assigned to nights (site longitude in degrees east; else local time
///     minus UTC in hours, default 0: nights split at 12:00 UTC).
/// method, sigma_clip, sigma_rounds, sigma_center, minmax, memory, flat_mean_propagates_nan, exposure_key
///     How masters are combined: ``"median"`` (default, Python eloy's), ``"mean"`` or
///     ``"sum"``; sigma-clipping at ``sigma_clip`` standard deviations (astropy's
///     ``sigma_clip``: at most ``sigma_rounds`` rounds, default 5, about ``sigma_center``,
///     ``"median"`` (default) or ``"mean"``; 1 round about the mean is ccdproc's
///     ``Combiner.sigma_clipping()``) or ``minmax = (low, high)`` rejection; the memory budget in MiB (default 256); numpy's NaN rule
///     for a flat's mean; the exposure keyword (default ``EXPTIME``, else ``EXPOSURE``,
///     else ``EXP``).
/// invalid : str
///     What invalid pixels of calibrated lights become: ``"eloy"`` (-1, default),
///     ``"nan"`` or ``"keep"``.
/// temperature_tolerance, exposure_tolerance, exposure_tolerance_seconds, same_night_only,
/// flats_from_other_nights, ignore_darktime
///     The matching rules, as the command's options of the same names.
/// overscan, overscan_order, overscan_niterate, overscan_reject, overscan_axis, trim,
/// biassec, trimsec
///     CCD frames, as the command's options: the overscan (``BIASSEC``) subtracted line by
///     line, ``"median"`` (default, ccdproc's), ``"mean"``, ``"constant"`` or an IRAF fit
///     (``"legendre"``, ``"chebyshev"``, ``"spline1"``, ``"spline3"`` with
///     ``overscan_order`` terms, ``overscan_niterate`` rejection passes at
///     ``overscan_reject = (low, high)`` sigma), None for none; ``trim`` to ``TRIMSEC``
///     (or ``DATASEC``); sections for frames whose headers have none.
/// flat_normalization, flat_region, flat_minimum
///     What each flat is divided by (``"mean"``, default, Python eloy's; ``"median"``,
///     ``"mode"``, ``"region"``: the mean of ``flat_region``); flat values below
///     ``flat_minimum`` make pixels invalid.
/// saturation : str, float or None
///     ``"header"`` (``SATURATE``, else ``DATAMAX``; the default, also for None), ``"none"``
///     or a level in ADU: saturated pixels have no value in masters, are invalid in lights.
/// gain : str, float or None
///     Calibrated lights in electrons: ``"header"`` (``EGAIN``...) or electrons per ADU.
/// cosmetic : str, bool or None
///     Correct the lights' hot pixels (found in the master dark), cold ones (with
///     ``cold_sigma``) and dead ones (in the master flat), after the calibration:
///     ``"replace"`` (or True: from their same-colour neighbours, Siril's rules) or
///     ``"mask"`` (they become invalid); None (the default) leaves them. A light's header
///     gets the count (``COSMETIC``).
/// hot_sigma, cold_sigma : float
///     With ``cosmetic``: hot where the master dark is at least ``hot_sigma`` robust sigma
///     above its median (default 3, Siril's ``sighi``); cold where it is ``cold_sigma``
///     below (default None: off).
/// dead_pixels : bool
///     With ``cosmetic``: look for dead pixels in the master flat (default True).
/// cosmetic_list : str, os.PathLike or None
///     With ``cosmetic``: a bad-pixel list in Siril's format (``P x y H``, ``L y H``,
///     ``C x H`` lines), added to what is found.
/// pedestal : float or None
///     ADU added to every calibrated light, recorded as ``PEDESTAL`` (PixInsight's
///     convention: subtract it to restore the values), so that faint sky is not clipped
///     by the invalid-pixel rule.
/// bias_level : str, float or None
///     A constant bias for nights without bias frames: a number of ADU (``2048``) or a
///     keyword times a number (``"OFFSET*64"``; Siril's ``"=64*$OFFSET"`` is read too).
/// dark_scale : str
///     How darks are scaled to the lights: ``"exposure"`` (the default: with bias frames,
///     Python eloy's dark rate times the exposure; without, darks of the light's exposure
///     as they are), ``"none"`` (only darks of the light's exposure, as they are) or
///     ``"optimize"`` (Siril's ``-opt``: the dark rate times the exposure times a factor
///     ``k`` in [0, 2] found per light, the one that leaves the light's centre least
///     noisy, recorded as ``DARKOPT``; needs bias frames).
/// equalize_cfa : bool
///     Scale the red and blue cells of colour master flats so that their means match
///     green's (Siril's ``-equalize_cfa``).
///
/// Returns
/// -------
/// Plan
///
/// Raises
/// ------
/// OSError
///     ``path``, ``masters`` or ``cosmetic_list`` cannot be read (``FileNotFoundError``,
///     ``PermissionError``...).
/// ValueError
///     An option has a value the command would refuse (its message names the option and
///     the values it takes).
#[pyfunction]
#[pyo3(signature = (path, out=None, *, masters=None, night_of=None, longitude=None, utc_offset=0.0, method="median", sigma_clip=None, sigma_rounds=5, sigma_center="median", minmax=None, memory=256, flat_mean_propagates_nan=false, exposure_key="EXPTIME", invalid="eloy", temperature_tolerance=2.0, exposure_tolerance=1.0, exposure_tolerance_seconds=0.5, same_night_only=false, flats_from_other_nights=false, ignore_darktime=false, overscan=Some("median"), overscan_order=1, overscan_niterate=1, overscan_reject=(3.0, 3.0), overscan_axis=None, trim=true, biassec=None, trimsec=None, flat_normalization="mean", flat_region=None, flat_minimum=None, saturation=None, gain=None, cosmetic=None, hot_sigma=3.0, cold_sigma=None, dead_pixels=true, cosmetic_list=None, pedestal=None, bias_level=None, dark_scale="exposure", equalize_cfa=false))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
pub(crate) fn plan(
    py: Python<'_>,
    path: PathBuf,
    out: Option<PathBuf>,
    masters: Option<PathBuf>,
    night_of: Option<chrono::NaiveDate>,
    longitude: Option<f64>,
    utc_offset: f64,
    method: &str,
    sigma_clip: Option<f64>,
    sigma_rounds: u32,
    sigma_center: &str,
    minmax: Option<(usize, usize)>,
    memory: usize,
    flat_mean_propagates_nan: bool,
    exposure_key: &str,
    invalid: &str,
    temperature_tolerance: f64,
    exposure_tolerance: f64,
    exposure_tolerance_seconds: f64,
    same_night_only: bool,
    flats_from_other_nights: bool,
    ignore_darktime: bool,
    overscan: Option<&str>,
    overscan_order: usize,
    overscan_niterate: usize,
    overscan_reject: (f64, f64),
    overscan_axis: Option<&str>,
    trim: bool,
    biassec: Option<String>,
    trimsec: Option<String>,
    flat_normalization: &str,
    flat_region: Option<&str>,
    flat_minimum: Option<f32>,
    saturation: Option<Bound<'_, PyAny>>,
    gain: Option<Bound<'_, PyAny>>,
    cosmetic: Option<Bound<'_, PyAny>>,
    hot_sigma: f64,
    cold_sigma: Option<f64>,
    dead_pixels: bool,
    cosmetic_list: Option<PathBuf>,
    pedestal: Option<f64>,
    bias_level: Option<Bound<'_, PyAny>>,
    dark_scale: &str,
    equalize_cfa: bool,
) -> PyResult<Plan> {
    let options = master_options(
        method,
        sigma_clip.map(|sigma| (sigma, sigma_rounds, sigma_center)),
        minmax,
        memory,
        flat_mean_propagates_nan,
        exposure_key,
    )?;
    let rules = Rules {
        masters: options,
        invalid: invalid_rule(invalid)?,
        night: night_of,
        temperature_tolerance,
        exposure_match: ExposureMatch {
            relative: exposure_tolerance / 100.0,
            seconds: exposure_tolerance_seconds,
        },
        other_nights: !same_night_only,
        flats_from_other_nights,
        dark_time: !ignore_darktime,
        ..Rules::default()
    };
    let header = pyo3::types::PyString::new(py, "header").into_any();
    let rules = ccd_rules(
        rules,
        overscan,
        overscan_order,
        overscan_niterate,
        overscan_reject,
        overscan_axis,
        trim,
        biassec,
        trimsec,
        flat_normalization,
        flat_region,
        flat_minimum,
        saturation.as_ref().unwrap_or(&header),
        gain.as_ref(),
    )?;
    let rules = sensor_rules(
        rules,
        cosmetic.as_ref(),
        hot_sigma,
        cold_sigma,
        dead_pixels,
        cosmetic_list,
        pedestal,
        bias_level.as_ref(),
        dark_scale,
        equalize_cfa,
    )?;
    let mut scan = ScanOptions {
        night_rule: NightRule {
            longitude,
            utc_offset_hours: utc_offset,
        },
        exposure_key: ExposureKey::from_keyword(exposure_key),
        ..ScanOptions::default()
    };
    scan.exclude.extend(out);
    scan.exclude.extend(masters.clone());
    py.detach(move || -> Result<Plan, Failure> {
        let catalog = Catalog::scan_with(&path, &scan)?;
        let library = match &masters {
            Some(folder) => Library::scan(folder, &scan)?,
            None => Library::default(),
        };
        Ok(Plan {
            inner: eloy::calib::plan(&catalog, &rules, &library),
            unreadable: catalog.failures,
        })
    })
    .map_err(PyErr::from)
}

/// Writes a master's PNG preview next to it, as `eloy calibrate` does (a preview that
/// cannot be made is not an error: the master is what matters).
fn write_preview(master: &eloy::calib::Master, path: &Path, overwrite: bool) -> Option<String> {
    use eloy::viz::{Overwrite, Render};
    let png = path.with_extension("png");
    let overwrite = if overwrite {
        Overwrite::Replace
    } else {
        Overwrite::Never
    };
    eloy::viz::render(master.data.view(), &Render::default())
        .map_err(|e| format!("{}: {e}", png.display()))
        .and_then(|picture| picture.save_png(&png, overwrite).map_err(|e| e.to_string()))
        .err()
}

/// An event of the engine as a dict for Python's callback.
fn event_dict<'py>(py: Python<'py>, event: &Event<'_>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let dict = PyDict::new(py);
    match event {
        Event::Group { index, group } => {
            dict.set_item("event", "group")?;
            dict.set_item("index", index)?;
            dict.set_item("label", &group.label)?;
            dict.set_item("lights", group.lights.len())?;
            dict.set_item("filter", group.filter.as_deref())?;
        }
        Event::Master(m) => {
            dict.set_item("event", "master")?;
            let (what, plan) = match m {
                MasterEvent::Built {
                    plan, path, took, ..
                } => {
                    dict.set_item("path", path.to_string_lossy())?;
                    dict.set_item("seconds", took.as_secs_f64())?;
                    ("built", plan)
                }
                MasterEvent::Reused { plan, path, .. } => {
                    dict.set_item("path", path.to_string_lossy())?;
                    ("reused", plan)
                }
                MasterEvent::FromLibrary { plan, path } => {
                    dict.set_item("path", path.to_string_lossy())?;
                    ("loaded", plan)
                }
                MasterEvent::Failed { plan, why } => {
                    dict.set_item("why", *why)?;
                    ("failed", plan)
                }
                _ => return Ok(None),
            };
            dict.set_item("what", what)?;
            dict.set_item("id", &plan.id.0)?;
            dict.set_item("kind", plan.kind.name())?;
            dict.set_item("frames", plan.frames())?;
        }
        Event::Light(p) => {
            dict.set_item("event", "light")?;
            dict.set_item("finished", p.finished)?;
            dict.set_item("total", p.total)?;
            dict.set_item("light", p.light.to_string_lossy())?;
            let (outcome, error) = outcome_name(p.outcome);
            dict.set_item("outcome", outcome)?;
            dict.set_item("error", error)?;
        }
        _ => return Ok(None),
    }
    Ok(Some(dict))
}

fn outcome_name(outcome: &Outcome) -> (&'static str, Option<String>) {
    match outcome {
        Outcome::Written => ("written", None),
        Outcome::Skipped => ("skipped", None),
        Outcome::Failed(e) => ("failed", Some(e.to_string())),
        Outcome::Cancelled => ("cancelled", None),
        _ => ("other", None),
    }
}

/// The report of a run as a dict.
fn report_dict<'py>(py: Python<'py>, report: &ReductionReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let lights = PyList::empty(py);
    for (light, outcome) in &report.lights.outcomes {
        let (name, error) = outcome_name(outcome);
        lights.append((light.to_string_lossy(), name, error))?;
    }
    dict.set_item("lights", lights)?;
    let ids = |list: &[MasterId]| list.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
    dict.set_item("built", ids(&report.built))?;
    dict.set_item("reused", ids(&report.reused))?;
    let failed = PyDict::new(py);
    for (id, why) in &report.failed_masters {
        failed.set_item(&id.0, why)?;
    }
    dict.set_item("failed_masters", failed)?;
    dict.set_item("lights_seconds", report.lights_took.as_secs_f64())?;
    Ok(dict)
}

/// The compression of `compress=` and `quantize=` (the command's `--compress` and
/// `--quantize`).
fn compression(
    compress: Option<&str>,
    quantize: f32,
    float64: bool,
) -> PyResult<eloy::fits::Compression> {
    if compress.is_some() && float64 {
        return Err(PyValueError::new_err(
            "compress= takes float32 outputs: not with float64=True",
        ));
    }
    if !quantize.is_finite() || quantize == 0.0 {
        return Err(PyValueError::new_err(format!(
            "quantize={quantize}: a number of levels per sigma of the noise (4, 16), or a negative step"
        )));
    }
    match compress {
        None => Ok(eloy::fits::Compression::None),
        Some("rice") => Ok(eloy::fits::Compression::Rice { q: quantize }),
        Some(other) => Err(PyValueError::new_err(format!(
            "compress={other:?}: takes None or \"rice\""
        ))),
    }
}

/// The options of a run of lights.
fn calibrate_options(
    plan: &eloy::calib::Plan,
    overwrite: bool,
    float64: bool,
    sync: bool,
    compression: eloy::fits::Compression,
) -> CalibrateOptions {
    CalibrateOptions {
        compression,
        invalid: plan
            .recipes
            .iter()
            .flat_map(|r| &r.steps)
            .find_map(|s| match s {
                eloy::calib::Step::Invalid { rule } => Some(*rule),
                _ => None,
            })
            .unwrap_or_default(),
        exposure_key: plan.options.exposure_key.clone(),
        precision: if float64 {
            Precision::F64
        } else {
            Precision::F32
        },
        overwrite,
        // True: every output on disk before the call returns (the command's default,
        // `--sync end`); False: `--sync none`.
        sync: if sync {
            eloy::calib::SyncPolicy::End
        } else {
            eloy::calib::SyncPolicy::Never
        },
        ..CalibrateOptions::default()
    }
}

/// A run started from Python: its pool of threads, its cancel flag (raised by Ctrl-C or by
/// the first exception of the caller's event callback) and that exception, raised again
/// once the run has stopped ([`PyRun::finish`]).
struct PyRun {
    /// A rayon pool of the threads asked for, or `None` for eloy's global pool.
    pool: Option<rayon::ThreadPool>,
    cancel: AtomicBool,
    raised: Mutex<Option<PyErr>>,
    on_event: Option<Py<PyAny>>,
}

impl PyRun {
    fn new(threads: Option<usize>, on_event: Option<Py<PyAny>>) -> PyResult<Self> {
        let pool = threads
            .map(|n| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build()
                    .map_err(|e| PyValueError::new_err(e.to_string()))
            })
            .transpose()?;
        Ok(Self {
            pool,
            cancel: AtomicBool::new(false),
            raised: Mutex::new(None),
            on_event,
        })
    }

    /// Stops the run (lights in flight finish); the first error is raised by `finish`.
    fn stop(&self, err: PyErr) {
        self.cancel.store(true, Ordering::SeqCst);
        let mut slot = self
            .raised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert(err);
    }

    /// Calls the caller's callback, if any, with the event as a dict; an exception it
    /// raises stops the run.
    fn tell(&self, event: &Event<'_>) {
        if let Some(callback) = &self.on_event {
            Python::attach(|py| {
                let called = event_dict(py, event)
                    .and_then(|d| d.map(|d| callback.call1(py, (d,))).transpose());
                if let Err(e) = called {
                    self.stop(e);
                }
            });
        }
    }

    /// Runs `work` in a thread of its own on the pool while the calling thread, detached
    /// from the interpreter, watches for Ctrl-C (Python sees signals only on its main
    /// thread) and stops the run on one.
    fn watched<T: Send>(&self, py: Python<'_>, work: impl FnOnce() -> T + Send) -> T {
        let run = || match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        };
        let done = py.detach(|| {
            std::thread::scope(|scope| {
                let (finished, wait) = std::sync::mpsc::channel::<()>();
                let worker = scope.spawn(move || {
                    let value = run();
                    // The watcher may be gone only if it panicked; nothing to tell then.
                    let _ = finished.send(());
                    value
                });
                // Woken as soon as the work ends (no polling delay); every 50 ms
                // meanwhile, a look at Python's signals.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    wait.recv_timeout(Duration::from_millis(50))
                {
                    Python::attach(|py| {
                        if let Err(e) = py.check_signals() {
                            self.stop(e);
                        }
                    });
                }
                worker.join()
            })
        });
        match done {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The exception that stopped the run, if any.
    fn finish(self) -> PyResult<()> {
        match self
            .raised
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Masters loaded by lights tasks, kept for the next tasks of the same process (a Dask
/// worker runs many): loading three masters of a large sensor costs more than calibrating
/// a light. An entry is used only while its file has the same size and modification time;
/// the oldest entries go beyond [`CACHE_BYTES`].
static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());

/// The most master pixels the cache holds (4 bytes each): 512 MiB.
const CACHE_BYTES: usize = 512 << 20;

struct Cached {
    path: PathBuf,
    normalize: bool,
    stamp: (u64, Option<std::time::SystemTime>),
    master: Arc<Master>,
}

fn stamp(path: &Path) -> Option<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// The master a plan entry loads from a file (eloy's `load_library_master`, as a run of
/// the whole plan does), from the cache when the file has not changed.
fn load_cached(plan: &eloy::calib::MasterPlan) -> Result<Arc<Master>, String> {
    let MasterSource::Library {
        path, normalize, ..
    } = &plan.source
    else {
        return Err(format!("master {} is not saved yet", plan.id));
    };
    let now = stamp(path);
    {
        let cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = cache
            .iter()
            .find(|c| &c.path == path && c.normalize == *normalize && Some(c.stamp) == now)
        {
            return Ok(Arc::clone(&hit.master));
        }
    }
    let master = eloy::calib::load_library_master(path, plan.kind, plan.exposure, *normalize)
        .map(Arc::new)
        .map_err(|e| e.to_string())?;
    if let Some(stamp) = now {
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|c| &c.path != path || c.normalize != *normalize);
        cache.push(Cached {
            path: path.clone(),
            normalize: *normalize,
            stamp,
            master: Arc::clone(&master),
        });
        let mut bytes: usize = cache.iter().map(|c| c.master.data.len() * 4).sum();
        while bytes > CACHE_BYTES && cache.len() > 1 {
            bytes -= cache[0].master.data.len() * 4;
            cache.remove(0);
        }
    }
    Ok(master)
}

/// A master that is a constant level (a synthetic bias, `bias_level`), made in memory by
/// eloy's engine as a whole run makes it (no file: there is none to load).
fn constant_master(plan: &eloy::calib::MasterPlan, out: &Path) -> Result<Arc<Master>, String> {
    let one = eloy::calib::Plan {
        masters: vec![plan.clone()],
        ..Default::default()
    };
    let mut set = eloy::calib::build_masters(&one, out).map_err(|e| e.to_string())?;
    set.remove(&plan.id)
        .ok_or_else(|| format!("master {} was not made", plan.id))
}

/// Calibrate the lights of a task's sub-plan (:meth:`Plan.lights_task`) with eloy's batch,
/// as a whole run calibrates a group: the masters loaded from their files (kept in memory
/// for the next tasks of this process while their files do not change), the output folders
/// made, every light through its recipe, written atomically (complete outputs skipped).
///
/// Parameters and result as :func:`run_plan` (``built`` and ``reused`` empty).
#[pyfunction]
#[pyo3(signature = (plan, out, *, overwrite=false, float64=false, sync=true, compress=None, quantize=eloy::fits::Compression::DEFAULT_Q, threads=None, on_event=None))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
pub(crate) fn run_lights<'py>(
    py: Python<'py>,
    plan: &Bound<'py, Plan>,
    out: PathBuf,
    overwrite: bool,
    float64: bool,
    sync: bool,
    compress: Option<&str>,
    quantize: f32,
    threads: Option<usize>,
    on_event: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let plan = &plan.get().inner;
    let options = calibrate_options(
        plan,
        overwrite,
        float64,
        sync,
        compression(compress, quantize, float64)?,
    );
    let run = PyRun::new(threads, on_event)?;
    let on_progress = |p: &Progress<'_>| run.tell(&Event::Light(p));
    let work = || -> ReductionReport {
        let started = std::time::Instant::now();
        let mut set = MasterSet::default();
        let mut failed_masters = std::collections::BTreeMap::new();
        let mut missing: Option<String> = None;
        for master in &plan.masters {
            let loaded = match master.source {
                MasterSource::Constant { .. } => constant_master(master, &out),
                _ => load_cached(master),
            };
            match loaded {
                Ok(loaded) => set.insert(master.id.clone(), loaded),
                Err(why) => {
                    failed_masters.insert(master.id.clone(), why.clone());
                    missing.get_or_insert(why);
                }
            }
        }
        let mut folders = Ok(());
        for recipe in &plan.recipes {
            if let Some(folder) = out.join(&recipe.output).parent() {
                if let Err(source) = std::fs::create_dir_all(folder) {
                    folders = Err(eloy::calib::Error::Folder {
                        path: folder.to_path_buf(),
                        source,
                    });
                    break;
                }
            }
        }
        let why = missing.or_else(|| folders.err().map(|e| e.to_string()));
        let lights = match why {
            Some(why) => eloy::calib::BatchReport {
                outcomes: plan
                    .recipes
                    .iter()
                    .map(|r| {
                        (
                            r.frame.clone(),
                            Outcome::Failed(eloy::calib::Error::NoMasters {
                                path: r.frame.clone(),
                                why: why.clone(),
                            }),
                        )
                    })
                    .collect(),
                synced: None,
            },
            None => {
                let recipes: Vec<&eloy::calib::Recipe> = plan.recipes.iter().collect();
                let jobs: Vec<Job> = Job::from_recipes(&recipes, &out);
                Batch::new(options)
                    .on_progress(&on_progress)
                    .cancel_flag(&run.cancel)
                    .run(&jobs, &set)
            }
        };
        ReductionReport {
            failed_masters,
            lights,
            lights_took: started.elapsed(),
            ..ReductionReport::default()
        }
    };
    let report = run.watched(py, work);
    run.finish()?;
    report_dict(py, &report)
}

/// Run a plan with eloy's engine, as ``eloy calibrate`` does: masters built (or reused when
/// saved from the same frames, or loaded from the library) into ``OUT/masters/`` with a PNG
/// preview each, then every light calibrated into ``OUT/<night>/<light>.fits``, group by
/// group, outputs written atomically (a rerun skips complete outputs).
///
/// Low-level: :func:`eloy_rs.calibrate_night` calls it and makes its report.
///
/// Parameters
/// ----------
/// plan : Plan
///     The plan (or a task's sub-plan).
/// out : str or os.PathLike
///     The output folder.
/// masters_only : bool
///     Build the masters only (``eloy masters``).
/// overwrite, float64, sync, preview
///     Replace outputs and masters; write float64 outputs; every output on disk before
///     the call returns (one sync of all of them at the end, the command's default
///     ``--sync end``; ``False``: ``--sync none``); write the masters' PNG previews.
/// compress, quantize
///     ``"rice"``: lights tile-compressed as ``<light>.fits.fz`` with ``quantize`` levels
///     per sigma of the noise (the command's ``--compress rice --quantize Q``; invalid
///     pixels NaN; masters stay float32). Default None: float32 as it is.
/// threads : int or None
///     Threads of the work (default: eloy's pool, one per core).
/// on_event : callable or None
///     Called with a dict per event (``event`` = ``"group"``, ``"master"`` or
///     ``"light"``), from eloy's threads. An exception it raises stops the run (lights in
///     flight finish) and is raised again.
///
/// Returns
/// -------
/// dict
///     ``lights``: ``(light, outcome, error)`` per recipe (outcome ``"written"``,
///     ``"skipped"``, ``"failed"`` or ``"cancelled"``); ``built``, ``reused``: master ids;
///     ``failed_masters``: id to why; ``lights_seconds``.
///
/// Raises
/// ------
/// KeyboardInterrupt
///     Ctrl-C: the lights in flight finish (nothing partial is left), the rest are not done.
#[pyfunction]
#[pyo3(signature = (plan, out, *, masters_only=false, overwrite=false, float64=false, sync=true, compress=None, quantize=eloy::fits::Compression::DEFAULT_Q, preview=true, threads=None, on_event=None))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
pub(crate) fn run_plan<'py>(
    py: Python<'py>,
    plan: &Bound<'py, Plan>,
    out: PathBuf,
    masters_only: bool,
    overwrite: bool,
    float64: bool,
    sync: bool,
    compress: Option<&str>,
    quantize: f32,
    preview: bool,
    threads: Option<usize>,
    on_event: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let plan = &plan.get().inner;
    let options = calibrate_options(
        plan,
        overwrite,
        float64,
        sync,
        compression(compress, quantize, float64)?,
    );
    let run = PyRun::new(threads, on_event)?;
    let handler = |event: &Event<'_>| {
        if preview {
            match event {
                Event::Master(MasterEvent::Built { master, path, .. }) => {
                    let _ = write_preview(master, path, overwrite);
                }
                Event::Master(MasterEvent::Reused { master, path, .. })
                    if !path.with_extension("png").exists() =>
                {
                    let _ = write_preview(master, path, overwrite);
                }
                _ => {}
            }
        }
        run.tell(event);
    };
    let reduction = Reduction::new(plan, out)
        .options(options)
        .on_event(&handler)
        .cancel_flag(&run.cancel);
    let report = run.watched(py, || {
        if masters_only {
            reduction.masters()
        } else {
            reduction.run()
        }
    });
    run.finish()?;
    report_dict(py, &report)
}

/// The lock of an output folder (``OUT/.eloy.lock``), as ``eloy calibrate`` takes it: two
/// runs into one folder never write at once. Use it as a context manager; the lock goes
/// when it is released, when the object is dropped, or with the process.
#[pyclass(module = "eloy_rs._eloy_rs", name = "FolderLock")]
pub(crate) struct FolderLock {
    held: Mutex<Option<eloy::calib::FolderLock>>,
}

#[pymethods]
impl FolderLock {
    /// Releases the lock (again: nothing).
    fn release(&self) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }
}

/// Locks the output folder ``out`` (created if needed) for a run, as ``eloy calibrate``
/// does.
///
/// Parameters
/// ----------
/// out : str or os.PathLike
///     The output folder.
///
/// Returns
/// -------
/// FolderLock
///     The held lock, a context manager.
///
/// Raises
/// ------
/// BlockingIOError
///     Another run holds the folder (its process, host and start time are named).
/// OSError
///     The folder or its lock file cannot be made.
#[pyfunction]
pub(crate) fn lock_folder(out: PathBuf) -> PyResult<FolderLock> {
    match eloy::calib::FolderLock::try_lock(&out) {
        Ok(lock) => Ok(FolderLock {
            held: Mutex::new(Some(lock)),
        }),
        Err(e @ eloy::calib::Error::Locked { .. }) => {
            Err(pyo3::exceptions::PyBlockingIOError::new_err(e.to_string()))
        }
        Err(e) => Err(crate::convert::Failure::from(e).into()),
    }
}
