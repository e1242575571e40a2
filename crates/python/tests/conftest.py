"""Shared helpers of eloy_rs's tests.

Tests that need an optional package (astropy, dateutil, tqdm, matplotlib) skip when it is
missing, saying so, unless ``ELOY_RS_REQUIRE_TEST_DEPS=1`` (CI sets it), where a missing
package fails the test instead: CI never skips silently.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FIXTURES = HERE / "fixtures"


def require(module: str):
    """Imports ``module``, or skips the test (fails it under ELOY_RS_REQUIRE_TEST_DEPS=1)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("ELOY_RS_REQUIRE_TEST_DEPS") == "1":
            pytest.fail(f"{module} is required (ELOY_RS_REQUIRE_TEST_DEPS=1): {e}")
        pytest.skip(f"{module} is not installed (pip install 'eloy-rs[test]')")


@pytest.fixture
def night(tmp_path):
    """The small night of night.py written under tmp_path/photometry_raw_data (needs
    astropy to write it). Returns (folder holding photometry_raw_data, paths per kind)."""
    require("astropy")
    import night as night_module

    paths = night_module.write(tmp_path / "photometry_raw_data")
    return tmp_path, paths


def max_relative_difference(ours, reference) -> float:
    """Largest |ours - reference| / max(|reference|, 1) over finite pixels (the same
    measure as eloy-calib's parity test); asserts the same shape and the same non-finite
    pixels."""
    import numpy as np

    ours = np.asarray(ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape
    finite = np.isfinite(reference)
    assert np.array_equal(np.isfinite(ours), finite), "non-finite pixels differ"
    if not finite.any():
        return 0.0
    diff = np.abs(ours[finite] - reference[finite]) / np.maximum(np.abs(reference[finite]), 1.0)
    return float(diff.max())


def eloy_cli() -> str:
    """The ``eloy`` command to compare with: ``ELOY_CLI``, else the newest of the checkout's
    ``target/release/eloy`` and ``target/debug/eloy`` (an older one may predate the
    sources), else ``eloy`` on PATH. Skips (fails under ELOY_RS_REQUIRE_TEST_DEPS=1) when
    there is none."""
    import shutil

    root = HERE.parent.parent.parent
    built = [root / "target" / p / "eloy" for p in ("release", "debug")]
    built = sorted(
        (p for p in built if p.is_file() and os.access(p, os.X_OK)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    candidates = [os.environ.get("ELOY_CLI"), *map(str, built), shutil.which("eloy")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    message = "the eloy command is needed (cargo build -p eloy-cli, or ELOY_CLI=path)"
    if os.environ.get("ELOY_RS_REQUIRE_TEST_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def synth(cli: str, folder: Path, lights: int, rows: int = 96, cols: int = 128) -> Path:
    """A synthetic night written by ``eloy synth`` (bias, darks, flats, lights)."""
    import subprocess

    subprocess.run(
        [cli, "synth", str(folder), "--rows", str(rows), "--cols", str(cols),
         "--calibration", "5", "--lights", str(lights)],
        check=True, capture_output=True,
    )
    return folder


def cli_calibrate(cli: str, raw: Path, out: Path, *options: str) -> None:
    """``eloy calibrate RAW --out OUT OPTIONS...``, which must succeed."""
    import subprocess

    done = subprocess.run(
        [cli, "calibrate", str(raw), "--out", str(out), *options], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def files(folder: Path) -> dict:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def same_outputs(ours: Path, theirs: Path) -> None:
    """The two output folders hold the same files, byte for byte (FITS and PNG)."""
    a, b = files(ours), files(theirs)
    assert sorted(a) == sorted(b)
    different = [name for name in a if a[name] != b[name]]
    assert different == [], different


@pytest.fixture
def cli():
    """The eloy command (:func:`eloy_cli`)."""
    return eloy_cli()


@pytest.fixture
def cluster():
    """A client of a local Dask cluster: two worker processes of one thread each."""
    require("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as local, Client(local) as client:
        yield client
