"""Long calls release the GIL: another Python thread keeps running while eloy works."""

from __future__ import annotations

import threading
import time

import numpy as np

import eloy_rs


def longest_pause(call, at_least: float = 0.25) -> tuple[float, float]:
    """Runs ``call`` in a thread, again and again for ``at_least`` seconds, while this
    thread loops; returns the shortest call's duration and the longest time this thread
    went without running (at least a whole call when a call holds the GIL). Repeating the
    call keeps the test meaningful on machines (or page caches) where one call is fast."""
    done = threading.Event()
    errors = []
    durations = []

    def work():
        try:
            started = time.perf_counter()
            while not durations or time.perf_counter() - started < at_least:
                begin = time.perf_counter()
                call()
                durations.append(time.perf_counter() - begin)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    last = time.perf_counter()
    thread.start()
    pause = 0.0
    while not done.is_set():
        now = time.perf_counter()
        pause = max(pause, now - last)
        last = now
    thread.join()
    if errors:
        raise errors[0]
    return min(durations), pause


def test_stack_and_calibrate_release_the_gil(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.normal(1000, 10, (1024, 1024)).astype(np.float32) for _ in range(15)]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"f{i}.fits")
        eloy_rs.write(paths[-1], frame, {"EXPTIME": 2.0}, sync=False)
    bias = frames[0].astype(np.float64)
    calls = {
        "stack of files": lambda: eloy_rs.stack(paths, "mean", "sigma_clip"),
        "master_flat": lambda: eloy_rs.calibration.master_flat(bias, None, paths),
        "calibrate": lambda: [
            eloy_rs.calibration.calibrate(f, 30.0, bias, bias, bias) for f in frames[:4]
        ],
    }
    for name, call in calls.items():
        duration, pause = longest_pause(call)
        print(f"{name}: {duration * 1e3:.0f} ms a call, longest pause of the other thread {pause * 1e3:.0f} ms")
        # Python hands the GIL over every 5 ms: a call of 20 ms or more tells.
        assert duration > 0.02, f"{name} too short to tell"
        assert pause < duration / 2, name
