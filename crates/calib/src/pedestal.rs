//! Pedestals (a constant added to calibrated pixels so that faint sky noise is not clipped
//! at 0) and synthetic bias levels (a constant bias for nights without bias frames).
//!
//! The sign conventions of `PEDESTAL` are documented on [`PedestalConvention`].
//!
//! # Synthetic bias
//!
//! Siril's `preprocess -bias="=2048"` subtracts a constant instead of a master bias, and
//! `-bias="=64*$OFFSET"` a multiple of the camera's offset setting (`OFFSET`, else
//! `BLKLEVEL`): [`BiasLevel`].

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The keyword of a frame's pedestal.
///
/// ```
/// assert_eq!(eloy_calib::PEDESTAL_KEYWORD, "PEDESTAL");
/// ```
pub const PEDESTAL_KEYWORD: &str = "PEDESTAL";

/// How a `PEDESTAL` value is signed.
///
/// The keyword is not in the FITS standard, and its two users read it with opposite signs:
///
/// - **PixInsight** (`ImageCalibration`'s output pedestal, since 1.6.1): `PEDESTAL` is the
///   positive number of DN *added* to the pixels, to be *subtracted* to get values referred
///   to zero ("a positive integer in DN units that has to be subtracted", Juan Conejero on
///   the PixInsight forum, topic 7056; newer versions apply its magnitude whatever the
///   sign).
/// - **MaxIm DL / SBIG** (the SBIG FITS extension, SBFITSEXT 1r0, which MaxIm DL follows):
///   "add this value to each pixel value to get a zero-based ADU": a camera that adds 100
///   ADU writes `PEDESTAL = -100`.
///
/// eloy writes PixInsight's convention by default ([`PedestalConvention::PixInsight`]).
///
/// ```
/// use eloy_calib::PedestalConvention;
/// assert_eq!(PedestalConvention::default(), PedestalConvention::PixInsight);
/// assert_eq!(PedestalConvention::PixInsight.added(100.0), 100.0);
/// assert_eq!(PedestalConvention::MaxIm.added(-100.0), 100.0);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PedestalConvention {
    /// PixInsight: the value is what was added; subtract it to restore. Read as its
    /// magnitude, as PixInsight reads it.
    #[default]
    PixInsight,
    /// MaxIm DL and the SBIG extension: the value is what to add to restore (minus what was
    /// added).
    MaxIm,
}

impl PedestalConvention {
    /// The ADU that were added to the pixels, for a keyword value `value`.
    ///
    /// ```
    /// use eloy_calib::PedestalConvention;
    /// assert_eq!(PedestalConvention::PixInsight.added(-100.0), 100.0);
    /// assert_eq!(PedestalConvention::MaxIm.added(100.0), -100.0);
    /// ```
    pub fn added(self, value: f64) -> f64 {
        match self {
            PedestalConvention::PixInsight => value.abs(),
            PedestalConvention::MaxIm => -value,
        }
    }

    /// The keyword value that says `added` ADU were added.
    ///
    /// ```
    /// use eloy_calib::PedestalConvention;
    /// assert_eq!(PedestalConvention::MaxIm.value(100.0), -100.0);
    /// ```
    pub fn value(self, added: f64) -> f64 {
        match self {
            PedestalConvention::PixInsight => added,
            PedestalConvention::MaxIm => -added,
        }
    }
}

/// A pedestal: ADU added to calibrated pixels (`--pedestal N`).
///
/// ```
/// use eloy_calib::{Pedestal, PedestalConvention};
/// let p: Pedestal = "100".parse()?;
/// let mut header = eloy_fits::Header::new();
/// p.write_header(&mut header, PedestalConvention::PixInsight);
/// assert_eq!(header.get::<f64>("PEDESTAL"), Some(100.0));
/// assert_eq!(Pedestal::from_header(&header, PedestalConvention::PixInsight)?, Some(p));
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pedestal(f64);

impl Pedestal {
    /// A pedestal of `adu` ADU.
    ///
    /// # Errors
    /// [`Error::BadValue`] when `adu` is NaN or infinite.
    ///
    /// ```
    /// assert_eq!(eloy_calib::Pedestal::new(50.0)?.adu(), 50.0);
    /// assert!(eloy_calib::Pedestal::new(f64::NAN).is_err());
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn new(adu: f64) -> Result<Pedestal> {
        if adu.is_finite() {
            Ok(Pedestal(adu))
        } else {
            Err(Error::BadValue {
                what: "pedestal",
                text: adu.to_string(),
                expected: "expected a finite number of ADU",
            })
        }
    }

    /// The ADU added.
    ///
    /// ```
    /// assert_eq!(eloy_calib::Pedestal::new(0.0)?.adu(), 0.0);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn adu(self) -> f64 {
        self.0
    }

    /// Parses a pedestal given as text (`100`, `50.5`).
    ///
    /// # Errors
    /// [`Error::BadValue`] naming the text when it is not a finite number.
    ///
    /// ```
    /// let err = eloy_calib::Pedestal::parse("lots").unwrap_err();
    /// assert_eq!(err.to_string(), "pedestal 'lots': expected a number of ADU");
    /// ```
    pub fn parse(text: &str) -> Result<Pedestal> {
        match text.trim().parse::<f64>() {
            Ok(adu) if adu.is_finite() => Ok(Pedestal(adu)),
            _ => Err(Error::BadValue {
                what: "pedestal",
                text: text.to_owned(),
                expected: "expected a number of ADU",
            }),
        }
    }

    /// The pedestal a frame's header declares (`PEDESTAL`), read with `convention`;
    /// `None` when the keyword is absent.
    ///
    /// # Errors
    /// [`Error::BadKeyword`] when `PEDESTAL` is not a number.
    ///
    /// ```
    /// use eloy_calib::{Pedestal, PedestalConvention};
    /// let mut header = eloy_fits::Header::new();
    /// assert_eq!(Pedestal::from_header(&header, PedestalConvention::MaxIm)?, None);
    /// header.set("PEDESTAL", -100, "");
    /// assert_eq!(Pedestal::from_header(&header, PedestalConvention::MaxIm)?.unwrap().adu(), 100.0);
    /// header.set("PEDESTAL", "high", "");
    /// assert!(Pedestal::from_header(&header, PedestalConvention::MaxIm).is_err());
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn from_header(
        header: &eloy_fits::Header,
        convention: PedestalConvention,
    ) -> Result<Option<Pedestal>> {
        if !header.contains(PEDESTAL_KEYWORD) {
            return Ok(None);
        }
        match header.get::<f64>(PEDESTAL_KEYWORD) {
            Some(v) if v.is_finite() => Ok(Some(Pedestal(convention.added(v)))),
            _ => Err(Error::BadKeyword {
                keyword: PEDESTAL_KEYWORD.to_owned(),
                value: header
                    .value(PEDESTAL_KEYWORD)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                expected: "expected a number of ADU",
            }),
        }
    }

    /// Records the pedestal in a header, as `convention` signs it.
    ///
    /// ```
    /// use eloy_calib::{Pedestal, PedestalConvention};
    /// let mut header = eloy_fits::Header::new();
    /// Pedestal::new(100.0)?.write_header(&mut header, PedestalConvention::MaxIm);
    /// assert_eq!(header.get::<f64>("PEDESTAL"), Some(-100.0));
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn write_header(self, header: &mut eloy_fits::Header, convention: PedestalConvention) {
        let comment = match convention {
            PedestalConvention::PixInsight => "[ADU] added to the data; subtract to restore",
            PedestalConvention::MaxIm => "[ADU] add to the data for zero-based ADU",
        };
        header.set(PEDESTAL_KEYWORD, convention.value(self.0), comment);
    }
}

impl FromStr for Pedestal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Pedestal> {
        Pedestal::parse(s)
    }
}

/// A synthetic bias level (`--bias-level`): a constant, or a multiple of a header keyword.
///
/// Parsed from `2048`, `OFFSET*64`, `64*OFFSET`, `OFFSET` (factor 1), and Siril's spellings
/// `=2048`, `=64*$OFFSET`, `=$OFFSET*64`; blanks are ignored, keywords are case-insensitive.
/// Siril 1.0.6 (`evaluateoffsetlevel`) accepts only `$OFFSET` with a positive integer factor,
/// rounds the level down to an integer, refuses a level of 0 and levels beyond ±65535; eloy
/// accepts any keyword and any finite factor, and keeps fractions.
///
/// ```
/// use eloy_calib::BiasLevel;
/// let mut header = eloy_fits::Header::new();
/// header.set("OFFSET", 30, "");
/// assert_eq!("=64*$OFFSET".parse::<BiasLevel>()?.evaluate(&header)?, 1920.0);
/// assert_eq!("2048".parse::<BiasLevel>()?.evaluate(&header)?, 2048.0);
/// # Ok::<(), eloy_calib::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BiasLevel {
    /// A level in ADU.
    Constant(f64),
    /// `factor` times the value of `keyword`.
    Keyword {
        /// The keyword, upper case.
        keyword: String,
        /// The factor.
        factor: f64,
    },
}

impl BiasLevel {
    /// Parses a bias level (see [`BiasLevel`] for the forms).
    ///
    /// # Errors
    /// [`Error::BadValue`] naming the text when it is none of the forms.
    ///
    /// ```
    /// use eloy_calib::BiasLevel;
    /// assert_eq!(BiasLevel::parse(" offset * 16 ")?, BiasLevel::Keyword { keyword: "OFFSET".into(), factor: 16.0 });
    /// assert!(BiasLevel::parse("64*").is_err());
    /// assert!(BiasLevel::parse("OFFSET*GAIN").is_err());
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<BiasLevel> {
        let bad = || Error::BadValue {
            what: "bias level",
            text: text.to_owned(),
            expected: "expected a number of ADU (2048) or a keyword times a number (OFFSET*64, Siril's =64*$OFFSET)",
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let body = compact.strip_prefix('=').unwrap_or(&compact);
        if body.is_empty() {
            return Err(bad());
        }
        let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
        let keyword = |s: &str| {
            let s = s.strip_prefix('$').unwrap_or(s);
            let ok = !s.is_empty()
                && s.len() <= 8
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && s.parse::<f64>().is_err();
            ok.then(|| s.to_ascii_uppercase())
        };
        let parts: Vec<&str> = body.split('*').collect();
        match parts.as_slice() {
            [one] => number(one)
                .map(BiasLevel::Constant)
                .or_else(|| {
                    keyword(one).map(|keyword| BiasLevel::Keyword {
                        keyword,
                        factor: 1.0,
                    })
                })
                .ok_or_else(bad),
            [a, b] => match (keyword(a), number(b), number(a), keyword(b)) {
                (Some(keyword), Some(factor), _, _) | (_, _, Some(factor), Some(keyword)) => {
                    Ok(BiasLevel::Keyword { keyword, factor })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    /// The level for a frame with `header`. A keyword `OFFSET` absent from the header falls
    /// back to `BLKLEVEL` (SharpCap's name), as Siril does.
    ///
    /// # Errors
    /// [`Error::MissingKeyword`] when the keyword is absent; [`Error::BadKeyword`] when its
    /// value is not a number.
    ///
    /// ```
    /// use eloy_calib::BiasLevel;
    /// let level = BiasLevel::parse("OFFSET*10")?;
    /// let mut header = eloy_fits::Header::new();
    /// let err = level.evaluate(&header).unwrap_err();
    /// assert_eq!(err.to_string(), "keyword OFFSET is not in the header");
    /// header.set("BLKLEVEL", 25, "");
    /// assert_eq!(level.evaluate(&header)?, 250.0);
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    pub fn evaluate(&self, header: &eloy_fits::Header) -> Result<f64> {
        let (keyword, factor) = match self {
            BiasLevel::Constant(level) => return Ok(*level),
            BiasLevel::Keyword { keyword, factor } => (keyword.as_str(), *factor),
        };
        let key = if !header.contains(keyword) && keyword == "OFFSET" && header.contains("BLKLEVEL")
        {
            "BLKLEVEL"
        } else {
            keyword
        };
        if !header.contains(key) {
            return Err(Error::MissingKeyword {
                keyword: keyword.to_owned(),
            });
        }
        match header.get::<f64>(key) {
            Some(v) if v.is_finite() => Ok(v * factor),
            _ => Err(Error::BadKeyword {
                keyword: key.to_owned(),
                value: header.value(key).map(|v| v.to_string()).unwrap_or_default(),
                expected: "expected a number for the bias level",
            }),
        }
    }
}

impl FromStr for BiasLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<BiasLevel> {
        BiasLevel::parse(s)
    }
}

impl fmt::Display for BiasLevel {
    /// `2048` or `64 * OFFSET`, for reports and HISTORY cards.
    ///
    /// ```
    /// assert_eq!(eloy_calib::BiasLevel::parse("=64*$OFFSET")?.to_string(), "64 * OFFSET");
    /// # Ok::<(), eloy_calib::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BiasLevel::Constant(level) => write!(f, "{level}"),
            BiasLevel::Keyword { keyword, factor } => write!(f, "{factor} * {keyword}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siril_spellings() {
        let k = |f: f64| BiasLevel::Keyword {
            keyword: "OFFSET".into(),
            factor: f,
        };
        for (text, want) in [
            ("=64*$OFFSET", k(64.0)),
            ("=$OFFSET*64", k(64.0)),
            ("\"=64*$OFFSET\"".trim_matches('"'), k(64.0)),
            ("=256", BiasLevel::Constant(256.0)),
            ("-50", BiasLevel::Constant(-50.0)),
            ("offset", k(1.0)),
            ("0.5 * OFFSET", k(0.5)),
        ] {
            assert_eq!(BiasLevel::parse(text).unwrap(), want, "{text}");
        }
        for text in [
            "",
            "=",
            "*",
            "64*",
            "*64",
            "1*2",
            "A*B",
            "OFFSET*64*2",
            "TOOLONGKEY*2",
            "nan",
        ] {
            assert!(BiasLevel::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn keyword_errors() {
        let mut header = eloy_fits::Header::new();
        header.set("OFFSET", "abc", "");
        let err = BiasLevel::parse("OFFSET*2")
            .unwrap()
            .evaluate(&header)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OFFSET = 'abc': expected a number for the bias level"
        );
        header.set("GAIN", "120", "");
        assert_eq!(
            BiasLevel::parse("gain*0.5")
                .unwrap()
                .evaluate(&header)
                .unwrap(),
            60.0
        );
    }
}
