"""calibrate_night, here and on a Dask cluster, against the eloy command's outputs, bit for
bit; a worker killed mid-run; Ctrl-C-free resumption."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from conftest import cli_calibrate, same_outputs, synth

import eloy_rs


def test_plan_is_the_commands(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=3)
    plan = eloy_rs.plan(raw)
    done = subprocess.run(
        [cli, "calibrate", str(raw), "--out", str(tmp_path / "out"), "--dry-run", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert eloy_rs.Plan.from_json(done.stdout).to_json() == plan.to_json()
    assert [f for _, f in plan.formulas()] == ["(raw - (dark * 60 s + bias)) / flat"] * 3
    assert len(plan.built_masters()) == 3
    assert not (tmp_path / "out").exists()  # planning writes nothing


def test_ccdproc_sigma_clipping_is_the_commands(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=1)
    clip = ["--sigma-clip", "3", "--sigma-rounds", "1", "--sigma-center", "mean"]
    plan = eloy_rs.plan(raw, sigma_clip=3, sigma_rounds=1, sigma_center="mean")
    done = subprocess.run(
        [cli, "calibrate", str(raw), "--out", str(tmp_path / "out"), "--dry-run", "--json", *clip],
        capture_output=True, text=True, check=True,
    )
    assert eloy_rs.Plan.from_json(done.stdout).to_json() == plan.to_json()
    assert plan.to_json() != eloy_rs.plan(raw, sigma_clip=3).to_json()
    with pytest.raises(ValueError, match="sigma_center"):
        eloy_rs.plan(raw, sigma_clip=3, sigma_center="mode")


def test_calibrate_night_equals_the_command_bit_for_bit(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=6)
    out = tmp_path / "out"
    # The command first, into the same path (its HISTORY cards name the masters' paths),
    # then moved aside.
    cli_calibrate(cli, raw, out)
    out.rename(tmp_path / "out-cli")
    events = []
    report = eloy_rs.calibrate_night(raw, out, progress=events.append)
    assert report.ok and len(report.written) == 6 and len(report.built) == 3
    assert sum(e["event"] == "light" for e in events) == 6
    same_outputs(out, tmp_path / "out-cli")
    # A rerun does nothing again.
    again = eloy_rs.calibrate_night(raw, out, progress=False)
    assert again.ok and len(again.skipped) == 6 and again.written == []
    assert len(again.reused) == 3


def test_calibrate_night_compresses_as_the_command(cli, tmp_path):
    import numpy as np

    raw = synth(cli, tmp_path / "raw", lights=3)
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out, "--compress", "rice", "--quantize", "8", "--no-preview")
    out.rename(tmp_path / "out-cli")
    report = eloy_rs.calibrate_night(
        raw, out, progress=False, compress="rice", quantize=8, preview=False
    )
    assert report.ok and len(report.written) == 3
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.fits*"))
    assert names == sorted(
        str(p.relative_to(tmp_path / "out-cli")) for p in (tmp_path / "out-cli").rglob("*.fits*")
    )
    lights = [n for n in names if n.endswith(".fits.fz")]
    assert len(lights) == 3 and not any(n.startswith("masters/") for n in lights)
    for name in lights:
        ours, header = eloy_rs.read(out / name)
        theirs, _ = eloy_rs.read(tmp_path / "out-cli" / name)
        # The same quantised pixels (the files differ only in their checksums' dates).
        np.testing.assert_array_equal(ours, theirs)
        assert header["CALINVAL"] == "nan"
    again = eloy_rs.calibrate_night(raw, out, progress=False, compress="rice", quantize=8)
    assert again.ok and len(again.skipped) == 3
    for bad in (
        {"compress": "gzip"},
        {"compress": "rice", "quantize": 0},
        {"compress": "rice", "float64": True},
    ):
        try:
            eloy_rs.calibrate_night(raw, tmp_path / "refused", progress=False, **bad)
        except ValueError as e:
            assert "compress" in str(e) or "quantize" in str(e)
        else:
            raise AssertionError(f"{bad} was accepted")


def test_failures_are_reported_per_file(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=3)
    (raw / "notes.fits").write_text("not FITS")  # unreadable at the scan
    light = sorted((raw / "ScienceImages").glob("*.fits"))[1]

    def truncate_a_light(event):
        # After the scan and the plan, before the lights: the light is cut short.
        if event["event"] == "master" and light.stat().st_size > 5000:
            light.write_bytes(light.read_bytes()[:5000])

    report = eloy_rs.calibrate_night(raw, tmp_path / "out", progress=truncate_a_light)
    assert len(report.written) == 2
    assert [p for p, _ in report.failed] == [str(light)]
    assert "truncated" in report.failed[0][1]
    assert [f["path"] for f in report.unreadable] == [str(raw / "notes.fits")]
    assert not report.ok
    assert str(light) in str(report)


def test_dask_equals_the_command_and_survives_a_killed_worker(cli, cluster, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=40, rows=256, cols=384)
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out)
    out.rename(tmp_path / "out-cli")

    # Each task's eloy threads are bounded: 2 task slots on this machine's cores.
    shares = eloy_rs.dask.threads_per_task(cluster)
    assert shares == {"127.0.0.1": max(1, len(os.sched_getaffinity(0)) // 2)}

    pids = cluster.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = []

    def kill_one_worker(event):
        # Once the masters are built and a first task of lights is done: a worker dies
        # (SIGKILL, no cleanup), with tasks in flight.
        if event["event"] == "light" and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    first = eloy_rs.calibrate_night(
        raw, out, client=cluster, progress=kill_one_worker, lights_per_task=2
    )
    assert killed
    print(
        f"first run: {len(first.written)} written, {len(first.skipped)} skipped, "
        f"{len(first.failed)} failed; temporaries swept by the rerun follow"
    )
    assert len(first.built) == 3
    # Whatever the first run could not do (Dask reruns lost tasks elsewhere; a task lost
    # too often fails its lights), a rerun finishes.
    second = eloy_rs.calibrate_night(raw, out, client=cluster, progress=False)
    print(f"rerun: {len(second.written)} written, {len(second.skipped)} skipped, swept {second.swept}")
    assert second.ok, second
    assert len(first.written) + len(second.written) >= 40 - len(first.skipped)
    assert len(set(second.written) | set(second.skipped)) == 40
    # Nothing partial: the files are the command's, byte for byte, and no temporary file
    # of the killed worker is left (the rerun swept them).
    same_outputs(out, tmp_path / "out-cli")


def test_dask_tasks_as_delayed(cli, cluster, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=5)
    out = tmp_path / "out"
    cli_calibrate(cli, raw, out)
    out.rename(tmp_path / "out-cli")
    import dask

    plan = eloy_rs.plan(raw, out)
    graph = eloy_rs.dask.tasks(plan, str(out), lights_per_task=2)
    assert len(graph["masters"]) == 3 and len(graph["lights"]) == 3
    # Whoever runs the tasks holds the folder, as calibrate_night and the command do.
    with eloy_rs.lock_folder(out):
        results = dask.compute(*graph["masters"].values(), *graph["lights"])
    report = eloy_rs.NightReport(out=str(out), plan=plan)
    for result in results:
        report.add(result)
    assert report.ok and len(report.written) == 5
    same_outputs(out, tmp_path / "out-cli")


def test_a_locked_folder_is_refused_naming_its_holder(cli, tmp_path):
    raw = synth(cli, tmp_path / "raw", lights=2)
    out = tmp_path / "out"
    with eloy_rs.lock_folder(out):
        try:
            eloy_rs.calibrate_night(raw, out, progress=False)
        except BlockingIOError as e:
            assert str(os.getpid()) in str(e), e
        else:
            raise AssertionError("a second run into a locked folder went on")
    # Released: the run goes on, and leaves the lock file as the command does.
    report = eloy_rs.calibrate_night(raw, out, progress=False)
    assert report.ok
    assert (out / ".eloy.lock").exists()
