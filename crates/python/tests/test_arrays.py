"""Arrays in and out: any real dtype and byte order, any layout, eloy's broadcasting and its
-1 rule, against Python eloy 0.0.11's own formula in numpy.

eloy's pixels are float32 with float64 arithmetic (Python eloy's are float64), so the
references here apply eloy's formulas in float64 to the inputs rounded to float32 (``f32``),
and round each master to float32 as eloy stores it. Compared that way the results agree to
about 1e-7; against float64 inputs that float32 cannot hold, the difference is that of the
inputs' rounding (about 6e-8 of each input's magnitude), which cancellation can make large
relative to a result near 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import max_relative_difference

from eloy_rs import calibration


def eloy_calibrate(data, exposure, dark, flat, bias):
    """Python eloy 0.0.11's calibration.calibrate, transcribed from its source."""
    with np.errstate(divide="ignore", invalid="ignore"):
        calibrated_data = (data - (dark * exposure + bias)) / flat
    calibrated_data[calibrated_data < 0] = np.nan
    calibrated_data[~np.isfinite(calibrated_data)] = -1
    return calibrated_data


def f32(a):
    """The values as eloy holds them: rounded to float32, as float64."""
    return np.asarray(a).astype(np.float32).astype(np.float64)


def image(rows=24, cols=33, seed=3):
    rng = np.random.default_rng(seed)
    return rng.integers(900, 3000, size=(rows, cols)).astype(np.uint16)


def masters(shape, seed=4):
    rng = np.random.default_rng(seed)
    bias = 1000.0 + rng.normal(0, 5, shape)
    dark = np.abs(rng.normal(0.05, 0.02, shape))
    flat = rng.uniform(0.7, 1.1, shape)
    return dark, flat, bias


@pytest.mark.parametrize(
    "dtype", ["uint16", ">u2", "int16", ">i4", "int64", "float32", ">f4", "float64", ">f8", "float16"]
)
def test_any_real_dtype_and_byte_order(dtype):
    raw = image()
    data = raw.astype(dtype)
    assert data.dtype == np.dtype(dtype)
    dark, flat, bias = masters(raw.shape)
    ours = calibration.calibrate(data, 30.0, dark, flat, bias)
    expected = eloy_calibrate(f32(data), 30.0, f32(dark), f32(flat), f32(bias))
    assert ours.dtype == np.float64
    assert np.array_equal(ours == -1, expected == -1)
    assert max_relative_difference(ours, expected) <= 1e-6


def test_big_endian_masters_and_views():
    raw = image(40, 50)
    dark, flat, bias = masters(raw.shape)
    # transposed, reversed and strided views; masters as big-endian float32
    data = np.asfortranarray(raw.T).T[::-1, ::2]
    d, f, b = (m.astype(">f4")[::-1, ::2] for m in (dark, flat, bias))
    ours = calibration.calibrate(data, 12.5, d, f, b)
    expected = eloy_calibrate(f32(data), 12.5, f32(d), f32(f), f32(b))
    assert max_relative_difference(ours, expected) <= 1e-6


def test_nested_lists_and_python_numbers():
    ours = calibration.calibrate([[10, 20], [30, 40]], 2, 0.5, 2.0, 1)
    expected = eloy_calibrate(np.array([[10.0, 20], [30, 40]]), 2, 0.5, 2.0, 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-7)


@pytest.mark.parametrize(
    "shape", [(1,), (), (1, 33), (24, 1), (33,)], ids=["eloy-1-element", "0-d", "row", "column", "1-d row"]
)
def test_masters_broadcast_as_numpy(shape):
    raw = image()
    dark, flat, bias = masters(raw.shape)
    rng = np.random.default_rng(9)
    small_bias = np.asarray(1000.0 + rng.normal(0, 5, shape))
    ours = calibration.calibrate(raw, 30.0, dark, flat, small_bias)
    expected = eloy_calibrate(f32(raw), 30.0, f32(dark), f32(flat), f32(small_bias))
    assert max_relative_difference(ours, expected) <= 1e-6


def test_masters_that_do_not_broadcast_are_refused():
    raw = image()
    with pytest.raises(ValueError, match="broadcast"):
        calibration.calibrate(raw, 30.0, np.zeros((3, 3)), [1.0], [0.0])


def test_the_minus_one_rule():
    """Negative values, NaN and infinities (a flat of 0, NaN inputs) all become -1; -0.0 and
    valid values stay."""
    data = np.array([[100.0, 5.0, np.nan, 100.0, 100.0, 110.0, np.inf, 0.0]])
    flat = np.array([[1.0, 1.0, 1.0, 0.0, np.nan, 2.0, 1.0, -1.0]])
    bias = np.full(data.shape, 10.0)
    ours = calibration.calibrate(data, 1.0, np.array([0.0]), flat, bias)
    expected = eloy_calibrate(data, 1.0, np.array([0.0]), flat, bias)
    np.testing.assert_array_equal(ours, expected)
    assert not np.isnan(ours).any()


def test_non_real_dtypes_are_refused():
    with pytest.raises(TypeError, match="real"):
        calibration.calibrate(np.ones((2, 2), dtype=complex), 1.0, [0.0], [1.0], [0.0])
    with pytest.raises(TypeError):
        calibration.calibrate(np.array([["a", "b"]]), 1.0, [0.0], [1.0], [0.0])


def test_calibrate_needs_a_2d_image():
    with pytest.raises(ValueError, match="2-d"):
        calibration.calibrate(np.ones(5), 1.0, [0.0], [1.0], [0.0])


def test_inputs_are_not_modified():
    raw = image()
    dark, flat, bias = masters(raw.shape)
    copies = [a.copy() for a in (raw, dark, flat, bias)]
    calibration.calibrate(raw, 30.0, dark, flat, bias)
    for before, after in zip(copies, (raw, dark, flat, bias)):
        np.testing.assert_array_equal(before, after)


def test_masters_from_in_memory_frames(tmp_path):
    """fun_load may return any array: the medians equal numpy's nanmedian of eloy's
    formulas (Python eloy's easy_median is nanmedian)."""
    rng = np.random.default_rng(11)
    # float32 values (big-endian float64 arrays): eloy holds them exactly
    frames = {
        f"f{i}": rng.normal(1000, 10, (30, 20)).astype(np.float32).astype(">f8") for i in range(6)
    }
    frames["f2"][4, 5] = np.nan  # skipped by nanmedian
    exposures = {k: 2.0 + i for i, k in enumerate(frames)}
    names = list(frames)
    bias = calibration.master_bias(names, frames.get)
    # each master rounded to float32, as eloy stores it
    expected_bias = f32(np.nanmedian(np.stack(list(frames.values())), axis=0))
    np.testing.assert_array_equal(bias, expected_bias)
    dark = calibration.master_dark(bias, names, frames.get, exposures.get)
    expected_dark = np.nanmedian(
        np.stack([(frames[k] - expected_bias) / exposures[k] for k in names]), axis=0
    )
    assert max_relative_difference(dark, expected_dark) <= 1e-6
    flat = calibration.master_flat(bias, dark, names, frames.get, exposures.get)
    # eloy: f = data - bias - dark * t; f /= np.mean(f) -- the NaN pixel makes f2 all NaN
    fs = []
    for k in names:
        f = frames[k] - expected_bias - f32(expected_dark) * exposures[k]
        fs.append(f / np.mean(f))
    expected_flat = np.nanmedian(np.stack(fs), axis=0)
    assert max_relative_difference(flat, expected_flat) <= 1e-6


def test_empty_files_is_an_error():
    with pytest.raises(ValueError, match="no bias frames"):
        calibration.master_bias([])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fits"):
        calibration.master_bias([tmp_path / "nope.fits"])
