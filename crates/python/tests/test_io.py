"""read, read_header, write and zscale_limits against astropy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require

import eloy_rs


@pytest.fixture
def fits():
    return require("astropy.io.fits")


def astropy_file(fits, path, data, **cards):
    header = fits.Header()
    for key, value in cards.items():
        header[key.replace("_", "-")] = value
    fits.PrimaryHDU(data=data, header=header).writeto(path)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "int32", "float32", "float64", "uint8"])
def test_read_matches_astropy(fits, tmp_path, dtype):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 250, size=(17, 23)).astype(dtype)
    path = tmp_path / "a.fits"
    astropy_file(fits, path, data, EXPTIME=30.0, FILTER="R", GAIN=100, FLAG=True)
    ours, header = eloy_rs.read(path)
    theirs = fits.getdata(path)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    astropy_header = fits.getheader(path)
    for key in ("EXPTIME", "FILTER", "GAIN", "FLAG", "BITPIX", "NAXIS1", "NAXIS2"):
        assert header[key] == astropy_header[key], key
        assert type(header[key]) is type(astropy_header[key]), key
    assert eloy_rs.read_header(path) == header


def test_read_blank_and_scaled_integers(fits, tmp_path):
    data = np.array([[1, 2], [-32768, 4]], dtype=np.int16)
    hdu = fits.PrimaryHDU(data=data)
    hdu.header["BLANK"] = -32768
    hdu.header["BSCALE"] = 2.0
    hdu.header["BZERO"] = 10.0
    path = tmp_path / "blank.fits"
    hdu.writeto(path)
    ours, _ = eloy_rs.read(path)
    theirs = fits.getdata(path)  # astropy: scaled, BLANK as NaN
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    assert np.isnan(ours[1, 0])


def test_header_commentary_and_long_strings(fits, tmp_path):
    header = fits.Header()
    header["OBJECT"] = "x" * 100  # CONTINUE cards
    header["HISTORY"] = "first"
    header["HISTORY"] = "second"
    header["COMMENT"] = "a comment"
    header["HIERARCH ESO DET GAIN"] = 1.5
    path = tmp_path / "h.fits"
    fits.PrimaryHDU(data=np.zeros((2, 2), np.float32), header=header).writeto(path)
    ours = eloy_rs.read_header(path)
    assert ours["OBJECT"] == "x" * 100
    assert ours["HISTORY"] == ["first", "second"]
    assert ours["COMMENT"] == ["a comment"]
    assert ours["ESO DET GAIN"] == 1.5


@pytest.mark.parametrize("dtype", [None, "float32", "float64", "uint16", np.float64])
def test_write_is_read_back_by_astropy(fits, tmp_path, dtype):
    rng = np.random.default_rng(6)
    data = rng.normal(1000, 50, (13, 21))
    header = {
        "EXPTIME": 30.0,
        "IMAGETYP": "Light Frame",
        "NCOMBINE": 16,
        "FLAG": False,
        "HISTORY": ["one", "two"],
        "NAXIS1": 999,  # structural: written anew
    }
    path = tmp_path / "w.fits"
    eloy_rs.write(path, data.astype(">f8"), header, dtype=dtype)
    assert ones_complement_sum(path.read_bytes()) == 0xFFFFFFFF
    with fits.open(path) as hdul:
        theirs = hdul[0].data
        h = hdul[0].header
        name = np.dtype(dtype or "float32").name
        expected = {
            "float32": data.astype(np.float32),
            "float64": data,
            "uint16": np.clip(np.round(data), 0, 65535).astype(np.uint16),
        }[name]
        np.testing.assert_array_equal(theirs, expected)
        assert theirs.dtype.name == name
        assert h["EXPTIME"] == 30.0 and h["IMAGETYP"] == "Light Frame"
        assert h["NCOMBINE"] == 16 and h["FLAG"] is False
        assert list(h["HISTORY"]) == ["one", "two"]
        assert h["NAXIS1"] == 21
        assert "CHECKSUM" in h


def ones_complement_sum(data: bytes) -> int:
    """The 32-bit ones' complement sum of a FITS file (the checksum convention: a file whose
    CHECKSUM is right sums to -0, 0xFFFFFFFF)."""
    words = np.frombuffer(data, dtype=">u4").astype(np.uint64)
    hi, lo = int((words >> 16).sum()), int((words & 0xFFFF).sum())
    while hi >> 16 or lo >> 16:
        hi, lo = (hi & 0xFFFF) + (lo >> 16), (lo & 0xFFFF) + (hi >> 16)
    return (hi << 16) | lo


def test_astropy_verifies_the_checksum(fits, tmp_path):
    path = tmp_path / "c.fits"
    eloy_rs.write(path, np.ones((3, 4)), {"EXPTIME": 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits.open(path, checksum=True).close()


def test_write_takes_an_astropy_header(fits, tmp_path):
    src = tmp_path / "src.fits"
    astropy_file(fits, src, np.ones((3, 4), np.uint16), EXPTIME=8.0, DATE_OBS="2016-01-05T20:00:00")
    header = fits.getheader(src)
    header["HISTORY"] = "calibrated"
    out = tmp_path / "out.fits"
    eloy_rs.write(out, np.full((3, 4), 2.5), header)
    h = fits.getheader(out)
    assert h["EXPTIME"] == 8.0 and h["DATE-OBS"] == "2016-01-05T20:00:00"
    assert list(h["HISTORY"]) == ["calibrated"]
    assert h["BITPIX"] == -32


def test_write_refuses_to_overwrite(tmp_path):
    path = tmp_path / "x.fits"
    eloy_rs.write(path, np.zeros((2, 2)))
    with pytest.raises(FileExistsError):
        eloy_rs.write(path, np.ones((2, 2)))
    eloy_rs.write(path, np.ones((2, 2)), overwrite=True)
    assert eloy_rs.read(path)[0][0, 0] == 1.0


def test_write_rejects_other_dtypes_and_shapes(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        eloy_rs.write(tmp_path / "x.fits", np.zeros((2, 2)), dtype="int8")
    with pytest.raises(ValueError, match="2-d"):
        eloy_rs.write(tmp_path / "x.fits", np.zeros(4))


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        eloy_rs.read(tmp_path / "missing.fits")
    bad = tmp_path / "bad.fits"
    bad.write_text("not a fits file")
    with pytest.raises(OSError, match="bad.fits"):
        eloy_rs.read(bad)


def zscale_images():
    rng = np.random.default_rng(7)
    sky = rng.normal(100, 5, (120, 170)).astype(np.float32)
    sky[60, 80] = 50000.0
    sky[0, :10] = np.nan
    ramp = np.add.outer(np.arange(50.0), np.arange(70.0)).astype(np.float32)
    return {"sky": sky, "ramp": ramp, "u16": rng.integers(900, 1100, (64, 64)).astype(">u2")}


@pytest.mark.parametrize("name", ["sky", "ramp", "u16"])
@pytest.mark.parametrize("contrast", [0.25, 0.05])
def test_zscale_limits_match_astropy(name, contrast):
    visualization = require("astropy.visualization")
    data = zscale_images()[name]
    ours = eloy_rs.zscale_limits(data, contrast)
    theirs = visualization.ZScaleInterval(contrast=contrast).get_limits(data)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_z_scale_matches_astropy_and_keeps_the_shape():
    visualization = require("astropy.visualization")
    data = zscale_images()["sky"]
    ours = eloy_rs.viz.z_scale(data)
    theirs = visualization.ZScaleInterval(contrast=0.05)(data)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    cube = np.stack([data, data])
    assert eloy_rs.viz.z_scale(cube).shape == cube.shape
