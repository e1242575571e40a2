"""Python eloy 0.0.11's ``eloy.calibration``, computed by eloy's Rust crates.

The same functions with the same signatures, positional order, defaults and results:

- ``master_bias(files=None, fun_load=None)``
- ``master_dark(bias=None, files=None, fun_load=None, fun_exp=None)``
- ``master_flat(bias=None, dark=None, files=None, fun_load=None, fun_exp=None)``
- ``calibrate(data, exposure, dark, flat, bias)``

Masters are float64 arrays (``array([0.])`` or ``array([1.])`` when ``files`` is None,
as eloy returns, and ``calibrate`` accepts them back); ``calibrate`` applies eloy's rule:
negative and non-finite values become -1. Medians are eloy-stack's streaming
``nanmedian`` (frames read in bands, not held in memory), calibration is eloy-calib's;
both run on all cores without the GIL. Pixels are float32 with float64 arithmetic: results
agree with Python eloy's float64 ones to about 1e-7 relative.

``default_fun_load`` and ``default_fun_exp`` are eloy's defaults, for callers that wrap
them; the functions above do not call them (eloy's own reader is used when ``fun_load``
or ``fun_exp`` is None).
"""

from __future__ import annotations

from os import PathLike
from typing import Union

import numpy as np

from eloy_rs._eloy_rs import calibrate, master_bias, master_dark, master_flat
from eloy_rs._eloy_rs import read as _read
from eloy_rs._eloy_rs import read_header as _read_header

__all__ = [
    "calibrate",
    "default_fun_exp",
    "default_fun_load",
    "master_bias",
    "master_dark",
    "master_flat",
]


def default_fun_load(file: Union[str, PathLike]) -> np.ndarray:
    """Load the image of a FITS file, as eloy's ``default_fun_load``.

    Parameters
    ----------
    file : str or os.PathLike
        The FITS file.

    Returns
    -------
    numpy.ndarray
        The image (float32, read by eloy: BZERO/BSCALE applied, BLANK as NaN).
    """
    return _read(file)[0]


def default_fun_exp(file: Union[str, PathLike]) -> float:
    """The exposure time of a FITS file, from its header's ``EXPTIME``, as eloy's
    ``default_fun_exp``.

    Parameters
    ----------
    file : str or os.PathLike
        The FITS file.

    Returns
    -------
    float
        ``EXPTIME`` in seconds.

    Raises
    ------
    KeyError
        The header has no ``EXPTIME``.
    """
    return _read_header(file)["EXPTIME"]
