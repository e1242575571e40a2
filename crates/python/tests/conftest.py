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
    """The ``eloy`` command to compare with: ``ELOY_CLI``, else ``eloy`` on PATH, else the
    checkout's ``target/release/eloy`` or ``target/debug/eloy``. Skips (fails under
    ELOY_RS_REQUIRE_TEST_DEPS=1) when there is none."""
    import shutil

    candidates = [os.environ.get("ELOY_CLI"), shutil.which("eloy")]
    root = HERE.parent.parent.parent
    candidates += [str(root / "target" / p / "eloy") for p in ("release", "debug")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    message = "the eloy command is needed (cargo build -p eloy-cli, or ELOY_CLI=path)"
    if os.environ.get("ELOY_RS_REQUIRE_TEST_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)
