"""A night's reduction on a Dask cluster: eloy's plan, cut into tasks.

:func:`eloy_rs.calibrate_night` with ``client=`` calls :func:`run`; :func:`tasks` gives
the same tasks as ``dask.delayed`` objects, to compose into a larger graph (a season of
nights in one ``dask.compute``).

The tasks are eloy's own plan, cut (:meth:`Plan.master_task`, :meth:`Plan.lights_task`):

- one task per master built from frames, after the tasks of the masters its inputs use
  (a dark rate after its bias; a flat after its bias and dark, or its dark flat); it
  builds the master exactly as ``eloy calibrate`` would and saves it to
  ``out/masters/<id>.fits``, or reuses it when saved from the same frames;
- then one task per few lights of one group, after the tasks of the masters they use; it
  loads those masters from ``out/masters/`` and calibrates its lights with eloy's engine.

Everything is written atomically and complete outputs are skipped, so a task that runs
twice (a worker lost, Dask running it again elsewhere) or a rerun of the whole night does
no harm and finishes the work. Each task runs eloy on a bounded number of threads, so that
the tasks of a machine do not oversubscribe its cores.

Requirements: every worker sees the raw frames and the output folder at the same paths
(a shared filesystem: NFS, Lustre, GPFS, CephFS...) and has ``eloy_rs`` installed.
"""

from __future__ import annotations

import os
import urllib.parse
from collections import defaultdict
from typing import Any, Callable, Optional

from eloy_rs._eloy_rs import Plan, run_lights, run_plan

__all__ = ["run", "tasks", "threads_per_task"]


def _cores() -> int:
    """Cores this process may use (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_task(client) -> dict:
    """Threads each task may use on each host so that the cluster's task slots do not
    oversubscribe cores: ``{host: max(1, cores of the host // task slots on the host)}``,
    where a host's task slots are the threads of all its workers.

    Parameters
    ----------
    client : dask.distributed.Client

    Returns
    -------
    dict of str to int
    """
    workers = client.scheduler_info()["workers"]
    cores = client.run(_cores)
    slots: dict = defaultdict(int)
    host_cores: dict = {}
    for address, info in workers.items():
        host = urllib.parse.urlparse(address).hostname or address
        slots[host] += int(info.get("nthreads", 1))
        host_cores[host] = max(host_cores.get(host, 1), int(cores.get(address, 1)))
    return {host: max(1, host_cores[host] // slots[host]) for host in slots}


def _task_threads(options: dict) -> Optional[int]:
    """The threads of this task: the caller's number, else this worker's host's share."""
    if options.get("threads"):
        return int(options["threads"])
    shares = options.get("shares") or {}
    try:
        from distributed import get_worker

        host = urllib.parse.urlparse(get_worker().address).hostname
    except (ImportError, ValueError):
        return 1
    return shares.get(host, 1)


def _run_options(options: dict) -> dict:
    """The options of :func:`eloy_rs.run_plan` among a task's options."""
    return {
        key: options[key]
        for key in ("overwrite", "float64", "sync", "compress", "quantize", "preview")
        if key in options
    }


def master_task(plan_json: str, out: str, options: dict, after: list) -> dict:
    """A Dask task: builds (or reuses) the one master of ``plan_json``'s sub-plan into
    ``out/masters/``. ``after``: the results of the tasks it waits for (unused)."""
    return run_plan(
        Plan.from_json(plan_json),
        out,
        masters_only=True,
        threads=_task_threads(options),
        **_run_options(options),
    )


def lights_task(plan_json: str, out: str, options: dict, after: list) -> dict:
    """A Dask task: calibrates the lights of ``plan_json``'s sub-plan into ``out`` with
    eloy's batch (:func:`eloy_rs.run_lights`), their masters loaded from ``out/masters/``
    and kept in the worker's memory for its next tasks. ``after``: the results of the
    master tasks (unused: a missing master fails the lights, naming it)."""
    opts = _run_options(options)
    opts.pop("preview", None)
    return run_lights(
        Plan.from_json(plan_json),
        out,
        threads=_task_threads(options),
        **opts,
    )


def _cut(plan: Plan, lights_per_task: int):
    """The lights of each group in chunks: ``[(group, [recipe indices]), ...]``. Lights of
    a group whose outputs would collide (the same file name in two folders) stay in one
    chunk, so that eloy's batch sees and reports the collision as a whole run does."""
    by_group: dict = defaultdict(dict)
    for index, recipe in enumerate(plan.recipes):
        by_group[recipe["group"]].setdefault(recipe["output"], []).append(index)
    for group, by_output in sorted(by_group.items()):
        chunk: list = []
        for indices in by_output.values():
            if chunk and len(chunk) + len(indices) > lights_per_task:
                yield group, sorted(chunk)
                chunk = []
            chunk.extend(indices)
        if chunk:
            yield group, sorted(chunk)


def _lights_per_task(plan: Plan, slots: int, wanted: Optional[int]) -> int:
    """``wanted``, else about 4 tasks per task slot of the cluster, at most 32 lights."""
    if wanted:
        return max(1, int(wanted))
    # About 4 tasks per task slot balance the load; a task of 32 lights of a large sensor
    # is a few seconds, enough to make the per-task overhead small.
    return max(1, min(32, -(-len(plan) // max(1, 4 * slots))))


def tasks(
    plan: Plan,
    out: str,
    *,
    lights_per_task: int = 8,
    threads: Optional[int] = 1,
    **options: Any,
) -> dict:
    """The night's tasks as ``dask.delayed`` objects, to compute with any scheduler.

    Parameters
    ----------
    plan : Plan
        The night's plan (:func:`eloy_rs.plan`).
    out : str
        The output folder, an absolute path every worker sees.
    lights_per_task : int
        Lights per task.
    threads : int or None
        eloy threads per task (default 1: one per Dask thread).
    **options
        ``overwrite``, ``float64``, ``sync``, ``preview`` as for
        :func:`eloy_rs.calibrate_night`.

    Returns
    -------
    dict
        ``{"masters": {id: Delayed}, "lights": [Delayed, ...]}``; each computes to a
        result dict of :func:`eloy_rs.run_plan` (add them to a
        :class:`eloy_rs.night.NightReport` with ``report.add``). Hold the folder while
        they run (``with eloy_rs.lock_folder(out): dask.compute(...)``), as
        :func:`eloy_rs.calibrate_night` and the command do.
    """
    import dask

    out = os.path.abspath(out)
    opts = dict(options, threads=threads)
    masters: dict = {}
    for master in plan.built_masters():
        after = [masters[d] for d in plan.master_uses(master)]
        masters[master] = dask.delayed(master_task, pure=False)(
            plan.master_task(master, out).to_json(), out, opts, after,
            dask_key_name=f"eloy-master-{master}-{dask.base.tokenize(out, plan.to_json())}",
        )
    lights = []
    for group, indices in _cut(plan, lights_per_task):
        after = sorted({m for i in indices for m in plan.recipe_uses(i)})
        lights.append(
            dask.delayed(lights_task, pure=False)(
                plan.lights_task(indices, out).to_json(), out, opts,
                [masters[m] for m in after],
            )
        )
    return {"masters": masters, "lights": lights}


def run(
    client,
    plan: Plan,
    out: str,
    report,
    *,
    on_event: Optional[Callable[[dict], Any]] = None,
    threads: Optional[int] = None,
    lights_per_task: Optional[int] = None,
    **options: Any,
) -> None:
    """Runs ``plan`` on ``client``'s cluster into ``out``, adding what happens to
    ``report`` (a :class:`eloy_rs.night.NightReport`). Called by
    :func:`eloy_rs.calibrate_night`; see this module's documentation.

    A task that fails (an exception, or Dask giving up after losing workers) fails its
    lights (or its master, and the lights that need it), named with why; the others go
    on. Ctrl-C cancels the tasks not yet done.
    """
    import time

    from distributed import as_completed

    out = os.path.abspath(out)
    shares = threads_per_task(client) if not threads else {}
    slots = sum(client.nthreads().values())
    opts = dict(options, threads=threads, shares=shares)
    per_task = _lights_per_task(plan, slots, lights_per_task)
    what: dict = {}
    masters: dict = {}
    for master in plan.built_masters():
        after = [masters[d] for d in plan.master_uses(master)]
        future = client.submit(
            master_task, plan.master_task(master, out).to_json(), out, opts, after,
            pure=False, key=f"eloy-master-{master}-{os.urandom(4).hex()}",
        )
        masters[master] = future
        what[future.key] = ("master", master)
    recipes = plan.recipes
    lights = []
    for group, indices in _cut(plan, per_task):
        after = sorted({m for i in indices for m in plan.recipe_uses(i)})
        future = client.submit(
            lights_task, plan.lights_task(indices, out).to_json(), out, opts,
            [masters[m] for m in after],
            pure=False, key=f"eloy-lights-{group}-{indices[0]}-{os.urandom(4).hex()}",
        )
        lights.append(future)
        what[future.key] = ("lights", [recipes[i]["frame"] for i in indices])
    futures = list(masters.values()) + lights
    done = 0
    started = time.perf_counter()
    masters_end = started
    try:
        for future in as_completed(futures):
            kind, subject = what[future.key]
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 - a task's failure is its files' failure
                why = f"task {future.key} failed: {type(e).__name__}: {e}"
                if kind == "master":
                    report.failed_masters[subject] = why
                    result = {"lights": [], "built": [], "reused": [], "failed_masters": {},
                              "lights_seconds": 0.0}
                else:
                    result = {"lights": [(light, "failed", why) for light in subject],
                              "built": [], "reused": [], "failed_masters": {},
                              "lights_seconds": 0.0}
            if kind == "master":
                masters_end = time.perf_counter()
            # The tasks' own times overlap: the report's light time is the wall time.
            report.add(dict(result, lights_seconds=0.0))
            if on_event is not None:
                for master in result["built"]:
                    on_event({"event": "master", "what": "built", "id": master,
                              "path": os.path.join(out, "masters", f"{master}.fits"),
                              "frames": None, "seconds": 0.0, "kind": None})
                for master in result["reused"]:
                    on_event({"event": "master", "what": "reused", "id": master,
                              "path": os.path.join(out, "masters", f"{master}.fits"),
                              "frames": None, "kind": None})
                for master, why in result["failed_masters"].items():
                    on_event({"event": "master", "what": "failed", "id": master, "why": why})
                for light, outcome, error in result["lights"]:
                    done += 1
                    on_event({"event": "light", "finished": done, "total": len(plan),
                              "light": light, "outcome": outcome, "error": error})
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    if lights:
        # Wall time after the last master (lights of other groups may have started
        # before it: a slight overestimate of the rate, never an underestimate of time).
        report.lights_seconds += time.perf_counter() - masters_end
