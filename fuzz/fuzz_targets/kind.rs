//! `FrameKind::recognize` of any text (header values, folder and file names), and
//! `detect_kind` with that text as IMAGETYP, as a folder and as a file name.
#![no_main]

use eloy_fits::{FrameKind, Header, detect_kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let kind = FrameKind::recognize(&text);
    // Recognition is word by word: a kind is only found in text that has letters.
    if kind.is_some() {
        assert!(text.chars().any(char::is_alphabetic));
    }
    let mut header = Header::new();
    header.set("IMAGETYP", text.as_ref(), "");
    let name: String = text
        .chars()
        .filter(|&c| c != '/' && c != '\0')
        .take(200)
        .collect();
    let path = std::path::Path::new("night")
        .join(&name)
        .join(format!("{name}.fits"));
    let _ = detect_kind(&header, &path);
    let _ = detect_kind(&Header::new(), &path);
});
