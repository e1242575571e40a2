//! The tutorial's pictures from synthetic frames: one science frame, the science / bias /
//! dark / flat figure and the raw / calibrated figure.
//!
//! ```text
//! cargo run -p eloy-viz --release --example tutorial_figure -- OUTPUT_DIR
//! ```
//! (default output directory: `eloy-viz-example` in the system's temporary directory).

use std::path::PathBuf;

use eloy_viz::{Figure, Overwrite, Render, render};
use ndarray::Array2;

const ROWS: usize = 600;
const COLS: usize = 900;

/// Uniform in [0, 1) from a hash of (seed, index).
#[allow(clippy::cast_precision_loss)]
fn uniform(seed: u64, i: usize) -> f32 {
    let mut z = (seed << 32)
        .wrapping_add(i as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// Roughly normal noise.
fn gauss(seed: u64, i: usize) -> f32 {
    (uniform(seed, i) + uniform(seed + 1, i) + uniform(seed + 2, i) + uniform(seed + 3, i) - 2.0)
        * 1.732
}

#[allow(clippy::cast_precision_loss)]
fn frames() -> [Array2<f32>; 4] {
    let vignetting = |r: usize, c: usize| {
        let (y, x) = (r as f32 / ROWS as f32 - 0.5, c as f32 / COLS as f32 - 0.5);
        1.0 - 0.6 * (x * x + y * y)
    };
    let bias = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        300.0 + 2.0 * ((c % 16) as f32 / 16.0) + 3.0 * gauss(1, r * COLS + c)
    });
    let dark = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        let hot = if uniform(5, r * COLS + c) < 0.001 {
            500.0
        } else {
            0.0
        };
        0.02 * c as f32 / COLS as f32 + 0.5 * gauss(9, r * COLS + c).abs() + hot
    });
    let flat = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        20_000.0 * vignetting(r, c) + 100.0 * gauss(13, r * COLS + c)
    });
    let mut science = Array2::from_shape_fn((ROWS, COLS), |(r, c)| {
        bias[[r, c]]
            + 10.0 * dark[[r, c]]
            + vignetting(r, c) * (800.0 + 20.0 * gauss(17, r * COLS + c))
    });
    for k in 0..150 {
        let (x, y) = (
            uniform(21, 3 * k) * COLS as f32,
            uniform(21, 3 * k + 1) * ROWS as f32,
        );
        let flux = 200.0 + 20_000.0 * uniform(21, 3 * k + 2).powi(3);
        for ((r, c), v) in science.indexed_iter_mut() {
            let d2 = (c as f32 - x).powi(2) + (r as f32 - y).powi(2);
            if d2 < 400.0 {
                *v += flux / (1.0 + d2 / 4.0).powi(2);
            }
        }
    }
    // A bright cluster near row 0 (the bottom of the pictures) and a column of bad pixels.
    for r in 10..20 {
        for c in 40..50 {
            science[[r, c]] = 60_000.0;
        }
    }
    science.column_mut(700).fill(f32::NAN);
    [science, bias, dark, flat]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("eloy-viz-example"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let [science, bias, dark, flat] = frames();
    let calibrated = (&science - &bias - &(&dark * 10.0)) / &(&flat / 20_000.0);

    render(science.view(), &Render::default())?
        .save_png(dir.join("science.png"), Overwrite::Replace)?;
    let panels = Render {
        max_width: 400,
        ..Render::default()
    };
    Figure::new()
        .options(panels)
        .panel("science", science.view())
        .panel("bias", bias.view())
        .panel("dark", dark.view())
        .panel("flat", flat.view())
        .render()?
        .save_png(dir.join("frames.png"), Overwrite::Replace)?;
    Figure::new()
        .options(Render {
            max_width: 500,
            transpose: true,
            ..Render::default()
        })
        .panel("raw", science.view())
        .panel("calibrated", calibrated.view())
        .render()?
        .save_png(dir.join("raw_calibrated.png"), Overwrite::Replace)?;
    println!("pictures written to {}", dir.display());
    Ok(())
}
