//! Any bytes as a FITS file: `eloy_fits::read` (cfitsio underneath, a C library) and the
//! header-only paths must return `Ok` or an `Err` naming the file; never crash, hang or
//! exhaust memory. The bytes are written to a temporary file (use a tmpfs: TMPDIR=/dev/shm).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::Builder::new()
        .suffix(".fits")
        .tempfile()
        .expect("a temporary file");
    std::io::Write::write_all(&mut file, data).expect("written");
    let path = file.path();
    match eloy_fits::read(path) {
        Ok(image) => {
            let (rows, cols) = image.data.dim();
            assert!(rows > 0 && cols > 0);
        }
        Err(e) => assert_eq!(e.path(), path, "{e}"),
    }
    if let Ok(mut reader) = eloy_fits::Reader::open(path) {
        let _ = reader.verify_checksum();
        let (rows, cols) = reader.shape();
        if rows > 1 {
            let mut band = vec![0.0f32; cols];
            let _ = reader.read_rows(rows - 1..rows, &mut band);
        }
        let _ = eloy_fits::FrameMeta::read(path, &eloy_fits::NightRule::default());
    }
});
