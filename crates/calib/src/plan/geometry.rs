//! Overscan and trim: the steps every frame gets before anything else, from its header's
//! `BIASSEC`, `TRIMSEC` and `DATASEC`, and the shape it has after them.

use std::collections::HashMap;
use std::path::PathBuf;

use eloy_fits::{Catalog, FrameKind, FrameMeta, Section};

use super::Step;
use super::rules::Rules;
use crate::overscan::OverscanAxis;

/// The catalog as the planner sees it: every raw frame with the shape it has after its
/// overscan and trim, the steps that get it there, and the frames whose sections cannot be
/// used.
pub(super) struct Geometry {
    /// The catalog with shapes after the trim (and `trimsec` holding the resolved
    /// section), frames in error removed.
    pub(super) catalog: Catalog,
    /// The overscan and trim steps of each frame that has some.
    pub(super) steps: HashMap<PathBuf, Vec<Step>>,
    /// Frames whose sections cannot be used, with their kind and why.
    pub(super) problems: Vec<(PathBuf, Option<FrameKind>, String)>,
}

/// Works out the geometry of every raw frame of `catalog`.
pub(super) fn prepare(catalog: &Catalog, rules: &Rules) -> Geometry {
    let mut frames = Vec::with_capacity(catalog.frames.len());
    let mut steps = HashMap::new();
    let mut problems = Vec::new();
    for frame in &catalog.frames {
        if frame.processed.is_some() || frame.kind.is_none() {
            frames.push(frame.clone());
            continue;
        }
        if frame.images > 1 {
            problems.push((
                frame.path.clone(),
                frame.kind,
                format!(
                    "{}: a mosaic of {} image extensions (one per amplifier or CCD) described without its extensions (from a header alone): scan the file (eloy_fits::FrameMeta::read) to calibrate each extension with the masters of the same extension",
                    frame.path.display(),
                    frame.images
                ),
            ));
            continue;
        }
        match frame_steps(frame, rules) {
            Ok((frame_steps, shape, trim)) => {
                let mut effective = frame.clone();
                effective.shape = shape;
                // The colour mosaic of the frame as the steps leave it: the pattern after
                // the trim, stored top-down with no offset.
                match crate::cfa::CfaLayout::of_frame(frame) {
                    Ok(Some(layout)) => {
                        let (r0, c0) = trim
                            .as_ref()
                            .map_or((0, 0), |t| (t.rows().start, t.cols().start));
                        effective.bayer_pattern =
                            Some(layout.cropped(r0, c0).pattern.name().to_owned());
                        effective.bayer_offset = None;
                        effective.row_order = None;
                    }
                    Ok(None) => {}
                    Err(e) if rules.cosmetic.is_some() || rules.equalize_cfa => {
                        problems.push((
                            frame.path.clone(),
                            frame.kind,
                            format!("{}: {e}", frame.path.display()),
                        ));
                        continue;
                    }
                    Err(_) => effective.bayer_pattern = None,
                }
                if let Some(trim) = trim {
                    effective.trimsec = Some(trim.to_string());
                }
                if !frame_steps.is_empty() {
                    steps.insert(frame.path.clone(), frame_steps);
                }
                frames.push(effective);
            }
            Err(why) => problems.push((frame.path.clone(), frame.kind, why)),
        }
    }
    Geometry {
        catalog: Catalog {
            root: catalog.root.clone(),
            frames,
            failures: catalog.failures.clone(),
        },
        steps,
        problems,
    }
}

/// A section of `frame`: the header's keyword `key`, else `fallback` (given on the
/// command line for files that lack it).
fn section(
    frame: &FrameMeta,
    key: &str,
    text: Option<&String>,
    fallback: Option<&String>,
) -> Result<Option<Section>, String> {
    let Some(text) = text.or(fallback) else {
        return Ok(None);
    };
    Section::parse(text, frame.shape)
        .map(Some)
        .map_err(|e| e.in_header(&frame.path, key).to_string())
}

/// The overscan and trim steps of `frame`, its shape after them, and the trim.
#[allow(clippy::type_complexity)]
fn frame_steps(
    frame: &FrameMeta,
    rules: &Rules,
) -> Result<(Vec<Step>, (usize, usize), Option<Section>), String> {
    let mut steps = Vec::new();
    let saturation = match rules.saturation {
        super::rules::Saturation::None => None,
        super::rules::Saturation::Header => frame.saturation,
        super::rules::Saturation::Level(level) => Some(level),
    };
    if let Some(level) = saturation {
        if !(level > 0.0 && level.is_finite()) {
            return Err(format!(
                "{}: saturation level SATURATE = {level} is not a positive number",
                frame.path.display()
            ));
        }
        steps.push(Step::Saturation { level });
    }
    let overscan = match (&rules.overscan, frame.overscan_done) {
        (Some(_), false) => section(
            frame,
            "BIASSEC",
            frame.biassec.as_ref(),
            rules.biassec.as_ref(),
        )?,
        _ => None,
    };
    let trim = if rules.trim && !frame.trimmed {
        match section(
            frame,
            "TRIMSEC",
            frame.trimsec.as_ref(),
            rules.trimsec.as_ref(),
        )? {
            Some(trim) => Some(trim),
            None => {
                // DATASEC serves as the trim when the overscan lies outside it.
                let data = section(frame, "DATASEC", frame.datasec.as_ref(), None)?;
                match (data, &overscan) {
                    (Some(data), Some(bias)) if !overlaps(&data, bias) => Some(data),
                    _ => None,
                }
            }
        }
    } else {
        None
    };
    if let Some(trim) = &trim {
        if trim.rows_flipped() || trim.cols_flipped() {
            return Err(format!(
                "{}: TRIMSEC = '{trim}' is flipped: eloy does not flip frames",
                frame.path.display()
            ));
        }
    }
    if let (Some(bias), Some(method)) = (overscan, rules.overscan) {
        if bias.shape().0 == 0 || bias.shape().1 == 0 {
            return Err(format!(
                "{}: BIASSEC = '{bias}' has no pixels",
                frame.path.display()
            ));
        }
        let axis = rules
            .overscan_axis
            .unwrap_or_else(|| OverscanAxis::of_region(bias.shape()));
        // The overscan's lines must cover the lines that are kept.
        let (kept, covered) = match (axis, &trim) {
            (OverscanAxis::Rows, Some(t)) => (t.rows(), bias.rows()),
            (OverscanAxis::Columns, Some(t)) => (t.cols(), bias.cols()),
            (OverscanAxis::Rows, None) => (0..frame.shape.0, bias.rows()),
            (OverscanAxis::Columns, None) => (0..frame.shape.1, bias.cols()),
        };
        let fit = matches!(method, crate::OverscanMethod::Fit(_));
        if !fit && (kept.start < covered.start || kept.end > covered.end) {
            return Err(format!(
                "{}: BIASSEC = '{bias}' does not cover the {} kept ({}..{})",
                frame.path.display(),
                if axis == OverscanAxis::Rows {
                    "rows"
                } else {
                    "columns"
                },
                kept.start + 1,
                kept.end
            ));
        }
        steps.push(Step::Overscan {
            section: bias,
            axis,
            method,
        });
    }
    let shape = match &trim {
        Some(trim) => {
            steps.push(Step::Trim {
                section: trim.clone(),
            });
            trim.shape()
        }
        None => frame.shape,
    };
    Ok((steps, shape, trim))
}

fn overlaps(a: &Section, b: &Section) -> bool {
    let (ar, ac, br, bc) = (a.rows(), a.cols(), b.rows(), b.cols());
    ar.start < br.end && br.start < ar.end && ac.start < bc.end && bc.start < ac.end
}
