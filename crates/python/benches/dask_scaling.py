#!/usr/bin/env python3
"""Lights per second of calibrate_night against the number of Dask workers, and the
overhead of a Dask task per light.

Writes a synthetic night with ``eloy synth`` (tutorial-sized frames by default), then
times, with a warm page cache, each run into a fresh output folder:

- ``local``: ``calibrate_night(raw, out, threads=CORES)`` (eloy's engine on this machine,
  as the command runs it);
- ``dask W``: the same on a ``LocalCluster(n_workers=W, threads_per_worker=1,
  processes=True)``, W = 1, 2, ... up to the cores (``--workers``), eloy threads per task =
  cores // W (the default of calibrate_night), lights per task as calibrate_night chooses;
- ``dask 1, 1 light/task``: one worker, one light per task: the task overhead per light is
  ``(its light time - local's light time) / lights``.

Each is run ``--repeat`` times; the median is printed as a Markdown table (lights/s is
lights written / light time: wall time after the masters). Outputs are written without
fsync and without PNG previews (``--sync`` to fsync), so that the table shows the
computation and Dask's overhead rather than the disk.

    python crates/python/benches/dask_scaling.py --eloy target/release/eloy [--lights 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import eloy_rs


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def timed(raw: Path, out: Path, repeat: int, **kwargs) -> tuple[float, float, int]:
    """Median (wall seconds, light seconds) of ``repeat`` runs into a fresh ``out``, and
    the lights written."""
    walls, lights = [], []
    written = 0
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        report = eloy_rs.calibrate_night(raw, out, progress=False, **kwargs)
        walls.append(time.perf_counter() - started)
        lights.append(report.lights_seconds)
        assert report.ok, report
        written = len(report.written)
    return statistics.median(walls), statistics.median(lights), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eloy", default="eloy", help="the eloy command (for eloy synth)")
    parser.add_argument("--lights", type=int, default=64)
    parser.add_argument("--rows", type=int, default=1020)
    parser.add_argument("--cols", type=int, default=1530)
    parser.add_argument("--workers", type=int, nargs="*", default=None,
                        help="worker counts (default 1, 2, 4... up to the cores)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sync", action="store_true", help="fsync every output")
    parser.add_argument("--keep", type=Path, help="work folder to use and keep")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    work = args.keep or Path(tempfile.mkdtemp(prefix="eloy-dask-bench-"))
    raw = work / "raw"
    if not raw.exists():
        subprocess.run(
            [args.eloy, "synth", str(raw), "--rows", str(args.rows), "--cols", str(args.cols),
             "--lights", str(args.lights)],
            check=True, capture_output=True,
        )
    for path in raw.rglob("*.fits"):  # warm the page cache
        path.read_bytes()
    n = cores()
    workers = args.workers or [w for w in (1, 2, 4, 8, 16, 32, 64) if w <= n]
    common = {"sync": args.sync, "preview": False}
    rows = []

    wall, light, written = timed(raw, work / "out", args.repeat, threads=n, **common)
    local_light = light
    rows.append(("local", f"{n} threads", wall, light, written))
    for w in workers:
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            wall, light, written = timed(raw, work / "out", args.repeat, client=client, **common)
            rows.append((f"dask {w}", f"{max(1, n // w)} per task", wall, light, written))
            if w == 1:
                wall1, light1, written1 = timed(raw, work / "out", args.repeat, client=client,
                                                lights_per_task=1, **common)
                rows.append(("dask 1, 1 light/task", f"{n} per task", wall1, light1, written1))
                overhead = (light1 - local_light) / max(written1, 1)

    print(f"night: {args.lights} lights of {args.rows}x{args.cols}, {n} cores, "
          f"median of {args.repeat}, {'fsync' if args.sync else 'no fsync'}, no previews")
    print()
    print("| run | eloy threads | total (s) | lights (s) | lights/s | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    base = rows[1][3] if len(rows) > 1 else rows[0][3]
    for name, threads, wall, light, written in rows:
        rate = written / light if light > 0 else float("nan")
        speedup = base / light if light > 0 and name.startswith("dask") else float("nan")
        speed = f"{speedup:.2f}x" if speedup == speedup else ""
        print(f"| {name} | {threads} | {wall:.2f} | {light:.2f} | {rate:.0f} | {speed} |")
    print()
    print(f"task overhead per light (1 light per task, 1 worker, vs local): "
          f"{overhead * 1e3:.1f} ms")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
