"""Python eloy's calibration tutorial, timed stage by stage (run by benches/compare.py).

    python eloy_tutorial.py NIGHT OUT

NIGHT holds Bias/, Darks/, Flats/ and ScienceImages/ (as `eloy synth` writes them and as the
tutorial's photometry dataset is laid out). The code is the tutorial's
(https://eloy.readthedocs.io, "Image calibration"), without the plots: every header read to
find the frames' dates and kinds, master bias, dark and flat with `eloy.calibration`, then
for every light `fits.getdata` / `fits.getheader` / `calibration.calibrate` /
`fits.PrimaryHDU(...).writeto` into OUT/<stem>.fits (float64, as the tutorial writes).

The last line printed is JSON: the wall time of each stage in seconds, and versions.
"""

import json
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from glob import glob
from pathlib import Path

stages = {}
clock = time.perf_counter()


def stage(name):
    global clock
    now = time.perf_counter()
    stages[name] = now - clock
    clock = now


import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from eloy import calibration  # noqa: E402

try:
    from dateutil import parser

    parse_date = parser.parse
except ImportError:  # the tutorial uses dateutil; ISO dates need nothing more

    def parse_date(text):
        return datetime.fromisoformat(text.rstrip("Z"))


stage("import")

night, out = Path(sys.argv[1]), Path(sys.argv[2])

# Files selection (the tutorial's first cells).
files = glob(f"{night}/**/*.fit*")
files_meta = defaultdict(dict)
for file in files:
    header = fits.getheader(file)
    file_date = parse_date(header["DATE-OBS"])
    file_date = file_date - timedelta(hours=10)
    files_meta[file]["date"] = file_date
    files_meta[file]["type"] = Path(file).parent.stem
lights = [f for f in files if files_meta[f]["type"] == "ScienceImages"]
lights = sorted(lights, key=lambda f: files_meta[f]["date"])
observation_date = files_meta[lights[0]]["date"].date()


def filter_files(files, file_type):
    return [
        f
        for f in files
        if files_meta[f]["type"] == file_type
        and files_meta[f]["date"].date() == observation_date
    ]


biases = filter_files(files, "Bias")
darks = filter_files(files, "Darks")
flats = filter_files(files, "Flats")
stage("scan")

bias = calibration.master_bias(files=biases)
stage("bias")
dark = calibration.master_dark(files=darks, bias=bias)
stage("dark")
flat = calibration.master_flat(files=flats, bias=bias, dark=dark)
stage("flat")

# Saving calibrated images (the tutorial's last cell, without the progress bar).
calibrated_folder = out
calibrated_folder.mkdir(exist_ok=True, parents=True)
for file in lights:
    data = fits.getdata(file)
    header = fits.getheader(file)
    exposure = header["EXPTIME"]
    calibrated_data = calibration.calibrate(data, exposure, dark, flat, bias)
    hdu = fits.PrimaryHDU(data=calibrated_data, header=header)
    filename = calibrated_folder / f"{Path(file).stem}.fits"
    hdu.writeto(filename)
stage("lights")

try:
    from importlib.metadata import version

    eloy_version = version("eloy")
except Exception:  # noqa: BLE001 - a version is only informative
    eloy_version = "?"
import astropy  # noqa: E402

print(
    json.dumps(
        {
            "stages": stages,
            "lights": len(lights),
            "frames": {"bias": len(biases), "dark": len(darks), "flat": len(flats)},
            "versions": {
                "python": sys.version.split()[0],
                "eloy": eloy_version,
                "astropy": astropy.__version__,
                "numpy": np.__version__,
            },
        }
    )
)
