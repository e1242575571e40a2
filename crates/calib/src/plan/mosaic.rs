//! Mosaics: files with one image extension per amplifier or CCD, planned extension by
//! extension and put back together light by light.
//!
//! The catalog describes each image of a mosaic as a frame of its own
//! ([`FrameMeta::extensions`]: the extension's header over the primary's). The frames of
//! one extension name (`SCI,1`, `CCD2`, `AMP3`...) from every file are planned as a night
//! of their own, by the same planner as single images, so that each extension gets
//! masters made of the same extension of the calibration frames, its own `BIASSEC`,
//! `TRIMSEC`, `GAIN`, camera state. Their masters are named with the extension
//! (`..._bias_SCI-1`); the groups holding the extensions of the same lights become one
//! group, so that a light's extensions are calibrated together into one output.
//!
//! A mosaic light is calibrated whole or not at all: every extension must have a recipe,
//! with masters of the same kinds as the others, from calibration frames of the same
//! layout (the same extension names, in any order).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use eloy_fits::{Catalog, FrameMeta};

use super::rules::Rules;
use super::{Decision, Failure, LightGroup, MasterId, MasterSource, Plan, Recipe, Step};
use crate::library::Library;
use crate::masters::MasterKind;

/// [`super::plan`] of a catalog that holds mosaics.
pub(super) fn plan(catalog: &Catalog, rules: &Rules, library: &Library) -> Plan {
    let single = Catalog {
        root: catalog.root.clone(),
        frames: catalog
            .frames
            .iter()
            .filter(|f| f.extensions.is_empty())
            .cloned()
            .collect(),
        failures: catalog.failures.clone(),
    };
    let mut plan = super::plan_single(&single, rules, library);
    // The frames of each extension name, and each mosaic's names.
    let mut by_name: BTreeMap<String, Vec<FrameMeta>> = BTreeMap::new();
    let mut layouts: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for frame in catalog.frames.iter().filter(|f| !f.extensions.is_empty()) {
        let mut names = BTreeSet::new();
        for part in &frame.extensions {
            if let Some(extension) = &part.extension {
                names.insert(extension.name.clone());
                by_name
                    .entry(extension.name.clone())
                    .or_default()
                    .push(part.clone());
            }
        }
        layouts.insert(frame.path.clone(), names);
    }
    let mut groups: Vec<LightGroup> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut recipes: Vec<Recipe> = Vec::new();
    let mut failed: BTreeMap<PathBuf, String> = BTreeMap::new();
    let empty = Library::default();
    for (name, frames) in by_name {
        let part = Catalog {
            root: catalog.root.clone(),
            frames,
            failures: Vec::new(),
        };
        // A library's masters are single images: not for the extensions of a mosaic.
        let mut sub = super::plan_single(&part, rules, &empty);
        let suffix = eloy_fits::ImageExtension {
            hdu: 0,
            name: name.clone(),
        }
        .file_suffix();
        rename(&mut sub, &suffix, &name);
        let offset = groups.len();
        for recipe in &mut sub.recipes {
            recipe.group += offset;
        }
        for group in &mut sub.groups {
            labels.push(group.label.clone());
            group.label = format!("{}_{suffix}", group.label);
        }
        groups.extend(sub.groups);
        recipes.extend(sub.recipes);
        plan.masters.extend(sub.masters);
        for failure in sub.failures {
            failed
                .entry(failure.frame.clone())
                .or_insert_with(|| in_extension(&failure.frame, &name, &failure.why));
        }
        plan.decisions.extend(sub.decisions);
    }
    // Each mosaic light whole or not at all.
    let lights: BTreeSet<PathBuf> = recipes.iter().map(|r| r.frame.clone()).collect();
    for light in &lights {
        if failed.contains_key(light) {
            continue;
        }
        let own: Vec<&Recipe> = recipes.iter().filter(|r| &r.frame == light).collect();
        if let Err(why) = check_light(light, &own, &plan, &layouts) {
            failed.insert(light.clone(), why);
        }
    }
    recipes.retain(|r| !failed.contains_key(&r.frame));
    plan.failures.extend(
        failed
            .into_iter()
            .map(|(frame, why)| Failure { frame, why }),
    );
    // The groups that hold extensions of the same lights become one.
    let mut component: Vec<usize> = (0..groups.len()).collect();
    let mut first_group: BTreeMap<&PathBuf, usize> = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        for light in &group.lights {
            match first_group.get(light) {
                Some(&j) => union(&mut component, i, j),
                None => {
                    first_group.insert(light, i);
                }
            }
        }
    }
    let roots: Vec<usize> = (0..groups.len()).map(|i| find(&mut component, i)).collect();
    let mut merged: Vec<LightGroup> = Vec::new();
    let mut index_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, group) in groups.into_iter().enumerate() {
        match index_of.get(&roots[i]) {
            Some(&m) => {
                let into: &mut LightGroup = &mut merged[m];
                for light in group.lights {
                    if !into.lights.contains(&light) {
                        into.lights.push(light);
                    }
                }
                into.decisions.extend(group.decisions);
                into.label.clone_from(&labels[roots[i]]);
            }
            None => {
                index_of.insert(roots[i], merged.len());
                merged.push(group);
            }
        }
    }
    let base = plan.groups.len();
    for recipe in &mut recipes {
        recipe.group = base + index_of[&roots[recipe.group]];
    }
    // A light's recipes together, in the order of its extensions.
    recipes.sort_by(|a, b| {
        (a.group, &a.frame, a.extension.as_ref().map(|e| e.hdu)).cmp(&(
            b.group,
            &b.frame,
            b.extension.as_ref().map(|e| e.hdu),
        ))
    });
    plan.groups.extend(merged);
    plan.recipes.extend(recipes);
    plan
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut root = i;
    while parent[root] != root {
        root = parent[root];
    }
    parent[i] = root;
    root
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

/// `why` (which names `frame`) said of extension `name` of the file.
fn in_extension(frame: &std::path::Path, name: &str, why: &str) -> String {
    let shown = frame.display().to_string();
    match why.strip_prefix(&format!("{shown}: ")) {
        Some(rest) => format!("{shown} [{name}]: {rest}"),
        None => format!("{shown} [{name}]: {why}"),
    }
}

/// Whether the recipes of a mosaic light make it whole: one per extension, the same kinds
/// of masters in each, those masters made of files of the light's layout, and no step
/// that mosaics do not have yet.
fn check_light(
    light: &PathBuf,
    recipes: &[&Recipe],
    plan: &Plan,
    layouts: &BTreeMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    let shown = light.display();
    let layout = layouts.get(light).cloned().unwrap_or_default();
    let names = |set: &BTreeSet<String>| {
        set.iter()
            .map(|n| format!("[{n}]"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let planned: BTreeSet<String> = recipes
        .iter()
        .filter_map(|r| r.extension.as_ref().map(|e| e.name.clone()))
        .collect();
    if let Some(missing) = layout.difference(&planned).next() {
        return Err(format!(
            "{shown} [{missing}]: this extension has no recipe; a mosaic is calibrated whole"
        ));
    }
    for recipe in recipes {
        if recipe
            .steps
            .iter()
            .any(|s| matches!(s, Step::Cosmetic { .. } | Step::Deviation { .. }))
        {
            return Err(format!(
                "{shown}: a mosaic of {} image extensions: the cosmetic correction and the uncertainty planes are not made for mosaics yet",
                layout.len()
            ));
        }
    }
    let kinds = |recipe: &Recipe| -> BTreeSet<MasterKind> {
        recipe
            .masters()
            .into_iter()
            .filter_map(|id| plan.master(id).map(|m| m.kind))
            .collect()
    };
    let first = recipes[0];
    let first_kinds = kinds(first);
    for recipe in &recipes[1..] {
        let these = kinds(recipe);
        if these != first_kinds {
            let describe = |k: &BTreeSet<MasterKind>| {
                if k.is_empty() {
                    "no master".to_owned()
                } else {
                    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                }
            };
            return Err(format!(
                "{shown} [{}]: calibrated with {} while [{}] is with {}: the calibration frames do not cover every extension of the light ({}); a mosaic is calibrated whole, each extension with the masters of its own extension",
                name_of(recipe),
                describe(&these),
                name_of(first),
                describe(&first_kinds),
                names(&layout)
            ));
        }
    }
    for recipe in recipes {
        let mut ids: Vec<&MasterId> = recipe.masters();
        let mut seen: BTreeSet<&MasterId> = BTreeSet::new();
        while let Some(id) = ids.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(master) = plan.master(id) else {
                continue;
            };
            ids.extend(master.uses());
            let MasterSource::Frames { inputs } = &master.source else {
                continue;
            };
            for input in inputs {
                let theirs = layouts.get(&input.frame).cloned().unwrap_or_default();
                if theirs != layout {
                    return Err(format!(
                        "{shown}: a mosaic of {} image extensions ({}), while its {} frame {} has {} ({}): a mosaic is calibrated with calibration frames of the same extensions",
                        layout.len(),
                        names(&layout),
                        master.kind,
                        input.frame.display(),
                        theirs.len(),
                        names(&theirs)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn name_of(recipe: &Recipe) -> &str {
    recipe.extension.as_ref().map_or("", |e| e.name.as_str())
}

/// Names every master of `plan` with the extension (`<id>_<suffix>`), says the extension
/// in its cards (`ELOYEXT`), in the groups' and the plan's decisions.
fn rename(plan: &mut Plan, suffix: &str, name: &str) {
    let new = |id: &mut MasterId| *id = MasterId(format!("{}_{suffix}", id.0));
    let steps = |steps: &mut Vec<Step>| {
        for step in steps {
            rename_step(step, &new);
        }
    };
    for master in &mut plan.masters {
        new(&mut master.id);
        master.cards.insert("ELOYEXT".to_owned(), name.to_owned());
        if let MasterSource::Frames { inputs } = &mut master.source {
            for input in inputs {
                steps(&mut input.steps);
            }
        }
    }
    for recipe in &mut plan.recipes {
        steps(&mut recipe.steps);
    }
    let decisions = |decisions: &mut Vec<Decision>| {
        for decision in decisions {
            match decision {
                Decision::Uses { master, .. } | Decision::Default { master, .. } => new(master),
                Decision::Unused { frame, why } | Decision::LeftOut { frame, why } => {
                    *why = in_extension(frame, name, why);
                }
                Decision::NotCorrected { why, .. } => *why = format!("[{name}] {why}"),
            }
        }
    };
    for group in &mut plan.groups {
        decisions(&mut group.decisions);
    }
    decisions(&mut plan.decisions);
}

fn rename_step(step: &mut Step, new: &dyn Fn(&mut MasterId)) {
    match step {
        Step::Subtract { terms } => {
            for term in terms {
                new(&mut term.master);
            }
        }
        Step::DivideByFlat { master, .. } => new(master),
        Step::OptimizeDark { dark, bias, .. } => {
            new(dark);
            new(bias);
        }
        Step::Cosmetic { dark, flat, .. } => {
            if let Some(dark) = dark {
                new(dark);
            }
            if let Some(flat) = flat {
                new(flat);
            }
        }
        _ => {}
    }
}
