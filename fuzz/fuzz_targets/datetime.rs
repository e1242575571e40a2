//! `parse_datetime` of any text, and the observing night of whatever it accepts under
//! every longitude and UTC offset a header or a user can give. Nothing may panic (chrono's
//! date arithmetic panics on overflow, so dates near its limits are the interesting ones).
#![no_main]

use eloy_fits::{NightRule, parse_datetime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(time) = parse_datetime(&text) else {
        return;
    };
    for longitude in [None, Some(-180.0), Some(0.0), Some(180.0), Some(360.0)] {
        let _ = NightRule::default().night_of(time, longitude);
    }
    for offset in [-24.0, 24.0] {
        let rule = NightRule {
            utc_offset_hours: offset,
            ..Default::default()
        };
        let _ = rule.night_of(time, None);
    }
});
