//! Running a [`Plan`]: its masters built (or reused, or taken from a library) into
//! `OUT/masters/`, then its lights calibrated group by group into `OUT/<night>/`, with
//! what happens told to a callback as it happens. The command line and the Python package
//! both drive this; neither decides anything the plan has not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::batch::{
    Batch, BatchReport, CalibrateOptions, Job, Outcome, Progress, SyncPolicy, sync_at_end,
};
use crate::engine::{self, MasterSet};
use crate::error::{Error, Result};
use crate::masters::{INPUTS_KEYWORD, Master, MasterKind, MasterOptions, inputs_digest};
use crate::plan::{LightGroup, MasterId, MasterPlan, MasterSource, Plan};

/// What a [`Reduction`] did with a master.
#[derive(Debug)]
#[non_exhaustive]
pub enum MasterEvent<'a> {
    /// Combined from its frames and saved.
    Built {
        /// The master's plan.
        plan: &'a MasterPlan,
        /// The master.
        master: &'a Master,
        /// Where it was saved.
        path: &'a Path,
        /// How long it took.
        took: Duration,
        /// Why the file saved before was rebuilt: it was damaged (cut short, zeroed, its
        /// checksum wrong). `None` for a new master.
        damaged: Option<&'a str>,
    },
    /// Found saved, built from the same frames the same way: loaded, not rebuilt.
    Reused {
        /// The master's plan.
        plan: &'a MasterPlan,
        /// The master.
        master: &'a Master,
        /// The file.
        path: &'a Path,
    },
    /// Loaded from a library.
    FromLibrary {
        /// The master's plan.
        plan: &'a MasterPlan,
        /// The file.
        path: &'a Path,
    },
    /// Could not be made; the lights that need it are not calibrated.
    Failed {
        /// The master's plan.
        plan: &'a MasterPlan,
        /// Why, in one line.
        why: &'a str,
    },
}

/// Something that happened during a [`Reduction`], handed to its callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A group of lights starts.
    Group {
        /// Its index in [`Plan::groups`].
        index: usize,
        /// The group.
        group: &'a LightGroup,
    },
    /// A master was built, reused, loaded, or failed.
    Master(MasterEvent<'a>),
    /// A light is done (any outcome).
    Light(&'a Progress<'a>),
}

/// What a [`Reduction`] did.
#[derive(Debug, Default)]
pub struct ReductionReport {
    /// Masters that could not be made, with why.
    pub failed_masters: BTreeMap<MasterId, String>,
    /// Masters built in this run.
    pub built: Vec<MasterId>,
    /// Masters found saved and reused.
    pub reused: Vec<MasterId>,
    /// Every light of the plan with a recipe, with its outcome, in plan order.
    pub lights: BatchReport,
    /// When the lights started (after the first group's masters).
    pub lights_took: Duration,
    /// The final sync of [`SyncPolicy::End`]: how many files (masters and lights, written
    /// by this run or found whole, with their folders), and how long it took.
    pub synced: Option<(usize, Duration)>,
}

impl ReductionReport {
    /// Lights that could not be calibrated because a master they need failed, with why.
    pub fn without_masters(&self) -> impl Iterator<Item = (&Path, &Error)> {
        self.lights
            .failures()
            .filter(|(_, e)| matches!(e, Error::NoMasters { .. }))
    }
}

/// The digest saved in a master built by a reduction (`ELOYINPT`): its frames' paths and
/// sizes, the steps they go through and the combination, so that a saved master is reused
/// only when it would be built the same again.
///
/// ```
/// use eloy_calib::{Library, MasterOptions, Rules};
/// let plan = eloy_calib::plan(&eloy_fits::Catalog::default(), &Rules::default(), &Library::default());
/// assert!(plan.masters.is_empty());
/// ```
pub fn master_digest(master: &MasterPlan, options: &MasterOptions) -> String {
    digest_with(master, options, inputs_digest)
}

/// The digest as eloy wrote it before input paths were resolved (a master saved then is
/// still reused when its night is named as it was then).
fn master_digest_as_given(master: &MasterPlan, options: &MasterOptions) -> String {
    digest_with(master, options, crate::masters::digest_as_given)
}

fn digest_with(
    master: &MasterPlan,
    options: &MasterOptions,
    inputs_digest: fn(&[PathBuf]) -> String,
) -> String {
    match &master.source {
        MasterSource::Frames { inputs } => {
            let paths: Vec<PathBuf> = inputs.iter().map(|i| i.frame.clone()).collect();
            let how = serde_json::json!({
                "kind": master.kind,
                "exposure": master.exposure,
                "steps": inputs.iter().map(|i| &i.steps).collect::<Vec<_>>(),
                "combine": options.combine,
                "flat_mean": options.flat_mean,
            });
            // Said only when on, so that the digests of masters saved before it stay.
            let how = match master.equalize_cfa {
                Some(equalize) => {
                    let mut how = how;
                    how["equalize_cfa"] = serde_json::json!(equalize);
                    how
                }
                None => how,
            };
            // A mosaic's extension, said only for one, so that the digests of single
            // images stay.
            let how = if inputs.iter().any(|i| i.extension.is_some()) {
                let mut how = how;
                how["extensions"] =
                    serde_json::json!(inputs.iter().map(|i| &i.extension).collect::<Vec<_>>());
                how
            } else {
                how
            };
            let mut all = paths;
            all.push(PathBuf::from(how.to_string()));
            inputs_digest(&all)
        }
        MasterSource::Library { path, .. } => inputs_digest(std::slice::from_ref(path)),
        MasterSource::Constant { value } => format!("constant {value}"),
    }
}

/// The runner of a [`Plan`]: builds or reuses its masters in `OUT/masters/`, calibrates its
/// lights into `OUT/<night>/`, group by group, holding only the masters still needed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use eloy_calib::synth::{Night, NightSpec};
/// use eloy_calib::{Library, Reduction, Rules};
/// let dir = tempfile::tempdir()?;
/// Night::new(NightSpec { rows: 16, cols: 24, lights: 2, ..Default::default() }).write(&dir.path().join("raw"))?;
/// let catalog = eloy_fits::Catalog::scan(dir.path().join("raw"))?;
/// let plan = eloy_calib::plan(&catalog, &Rules::default(), &Library::default());
/// let report = Reduction::new(&plan, dir.path().join("out")).run();
/// assert_eq!(report.lights.written(), 2);
/// assert_eq!(report.built.len(), 3);
/// assert!(dir.path().join("out/2016-01-05/light_000.fits").exists());
/// # Ok(()) }
/// ```
pub struct Reduction<'a> {
    plan: &'a Plan,
    out: PathBuf,
    options: CalibrateOptions,
    on_event: Option<&'a (dyn Fn(&Event<'_>) + Sync)>,
    cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Reduction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reduction")
            .field("out", &self.out)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a> Reduction<'a> {
    /// A reduction of `plan` into the folder `out`, default [`CalibrateOptions`].
    pub fn new(plan: &'a Plan, out: impl Into<PathBuf>) -> Self {
        Reduction {
            plan,
            out: out.into(),
            options: CalibrateOptions::default(),
            on_event: None,
            cancel: None,
        }
    }

    /// How lights are written (precision, overwrite, sync, band height); `overwrite` also
    /// rebuilds masters that exist.
    #[must_use]
    pub fn options(mut self, options: CalibrateOptions) -> Self {
        self.options = options;
        self
    }

    /// Calls `callback` with each [`Event`] (from worker threads for lights).
    #[must_use]
    pub fn on_event(mut self, callback: &'a (dyn Fn(&Event<'_>) + Sync)) -> Self {
        self.on_event = Some(callback);
        self
    }

    /// Stops when `flag` becomes true: lights in flight stop at their next band.
    #[must_use]
    pub fn cancel_flag(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn tell(&self, event: &Event<'_>) {
        if let Some(callback) = self.on_event {
            callback(event);
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Builds (or reuses, or loads) every master of the plan, in order, holding at a time
    /// only the masters that masters still to come use.
    pub fn masters(&self) -> ReductionReport {
        let mut report = ReductionReport::default();
        let mut set = MasterSet::default();
        if let Err(e) = self.masters_folder() {
            for master in &self.plan.masters {
                self.fail(master, &e.to_string(), &mut report);
            }
            return report;
        }
        for (i, master) in self.plan.masters.iter().enumerate() {
            if self.cancelled() {
                break;
            }
            // A failure is in the report and was told; the next masters go on.
            let _ = self.ensure(&master.id, &mut set, &mut report);
            let later: BTreeSet<&MasterId> = self.plan.masters[i + 1..]
                .iter()
                .flat_map(MasterPlan::uses)
                .collect();
            let held: Vec<MasterId> = set.ids().cloned().collect();
            for id in held {
                if !later.contains(&id) {
                    set.remove(&id);
                }
            }
        }
        self.sync_at_end(&mut report, &mut Vec::new(), &[]);
        report
    }

    /// The final sync of [`SyncPolicy::End`] ([`crate::batch::sync_at_end`]): the lights
    /// (`outputs[i]` is the output of `outcomes[i]`) and the masters built or reused, with
    /// their folders. A light whose output cannot be synced becomes a failure; a master, a
    /// failed master.
    fn sync_at_end(
        &self,
        report: &mut ReductionReport,
        outcomes: &mut [(PathBuf, Outcome)],
        outputs: &[PathBuf],
    ) {
        if self.options.sync != SyncPolicy::End {
            return;
        }
        let masters: Vec<(MasterId, PathBuf)> = report
            .built
            .iter()
            .chain(&report.reused)
            .filter_map(|id| self.plan.master(id))
            .map(|m| (m.id.clone(), self.out.join(m.file())))
            .collect();
        let started = Instant::now();
        let paths: Vec<PathBuf> = masters.iter().map(|(_, p)| p.clone()).collect();
        // The masters on their own first, so that their errors are theirs.
        let mut count = masters.len();
        if let Err(errors) = eloy_fits::sync_files(&paths, true) {
            for error in errors {
                if let eloy_fits::Error::Io { path, .. } = &error {
                    for (id, _) in masters
                        .iter()
                        .filter(|(_, p)| p == path || p.parent() == Some(path.as_path()))
                    {
                        report.failed_masters.insert(id.clone(), error.to_string());
                        count -= 1;
                    }
                }
            }
        }
        let outputs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
        count += sync_at_end(outcomes, &outputs, &[]);
        report.synced = Some((count, started.elapsed()));
    }

    fn masters_folder(&self) -> Result<PathBuf> {
        let dir = self.out.join("masters");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Folder {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Builds the masters the plan needs and calibrates every light, group by group.
    ///
    /// With [`SyncPolicy::End`] (the default), the masters and the lights (written now or
    /// found whole) are synced at the end, in one batch with their folders, before `run` returns
    /// ([`ReductionReport::synced`]); a master saved before and found damaged (its
    /// checksum wrong) is rebuilt ([`MasterEvent::Built`] says why), a damaged light
    /// calibrated again ([`Outcome::Redone`]).
    pub fn run(&self) -> ReductionReport {
        let mut report = ReductionReport::default();
        let mut set = MasterSet::default();
        let folder = self.masters_folder();
        let mut outcomes: Vec<(PathBuf, Outcome)> = Vec::new();
        // The output of each outcome (empty for a light without a job), for the final sync.
        let mut outputs: Vec<PathBuf> = Vec::new();
        let mut lights_took = Duration::ZERO;
        for (index, group) in self.plan.groups.iter().enumerate() {
            let recipes: Vec<_> = self.plan.recipes_of(index).collect();
            if self.cancelled() {
                outcomes.extend(
                    lights_of(&recipes)
                        .into_iter()
                        .map(|frame| (frame, Outcome::Cancelled)),
                );
                continue;
            }
            self.tell(&Event::Group { index, group });
            // The group's masters, built or loaded as needed.
            let needed: BTreeSet<&MasterId> = recipes.iter().flat_map(|r| r.masters()).collect();
            let mut missing: Option<String> = folder.as_ref().err().map(ToString::to_string);
            for id in &needed {
                if missing.is_some() {
                    break;
                }
                if let Err(why) = self.ensure(id, &mut set, &mut report) {
                    missing = Some(why);
                }
            }
            if let Some(why) = missing {
                for frame in lights_of(&recipes) {
                    outcomes.push((
                        frame.clone(),
                        Outcome::Failed(Error::NoMasters {
                            path: frame,
                            why: why.clone(),
                        }),
                    ));
                }
                continue;
            }
            let folders: BTreeSet<PathBuf> = recipes
                .iter()
                .filter_map(|r| self.out.join(&r.output).parent().map(Path::to_path_buf))
                .collect();
            let mut created = Ok(());
            for folder in folders {
                if let Err(source) = std::fs::create_dir_all(&folder) {
                    created = Err(Error::Folder {
                        path: folder,
                        source,
                    });
                    break;
                }
            }
            if let Err(e) = created {
                let why = e.to_string();
                for frame in lights_of(&recipes) {
                    outcomes.push((
                        frame.clone(),
                        Outcome::Failed(Error::NoMasters {
                            path: frame,
                            why: why.clone(),
                        }),
                    ));
                }
                continue;
            }
            let jobs: Vec<Job> = Job::from_recipes(&recipes, &self.out);
            let on_progress = |p: &Progress<'_>| self.tell(&Event::Light(p));
            let mut batch = Batch::new(self.options.clone())
                .on_progress(&on_progress)
                .defer_sync();
            if let Some(flag) = self.cancel {
                batch = batch.cancel_flag(flag);
            }
            let started = Instant::now();
            let done = batch.run(&jobs, &set);
            lights_took += started.elapsed();
            outputs.resize(outcomes.len(), PathBuf::new());
            outputs.extend(
                jobs.iter()
                    .map(|job| self.options.compression.output_path(&job.output)),
            );
            outcomes.extend(done.outcomes);
            // Free what later groups do not need (each master of a large sensor is
            // 100 MiB).
            let later: BTreeSet<&MasterId> = self
                .plan
                .recipes
                .iter()
                .filter(|r| r.group > index)
                .flat_map(|r| r.masters())
                .collect();
            let held: Vec<MasterId> = set.ids().cloned().collect();
            for id in held {
                if !later.contains(&id) {
                    set.remove(&id);
                }
            }
        }
        outputs.resize(outcomes.len(), PathBuf::new());
        self.sync_at_end(&mut report, &mut outcomes, &outputs);
        report.lights = BatchReport {
            outcomes,
            synced: None,
        };
        report.lights_took = lights_took;
        report
    }

    fn fail(&self, master: &MasterPlan, why: &str, report: &mut ReductionReport) {
        report
            .failed_masters
            .insert(master.id.clone(), why.to_owned());
        self.tell(&Event::Master(MasterEvent::Failed { plan: master, why }));
    }

    /// Makes master `id` available in `set`: its dependencies first, then built, reused
    /// or loaded. Returns why not.
    fn ensure(
        &self,
        id: &MasterId,
        set: &mut MasterSet,
        report: &mut ReductionReport,
    ) -> std::result::Result<(), String> {
        if set.contains(id) {
            return Ok(());
        }
        if let Some(why) = report.failed_masters.get(id) {
            return Err(why.clone());
        }
        let Some(plan) = self.plan.master(id) else {
            return Err(format!("master {id} is not in the plan"));
        };
        for dependency in plan.uses() {
            if let Err(why) = self.ensure(dependency, set, report) {
                let why = format!("master {id} needs {dependency}: {why}");
                self.fail(plan, &why, report);
                return Err(why);
            }
        }
        match self.make(plan, set, report) {
            Ok(master) => {
                set.insert(id.clone(), master);
                Ok(())
            }
            Err(why) => {
                self.fail(plan, &why, report);
                Err(why)
            }
        }
    }

    fn make(
        &self,
        plan: &MasterPlan,
        set: &MasterSet,
        report: &mut ReductionReport,
    ) -> std::result::Result<Master, String> {
        match &plan.source {
            MasterSource::Constant { value } => {
                // A synthetic bias: the level everywhere, in memory only.
                #[allow(clippy::cast_possible_truncation)]
                let mut master = Master::new(
                    plan.kind,
                    ndarray::Array2::from_elem(plan.shape, *value as f32),
                );
                master.method = format!("a constant level of {value} ADU (--bias-level)");
                Ok(master)
            }
            MasterSource::Library {
                path, normalize, ..
            } => {
                let master = load_library_master(path, plan.kind, plan.exposure, *normalize)
                    .map_err(|e| e.to_string())?;
                self.tell(&Event::Master(MasterEvent::FromLibrary { plan, path }));
                Ok(master)
            }
            MasterSource::Frames { inputs } => {
                let path = self.out.join(plan.file());
                let digest = master_digest(plan, &self.plan.options);
                // A master that a power cut left damaged (its checksum says so) is rebuilt.
                let damaged = if path.exists() && !self.options.overwrite {
                    match eloy_fits::verify_file(&path) {
                        Ok(eloy_fits::Integrity::Damaged(why)) => Some(why),
                        _ => None,
                    }
                } else {
                    None
                };
                if path.exists() && !self.options.overwrite && damaged.is_none() {
                    let (header, _) = eloy_fits::read_header(&path).map_err(|e| e.to_string())?;
                    let saved = header.get::<String>(INPUTS_KEYWORD);
                    if saved.as_deref() == Some(digest.as_str())
                        || saved.as_deref()
                            == Some(master_digest_as_given(plan, &self.plan.options).as_str())
                    {
                        let mut master = Master::load(&path).map_err(|e| e.to_string())?;
                        master.cards = plan.cards.clone();
                        report.reused.push(plan.id.clone());
                        self.tell(&Event::Master(MasterEvent::Reused {
                            plan,
                            master: &master,
                            path: &path,
                        }));
                        return Ok(master);
                    }
                    return Err(format!(
                        "{}: exists but was built from other frames; pass --overwrite to rebuild it",
                        path.display()
                    ));
                }
                let started = Instant::now();
                let mut master =
                    engine::build_master(plan.kind, plan.exposure, inputs, set, &self.plan.options)
                        .map_err(|e| format!("master {} of {}: {e}", plan.kind, plan.id))?;
                master.cards = plan.cards.clone();
                if let Some(pattern) = plan.equalize_cfa {
                    let before = master.uncertainty.is_some().then(|| master.data.clone());
                    crate::equalize_cfa(master.data.view_mut(), pattern)
                        .map_err(|e| format!("master {} of {}: {e}", plan.kind, plan.id))?;
                    // The uncertainty is scaled with the values it describes.
                    if let (Some(before), Some(std)) = (before, master.uncertainty.as_mut()) {
                        ndarray::Zip::from(std)
                            .and(&before)
                            .and(&master.data)
                            .for_each(|s, &old, &new| {
                                if old != 0.0 && old.is_finite() {
                                    *s = (f64::from(*s) * f64::from(new) / f64::from(old)).abs()
                                        as f32;
                                }
                            });
                    }
                    master.method.push_str(&format!(
                        "; CFA equalized ({}: R and B scaled to G)",
                        pattern.name()
                    ));
                }
                master
                    .save_synced(
                        &path,
                        self.options.overwrite || damaged.is_some(),
                        &digest,
                        self.options.sync == SyncPolicy::Each,
                    )
                    .map_err(|e| e.to_string())?;
                report.built.push(plan.id.clone());
                self.tell(&Event::Master(MasterEvent::Built {
                    plan,
                    master: &master,
                    path: &path,
                    took: started.elapsed(),
                    damaged: damaged.as_deref(),
                }));
                Ok(master)
            }
        }
    }
}

/// A master from a library file: eloy's (`ELOYMSTR`) loaded as saved; another program's
/// read as an image of the kind its plan says, a flat divided by its (NaN-skipping) mean
/// when `normalize`.
///
/// # Errors
/// Read errors naming the file.
pub fn load_library_master(
    path: &Path,
    kind: MasterKind,
    exposure: Option<f64>,
    normalize: bool,
) -> Result<Master> {
    if let Ok(master) = Master::load(path) {
        return Ok(master);
    }
    let image = eloy_fits::read(path)?;
    let mut master = Master::new(kind, image.data);
    master.path = Some(path.to_path_buf());
    master.exposure = exposure;
    master.method = format!("{} from a library", kind.title());
    if normalize {
        let (sum, count) = master
            .data
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0.0f64, 0u64), |(s, n), &v| (s + f64::from(v), n + 1));
        if count > 0 {
            #[allow(clippy::cast_precision_loss)]
            let mean = sum / count as f64;
            #[allow(clippy::cast_possible_truncation)]
            master.data.mapv_inplace(|v| (f64::from(v) / mean) as f32);
        }
    }
    Ok(master)
}

/// Builds (or reuses) every master of `plan` into `out/masters/` and returns them all in
/// memory: the simplest way to calibrate a plan's lights with a [`Batch`]. A night of a
/// large sensor with many filters holds all its masters at once; [`Reduction::run`] holds
/// only those still needed.
///
/// # Errors
/// [`Error::NoMasters`] naming the first master that could not be made, and why.
///
/// ```
/// let plan = eloy_calib::Plan::default();
/// let dir = tempfile::tempdir().unwrap();
/// assert!(eloy_calib::build_masters(&plan, dir.path()).unwrap().is_empty());
/// ```
pub fn build_masters(plan: &Plan, out: &Path) -> Result<MasterSet> {
    let reduction = Reduction::new(plan, out);
    let mut report = ReductionReport::default();
    let mut set = MasterSet::default();
    reduction.masters_folder()?;
    for master in &plan.masters {
        reduction
            .ensure(&master.id, &mut set, &mut report)
            .map_err(|why| Error::NoMasters {
                path: out.join(master.file()),
                why,
            })?;
    }
    reduction.sync_at_end(&mut report, &mut [], &[]);
    if let Some((id, why)) = report.failed_masters.into_iter().next() {
        let path = plan
            .master(&id)
            .map_or_else(|| out.to_path_buf(), |m| out.join(m.file()));
        return Err(Error::NoMasters { path, why });
    }
    Ok(set)
}

/// The lights of `recipes`, each once (a mosaic light has a recipe per extension), in
/// order.
fn lights_of(recipes: &[&crate::plan::Recipe]) -> Vec<PathBuf> {
    let mut lights: Vec<PathBuf> = Vec::new();
    for recipe in recipes {
        if lights.last() != Some(&recipe.frame) {
            lights.push(recipe.frame.clone());
        }
    }
    lights
}
