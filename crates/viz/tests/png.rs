//! Pictures decoded back from PNG: size, orientation (`origin="lower"`), transpose,
//! contrast, downsampling, figures and file writing.

use eloy_viz::{Error, Figure, Overwrite, Picture, Render, ZScale, render, zscale_limits};
use ndarray::Array2;

/// A decoded 8-bit grayscale PNG.
struct Decoded {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Decoded {
    fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }
}

fn decode(bytes: &[u8]) -> Decoded {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut pixels).expect("png data");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    pixels.truncate(info.buffer_size());
    Decoded {
        width: info.width as usize,
        height: info.height as usize,
        pixels,
    }
}

fn png_of(picture: &Picture) -> Decoded {
    let decoded = decode(&picture.to_png().expect("encodes"));
    assert_eq!(
        (decoded.width, decoded.height),
        (picture.width(), picture.height())
    );
    assert_eq!(decoded.pixels, picture.pixels());
    decoded
}

/// Hashed noise in [0, 10) around a sky, like a dark background.
#[allow(clippy::cast_precision_loss)]
fn sky(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let mut z = ((r * cols + c) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 29;
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^= z >> 32;
        100.0 + (z % 1000) as f32 / 100.0
    })
}

#[test]
fn size_and_orientation() {
    let mut image = sky(20, 30);
    image[[0, 5]] = 10_000.0; // row 0: the bottom of the picture
    let png = png_of(&render(image.view(), &Render::default()).unwrap());
    assert_eq!((png.width, png.height), (30, 20));
    assert_eq!(
        png.at(5, 19),
        255,
        "bright pixel of row 0 shows at the bottom"
    );
    assert!(png.at(5, 0) < 255, "and not at the top");
    let brightest: Vec<(usize, usize)> = (0..png.height)
        .flat_map(|y| (0..png.width).map(move |x| (x, y)))
        .filter(|&(x, y)| png.at(x, y) == 255)
        .collect();
    assert!(brightest.contains(&(5, 19)));
}

#[test]
fn transpose_swaps_axes() {
    let mut image = sky(20, 30);
    image[[0, 5]] = 10_000.0;
    let options = Render {
        transpose: true,
        ..Render::default()
    };
    let png = png_of(&render(image.view(), &options).unwrap());
    // data.T is 30 x 20: picture 20 wide, 30 high; data column 5 is displayed row 5
    // from the bottom, data row 0 is displayed column 0.
    assert_eq!((png.width, png.height), (20, 30));
    assert_eq!(png.at(0, 29 - 5), 255);
}

#[test]
fn contrast_follows_the_zscale_limits() {
    let mut image = sky(100, 100);
    image[[50, 50]] = 60_000.0;
    image[[10, 10]] = f32::NAN;
    let options = Render::default();
    let png = png_of(&render(image.view(), &options).unwrap());
    let limits = zscale_limits(image.view(), &options.zscale).unwrap();
    // The sky (100 to 110) sits at the bottom of the limits, the star far above them.
    assert!(limits.vmin >= 100.0 && limits.vmin < 101.0, "{limits:?}");
    assert!(limits.vmax > 110.0 && limits.vmax < 1000.0, "{limits:?}");
    // Every pixel is matplotlib's gray level of the rescaled value, row 0 at the bottom.
    for ((r, c), &v) in image.indexed_iter() {
        let n = limits.normalize(v);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let expected = if n.is_nan() {
            0
        } else {
            (n * 256.0).floor().min(255.0) as u8
        };
        assert_eq!(png.at(c, 99 - r), expected, "pixel ({r}, {c}) = {v}");
    }
    assert_eq!(png.at(10, 99 - 10), 0, "NaN is drawn black");
    assert_eq!(png.at(50, 99 - 50), 255, "the star is white");
    let distinct = png
        .pixels
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(distinct > 20, "only {distinct} gray levels");
    // A higher contrast parameter narrows the limits: a brighter picture of the same sky.
    let narrow = Render {
        zscale: ZScale::default(),
        ..Render::default()
    };
    let brighter = png_of(&render(image.view(), &narrow).unwrap());
    let mean = |p: &Decoded| p.pixels.iter().map(|&v| u64::from(v)).sum::<u64>();
    assert!(mean(&brighter) > mean(&png));
}

#[test]
fn downsampling_averages_areas() {
    // Columns alternate between two values: halving the width gives their mean.
    #[allow(clippy::cast_precision_loss)]
    let image = Array2::from_shape_fn((40, 600), |(r, c)| {
        if c % 2 == 0 {
            0.0
        } else {
            100.0 + (r % 3) as f32
        }
    });
    let options = Render {
        max_width: 300,
        ..Render::default()
    };
    let picture = render(image.view(), &options).unwrap();
    let png = png_of(&picture);
    assert_eq!((png.width, png.height), (300, 20));
    let limits = zscale_limits(image.view(), &options.zscale).unwrap();
    // Picture row y (from the top) covers image rows 38 - 2y and 39 - 2y.
    for y in [0, 7, 19] {
        let rows = [38 - 2 * y, 39 - 2 * y];
        let mean: f32 = rows
            .iter()
            .flat_map(|&r| [image[[r, 0]], image[[r, 1]]])
            .map(|v| limits.normalize(v))
            .sum::<f32>()
            / 4.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let expected = (mean * 256.0).floor().min(255.0) as u8;
        for x in [0, 150, 299] {
            assert!(
                png.at(x, y).abs_diff(expected) <= 1,
                "({x},{y}): {} vs {expected}",
                png.at(x, y)
            );
        }
    }
    // A ramp stays monotonic after downsampling by a non-integer factor.
    #[allow(clippy::cast_precision_loss)]
    let ramp = Array2::from_shape_fn((30, 1000), |(_, c)| c as f32);
    let options = Render {
        max_width: 333,
        ..Render::default()
    };
    let png = png_of(&render(ramp.view(), &options).unwrap());
    assert_eq!((png.width, png.height), (333, 10));
    let row: Vec<u8> = (0..png.width).map(|x| png.at(x, 5)).collect();
    assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    assert!(row[0] < 20 && row[332] > 235, "{row:?}");
}

#[test]
fn transposed_downsampling_matches_downsampled_transpose() {
    let mut image = sky(300, 200);
    image[[10, 150]] = 5_000.0;
    let options = Render {
        max_width: 100,
        transpose: true,
        ..Render::default()
    };
    let direct = render(image.view(), &options).unwrap();
    let copy = image.t().to_owned();
    let from_copy = render(
        copy.view(),
        &Render {
            transpose: false,
            ..options
        },
    )
    .unwrap();
    assert_eq!((direct.width(), direct.height()), (100, 67));
    assert_eq!(direct.width(), from_copy.width());
    assert_eq!(direct.height(), from_copy.height());
    let max_diff = direct
        .pixels()
        .iter()
        .zip(from_copy.pixels())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(max_diff <= 1, "max difference {max_diff}");
}

#[test]
fn figure_has_titled_framed_panels() {
    let science = sky(60, 80);
    let bias = sky(40, 80).mapv(|v| v - 100.0);
    let options = Render {
        max_width: 64,
        zscale: ZScale {
            contrast: 0.05,
            ..ZScale::default()
        },
        ..Render::default()
    };
    let figure = Figure::new()
        .options(options)
        .panel("light", science.view())
        .panel("bias", bias.view())
        .render()
        .unwrap();
    let png = png_of(&figure);
    // Two columns of 66 pixels (64 + frame), a gap of 24, margins of 12.
    assert_eq!(png.width, 12 + 66 + 24 + 66 + 12);
    // Title band of 20 + 6, tallest framed panel 48 + 2, margins of 12.
    assert_eq!(png.height, 12 + 20 + 6 + 50 + 12);
    assert_eq!(png.at(0, 0), 255, "white background");
    // Some ink in each title band.
    for (left, right) in [(12, 78), (102, 168)] {
        let ink = (12..32)
            .flat_map(|y| (left..right).map(move |x| (x, y)))
            .filter(|&(x, y)| png.at(x, y) == 0)
            .count();
        assert!(
            ink > 20,
            "title between x={left} and {right}: {ink} black pixels"
        );
    }
    // Frames: black corners of each panel; the shorter bias panel leaves white below it.
    assert_eq!(png.at(12, 38), 0);
    assert_eq!(png.at(102 + 65, 38 + 33), 0);
    assert_eq!(png.at(130, 38 + 40), 255);
    // The science panel's pixels are the single-frame rendering.
    let single = render(science.view(), &options).unwrap();
    assert_eq!(png.at(13, 39), single.pixel(0, 0).unwrap());
    assert_eq!(png.at(13 + 63, 39 + 47), single.pixel(63, 47).unwrap());
}

#[test]
fn figure_errors() {
    assert!(matches!(Figure::new().render(), Err(Error::EmptyFigure)));
    let blank = Array2::from_elem((4, 4), f32::NAN);
    let fine = sky(4, 4);
    let result = Figure::new()
        .panel("ok", fine.view())
        .panel("blank", blank.view())
        .render();
    assert!(matches!(result, Err(Error::NoFinitePixels { .. })));
    let zero_width = Render {
        max_width: 0,
        ..Render::default()
    };
    assert!(matches!(
        render(fine.view(), &zero_width),
        Err(Error::InvalidParameter {
            name: "max_width",
            ..
        })
    ));
}

#[test]
fn save_png_is_atomic_and_respects_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    let first = render(sky(10, 12).view(), &Render::default()).unwrap();
    let second = render(sky(12, 10).view(), &Render::default()).unwrap();
    first.save_png(&path, Overwrite::Never).unwrap();
    let err = second.save_png(&path, Overwrite::Never).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(
        decode(&std::fs::read(&path).unwrap()).width,
        12,
        "left alone"
    );
    second.save_png(&path, Overwrite::Replace).unwrap();
    assert_eq!(decode(&std::fs::read(&path).unwrap()).width, 10, "replaced");
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("frame.png")]);
    let missing = dir.path().join("no/such/dir/frame.png");
    assert!(matches!(
        first.save_png(&missing, Overwrite::Never),
        Err(Error::Io { .. })
    ));
}
