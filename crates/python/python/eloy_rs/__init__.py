"""eloy for Python: calibrate astronomical FITS images, fast.

- :mod:`eloy_rs.calibration` and :mod:`eloy_rs.viz`: Python eloy 0.0.11's calibration
  functions and ``z_scale``, same signatures and results (``from eloy_rs import
  calibration, viz`` in place of ``from eloy import ...``);
- :func:`read`, :func:`read_header`, :func:`write`: FITS images and headers;
- :func:`zscale_limits`: astropy's ``ZScaleInterval`` limits;
- :func:`stack`: median / mean / sum of many frames with rejection, in bounded memory;
- :class:`Catalog`: the frames of a folder by night and kind;
- :func:`calibrate_night`: ``eloy calibrate`` from Python, on this machine or on a Dask
  cluster (:mod:`eloy_rs.dask`); :func:`plan`: what it will do, decided from headers
  (:class:`Plan`).

Example
-------
>>> import eloy_rs
>>> catalog = eloy_rs.Catalog("night/")                        # doctest: +SKIP
>>> bias = eloy_rs.stack([f["path"] for f in catalog if f["kind"] == "bias"])  # doctest: +SKIP
"""

from eloy_rs import calibration, viz
from eloy_rs._eloy_rs import (
    Catalog,
    FolderLock,
    Plan,
    __version__,
    lock_folder,
    plan,
    read,
    read_header,
    run_lights,
    run_plan,
    stack,
    write,
    zscale_limits,
)
from eloy_rs.night import NightReport, calibrate_night

__all__ = [
    "Catalog",
    "FolderLock",
    "NightReport",
    "Plan",
    "__version__",
    "calibrate_night",
    "calibration",
    "lock_folder",
    "plan",
    "read",
    "read_header",
    "run_lights",
    "run_plan",
    "stack",
    "viz",
    "write",
    "zscale_limits",
]


def __getattr__(name: str):
    """``eloy_rs.dask`` is imported when first used (it is the only module that needs
    dask, an optional dependency)."""
    if name == "dask":
        import importlib

        return importlib.import_module("eloy_rs.dask")
    raise AttributeError(f"module 'eloy_rs' has no attribute {name!r}")
