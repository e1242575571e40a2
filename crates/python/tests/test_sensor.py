"""The sensor options of ``eloy_rs.plan`` and ``eloy_rs.calibrate_night`` (cosmetic
correction, pedestal, synthetic bias level, dark scaling, CFA equalization): the same plan
as the command's for the same options, the pedestal's effect on the outputs, the refused
values as clear Python exceptions, and runs (here and on Dask) equal to the command's."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
from conftest import cli_calibrate, same_outputs, synth

import eloy_rs

PEDESTAL = 100.0


def outputs(report: eloy_rs.NightReport) -> list:
    """The output files of a run's lights, in the plan's order."""
    return [f"{report.out}/{r['output']}" for r in report.plan.recipes]


def test_pedestal_adds_to_every_valid_pixel(night, tmp_path):
    root, _ = night
    raw = root / "photometry_raw_data"
    plain = eloy_rs.calibrate_night(raw, tmp_path / "plain", progress=False)
    raised = eloy_rs.calibrate_night(raw, tmp_path / "pedestal", progress=False, pedestal=PEDESTAL)
    assert plain.ok and raised.ok
    assert len(plain.written) == 3 and len(raised.written) == 3
    for a_path, b_path in zip(outputs(plain), outputs(raised)):
        a, a_header = eloy_rs.read(a_path)
        b, b_header = eloy_rs.read(b_path)
        # Valid pixels of the plain run (eloy's rule makes invalid ones -1): raised by the
        # pedestal. The engine adds it before the one rounding to float32, so each output
        # is within a float32 step of the plain one plus 100 (half a step from each
        # rounding): 12% of the pixels differ by one step (6.1e-5 at 600 ADU).
        valid = a != -1
        assert valid.mean() > 0.99
        expected = a[valid].astype(np.float64) + PEDESTAL
        step = np.maximum(np.spacing(np.abs(a[valid])), np.spacing(np.abs(b[valid])))
        off = np.abs(b[valid].astype(np.float64) - expected)
        assert (off <= step).all(), off.max()
        # A pixel invalid for another reason than its level stays invalid (-1, not 99):
        # the flat's dead pixel (flat 0).
        assert a[20, 30] == -1 and b[20, 30] == -1
        assert "PEDESTAL" not in a_header
        assert b_header["PEDESTAL"] == PEDESTAL


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"pedestal": math.nan}, ValueError, "pedestal NaN: not a finite number of ADU"),
        ({"pedestal": "100"}, TypeError, "pedestal"),
        ({"cosmetic": "fix"}, ValueError, 'cosmetic "fix": .*"replace".*"mask"'),
        ({"cosmetic": 3}, ValueError, "cosmetic: None or False"),
        ({"cosmetic": True, "hot_sigma": 0.0}, ValueError, "hot_sigma 0: not a positive"),
        ({"cosmetic": True, "cold_sigma": -2.0}, ValueError, "cold_sigma -2: not a positive"),
        ({"cosmetic_list": "bad.lst"}, ValueError, "cosmetic_list needs cosmetic"),
        ({"cosmetic": "mask", "cosmetic_list": "/no/such/bad.lst"}, FileNotFoundError,
         "cosmetic_list /no/such/bad.lst: No such file"),
        ({"bias_level": "64*"}, ValueError, 'bias_level "64\\*": .*OFFSET\\*64'),
        ({"bias_level": True}, ValueError, "bias_level: None, a number of ADU"),
        ({"bias_level": math.inf}, ValueError, "bias_level: None, a number of ADU"),
        ({"dark_scale": "linear"}, ValueError,
         'dark_scale "linear": "exposure" .*, "none" or "optimize"'),
        ({"equalize_cfa": "yes"}, TypeError, "equalize_cfa"),
    ],
)
def test_refused_values_raise_a_clear_exception(tmp_path, options, error, message):
    (tmp_path / "raw").mkdir()
    with pytest.raises(error, match=message):
        eloy_rs.plan(tmp_path / "raw", **options)
    # calibrate_night refuses them before it writes anything.
    with pytest.raises(error, match=message):
        eloy_rs.calibrate_night(tmp_path / "raw", tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out").exists()


# eloy_rs.plan's keyword arguments, and the command's options that must give the same plan.
SAME_PLANS = {
    "cosmetic_mask": (
        {"cosmetic": "mask", "hot_sigma": 4.0, "cold_sigma": 5.0, "dead_pixels": False,
         "pedestal": PEDESTAL},
        ["--cosmetic", "mask", "--hot-sigma", "4", "--cold-sigma", "5", "--no-dead-pixels",
         "--pedestal", "100"],
    ),
    "cosmetic_list": (
        {"cosmetic": True, "cosmetic_list": "LIST"},
        ["--cosmetic", "replace", "--cosmetic-list", "LIST"],
    ),
    "dark_scale_none": (
        {"dark_scale": "none", "equalize_cfa": True},
        ["--dark-scale", "none", "--equalize-cfa"],
    ),
    "dark_scale_optimize": ({"dark_scale": "optimize"}, ["--dark-scale", "optimize"]),
    "bias_level_number": ({"bias_level": 2048}, ["--bias-level", "2048"]),
    "bias_level_keyword": ({"bias_level": "=64*$OFFSET"}, ["--bias-level", "=64*$OFFSET"]),
}


@pytest.mark.parametrize("case", sorted(SAME_PLANS))
def test_sensor_options_plan_as_the_command(cli, tmp_path, case):
    options, arguments = SAME_PLANS[case]
    raw = synth(cli, tmp_path / "raw", lights=2)
    if case.startswith("bias_level"):
        shutil.rmtree(raw / "Bias")  # a synthetic level stands in for bias frames
    listed = tmp_path / "bad.lst"
    listed.write_text("P 3 4 H\n")
    options = {k: (str(listed) if v == "LIST" else v) for k, v in options.items()}
    arguments = [str(listed) if a == "LIST" else a for a in arguments]
    ours = eloy_rs.plan(raw, tmp_path / "out", **options)
    done = subprocess.run(
        [cli, "calibrate", str(raw), "--out", str(tmp_path / "out"), "--dry-run", "--json",
         *arguments],
        capture_output=True, text=True, check=True,
    )
    assert eloy_rs.Plan.from_json(done.stdout).to_json() == ours.to_json()
    # The option is in the plan (not silently dropped by both).
    assert ours.to_json() != eloy_rs.plan(raw, tmp_path / "out").to_json()


def test_cosmetic_and_pedestal_equal_the_command_bit_for_bit(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=3)
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out, "--cosmetic", "--pedestal", "100")
    out.rename(tmp_path / "out-cli")
    report = eloy_rs.calibrate_night(raw, out, progress=False, cosmetic=True, pedestal=PEDESTAL)
    assert report.ok and len(report.written) == 3
    same_outputs(out, tmp_path / "out-cli")
    _, header = eloy_rs.read(outputs(report)[0])
    assert header["PEDESTAL"] == PEDESTAL
    assert "COSMETIC" in header


def test_dark_optimisation_equals_the_command_bit_for_bit(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=2)
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out, "--dark-scale", "optimize")
    out.rename(tmp_path / "out-cli")
    report = eloy_rs.calibrate_night(raw, out, progress=False, dark_scale="optimize")
    assert report.ok and len(report.written) == 2
    same_outputs(out, tmp_path / "out-cli")
    _, header = eloy_rs.read(outputs(report)[0])
    assert 0.0 <= header["DARKOPT"] <= 2.0


def test_dask_with_a_synthetic_bias_equals_the_command(cli, cluster, tmp_path):
    # No bias frames: a constant bias level, a master no file holds, which every task of
    # lights must make itself.
    raw = synth(cli, tmp_path / "raw", lights=4)
    shutil.rmtree(raw / "Bias")
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out, "--bias-level", "1000", "--cosmetic", "--pedestal", "100")
    out.rename(tmp_path / "out-cli")
    plan = eloy_rs.plan(raw, out, bias_level=1000.0)
    assert any(m["source"]["from"] == "constant" for m in plan.masters)
    report = eloy_rs.calibrate_night(
        raw, out, client=cluster, progress=False, lights_per_task=2,
        bias_level=1000.0, cosmetic=True, pedestal=PEDESTAL,
    )
    assert report.ok, report
    assert len(report.written) == 4
    same_outputs(out, tmp_path / "out-cli")
