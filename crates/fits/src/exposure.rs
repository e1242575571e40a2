//! A frame's exposure time: the one rule, used by the catalog and by the calibration.

use std::path::Path;

use crate::error::{Error, Result};
use crate::header::Header;

/// The keywords that may hold the exposure time in seconds, in the order they are tried
/// when no keyword is given: `EXPTIME` (the FITS standard's), `EXPOSURE` (SGP, MaxIm DL,
/// N.I.N.A. write both or only this one), `EXP` (DWARF telescopes).
pub const EXPOSURE_KEYWORDS: [&str; 3] = ["EXPTIME", "EXPOSURE", "EXP"];

/// Where a frame's exposure time is read from.
///
/// ```
/// use eloy_fits::{ExposureKey, Header};
/// let mut header = Header::new();
/// header.set("EXPOSURE", 120.0, "");
/// assert_eq!(ExposureKey::Standard.read(&header, "a.fits".as_ref())?, 120.0);
/// let given = ExposureKey::Keyword("EXPTIME".into());
/// assert!(matches!(given.read(&header, "a.fits".as_ref()), Err(eloy_fits::Error::MissingKeyword { .. })));
/// # Ok::<(), eloy_fits::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureKey {
    /// The first of [`EXPOSURE_KEYWORDS`] present in the header (the default).
    #[default]
    Standard,
    /// Only this keyword (`eloy --exposure-key`).
    Keyword(String),
}

impl ExposureKey {
    /// A key from a keyword given by a person: `EXPTIME` (the default's first keyword)
    /// stands for [`ExposureKey::Standard`], any other for itself.
    ///
    /// ```
    /// use eloy_fits::ExposureKey;
    /// assert_eq!(ExposureKey::from_keyword("exptime"), ExposureKey::Standard);
    /// assert_eq!(ExposureKey::from_keyword("EXPOSURE"), ExposureKey::Keyword("EXPOSURE".into()));
    /// ```
    pub fn from_keyword(keyword: &str) -> ExposureKey {
        let keyword = keyword.trim().to_ascii_uppercase();
        if keyword == EXPOSURE_KEYWORDS[0] {
            ExposureKey::Standard
        } else {
            ExposureKey::Keyword(keyword)
        }
    }

    /// The keywords tried, in order.
    ///
    /// ```
    /// assert_eq!(eloy_fits::ExposureKey::Standard.keywords(), ["EXPTIME", "EXPOSURE", "EXP"]);
    /// ```
    pub fn keywords(&self) -> Vec<&str> {
        match self {
            ExposureKey::Standard => EXPOSURE_KEYWORDS.to_vec(),
            ExposureKey::Keyword(key) => vec![key.as_str()],
        }
    }

    /// The card that holds the exposure: the first keyword present, with its value as
    /// written (`None` when none is present).
    ///
    /// ```
    /// let mut header = eloy_fits::Header::new();
    /// header.set("EXP", 30, "");
    /// let card = eloy_fits::ExposureKey::Standard.find(&header).unwrap();
    /// assert_eq!((card.keyword.as_str(), card.value.as_str()), ("EXP", "30"));
    /// ```
    pub fn find(&self, header: &Header) -> Option<ExposureCard> {
        self.keywords().into_iter().find_map(|key| {
            header.contains(key).then(|| ExposureCard {
                keyword: key.to_owned(),
                value: header.raw_value(key).unwrap_or_default(),
                seconds: header.get::<f64>(key),
            })
        })
    }

    /// The exposure of a frame in seconds: the first keyword of [`ExposureKey::keywords`]
    /// present in `header`, which must hold a positive, finite number.
    ///
    /// # Errors
    /// [`Error::MissingKeyword`] naming the keywords looked for; [`Error::BadExposure`]
    /// when the value is zero, negative, not finite or not a number.
    ///
    /// ```
    /// let mut header = eloy_fits::Header::new();
    /// header.set("EXPTIME", 0.0, "");
    /// let err = eloy_fits::ExposureKey::Standard.read(&header, "light.fits".as_ref()).unwrap_err();
    /// assert_eq!(err.to_string(), "light.fits: exposure EXPTIME = 0.0 is not a positive number of seconds");
    /// let err = eloy_fits::ExposureKey::Standard.read(&eloy_fits::Header::new(), "dark.fits".as_ref()).unwrap_err();
    /// assert_eq!(err.to_string(), "dark.fits: header has no EXPTIME keyword (nor EXPOSURE, EXP)");
    /// ```
    pub fn read(&self, header: &Header, path: &Path) -> Result<f64> {
        self.check(self.find(header).as_ref(), path)
    }

    /// The checks of [`ExposureKey::read`] on a card found earlier (`None`: no keyword was
    /// present), as [`FrameMeta::exposure_seconds`](crate::FrameMeta::exposure_seconds)
    /// does without the header.
    ///
    /// # Errors
    /// As [`ExposureKey::read`].
    pub fn check(&self, card: Option<&ExposureCard>, path: &Path) -> Result<f64> {
        let Some(card) = card else {
            let keywords = self.keywords();
            return Err(Error::MissingKeyword {
                path: path.to_path_buf(),
                key: keywords[0].to_owned(),
                alternatives: keywords[1..].iter().map(|&k| k.to_owned()).collect(),
            });
        };
        match card.seconds {
            Some(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(seconds),
            _ => Err(Error::BadExposure {
                path: path.to_path_buf(),
                key: card.keyword.clone(),
                value: card.value.clone(),
            }),
        }
    }
}

/// The header card a frame's exposure was read from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExposureCard {
    /// The keyword (`EXPTIME`, `EXPOSURE`, `EXP` or the one given).
    pub keyword: String,
    /// Its value as written in the header (`'long'`, `0.0`).
    pub value: String,
    /// The value as a number, when it is one (zero and negative values included).
    pub seconds: Option<f64>,
}

/// The exposure of a frame in seconds, by the standard keywords ([`ExposureKey::Standard`]).
///
/// # Errors
/// As [`ExposureKey::read`].
///
/// ```
/// let mut header = eloy_fits::Header::new();
/// header.set("EXPOSURE", 12.5, "");
/// assert_eq!(eloy_fits::exposure(&header, "a.fits".as_ref())?, 12.5);
/// # Ok::<(), eloy_fits::Error>(())
/// ```
pub fn exposure(header: &Header, path: &Path) -> Result<f64> {
    ExposureKey::Standard.read(header, path)
}

/// The time the sensor integrated dark current, in seconds: `DARKTIME` when the header
/// holds a positive number there (IRAF, MaxIm DL and INDI write it; it exceeds the exposure
/// by the read-out time), `None` otherwise.
///
/// ```
/// let mut header = eloy_fits::Header::new();
/// assert_eq!(eloy_fits::dark_time(&header), None);
/// header.set("DARKTIME", 121.5, "");
/// assert_eq!(eloy_fits::dark_time(&header), Some(121.5));
/// ```
pub fn dark_time(header: &Header) -> Option<f64> {
    header
        .get::<f64>("DARKTIME")
        .filter(|t| *t > 0.0 && t.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_order() {
        let mut h = Header::new();
        h.set("EXP", 5.0, "");
        h.set("EXPOSURE", 10.0, "");
        assert_eq!(exposure(&h, Path::new("a")).unwrap(), 10.0);
        h.set("EXPTIME", 20.0, "");
        assert_eq!(exposure(&h, Path::new("a")).unwrap(), 20.0);
        let only = ExposureKey::Keyword("EXP".into());
        assert_eq!(only.read(&h, Path::new("a")).unwrap(), 5.0);
    }

    #[test]
    fn bad_values_name_the_keyword_and_value() {
        for (value, shown) in [
            (crate::Value::Real(-30.0), "-30.0"),
            (crate::Value::Text("long".into()), "'long"),
            (crate::Value::Real(f64::INFINITY), ""),
        ] {
            let mut h = Header::new();
            h.set("EXPOSURE", value, "");
            let err = exposure(&h, Path::new("d.fits")).unwrap_err();
            assert!(matches!(err, Error::BadExposure { ref key, .. } if key == "EXPOSURE"));
            assert!(err.to_string().contains(shown), "{err}");
        }
        let err = ExposureKey::Keyword("ITIME".into())
            .read(&Header::new(), Path::new("d.fits"))
            .unwrap_err();
        assert_eq!(err.to_string(), "d.fits: header has no ITIME keyword");
    }
}
