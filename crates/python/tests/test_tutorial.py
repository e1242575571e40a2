"""The calibration tutorial's notebook, with ``from eloy_rs import calibration, viz``, gives
Python eloy 0.0.11's results.

The reference values were made by Python eloy on the same night
(``fixtures/make_tutorial_fixture.py``, committed with its output ``tutorial_eloy.npz``);
this test does not need Python eloy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, max_relative_difference, require

import eloy_rs
import tutorial

# The requirement; eloy's pixels are float32 with float64 arithmetic, Python eloy's
# float64, so agreement is about 1e-7.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / "tutorial_eloy.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def notebook(night):
    for module in ("astropy", "dateutil", "tqdm", "matplotlib"):
        require(module)
    folder, _ = night
    return folder, tutorial.run("eloy_rs", folder)


def test_notebook_runs_and_prints_the_same_table(notebook, reference):
    _, ns = notebook
    # The same frames per night and type (glob's order may differ between machines).
    assert sorted(ns["__stdout__"].splitlines()) == sorted(str(reference["printed"]).splitlines())


def test_masters_match_python_eloy(notebook, reference):
    _, ns = notebook
    for name in ("bias", "dark", "flat"):
        ours = ns[name]
        assert isinstance(ours, np.ndarray) and ours.dtype == np.float64, name
        worst = max_relative_difference(ours, reference[name])
        print(f"{name}: max relative difference {worst:.3g}")
        assert worst <= RELATIVE, name


def test_calibrated_files_match_python_eloy(notebook, reference):
    folder, ns = notebook
    fits = require("astropy.io.fits")
    saved = sorted((folder / "calibrated_images").glob("*.fits"))
    expected = sorted(k.split("/", 1)[1] for k in reference if k.startswith("calibrated/"))
    assert [p.stem for p in saved] == expected
    for path in saved:
        with fits.open(path) as hdul:
            data = hdul[0].data
            header = hdul[0].header
            # The notebook writes what calibrate returns: float64, as eloy's.
            assert header["BITPIX"] == -64
            # and the light's header
            assert header["IMAGETYP"] == "Light Frame"
            ref = reference[f"calibrated/{path.stem}"]
            # eloy's rule: the same pixels are -1 (negative or not finite)
            assert np.array_equal(data == -1, ref == -1), path.name
            worst = max_relative_difference(data, ref)
            print(f"{path.name}: max relative difference {worst:.3g}")
            assert worst <= RELATIVE, path.name
    # calibrated_data is the last light's, in memory too
    last = saved[-1].stem
    assert max_relative_difference(ns["calibrated_data"], reference[f"calibrated/{last}"]) <= RELATIVE


def test_z_scale_figures_match_python_eloy(notebook, reference):
    folder, ns = notebook
    fits = require("astropy.io.fits")
    first = str(reference["first_light"])
    images = {
        "raw": fits.getdata(folder / "photometry_raw_data" / "ScienceImages" / f"{first}.fits"),
        "bias": ns["bias"],
        "dark": ns["dark"],
        "flat": ns["flat"],
        "calibrated": fits.getdata(folder / "calibrated_images" / f"{first}.fits"),
    }
    for name, data in images.items():
        ours = eloy_rs.viz.z_scale(data)
        assert ours.shape == data.shape
        ref = reference[f"zscale/{name}"]
        # Values in [0, 1]: the difference is absolute, on the display's scale.
        worst = float(np.max(np.abs(ours.astype(np.float64) - ref)))
        print(f"z_scale({name}): max difference {worst:.3g}")
        assert worst <= RELATIVE, name


def test_custom_loaders_are_called(night, reference):
    """master_dark/master_flat with a custom fun_load (the image upside down, big-endian
    float32) and fun_exp (twice EXPTIME), positionally as eloy's signature orders them."""
    fits = require("astropy.io.fits")
    _, paths = night
    calibration = eloy_rs.calibration
    exposures = {str(p): fits.getheader(p)["EXPTIME"] for ps in paths.values() for p in ps}
    loaded = []

    def fun_load(f):
        loaded.append(f)
        return fits.getdata(f)[::-1].astype(">f4")

    def fun_exp(f):
        return 2.0 * exposures[str(f)]

    bias = calibration.master_bias(files=[str(p) for p in paths["Bias"]])
    darks = [str(p) for p in paths["Darks"]]
    dark = calibration.master_dark(bias, darks, fun_load, fun_exp)
    assert loaded == darks  # called with each item, as given, in order
    assert max_relative_difference(dark, reference["custom/dark"]) <= RELATIVE
    flat = calibration.master_flat(
        bias[::-1], dark, [str(p) for p in paths["Flats"]], fun_load, fun_exp
    )
    assert max_relative_difference(flat, reference["custom/flat"]) <= RELATIVE


def test_no_files_gives_eloys_one_element_arrays():
    calibration = eloy_rs.calibration
    bias = calibration.master_bias()
    dark = calibration.master_dark()
    flat = calibration.master_flat()
    for array, value in ((bias, 0.0), (dark, 0.0), (flat, 1.0)):
        assert isinstance(array, np.ndarray)
        assert array.dtype == np.float64 and array.shape == (1,)
        assert array[0] == value
    # as eloy: files=None wins over the other arguments
    assert calibration.master_dark(bias=np.ones((3, 3))).shape == (1,)
    # and calibrate takes them back: (data - (0 * t + 0)) / 1 with eloy's -1 rule
    data = np.array([[5, 0], [7, 65535]], dtype=np.uint16)
    out = calibration.calibrate(data, 30.0, dark, flat, bias)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[5.0, 0.0], [7.0, 65535.0]])


def test_masters_of_one_night_without_darks_or_flats(night, reference):
    """The tutorial's night calibrated with a bias only: eloy's defaults stand in for the
    dark and flat."""
    fits = require("astropy.io.fits")
    _, paths = night
    calibration = eloy_rs.calibration
    bias = calibration.master_bias(files=paths["Bias"])  # pathlib paths work too
    assert max_relative_difference(bias, reference["bias"]) <= RELATIVE
    light = fits.getdata(paths["ScienceImages"][0])
    out = calibration.calibrate(light, 30.0, calibration.master_dark(), calibration.master_flat(), bias)
    expected = light.astype(np.float64) - reference["bias"]
    expected[expected < 0] = -1
    assert max_relative_difference(out, expected) <= RELATIVE


def test_the_published_notebook_imports_eloy():
    """The cells are the notebook's: only the import lines differ."""
    published = tutorial.code("eloy")
    ours = tutorial.code("eloy_rs")
    changed = [
        (a, b)
        for cell_a, cell_b in zip(published, ours)
        for a, b in zip(cell_a.splitlines(), cell_b.splitlines())
        if a != b
    ]
    assert changed == [
        ("from eloy import calibration", "from eloy_rs import calibration"),
        ("from eloy import viz", "from eloy_rs import viz"),
    ]


def test_fixture_was_made_by_python_eloy(reference):
    versions = [str(v) for v in reference["versions"]]
    assert versions[0].startswith("eloy 0.0.11"), versions
    assert Path(FIXTURES / "make_tutorial_fixture.py").exists()
