"""Open every FITS file eloy wrote with astropy's checksum verification, and fail on any
warning (astropy warns "Checksum verification failed" or "Datasum verification failed"
rather than raising).

    python tests/tools/check_checksums.py OUT_FOLDER_OR_FILE...

Folders are searched recursively for *.fits and *.fits.fz (tile-compressed outputs of
`--compress`, whose sums are those of the compressed table); temporary files (.NAME.eloy-tmp-...) are
skipped. Prints one line per file (OK, or the warnings), then a summary; exits 1 when a
file warns, has no CHECKSUM/DATASUM, or does not open, and 2 when no file was found. Needs
astropy; the Rust test suite does not run it. For example, after a demo run:

    eloy demo /tmp/demo && python tests/tools/check_checksums.py /tmp/demo/out
"""

import sys
import warnings
from pathlib import Path

from astropy.io import fits


def fits_files(args):
    for arg in args:
        path = Path(arg)
        found = (
            sorted([*path.rglob("*.fits"), *path.rglob("*.fits.fz")])
            if path.is_dir()
            else [path]
        )
        for p in found:
            if not (p.name.startswith(".") and ".eloy-tmp-" in p.name):
                yield p


def check(path):
    """Problems with `path`: astropy's warnings, missing sums, or why it does not open."""
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, checksum=True) as hdus:
                for hdu in hdus:
                    # A tile-compressed image's sums are in its table's header, which
                    # astropy keeps apart from the image header it shows.
                    table = getattr(hdu, "_bintable", None)
                    header = table.header if table is not None else hdu.header
                    for key in ("CHECKSUM", "DATASUM"):
                        if key not in header:
                            problems.append(f"no {key}")
                    # Touch the data, so that nothing is left unread.
                    _ = hdu.data
        except Exception as e:  # noqa: BLE001 - every failure is reported
            problems.append(f"does not open: {type(e).__name__}: {e}")
    problems.extend(str(w.message) for w in caught)
    return problems


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    files = list(fits_files(sys.argv[1:]))
    bad = 0
    for path in files:
        problems = check(path)
        if problems:
            bad += 1
            print(f"FAIL {path}: {'; '.join(problems)}")
        else:
            print(f"OK   {path}")
    print(f"{len(files)} files, {bad} with problems (astropy {fits.__name__} "
          f"{__import__('astropy').__version__})")
    if not files:
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
