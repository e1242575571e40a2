//! Steps in words: the formula a recipe computes, for HISTORY cards and reports.

use super::{MasterId, Step};

/// The short name of a master in a formula: the kind word of its id (`bias`, `dark`,
/// `darkflat`, `flat`), or the whole id.
fn short_name(id: &MasterId) -> &str {
    id.0.rsplit('_')
        .find(|part| matches!(*part, "bias" | "dark" | "darkflat" | "flat"))
        .unwrap_or(&id.0)
}

/// A number of seconds as a person writes it: `60`, `2.5`.
fn seconds(x: f64) -> String {
    format!("{x}")
}

/// The formula that `steps` compute on a raw frame, in words: Python eloy's calibration
/// is `(raw - (dark * 60 s + bias)) / flat`. The invalid-pixel rule is not part of it.
///
/// ```
/// use eloy_calib::{Step, Term};
/// let dark_input = [
///     Step::Subtract { terms: vec![Term { master: "2016-01-05_48x64_bin1x1_bias".into(), factor: 1.0 }] },
///     Step::DivideByExposure { seconds: 60.0 },
/// ];
/// assert_eq!(eloy_calib::formula(&dark_input), "(raw - bias) / 60 s");
/// ```
pub fn formula(steps: &[Step]) -> String {
    render(steps, "raw", None)
}

/// The formula of a master's inputs in words, the frame named `raw` (`dark`, `flat`) and
/// exposures by their keyword (`(dark - bias) / EXPTIME`), since each frame has its own.
pub(crate) fn master_formula(steps: &[Step], raw: &str, keyword: &str) -> String {
    render(steps, raw, Some(keyword))
}

fn render(steps: &[Step], raw: &str, keyword: Option<&str>) -> String {
    let time = |t: f64| match keyword {
        Some(k) => k.to_owned(),
        None => format!("{} s", seconds(t)),
    };
    let mut expr = raw.to_owned();
    let mut compound = false;
    for step in steps {
        let divide = |expr: &str, compound: bool, by: String| {
            if compound {
                format!("({expr}) / {by}")
            } else {
                format!("{expr} / {by}")
            }
        };
        expr = match step {
            Step::Subtract { terms } => {
                let parts: Vec<String> = terms
                    .iter()
                    .map(|t| {
                        let name = short_name(&t.master);
                        let optimized = steps.iter().any(
                            |s| matches!(s, Step::OptimizeDark { dark, .. } if *dark == t.master),
                        );
                        if optimized {
                            format!("k * {name} * {}", time(t.factor))
                        } else if t.factor == 1.0 {
                            name.to_owned()
                        } else {
                            format!("{name} * {}", time(t.factor))
                        }
                    })
                    .collect();
                compound = true;
                if parts.len() == 1 {
                    format!("{expr} - {}", parts[0])
                } else {
                    format!("{expr} - ({})", parts.join(" + "))
                }
            }
            Step::DivideByExposure { seconds: t } => {
                let e = divide(&expr, compound, time(*t));
                compound = true;
                e
            }
            Step::Normalize { by, .. } => {
                let statistic = match by {
                    eloy_stack::Normalization::Mean => "mean".to_owned(),
                    eloy_stack::Normalization::Median => "median".to_owned(),
                    eloy_stack::Normalization::Mode => "mode".to_owned(),
                    eloy_stack::Normalization::RegionMean { rows, cols } => format!(
                        "mean[{}:{},{}:{}]",
                        cols.start + 1,
                        cols.end,
                        rows.start + 1,
                        rows.end
                    ),
                };
                let e = divide(&expr, compound, statistic);
                compound = true;
                e
            }
            Step::Saturation { .. } | Step::Cosmetic { .. } | Step::OptimizeDark { .. } => expr,
            Step::Pedestal { adu } => {
                compound = true;
                format!("{expr} + {} ADU", seconds(*adu))
            }
            Step::ToElectrons { gain } => {
                let e = if compound {
                    format!("({expr}) * {} e/ADU", seconds(*gain))
                } else {
                    format!("{expr} * {} e/ADU", seconds(*gain))
                };
                compound = true;
                e
            }
            Step::DivideByFlat { master, .. } => {
                let e = divide(&expr, compound, short_name(master).to_owned());
                compound = true;
                e
            }
            Step::Overscan { section, .. } => {
                compound = true;
                format!("{expr} - overscan{section}")
            }
            Step::Trim { section } => format!("{expr}{section}"),
            Step::Invalid { .. } => expr,
        };
    }
    expr
}
