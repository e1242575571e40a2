"""Compare tile-compressed outputs of `eloy calibrate --compress rice` with the float32
outputs of the same night, read with astropy: sizes, the error quantisation adds relative
to the noise, and the invalid-pixel rule.

    python tests/tools/check_compressed.py COMPRESSED_OUT FLOAT32_OUT [--q Q]

Every NIGHT/LIGHT.fits.fz under COMPRESSED_OUT is matched with NIGHT/LIGHT.fits under
FLOAT32_OUT. For each pair: both open with astropy (`checksum=True`, no warning), the
shapes agree, the compressed file is NaN exactly where the float32 one is invalid (-1, as
eloy's default rule writes, or NaN), and the difference on the other pixels is summed. The
noise of a frame is the robust sigma of its valid pixels (1.4826 MAD: the sky's noise on
a frame mostly of sky). Prints the total sizes and their ratio, and the added error in
sigma of the noise: its standard deviation (over every pixel of every frame) and its
largest value. With --q, fails (exit 1) when that standard deviation is not within 30 %
of 1 / (q sqrt 12), the error of a uniform quantisation with a step of sigma / q. Exit 1
also on any warning or a NaN where the float32 output has a value; 2 when no pair is found.
Needs astropy and numpy; the Rust test suite does not run it.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits


def read(path):
    """The image of `path` (the first HDU with data) as float64, and astropy's warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True) as hdus:
            data = next(h.data for h in hdus if h.data is not None)
            data = np.asarray(data, dtype=np.float64)
    return data, [str(w.message) for w in caught]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compressed", type=Path)
    parser.add_argument("float32", type=Path)
    parser.add_argument("--q", type=float, help="the --quantize of the compressed run")
    args = parser.parse_args()
    pairs = []
    for fz in sorted(args.compressed.rglob("*.fits.fz")):
        if "masters" in fz.parts:
            continue
        plain = args.float32 / fz.relative_to(args.compressed).with_suffix("")
        if plain.exists():
            pairs.append((fz, plain))
    if not pairs:
        print("no pair of LIGHT.fits.fz and LIGHT.fits found")
        return 2
    failures = 0
    size_fz = size_plain = 0
    squares = 0.0
    count = 0
    largest = 0.0
    for fz, plain in pairs:
        size_fz += fz.stat().st_size
        size_plain += plain.stat().st_size
        a, warn_a = read(fz)
        b, warn_b = read(plain)
        problems = warn_a + warn_b
        if a.shape != b.shape:
            problems.append(f"shapes {a.shape} and {b.shape}")
        else:
            invalid = np.isnan(b) | (b == -1)
            if not np.array_equal(np.isnan(a), invalid):
                problems.append(
                    f"{int((np.isnan(a) != invalid).sum())} pixels NaN in one, valid in the other"
                )
            valid = ~invalid & ~np.isnan(a)
            sky = b[valid]
            sigma = 1.4826 * np.median(np.abs(sky - np.median(sky)))
            error = (a[valid] - b[valid]) / sigma
            squares += float(np.sum(error**2))
            count += error.size
            largest = max(largest, float(np.max(np.abs(error))))
        if problems:
            failures += 1
            print(f"FAIL {fz}: {'; '.join(problems)}")
    rms = (squares / count) ** 0.5 if count else float("nan")
    print(
        f"{len(pairs)} frames: float32 {size_plain / 1e6:.1f} MB, compressed "
        f"{size_fz / 1e6:.1f} MB, {size_plain / size_fz:.2f}x smaller"
    )
    print(
        f"added error: {rms:.4f} sigma of the noise (standard deviation), largest "
        f"{largest:.3f} sigma; {failures} frame(s) with problems "
        f"(astropy {__import__('astropy').__version__})"
    )
    if args.q is not None:
        expected = 1 / (abs(args.q) * 12**0.5)
        if args.q > 0 and not 0.7 * expected <= rms <= 1.3 * expected:
            print(f"FAIL: expected about {expected:.4f} sigma for q = {args.q}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
