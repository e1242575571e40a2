//! What a frame is, read from its header and its path.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::date::{NightRule, observation_start, site_longitude};
use crate::error::{Error, Result};
use crate::exposure::{ExposureCard, ExposureKey, dark_time};
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
    /// Exposure in seconds (`EXPTIME`, else `EXPOSURE`, else `EXP`, see [`ExposureKey`]),
    /// as written: may be zero or negative. [`FrameMeta::exposure_seconds`] checks it.
    pub exposure: Option<f64>,
    /// The header card the exposure came from; `None` when the header has none.
    #[serde(default)]
    pub exposure_card: Option<ExposureCard>,
    /// `DARKTIME` in seconds when positive (IRAF, MaxIm DL, INDI): the time dark current
    /// built up, used to scale darks when present.
    #[serde(default)]
    pub dark_time: Option<f64>,
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
    /// Cooler set point in °C (`SET-TEMP`, `SETTEMP`, `SET_TEMP`).
    #[serde(default)]
    pub set_temp: Option<f64>,
    /// Camera gain setting (`GAIN`): CMOS cameras write the setting (`100`), CCD
    /// headers often the conversion factor in e⁻/ADU; either way frames of another gain
    /// must not calibrate each other.
    #[serde(default)]
    pub gain: Option<f64>,
    /// Offset (black level) setting (`OFFSET`, else `BLKLEVEL` as SharpCap writes it).
    #[serde(default)]
    pub offset: Option<f64>,
    /// Electrons per ADU (`EGAIN`, as N.I.N.A. and MaxIm DL write it).
    #[serde(default)]
    pub egain: Option<f64>,
    /// Read-out mode (`READOUTM`).
    #[serde(default)]
    pub readout_mode: Option<String>,
    /// Colour filter array pattern (`BAYERPAT`, `COLORTYP`): `RGGB`, `GBRG`...
    #[serde(default)]
    pub bayer_pattern: Option<String>,
    /// Row order of the pixels (`ROWORDER`): `TOP-DOWN` or `BOTTOM-UP`.
    #[serde(default)]
    pub row_order: Option<String>,
    /// Offsets of the colour filter array, `(XBAYROFF, YBAYROFF)`, when the header gives
    /// either.
    #[serde(default)]
    pub bayer_offset: Option<(i64, i64)>,
    /// The level at and above which a pixel is saturated (`SATURATE`, else `DATAMAX`), in
    /// the file's units.
    #[serde(default)]
    pub saturation: Option<f64>,
    /// Read noise (`RDNOISE`, `READNOIS`, `RON`), in electrons as IRAF and ccdproc take it.
    #[serde(default)]
    pub read_noise: Option<f64>,
    /// The overscan region as written (`BIASSEC`), an image section
    /// ([`Section`](crate::Section)).
    #[serde(default)]
    pub biassec: Option<String>,
    /// The region to keep (`TRIMSEC`).
    #[serde(default)]
    pub trimsec: Option<String>,
    /// The region of the image holding data (`DATASEC`).
    #[serde(default)]
    pub datasec: Option<String>,
    /// The overscan was already subtracted (IRAF's and eloy's `OVERSCAN` card is present).
    #[serde(default)]
    pub overscan_done: bool,
    /// The frame was already trimmed (an IRAF or eloy `TRIM` card is present).
    #[serde(default)]
    pub trimmed: bool,
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
    /// The images of the file ([`Reader::image_count`](crate::Reader::image_count)): more
    /// than 1 for a mosaic (one image extension per amplifier or CCD; each described in
    /// [`extensions`](FrameMeta::extensions)). 1 when described from a header alone.
    #[serde(default = "one")]
    pub images: usize,
    /// For one image of a mosaic: which (its HDU and its name). `None` for a single image
    /// (and for a mosaic's own entry, which describes its first image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<ImageExtension>,
    /// For a mosaic: each of its images as a frame of its own, in file order, described
    /// from the extension's header over the primary's (the `INHERIT` convention: the
    /// extension's keywords win), so that each has its own `BIASSEC`, `TRIMSEC`, `GAIN`,
    /// `RDNOISE`. Empty for a single image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<FrameMeta>,
}

/// One image of a mosaic (a multi-extension file, one image extension per amplifier or
/// CCD): its HDU number and its name.
///
/// The name is the extension's `EXTNAME` (with `,EXTVER` when it has one: GMOS writes
/// `SCI,1`, `SCI,2`...), else its `CCDNAME`, else its `AMPNAME`; when those do not tell
/// the images of the file apart, `HDU<n>`. Masters and lights are paired by this name.
///
/// ```
/// let ext = eloy_fits::ImageExtension { hdu: 2, name: "SCI,1".into() };
/// assert_eq!(ext.to_string(), "[SCI,1]");
/// assert_eq!(ext.file_suffix(), "SCI-1");
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ImageExtension {
    /// The HDU number, 1-based (the primary is 1, so a mosaic's images start at 2).
    pub hdu: usize,
    /// The name the images are paired by.
    pub name: String,
}

impl ImageExtension {
    /// The name as it can appear in a file name: letters, digits, `-` and `.` kept, anything
    /// else becomes `-`.
    pub fn file_suffix(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// The names of the images of a mosaic from their headers (in file order, with their
    /// HDU numbers), by the rule of [`ImageExtension`].
    ///
    /// ```
    /// use eloy_fits::{Header, ImageExtension};
    /// let mut a = Header::new();
    /// a.set("EXTNAME", "SCI", "");
    /// a.set("EXTVER", 1, "");
    /// let mut b = a.clone();
    /// b.set("EXTVER", 2, "");
    /// let names = ImageExtension::name_all(&[(2, &a), (3, &b)]);
    /// assert_eq!(names[1], ImageExtension { hdu: 3, name: "SCI,2".into() });
    /// // Names that do not tell them apart: the HDU numbers.
    /// assert_eq!(ImageExtension::name_all(&[(2, &a), (3, &a)])[0].name, "HDU2");
    /// ```
    pub fn name_all(images: &[(usize, &Header)]) -> Vec<ImageExtension> {
        let text = |h: &Header, key: &str| {
            h.get::<String>(key)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        type Rule<'r> = &'r dyn Fn(&Header) -> Option<String>;
        let rules: [Rule<'_>; 3] = [
            &|h| {
                text(h, "EXTNAME").map(|name| match h.get::<i64>("EXTVER") {
                    Some(v) => format!("{name},{v}"),
                    None => name,
                })
            },
            &|h| text(h, "CCDNAME"),
            &|h| text(h, "AMPNAME"),
        ];
        for rule in rules {
            let names: Vec<Option<String>> = images.iter().map(|(_, h)| rule(h)).collect();
            let distinct: std::collections::BTreeSet<&String> = names.iter().flatten().collect();
            if names.iter().all(Option::is_some) && distinct.len() == names.len() {
                return images
                    .iter()
                    .zip(names)
                    .map(|((hdu, _), name)| ImageExtension {
                        hdu: *hdu,
                        name: name.unwrap_or_default(),
                    })
                    .collect();
            }
        }
        images
            .iter()
            .map(|(hdu, _)| ImageExtension {
                hdu: *hdu,
                name: format!("HDU{hdu}"),
            })
            .collect()
    }
}

impl std::fmt::Display for ImageExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]", self.name)
    }
}

fn one() -> usize {
    1
}

const FILTER_KEYWORDS: [&str; 4] = ["FILTER", "FILTER1", "FILTNAME", "ESO INS FILT1 NAME"];
const TEMPERATURE_KEYWORDS: [&str; 5] = ["CCD-TEMP", "CCDTEMP", "CCD_TEMP", "DET-TEMP", "TEMPERAT"];
const SET_TEMPERATURE_KEYWORDS: [&str; 3] = ["SET-TEMP", "SETTEMP", "SET_TEMP"];
const OFFSET_KEYWORDS: [&str; 2] = ["OFFSET", "BLKLEVEL"];
const BAYER_KEYWORDS: [&str; 2] = ["BAYERPAT", "COLORTYP"];
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
        FrameMeta::read_with(path, night_rule, &ExposureKey::Standard)
    }

    /// [`FrameMeta::read`], with the exposure read from `exposure_key`.
    ///
    /// # Errors
    /// As [`FrameMeta::read`].
    pub fn read_with(
        path: impl AsRef<Path>,
        night_rule: &NightRule,
        exposure_key: &ExposureKey,
    ) -> Result<FrameMeta> {
        let reader = crate::Reader::open(path.as_ref())?;
        let mut meta = FrameMeta::from_header(
            path.as_ref(),
            reader.header(),
            reader.shape(),
            reader.bitpix(),
            night_rule,
        )?;
        meta.images = reader.image_count();
        if *exposure_key != ExposureKey::Standard {
            meta.exposure_card = exposure_key.find(reader.header());
            meta.exposure = meta.exposure_card.as_ref().and_then(|c| c.seconds);
        }
        let hdus = reader.image_hdus().to_vec();
        if !hdus.is_empty() {
            let mut parts = Vec::with_capacity(hdus.len());
            for &hdu in &hdus {
                let image = crate::Reader::open_hdu(path.as_ref(), hdu)?;
                let mut part = FrameMeta::from_header(
                    path.as_ref(),
                    image.header(),
                    image.shape(),
                    image.bitpix(),
                    night_rule,
                )?;
                if *exposure_key != ExposureKey::Standard {
                    part.exposure_card = exposure_key.find(image.header());
                    part.exposure = part.exposure_card.as_ref().and_then(|c| c.seconds);
                }
                parts.push((part, image.header().clone()));
            }
            let headers: Vec<(usize, &Header)> = hdus
                .iter()
                .copied()
                .zip(parts.iter().map(|(_, h)| h))
                .collect();
            let names = ImageExtension::name_all(&headers);
            meta.extensions = parts
                .into_iter()
                .zip(names)
                .map(|((mut part, _), name)| {
                    part.extension = Some(name);
                    part
                })
                .collect();
        }
        Ok(meta)
    }

    /// The frame's exposure in seconds, checked: present and a positive number (the
    /// checks of [`ExposureKey::read`], on the card kept at the scan).
    ///
    /// # Errors
    /// [`Error::MissingKeyword`] or [`Error::BadExposure`], naming the file.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_fits::Error> {
    /// use eloy_fits::{ExposureKey, FrameMeta, Header, NightRule};
    /// let mut header = Header::new();
    /// header.set("EXPOSURE", -1.0, "");
    /// let meta = FrameMeta::from_header("d.fits", &header, (2, 2), 16, &NightRule::default())?;
    /// let err = meta.exposure_seconds(&ExposureKey::Standard).unwrap_err();
    /// assert_eq!(err.to_string(), "d.fits: exposure EXPOSURE = -1.0 is not a positive number of seconds");
    /// # Ok(()) }
    /// ```
    pub fn exposure_seconds(&self, key: &ExposureKey) -> Result<f64> {
        key.check(self.exposure_card.as_ref(), &self.path)
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
        let number = |keys: &[&str]| keys.iter().find_map(|k| header.get::<f64>(k));
        let exposure_card = ExposureKey::Standard.find(header);
        Ok(FrameMeta {
            path: path.to_path_buf(),
            kind,
            kind_source,
            date_obs,
            night,
            exposure: exposure_card.as_ref().and_then(|c| c.seconds),
            exposure_card,
            dark_time: dark_time(header),
            filter: text(&FILTER_KEYWORDS),
            binning: binning(header),
            shape,
            bitpix,
            ccd_temp: number(&TEMPERATURE_KEYWORDS),
            set_temp: number(&SET_TEMPERATURE_KEYWORDS),
            gain: number(&["GAIN"]),
            offset: number(&OFFSET_KEYWORDS),
            egain: number(&["EGAIN"]),
            readout_mode: text(&["READOUTM"]),
            bayer_pattern: text(&BAYER_KEYWORDS).map(|p| p.to_ascii_uppercase()),
            row_order: text(&["ROWORDER"]).map(|p| p.to_ascii_uppercase()),
            bayer_offset: (header.contains("XBAYROFF") || header.contains("YBAYROFF")).then(|| {
                (
                    header.get::<i64>("XBAYROFF").unwrap_or(0),
                    header.get::<i64>("YBAYROFF").unwrap_or(0),
                )
            }),
            saturation: number(&["SATURATE", "DATAMAX"]),
            read_noise: number(&["RDNOISE", "READNOIS", "RON"]),
            biassec: text(&["BIASSEC"]),
            trimsec: text(&["TRIMSEC"]),
            datasec: text(&["DATASEC"]),
            overscan_done: header.contains("OVERSCAN"),
            trimmed: header.contains("TRIM"),
            instrument: text(&["INSTRUME"]),
            object: text(&["OBJECT"]),
            site_longitude: longitude,
            processed: processed_marker(header),
            images: 1,
            extension: None,
            extensions: Vec::new(),
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
