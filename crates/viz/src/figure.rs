//! Several frames side by side, each under its title, in one picture.

use std::convert::Infallible;

use embedded_graphics::Drawable as _;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_10X20;
use embedded_graphics::pixelcolor::{Gray8, GrayColor as _};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Point, Size};
use embedded_graphics::text::renderer::TextRenderer as _;
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use ndarray::ArrayView2;

use crate::{Error, Picture, Render, render};

/// Space around the figure, in pixels.
const MARGIN: usize = 12;
/// Space between panels.
const GAP: usize = 24;
/// Space between a title and its panel.
const TITLE_GAP: usize = 6;
/// Figure background (white, as matplotlib's).
const BACKGROUND: u8 = 255;
/// Titles and panel frames (black).
const INK: u8 = 0;

/// A figure of titled panels side by side, like the tutorial's matplotlib figures
/// (science / bias / dark / flat, raw / calibrated).
///
/// Each panel is rendered with the figure's [`Render`] options (so each gets its own zscale
/// limits and is at most `max_width` pixels wide), framed by a 1-pixel black line, under its
/// title centred in black on a white background. Panels of different heights are aligned
/// at the top. Titles use the 10x20 fixed font of `embedded-graphics` (ISO 8859-1;
/// other characters show as `?`); a title wider than its panel widens the panel's column.
///
/// # Examples
///
/// ```
/// use eloy_viz::{Figure, Overwrite, Render};
/// use ndarray::Array2;
///
/// let raw = Array2::from_shape_fn((64, 96), |(r, c)| 1000.0 + ((r * 7 + c * 3) % 17) as f32);
/// let calibrated = raw.mapv(|v| v - 1000.0);
/// let picture = Figure::new()
///     .options(Render { max_width: 200, ..Render::default() })
///     .panel("raw", raw.view())
///     .panel("calibrated", calibrated.view())
///     .render()?;
/// assert!(picture.width() > 2 * 96);
///
/// let dir = tempfile::tempdir().unwrap();
/// picture.save_png(dir.path().join("raw_calibrated.png"), Overwrite::Never)?;
/// # Ok::<(), eloy_viz::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Figure<'a> {
    options: Render,
    panels: Vec<(String, ArrayView2<'a, f32>)>,
}

impl<'a> Figure<'a> {
    /// An empty figure with [`Render::default`] options.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::{Error, Figure};
    ///
    /// assert!(matches!(Figure::new().render(), Err(Error::EmptyFigure)));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how every panel is rendered.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::{Figure, Render};
    ///
    /// let figure = Figure::new().options(Render { transpose: true, ..Render::default() });
    /// # let _ = figure;
    /// ```
    #[must_use]
    pub fn options(mut self, options: Render) -> Self {
        self.options = options;
        self
    }

    /// Adds a panel to the right of the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::Figure;
    /// use ndarray::Array2;
    ///
    /// let science = Array2::<f32>::zeros((8, 8));
    /// let bias = Array2::<f32>::zeros((8, 8));
    /// let figure = Figure::new().panel("science", science.view()).panel("bias", bias.view());
    /// # let _ = figure;
    /// ```
    #[must_use]
    pub fn panel(mut self, title: impl Into<String>, image: ArrayView2<'a, f32>) -> Self {
        self.panels.push((title.into(), image));
        self
    }

    /// Renders the panels and composes the figure.
    ///
    /// NaN rules: those of [`render`] for each panel.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyFigure`] without panels; the errors of [`render`] for any panel
    /// (such as [`Error::NoFinitePixels`] for a panel without finite pixels).
    ///
    /// # Examples
    ///
    /// ```
    /// use eloy_viz::Figure;
    /// use ndarray::Array2;
    ///
    /// let image = Array2::from_shape_fn((40, 60), |(r, c)| (r + c) as f32);
    /// let picture = Figure::new().panel("science", image.view()).render()?;
    /// assert_eq!(picture.pixel(0, 0), Some(255)); // white margin
    /// # Ok::<(), eloy_viz::Error>(())
    /// ```
    pub fn render(&self) -> Result<Picture, Error> {
        if self.panels.is_empty() {
            return Err(Error::EmptyFigure);
        }
        let style = MonoTextStyle::new(&FONT_10X20, Gray8::new(INK));
        let font_height = FONT_10X20.character_size.height as usize;
        let panels = self
            .panels
            .iter()
            .map(|(title, image)| {
                let picture = render(*image, &self.options)?;
                let text_width = style
                    .measure_string(title, Point::zero(), Baseline::Top)
                    .bounding_box
                    .size
                    .width;
                // Column width: the framed panel or the title, whichever is wider.
                let column = (picture.width() + 2).max(text_width as usize);
                Ok((title, picture, column))
            })
            .collect::<Result<Vec<_>, Error>>()?;

        let panels_height = panels
            .iter()
            .map(|(_, p, _)| p.height() + 2)
            .max()
            .unwrap_or(0);
        let width =
            2 * MARGIN + panels.iter().map(|(_, _, c)| c).sum::<usize>() + GAP * (panels.len() - 1);
        let height = 2 * MARGIN + font_height + TITLE_GAP + panels_height;
        let mut figure = Picture::filled(width, height, BACKGROUND);

        let panel_top = MARGIN + font_height + TITLE_GAP;
        let mut left = MARGIN;
        for (title, picture, column) in &panels {
            let frame_left = left + (column - (picture.width() + 2)) / 2;
            draw_frame(
                &mut figure,
                frame_left,
                panel_top,
                picture.width() + 2,
                picture.height() + 2,
            );
            figure.paste(picture, frame_left + 1, panel_top + 1);
            let centre = Point::new(to_i32(left + column / 2), to_i32(MARGIN));
            let text_style = TextStyleBuilder::new()
                .alignment(Alignment::Center)
                .baseline(Baseline::Top)
                .build();
            let mut canvas = Canvas(&mut figure);
            let Ok(_) = Text::with_text_style(title, centre, style, text_style).draw(&mut canvas);
            left += column + GAP;
        }
        Ok(figure)
    }
}

/// Saturating conversion for drawing coordinates.
fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A 1-pixel rectangle outline of `INK`.
fn draw_frame(figure: &mut Picture, left: usize, top: usize, width: usize, height: usize) {
    let stride = figure.width();
    let pixels = figure.pixels_mut();
    for x in left..left + width {
        pixels[top * stride + x] = INK;
        pixels[(top + height - 1) * stride + x] = INK;
    }
    for y in top..top + height {
        pixels[y * stride + left] = INK;
        pixels[y * stride + left + width - 1] = INK;
    }
}

/// `embedded-graphics` draws text on a [`Picture`] through this.
struct Canvas<'p>(&'p mut Picture);

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        let side = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Size::new(side(self.0.width()), side(self.0.height()))
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Gray8;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Gray8>>,
    {
        let (width, height) = (self.0.width(), self.0.height());
        let buffer = self.0.pixels_mut();
        for Pixel(point, color) in pixels {
            if let (Ok(x), Ok(y)) = (usize::try_from(point.x), usize::try_from(point.y)) {
                if x < width && y < height {
                    buffer[y * width + x] = color.luma();
                }
            }
        }
        Ok(())
    }
}
