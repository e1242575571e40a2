"""A night's reduction from Python: ``eloy calibrate`` as a function.

:func:`calibrate_night` plans the night with eloy's planner (:func:`eloy_rs.plan`, the
command's ``--dry-run``) and runs the plan with eloy's engine, on this machine or, given
a ``dask.distributed`` client, on a cluster (:mod:`eloy_rs.dask`). Both run the same
engine as the command: the same masters, the same outputs bit for bit, the same resumable
atomic writes, the same failures reported per file.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Callable, Optional, Union

from eloy_rs._eloy_rs import Plan, lock_folder, plan, run_plan

__all__ = ["NightReport", "calibrate_night", "plan", "sweep_temporaries"]

_Path = Union[str, PathLike]


@dataclass
class NightReport:
    """What :func:`calibrate_night` did: the command's closing summary as data.

    Attributes
    ----------
    out : str
        The output folder (masters in ``out/masters/``, lights in ``out/<night>/``).
    plan : Plan
        The plan that was run.
    written, skipped : list of str
        Lights calibrated in this run; lights whose output was already complete.
    failed : list of (str, str)
        Lights that could not be calibrated, with why (the plan's failures included).
    cancelled : list of str
        Lights not done because the run was interrupted.
    built, reused : list of str
        Masters built in this run; masters found saved from the same frames.
    failed_masters : dict of str to str
        Masters that could not be made, with why.
    unreadable : list of dict
        Files of the folder that could not be read (``path``, ``error``).
    swept : int
        Temporary files of an interrupted earlier run that were removed.
    seconds : float
        Wall time of the run, planning included.
    lights_seconds : float
        Time spent calibrating lights (after the first masters).
    """

    out: str
    plan: Plan
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)
    built: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    failed_masters: dict = field(default_factory=dict)
    unreadable: list = field(default_factory=list)
    swept: int = 0
    seconds: float = 0.0
    lights_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every light was calibrated (now or before) and every file read: the
        command's exit status 0."""
        return (
            not self.failed
            and not self.cancelled
            and not self.failed_masters
            and not self.unreadable
        )

    @property
    def lights_per_second(self) -> float:
        """Lights written per second of light calibration."""
        return len(self.written) / self.lights_seconds if self.lights_seconds > 0 else 0.0

    def add(self, result: dict) -> None:
        """Adds a run's (or a task's) result from :func:`eloy_rs.run_plan`."""
        for light, outcome, error in result["lights"]:
            if outcome == "written":
                self.written.append(light)
            elif outcome == "skipped":
                self.skipped.append(light)
            elif outcome == "cancelled":
                self.cancelled.append(light)
            else:
                self.failed.append((light, error or outcome))
        self.built.extend(result["built"])
        self.reused.extend(result["reused"])
        self.failed_masters.update(result["failed_masters"])
        self.lights_seconds += result["lights_seconds"]

    def __str__(self) -> str:
        text = (
            f"done: {len(self.written)} calibrated, {len(self.skipped)} already done (skipped), "
            f"{len(self.failed)} failed"
        )
        if self.cancelled:
            text += f", {len(self.cancelled)} not done (interrupted)"
        text += f", in {self.seconds:.2f} s; outputs in {self.out}"
        for light, why in self.failed:
            text += f"\n  {light}: {why}"
        for failure in self.unreadable:
            text += f"\n  {failure['path']}: {failure['error']}"
        return text


def _writer_is_alive(name: str) -> bool:
    """Whether the process named in a temporary file's name (``.NAME.eloy-tmp-PID-...``)
    still runs on this machine (where ``/proc`` says; elsewhere, as if not)."""
    pid = name.split(".eloy-tmp-", 1)[1].split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and os.path.isdir(f"/proc/{pid}")


def sweep_temporaries(folders, started: float) -> int:
    """Removes the temporary files a run killed mid-write left in ``folders`` (not their
    subfolders), as ``eloy calibrate`` does when it starts: eloy's FITS temporaries
    (``.NAME.eloy-tmp-PID-...``) whose process is gone and PNG previews' temporaries
    (``.eloy-viz-....png.tmp``), all older than ``started`` (a ``time.time()``).

    Returns
    -------
    int
        How many files were removed.
    """
    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") and ".eloy-tmp-" in name:
                stale = not _writer_is_alive(name)
            else:
                stale = name.startswith(".eloy-viz-") and name.endswith(".png.tmp")
            try:
                if stale and entry.is_file() and entry.stat().st_mtime < started:
                    os.remove(entry.path)
                    removed += 1
            except OSError:
                pass
    return removed


def _progress(progress, total: int):
    """The event callback and the closer of ``progress``: a tqdm bar (True, with tqdm
    installed), one line per master and per 10% of the lights on stderr (True, without
    tqdm), the caller's callable, or nothing."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, desc="calibrating", unit="light")

        def on_event(event: dict) -> None:
            if event["event"] == "light":
                bar.update(1)
                if event["outcome"] == "failed":
                    bar.write(f"{event['light']}: {event['error']}")
            elif event["event"] == "master":
                bar.write(_master_line(event))

        return on_event, bar.close

    state = {"done": 0, "said": 0}

    def on_event(event: dict) -> None:
        if event["event"] == "light":
            state["done"] += 1
            if event["outcome"] == "failed":
                print(f"{event['light']}: {event['error']}", file=sys.stderr)
            tenth = state["done"] * 10 // max(total, 1)
            if tenth > state["said"]:
                state["said"] = tenth
                print(f"calibrating: {state['done']}/{total}", file=sys.stderr)
        elif event["event"] == "master":
            print(_master_line(event), file=sys.stderr)

    return on_event, lambda: None


def _master_line(event: dict) -> str:
    """A master event in words, as the command prints it."""
    what = event["what"]
    if what == "failed":
        return f"  master {event['id']} failed: {event['why']}"
    if what == "built":
        return f"  built {event['path']} from {event['frames']} frames in {event['seconds']:.2f} s"
    if what == "reused":
        return f"  reused {event['path']} ({event['frames']} frames)"
    return f"  {event['kind']} {event['id']} from the library: {event['path']}"


def calibrate_night(
    path: _Path,
    out: _Path,
    *,
    masters: Optional[_Path] = None,
    progress: Union[bool, Callable[[dict], Any]] = True,
    client: Any = None,
    overwrite: bool = False,
    float64: bool = False,
    sync: bool = True,
    compress: Optional[str] = None,
    quantize: float = 4.0,
    preview: bool = True,
    threads: Optional[int] = None,
    lights_per_task: Optional[int] = None,
    **options: Any,
) -> NightReport:
    """Calibrate a folder of raw frames: ``eloy calibrate PATH --out OUT`` from Python.

    Scans ``path``, plans the night (:func:`eloy_rs.plan`: which masters, which steps for
    each light, and why), builds the masters into ``out/masters/`` (or reuses those saved
    from the same frames, or takes them from the ``masters`` library) with a PNG preview
    each, and calibrates every light into ``out/<night>/<light>.fits``, in parallel.
    Outputs are written atomically: a rerun after an interruption (Ctrl-C, a crash, a
    worker killed) skips complete outputs and does the rest.

    With ``client`` (a ``dask.distributed.Client``) the same reduction runs on the
    cluster: one task per master, then one task per few lights (``lights_per_task``),
    each bounded to ``threads`` threads. Every worker must see ``path`` and ``out`` at the
    same paths (a shared filesystem) and have ``eloy_rs`` installed.

    Parameters
    ----------
    path : str or os.PathLike
        The folder of raw frames.
    out : str or os.PathLike
        The output folder (created).
    masters : str, os.PathLike or None
        A library of master frames for nights that lack frames of a kind.
    progress : bool or callable
        True: a tqdm bar when tqdm is installed, else a line per master and per tenth of
        the lights on stderr; a callable: called with a dict per event (``event`` =
        ``"group"``, ``"master"``, ``"light"``); False: quiet.
    client : dask.distributed.Client or None
        Run on this cluster instead of this machine.
    overwrite, float64, sync, preview
        As the command's ``--overwrite``, ``--float64``, ``--sync none`` (sync=False; by
        default every output is on disk when the call returns, ``--sync end``) and
        ``--no-preview`` (preview=False).
    compress, quantize
        ``compress="rice"``: the command's ``--compress rice --quantize Q``: every light
        tile-compressed as ``out/<night>/<light>.fits.fz`` (fpack's Rice coding of rows
        quantised with a step of the noise / ``quantize``, subtractive dithering;
        invalid pixels NaN, as quantisation does not keep -1; masters stay float32).
        About 6x smaller than float32 for an added error of 0.07 sigma of the noise
        (``quantize=4``, the default). Default None: float32 outputs.
    threads : int or None
        Threads per run (default: every core) or, with a client, per task (default: the
        cores of the worker's machine divided among its task slots, so that tasks do not
        oversubscribe them).
    lights_per_task : int or None
        With a client: lights per task (default: enough tasks for 4 per worker thread, at
        most 32 lights each).
    **options
        The planner's options (:func:`eloy_rs.plan`): ``night_of``, ``longitude``,
        ``utc_offset``, ``method``, ``sigma_clip``, ``sigma_rounds``, ``sigma_center``,
        ``minmax``, ``memory``,
        ``flat_mean_propagates_nan``, ``exposure_key``, ``invalid``, the matching
        tolerances; the CCD options (``overscan``..., ``trim``, ``biassec``, ``trimsec``,
        ``flat_normalization``, ``flat_region``, ``flat_minimum``, ``saturation``,
        ``gain``); the sensor options: ``cosmetic`` (``"replace"`` or ``"mask"`` the
        lights' hot, cold and dead pixels, with ``hot_sigma``, ``cold_sigma``,
        ``dead_pixels``, ``cosmetic_list``), ``pedestal`` (ADU added to every light,
        recorded as ``PEDESTAL``), ``bias_level`` (a constant bias for nights without bias
        frames: ``2048`` or ``"OFFSET*64"``), ``dark_scale`` (``"exposure"``, ``"none"``
        or ``"optimize"``, Siril's ``-opt``) and ``equalize_cfa`` (colour master flats
        grey).

    Returns
    -------
    NightReport
        What was written, skipped, failed, and the masters.

    Raises
    ------
    OSError
        ``path`` cannot be read, ``out`` cannot be created.
    ValueError
        An option's value is refused (:func:`eloy_rs.plan`); nothing is written then.
    KeyboardInterrupt
        Ctrl-C (without a client): lights in flight finish, nothing partial is left.
    """
    if compress not in (None, "rice"):
        raise ValueError(f"compress={compress!r}: takes None or 'rice'")
    started = time.perf_counter()
    started_at = time.time()
    # Absolute paths: tasks on other machines (and the outputs' HISTORY cards) name the
    # same files whatever their working folder.
    path = os.path.abspath(os.fspath(path))
    out = os.path.abspath(os.fspath(out))
    if masters is not None:
        masters = os.path.abspath(os.fspath(masters))
    night_plan = plan(path, out, masters=masters, **options)
    os.makedirs(out, exist_ok=True)
    # As the command: one run at a time in a folder (BlockingIOError names the holder).
    folder_lock = lock_folder(out)
    report = NightReport(out=out, plan=night_plan)
    report.failed.extend((f["frame"], f["why"]) for f in night_plan.failures)
    report.unreadable.extend(night_plan.unreadable)
    folders = {os.path.join(out, "masters")}
    folders.update(os.path.dirname(os.path.join(out, r["output"])) for r in night_plan.recipes)
    report.swept = sweep_temporaries(sorted(folders), started_at)
    on_event, close = _progress(progress, len(night_plan))
    try:
        if client is None:
            result = run_plan(
                night_plan,
                out,
                overwrite=overwrite,
                float64=float64,
                sync=sync,
                compress=compress,
                quantize=quantize,
                preview=preview,
                threads=threads,
                on_event=on_event,
            )
            report.add(result)
        else:
            from eloy_rs import dask as eloy_dask

            eloy_dask.run(
                client,
                night_plan,
                out,
                report,
                on_event=on_event,
                overwrite=overwrite,
                float64=float64,
                sync=sync,
                compress=compress,
                quantize=quantize,
                preview=preview,
                threads=threads,
                lights_per_task=lights_per_task,
            )
    finally:
        close()
        folder_lock.release()
    report.seconds = time.perf_counter() - started
    return report
