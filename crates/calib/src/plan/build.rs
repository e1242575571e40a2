//! The planner: from a catalog's frames to masters, recipes and decisions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use eloy_fits::{Binning, Catalog, ExposureKey, FrameKind, FrameMeta};

use super::geometry::Geometry;
use super::rules::Rules;
use super::select::{Choice, Mismatch, camera_cards, choose, compatible, number, same_filter};
use super::{
    Decision, Failure, Input, LightGroup, MasterId, MasterPlan, MasterSource, Origin, Plan, Recipe,
    Step, Term,
};
use crate::batch::output_name;
use crate::library::{Library, LibraryMaster};
use crate::masters::MasterKind;

/// The group key of a light: night, shape, binning, filter, camera state.
type GroupKey = (
    Option<NaiveDate>,
    (usize, usize),
    Binning,
    Option<String>,
    Vec<Option<String>>,
);

/// A master the planner has placed: its id and how many frames it holds.
#[derive(Clone, Debug)]
struct Placed {
    id: MasterId,
    kind: MasterKind,
    exposure: Option<f64>,
    frames: Option<usize>,
    origin: Origin,
    /// The master uses `DARKTIME` for its scaling (a dark rate built from frames that carry
    /// it).
    dark_time: bool,
}

impl Placed {
    fn decision(&self) -> Decision {
        Decision::Uses {
            kind: self.kind,
            master: self.id.clone(),
            exposure: self.exposure,
            frames: self.frames,
            origin: self.origin.clone(),
        }
    }
}

/// How the dark current of a group's lights is taken out.
enum DarkModel {
    /// Bias frames: Python eloy's dark rate times the exposure, plus the bias.
    Rate(Option<Placed>),
    /// No bias: a dark of each exposure, subtracted as it is.
    Direct(Vec<Placed>),
}

pub(super) struct Planner<'a> {
    catalog: &'a Catalog,
    geometry: &'a HashMap<PathBuf, Vec<Step>>,
    rules: &'a Rules,
    library: &'a Library,
    key: ExposureKey,
    raw: BTreeMap<FrameKind, Vec<&'a FrameMeta>>,
    plan: Plan,
    /// Masters by what they are made of, so that one set of frames makes one master.
    by_signature: HashMap<String, MasterId>,
    names: BTreeSet<String>,
    left_out: BTreeMap<PathBuf, String>,
    used: BTreeSet<PathBuf>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(geometry: &'a Geometry, rules: &'a Rules, library: &'a Library) -> Self {
        let catalog = &geometry.catalog;
        let mut left_out = BTreeMap::new();
        let mut failures = Vec::new();
        for (path, kind, why) in &geometry.problems {
            if *kind == Some(FrameKind::Light) {
                failures.push(Failure {
                    frame: path.clone(),
                    why: why.clone(),
                });
            } else {
                left_out.insert(path.clone(), why.clone());
            }
        }
        let mut raw: BTreeMap<FrameKind, Vec<&FrameMeta>> = BTreeMap::new();
        for frame in &catalog.frames {
            if let (Some(kind), None) = (frame.kind, &frame.processed) {
                if kind != FrameKind::Light {
                    raw.entry(kind).or_default().push(frame);
                }
            }
        }
        for frames in raw.values_mut() {
            frames.sort_by(|a, b| (a.date_obs, &a.path).cmp(&(b.date_obs, &b.path)));
        }
        Planner {
            catalog,
            geometry: &geometry.steps,
            rules,
            library,
            key: ExposureKey::from_keyword(&rules.masters.exposure_key),
            raw,
            plan: Plan {
                options: if rules.uncertainty.is_some() {
                    crate::MasterOptions {
                        combine: rules.masters.combine.clone().with_uncertainty(),
                        ..rules.masters.clone()
                    }
                } else {
                    rules.masters.clone()
                },
                failures,
                ..Plan::default()
            },
            by_signature: HashMap::new(),
            names: BTreeSet::new(),
            left_out,
            used: BTreeSet::new(),
        }
    }

    /// The overscan and trim steps of a frame (none for most).
    fn geometry_of(&self, path: &Path) -> Vec<Step> {
        self.geometry.get(path).cloned().unwrap_or_default()
    }

    fn frames(&self, kind: FrameKind) -> Vec<&'a FrameMeta> {
        self.raw.get(&kind).cloned().unwrap_or_default()
    }

    pub(super) fn run(mut self) -> Plan {
        let mut groups: BTreeMap<GroupKey, Vec<&'a FrameMeta>> = BTreeMap::new();
        for light in self.catalog.lights() {
            if self.rules.night.is_some_and(|n| light.night != Some(n)) {
                continue;
            }
            let key = (
                light.night,
                light.shape,
                light.binning,
                light.filter.clone(),
                super::select::state_key(light),
            );
            groups.entry(key).or_default().push(light);
        }
        for lights in groups.into_values() {
            self.plan_group(&lights);
        }
        if self.rules.all_masters {
            self.plan_library_masters();
        }
        self.say_unused();
        self.plan
    }

    /// A frame standing for the group: the first light, with the lights' mean sensor
    /// temperature.
    fn representative(frames: &[&FrameMeta]) -> FrameMeta {
        let mut target = frames[0].clone();
        let temps: Vec<f64> = frames.iter().filter_map(|f| f.ccd_temp).collect();
        if temps.len() == frames.len() {
            #[allow(clippy::cast_precision_loss)]
            let mean = temps.iter().sum::<f64>() / temps.len() as f64;
            target.ccd_temp = Some(mean);
        }
        target
    }

    fn plan_group(&mut self, lights: &[&'a FrameMeta]) {
        let target = Self::representative(lights);
        let mut label = label(target.night, target.shape, target.binning);
        // Groups of one night, shape, binning and filter differ by their camera state:
        // said in the label of the second and the next.
        let twin = self.plan.groups.iter().any(|g| {
            g.label == label && same_filter(g.filter.as_deref(), target.filter.as_deref())
        });
        if twin {
            if let Some(state) = state_suffix(&camera_cards(lights)) {
                label = format!("{label}_{state}");
            }
        }
        let mut decisions = Vec::new();
        let bias = self.bias_for(&target, &label, &mut decisions);
        // `--dark-scale none`: darks of the lights' exposures only, as they are.
        let scaling_bias = match self.rules.dark_scale {
            super::rules::DarkScale::None => None,
            _ => bias.as_ref(),
        };
        let model = self.dark_for(&target, &label, scaling_bias, lights, &mut decisions);
        if self.rules.dark_scale == super::rules::DarkScale::Optimize
            && !(bias.is_some() && matches!(model, DarkModel::Rate(Some(_))))
        {
            decisions.push(Decision::NotCorrected {
                kind: MasterKind::Dark,
                frames: lights.iter().map(|l| l.path.clone()).collect(),
                why: "dark optimisation needs bias frames (or --bias-level) and darks to scale (Siril's -opt scales a bias-free dark); the dark is subtracted without it".to_owned(),
            });
        }
        let flat = self.flat_for(&target, &label, lights, &mut decisions);
        let group = self.plan.groups.len();
        let mut recipes = Vec::new();
        let mut failures = Vec::new();
        for light in lights {
            match self.recipe(light, group, bias.as_ref(), &model, flat.as_ref()) {
                Ok(recipe) => recipes.push(recipe),
                Err(why) => failures.push(Failure {
                    frame: light.path.clone(),
                    why,
                }),
            }
        }
        self.plan.recipes.extend(recipes);
        self.plan.failures.extend(failures);
        self.plan.groups.push(LightGroup {
            label,
            night: target.night,
            shape: target.shape,
            binning: target.binning,
            filter: target.filter.clone(),
            camera: camera_cards(lights),
            lights: lights.iter().map(|l| l.path.clone()).collect(),
            decisions,
        });
    }

    fn recipe(
        &self,
        light: &FrameMeta,
        group: usize,
        bias: Option<&Placed>,
        model: &DarkModel,
        flat: Option<&Placed>,
    ) -> Result<Recipe, String> {
        let exposure = light.exposure_seconds(&self.key);
        let mut terms = Vec::new();
        match model {
            DarkModel::Rate(Some(dark)) => {
                let seconds = exposure.as_ref().map_err(ToString::to_string)?;
                let factor = match (dark.dark_time, light.dark_time) {
                    (true, Some(t)) => t,
                    _ => *seconds,
                };
                terms.push(Term {
                    master: dark.id.clone(),
                    factor,
                });
            }
            DarkModel::Direct(darks) if !darks.is_empty() => {
                // The dark is chosen by exposure: a light without one cannot get it.
                let seconds = exposure.as_ref().map_err(ToString::to_string)?;
                {
                    if let Some(dark) = darks.iter().find(|d| {
                        d.exposure
                            .is_some_and(|e| self.rules.exposure_match.matches(e, *seconds))
                    }) {
                        terms.push(Term {
                            master: dark.id.clone(),
                            factor: 1.0,
                        });
                    }
                }
            }
            _ => {}
        }
        // A dark subtracted as it is holds the bias: the bias only where it is not.
        let direct = matches!(model, DarkModel::Direct(_)) && !terms.is_empty();
        if let (Some(bias), false) = (bias, direct) {
            terms.push(Term {
                master: bias.id.clone(),
                factor: 1.0,
            });
        }
        let mut steps = self.geometry_of(&light.path);
        if let Some(uncertainty) = &self.rules.uncertainty {
            steps.push(self.deviation_of(light, uncertainty)?);
        }
        if let (super::rules::DarkScale::Optimize, DarkModel::Rate(Some(dark)), Some(bias)) =
            (self.rules.dark_scale, model, bias)
        {
            steps.push(Step::OptimizeDark {
                dark: dark.id.clone(),
                bias: bias.id.clone(),
                search: crate::DarkOptimization::default(),
            });
        }
        if !terms.is_empty() {
            steps.push(Step::Subtract { terms });
        }
        if let Some(flat) = flat {
            steps.push(Step::DivideByFlat {
                master: flat.id.clone(),
                minimum: self.rules.flat_minimum,
            });
        }
        if let Some(gain) = self.gain_of(light)? {
            steps.push(Step::ToElectrons { gain });
        }
        if let Some(adu) = self.rules.pedestal {
            steps.push(Step::Pedestal { adu });
        }
        if let Some(options) = &self.rules.cosmetic {
            let dark = match model {
                DarkModel::Rate(Some(dark)) => Some(dark.id.clone()),
                DarkModel::Direct(darks) => terms_dark(&steps, darks),
                DarkModel::Rate(None) => None,
            };
            let flat = options.dead.and(flat.map(|f| f.id.clone()));
            let sensor = if light.bayer_pattern.is_some() {
                crate::Sensor::Bayer
            } else {
                crate::Sensor::Mono
            };
            if dark.is_some() || flat.is_some() || options.list.is_some() {
                steps.push(Step::Cosmetic {
                    dark,
                    flat,
                    list: options.list.clone(),
                    options: options.clone(),
                    sensor,
                });
            }
        }
        steps.push(Step::Invalid {
            rule: self.rules.invalid,
        });
        let night = light
            .night
            .map_or_else(|| "undated".to_owned(), |d| d.to_string());
        Ok(Recipe {
            frame: light.path.clone(),
            output: Path::new(&night).join(output_name(&light.path)),
            group,
            exposure: exposure.ok(),
            shape: light.shape,
            steps,
            extension: light.extension.clone(),
        })
    }

    /// The deviation step of a light: its gain and read noise, checked.
    fn deviation_of(
        &self,
        light: &FrameMeta,
        uncertainty: &super::rules::Uncertainty,
    ) -> Result<Step, String> {
        let gain = match self.rules.gain {
            super::rules::Gain::None => self.gain_from(light, super::rules::Gain::Header),
            other => self.gain_from(light, other),
        }
        .map_err(|e| format!("{e} (for the uncertainty)"))?
        .unwrap_or(1.0);
        let (read_noise, keyword) = match (uncertainty.read_noise, light.read_noise) {
            (Some(r), _) => (r, "--read-noise"),
            (None, Some(r)) => (r, "RDNOISE"),
            (None, None) => {
                return Err(format!(
                    "{}: header has no RDNOISE keyword: give the read noise in electrons (--read-noise) for the uncertainty",
                    light.path.display()
                ));
            }
        };
        if !(read_noise >= 0.0 && read_noise.is_finite()) {
            return Err(format!(
                "{}: read noise {keyword} = {} is not a number of electrons at least 0",
                light.path.display(),
                number(read_noise)
            ));
        }
        Ok(Step::Deviation { gain, read_noise })
    }

    /// The gain a light is converted to electrons with, if asked (see [`Rules::gain`]).
    fn gain_of(&self, light: &FrameMeta) -> Result<Option<f64>, String> {
        self.gain_from(light, self.rules.gain)
    }

    /// The gain of a light under the rule `rule`.
    fn gain_from(
        &self,
        light: &FrameMeta,
        rule: super::rules::Gain,
    ) -> Result<Option<f64>, String> {
        let (gain, keyword) = match rule {
            super::rules::Gain::None => return Ok(None),
            super::rules::Gain::Given(g) => (g, "--gain"),
            super::rules::Gain::Header => match (light.egain, light.gain) {
                (Some(e), _) => (e, "EGAIN"),
                (None, Some(g)) if g > 20.0 => {
                    return Err(format!(
                        "{}: GAIN = {} is a camera's gain setting, not electrons per ADU, and the header has no EGAIN: give the gain (--gain)",
                        light.path.display(),
                        number(g)
                    ));
                }
                (None, Some(g)) => (g, "GAIN"),
                (None, None) => {
                    return Err(format!(
                        "{}: header has no EGAIN nor GAIN keyword: give the gain (--gain) to convert to electrons",
                        light.path.display()
                    ));
                }
            },
        };
        if gain > 0.0 && gain.is_finite() {
            Ok(Some(gain))
        } else {
            Err(format!(
                "{}: gain {keyword} = {} is not a positive number of electrons per ADU",
                light.path.display(),
                number(gain)
            ))
        }
    }

    // --- Bias -----------------------------------------------------------------------

    fn bias_for(
        &mut self,
        target: &FrameMeta,
        label: &str,
        decisions: &mut Vec<Decision>,
    ) -> Option<Placed> {
        let candidates = self.frames(FrameKind::Bias);
        let choice = choose(
            target,
            &candidates,
            self.rules,
            false,
            self.rules.other_nights,
        );
        if let Some(origin) = choice.origin.clone() {
            if let Some(placed) = self.place_frames(
                MasterKind::Bias,
                None,
                &choice,
                origin,
                |_| Some(Vec::new()),
                None,
            ) {
                decisions.push(placed.decision());
                return Some(placed);
            }
        }
        if let Some(master) = self.library_master(target, MasterKind::Bias, None, false) {
            decisions.push(master.decision());
            return Some(master);
        }
        if let Some(level) = &self.rules.bias_level {
            match self.synthetic_bias(target, label, level) {
                Ok(master) => {
                    decisions.push(master.decision());
                    return Some(master);
                }
                Err(why) => decisions.push(Decision::NotCorrected {
                    kind: MasterKind::Bias,
                    frames: vec![target.path.clone()],
                    why,
                }),
            }
        }
        decisions.push(Decision::Default {
            kind: MasterKind::Bias,
            master: MasterId(format!("{label}_bias")),
        });
        None
    }

    /// A constant bias (`--bias-level`) for frames like `target`: the level, or a keyword
    /// of theirs (`OFFSET`, `BLKLEVEL`) times a factor.
    fn synthetic_bias(
        &mut self,
        target: &FrameMeta,
        label: &str,
        level: &crate::BiasLevel,
    ) -> Result<Placed, String> {
        let value = match level {
            crate::BiasLevel::Constant(v) => *v,
            crate::BiasLevel::Keyword { keyword, factor } => {
                let value = match keyword.as_str() {
                    "OFFSET" | "BLKLEVEL" => target.offset,
                    other => {
                        return Err(format!(
                            "--bias-level {level}: eloy reads OFFSET and BLKLEVEL, not {other}"
                        ));
                    }
                };
                value.map(|v| v * factor).ok_or_else(|| {
                    format!(
                        "{}: --bias-level {level} needs {keyword}, which the header lacks; bias not subtracted",
                        target.path.display()
                    )
                })?
            }
        };
        let signature = format!("constant|{value}|{:?}", target.shape);
        let id = match self.by_signature.get(&signature) {
            Some(id) => id.clone(),
            None => {
                let id = self.unique(format!("{label}_bias_level_{}", sanitize(&number(value))));
                self.by_signature.insert(signature, id.clone());
                self.plan.masters.push(MasterPlan {
                    id: id.clone(),
                    kind: MasterKind::Bias,
                    exposure: None,
                    night: target.night,
                    shape: target.shape,
                    binning: target.binning,
                    filter: None,
                    cards: BTreeMap::new(),
                    source: MasterSource::Constant { value },
                    equalize_cfa: None,
                });
                id
            }
        };
        Ok(Placed {
            id,
            kind: MasterKind::Bias,
            exposure: None,
            frames: None,
            origin: Origin::Synthetic {
                level: level.to_string(),
            },
            dark_time: false,
        })
    }

    // --- Dark -----------------------------------------------------------------------

    fn dark_for(
        &mut self,
        target: &FrameMeta,
        label: &str,
        bias: Option<&Placed>,
        lights: &[&FrameMeta],
        decisions: &mut Vec<Decision>,
    ) -> DarkModel {
        let candidates = self.frames(FrameKind::Dark);
        if let Some(bias) = bias {
            let dark = self.rate_dark(target, &candidates, bias);
            match &dark {
                Some(dark) => decisions.push(dark.decision()),
                None => match self.state_mismatch(target, &candidates, false) {
                    // Darks there are, of another camera state: not Python eloy's
                    // "no frames", and said so.
                    Some(mismatch) => decisions.push(Decision::NotCorrected {
                        kind: MasterKind::Dark,
                        frames: lights.iter().map(|l| l.path.clone()).collect(),
                        why: format!("the darks do not serve: {mismatch}; dark not subtracted"),
                    }),
                    None => {
                        // A library's darks of the lights' exposures, subtracted as they
                        // are in place of the bias (they hold it).
                        let darks = self.library_direct_darks(target, lights, decisions);
                        if !darks.is_empty() {
                            return DarkModel::Direct(darks);
                        }
                        decisions.push(Decision::Default {
                            kind: MasterKind::Dark,
                            master: MasterId(format!("{label}_dark")),
                        });
                    }
                },
            }
            return DarkModel::Rate(dark);
        }
        // No bias: a dark of each exposure of the lights.
        if candidates.is_empty() && self.library.of_kind(MasterKind::Dark).is_empty() {
            decisions.push(Decision::Default {
                kind: MasterKind::Dark,
                master: MasterId(format!("{label}_dark")),
            });
            return DarkModel::Direct(Vec::new());
        }
        let exposures = self.exposures(lights);
        let usable: Vec<&'a FrameMeta> = candidates
            .iter()
            .copied()
            .filter(|d| d.exposure_seconds(&self.key).is_ok())
            .collect();
        let mut darks = Vec::new();
        for t in exposures {
            let of_exposure = self.of_exposure(&usable, t);
            let choice = choose(
                target,
                &of_exposure,
                self.rules,
                false,
                self.rules.other_nights,
            );
            let placed = match choice.origin.clone() {
                Some(origin) => self.place_frames(
                    MasterKind::Dark,
                    Some(t),
                    &choice,
                    origin,
                    |_| Some(Vec::new()),
                    None,
                ),
                None => None,
            }
            .or_else(|| self.library_master(target, MasterKind::Dark, Some(t), false));
            match placed {
                Some(dark) => {
                    decisions.push(dark.decision());
                    darks.push(dark);
                }
                None => {
                    let frames: Vec<PathBuf> = lights
                        .iter()
                        .filter(|l| {
                            l.exposure_seconds(&self.key)
                                .is_ok_and(|e| self.rules.exposure_match.matches(e, t))
                        })
                        .map(|l| l.path.clone())
                        .collect();
                    let why = match self.state_mismatch(target, &of_exposure, false) {
                        Some(mismatch) => format!(
                            "the darks of {t} s do not serve: {mismatch}; no bias frames to scale darks of other exposures; dark not subtracted",
                            t = number(t)
                        ),
                        None if self.rules.dark_scale == super::rules::DarkScale::None => {
                            let mut others: Vec<String> = usable
                                .iter()
                                .filter_map(|d| d.exposure_seconds(&self.key).ok())
                                .map(|e| format!("{} s", number(e)))
                                .collect();
                            others.sort();
                            others.dedup();
                            format!(
                                "no dark of {} s (the darks: {}), and darks are not scaled (dark scale 'none'); dark not subtracted",
                                number(t),
                                if others.is_empty() {
                                    "none".to_owned()
                                } else {
                                    others.join(", ")
                                }
                            )
                        }
                        None => format!(
                            "no bias frames, and no dark of {} s: darks of other exposures carry the camera's offset and cannot be scaled without a bias; dark not subtracted",
                            number(t)
                        ),
                    };
                    decisions.push(Decision::NotCorrected {
                        kind: MasterKind::Dark,
                        frames,
                        why,
                    });
                }
            }
        }
        DarkModel::Direct(darks)
    }

    /// The exposures of `frames`, each once (within the exposure match), sorted.
    fn exposures(&self, frames: &[&FrameMeta]) -> Vec<f64> {
        let mut exposures: Vec<f64> = Vec::new();
        for frame in frames {
            if let Ok(t) = frame.exposure_seconds(&self.key) {
                if !exposures
                    .iter()
                    .any(|e| self.rules.exposure_match.matches(*e, t))
                {
                    exposures.push(t);
                }
            }
        }
        exposures.sort_by(f64::total_cmp);
        exposures
    }

    /// For a group with a bias and no darks to scale: the library's darks of the lights'
    /// exposures, subtracted as they are (they hold the bias). Empty when the library has
    /// none; when it has some, the lights of an exposure it lacks are said not corrected.
    fn library_direct_darks(
        &mut self,
        target: &FrameMeta,
        lights: &[&FrameMeta],
        decisions: &mut Vec<Decision>,
    ) -> Vec<Placed> {
        let exposures = self.exposures(lights);
        let found: Vec<(f64, Option<Placed>)> = exposures
            .into_iter()
            .map(|t| {
                (
                    t,
                    self.library_master(target, MasterKind::Dark, Some(t), false),
                )
            })
            .collect();
        if found.iter().all(|(_, d)| d.is_none()) {
            return Vec::new();
        }
        let mut darks = Vec::new();
        for (t, dark) in found {
            match dark {
                Some(dark) => {
                    decisions.push(dark.decision());
                    darks.push(dark);
                }
                None => decisions.push(Decision::NotCorrected {
                    kind: MasterKind::Dark,
                    frames: lights
                        .iter()
                        .filter(|l| {
                            l.exposure_seconds(&self.key)
                                .is_ok_and(|e| self.rules.exposure_match.matches(e, t))
                        })
                        .map(|l| l.path.clone())
                        .collect(),
                    why: format!(
                        "no dark of {} s, and no darks tonight to scale; dark not subtracted",
                        number(t)
                    ),
                }),
            }
        }
        darks
    }

    /// Darks whose exposure matches `t`.
    fn of_exposure(&self, frames: &[&'a FrameMeta], t: f64) -> Vec<&'a FrameMeta> {
        frames
            .iter()
            .copied()
            .filter(|d| {
                d.exposure_seconds(&self.key)
                    .is_ok_and(|e| self.rules.exposure_match.matches(e, t))
            })
            .collect()
    }

    /// Python eloy's master dark: the combination of `(dark - bias) / exposure`.
    fn rate_dark(
        &mut self,
        target: &FrameMeta,
        candidates: &[&'a FrameMeta],
        bias: &Placed,
    ) -> Option<Placed> {
        let choice = choose(
            target,
            candidates,
            self.rules,
            false,
            self.rules.other_nights,
        );
        if let Some(origin) = choice.origin.clone() {
            let dark_time =
                self.rules.dark_time && choice.frames.iter().all(|f| f.dark_time.is_some());
            let key = self.key.clone();
            let bias_id = bias.id.clone();
            let placed = self.place_frames(
                MasterKind::Dark,
                None,
                &choice,
                origin,
                |frame| {
                    let seconds = if dark_time {
                        frame.dark_time?
                    } else {
                        frame.exposure_seconds(&key).ok()?
                    };
                    Some(vec![
                        Step::Subtract {
                            terms: vec![Term {
                                master: bias_id.clone(),
                                factor: 1.0,
                            }],
                        },
                        Step::DivideByExposure { seconds },
                    ])
                },
                Some(dark_time),
            );
            if placed.is_some() {
                return placed;
            }
        }
        self.library_master(target, MasterKind::Dark, None, true)
    }

    // --- Flat -----------------------------------------------------------------------

    fn flat_for(
        &mut self,
        target: &FrameMeta,
        label: &str,
        lights: &[&FrameMeta],
        decisions: &mut Vec<Decision>,
    ) -> Option<Placed> {
        let candidates = self.frames(FrameKind::Flat);
        let choice = choose(
            target,
            &candidates,
            self.rules,
            true,
            self.rules.flats_from_other_nights,
        );
        let flat_label = flat_label(label, target.filter.as_deref());
        let Some(origin) = choice.origin.clone() else {
            if let Some(master) = self.library_master(target, MasterKind::Flat, None, false) {
                decisions.push(master.decision());
                return Some(master);
            }
            // Flats of the lights' filter there are, of another camera state: said, not
            // taken for Python eloy's "no flats".
            let tonight: Vec<&FrameMeta> = candidates
                .iter()
                .copied()
                .filter(|f| self.rules.flats_from_other_nights || f.night == target.night)
                .collect();
            match self.state_mismatch(target, &tonight, true) {
                Some(mismatch) => decisions.push(Decision::NotCorrected {
                    kind: MasterKind::Flat,
                    frames: lights.iter().map(|l| l.path.clone()).collect(),
                    why: format!("the flats do not serve: {mismatch}; not flat-fielded"),
                }),
                None => decisions.push(Decision::Default {
                    kind: MasterKind::Flat,
                    master: MasterId(format!("{flat_label}_flat")),
                }),
            }
            return None;
        };
        let flats = choice.frames.clone();
        let placed = self.master_flat(&flats, origin, decisions);
        match &placed {
            Some(flat) => decisions.push(flat.decision()),
            None => decisions.push(Decision::Default {
                kind: MasterKind::Flat,
                master: MasterId(format!("{flat_label}_flat")),
            }),
        }
        placed
    }

    /// The master flat of `flats` (one filter and camera state), with the corrections
    /// their own calibration frames allow.
    fn master_flat(
        &mut self,
        flats: &[&'a FrameMeta],
        origin: Origin,
        decisions: &mut Vec<Decision>,
    ) -> Option<Placed> {
        let target = Self::representative(flats);
        let nan = self.rules.masters.flat_mean;
        let key = self.key.clone();
        let normalize = Step::Normalize {
            by: self.rules.flat_normalization.clone(),
            nan,
        };
        // 1. Dark flats of each flat's exposure.
        let dark_flats = self.frames(FrameKind::DarkFlat);
        if !dark_flats.is_empty() || !self.library.of_kind(MasterKind::DarkFlat).is_empty() {
            let by_exposure =
                self.direct_masters(&target, flats, MasterKind::DarkFlat, &dark_flats);
            if !by_exposure.is_empty() {
                let mut matched = Vec::new();
                for flat in flats {
                    let master = flat.exposure_seconds(&key).ok().and_then(|t| {
                        by_exposure.iter().find(|d| {
                            d.exposure
                                .is_some_and(|e| self.rules.exposure_match.matches(e, t))
                        })
                    });
                    match master {
                        Some(d) => matched.push((*flat, d.id.clone())),
                        None => {
                            self.left_out.insert(
                                flat.path.clone(),
                                format!(
                                    "{}: no dark flat of its exposure ({}): left out of the master flat",
                                    flat.path.display(),
                                    flat.exposure.map_or_else(|| "unknown".to_owned(), |e| format!("{} s", number(e)))
                                ),
                            );
                        }
                    }
                }
                for d in &by_exposure {
                    decisions.push(d.decision());
                }
                let frames: Vec<&FrameMeta> = matched.iter().map(|(f, _)| *f).collect();
                let chosen: HashMap<&Path, MasterId> = matched
                    .iter()
                    .map(|(f, id)| (f.path.as_path(), id.clone()))
                    .collect();
                return self.place_frames(
                    MasterKind::Flat,
                    None,
                    &Choice {
                        frames,
                        origin: Some(origin.clone()),
                    },
                    origin,
                    |frame| {
                        Some(vec![
                            Step::Subtract {
                                terms: vec![Term {
                                    master: chosen.get(frame.path.as_path())?.clone(),
                                    factor: 1.0,
                                }],
                            },
                            normalize.clone(),
                        ])
                    },
                    None,
                );
            }
        }
        // 2. Bias, and a dark rate scaled to each flat's exposure.
        let mut flat_decisions = Vec::new();
        let label = label(target.night, target.shape, target.binning);
        let bias = self.bias_for(&target, &label, &mut flat_decisions);
        if let Some(bias) = bias {
            let candidates = self.frames(FrameKind::Dark);
            let dark = match self.rules.dark_scale {
                super::rules::DarkScale::None => None,
                _ => self.rate_dark(&target, &candidates, &bias),
            };
            let bias_id = bias.id.clone();
            return self.place_frames(
                MasterKind::Flat,
                None,
                &Choice {
                    frames: flats.to_vec(),
                    origin: Some(origin.clone()),
                },
                origin,
                |frame| {
                    let mut steps = vec![Step::Subtract {
                        terms: vec![Term {
                            master: bias_id.clone(),
                            factor: 1.0,
                        }],
                    }];
                    if let Some(dark) = &dark {
                        let seconds = match (dark.dark_time, frame.dark_time) {
                            (true, Some(t)) => t,
                            _ => frame.exposure_seconds(&key).ok()?,
                        };
                        steps.push(Step::Subtract {
                            terms: vec![Term {
                                master: dark.id.clone(),
                                factor: seconds,
                            }],
                        });
                    }
                    steps.push(normalize.clone());
                    Some(steps)
                },
                None,
            );
        }
        // 3. Darks of the flats' exposures, subtracted as they are.
        let darks = self.frames(FrameKind::Dark);
        let by_exposure = self.direct_masters(&target, flats, MasterKind::Dark, &darks);
        let all_matched = flats.iter().all(|f| {
            f.exposure_seconds(&key).is_ok_and(|t| {
                by_exposure.iter().any(|d| {
                    d.exposure
                        .is_some_and(|e| self.rules.exposure_match.matches(e, t))
                })
            })
        });
        if !by_exposure.is_empty() && all_matched {
            for d in &by_exposure {
                decisions.push(d.decision());
            }
            let by_exposure = by_exposure.clone();
            let matcher = self.rules.exposure_match;
            return self.place_frames(
                MasterKind::Flat,
                None,
                &Choice {
                    frames: flats.to_vec(),
                    origin: Some(origin.clone()),
                },
                origin,
                |frame| {
                    let t = frame.exposure_seconds(&key).ok()?;
                    let dark = by_exposure
                        .iter()
                        .find(|d| d.exposure.is_some_and(|e| matcher.matches(e, t)))?;
                    Some(vec![
                        Step::Subtract {
                            terms: vec![Term {
                                master: dark.id.clone(),
                                factor: 1.0,
                            }],
                        },
                        normalize.clone(),
                    ])
                },
                None,
            );
        }
        // 4. Nothing to take the offset out of the flats.
        if !(self.frames(FrameKind::Dark).is_empty() && self.frames(FrameKind::DarkFlat).is_empty())
        {
            let exposures: BTreeSet<String> = flats
                .iter()
                .filter_map(|f| f.exposure.map(number))
                .collect();
            decisions.push(Decision::NotCorrected {
                kind: MasterKind::DarkFlat,
                frames: flats.iter().map(|f| f.path.clone()).collect(),
                why: format!(
                    "the flats keep the camera's offset: no bias frames, no dark flats and no darks of their exposure ({} s)",
                    exposures.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        self.place_frames(
            MasterKind::Flat,
            None,
            &Choice {
                frames: flats.to_vec(),
                origin: Some(origin.clone()),
            },
            origin,
            |_| Some(vec![normalize.clone()]),
            None,
        )
    }

    /// Masters of `kind` subtracted as they are (darks or dark flats), one per exposure of
    /// `frames`, from `candidates` or the library.
    fn direct_masters(
        &mut self,
        target: &FrameMeta,
        frames: &[&'a FrameMeta],
        kind: MasterKind,
        candidates: &[&'a FrameMeta],
    ) -> Vec<Placed> {
        let usable: Vec<&'a FrameMeta> = candidates
            .iter()
            .copied()
            .filter(|d| d.exposure_seconds(&self.key).is_ok())
            .collect();
        let mut exposures: Vec<f64> = Vec::new();
        for frame in frames {
            if let Ok(t) = frame.exposure_seconds(&self.key) {
                if !exposures
                    .iter()
                    .any(|e| self.rules.exposure_match.matches(*e, t))
                {
                    exposures.push(t);
                }
            }
        }
        exposures.sort_by(f64::total_cmp);
        let mut placed = Vec::new();
        for t in exposures {
            let of_exposure = self.of_exposure(&usable, t);
            let choice = choose(
                target,
                &of_exposure,
                self.rules,
                false,
                self.rules.other_nights,
            );
            let master = match choice.origin.clone() {
                Some(origin) => {
                    self.place_frames(kind, Some(t), &choice, origin, |_| Some(Vec::new()), None)
                }
                None => None,
            }
            .or_else(|| self.library_master(target, kind, Some(t), false));
            placed.extend(master);
        }
        placed
    }

    /// Why none of `candidates` (calibration frames of one kind) serves `target` when the
    /// reason is the camera state: their mismatches of camera settings or temperature
    /// (`other gain (GAIN 100, the frames' 300)`), each once, joined by `; `. `None` when
    /// one of them is compatible, or when none is of the target's shape, binning (and
    /// filter, when `filter`): then there are no such frames at all.
    fn state_mismatch(
        &self,
        target: &FrameMeta,
        candidates: &[&FrameMeta],
        filter: bool,
    ) -> Option<String> {
        let mut reasons: Vec<String> = Vec::new();
        for candidate in candidates {
            match compatible(target, candidate, self.rules, filter) {
                Ok(()) => return None,
                Err(m @ (Mismatch::Field { .. } | Mismatch::Temperature { .. })) => {
                    let text = m.to_string();
                    if !reasons.contains(&text) {
                        reasons.push(text);
                    }
                }
                Err(_) => {}
            }
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    // --- Masters --------------------------------------------------------------------

    /// Places a master made of `choice`'s frames, each with the steps `steps_of` gives
    /// (`None`: the frame cannot be used, for want of an exposure, and is left out).
    fn place_frames(
        &mut self,
        kind: MasterKind,
        exposure: Option<f64>,
        choice: &Choice<'a>,
        origin: Origin,
        steps_of: impl Fn(&FrameMeta) -> Option<Vec<Step>>,
        dark_time: Option<bool>,
    ) -> Option<Placed> {
        let mut inputs = Vec::new();
        let mut kept: Vec<&FrameMeta> = Vec::new();
        for frame in &choice.frames {
            match steps_of(frame) {
                Some(steps) => {
                    let mut all = self.geometry_of(&frame.path);
                    all.extend(steps);
                    inputs.push(Input {
                        frame: frame.path.clone(),
                        steps: all,
                        extension: frame.extension.clone(),
                    });
                    kept.push(frame);
                }
                None => {
                    let why = frame.exposure_seconds(&self.key).err().map_or_else(
                        || format!("{}: no exposure", frame.path.display()),
                        |e| e.to_string(),
                    );
                    self.left_out.insert(frame.path.clone(), why);
                }
            }
        }
        let first = kept.first().copied()?;
        let (night, shape, binning, filter) = (
            first.night,
            first.shape,
            first.binning,
            first.filter.clone(),
        );
        #[allow(clippy::cast_precision_loss)]
        let exposure = exposure.map(|t| {
            let known: Vec<f64> = kept
                .iter()
                .filter_map(|f| f.exposure_seconds(&self.key).ok())
                .collect();
            if known.is_empty() {
                t
            } else {
                known.iter().sum::<f64>() / known.len() as f64
            }
        });
        let signature = format!(
            "{kind:?}|{exposure:?}|{}",
            serde_json::to_string(&inputs).unwrap_or_default()
        );
        let frames = inputs.len();
        if let Some(id) = self.by_signature.get(&signature) {
            return Some(Placed {
                id: id.clone(),
                kind,
                exposure,
                frames: Some(frames),
                origin,
                dark_time: dark_time.unwrap_or(false),
            });
        }
        let filter_label = (kind == MasterKind::Flat).then_some(filter.as_deref());
        let camera = camera_cards(&kept);
        let mut cards = camera.clone();
        if let Some(date) = first.date_obs {
            cards.insert(
                "DATE-OBS".to_owned(),
                date.format("%Y-%m-%dT%H:%M:%S").to_string(),
            );
        }
        if let Some(longitude) = first.site_longitude {
            cards.insert("SITELONG".to_owned(), number(longitude));
        }
        let id = self.name(kind, night, shape, binning, filter_label, exposure, &camera);
        for input in &inputs {
            self.used.insert(input.frame.clone());
        }
        self.by_signature.insert(signature, id.clone());
        self.plan.masters.push(MasterPlan {
            id: id.clone(),
            kind,
            exposure,
            night,
            shape,
            binning,
            filter: if kind == MasterKind::Flat {
                filter
            } else {
                None
            },
            cards,
            source: MasterSource::Frames { inputs },
            equalize_cfa: if kind == MasterKind::Flat && self.rules.equalize_cfa {
                first
                    .bayer_pattern
                    .as_deref()
                    .and_then(|p| crate::BayerPattern::parse(p).ok())
            } else {
                None
            },
        });
        Some(Placed {
            id,
            kind,
            exposure,
            frames: Some(frames),
            origin,
            dark_time: dark_time.unwrap_or(false),
        })
    }

    /// A master of the library that serves `target`: compatible, of the nearest night,
    /// the most frames; `exposure` for a dark or dark flat subtracted as it is, `rate` for
    /// one of eloy's dark rates.
    fn library_master(
        &mut self,
        target: &FrameMeta,
        kind: MasterKind,
        exposure: Option<f64>,
        rate: bool,
    ) -> Option<Placed> {
        let filter = kind == MasterKind::Flat;
        let library = self.library;
        let fits = |m: &&LibraryMaster| {
            compatible(target, &m.meta, self.rules, filter).is_ok()
                && match (exposure, m.exposure) {
                    (Some(t), Some(e)) => self.rules.exposure_match.matches(t, e),
                    (None, None) => !matches!(kind, MasterKind::DarkFlat),
                    (None, Some(_)) => {
                        !rate && !matches!(kind, MasterKind::Dark | MasterKind::DarkFlat)
                    }
                    (Some(_), None) => false,
                }
        };
        let best = library
            .of_kind(kind)
            .into_iter()
            .filter(fits)
            .min_by_key(|m| {
                let days = match (m.meta.night, target.night) {
                    (Some(a), Some(b)) => (a - b).num_days().abs(),
                    _ => i64::MAX,
                };
                (
                    days,
                    std::cmp::Reverse(m.frames.unwrap_or(0)),
                    m.meta.path.clone(),
                )
            })?;
        let path = best.meta.path.clone();
        let signature = format!("library|{}", path.display());
        let id = match self.by_signature.get(&signature) {
            Some(id) => id.clone(),
            None => {
                let stem = path.file_stem().map_or_else(
                    || "library".to_owned(),
                    |s| s.to_string_lossy().into_owned(),
                );
                let id = self.unique(format!("library_{stem}"));
                self.by_signature.insert(signature, id.clone());
                self.plan.masters.push(MasterPlan {
                    id: id.clone(),
                    kind,
                    exposure: best.exposure,
                    night: best.meta.night,
                    shape: best.meta.shape,
                    binning: best.meta.binning,
                    filter: if filter {
                        best.meta.filter.clone()
                    } else {
                        None
                    },
                    cards: camera_cards(&[&best.meta]),
                    source: MasterSource::Library {
                        path: path.clone(),
                        frames: best.frames,
                        normalize: filter && !best.eloy,
                    },
                    equalize_cfa: None,
                });
                id
            }
        };
        Some(Placed {
            id,
            kind,
            exposure: best.exposure,
            frames: best.frames,
            origin: Origin::Library { path },
            dark_time: false,
        })
    }

    /// A name for a new master: `<night>_<rows>x<cols>_bin<b>[_<filter>]_<kind>[_<t>s]`,
    /// with the camera state added when another master already has that name.
    #[allow(clippy::too_many_arguments)]
    fn name(
        &mut self,
        kind: MasterKind,
        night: Option<NaiveDate>,
        shape: (usize, usize),
        binning: Binning,
        filter: Option<Option<&str>>,
        exposure: Option<f64>,
        camera: &BTreeMap<String, String>,
    ) -> MasterId {
        let mut base = label(night, shape, binning);
        if let Some(filter) = filter {
            base = flat_label(&base, filter);
        }
        let mut name = format!("{base}_{}", kind.name());
        if let Some(t) = exposure {
            name = format!("{name}_{}s", sanitize(&number(t)));
        }
        if self.names.contains(&name) {
            if let Some(state) = state_suffix(camera) {
                name = format!("{name}_{state}");
            }
        }
        self.unique(name)
    }

    fn unique(&mut self, name: String) -> MasterId {
        let mut candidate = name.clone();
        let mut n = 2;
        while self.names.contains(&candidate) {
            candidate = format!("{name}_{n}");
            n += 1;
        }
        self.names.insert(candidate.clone());
        MasterId(candidate)
    }

    // --- What is left -----------------------------------------------------------------

    /// Masters of the calibration frames that no light needs (`eloy masters` building a
    /// library): bias, darks (rates when the night has a bias, else per exposure), dark
    /// flats per exposure, flats per filter.
    fn plan_library_masters(&mut self) {
        for kind in [
            FrameKind::Bias,
            FrameKind::Dark,
            FrameKind::DarkFlat,
            FrameKind::Flat,
        ] {
            loop {
                let left: Vec<&'a FrameMeta> = self
                    .frames(kind)
                    .into_iter()
                    .filter(|f| {
                        !self.used.contains(&f.path) && !self.left_out.contains_key(&f.path)
                    })
                    .filter(|f| self.rules.night.is_none_or(|n| f.night == Some(n)))
                    .collect();
                let Some(first) = left.first() else { break };
                let target = (*first).clone();
                let before = self.used.len() + self.left_out.len();
                let mut decisions = Vec::new();
                let label = label(target.night, target.shape, target.binning);
                match kind {
                    FrameKind::Bias => {
                        self.bias_for(&target, &label, &mut decisions);
                    }
                    FrameKind::Dark => {
                        let bias = choose(
                            &target,
                            &self.frames(FrameKind::Bias),
                            self.rules,
                            false,
                            false,
                        );
                        if bias.origin.is_some() {
                            if let Some(bias) = self.bias_for(&target, &label, &mut decisions) {
                                let candidates: Vec<&'a FrameMeta> = left.clone();
                                self.rate_dark(&target, &candidates, &bias);
                            }
                        } else {
                            let same: Vec<&'a FrameMeta> = left
                                .iter()
                                .copied()
                                .filter(|f| {
                                    compatible(&target, f, self.rules, false).is_ok()
                                        && f.night == target.night
                                })
                                .collect();
                            self.direct_masters(&target, &same, MasterKind::Dark, &left);
                        }
                    }
                    FrameKind::DarkFlat => {
                        let same: Vec<&'a FrameMeta> = left
                            .iter()
                            .copied()
                            .filter(|f| {
                                compatible(&target, f, self.rules, false).is_ok()
                                    && f.night == target.night
                            })
                            .collect();
                        self.direct_masters(&target, &same, MasterKind::DarkFlat, &left);
                    }
                    _ => {
                        let choice = choose(&target, &left, self.rules, true, false);
                        if let Some(origin) = choice.origin.clone() {
                            let flats = choice.frames.clone();
                            self.master_flat(&flats, origin, &mut decisions);
                        }
                    }
                }
                if self.used.len() + self.left_out.len() == before {
                    // Nothing could be made of the first frame left (no exposure...): say
                    // so and go on with the others.
                    if !self.left_out.contains_key(&target.path) {
                        self.left_out.insert(
                            target.path.clone(),
                            target.exposure_seconds(&self.key).err().map_or_else(
                                || {
                                    format!(
                                        "{}: no master can be made of it",
                                        target.path.display()
                                    )
                                },
                                |e| e.to_string(),
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Decisions for frames left out of masters, and for calibration frames no master
    /// uses, with why.
    fn say_unused(&mut self) {
        for (frame, why) in std::mem::take(&mut self.left_out) {
            self.plan.decisions.push(Decision::LeftOut { frame, why });
        }
        let left_out: BTreeSet<PathBuf> = self
            .plan
            .decisions
            .iter()
            .filter_map(|d| match d {
                Decision::LeftOut { frame, .. } => Some(frame.clone()),
                _ => None,
            })
            .collect();
        let mut unused = Vec::new();
        for frame in &self.catalog.frames {
            let calibration = matches!(frame.kind, Some(k) if k != FrameKind::Light);
            if !calibration
                || frame.processed.is_some()
                || self.used.contains(&frame.path)
                || left_out.contains(&frame.path)
                || self.rules.night.is_some_and(|n| frame.night != Some(n))
            {
                continue;
            }
            unused.push(Decision::Unused {
                frame: frame.path.clone(),
                why: self.why_unused(frame),
            });
        }
        self.plan.decisions.extend(unused);
    }

    fn why_unused(&self, frame: &FrameMeta) -> String {
        let flat = frame.kind == Some(FrameKind::Flat);
        let night = frame
            .night
            .map_or_else(|| "no date".to_owned(), |d| d.to_string());
        let groups: Vec<&LightGroup> = self
            .plan
            .groups
            .iter()
            .filter(|g| {
                g.night == frame.night
                    && g.shape == frame.shape
                    && g.binning == frame.binning
                    && (!flat || same_filter(g.filter.as_deref(), frame.filter.as_deref()))
            })
            .collect();
        if groups.is_empty() {
            let filter = match (flat, &frame.filter) {
                (true, Some(f)) => format!(", filter {f}"),
                (true, None) => ", no filter".to_owned(),
                _ => String::new(),
            };
            return format!(
                "no light frame of its night ({night}), shape ({}x{}) and binning ({}){filter}",
                frame.shape.0, frame.shape.1, frame.binning
            );
        }
        let lights: Vec<&FrameMeta> = self
            .catalog
            .frames
            .iter()
            .filter(|f| groups.iter().any(|g| g.lights.contains(&f.path)))
            .collect();
        if let Some(mismatch) = lights
            .iter()
            .find_map(|l| compatible(l, frame, self.rules, flat).err())
        {
            return format!("{mismatch} than the lights of its night");
        }
        match frame.kind {
            Some(FrameKind::Dark) => format!(
                "no light of its exposure ({}) and no bias frames to scale it",
                frame
                    .exposure
                    .map_or_else(|| "unknown".to_owned(), |e| format!("{} s", number(e)))
            ),
            Some(FrameKind::DarkFlat) => format!(
                "no flat of its exposure ({})",
                frame
                    .exposure
                    .map_or_else(|| "unknown".to_owned(), |e| format!("{} s", number(e)))
            ),
            _ => "frames of another camera state or night were taken for its lights".to_owned(),
        }
    }
}

/// The camera state in a name, `g100_o50_Normal_-10C`; `None` when the cards hold none.
fn state_suffix(camera: &BTreeMap<String, String>) -> Option<String> {
    let state: Vec<String> = [
        ("GAIN", "g"),
        ("OFFSET", "o"),
        ("READOUTM", ""),
        ("SET-TEMP", ""),
    ]
    .iter()
    .filter_map(|(k, prefix)| {
        camera.get(*k).map(|v| {
            let suffix = if *k == "SET-TEMP" { "C" } else { "" };
            format!("{prefix}{}{suffix}", sanitize(v))
        })
    })
    .collect();
    (!state.is_empty()).then(|| state.join("_"))
}

/// The direct dark among `darks` that a light's steps subtract, if any.
fn terms_dark(steps: &[Step], darks: &[Placed]) -> Option<MasterId> {
    steps.iter().find_map(|s| match s {
        Step::Subtract { terms } => terms
            .iter()
            .find(|t| darks.iter().any(|d| d.id == t.master))
            .map(|t| t.master.clone()),
        _ => None,
    })
}

/// `2016-01-05_1020x1530_bin1x1`: night, shape and binning.
pub(crate) fn label(night: Option<NaiveDate>, shape: (usize, usize), binning: Binning) -> String {
    let night = night.map_or_else(|| "undated".to_owned(), |d| d.to_string());
    format!("{night}_{}x{}_bin{binning}", shape.0, shape.1)
}

/// [`label`] with the filter, for flats: `2016-01-05_1020x1530_bin1x1_R`.
pub(crate) fn flat_label(label: &str, filter: Option<&str>) -> String {
    format!("{label}_{}", sanitize(filter.unwrap_or("nofilter")))
}

/// Letters, digits, `-` and `.` kept; anything else becomes `_`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
