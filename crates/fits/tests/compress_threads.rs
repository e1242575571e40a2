//! Compressing on many threads at once gives every image its own pixels, from the first
//! image the process compresses: cfitsio fills its table of dither offsets on first use and
//! its compressor reads the table's pointer without its lock, so a thread could quantise
//! with a table still being filled (seen as pixels one quantisation step off, in
//! `eloy_rs.calibrate_night` against the command, in about one run of two: the first 13 rows
//! of the first light). A test file of its own: a process whose first compressed images are
//! these. The window is short (cfitsio fills 10000 values): on 2 cores this test did not
//! catch the race before the fix (`compress::dither_offsets`) in 8 runs; more cores make it
//! likelier.

use eloy_fits::{Compression, Header, WriteOptions};
use ndarray::Array2;

#[test]
fn first_images_compressed_at_once_are_all_right() {
    let dir = tempfile::tempdir().unwrap();
    let data = Array2::from_shape_fn((64, 256), |(r, c)| {
        1000.0 + ((r * 7919 + c * 104_729) % 1009) as f32 / 10.0
    });
    let options = WriteOptions {
        compression: Compression::Rice { q: 4.0 },
        ..Default::default()
    };
    let threads = 16;
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        for i in 0..threads {
            let (barrier, data, options, dir) = (&barrier, &data, &options, dir.path());
            scope.spawn(move || {
                let path = dir.join(format!("{i}.fits.fz"));
                let mut writer =
                    eloy_fits::Writer::create(&path, data.dim(), &Header::new(), options).unwrap();
                let values: Vec<f32> = data.iter().copied().collect();
                barrier.wait();
                writer.write_rows(0, &values).unwrap();
                writer.finish().unwrap();
            });
        }
    });
    let first = eloy_fits::read(dir.path().join("0.fits.fz")).unwrap().data;
    for i in 1..threads {
        let other = eloy_fits::read(dir.path().join(format!("{i}.fits.fz")))
            .unwrap()
            .data;
        let differ = first
            .iter()
            .zip(other.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differ, 0,
            "image {i}: {differ} pixels differ from image 0's"
        );
    }
}
