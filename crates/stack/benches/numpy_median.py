"""Time numpy and bottleneck on the stacks of the `combine` criterion bench.

    python crates/stack/benches/numpy_median.py [runs]

Prints the median wall time over `runs` (default 5) of:
- numpy.nanmedian(axis=0) of 16 float64 frames of 1020 x 1530 (what Python eloy runs),
- bottleneck.nanmedian(axis=0) of the same, when bottleneck is installed,
- numpy.nanmedian and bottleneck.nanmedian of 64 and 100 float64 frames of 510 x 765,
- astropy sigma_clip(axis=0, sigma=3).mean(axis=0) of the 16 frames, when installed.
Uniform values in [0, 1000), no NaN. Compare with the Rust bench run in the same session.
"""

import statistics
import sys
import time

import numpy as np

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
rng = np.random.default_rng(0)


def timed(label, f, *args):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t)
    print(f"{label}: median {statistics.median(times) * 1e3:.1f} ms over {runs} runs")


try:
    import bottleneck
except ImportError:
    bottleneck = None

cube16 = rng.uniform(0.0, 1000.0, size=(16, 1020, 1530))
timed("numpy.nanmedian 16x1020x1530 f64", np.nanmedian, cube16, 0)
if bottleneck is not None:
    timed("bottleneck.nanmedian 16x1020x1530 f64", bottleneck.nanmedian, cube16, 0)
try:
    from astropy.stats import sigma_clip

    timed("astropy sigma_clip(3).mean 16x1020x1530 f64", lambda a: sigma_clip(a, sigma=3.0, axis=0).mean(axis=0), cube16)
except ImportError:
    pass
del cube16

for n in (64, 100):
    cube = rng.uniform(0.0, 1000.0, size=(n, 510, 765))
    timed(f"numpy.nanmedian {n}x510x765 f64", np.nanmedian, cube, 0)
    if bottleneck is not None:
        timed(f"bottleneck.nanmedian {n}x510x765 f64", bottleneck.nanmedian, cube, 0)
