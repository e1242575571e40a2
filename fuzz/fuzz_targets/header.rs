//! Header parsing: `Header::parse` of any text (cards cut at 80 bytes, any bytes), then
//! every look-up a reader of the header makes. Nothing may panic.
#![no_main]

use eloy_fits::{Card, Header, Value};
use libfuzzer_sys::fuzz_target;

/// Keywords worth asking for: the structural ones, the ones eloy reads, and ones the input
/// is likely to define.
const KEYS: [&str; 16] = [
    "SIMPLE",
    "BITPIX",
    "NAXIS",
    "NAXIS1",
    "EXPTIME",
    "DATE-OBS",
    "IMAGETYP",
    "FILTER",
    "CCDSUM",
    "SITELONG",
    "HIERARCH ESO DPR TYPE",
    "ESO DPR TYPE",
    "CONTINUE",
    "COMMENT",
    "HISTORY",
    "",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let header = Header::parse(&text);
    let mut keys: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
    keys.extend(
        header
            .cards()
            .iter()
            .take(8)
            .map(|c| c.keyword().to_owned()),
    );
    for key in &keys {
        let _ = header.value(key);
        let _ = header.get::<f64>(key);
        let _ = header.get::<f32>(key);
        let _ = header.get::<i64>(key);
        let _ = header.get::<u32>(key);
        let _ = header.get::<usize>(key);
        let _ = header.get::<bool>(key);
        let _ = header.get::<String>(key);
        let _ = header.raw_value(key);
        let _ = header.contains(key);
    }
    for card in header.cards() {
        let _ = (card.keyword(), card.value(), card.comment(), card.text());
        let _ = (card.is_hierarch(), card.is_commentary());
        // A value read back from a card writes a card that reads back the same value.
        if let Some(value) = card.value() {
            let again = Card::new("KEY", value.clone(), "").value();
            match (&value, &again) {
                (Value::Real(a), Some(Value::Real(b))) if a.is_finite() => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{card:?}")
                }
                _ => {}
            }
        }
    }
    // Editing the parsed header never panics either.
    let mut edited = header.clone();
    edited.set(
        "EXPTIME",
        text.chars().take(200).collect::<String>(),
        "fuzz",
    );
    let _ = edited.get::<String>("EXPTIME");
    edited.push_history(&text);
    edited.remove("EXPTIME");
    let _ = edited.history().count();
});
