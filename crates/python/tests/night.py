"""A small night of raw frames, the same bit for bit on every machine and numpy version.

The layout is the calibration tutorial's: ``photometry_raw_data/{Bias,Darks,Flats,
ScienceImages}/*.fits``, unsigned 16-bit frames (BITPIX 16, BZERO 32768) with ``IMAGETYP``,
``EXPTIME`` and ``DATE-OBS``. The noise comes from an integer hash (splitmix64) turned into
Gaussian noise by sums of uniform values, with IEEE-exact operations only (no random
generator whose stream could change between numpy versions), so that the fixture made from
Python eloy (``fixtures/make_tutorial_fixture.py``) and the test see the same pixels.

The night has what breaks naive calibrations: a hot pixel, a dead flat pixel (flat 0: the
calibrated value is -1), a saturated pixel, a pixel below the bias (negative: -1), an even
number of bias frames and of flats (medians of two middle values), flats of different
exposures and levels, and lights after midnight (the tutorial's ``- timedelta(hours=10)``
keeps them on the night's date).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS, COLS = 40, 56
COUNTS = {"Bias": 6, "Darks": 5, "Flats": 4, "ScienceImages": 3}

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 of each uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform values in [0, 1) from the top 53 bits of the hash of (seed, index)."""
    n = int(np.prod(shape))
    index = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(1 << 32)
    bits = _splitmix64(index) >> np.uint64(11)
    return (bits.astype(np.float64) / float(1 << 53)).reshape(shape)


def _normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Approximately standard normal values: the sum of 12 uniform values minus 6, summed
    left to right (no pairwise summation whose order could vary)."""
    total = np.zeros(shape)
    for k in range(12):
        total = total + _uniform(seed * 16 + k, shape)
    return total - 6.0


def _truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:ROWS, 0:COLS].astype(np.float64)
    bias = 1000.0 + 3.0 * np.floor(x / 7.0) + 0.25 * y
    dark_rate = np.full((ROWS, COLS), 0.05)
    dark_rate[5, 7] = 40.0  # a hot pixel
    r2 = ((x - COLS / 2) ** 2 + (y - ROWS / 2) ** 2) / (COLS / 2) ** 2
    flat = 1.0 - 0.3 * r2
    flat[20, 30] = 0.0  # a dead pixel
    return bias, dark_rate, flat


def frames() -> dict[str, list[tuple[str, np.ndarray, dict]]]:
    """The night's frames: per folder, ``(file name, uint16 data, header cards)``."""
    bias, dark_rate, flat = _truth()
    shape = (ROWS, COLS)
    seed = 1

    def exposure(signal: np.ndarray, read_noise: float = 8.0) -> np.ndarray:
        """The bias, a signal with its shot noise (Gaussian of variance `signal`), read
        noise."""
        nonlocal seed
        shot = np.sqrt(np.maximum(signal, 0.0)) * _normal(seed, shape)
        read = read_noise * _normal(seed + 1, shape)
        seed += 2
        return bias + signal + shot + read

    def u16(values: np.ndarray) -> np.ndarray:
        return np.clip(np.round(values), 0, 65535).astype(np.uint16)

    def header(kind: str, exptime: float, minute: int) -> dict:
        hours, minutes = divmod(20 * 60 + minute, 60)
        day = 5 + hours // 24
        date = f"2016-01-{day:02d}T{hours % 24:02d}:{minutes:02d}:00"
        return {"IMAGETYP": kind, "EXPTIME": exptime, "DATE-OBS": date}

    night: dict[str, list[tuple[str, np.ndarray, dict]]] = {k: [] for k in COUNTS}
    for i in range(COUNTS["Bias"]):
        data = u16(exposure(np.zeros(shape)))
        night["Bias"].append((f"bias_{i:03d}.fits", data, header("Bias Frame", 0.0, i)))
    for i in range(COUNTS["Darks"]):
        t = 30.0
        data = u16(exposure(dark_rate * t))
        night["Darks"].append((f"dark_{i:03d}.fits", data, header("Dark Frame", t, 10 + i)))
    for i in range(COUNTS["Flats"]):
        t = 1.0 + 0.5 * i
        level = 9000.0 * (1.0 - 0.1 * i)
        data = u16(exposure(level * flat + dark_rate * t))
        night["Flats"].append((f"flat_{i:03d}.fits", data, header("Flat Field", t, 20 + i)))
    for i in range(COUNTS["ScienceImages"]):
        t = 30.0
        sky = 20.0 * t * flat + dark_rate * t
        values = exposure(sky)
        values[3, 3] = 0.0  # below the bias: negative once calibrated, -1
        values[10, 10] = 65535.0  # saturated
        values[30, 12 + i] += 5000.0  # a star
        data = u16(values)
        # Lights from 23:00 to past midnight (minutes 180, 250, 320 after 20:00).
        night["ScienceImages"].append(
            (f"light_{i:03d}.fits", data, header("Light Frame", t, 180 + 70 * i))
        )
    return night


def write(root: Path) -> dict[str, list[Path]]:
    """Writes the night under ``root`` (``root/Bias/bias_000.fits``...) with astropy and
    returns the paths per folder."""
    from astropy.io import fits

    paths: dict[str, list[Path]] = {}
    for folder, items in frames().items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        paths[folder] = []
        for name, data, cards in items:
            hdr = fits.Header()
            for key, value in cards.items():
                hdr[key] = value
            path = root / folder / name
            fits.PrimaryHDU(data=data, header=hdr).writeto(path, overwrite=True)
            paths[folder].append(path)
    return paths
