#!/usr/bin/env python3
"""What `eloy calibrate --compress rice` costs and saves, against float32 outputs.

    python3 benches/compress.py --eloy target/release/eloy [--lights 64] [--q 4 8 16]
                                [--repeat 7] [--work DIR] [--python PYTHON]

1. writes a synthetic night with `eloy synth` (1530 x 1020 u16, 16 bias, darks and flats,
   `--lights` lights: the tutorial's shape), unless the work folder has it;
2. times `eloy calibrate NIGHT --out OUT` with its defaults (float32 outputs, `--sync
   end`, PNG previews of the masters) and with `--compress rice --quantize Q` for each Q,
   the variants alternated, `--repeat` times each, a fresh OUT, a `sync` and a warm page
   cache before each run; prints the median wall time and CPU time (user + system, from
   `os.wait4`) of each and their ratios to float32;
3. sums the lights' output sizes of each variant;
4. runs `tests/tools/check_compressed.py` (with `--python`, which needs astropy and numpy)
   on each compressed variant against the float32 outputs: the error quantisation adds,
   in sigma of the sky's noise, and the invalid-pixel rule.

The driver needs only Python 3.9+ and its standard library. CI never runs it.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def warm(folder):
    for path in Path(folder).rglob("*.fits"):
        with open(path, "rb", buffering=0) as f:
            while f.read(8 << 20):
                pass


def run(eloy, night, out, extra):
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    warm(night)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [eloy, "calibrate", night, "--out", out, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"eloy calibrate {' '.join(extra)} failed:\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def lights_size(out):
    return sum(
        p.stat().st_size
        for p in Path(out).rglob("*")
        if p.is_file() and "masters" not in p.parts and ".fits" in p.name
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eloy", default=str(REPO / "target/release/eloy"))
    parser.add_argument("--lights", type=int, default=64)
    parser.add_argument("--q", type=float, nargs="+", default=[4.0, 8.0, 16.0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/eloy-bench-compress"))
    parser.add_argument("--python", default=None, help="a Python with astropy and numpy")
    args = parser.parse_args()
    night = args.work / f"night-{args.lights}"
    if not (night / "ScienceImages").exists():
        subprocess.run(
            [args.eloy, "synth", night, "--lights", str(args.lights)], check=True,
            stdout=subprocess.DEVNULL,
        )
    variants = {"float32": []}
    for q in args.q:
        variants[f"rice q={q:g}"] = ["--compress", "rice", "--quantize", f"{q:g}"]
    walls = {name: [] for name in variants}
    outs = {name: args.work / f"out-{name.replace(' ', '-').replace('=', '')}" for name in variants}
    for _ in range(args.repeat):
        for name, extra in variants.items():
            walls[name].append(run(args.eloy, night, outs[name], extra))
    base_wall = statistics.median(w for w, _ in walls["float32"])
    base_size = lights_size(outs["float32"])
    print(f"{args.lights} lights of 1530x1020, median of {args.repeat} alternated runs, "
          f"{os.cpu_count()} cores")
    base_cpu = statistics.median(c for _, c in walls["float32"])
    print("| outputs | lights' files (MB) | smaller | wall (s) | / float32 | CPU (s) | "
          "/ float32 | all runs' wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in variants:
        size = lights_size(outs[name])
        wall = statistics.median(w for w, _ in walls[name])
        cpu = statistics.median(c for _, c in walls[name])
        runs = " ".join(f"{w:.2f}" for w, _ in walls[name])
        print(f"| {name} | {size / 1e6:.1f} | {base_size / size:.2f}x | {wall:.2f} | "
              f"{wall / base_wall:.2f}x | {cpu:.2f} | {cpu / base_cpu:.2f}x | {runs} |")
    if args.python:
        for name, q in zip(list(variants)[1:], args.q):
            print(f"{name}:", flush=True)
            subprocess.run(
                [args.python, REPO / "tests/tools/check_compressed.py", outs[name],
                 outs["float32"], "--q", f"{q:g}"],
                check=False,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
