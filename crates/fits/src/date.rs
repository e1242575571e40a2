//! Observation dates (DATE-OBS and friends) and observing nights.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::header::{FromValue, Header};

/// Why a date could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DateProblem(pub(crate) String);

/// Parses a FITS date-time value as UTC.
///
/// Accepted forms (FITS standard 4.0 section 9.1.1, and what cameras write):
/// `2016-01-05T12:34:56`, with fractional seconds (any number of digits), a trailing `Z`
/// or a numeric offset (`+02:00`); a space instead of `T`; a date alone `2016-01-05`
/// (midnight); the old `DD/MM/YY` form (years 1900–1999, standard section 9.1.1).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = eloy_fits::parse_datetime("2016-01-05T10:20:30.25Z").unwrap();
/// assert_eq!(t, Utc.with_ymd_and_hms(2016, 1, 5, 10, 20, 30).unwrap() + chrono::Duration::milliseconds(250));
/// assert!(eloy_fits::parse_datetime("yesterday").is_none());
/// ```
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(t.and_utc());
        }
    }
    parse_date(text).map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

/// Parses a date alone: `YYYY-MM-DD` or the old `DD/MM/YY` (19YY).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    let parts: Vec<&str> = text.split('/').collect();
    if let [dd, mm, yy] = parts[..] {
        if yy.len() == 2 {
            let (d, m, y) = (dd.parse().ok()?, mm.parse().ok()?, yy.parse::<i32>().ok()?);
            return NaiveDate::from_ymd_opt(1900 + y, m, d);
        }
    }
    None
}

/// Parses a time of day `HH:MM:SS[.fff]`.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim().trim_end_matches('Z');
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

/// Keywords that give the time of day when DATE-OBS holds only a date.
pub const TIME_KEYWORDS: [&str; 4] = ["TIME-OBS", "UT", "UTSTART", "UT-START"];

/// The start of the exposure, in UTC, from a header.
///
/// `DATE-OBS` (see [`parse_datetime`]); when it holds only a date, the time of day comes
/// from the first of [`TIME_KEYWORDS`] present; without `DATE-OBS`, from `MJD-OBS`
/// (modified Julian date). `Ok(None)` when none of these keywords is present.
///
/// # Errors
/// The keyword and its value when present but unreadable.
pub(crate) fn observation_start(
    header: &Header,
) -> Result<Option<DateTime<Utc>>, (String, String, DateProblem)> {
    if let Some(raw) = header.get::<String>("DATE-OBS") {
        let bad = |why: &str| {
            (
                "DATE-OBS".to_owned(),
                raw.clone(),
                DateProblem(why.to_owned()),
            )
        };
        let date_only = !raw.contains(['T', ':']);
        if date_only {
            let date =
                parse_date(&raw).ok_or_else(|| bad("not a date (expected YYYY-MM-DDThh:mm:ss)"))?;
            for key in TIME_KEYWORDS {
                if let Some(time_text) = header.get::<String>(key) {
                    let time = parse_time(&time_text).ok_or_else(|| {
                        (
                            key.to_owned(),
                            time_text.clone(),
                            DateProblem("not a time (expected hh:mm:ss)".into()),
                        )
                    })?;
                    return Ok(Some(date.and_time(time).and_utc()));
                }
            }
            return Ok(Some(date.and_time(NaiveTime::MIN).and_utc()));
        }
        return parse_datetime(&raw)
            .map(Some)
            .ok_or_else(|| bad("not a date (expected YYYY-MM-DDThh:mm:ss)"));
    }
    if let Some(mjd) = header.get::<f64>("MJD-OBS") {
        // MJD 0 = 1858-11-17T00:00:00 UTC.
        let epoch =
            NaiveDate::from_ymd_opt(1858, 11, 17).map(|d| d.and_time(NaiveTime::MIN).and_utc());
        let millis = (mjd * 86_400_000.0).round();
        if let (Some(epoch), true) = (epoch, millis.abs() < 1e15) {
            return Ok(Some(epoch + Duration::milliseconds(millis as i64)));
        }
        return Err((
            "MJD-OBS".into(),
            mjd.to_string(),
            DateProblem("out of range".into()),
        ));
    }
    Ok(None)
}

/// How frames are labelled with their observing night.
///
/// A night is named by the local date at its start: a frame belongs to the night that
/// begins on the local date of (local time − 12 h), so the boundary between two nights is
/// local noon. Local time is the site's mean solar time, UTC + longitude / 15°, from the
/// longitude in the header (`SITELONG`, `LONG-OBS`, `OBSGEO-L`, in degrees east, decimal
/// or sexagesimal `"-70 44 12"`; a trailing `W` makes it west) or the one given here. When no
/// longitude is known, local time is UTC + [`utc_offset_hours`](NightRule::utc_offset_hours),
/// default 0: nights split at 12:00 UTC, which keeps whole nights together for sites in
/// Europe, Africa and the Americas; set the offset (e.g. +10 for eastern Australia, −10 for
/// Hawaii) for other sites whose headers carry no longitude.
///
/// The tutorial's "subtract 10 h from UTC" is `NightRule { utc_offset_hours: 2.0, .. }`
/// without a longitude.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use eloy_fits::NightRule;
/// // Cerro Paranal (70.4° W): 03:00 UTC is 22:18 local on the 4th.
/// let rule = NightRule { longitude: Some(-70.4), ..Default::default() };
/// let t = Utc.with_ymd_and_hms(2016, 1, 5, 3, 0, 0).unwrap();
/// assert_eq!(rule.night_of(t, None), NaiveDate::from_ymd_opt(2016, 1, 4).unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NightRule {
    /// Site longitude in degrees east; when set it overrides the header's. Default `None`.
    pub longitude: Option<f64>,
    /// Local time − UTC in hours, used when no longitude is known. Default `0.0`.
    pub utc_offset_hours: f64,
}

impl Default for NightRule {
    fn default() -> Self {
        NightRule {
            longitude: None,
            utc_offset_hours: 0.0,
        }
    }
}

impl NightRule {
    /// The night of a frame that started at `start` (UTC), at a site whose header gives
    /// `header_longitude` (degrees east) if any.
    ///
    /// A start within a day of the calendar's limits (years ±262143, which a DATE-OBS may
    /// hold), or an offset beyond them, has no local noon to count from: its night is its
    /// UTC date.
    pub fn night_of(&self, start: DateTime<Utc>, header_longitude: Option<f64>) -> NaiveDate {
        let offset_hours = match self.longitude.or(header_longitude) {
            Some(lon) => lon / 15.0,
            None => self.utc_offset_hours,
        };
        let offset = Duration::try_milliseconds((offset_hours * 3_600_000.0).round() as i64)
            .unwrap_or_default();
        start
            .checked_add_signed(offset)
            .and_then(|t| t.checked_sub_signed(Duration::hours(12)))
            .map_or_else(|| start.date_naive(), |t| t.date_naive())
    }
}

/// Header keywords holding the site longitude, in the order they are tried.
pub const LONGITUDE_KEYWORDS: [&str; 3] = ["SITELONG", "LONG-OBS", "OBSGEO-L"];

/// The site longitude in degrees east from a header (see [`NightRule`]), if any readable.
pub(crate) fn site_longitude(header: &Header) -> Option<f64> {
    LONGITUDE_KEYWORDS.iter().find_map(|key| {
        let value = header.value(key)?;
        let lon = match value {
            crate::Value::Text(text) => parse_angle(&text)?,
            other => f64::from_value(&other)?,
        };
        (-360.0..=360.0)
            .contains(&lon)
            .then_some(if lon > 180.0 { lon - 360.0 } else { lon })
    })
}

/// Parses an angle in degrees: decimal (`-70.4`) or sexagesimal (`-70 24 00`, `-70:24:00`),
/// with an optional trailing or leading `E`/`W` (west negative).
fn parse_angle(text: &str) -> Option<f64> {
    let mut text = text.trim().to_ascii_uppercase();
    let mut sign = 1.0;
    for hemisphere in ['E', 'W'] {
        if let Some(stripped) = text
            .strip_suffix(hemisphere)
            .or_else(|| text.strip_prefix(hemisphere))
        {
            if hemisphere == 'W' {
                sign = -1.0;
            }
            text = stripped.trim().to_owned();
        }
    }
    let negative = text.starts_with('-');
    let parts: Vec<f64> = text
        .trim_start_matches(['-', '+'])
        .split([' ', ':', 'D', 'M', 'S', '\'', '"'])
        .filter(|p| !p.is_empty())
        .map(str::parse::<f64>)
        .collect::<Result<_, _>>()
        .ok()?;
    let magnitude = match parts[..] {
        [d] => d,
        [d, m] => d + m / 60.0,
        [d, m, s] => d + m / 60.0 + s / 3600.0,
        _ => return None,
    };
    Some(sign * if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn date_forms() {
        let t = utc(2016, 1, 5, 23, 59, 58);
        for text in [
            "2016-01-05T23:59:58",
            "2016-01-05T23:59:58Z",
            "2016-01-05T23:59:58.000",
            "2016-01-05 23:59:58",
            "2016-01-06T01:59:58+02:00",
            " 2016-01-05T23:59:58.0000000 ",
        ] {
            assert_eq!(parse_datetime(text), Some(t), "{text}");
        }
        assert_eq!(
            parse_datetime("2016-01-05T23:59:58.123456"),
            Some(t + Duration::microseconds(123_456))
        );
        assert_eq!(parse_datetime("2016-01-05"), Some(utc(2016, 1, 5, 0, 0, 0)));
        assert_eq!(parse_datetime("05/01/96"), Some(utc(1996, 1, 5, 0, 0, 0)));
        for bad in [
            "",
            "garbage",
            "2016-13-05T00:00:00",
            "2016-02-30",
            "32/01/96",
            "T",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    fn header(cards: &[(&str, crate::Value)]) -> Header {
        let mut h = Header::new();
        for (k, v) in cards {
            h.set(k, v.clone(), "");
        }
        h
    }

    #[test]
    fn date_plus_time_keywords() {
        for key in TIME_KEYWORDS {
            let h = header(&[
                ("DATE-OBS", "2016-01-05".into()),
                (key, "21:30:15.5".into()),
            ]);
            assert_eq!(
                observation_start(&h).unwrap(),
                Some(utc(2016, 1, 5, 21, 30, 15) + Duration::milliseconds(500)),
                "{key}"
            );
        }
        let h = header(&[("DATE-OBS", "05/01/96".into()), ("UT", "03:04:05".into())]);
        assert_eq!(
            observation_start(&h).unwrap(),
            Some(utc(1996, 1, 5, 3, 4, 5))
        );
        let h = header(&[
            ("DATE-OBS", "2016-01-05".into()),
            ("TIME-OBS", "noon".into()),
        ]);
        assert_eq!(observation_start(&h).unwrap_err().0, "TIME-OBS");
        let h = header(&[("DATE-OBS", "not a date".into())]);
        assert_eq!(observation_start(&h).unwrap_err().0, "DATE-OBS");
        let h = header(&[("MJD-OBS", 57392.5.into())]);
        assert_eq!(
            observation_start(&h).unwrap(),
            Some(utc(2016, 1, 5, 12, 0, 0))
        );
        assert_eq!(observation_start(&Header::new()).unwrap(), None);
    }

    #[test]
    fn angles() {
        assert_eq!(parse_angle("-70.4"), Some(-70.4));
        assert_eq!(parse_angle("-70 24 00"), Some(-70.4));
        assert_eq!(parse_angle("-70:24:00"), Some(-70.4));
        assert_eq!(parse_angle("70 24 00 W"), Some(-70.4));
        assert_eq!(parse_angle("E 149.0"), Some(149.0));
        assert_eq!(parse_angle("far away"), None);
        let h = header(&[("SITELONG", "-155 28 00".into())]);
        assert!((site_longitude(&h).unwrap() + 155.4667).abs() < 1e-3);
        let h = header(&[("OBSGEO-L", 350.0.into())]);
        assert_eq!(site_longitude(&h), Some(-10.0));
    }

    /// Dates at the calendar's limits (DATE-OBS = '+262142-12-31T23:59:59') and absurd
    /// offsets give a night, not an overflow panic (found by the `datetime` fuzz target).
    #[test]
    fn nights_at_the_calendar_limits() {
        for text in ["+262142-12-31T23:59:59", "-262143-01-01T00:00:00"] {
            let t = parse_datetime(text).unwrap();
            for longitude in [-180.0, 180.0] {
                let rule = NightRule {
                    longitude: Some(longitude),
                    ..Default::default()
                };
                let night = rule.night_of(t, None);
                assert!((night - t.date_naive()).num_days().abs() <= 1, "{text}");
            }
        }
        let far = NightRule {
            utc_offset_hours: 1e300,
            ..Default::default()
        };
        let t = utc(2016, 1, 5, 12, 0, 0);
        assert_eq!(far.night_of(t, None), t.date_naive());
    }

    /// Frames on both sides of UTC midnight, at four sites, fall on one night each.
    #[test]
    fn nights_at_four_sites() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // (site, longitude east, [frame times UTC], expected night)
        let cases = [
            // Cerro Pachon, Chile (70.7 W, local ~ UTC-4.7): evening 23:30 UTC 4 Jan to
            // morning 09:30 UTC 5 Jan is the night of 4 Jan.
            (
                "Chile",
                -70.74,
                [
                    utc(2016, 1, 4, 23, 30, 0),
                    utc(2016, 1, 5, 0, 30, 0),
                    utc(2016, 1, 5, 9, 30, 0),
                ],
                d(2016, 1, 4),
            ),
            // Siding Spring, Australia (149.1 E, ~ UTC+9.9): local 20:00 = 10:06 UTC,
            // local 05:00 = 19:06 UTC, same UTC date; the night of 5 Jan local.
            (
                "Australia",
                149.07,
                [
                    utc(2016, 1, 5, 10, 6, 0),
                    utc(2016, 1, 5, 13, 59, 0),
                    utc(2016, 1, 5, 19, 0, 0),
                ],
                d(2016, 1, 5),
            ),
            // La Palma, Europe (17.9 W, ~ UTC-1.2): 21:00 to 06:00 UTC.
            (
                "Europe",
                -17.88,
                [
                    utc(2016, 1, 5, 21, 0, 0),
                    utc(2016, 1, 5, 23, 59, 59),
                    utc(2016, 1, 6, 6, 0, 0),
                ],
                d(2016, 1, 5),
            ),
            // Mauna Kea, Hawaii (155.5 W, ~ UTC-10.4): local 19:00 = 05:22 UTC, local 05:00
            // = 15:22 UTC; UTC noon falls mid-night there.
            (
                "Hawaii",
                -155.47,
                [
                    utc(2016, 1, 6, 5, 30, 0),
                    utc(2016, 1, 6, 12, 0, 0),
                    utc(2016, 1, 6, 15, 0, 0),
                ],
                d(2016, 1, 5),
            ),
        ];
        for (site, lon, times, night) in cases {
            let rule = NightRule {
                longitude: Some(lon),
                ..Default::default()
            };
            for t in times {
                assert_eq!(rule.night_of(t, None), night, "{site} {t}");
            }
            // The same from the header's longitude.
            for t in times {
                assert_eq!(
                    NightRule::default().night_of(t, Some(lon)),
                    night,
                    "{site} {t} header"
                );
            }
        }
        // Without a longitude: UTC offset rule, default 0 (noon UTC boundary).
        let rule = NightRule::default();
        assert_eq!(
            rule.night_of(utc(2016, 1, 5, 11, 59, 0), None),
            d(2016, 1, 4)
        );
        assert_eq!(
            rule.night_of(utc(2016, 1, 5, 12, 0, 0), None),
            d(2016, 1, 5)
        );
        let hawaii = NightRule {
            utc_offset_hours: -10.0,
            ..Default::default()
        };
        assert_eq!(
            hawaii.night_of(utc(2016, 1, 6, 12, 0, 0), None),
            d(2016, 1, 5)
        );
        // The tutorial's rule: minus 10 h.
        let tutorial = NightRule {
            utc_offset_hours: 2.0,
            ..Default::default()
        };
        assert_eq!(
            tutorial.night_of(utc(2016, 1, 6, 9, 59, 0), None),
            d(2016, 1, 5)
        );
    }
}
