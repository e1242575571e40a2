//! `FrameMeta::from_header` of any header text: kind, dates (DATE-OBS with TIME-OBS/UT,
//! MJD-OBS), night, exposure, filter, binning, temperature, longitude. It returns a value
//! or an error naming the file; it never panics.
#![no_main]

use eloy_fits::{FrameMeta, Header, NightRule};
use libfuzzer_sys::fuzz_target;

/// Cards that make the parser reach the date, binning and longitude code: the input's text
/// is appended to one of them, so short inputs explore their values.
const PREFIXES: [&str; 8] = [
    "DATE-OBS= '",
    "MJD-OBS =  ",
    "SITELONG= '",
    "CCDSUM  = '",
    "XBINNING=  ",
    "EXPTIME =  ",
    "TIME-OBS= '",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let prefix = PREFIXES[usize::from(selector) % PREFIXES.len()];
    let mut header_text = String::new();
    if prefix == "TIME-OBS= '" {
        header_text.push_str(&format!("{:<80}", "DATE-OBS= '2016-01-05'"));
    }
    header_text.push_str(prefix);
    header_text.push_str(&text);
    let header = Header::parse(&header_text);
    for rule in [
        NightRule::default(),
        NightRule {
            longitude: Some(-179.9),
            utc_offset_hours: 0.0,
        },
    ] {
        match FrameMeta::from_header("night/frame.fits", &header, (2, 3), 16, &rule) {
            Ok(meta) => {
                let _ = meta.night;
            }
            Err(e) => assert!(e.to_string().starts_with("night/frame.fits: "), "{e}"),
        }
    }
});
