//! The engine: steps of a plan turned into [`eloy_stack::Frame`] operations and run band by
//! band, for the inputs of a master and for a light alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array2;

use eloy_fits::Reader;
use eloy_stack::{BandSource, Frame};

use crate::calibrate::InvalidPixels;
use crate::error::{Error, Result};
use crate::masters::{Master, MasterKind, MasterOptions};
use crate::plan::{Input, MasterId, Step};

/// Where the engine finds the masters that steps name.
pub(crate) trait Lookup {
    /// The master named `id`, if loaded.
    fn master(&self, id: &MasterId) -> Option<&Master>;

    /// The defect map named `key`, made by `make` the first time (a set of masters keeps
    /// it for the next lights; others make it each time).
    fn defects(
        &self,
        key: &str,
        make: &dyn Fn() -> Result<crate::DefectMap>,
    ) -> Result<Arc<crate::DefectMap>> {
        let _ = key;
        make().map(Arc::new)
    }
}

/// Masters by the names a plan gives them, loaded or built: what the engine calibrates
/// with. Masters are shared (`Arc`), so a set can be cloned for a worker at no cost.
///
/// ```
/// use eloy_calib::{Master, MasterId, MasterKind, MasterSet};
/// let mut set = MasterSet::default();
/// set.insert(MasterId::from("bias"), Master::new(MasterKind::Bias, ndarray::Array2::zeros((2, 2))));
/// assert!(set.get(&MasterId::from("bias")).is_some());
/// assert_eq!(set.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MasterSet {
    masters: BTreeMap<MasterId, Arc<Master>>,
    /// Defect maps found in the masters, by what they were made of.
    defects: Arc<std::sync::Mutex<BTreeMap<String, Arc<crate::DefectMap>>>>,
}

impl MasterSet {
    /// Adds (or replaces) the master named `id`.
    pub fn insert(&mut self, id: MasterId, master: impl Into<Arc<Master>>) {
        self.masters.insert(id, master.into());
    }

    /// The master named `id`.
    pub fn get(&self, id: &MasterId) -> Option<&Master> {
        self.masters.get(id).map(AsRef::as_ref)
    }

    /// Whether the set holds `id`.
    pub fn contains(&self, id: &MasterId) -> bool {
        self.masters.contains_key(id)
    }

    /// Drops the master named `id` (its memory is freed once no one else holds it), and
    /// the defect maps found in the masters.
    pub fn remove(&mut self, id: &MasterId) -> Option<Arc<Master>> {
        self.defects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.masters.remove(id)
    }

    /// How many masters the set holds.
    pub fn len(&self) -> usize {
        self.masters.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty()
    }

    /// The names held, in order.
    pub fn ids(&self) -> impl Iterator<Item = &MasterId> {
        self.masters.keys()
    }
}

/// The trio's masters named `bias`, `dark` and `flat`, as [`Masters::steps`](crate::Masters::steps) names them.
///
/// ```
/// use eloy_calib::{Master, MasterId, MasterKind, MasterSet, Masters};
/// let masters = Masters { bias: Some(Master::new(MasterKind::Bias, ndarray::Array2::zeros((2, 2)))), ..Default::default() };
/// assert!(MasterSet::from(masters).contains(&MasterId::from("bias")));
/// ```
impl From<crate::Masters> for MasterSet {
    fn from(masters: crate::Masters) -> Self {
        let mut set = MasterSet::default();
        for (name, master) in [
            ("bias", masters.bias),
            ("dark", masters.dark),
            ("flat", masters.flat),
        ] {
            if let Some(master) = master {
                set.insert(MasterId::from(name), master);
            }
        }
        set
    }
}

impl Lookup for MasterSet {
    fn master(&self, id: &MasterId) -> Option<&Master> {
        self.get(id)
    }

    fn defects(
        &self,
        key: &str,
        make: &dyn Fn() -> Result<crate::DefectMap>,
    ) -> Result<Arc<crate::DefectMap>> {
        let mut cache = self
            .defects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(map) = cache.get(key) {
            return Ok(Arc::clone(map));
        }
        let map = Arc::new(make()?);
        cache.insert(key.to_owned(), Arc::clone(&map));
        Ok(map)
    }
}

/// Opens the image of `frame` the steps are for: the file's image, or for a mosaic the
/// image extension `extension`.
///
/// # Errors
/// Read errors naming the file.
pub(crate) fn open(frame: &Path, extension: Option<&eloy_fits::ImageExtension>) -> Result<Reader> {
    Ok(match extension {
        None => Reader::open(frame)?,
        Some(extension) => Reader::open_hdu(frame, extension.hdu)?,
    })
}

/// The value that invalid pixels become under `rule` (`None`: kept as computed).
pub(crate) fn replacement(rule: InvalidPixels) -> Option<f32> {
    match rule {
        InvalidPixels::MinusOne => Some(-1.0),
        InvalidPixels::Nan => Some(f32::NAN),
        InvalidPixels::Keep => None,
    }
}

/// The masters `steps` use, found in `masters`, checked against the frame's `shape`.
///
/// # Errors
/// [`Error::MasterMissing`]; [`Error::ShapeMismatch`] naming `path`.
pub(crate) fn check_masters(
    steps: &[Step],
    masters: &dyn Lookup,
    path: &Path,
    shape: (usize, usize),
) -> Result<()> {
    for id in steps.iter().flat_map(Step::masters) {
        let master = masters.master(id).ok_or_else(|| Error::MasterMissing {
            path: path.to_path_buf(),
            master: id.clone(),
        })?;
        if master.shape() != shape {
            return Err(Error::ShapeMismatch {
                path: path.to_path_buf(),
                expected: master.shape(),
                found: shape,
            });
        }
    }
    Ok(())
}

/// The shape a frame of shape `raw` has after `steps` (a trim changes it).
pub(crate) fn output_shape(raw: (usize, usize), steps: &[Step]) -> (usize, usize) {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Trim { section } => Some(section.shape()),
            _ => None,
        })
        .unwrap_or(raw)
}

/// Rows `rows`, columns `cols` of a source, read band by band.
fn region(
    source: &mut dyn BandSource,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) -> Result<Array2<f32>> {
    let width = source.shape().1;
    let mut out = Array2::zeros((rows.len(), cols.len()));
    let band = (BAND_VALUES / width.max(1)).max(1);
    let mut buffer = vec![0.0f32; band * width];
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + band).min(rows.end);
        let values = &mut buffer[..(end - start) * width];
        source.read_rows(start..end, values)?;
        for (i, line) in values.chunks_exact(width).enumerate() {
            out.row_mut(start - rows.start + i)
                .iter_mut()
                .zip(&line[cols.clone()])
                .for_each(|(o, &v)| *o = v);
        }
        start = end;
    }
    Ok(out)
}

/// Values of a band buffer when reading regions: 64 Ki.
const BAND_VALUES: usize = 1 << 16;

/// The overscan of a frame: one value per line of the source along `axis` (NaN where no
/// line is kept), from `section` modelled by `method`, on the lines `trim` keeps when
/// the method is a fit (IRAF) or on the section's lines (ccdproc).
fn overscan_lines(
    source: &mut dyn BandSource,
    section: &eloy_fits::Section,
    axis: crate::OverscanAxis,
    method: &crate::OverscanMethod,
    trim: Option<&eloy_fits::Section>,
) -> Result<eloy_stack::Lines> {
    let (rows, cols) = source.shape();
    let fit = matches!(method, crate::OverscanMethod::Fit(_));
    let (region_rows, region_cols) = match (axis, trim) {
        (crate::OverscanAxis::Rows, Some(t)) if fit => (t.rows(), section.cols()),
        (crate::OverscanAxis::Columns, Some(t)) if fit => (section.rows(), t.cols()),
        _ => (section.rows(), section.cols()),
    };
    let data = region(source, region_rows.clone(), region_cols.clone())?;
    let collapsed = crate::collapse_overscan(data.view(), axis, method.statistic())?;
    let model = crate::overscan_model(&collapsed, method)?;
    let (length, first) = match axis {
        crate::OverscanAxis::Rows => (rows, region_rows.start),
        crate::OverscanAxis::Columns => (cols, region_cols.start),
    };
    let mut values = vec![f64::NAN; length];
    values[first..first + model.len()].copy_from_slice(&model);
    Ok(match axis {
        crate::OverscanAxis::Rows => eloy_stack::Lines::Rows(values),
        crate::OverscanAxis::Columns => eloy_stack::Lines::Columns(values),
    })
}

/// `source` with the operations of `steps`, masters taken from `masters` (checked first
/// with [`check_masters`]). An overscan step reads its region of the source first.
///
/// # Errors
/// [`Error::MasterMissing`] for a master the steps name and `masters` lacks; read errors
/// and overscan errors, naming the frame.
pub(crate) fn frame<'a>(
    source: impl BandSource + 'a,
    steps: &[Step],
    masters: &'a dyn Lookup,
) -> Result<Frame<'a>> {
    Ok(prepare(source, steps, masters)?.0)
}

/// [`frame`], with the mean overscan level subtracted, if any (for the `OVERSCAN` card).
pub(crate) fn prepare<'a>(
    mut source: impl BandSource + 'a,
    steps: &[Step],
    masters: &'a dyn Lookup,
) -> Result<(Frame<'a>, Option<f64>)> {
    let path = PathBuf::from(source.name().into_owned());
    let find = |id: &MasterId| {
        masters.master(id).ok_or_else(|| Error::MasterMissing {
            path: path.clone(),
            master: id.clone(),
        })
    };
    let trim = steps.iter().find_map(|s| match s {
        Step::Trim { section } => Some(section.clone()),
        _ => None,
    });
    let mut lines = None;
    for step in steps {
        if let Step::Overscan {
            section,
            axis,
            method,
        } = step
        {
            lines = Some(
                overscan_lines(&mut source, section, *axis, method, trim.as_ref()).map_err(
                    |e| match e {
                        Error::Fits(_) | Error::Stack(_) => e,
                        other => Error::Frame {
                            path: path.clone(),
                            source: Box::new(other),
                        },
                    },
                )?,
            );
        }
    }
    let overscan_mean = lines.as_ref().map(|lines| {
        let values = match lines {
            eloy_stack::Lines::Rows(v) | eloy_stack::Lines::Columns(v) => v,
        };
        let kept: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        #[allow(clippy::cast_precision_loss)]
        let mean = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
        mean
    });
    // With a cosmetic correction, the invalid-pixel rule waits for it (the sink applies it).
    let cosmetic = steps.iter().any(|s| matches!(s, Step::Cosmetic { .. }));
    // The masters' uncertainties count only when the frame's is propagated: the default
    // path stays the one without.
    let deviation = steps.iter().any(|s| matches!(s, Step::Deviation { .. }));
    let std_of = |master: &'a Master| {
        if deviation {
            master.uncertainty.as_ref().map(|s| s.view())
        } else {
            None
        }
    };
    let mut frame = Frame::new(source);
    if let Some(lines) = lines {
        frame = frame.subtract_lines(lines);
    }
    if let Some(trim) = trim {
        frame = frame.crop(trim.rows(), trim.cols());
    }
    for step in steps {
        frame = match step {
            Step::Overscan { .. } | Step::Trim { .. } => frame,
            Step::Subtract { terms } if deviation => {
                let mut views = Vec::with_capacity(terms.len());
                for term in terms {
                    let master = find(&term.master)?;
                    views.push((master.data.view(), std_of(master), term.factor));
                }
                frame.subtract_level_std(views)
            }
            Step::Subtract { terms } => {
                let mut views = Vec::with_capacity(terms.len());
                for term in terms {
                    views.push((find(&term.master)?.data.view(), term.factor));
                }
                frame.subtract_level(views)
            }
            Step::DivideByFlat { master, minimum } if deviation => {
                let master = find(master)?;
                frame.divide_std(master.data.view(), std_of(master), *minimum)
            }
            Step::Deviation { gain, read_noise } => frame.with_deviation(*gain, *read_noise),
            Step::DivideByExposure { seconds } => frame.scale(1.0 / seconds),
            Step::Normalize { by, nan } => frame.normalize(by.clone(), *nan),
            Step::DivideByFlat { master, minimum } => match minimum {
                None => frame.divide(find(master)?.data.view()),
                Some(m) => frame.divide_above(find(master)?.data.view(), *m),
            },
            #[allow(clippy::cast_possible_truncation)]
            Step::Saturation { level } => frame.saturation(*level as f32),
            Step::ToElectrons { gain } => frame.scale(*gain),
            Step::Pedestal { adu } => frame.add_constant(*adu),
            // Resolved per light before the engine runs ([`resolve_dark_optimization`]).
            Step::Cosmetic { .. } | Step::OptimizeDark { .. } => frame,
            Step::Invalid { .. } if cosmetic => frame,
            Step::Invalid { rule } => match replacement(*rule) {
                Some(value) => frame.replace_invalid(value),
                None => frame,
            },
        };
    }
    Ok((frame, overscan_mean))
}

/// A master of `kind` combined from `inputs`, each through its steps, with `options`'
/// combine. `exposure`: for a dark or dark flat subtracted as it is, the frames' exposure.
///
/// # Errors
/// [`Error::NoFrames`]; read errors naming the file; [`Error::Stack`] for frames of
/// different shapes; [`Error::MasterMissing`] / [`Error::ShapeMismatch`] for the masters
/// the steps use.
pub(crate) fn build_master(
    kind: MasterKind,
    exposure: Option<f64>,
    inputs: &[Input],
    masters: &dyn Lookup,
    options: &MasterOptions,
) -> Result<Master> {
    if inputs.is_empty() {
        return Err(Error::NoFrames { kind: kind.name() });
    }
    let readers = inputs
        .iter()
        .map(|i| {
            open(&i.frame, i.extension.as_ref()).map_err(|e| match &i.extension {
                Some(extension) => Error::Extension {
                    path: i.frame.clone(),
                    extension: extension.to_string(),
                    source: Box::new(e),
                },
                None => e,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for (reader, input) in readers.iter().zip(inputs) {
        let shape = output_shape(reader.shape(), &input.steps);
        check_masters(&input.steps, masters, &input.frame, shape)?;
    }
    let frames = readers
        .into_iter()
        .zip(inputs)
        .map(|(reader, input)| frame(reader, &input.steps, masters))
        .collect::<Result<Vec<_>>>()?;
    let stacked = options.combine.run(frames)?;
    let uncertainty = if options.combine.tracks_uncertainty() {
        stacked.std
    } else {
        None
    };
    Ok(Master {
        kind,
        data: stacked.image,
        inputs: inputs.iter().map(|i| i.frame.clone()).collect(),
        method: method(kind, options, inputs),
        path: None,
        exposure,
        cards: BTreeMap::new(),
        uncertainty,
    })
}

/// How a master was made, in words: `median of 16 frames of (dark - bias) / EXPTIME`.
fn method(kind: MasterKind, options: &MasterOptions, inputs: &[Input]) -> String {
    let raw = match kind {
        MasterKind::DarkFlat => "darkflat",
        other => other.name(),
    };
    let what = crate::plan::describe::master_formula(&inputs[0].steps, raw, &options.exposure_key);
    format!("{} of {} frames of {what}", options.combine, inputs.len())
}

/// An image in memory through `steps` (a recipe's), with the masters of `masters`: what a
/// batch writes to a file, computed by the same engine.
///
/// # Errors
/// [`Error::MasterMissing`] for a master the steps name and `masters` lacks;
/// [`Error::ShapeMismatch`] (with an empty path) for masters of another shape.
///
/// ```
/// use eloy_calib::{InvalidPixels, Master, MasterId, MasterKind, MasterSet, Step, Term};
/// use ndarray::array;
/// let mut masters = MasterSet::default();
/// masters.insert(MasterId::from("bias"), Master::new(MasterKind::Bias, array![[100.0f32, 100.0]]));
/// let steps = [
///     Step::Subtract { terms: vec![Term { master: MasterId::from("bias"), factor: 1.0 }] },
///     Step::Invalid { rule: InvalidPixels::MinusOne },
/// ];
/// let out = eloy_calib::run_steps(array![[150.0f32, 90.0]].view(), &steps, &masters)?;
/// assert_eq!(out, array![[50.0f32, -1.0]]);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
pub fn run_steps(
    raw: ndarray::ArrayView2<'_, f32>,
    steps: &[Step],
    masters: &MasterSet,
) -> Result<Array2<f32>> {
    run_in_memory(raw, steps, masters)
}

/// [`run_steps`] with any source of masters.
pub(crate) fn run_in_memory(
    raw: ndarray::ArrayView2<'_, f32>,
    steps: &[Step],
    masters: &dyn Lookup,
) -> Result<Array2<f32>> {
    check_masters(
        steps,
        masters,
        Path::new(""),
        output_shape(raw.dim(), steps),
    )?;
    let source = eloy_stack::InMemory::new(raw);
    Ok(frame(source, steps, masters)?.collect()?)
}

/// Resolves a [`Step::OptimizeDark`] of `steps` for the light `light`: finds the factor `k`
/// ([`optimize_dark`](crate::optimize_dark)) on the central square of the light after its
/// overscan and trim (read from the file: the rows of that square, not the whole frame),
/// and returns the steps without the optimisation, the dark's term multiplied by `k`, and
/// `k`. `None` when there is nothing to optimise.
///
/// # Errors
/// [`Error::MasterMissing`]; read errors naming the light; the errors of
/// [`optimize_dark`](crate::optimize_dark) (shapes, no finite pixel).
pub(crate) fn resolve_dark_optimization(
    light: &std::path::Path,
    extension: Option<&eloy_fits::ImageExtension>,
    steps: &[Step],
    masters: &dyn Lookup,
) -> Result<Option<(Vec<Step>, f64)>> {
    let Some((dark, bias, search)) = steps.iter().find_map(|s| match s {
        Step::OptimizeDark { dark, bias, search } => Some((dark, bias, search)),
        _ => None,
    }) else {
        return Ok(None);
    };
    let find = |id: &MasterId| {
        masters.master(id).ok_or_else(|| Error::MasterMissing {
            path: light.to_path_buf(),
            master: id.clone(),
        })
    };
    let (dark_master, bias_master) = (find(dark)?, find(bias)?);
    let seconds = steps
        .iter()
        .find_map(|s| match s {
            Step::Subtract { terms } => terms.iter().find(|t| t.master == *dark).map(|t| t.factor),
            _ => None,
        })
        .unwrap_or(1.0);
    let geometry: Vec<Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::Overscan { .. } | Step::Trim { .. }))
        .cloned()
        .collect();
    let reader = open(light, extension)?;
    let shape = output_shape(reader.shape(), &geometry);
    let in_frame = |e: Error| Error::Frame {
        path: light.to_path_buf(),
        source: Box::new(e),
    };
    for master in [dark_master, bias_master] {
        if master.data.dim() != shape {
            return Err(Error::ShapeMismatch {
                path: light.to_path_buf(),
                expected: master.data.dim(),
                found: shape,
            });
        }
    }
    let (rows, cols) = crate::noise_region(shape, search.region);
    let (first_row, first_col) = geometry
        .iter()
        .find_map(|s| match s {
            Step::Trim { section } => Some((section.rows().start, section.cols().start)),
            _ => None,
        })
        .unwrap_or((0, 0));
    let (frame, _) = prepare(reader, &geometry, masters)?;
    let region = frame
        .crop(
            first_row + rows.start..first_row + rows.end,
            first_col + cols.start..first_col + cols.end,
        )
        .collect()?;
    let window = ndarray::s![rows, cols];
    #[allow(clippy::cast_possible_truncation)]
    let scaled_dark = dark_master
        .data
        .slice(window)
        .mapv(|v| (f64::from(v) * seconds) as f32);
    let k = crate::optimize_dark(
        region.view(),
        Some(bias_master.data.slice(window)),
        scaled_dark.view(),
        search,
    )
    .map_err(in_frame)?;
    let resolved = steps
        .iter()
        .filter(|s| !matches!(s, Step::OptimizeDark { .. }))
        .map(|s| match s {
            Step::Subtract { terms } => Step::Subtract {
                terms: terms
                    .iter()
                    .map(|t| crate::Term {
                        master: t.master.clone(),
                        factor: if t.master == *dark {
                            t.factor * k
                        } else {
                            t.factor
                        },
                    })
                    .collect(),
            },
            other => other.clone(),
        })
        .collect();
    Ok(Some((resolved, k)))
}
