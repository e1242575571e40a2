"""Type stubs of eloy's native module (``eloy_rs._eloy_rs``); import ``eloy_rs``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from os import PathLike
import datetime
from typing import Any, Literal, Optional, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike[str]]
_Image = npt.ArrayLike
_Loader = Callable[[Any], npt.ArrayLike]
_Exposure = Callable[[Any], float]

__version__: str

def master_bias(
    files: Optional[Iterable[Any]] = None,
    fun_load: Optional[_Loader] = None,
) -> npt.NDArray[np.float64]:
    """Master bias: the per-pixel ``nanmedian`` of the frames (Python eloy 0.0.11);
    ``array([0.])`` when ``files`` is None."""

def master_dark(
    bias: Optional[npt.ArrayLike] = None,
    files: Optional[Iterable[Any]] = None,
    fun_load: Optional[_Loader] = None,
    fun_exp: Optional[_Exposure] = None,
) -> npt.NDArray[np.float64]:
    """Master dark rate: ``nanmedian((dark - bias) / exposure)`` (Python eloy 0.0.11);
    ``array([0.])`` when ``files`` is None."""

def master_flat(
    bias: Optional[npt.ArrayLike] = None,
    dark: Optional[npt.ArrayLike] = None,
    files: Optional[Iterable[Any]] = None,
    fun_load: Optional[_Loader] = None,
    fun_exp: Optional[_Exposure] = None,
) -> npt.NDArray[np.float64]:
    """Master flat: ``nanmedian(f / mean(f))``, ``f = flat - bias - dark * exposure``
    (Python eloy 0.0.11); ``array([1.])`` when ``files`` is None."""

def calibrate(
    data: _Image,
    exposure: float,
    dark: npt.ArrayLike,
    flat: npt.ArrayLike,
    bias: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """``(data - (dark * exposure + bias)) / flat``; negative and non-finite values
    become -1 (Python eloy 0.0.11)."""

def z_scale(data: _Image, c: float = 0.05) -> npt.NDArray[np.floating[Any]]:
    """``ZScaleInterval(contrast=c)(data)``: the image rescaled to [0, 1] between its
    zscale limits (Python eloy 0.0.11's ``viz.z_scale``)."""

def read(path: _Path) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """The image (float32, shape ``(NAXIS2, NAXIS1)``) and header (dict) of a FITS file."""

def read_header(path: _Path) -> dict[str, Any]:
    """The header of a FITS file's image as a dict (``HISTORY``/``COMMENT`` as lists)."""

def write(
    path: _Path,
    data: _Image,
    header: Optional[Any] = None,
    *,
    overwrite: bool = False,
    dtype: Optional[npt.DTypeLike] = None,
    checksum: bool = True,
    sync: bool = True,
) -> None:
    """Write a 2-d image to a new FITS file atomically (float32 by default; ``dtype``
    "float64" or "uint16")."""

def zscale_limits(
    data: _Image,
    contrast: float = 0.25,
    *,
    n_samples: int = 1000,
    max_reject: float = 0.5,
    min_npixels: int = 5,
    krej: float = 2.5,
    max_iterations: int = 5,
    sampling: Literal["astropy", "iraf"] = "astropy",
) -> tuple[float, float]:
    """astropy's ``ZScaleInterval(...).get_limits(data)``: ``(vmin, vmax)``."""

def stack(
    files: Iterable[Union[_Path, npt.ArrayLike]],
    method: Literal["median", "mean", "sum"] = "median",
    rejection: Optional[Literal["sigma_clip", "minmax"]] = None,
    memory: int = 268435456,
    *,
    sigma: float = 3.0,
    sigma_lower: Optional[float] = None,
    sigma_upper: Optional[float] = None,
    maxiters: Optional[int] = 5,
    cenfunc: Literal["median", "mean"] = "median",
    nlow: int = 1,
    nhigh: int = 1,
) -> npt.NDArray[np.float32]:
    """Per-pixel median, mean or sum of frames (files streamed, or arrays), NaN skipped,
    after optional sigma-clipping or min/max rejection, within ``memory`` bytes."""

class Catalog:
    """The FITS frames under a folder: kind, night, exposure, filter, camera state."""

    def __init__(
        self,
        path: _Path,
        *,
        longitude: Optional[float] = None,
        utc_offset: float = 0.0,
        exclude: Iterable[_Path] = ...,
    ) -> None: ...
    @property
    def root(self) -> str:
        """The folder scanned."""
    @property
    def frames(self) -> list[dict[str, Any]]:
        """One dict per frame, sorted by path."""
    @property
    def failures(self) -> list[dict[str, str]]:
        """Files that could not be read: ``{"path", "error"}``."""
    def to_dicts(self) -> list[dict[str, Any]]:
        """The frames as a list of dicts (same as ``frames``)."""
    def lights(self) -> list[dict[str, Any]]:
        """The light frames in observation order."""
    def calibration_for(self, light: Union[_Path, dict[str, Any]]) -> dict[str, list[str]]:
        """Bias, dark and flat frames that belong to a light."""
    def summary(self) -> list[dict[str, Any]]:
        """One dict per night: counts by kind, exposures, filters, shapes."""
    def to_table(self) -> Any:
        """The frames as an astropy ``Table`` (needs astropy)."""
    def to_json(self) -> str:
        """The catalog as JSON."""
    @staticmethod
    def from_json(text: str) -> Catalog:
        """A catalog from ``to_json``'s text."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[dict[str, Any]]: ...
    def __getitem__(self, index: int) -> dict[str, Any]: ...

class Plan:
    """What a night's reduction will do, decided from headers: masters, a recipe per
    light, decisions with reasons (eloy's ``Plan``)."""

    def to_json(self, indent: bool = False) -> str:
        """The plan as JSON (``eloy calibrate --dry-run --json``)."""
    @staticmethod
    def from_json(text: str) -> Plan:
        """A plan from ``to_json``'s text."""
    @property
    def masters(self) -> list[dict[str, Any]]:
        """The masters to build or load, in build order."""
    @property
    def recipes(self) -> list[dict[str, Any]]:
        """One recipe per light: frame, output, group, exposure, shape, steps."""
    @property
    def groups(self) -> list[dict[str, Any]]:
        """Groups of lights sharing their masters, with their decisions."""
    @property
    def failures(self) -> list[dict[str, Any]]:
        """Lights that cannot be calibrated, with why."""
    @property
    def unreadable(self) -> list[dict[str, str]]:
        """Files of the folder that could not be read when it was scanned."""
    @property
    def decisions(self) -> list[dict[str, Any]]:
        """Every decision of the plan, with its reasons."""
    def formulas(self) -> list[tuple[str, str]]:
        """Each light with its formula."""
    def built_masters(self) -> list[str]:
        """Ids of the masters built from frames, in build order."""
    def master_uses(self, id: str) -> list[str]:
        """The masters built from frames that master ``id`` uses."""
    def recipe_uses(self, index: int) -> list[str]:
        """The masters built from frames that recipe ``index`` uses."""
    def master_task(self, id: str, out: _Path) -> Plan:
        """The sub-plan of one master (its dependencies loaded from ``out/masters``)."""
    def lights_task(self, recipes: list[int], out: _Path) -> Plan:
        """The sub-plan of some lights of one group (masters loaded from ``out``)."""
    def __len__(self) -> int: ...

def plan(
    path: _Path,
    out: Optional[_Path] = None,
    *,
    masters: Optional[_Path] = None,
    night_of: Optional[datetime.date] = None,
    longitude: Optional[float] = None,
    utc_offset: float = 0.0,
    method: Literal["median", "mean", "sum"] = "median",
    sigma_clip: Optional[float] = None,
    sigma_rounds: int = 5,
    sigma_center: Literal["median", "mean"] = "median",
    minmax: Optional[tuple[int, int]] = None,
    memory: int = 256,
    flat_mean_propagates_nan: bool = False,
    exposure_key: str = "EXPTIME",
    invalid: Literal["eloy", "nan", "keep"] = "eloy",
    temperature_tolerance: float = 2.0,
    exposure_tolerance: float = 1.0,
    exposure_tolerance_seconds: float = 0.5,
    same_night_only: bool = False,
    flats_from_other_nights: bool = False,
    ignore_darktime: bool = False,
    overscan: Optional[
        Literal["median", "mean", "constant", "legendre", "chebyshev", "spline1", "spline3"]
    ] = "median",
    overscan_order: int = 1,
    overscan_niterate: int = 1,
    overscan_reject: tuple[float, float] = (3.0, 3.0),
    overscan_axis: Optional[Literal["rows", "columns"]] = None,
    trim: bool = True,
    biassec: Optional[str] = None,
    trimsec: Optional[str] = None,
    flat_normalization: Literal["mean", "median", "mode", "region"] = "mean",
    flat_region: Optional[str] = None,
    flat_minimum: Optional[float] = None,
    saturation: Union[str, float, None] = None,
    gain: Union[str, float, None] = None,
    cosmetic: Union[Literal["replace", "mask"], bool, None] = None,
    hot_sigma: float = 3.0,
    cold_sigma: Optional[float] = None,
    dead_pixels: bool = True,
    cosmetic_list: Optional[_Path] = None,
    pedestal: Optional[float] = None,
    bias_level: Union[str, float, None] = None,
    dark_scale: Literal["exposure", "none", "optimize"] = "exposure",
    equalize_cfa: bool = False,
) -> Plan:
    """Plan the reduction of a folder of raw frames (``eloy calibrate --dry-run``)."""

class FolderLock:
    """The held lock of an output folder (``OUT/.eloy.lock``); a context manager."""

    def release(self) -> None:
        """Releases the lock (again: nothing)."""
    def __enter__(self) -> FolderLock: ...
    def __exit__(self, *args: object) -> bool: ...

def lock_folder(out: _Path) -> FolderLock:
    """Locks the output folder for a run, as ``eloy calibrate`` does; BlockingIOError
    names the run that holds it."""

def run_plan(
    plan: Plan,
    out: _Path,
    *,
    masters_only: bool = False,
    overwrite: bool = False,
    float64: bool = False,
    sync: bool = True,
    compress: Optional[str] = None,
    quantize: float = 4.0,
    preview: bool = True,
    threads: Optional[int] = None,
    on_event: Optional[Callable[[dict[str, Any]], Any]] = None,
) -> dict[str, Any]:
    """Run a plan with eloy's engine (as ``eloy calibrate``): masters, then lights."""

def run_lights(
    plan: Plan,
    out: _Path,
    *,
    overwrite: bool = False,
    float64: bool = False,
    sync: bool = True,
    compress: Optional[str] = None,
    quantize: float = 4.0,
    threads: Optional[int] = None,
    on_event: Optional[Callable[[dict[str, Any]], Any]] = None,
) -> dict[str, Any]:
    """Calibrate the lights of a task's sub-plan with eloy's batch, masters loaded from
    their files (kept for the next tasks of the process)."""
