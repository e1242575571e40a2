//! Which calibration frames may serve a frame, and which of them are taken.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

use eloy_fits::FrameMeta;

use super::Origin;
use super::rules::Rules;

/// Why a calibration frame may not serve a frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mismatch {
    Shape((usize, usize), (usize, usize)),
    Binning(eloy_fits::Binning, eloy_fits::Binning),
    Field {
        keyword: &'static str,
        theirs: String,
        ours: String,
    },
    Temperature {
        keyword: &'static str,
        theirs: f64,
        ours: f64,
        tolerance: f64,
    },
    Filter(Option<String>, Option<String>),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Shape(theirs, ours) => write!(
                f,
                "other shape ({}x{}, the frames' {}x{})",
                theirs.0, theirs.1, ours.0, ours.1
            ),
            Mismatch::Binning(theirs, ours) => {
                write!(f, "other binning ({theirs}, the frames' {ours})")
            }
            Mismatch::Field {
                keyword,
                theirs,
                ours,
            } => write!(
                f,
                "other {} ({keyword} {theirs}, the frames' {ours})",
                field_name(keyword)
            ),
            Mismatch::Temperature {
                keyword,
                theirs,
                ours,
                tolerance,
            } => write!(
                f,
                "other temperature ({keyword} {theirs} C, the frames' {ours} C; tolerance {tolerance} C)"
            ),
            Mismatch::Filter(theirs, ours) => write!(
                f,
                "other filter ({}, the frames' {})",
                theirs.as_deref().unwrap_or("none"),
                ours.as_deref().unwrap_or("none")
            ),
        }
    }
}

fn field_name(keyword: &str) -> &'static str {
    match keyword {
        "GAIN" => "gain",
        "OFFSET" => "offset",
        "READOUTM" => "read-out mode",
        "INSTRUME" => "instrument",
        _ => "camera setting",
    }
}

/// A number as a header shows it: `100`, `-10.5`.
pub(crate) fn number(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Filters match when both are absent, or equal ignoring case and outer spaces.
pub(crate) fn same_filter(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        (None, None) => true,
        _ => false,
    }
}

/// The sensor temperature two frames are compared by: `SET-TEMP` when both have it, else
/// `CCD-TEMP` when both have it.
fn temperatures(a: &FrameMeta, b: &FrameMeta) -> Option<(&'static str, f64, f64)> {
    match (a.set_temp, b.set_temp) {
        (Some(x), Some(y)) => Some(("SET-TEMP", x, y)),
        _ => match (a.ccd_temp, b.ccd_temp) {
            (Some(x), Some(y)) => Some(("CCD-TEMP", x, y)),
            _ => None,
        },
    }
}

/// Whether `candidate` (a calibration frame) may serve `target`: same camera state, and
/// the same filter when `filter` is asked.
pub(crate) fn compatible(
    target: &FrameMeta,
    candidate: &FrameMeta,
    rules: &Rules,
    filter: bool,
) -> Result<(), Mismatch> {
    if candidate.shape != target.shape {
        return Err(Mismatch::Shape(candidate.shape, target.shape));
    }
    if candidate.binning != target.binning {
        return Err(Mismatch::Binning(candidate.binning, target.binning));
    }
    let texts = [(
        "INSTRUME",
        candidate.instrument.as_deref(),
        target.instrument.as_deref(),
    )];
    for (keyword, theirs, ours) in texts {
        if let (Some(theirs), Some(ours)) = (theirs, ours) {
            if !theirs.trim().eq_ignore_ascii_case(ours.trim()) {
                return Err(Mismatch::Field {
                    keyword,
                    theirs: theirs.to_owned(),
                    ours: ours.to_owned(),
                });
            }
        }
    }
    let numbers = [
        ("GAIN", candidate.gain, target.gain),
        ("OFFSET", candidate.offset, target.offset),
    ];
    for (keyword, theirs, ours) in numbers {
        if let (Some(theirs), Some(ours)) = (theirs, ours) {
            if (theirs - ours).abs() > 1e-6 * theirs.abs().max(ours.abs()).max(1.0) {
                return Err(Mismatch::Field {
                    keyword,
                    theirs: number(theirs),
                    ours: number(ours),
                });
            }
        }
    }
    if let (Some(theirs), Some(ours)) = (&candidate.trimsec, &target.trimsec) {
        if theirs != ours {
            return Err(Mismatch::Field {
                keyword: "TRIMSEC",
                theirs: theirs.clone(),
                ours: ours.clone(),
            });
        }
    }
    if let (Some(theirs), Some(ours)) = (&candidate.readout_mode, &target.readout_mode) {
        if !theirs.trim().eq_ignore_ascii_case(ours.trim()) {
            return Err(Mismatch::Field {
                keyword: "READOUTM",
                theirs: theirs.clone(),
                ours: ours.clone(),
            });
        }
    }
    if let Some((keyword, theirs, ours)) = temperatures(candidate, target) {
        if (theirs - ours).abs() > rules.temperature_tolerance {
            return Err(Mismatch::Temperature {
                keyword,
                theirs,
                ours,
                tolerance: rules.temperature_tolerance,
            });
        }
    }
    if filter && !same_filter(candidate.filter.as_deref(), target.filter.as_deref()) {
        return Err(Mismatch::Filter(
            candidate.filter.clone(),
            target.filter.clone(),
        ));
    }
    Ok(())
}

/// The camera state that frames stacked together must share exactly.
pub(crate) fn state_key(frame: &FrameMeta) -> Vec<Option<String>> {
    vec![
        frame
            .instrument
            .as_ref()
            .map(|s| s.trim().to_ascii_lowercase()),
        frame.gain.map(number),
        frame.offset.map(number),
        frame
            .readout_mode
            .as_ref()
            .map(|s| s.trim().to_ascii_lowercase()),
        frame.set_temp.map(number),
    ]
}

/// How a header card's value is read from a frame.
type Field = dyn Fn(&FrameMeta) -> Option<String>;

/// The camera state of frames as header cards (values as written), for masters' headers
/// and reports. Numbers shared by every frame are given as they are; a sensor temperature
/// that varies, as its mean.
pub(crate) fn camera_cards(frames: &[&FrameMeta]) -> BTreeMap<String, String> {
    let mut cards = BTreeMap::new();
    let Some(first) = frames.first() else {
        return cards;
    };
    let same_text = |get: &dyn Fn(&FrameMeta) -> Option<String>| {
        let value = get(first)?;
        frames
            .iter()
            .all(|f| get(f).as_deref() == Some(value.as_str()))
            .then_some(value)
    };
    let fields: [(&str, &Field); 6] = [
        ("INSTRUME", &|f| f.instrument.clone()),
        ("GAIN", &|f| f.gain.map(number)),
        ("OFFSET", &|f| f.offset.map(number)),
        ("EGAIN", &|f| f.egain.map(number)),
        ("READOUTM", &|f| f.readout_mode.clone()),
        ("SET-TEMP", &|f| f.set_temp.map(number)),
    ];
    for (keyword, get) in fields {
        if let Some(value) = same_text(get) {
            cards.insert(keyword.to_owned(), value);
        }
    }
    let temps: Vec<f64> = frames.iter().filter_map(|f| f.ccd_temp).collect();
    if temps.len() == frames.len() {
        #[allow(clippy::cast_precision_loss)]
        let mean = temps.iter().sum::<f64>() / temps.len() as f64;
        cards.insert("CCD-TEMP".to_owned(), number(mean));
    }
    if let Some(value) = same_text(&|f: &FrameMeta| f.bayer_pattern.clone()) {
        cards.insert("BAYERPAT".to_owned(), value);
    }
    cards
}

/// Days from night `a` to night `b`, when both are dated.
fn days(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a - b).num_days().abs()),
        _ => None,
    }
}

/// What [`choose`] took, and what it passed over.
#[derive(Debug, Default)]
pub(crate) struct Choice<'a> {
    /// The frames taken, in observation order.
    pub(crate) frames: Vec<&'a FrameMeta>,
    /// Where they came from.
    pub(crate) origin: Option<Origin>,
}

/// Takes, among `candidates` (calibration frames of one kind), those that serve `target`:
/// compatible ([`compatible`]), of the same night, else of the nearest night when
/// `other_nights`, and of one camera state (the closest to the target's, then the most
/// frames).
pub(crate) fn choose<'a>(
    target: &FrameMeta,
    candidates: &[&'a FrameMeta],
    rules: &Rules,
    filter: bool,
    other_nights: bool,
) -> Choice<'a> {
    let fitting: Vec<&'a FrameMeta> = candidates
        .iter()
        .copied()
        .filter(|c| compatible(target, c, rules, filter).is_ok())
        .collect();
    let same: Vec<&'a FrameMeta> = fitting
        .iter()
        .copied()
        .filter(|c| c.night == target.night)
        .collect();
    let (pool, origin) = if !same.is_empty() {
        (same, Origin::SameNight)
    } else if other_nights {
        let nearest = fitting
            .iter()
            .filter_map(|c| days(c.night, target.night).map(|d| (d, c.night)))
            .min();
        match nearest {
            Some((_, night)) => (
                fitting
                    .iter()
                    .copied()
                    .filter(|c| c.night == night)
                    .collect(),
                Origin::OtherNight { night },
            ),
            None => return Choice::default(),
        }
    } else {
        return Choice::default();
    };
    let mut states: BTreeMap<Vec<Option<String>>, Vec<&'a FrameMeta>> = BTreeMap::new();
    for frame in pool {
        states.entry(state_key(frame)).or_default().push(frame);
    }
    let ours = state_key(target);
    let score = |key: &Vec<Option<String>>| {
        key.iter()
            .zip(&ours)
            .filter(|(a, b)| a.is_some() && a == b)
            .count()
    };
    let Some(mut frames) = states
        .into_iter()
        .max_by(|(a, fa), (b, fb)| {
            (score(a), fa.len())
                .cmp(&(score(b), fb.len()))
                // On a tie, the first state in key order.
                .then_with(|| b.cmp(a))
        })
        .map(|(_, frames)| frames)
    else {
        return Choice::default();
    };
    frames.sort_by(|a, b| (a.date_obs, &a.path).cmp(&(b.date_obs, &b.path)));
    Choice {
        frames,
        origin: Some(origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eloy_fits::{Header, NightRule};

    fn meta(cards: &[(&str, eloy_fits::Value)]) -> FrameMeta {
        let mut h = Header::new();
        h.set("DATE-OBS", "2024-03-10T22:00:00", "");
        for (k, v) in cards {
            h.set(k, v.clone(), "");
        }
        FrameMeta::from_header("f.fits", &h, (10, 20), 16, &NightRule::default()).unwrap()
    }

    #[test]
    fn keywords_compare_only_when_both_files_carry_them() {
        let rules = Rules::default();
        let light = meta(&[("GAIN", 100.into()), ("OFFSET", 50.into())]);
        let no_gain = meta(&[("OFFSET", 50.into())]);
        assert!(compatible(&light, &no_gain, &rules, false).is_ok());
        assert!(compatible(&no_gain, &light, &rules, false).is_ok());
        let other = meta(&[("GAIN", 200.into()), ("OFFSET", 50.into())]);
        let err = compatible(&light, &other, &rules, false).unwrap_err();
        assert_eq!(err.to_string(), "other gain (GAIN 200, the frames' 100)");
        let offset = meta(&[("GAIN", 100.into()), ("BLKLEVEL", 60.into())]);
        assert!(matches!(
            compatible(&light, &offset, &rules, false),
            Err(Mismatch::Field {
                keyword: "OFFSET",
                ..
            })
        ));
    }

    #[test]
    fn temperature_set_point_first_then_sensor() {
        let rules = Rules::default();
        let light = meta(&[("SET-TEMP", (-10.0).into()), ("CCD-TEMP", (-9.6).into())]);
        // Set points equal: a sensor reading far off does not matter.
        let dark = meta(&[("SET-TEMP", (-10.0).into()), ("CCD-TEMP", (-4.0).into())]);
        assert!(compatible(&light, &dark, &rules, false).is_ok());
        // No set point on one side: the sensor readings decide.
        let warm = meta(&[("CCD-TEMP", (-6.0).into())]);
        let err = compatible(&light, &warm, &rules, false).unwrap_err();
        assert!(err.to_string().contains("CCD-TEMP -6"), "{err}");
        let close = meta(&[("CCD-TEMP", (-8.0).into())]);
        assert!(compatible(&light, &close, &rules, false).is_ok());
        // Only one side says: no comparison.
        assert!(compatible(&light, &meta(&[]), &rules, false).is_ok());
        let strict = Rules {
            temperature_tolerance: 1.0,
            ..Rules::default()
        };
        assert!(matches!(
            compatible(&light, &close, &strict, false),
            Err(Mismatch::Temperature { .. })
        ));
    }

    #[test]
    fn instrument_readout_binning_shape_and_filter() {
        let rules = Rules::default();
        let light = meta(&[
            ("INSTRUME", "ZWO ASI294MM Pro".into()),
            ("READOUTM", "High Gain".into()),
            ("FILTER", "Ha".into()),
        ]);
        let other_camera = meta(&[("INSTRUME", "QHY268M".into())]);
        assert!(matches!(
            compatible(&light, &other_camera, &rules, false),
            Err(Mismatch::Field {
                keyword: "INSTRUME",
                ..
            })
        ));
        let same_camera = meta(&[("INSTRUME", "zwo asi294mm pro ".into())]);
        assert!(compatible(&light, &same_camera, &rules, false).is_ok());
        let mode = meta(&[("READOUTM", "Low Noise".into())]);
        assert!(matches!(
            compatible(&light, &mode, &rules, false),
            Err(Mismatch::Field {
                keyword: "READOUTM",
                ..
            })
        ));
        let binned = meta(&[("XBINNING", 2.into()), ("YBINNING", 2.into())]);
        assert!(matches!(
            compatible(&light, &binned, &rules, false),
            Err(Mismatch::Binning(..))
        ));
        let mut small = meta(&[]);
        small.shape = (5, 5);
        assert!(matches!(
            compatible(&light, &small, &rules, false),
            Err(Mismatch::Shape(..))
        ));
        let oiii = meta(&[("FILTER", "OIII".into())]);
        assert!(compatible(&light, &oiii, &rules, false).is_ok());
        assert!(matches!(
            compatible(&light, &oiii, &rules, true),
            Err(Mismatch::Filter(..))
        ));
        let ha = meta(&[("FILTER", " ha".into())]);
        assert!(compatible(&light, &ha, &rules, true).is_ok());
    }

    #[test]
    fn choose_prefers_same_night_then_nearest_then_closest_state() {
        let rules = Rules::default();
        let light = meta(&[("GAIN", 100.into())]);
        let mut far = meta(&[("GAIN", 100.into())]);
        far.night = NaiveDate::from_ymd_opt(2024, 2, 1);
        let mut near = meta(&[("GAIN", 100.into())]);
        near.night = NaiveDate::from_ymd_opt(2024, 3, 7);
        let choice = choose(&light, &[&far, &near], &rules, false, true);
        assert_eq!(choice.frames.len(), 1);
        assert_eq!(choice.frames[0].night, near.night);
        assert_eq!(
            choice.origin,
            Some(Origin::OtherNight { night: near.night })
        );
        assert!(
            choose(&light, &[&far, &near], &rules, false, false)
                .frames
                .is_empty()
        );
        let same = meta(&[("GAIN", 100.into())]);
        let choice = choose(&light, &[&far, &near, &same], &rules, false, true);
        assert_eq!(choice.origin, Some(Origin::SameNight));

        // A light without GAIN, darks at two gains: one state, never both.
        let bare = meta(&[]);
        let g100 = [meta(&[("GAIN", 100.into())]), meta(&[("GAIN", 100.into())])];
        let g200 = [meta(&[("GAIN", 200.into())])];
        let all: Vec<&FrameMeta> = g100.iter().chain(&g200).collect();
        let choice = choose(&bare, &all, &rules, false, true);
        assert_eq!(choice.frames.len(), 2, "the larger state");
        let choice = choose(&g200[0], &all, &rules, false, true);
        assert_eq!(choice.frames.len(), 1);
        assert_eq!(choice.frames[0].gain, Some(200.0));
    }
}
