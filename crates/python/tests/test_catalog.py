"""Catalog on the tutorial's night, against the headers as astropy reads them."""

from __future__ import annotations

import datetime
import pickle

import pytest
from conftest import require

import eloy_rs

KINDS = {"Bias": "bias", "Darks": "dark", "Flats": "flat", "ScienceImages": "light"}


@pytest.fixture
def catalog(night):
    folder, paths = night
    (folder / "photometry_raw_data" / "notes.fits").write_text("not FITS")
    return eloy_rs.Catalog(folder / "photometry_raw_data"), paths


def test_frames_as_astropy_reads_their_headers(catalog):
    fits = require("astropy.io.fits")
    cat, paths = catalog
    expected = {str(p): folder for folder, ps in paths.items() for p in ps}
    frames = cat.frames
    assert len(cat) == len(frames) == len(expected)
    assert [f["path"] for f in frames] == sorted(expected)
    for frame in frames:
        header = fits.getheader(frame["path"])
        assert frame["kind"] == KINDS[expected[frame["path"]]]
        assert frame["exposure"] == header["EXPTIME"]
        assert frame["shape"] == (header["NAXIS2"], header["NAXIS1"])
        assert frame["bitpix"] == header["BITPIX"]
        assert frame["binning"] == "1x1"
        date = datetime.datetime.fromisoformat(header["DATE-OBS"]).replace(
            tzinfo=datetime.timezone.utc
        )
        assert frame["date_obs"] == date
        # nights split at 12:00 UTC by default: the lights past midnight belong to the 5th
        assert frame["night"] == datetime.date(2016, 1, 5)
        for key in ("filter", "ccd_temp", "instrument", "object", "kind_source", "processed"):
            assert key in frame
    assert cat[0] == frames[0] and cat[-1] == frames[-1]
    assert list(cat) == frames
    with pytest.raises(IndexError):
        cat[len(frames)]


def test_failures_summary_and_calibration_sets(catalog):
    cat, paths = catalog
    assert [f["path"].endswith("notes.fits") for f in cat.failures] == [True]
    (night,) = cat.summary()
    assert night["night"] == datetime.date(2016, 1, 5)
    assert (night["light"], night["bias"], night["dark"], night["flat"]) == (3, 6, 5, 4)
    assert night["exposures"]["dark"] == [30.0]
    assert night["exposures"]["flat"] == [1.0, 1.5, 2.0, 2.5]
    assert night["shapes"] == [{"shape": (40, 56), "binning": "1x1"}]
    text = str(cat)
    assert "2016-01-05" in text and "could not be read" in text
    lights = cat.lights()
    assert [f["path"] for f in lights] == [str(p) for p in paths["ScienceImages"]]
    sets = cat.calibration_for(lights[0])
    assert sets == cat.calibration_for(lights[0]["path"])
    assert sets["bias"] == sorted(str(p) for p in paths["Bias"])
    assert sets["dark"] == sorted(str(p) for p in paths["Darks"])
    assert sets["flat"] == sorted(str(p) for p in paths["Flats"])
    with pytest.raises(KeyError):
        cat.calibration_for("/nowhere.fits")


def test_to_table(catalog):
    table_module = require("astropy.table")
    cat, _ = catalog
    table = cat.to_table()
    assert isinstance(table, table_module.Table)
    assert len(table) == len(cat)
    assert list(table["kind"]).count("light") == 3
    assert table["exposure"].dtype.kind == "f"
    assert table["shape"].shape == (len(cat), 2)
    # no filter in these headers: a masked column
    assert all(table["filter"].mask)


def test_pickle_and_json(catalog):
    cat, _ = catalog
    again = pickle.loads(pickle.dumps(cat))
    assert again.frames == cat.frames and again.failures == cat.failures
    assert eloy_rs.Catalog.from_json(cat.to_json()).frames == cat.frames


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        eloy_rs.Catalog(tmp_path / "missing")
