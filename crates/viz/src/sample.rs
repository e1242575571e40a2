//! Picking the zscale sample from an image without copying it.
//!
//! astropy flattens the image, keeps its finite values and takes every `stride`-th of them.
//! Here the finite pixels are counted per row in one (parallel) pass, and a second walk
//! reads only the sampled pixels: whole rows without a non-finite pixel are indexed
//! directly, only rows holding a non-finite pixel and a sampled rank are scanned.

use ndarray::parallel::prelude::*;
use ndarray::{ArrayView1, ArrayView2, Axis};

/// Images with fewer pixels than this are counted on the calling thread.
const PARALLEL_MIN_PIXELS: usize = 1 << 16;

/// Columns per parallel task when counting a column-major image.
const COLUMN_CHUNK: usize = 64;

/// Number of finite values in a contiguous slice.
fn count_finite(values: &[f32]) -> usize {
    // Counting in u32 lanes over bounded chunks lets the compiler vectorise the loop.
    values
        .chunks(1 << 20)
        .map(|chunk| chunk.iter().map(|v| u32::from(v.is_finite())).sum::<u32>() as usize)
        .sum()
}

/// Number of finite values in a row of any stride.
fn count_finite_row(row: ArrayView1<'_, f32>) -> usize {
    match row.as_slice() {
        Some(values) => count_finite(values),
        None => row.iter().filter(|v| v.is_finite()).count(),
    }
}

/// Number of finite pixels in each row of `image`, in row order.
///
/// Reads every pixel once, in memory order: rows in parallel for row-major images,
/// chunks of columns for column-major ones (such as `image.t()`). Integer sums make
/// the result independent of the number of threads.
pub(crate) fn finite_counts_per_row(image: ArrayView2<'_, f32>) -> Vec<usize> {
    let (rows, cols) = image.dim();
    let parallel = rows * cols >= PARALLEL_MIN_PIXELS;
    let column_major = rows > 1 && cols > 1 && image.strides()[0] == 1;
    if column_major {
        let count_chunk = |chunk: ArrayView2<'_, f32>| {
            let mut counts = vec![0usize; rows];
            for column in chunk.columns() {
                match column.as_slice() {
                    Some(values) => {
                        for (count, v) in counts.iter_mut().zip(values) {
                            *count += usize::from(v.is_finite());
                        }
                    }
                    None => {
                        for (count, v) in counts.iter_mut().zip(column) {
                            *count += usize::from(v.is_finite());
                        }
                    }
                }
            }
            counts
        };
        let add = |mut a: Vec<usize>, b: Vec<usize>| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
            a
        };
        if parallel {
            image
                .axis_chunks_iter(Axis(1), COLUMN_CHUNK)
                .into_par_iter()
                .map(count_chunk)
                .reduce(|| vec![0; rows], add)
        } else {
            count_chunk(image)
        }
    } else if parallel {
        image
            .axis_iter(Axis(0))
            .into_par_iter()
            .map(count_finite_row)
            .collect()
    } else {
        image.rows().into_iter().map(count_finite_row).collect()
    }
}

/// astropy's sample: the finite values of the image in row-major (C) order, every
/// `stride`-th of them from the first, at most `n_samples`, where
/// `stride = int(max(1, n_finite / n_samples))` (`values[::stride][:n_samples]`).
///
/// Unsorted; empty when the image has no finite pixel. `n_samples` must be at least 1.
pub(crate) fn astropy(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
    debug_assert!(n_samples > 0);
    let counts = finite_counts_per_row(image);
    let n_finite: usize = counts.iter().sum();
    if n_finite == 0 {
        return Vec::new();
    }
    // Python: int(max(1.0, values.size / self.n_samples)), a float64 division truncated.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let stride = (n_finite as f64 / n_samples as f64).max(1.0) as usize;
    let wanted = n_samples.min(n_finite.div_ceil(stride));
    let cols = image.ncols();

    let mut sample = Vec::with_capacity(wanted);
    let mut next = 0usize; // rank, among finite values, of the next value to take
    let mut first = 0usize; // rank of the first finite value of the current row
    for (row, &count) in image.rows().into_iter().zip(&counts) {
        if sample.len() == wanted {
            break;
        }
        let end = first + count;
        if next < end {
            if count == cols {
                // No non-finite pixel in this row: ranks are column indices.
                while next < end && sample.len() < wanted {
                    sample.push(row[next - first]);
                    next += stride;
                }
            } else {
                let mut rank = first;
                for &v in row {
                    if !v.is_finite() {
                        continue;
                    }
                    if rank == next {
                        sample.push(v);
                        next += stride;
                        if sample.len() == wanted || next >= end {
                            break;
                        }
                    }
                    rank += 1;
                }
            }
        }
        first = end;
    }
    debug_assert_eq!(sample.len(), wanted);
    sample
}

/// IRAF's sample (`mzscale` in `pkg/images/tv/display/zscale.x`, used by `display`): a
/// regular grid with step `max(1, int(sqrt((ncols - 1) * (nrows - 1) / n_samples)))`
/// (computed in single precision, as IRAF's `real`) along both axes from the first pixel,
/// read row by row, skipping non-finite pixels (IRAF skips pixels of the bad-pixel mask),
/// stopping at `n_samples` values.
///
/// Reads only the grid pixels. Unsorted; empty when no grid pixel is finite.
pub(crate) fn iraf(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
    debug_assert!(n_samples > 0);
    let (rows, cols) = image.dim();
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let step = ((((cols - 1) * (rows - 1)) as f32 / n_samples as f32).sqrt()).max(1.0) as usize;
    let mut sample = Vec::with_capacity(n_samples.min(rows.div_ceil(step) * cols.div_ceil(step)));
    for row in image.rows().into_iter().step_by(step) {
        for &v in row.iter().step_by(step) {
            if v.is_finite() {
                sample.push(v);
                if sample.len() == n_samples {
                    return sample;
                }
            }
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The obvious implementation: copy the finite values, then stride.
    fn naive_astropy(image: ArrayView2<'_, f32>, n_samples: usize) -> Vec<f32> {
        let values: Vec<f32> = image.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return values;
        }
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let stride = (values.len() as f64 / n_samples as f64).max(1.0) as usize;
        values.into_iter().step_by(stride).take(n_samples).collect()
    }

    fn holey(rows: usize, cols: usize) -> Array2<f32> {
        #[allow(clippy::cast_precision_loss)]
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            let i = r * cols + c;
            match i % 7 {
                3 if r % 3 != 0 => f32::NAN,
                5 if r % 4 == 1 => f32::INFINITY,
                _ => i as f32,
            }
        })
    }

    #[test]
    fn counts_match_for_every_layout() {
        for (rows, cols) in [(1, 1), (1, 9), (9, 1), (30, 17), (300, 400)] {
            let image = holey(rows, cols);
            let expected: Vec<usize> = image
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| v.is_finite()).count())
                .collect();
            assert_eq!(finite_counts_per_row(image.view()), expected);
            let transposed = image.t().to_owned();
            // A column-major view whose rows are `image`'s rows.
            assert_eq!(finite_counts_per_row(transposed.t()), expected);
            // A view with steps along both axes.
            let strided = image.slice(ndarray::s![..;2, ..;3]);
            let expected_strided: Vec<usize> = strided
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| v.is_finite()).count())
                .collect();
            assert_eq!(finite_counts_per_row(strided), expected_strided);
        }
    }

    #[test]
    fn astropy_sample_equals_copy_and_stride() {
        for (rows, cols) in [(1, 1), (3, 5), (40, 33), (300, 400)] {
            let image = holey(rows, cols);
            for n in [1, 2, 7, 100, 1000, 1_000_000] {
                assert_eq!(astropy(image.view(), n), naive_astropy(image.view(), n), "{rows}x{cols} n={n}");
                assert_eq!(astropy(image.t(), n), naive_astropy(image.t(), n), "transposed {rows}x{cols} n={n}");
            }
        }
    }

    #[test]
    fn astropy_sample_of_blank_image_is_empty() {
        let blank = Array2::from_elem((5, 6), f32::NAN);
        assert!(astropy(blank.view(), 1000).is_empty());
        assert!(astropy(Array2::<f32>::zeros((0, 4)).view(), 1000).is_empty());
    }

    #[test]
    fn iraf_grid_step_and_order() {
        // 101 x 201: step = int(sqrt(200 * 100 / 1000)) = 4, grid 26 x 51 = 1326 > 1000.
        #[allow(clippy::cast_precision_loss)]
        let image = Array2::from_shape_fn((101, 201), |(r, c)| (r * 1000 + c) as f32);
        let sample = iraf(image.view(), 1000);
        assert_eq!(sample.len(), 1000);
        assert_eq!(&sample[..3], &[0.0, 4.0, 8.0]);
        assert_eq!(sample[51], 4000.0); // second grid row starts at row 4
        // Small images are read whole.
        let small = holey(3, 5);
        let finite: Vec<f32> = small.iter().copied().filter(|v| v.is_finite()).collect();
        assert_eq!(iraf(small.view(), 1000), finite);
    }
}
