"""Check that Siril reads tile-compressed outputs of `eloy calibrate --compress rice`:
`siril-cli` loads each LIGHT.fits.fz, prints its statistics and saves it as plain FITS;
the saved pixels must be astropy's reading of the .fz file (Siril saves 32-bit floats
divided by 65535, its [0, 1] range for images in ADU; NaN pixels may become 0).

    python tests/tools/check_siril.py FILE.fits.fz... [--siril siril-cli]

Prints one line per file (Siril's statistics line, the largest relative difference); exits
1 when Siril fails or a value differs by more than 1e-6 relative, 2 when siril-cli is
missing. Needs astropy and numpy; the Rust test suite does not run it.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--siril", default="siril-cli")
    args = parser.parse_args()
    siril = shutil.which(args.siril)
    if siril is None:
        print(f"{args.siril} not found")
        return 2
    failures = 0
    for path in args.files:
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            shutil.copy(path, work / "in.fits.fz")
            (work / "load.ssf").write_text(
                "requires 1.0.0\nload in.fits.fz\nstat\nsave out\n"
            )
            run = subprocess.run(
                [siril, "-d", str(work), "-s", str(work / "load.ssf")],
                capture_output=True,
                text=True,
                timeout=300,
            )
            stats = [line for line in run.stdout.splitlines() if "Mean:" in line]
            if run.returncode != 0 or not (work / "out.fits").exists():
                failures += 1
                print(f"FAIL {path}: siril-cli exit {run.returncode}\n{run.stdout[-2000:]}")
                continue
            ours = fits.getdata(path).astype(np.float64)
            theirs = fits.getdata(work / "out.fits").astype(np.float64) * 65535.0
            valid = np.isfinite(ours)
            worst = float(
                np.max(np.abs(theirs[valid] - ours[valid]) / np.maximum(np.abs(ours[valid]), 1.0))
            )
            verdict = "OK  " if worst <= 1e-6 else "FAIL"
            failures += verdict == "FAIL"
            print(f"{verdict} {path}: {stats[0].split('log: ')[-1] if stats else ''}; "
                  f"largest relative difference {worst:.1e}")
    version = subprocess.run([siril, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{len(args.files)} files, {failures} with problems ({version})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
