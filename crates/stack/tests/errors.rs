//! Errors: what a caller gets for no frames, mismatched shapes, impossible options, a
//! budget too small, and failing sources or sinks.

use std::borrow::Cow;
use std::ops::Range;

use eloy_stack::{BandSink, BandSource, Combine, Error, Frame, InMemory, Rejection, StackedBand};
use ndarray::Array2;

#[test]
fn zero_frames_is_an_error() {
    let none: Vec<InMemory<'_>> = Vec::new();
    let err = Combine::median().run(none).unwrap_err();
    assert!(matches!(err, Error::NoFrames));
    assert_eq!(err.to_string(), "no frames to combine");
}

#[test]
fn a_frame_of_another_shape_is_named() {
    let a = Array2::<f32>::zeros((4, 5));
    let b = Array2::<f32>::zeros((4, 6));
    let frames = [
        InMemory::new(a.view()).named("bias_1.fits"),
        InMemory::new(a.view()).named("bias_2.fits"),
        InMemory::new(b.view()).named("bias_3.fits"),
    ];
    let err = Combine::median().run(frames).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame 2 (bias_3.fits) has shape (4, 6), expected (4, 5) like frame 0"
    );
}

#[test]
fn an_operand_of_another_shape_is_named() {
    let a = Array2::<f32>::zeros((4, 5));
    let bias = Array2::<f32>::zeros((5, 4));
    let frame = Frame::new(InMemory::new(a.view()).named("flat_1.fits")).subtract(&bias);
    let err = Combine::median().run([frame]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "subtracted image of frame 0 (flat_1.fits) has shape (5, 4), expected (4, 5)"
    );
}

#[test]
fn impossible_rejections_are_errors() {
    let a = Array2::<f32>::zeros((2, 2));
    let frames = || [InMemory::new(a.view()), InMemory::new(a.view())];
    let err = Combine::mean()
        .rejection(Rejection::MinMax { low: 1, high: 1 })
        .run(frames())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::RejectsEverything {
            low: 1,
            high: 1,
            frames: 2
        }
    ));
    for (low, high) in [(-1.0, 3.0), (3.0, f64::NAN), (f64::INFINITY, 1.0)] {
        let clip = Rejection::SigmaClip {
            low,
            high,
            max_iters: 5,
            center: eloy_stack::Center::Median,
        };
        let err = Combine::mean().rejection(clip).run(frames()).unwrap_err();
        assert!(matches!(err, Error::InvalidSigma { .. }), "{err}");
    }
}

#[test]
fn a_budget_below_one_row_says_what_it_needs() {
    let a = Array2::<f32>::zeros((10, 1000));
    let frames: Vec<_> = (0..8).map(|_| InMemory::new(a.view())).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let err = pool
        .install(|| Combine::median().memory_budget(10_000).run(frames))
        .unwrap_err();
    // 8 frames: 32 bytes of input and 4 of output per pixel, 36 * 8 bytes of scratch.
    let needed = 1000 * (4 * 8 + 4) + 36 * 8;
    assert!(matches!(err, Error::BudgetTooSmall { budget: 10_000, needed: n } if n == needed));
    assert_eq!(
        err.to_string(),
        format!(
            "memory budget of 10000 bytes is too small: one row of every frame needs {needed} bytes"
        )
    );
}

/// Fails on the given row.
struct Broken {
    name: String,
    fail_at: usize,
}

impl BandSource for Broken {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.name)
    }
    fn shape(&self) -> (usize, usize) {
        (8, 3)
    }
    fn read_rows(&mut self, rows: Range<usize>, out: &mut [f32]) -> Result<(), Error> {
        if rows.contains(&self.fail_at) {
            return Err(Error::Source {
                name: self.name.clone(),
                source: format!("bad row {}", self.fail_at).into(),
            });
        }
        out.fill(1.0);
        Ok(())
    }
}

#[test]
fn the_first_failing_source_is_reported() {
    let frames = (0..6).map(|i| Broken {
        name: format!("frame {i}"),
        fail_at: if i >= 3 { 5 } else { usize::MAX },
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for _ in 0..10 {
        let err = pool
            .install(|| Combine::median().run(frames.clone()))
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot read frame 3: bad row 5");
    }
}

struct Full;

impl BandSink for Full {
    fn write_band(&mut self, band: StackedBand<'_>) -> Result<(), Error> {
        Err(Error::Sink(
            format!("no room for rows {:?}", band.rows).into(),
        ))
    }
}

#[test]
fn a_failing_sink_stops_the_combine() {
    let a = Array2::<f32>::zeros((3, 3));
    let err = Combine::sum()
        .run_into([InMemory::new(a.view())], &mut Full)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot write combined band: no room for rows 0..3"
    );
}
