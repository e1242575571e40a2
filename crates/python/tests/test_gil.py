"""Long calls release the GIL: another Python thread keeps running while eloy works."""

from __future__ import annotations

import threading
import time

import numpy as np

import eloy_rs


def longest_pause(call) -> tuple[float, float]:
    """Runs ``call`` in a thread while this thread loops; returns the call's duration and
    the longest time this thread went without running (the whole call when the GIL is
    held)."""
    done = threading.Event()
    errors = []

    def work():
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    start = last = time.perf_counter()
    thread.start()
    pause = 0.0
    while not done.is_set():
        now = time.perf_counter()
        pause = max(pause, now - last)
        last = now
    duration = time.perf_counter() - start
    thread.join()
    if errors:
        raise errors[0]
    return duration, pause


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
        print(f"{name}: {duration * 1e3:.0f} ms, longest pause of the other thread {pause * 1e3:.0f} ms")
        assert duration > 0.05, f"{name} too short to tell"
        assert pause < duration / 2, name
