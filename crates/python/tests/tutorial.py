"""The code of Python eloy's calibration tutorial (the notebook our users run), verbatim.

Only its import lines change between runs: ``code("eloy")`` is the notebook as published,
``code("eloy_rs")`` the notebook with ``from eloy_rs import calibration`` and
``from eloy_rs import viz``. ``run(...)`` executes it in a folder holding
``photometry_raw_data/`` (see ``night.py``), as a notebook runs its cells in order, and
returns the notebook's variables.

Used by ``test_tutorial.py`` and by ``fixtures/make_tutorial_fixture.py`` (which runs it
with Python eloy 0.0.11 to make the reference values).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

# The cells of the notebook, in order (text cells and pictures left out).
CELLS = [
    '''
from astropy.io import fits
from dateutil import parser
from glob import glob
from collections import defaultdict
from pathlib import Path
from datetime import timedelta

files = glob("./photometry_raw_data/**/*.fit*")
files_meta = defaultdict(dict)
observations = defaultdict(lambda: defaultdict(int))

for file in files:
    header = fits.getheader(file)
    file_date = parser.parse(header["DATE-OBS"])
    # because some observations are taken over midnight
    file_date = file_date - timedelta(hours=10)
    files_meta[file]["date"] = file_date
    files_meta[file]["type"] = Path(file).parent.stem
    observations[file_date.date()][files_meta[file]["type"]] += 1
''',
    '''
for date, obs in observations.items():
    print(date, f"\\n{'-' * len(str(date))}")
    for obs_type, count in obs.items():
        print(f"{obs_type}: {count}")
''',
    '''
# only picking up the science images
lights = list(filter(lambda f: files_meta[f]["type"] == "ScienceImages", files))
# sorting them by date
lights = sorted(lights, key=lambda f: files_meta[f]["date"])
# selecting the first one
file = lights[0]

observation_date = files_meta[list(lights)[0]]["date"].date()
''',
    '''
def filter_files(files, file_type):
    return list(
        filter(
            lambda f: files_meta[f]["type"] == file_type
            and files_meta[f]["date"].date() == observation_date,
            files,
        )
    )


biases = filter_files(files, "Bias")
darks = filter_files(files, "Darks")
flats = filter_files(files, "Flats")
''',
    '''
from eloy import calibration

bias = calibration.master_bias(files=biases)
dark = calibration.master_dark(files=darks, bias=bias)
flat = calibration.master_flat(files=flats, bias=bias, dark=dark)
''',
    '''
import matplotlib.pyplot as plt
from eloy import viz

fig, axes = plt.subplots(sharex=True, sharey=True, nrows=1, ncols=4, figsize=(8, 3))
axes[0].imshow(viz.z_scale(fits.getdata(file)).T, cmap="Greys_r", origin="lower")
axes[0].set_title("science")
axes[1].imshow(viz.z_scale(bias).T, cmap="Greys_r", origin="lower")
axes[1].set_title("bias")
axes[2].imshow(viz.z_scale(dark).T, cmap="Greys_r", origin="lower")
axes[2].set_title("dark")
axes[3].imshow(viz.z_scale(flat).T, cmap="Greys_r", origin="lower")
axes[3].set_title("flat")
plt.tight_layout()
''',
    '''
data = fits.getdata(file)
header = fits.getheader(file)
exposure = header["EXPTIME"]

# calibration
calibrated_data = calibration.calibrate(data, exposure, dark, flat, bias)
''',
    '''
fig, axes = plt.subplots(nrows=1, ncols=2, figsize=(6, 4), sharex=True, sharey=True)
axes[0].imshow(viz.z_scale(fits.getdata(file)).T, cmap="Greys_r", origin="lower")
axes[0].set_title("raw")
axes[1].imshow(viz.z_scale(calibrated_data).T, cmap="Greys_r", origin="lower")
axes[1].set_title("calibrated")
plt.tight_layout()
''',
    '''
from tqdm.auto import tqdm

calibrated_folder = Path("calibrated_images")
calibrated_folder.mkdir(exist_ok=True)

for file in tqdm(lights):
    data = fits.getdata(file)
    header = fits.getheader(file)
    exposure = header["EXPTIME"]

    # calibration
    calibrated_data = calibration.calibrate(data, exposure, dark, flat, bias)
    hdu = fits.PrimaryHDU(data=calibrated_data, header=header)
    filename = calibrated_folder / f"{Path(file).stem}.fits"
    hdu.writeto(filename)
''',
]


def code(package: str) -> list[str]:
    """The notebook's cells importing ``calibration`` and ``viz`` from ``package``."""
    return [cell.replace("from eloy import", f"from {package} import") for cell in CELLS]


def run(package: str, folder: Path) -> dict:
    """Runs the notebook's cells in ``folder`` (which holds ``photometry_raw_data/``) with
    ``package``'s calibration and viz, and returns the notebook's variables and its
    printed output (``"__stdout__"``). Figures are drawn with matplotlib's Agg backend and
    closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__notebook__"}
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(printed):
            for cell in code(package):
                exec(compile(cell, "<notebook cell>", "exec"), namespace)
    finally:
        os.chdir(cwd)
        plt.close("all")
    namespace["__stdout__"] = printed.getvalue()
    return namespace
