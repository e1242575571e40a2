//! Rendering a frame to an 8-bit grayscale picture through zscale, and PNG output.

use std::io::Write as _;
use std::path::Path;

use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayView2, Axis};

use crate::{Error, Limits, ZScale, zscale_limits};

/// How a frame becomes a picture.
///
/// The picture is drawn as matplotlib's `imshow(z_scale(data), origin="lower",
/// cmap="gray")`: row 0 of the image at the bottom, zscale limits mapped to black and
/// white.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Render, ZScale};
///
/// let tutorial = Render { transpose: true, ..Render::default() };
/// let wide = Render {
///     max_width: 2048,
///     zscale: ZScale { contrast: 0.25, ..ZScale::default() },
///     ..Render::default()
/// };
/// assert_eq!(Render::default().zscale.contrast, 0.05);
/// # let _ = (tutorial, wide);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Render {
    /// Largest picture width in pixels. A wider frame (after the optional transpose) is
    /// downsampled by area averaging to exactly this width, keeping its aspect ratio;
    /// narrower frames keep one picture pixel per image pixel. Default 1024; must be at
    /// least 1.
    pub max_width: usize,
    /// Show the transposed image (`data.T`, as eloy's tutorial does): image columns
    /// become picture rows, image column 0 at the bottom. The zscale limits are then
    /// those of the transposed image, as in the tutorial. Default `false`.
    pub transpose: bool,
    /// zscale parameters. Default: astropy's with `contrast = 0.05`, as eloy's `z_scale`.
    pub zscale: ZScale,
}

impl Default for Render {
    fn default() -> Self {
        Self {
            max_width: 1024,
            transpose: false,
            zscale: ZScale {
                contrast: 0.05,
                ..ZScale::default()
            },
        }
    }
}

/// Whether writing a file may replace an existing one.
///
/// # Examples
///
/// ```
/// use eloy_viz::Overwrite;
///
/// let policy = Overwrite::Never;
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overwrite {
    /// Fail with [`Error::AlreadyExists`] if the file exists.
    Never,
    /// Atomically replace an existing file.
    Replace,
}

/// An 8-bit grayscale picture, stored row by row from the top row, as in a PNG.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Render, render};
/// use ndarray::Array2;
///
/// let image = Array2::from_shape_fn((3, 4), |(r, c)| (r * 4 + c) as f32);
/// let picture = render(image.view(), &Render::default())?;
/// assert_eq!((picture.width(), picture.height()), (4, 3));
/// assert_eq!(picture.pixels().len(), 12);
/// # Ok::<(), eloy_viz::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    width: usize,
    height: usize,
    /// 1 (gray) or 3 (red, green, blue interleaved).
    channels: usize,
    pixels: Vec<u8>,
}

impl Picture {
    /// A picture filled with one gray level.
    pub(crate) fn filled(width: usize, height: usize, level: u8) -> Self {
        Self {
            width,
            height,
            channels: 1,
            pixels: vec![level; width * height],
        }
    }

    /// Whether the picture is in colour ([`render_colour`]): its [`pixels`](Self::pixels)
    /// are then red, green and blue levels interleaved.
    ///
    /// ```
    /// # use eloy_viz::{Render, render};
    /// # let image = ndarray::Array2::<f32>::zeros((2, 5));
    /// assert!(!render(image.view(), &Render::default())?.is_colour());
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn is_colour(&self) -> bool {
        self.channels == 3
    }

    /// The red, green and blue levels at column `x`, row `y` from the top (a gray
    /// picture's level three times); `None` outside.
    ///
    /// ```
    /// use eloy_viz::{Render, render_colour};
    /// let red = ndarray::array![[1.0_f32, 0.0]];
    /// let zero = ndarray::Array2::<f32>::zeros((1, 2));
    /// let picture = render_colour([red.view(), zero.view(), zero.view()], &Render::default())?;
    /// assert_eq!(picture.rgb(0, 0), Some([255, 0, 0]));
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn rgb(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * self.channels;
        Some(if self.channels == 3 {
            [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
        } else {
            [self.pixels[i]; 3]
        })
    }

    /// Width in pixels.
    ///
    /// # Examples
    ///
    /// ```
    /// # use eloy_viz::{Render, render};
    /// # let image = ndarray::Array2::<f32>::zeros((2, 5));
    /// assert_eq!(render(image.view(), &Render::default())?.width(), 5);
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    ///
    /// # Examples
    ///
    /// ```
    /// # use eloy_viz::{Render, render};
    /// # let image = ndarray::Array2::<f32>::zeros((2, 5));
    /// assert_eq!(render(image.view(), &Render::default())?.height(), 2);
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn height(&self) -> usize {
        self.height
    }

    /// The gray levels, row by row from the top row (0 black, 255 white); red, green and
    /// blue interleaved for a colour picture.
    ///
    /// # Examples
    ///
    /// ```
    /// # use eloy_viz::{Render, render};
    /// # let image = ndarray::Array2::<f32>::zeros((2, 5));
    /// let picture = render(image.view(), &Render::default())?;
    /// assert_eq!(picture.pixels().len(), picture.width() * picture.height());
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The gray level at column `x`, row `y` counted from the top (of a colour picture:
    /// the mean of its three levels); `None` outside.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::{Render, render};
    /// use ndarray::array;
    ///
    /// // Row 0 of the image is drawn at the bottom (origin="lower").
    /// let image = array![[1.0_f32, 1.0], [0.0, 0.0]];
    /// let picture = render(image.view(), &Render::default())?;
    /// assert_eq!(picture.pixel(0, 1), Some(255));
    /// assert_eq!(picture.pixel(0, 0), Some(0));
    /// assert_eq!(picture.pixel(2, 0), None);
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn pixel(&self, x: usize, y: usize) -> Option<u8> {
        let [r, g, b] = self.rgb(x, y)?;
        #[allow(clippy::cast_possible_truncation)]
        Some(((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8)
    }

    /// Mutable access for drawing.
    pub(crate) fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }

    /// Copies `other` with its top-left corner at (`x`, `y`); what falls outside is dropped.
    pub(crate) fn paste(&mut self, other: &Picture, x: usize, y: usize) {
        if x >= self.width || y >= self.height {
            return;
        }
        let w = other.width.min(self.width - x);
        for (row, src) in other.pixels.chunks_exact(other.width.max(1)).enumerate() {
            let Some(target_row) = (y + row < self.height).then_some(y + row) else {
                break;
            };
            let start = target_row * self.width + x;
            self.pixels[start..start + w].copy_from_slice(&src[..w]);
        }
    }

    /// Encodes the picture as an 8-bit grayscale (or RGB, for a colour picture) PNG.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when a side exceeds `u32::MAX`; [`Error::Png`] if the encoder
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::{Render, render};
    /// use ndarray::Array2;
    ///
    /// let image = Array2::from_shape_fn((8, 8), |(r, c)| (r + c) as f32);
    /// let png = render(image.view(), &Render::default())?.to_png()?;
    /// assert_eq!(&png[1..4], b"PNG");
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn to_png(&self) -> Result<Vec<u8>, Error> {
        let too_large = || Error::TooLarge {
            width: self.width,
            height: self.height,
        };
        let width = u32::try_from(self.width).map_err(|_| too_large())?;
        let height = u32::try_from(self.height).map_err(|_| too_large())?;
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(if self.is_colour() {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        encoder.set_depth(png::BitDepth::Eight);
        // Previews of noisy frames hardly compress: the fast deflate (fdeflate) costs a
        // fraction of the default and gives files within a few percent of its size.
        encoder.set_compression(png::Compression::Fast);
        encoder.add_text_chunk("Software".into(), "eloy-viz".into())?;
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(bytes)
    }

    /// Writes the picture as a PNG file, atomically: the bytes go to a temporary file in
    /// the same directory, which is then renamed onto `path`. With [`Overwrite::Never`] an
    /// existing file is left alone (checked atomically by the rename). On Unix the file is
    /// created with mode `0o644`.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] with [`Overwrite::Never`] when `path` exists; [`Error::Io`]
    /// when the directory cannot be written; the errors of [`to_png`](Self::to_png).
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::{Error, Overwrite, Render, render};
    /// use ndarray::Array2;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("frame.png");
    /// let image = Array2::from_shape_fn((16, 16), |(r, c)| (r * c) as f32);
    /// let picture = render(image.view(), &Render::default())?;
    /// picture.save_png(&path, Overwrite::Never)?;
    /// assert!(matches!(
    ///     picture.save_png(&path, Overwrite::Never),
    ///     Err(Error::AlreadyExists { .. })
    /// ));
    /// picture.save_png(&path, Overwrite::Replace)?;
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn save_png(&self, path: impl AsRef<Path>, overwrite: Overwrite) -> Result<(), Error> {
        self.save_png_as(path.as_ref(), overwrite, true)
    }

    /// [`Picture::save_png`] without the fsync: the picture takes its name at once (still
    /// whole or not at all: written under a temporary name, then renamed), and reaches
    /// the disk when the system writes it back, or when the caller syncs the file and its
    /// folder (what `eloy calibrate` does once, for all its files, at the end of a run).
    ///
    /// ```
    /// use eloy_viz::{Overwrite, Render, render};
    /// use ndarray::Array2;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("frame.png");
    /// let image = Array2::from_shape_fn((16, 16), |(r, c)| (r * c) as f32);
    /// render(image.view(), &Render::default())?.save_png_unsynced(&path, Overwrite::Never)?;
    /// assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn save_png_unsynced(
        &self,
        path: impl AsRef<Path>,
        overwrite: Overwrite,
    ) -> Result<(), Error> {
        self.save_png_as(path.as_ref(), overwrite, false)
    }

    fn save_png_as(&self, path: &Path, overwrite: Overwrite, sync: bool) -> Result<(), Error> {
        let bytes = self.to_png()?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::Builder::new()
            .prefix(".eloy-viz-")
            .suffix(".png.tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(io)?;
        }
        if sync {
            file.as_file().sync_all().map_err(io)?;
        }
        match overwrite {
            Overwrite::Replace => file.persist(path).map(drop).map_err(|e| io(e.error)),
            Overwrite::Never => file.persist_noclobber(path).map(drop).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io(e.error)
                }
            }),
        }
    }
}

/// Renders a frame to an 8-bit grayscale picture through zscale.
///
/// Steps: optional transpose (a view, no copy); zscale limits of the (transposed) image
/// with `options.zscale`; each pixel mapped to `[0, 1]` by [`Limits::normalize`]; when the
/// image is wider than `options.max_width`, area averaging down to `max_width` columns and
/// `max(1, round(rows * max_width / cols))` rows (each picture pixel is the mean of the
/// image area it covers, fractional pixels weighted by their covered fraction); gray
/// level `min(floor(256 v), 255)` as matplotlib's 256-entry `gray` colormap; rows flipped
/// so that image row 0 is the bottom row of the picture (`origin="lower"`).
///
/// NaN rule: NaN pixels are drawn black (they count as 0 in the averaging), `+inf` white,
/// `-inf` black; non-finite pixels take no part in the limits.
///
/// Cost: the zscale pass plus one parallel pass over the image; allocates only the picture.
///
/// # Errors
///
/// [`Error::NoFinitePixels`] when the image has no finite pixel;
/// [`Error::InvalidParameter`] when `max_width` or `zscale.n_samples` is 0.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Render, render};
/// use ndarray::Array2;
///
/// // A 100 x 300 frame shown at most 150 pixels wide: 150 x 50.
/// let image = Array2::from_shape_fn((100, 300), |(r, c)| ((r * 31 + c * 17) % 97) as f32);
/// let picture = render(image.view(), &Render { max_width: 150, ..Render::default() })?;
/// assert_eq!((picture.width(), picture.height()), (150, 50));
/// # Ok::<(), eloy_viz::Error>(())
/// ```
pub fn render(image: ArrayView2<'_, f32>, options: &Render) -> Result<Picture, Error> {
    if options.max_width == 0 {
        return Err(Error::InvalidParameter {
            name: "max_width",
            reason: "must be at least 1",
        });
    }
    let shown = if options.transpose { image.t() } else { image };
    let limits = zscale_limits(shown, &options.zscale)?;
    let (rows, cols) = shown.dim();
    let (out_rows, out_cols) = if cols > options.max_width {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let out_rows =
            ((rows as f64 * options.max_width as f64 / cols as f64).round() as usize).max(1);
        (out_rows, options.max_width)
    } else {
        (rows, cols)
    };
    // Resample in the image's memory order, then transpose the small result.
    let values = if options.transpose {
        area_average(image, out_cols, out_rows, &limits).reversed_axes()
    } else {
        area_average(image, out_rows, out_cols, &limits)
    };
    let mut picture = Picture::filled(out_cols, out_rows, 0);
    // origin="lower": image row 0 is the picture's bottom row.
    for (target, source) in picture
        .pixels_mut()
        .chunks_exact_mut(out_cols)
        .zip(values.rows().into_iter().rev())
    {
        for (level, &v) in target.iter_mut().zip(source) {
            *level = gray_level(v);
        }
    }
    Ok(picture)
}

/// Renders three planes (red, green, blue: a debayered colour frame) to a colour picture,
/// each plane through its own zscale limits as [`render`] draws a gray frame (so the
/// preview is roughly white-balanced on the sky; not a calibrated colour rendering).
///
/// # Errors
/// [`Error::ShapeMismatch`] when the planes differ in shape; the errors of [`render`] for
/// each plane.
///
/// ```
/// use eloy_viz::{Render, render_colour};
/// let plane = ndarray::Array2::from_shape_fn((4, 6), |(r, c)| (r + c) as f32);
/// let picture = render_colour([plane.view(), plane.view(), plane.view()], &Render::default())?;
/// assert!(picture.is_colour());
/// assert_eq!(picture.pixels().len(), 3 * 4 * 6);
/// # Ok::<(), eloy_viz::Error>(())
/// ```
pub fn render_colour(planes: [ArrayView2<'_, f32>; 3], options: &Render) -> Result<Picture, Error> {
    if planes.iter().any(|p| p.dim() != planes[0].dim()) {
        return Err(Error::ShapeMismatch {
            expected: planes[0].dim(),
            found: planes
                .iter()
                .map(ArrayView2::dim)
                .find(|d| *d != planes[0].dim())
                .unwrap_or_default(),
        });
    }
    let [r, g, b] = [
        render(planes[0], options)?,
        render(planes[1], options)?,
        render(planes[2], options)?,
    ];
    let mut pixels = Vec::with_capacity(3 * r.pixels.len());
    for ((&r, &g), &b) in r.pixels.iter().zip(&g.pixels).zip(&b.pixels) {
        pixels.extend_from_slice(&[r, g, b]);
    }
    Ok(Picture {
        width: r.width,
        height: r.height,
        channels: 3,
        pixels,
    })
}

/// matplotlib's lookup in a 256-entry colormap: `min(floor(256 v), 255)`; NaN gives 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn gray_level(v: f32) -> u8 {
    if v.is_nan() {
        return 0;
    }
    // `as u8` saturates below 0.
    (v * 256.0).floor().min(255.0) as u8
}

/// For each output index, the input indices it covers with their weights (summing to 1):
/// output pixel `i` covers `[i n_in / n_out, (i + 1) n_in / n_out)`.
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    if n_in == n_out {
        return (0..n_in).map(|i| vec![(i, 1.0)]).collect();
    }
    #[allow(clippy::cast_precision_loss)]
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (first, last) = (a.floor() as usize, (b.ceil() as usize).min(n_in));
            (first..last)
                .filter_map(|j| {
                    #[allow(clippy::cast_precision_loss)]
                    let overlap = b.min((j + 1) as f64) - a.max(j as f64);
                    #[allow(clippy::cast_possible_truncation)]
                    (overlap > 0.0).then(|| (j, (overlap / scale) as f32))
                })
                .collect()
        })
        .collect()
}

/// The image normalised by `limits` (NaN as 0) and area-averaged to `out_rows x out_cols`.
fn area_average(
    image: ArrayView2<'_, f32>,
    out_rows: usize,
    out_cols: usize,
    limits: &Limits,
) -> Array2<f32> {
    let (rows, cols) = image.dim();
    let row_weights = area_weights(rows, out_rows);
    let col_weights = area_weights(cols, out_cols);
    let value = |v: f32| {
        let n = limits.normalize(v);
        if n.is_nan() { 0.0 } else { n }
    };
    let mut out = Array2::<f32>::zeros((out_rows, out_cols));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(row_weights.par_iter())
        .for_each(|(mut target, sources)| {
            for &(r, wy) in sources {
                let row = image.row(r);
                for (t, weights) in target.iter_mut().zip(&col_weights) {
                    let sum: f32 = weights.iter().map(|&(c, wx)| wx * value(row[c])).sum();
                    *t += wy * sum;
                }
            }
        });
    out.mapv_inplace(|v| v.clamp(0.0, 1.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_cover_input() {
        for (n_in, n_out) in [(10, 10), (10, 3), (7, 2), (6248, 1024), (5, 4)] {
            let weights = area_weights(n_in, n_out);
            assert_eq!(weights.len(), n_out);
            let mut coverage = vec![0.0_f64; n_in];
            for w in &weights {
                let total: f32 = w.iter().map(|&(_, x)| x).sum();
                assert!((total - 1.0).abs() < 1e-5, "{n_in}->{n_out}: {total}");
                for &(j, x) in w {
                    coverage[j] += f64::from(x);
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let expected = n_out as f64 / n_in as f64;
            assert!(coverage.iter().all(|&c| (c - expected).abs() < 1e-5));
        }
    }

    #[test]
    fn gray_levels_follow_matplotlib() {
        assert_eq!(gray_level(0.0), 0);
        assert_eq!(gray_level(1.0 / 256.0), 1);
        assert_eq!(gray_level(0.5), 128);
        assert_eq!(gray_level(1.0), 255);
        assert_eq!(gray_level(f32::NAN), 0);
    }

    #[test]
    fn paste_clips_at_the_border() {
        let mut canvas = Picture::filled(4, 3, 0);
        canvas.paste(&Picture::filled(3, 3, 9), 2, 1);
        assert_eq!(canvas.pixels(), &[0, 0, 0, 0, 0, 0, 9, 9, 0, 0, 9, 9]);
    }
}
