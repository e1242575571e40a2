//! What a frame is, read from its header and its path.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::date::{NightRule, observation_start, site_longitude};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::kind::{FrameKind, KindSource, detect_kind, processed_marker};

/// On-chip binning, columns × rows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Binning {
    /// Binning along NAXIS1 (columns).
    pub x: u32,
    /// Binning along NAXIS2 (rows).
    pub y: u32,
}

impl Default for Binning {
    fn default() -> Self {
        Binning { x: 1, y: 1 }
    }
}

impl std::fmt::Display for Binning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.x, self.y)
    }
}

/// What a frame is: kind, time, exposure, filter, geometry, read from its header.
///
/// ```
/// # fn main() -> Result<(), eloy_fits::Error> {
/// use eloy_fits::{FrameKind, FrameMeta, Header, NightRule};
/// let mut header = Header::new();
/// header.set("IMAGETYP", "Light Frame", "");
/// header.set("DATE-OBS", "2016-01-05T23:10:00", "");
/// header.set("EXPTIME", 60.0, "");
/// header.set("FILTER", "R", "");
/// header.set("XBINNING", 2, "");
/// header.set("YBINNING", 2, "");
/// let meta = FrameMeta::from_header("night/img_001.fits", &header, (1020, 1530), 16, &NightRule::default())?;
/// assert_eq!(meta.kind, Some(FrameKind::Light));
/// assert_eq!(meta.exposure, Some(60.0));
/// assert_eq!(meta.filter.as_deref(), Some("R"));
/// assert_eq!(meta.binning.to_string(), "2x2");
/// assert_eq!(meta.night.unwrap().to_string(), "2016-01-05");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameMeta {
    /// The file.
    pub path: PathBuf,
    /// Bias, dark, flat or light; `None` when nothing says.
    pub kind: Option<FrameKind>,
    /// Where [`kind`](FrameMeta::kind) came from.
    pub kind_source: KindSource,
    /// Start of the exposure, UTC (DATE-OBS, with TIME-OBS/UT/UTSTART, or MJD-OBS).
    pub date_obs: Option<DateTime<Utc>>,
    /// The observing night (local date at the start of the night, see [`NightRule`]).
    pub night: Option<NaiveDate>,
    /// Exposure in seconds (`EXPTIME`, else `EXPOSURE`), as written: may be zero or negative.
    pub exposure: Option<f64>,
    /// Filter name (`FILTER`, `FILTER1`, `FILTNAME`, `ESO INS FILT1 NAME`).
    pub filter: Option<String>,
    /// Binning (`XBINNING`/`YBINNING`, `CCDXBIN`/`CCDYBIN`, `BINX`/`BINY`, `CCDSUM`);
    /// 1×1 when absent.
    pub binning: Binning,
    /// `(rows, columns)`.
    pub shape: (usize, usize),
    /// BITPIX as stored.
    pub bitpix: i32,
    /// Sensor temperature in °C (`CCD-TEMP`, `CCDTEMP`, `CCD_TEMP`, `DET-TEMP`, `TEMPERAT`).
    pub ccd_temp: Option<f64>,
    /// `INSTRUME`.
    pub instrument: Option<String>,
    /// `OBJECT`.
    pub object: Option<String>,
    /// Site longitude, degrees east, from the header (see [`NightRule`]).
    pub site_longitude: Option<f64>,
    /// Why the frame is a product of a reduction (a master, an already calibrated frame)
    /// rather than a raw frame, if it is one (see [`processed_marker`]). A
    /// [`Catalog`](crate::Catalog) never stacks or calibrates such frames.
    #[serde(default)]
    pub processed: Option<String>,
}

const FILTER_KEYWORDS: [&str; 4] = ["FILTER", "FILTER1", "FILTNAME", "ESO INS FILT1 NAME"];
const TEMPERATURE_KEYWORDS: [&str; 5] = ["CCD-TEMP", "CCDTEMP", "CCD_TEMP", "DET-TEMP", "TEMPERAT"];
const BINNING_KEYWORDS: [(&str, &str); 3] = [
    ("XBINNING", "YBINNING"),
    ("CCDXBIN", "CCDYBIN"),
    ("BINX", "BINY"),
];

impl FrameMeta {
    /// Reads a file's header and describes the frame.
    ///
    /// # Errors
    /// Those of [`Reader::open`](crate::Reader::open), and [`Error::BadKeyword`] for a
    /// DATE-OBS (or TIME-OBS, MJD-OBS) that cannot be read.
    pub fn read(path: impl AsRef<Path>, night_rule: &NightRule) -> Result<FrameMeta> {
        let reader = crate::Reader::open(path.as_ref())?;
        FrameMeta::from_header(
            path.as_ref(),
            reader.header(),
            reader.shape(),
            reader.bitpix(),
            night_rule,
        )
    }

    /// Describes a frame from its header, its path (for the kind, see
    /// [`detect_kind`](crate::detect_kind)), shape and BITPIX.
    ///
    /// # Errors
    /// [`Error::BadKeyword`] for an unreadable date.
    pub fn from_header(
        path: impl AsRef<Path>,
        header: &Header,
        shape: (usize, usize),
        bitpix: i32,
        night_rule: &NightRule,
    ) -> Result<FrameMeta> {
        let path = path.as_ref();
        let (kind, kind_source) = detect_kind(header, path);
        let date_obs =
            observation_start(header).map_err(|(key, value, problem)| Error::BadKeyword {
                path: path.to_path_buf(),
                key,
                value,
                problem: problem.0,
            })?;
        let longitude = site_longitude(header);
        let night = date_obs.map(|t| night_rule.night_of(t, longitude));
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| header.get::<String>(k))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        Ok(FrameMeta {
            path: path.to_path_buf(),
            kind,
            kind_source,
            date_obs,
            night,
            exposure: header
                .get::<f64>("EXPTIME")
                .or_else(|| header.get::<f64>("EXPOSURE")),
            filter: text(&FILTER_KEYWORDS),
            binning: binning(header),
            shape,
            bitpix,
            ccd_temp: TEMPERATURE_KEYWORDS
                .iter()
                .find_map(|k| header.get::<f64>(k)),
            instrument: text(&["INSTRUME"]),
            object: text(&["OBJECT"]),
            site_longitude: longitude,
            processed: processed_marker(header),
        })
    }
}

fn binning(header: &Header) -> Binning {
    for (kx, ky) in BINNING_KEYWORDS {
        if let Some(x) = header.get::<u32>(kx) {
            let y = header.get::<u32>(ky).unwrap_or(x);
            if x > 0 && y > 0 {
                return Binning { x, y };
            }
        }
    }
    if let Some(sum) = header.get::<String>("CCDSUM") {
        let parts: Vec<u32> = sum
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [x, y] = parts[..] {
            if x > 0 && y > 0 {
                return Binning { x, y };
            }
        }
    }
    Binning::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binning_forms() {
        let mut h = Header::new();
        assert_eq!(binning(&h), Binning { x: 1, y: 1 });
        h.set("CCDSUM", "2 4", "");
        assert_eq!(binning(&h), Binning { x: 2, y: 4 });
        h.set("CCDXBIN", 3, "");
        assert_eq!(binning(&h), Binning { x: 3, y: 3 });
        h.set("XBINNING", 2, "");
        h.set("YBINNING", 1, "");
        assert_eq!(binning(&h), Binning { x: 2, y: 1 });
    }

    #[test]
    fn bad_date_is_an_error_naming_the_file() {
        let mut h = Header::new();
        h.set("DATE-OBS", "last tuesday", "");
        let err =
            FrameMeta::from_header("a/b.fits", &h, (2, 2), 16, &NightRule::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("a/b.fits") && text.contains("DATE-OBS") && text.contains("last tuesday"),
            "{text}"
        );
    }

    #[test]
    fn exposure_fallback_and_serde() {
        let mut h = Header::new();
        h.set("EXPOSURE", 12.5, "");
        h.set("CCD-TEMP", -10.2, "");
        h.set("INSTRUME", "SBIG ST-8", "");
        let meta =
            FrameMeta::from_header("Darks/d.fits", &h, (2, 3), -32, &NightRule::default()).unwrap();
        assert_eq!(meta.exposure, Some(12.5));
        assert_eq!(meta.ccd_temp, Some(-10.2));
        assert_eq!(meta.kind, Some(FrameKind::Dark));
        let json = serde_json::to_string(&meta).unwrap();
        let back: FrameMeta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta);
    }
}
