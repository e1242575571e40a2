"""stack against numpy's nanmedian/nanmean/nansum and astropy's sigma_clip."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import eloy_rs


def frames(n=7, shape=(30, 41), seed=12):
    rng = np.random.default_rng(seed)
    cube = rng.normal(1000, 10, (n, *shape)).astype(np.float32)
    cube[2, 5, 5] = 1e5  # a cosmic ray
    cube[3, 6, 7] = np.nan  # no value
    cube[:, 0, 0] = np.nan  # no value at all: NaN
    return cube


@pytest.mark.parametrize(
    "method, reference",
    [("median", np.nanmedian), ("mean", np.nanmean), ("sum", np.nansum)],
)
def test_methods_match_numpy(method, reference):
    cube = frames()
    ours = eloy_rs.stack(list(cube), method=method)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
        theirs = reference(cube.astype(np.float64), axis=0)
    if method == "sum":
        theirs[0, 0] = np.nan  # eloy: a pixel with no value is NaN, not nansum's 0
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs.astype(np.float32), rtol=1e-6, equal_nan=True)


def test_files_and_arrays_stack_alike(tmp_path):
    cube = frames(n=6)
    paths = []
    for i, frame in enumerate(cube):
        path = tmp_path / f"f{i}.fits"
        eloy_rs.write(path, frame)
        paths.append(path)
    from_files = eloy_rs.stack(paths)
    from_arrays = eloy_rs.stack([f.astype(">f8") for f in cube])
    np.testing.assert_array_equal(from_files, from_arrays)
    # a tiny memory budget: many bands, the same result
    small = eloy_rs.stack([str(p) for p in paths], memory=64 * 1024)
    np.testing.assert_array_equal(small, from_files)


def test_sigma_clip_matches_astropy():
    stats = require("astropy.stats")
    cube = frames(n=9)[:, 1:, 1:]  # no all-NaN pixel
    ours = eloy_rs.stack(list(cube), method="mean", rejection="sigma_clip", sigma=2.5)
    clipped = stats.sigma_clip(cube.astype(np.float64), sigma=2.5, maxiters=5, axis=0)
    theirs = clipped.mean(axis=0).filled(np.nan)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # asymmetric bounds, mean centre, until nothing changes
    ours = eloy_rs.stack(
        list(cube), "median", "sigma_clip", sigma_lower=4.0, sigma_upper=2.0, maxiters=None,
        cenfunc="mean",
    )
    clipped = stats.sigma_clip(
        cube.astype(np.float64), sigma_lower=4.0, sigma_upper=2.0, maxiters=None,
        cenfunc="mean", axis=0,
    )
    theirs = np.ma.median(clipped, axis=0).filled(np.nan)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_minmax_matches_sorting():
    cube = frames(n=8)[:, 1:, 1:]
    cube[3, 5, 6] = 7.0  # the NaN replaced: every pixel has 8 values
    ours = eloy_rs.stack(list(cube), "mean", "minmax", nlow=1, nhigh=2)
    ordered = np.sort(cube.astype(np.float64), axis=0)
    theirs = ordered[1:-2].mean(axis=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="no frames"):
        eloy_rs.stack([])
    with pytest.raises(ValueError, match="shape"):
        eloy_rs.stack([np.zeros((2, 2)), np.zeros((3, 2))])
    with pytest.raises(ValueError, match="method"):
        eloy_rs.stack([np.zeros((2, 2))], method="mode")
    with pytest.raises(ValueError, match="rejection"):
        eloy_rs.stack([np.zeros((2, 2))], rejection="clip")
    with pytest.raises(ValueError, match="budget"):
        eloy_rs.stack([np.zeros((2, 2000))] * 3, memory=10)
