#!/usr/bin/env python3
"""Side-by-side benchmark: `eloy calibrate` against Python eloy's tutorial and Siril.

    python3 benches/compare.py [--lights 336] [--large] [--with-python] [--with-siril]
                               [--threads-table] [--keep DIR] [--repeat N]

What it does, in one run, on the same files:

1. builds `eloy` (`cargo build --release -p eloy-cli`, honouring CARGO_TARGET_DIR);
2. writes synthetic nights with `eloy synth`: the tutorial's shape (1530 x 1020 u16, 16
   bias, 16 darks, 16 flats, 64 lights or `--lights N`) and, with `--large`, a large-sensor
   night (6248 x 4176, 20 of each calibration kind, 8 lights);
3. before every timed run: removes the previous outputs, flushes dirty pages (`sync`), and
   reads every input once (warm page cache);
4. times each tool as a child process: wall time per stage and whole-run peak RSS
   (`os.wait4`'s `ru_maxrss`):
   - `eloy calibrate NIGHT --out OUT` with its defaults (`--sync end`: every output
     fsynced behind the workers and waited for before the run ends; PNG previews of the
     masters), and again with `--no-sync --no-preview` (`--no-sync` = `--sync none`);
   - Python eloy's tutorial pipeline (`benches/eloy_tutorial.py`), with `--with-python`:
     a virtual environment with `pip install eloy astropy numpy` (or `--python PATH`);
   - Siril's equivalent script (`siril-cli -s`, one script per stage), with `--with-siril`
     (`apt-get install -y siril` when `siril-cli` is missing);
   - the floor: plain file I/O that reads every input and writes as many bytes as eloy
     wrote (8 MiB reads and writes), with as many threads as cores, without and with one
     sync of every file and the folder at the end; its time is the I/O's alone, without
     the interpreter's start-up;
5. prints a Markdown table (per-stage times, totals, peak RSS, ratios to eloy) and, with
   Python eloy, the largest absolute and relative difference between eloy's calibrated
   frames and Python eloy's, over every pixel (both write -1 for invalid pixels);
6. with `--threads-table`, times `eloy --threads N calibrate` for N = 1, 2, 4, ... up to
   the number of cores on the tutorial night.

Stage times: eloy's from the moment each line of its progress report appears (scan done,
each master built; previews of a master count in the next stage), Python eloy's from the
script's own clock (the import of numpy/astropy/eloy counts in its scan), Siril's from one
`siril-cli` process per stage. Totals are whole-process wall times. Results are also saved
as JSON in the work folder.

The driver needs only Python 3.9+ and its standard library (the frame comparison runs in
the Python eloy environment, which has numpy). CI never runs it.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHES = REPO / "benches"
KINDS = ("Bias", "Darks", "Flats", "ScienceImages")
STAGES = ("scan", "bias", "dark", "flat", "lights")
MIB = 1024 * 1024


def log(message):
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


class Run:
    """One timed child process: wall time, peak RSS, exit status, timestamped stderr."""

    def __init__(self, wall, rss_kib, code, lines, stdout):
        self.wall = wall
        self.rss_mib = rss_kib / 1024
        self.code = code
        self.lines = lines  # [(seconds since start, line)] of stderr
        self.stdout = stdout


def run_timed(cmd, cwd=None, log_path=None, env=None):
    """Runs `cmd`, timing it and reading its peak RSS from `os.wait4`."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines, out = [], []

    def read_err():
        for raw in proc.stderr:
            lines.append((time.perf_counter() - start, raw.decode(errors="replace").rstrip()))

    def read_out():
        out.append(proc.stdout.read().decode(errors="replace"))

    readers = [threading.Thread(target=read_err), threading.Thread(target=read_out)]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    for t in readers:
        t.join()
    stdout = "".join(out)
    if log_path:
        Path(log_path).write_text(
            f"$ {' '.join(map(str, cmd))}\n{stdout}\n"
            + "\n".join(f"[{t:8.3f}] {line}" for t, line in lines)
            + "\n"
        )
    # ru_maxrss is in KiB on Linux.
    return Run(wall, usage.ru_maxrss, proc.returncode, lines, stdout)


def check(run, what, log_path):
    if run.code != 0:
        tail = "\n".join(line for _, line in run.lines[-15:])
        sys.exit(f"{what} failed (exit {run.code}); log: {log_path}\n{tail}")


def warm(paths):
    """Reads every file once so that timed runs start with a warm page cache."""
    buffer = bytearray(8 * MIB)
    view = memoryview(buffer)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(view):
                pass


def fresh(folder):
    """Removes a previous run's outputs and flushes dirty pages, outside any timing."""
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()


def files_under(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- building


def cargo_target_dir():
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def build_eloy(args):
    if args.eloy:
        return Path(args.eloy).resolve()
    log("building eloy (cargo build --release -p eloy-cli)")
    subprocess.run(["cargo", "build", "--release", "-p", "eloy-cli"], cwd=REPO, check=True)
    return cargo_target_dir() / "release" / "eloy"


def python_env(args, work):
    """A Python with eloy, astropy and numpy: --python, or a venv made (once) in `work`."""
    if args.python:
        return Path(args.python)
    venv = work / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating a virtual environment in {venv} (pip install eloy astropy numpy)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "eloy", "astropy", "numpy"],
            check=True,
        )
    return python


def siril_cli():
    found = shutil.which("siril-cli")
    if found:
        return Path(found)
    log("siril-cli not found: installing Debian's siril (apt-get install -y siril)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "siril"], check=True, env=env)
    found = shutil.which("siril-cli")
    if not found:
        sys.exit("siril-cli still missing after installing siril")
    return Path(found)


def version_of(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


# --------------------------------------------------------------------------- nights


class Night:
    def __init__(self, name, rows, cols, calibration, lights, root):
        self.name, self.rows, self.cols = name, rows, cols
        self.calibration, self.lights = calibration, lights
        self.dir = root / f"{name}-{cols}x{rows}-{calibration}cal-{lights}lights" / "raw"

    def describe(self):
        return (
            f"{self.name} night: {self.cols}x{self.rows} u16, {self.calibration} bias, "
            f"{self.calibration} darks, {self.calibration} flats, {self.lights} lights"
        )

    def generate(self, eloy):
        stamp = self.dir / ".complete"
        if stamp.exists():
            log(f"reusing {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        log(f"writing the {self.describe()} into {self.dir}")
        cmd = [eloy, "synth", self.dir, "--rows", self.rows, "--cols", self.cols]
        cmd += ["--calibration", self.calibration, "--lights", self.lights]
        subprocess.run([str(c) for c in cmd], check=True)
        stamp.touch()

    def inputs(self):
        return [p for kind in KINDS for p in files_under(self.dir / kind)]

    def input_bytes(self):
        return sum(p.stat().st_size for p in self.inputs())


# --------------------------------------------------------------------------- the tools


def eloy_stages(run):
    """Stage times from the moments eloy's report lines appeared."""
    marks = {}
    for t, line in run.lines:
        if "scan" not in marks and " lights in " in line and "scan took" in line:
            marks["scan"] = t
        for kind in ("bias", "dark", "flat"):
            if kind not in marks and line.strip().startswith("built ") and f"_{kind}.fits" in line:
                marks[kind] = t
    times, last = {}, 0.0
    for stage in ("scan", "bias", "dark", "flat"):
        if stage in marks:
            times[stage] = marks[stage] - last
            last = marks[stage]
    times["lights"] = run.wall - last
    return times


def run_eloy(eloy, night, out, logs, tag, extra=(), threads=None):
    fresh(out)
    warm(night.inputs())
    cmd = [eloy] + (["--threads", threads] if threads else []) + ["calibrate", night.dir]
    cmd += ["--out", out, *extra]
    log_path = logs / f"{tag}.log"
    run = run_timed(cmd, log_path=log_path)
    check(run, "eloy calibrate", log_path)
    return {"stages": eloy_stages(run), "total": run.wall, "rss_mib": run.rss_mib}


def run_python(python, night, out, logs, tag):
    fresh(out)
    warm(night.inputs())
    log_path = logs / f"{tag}.log"
    run = run_timed([python, BENCHES / "eloy_tutorial.py", night.dir, out], log_path=log_path)
    check(run, "Python eloy", log_path)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    stages = report["stages"]
    stages["scan"] = stages.pop("import") + stages["scan"]
    return {
        "stages": stages,
        "total": run.wall,
        "rss_mib": run.rss_mib,
        "versions": report["versions"],
    }


def siril_scripts(night, work):
    """Siril 1.x scripts (one per stage) doing what the tutorial does: master bias (median),
    master dark (bias-subtracted, median), master flat (bias- and dark-subtracted, median of
    frames normalised multiplicatively), then every light calibrated with the three.

    Siril subtracts the master dark as it is (it has no exposure-scaled dark rate, except
    the costlier `-opt`): on this night the darks have the lights' exposure and the flats
    are short, so the flats' dark subtraction differs from eloy's numerically, not in work.
    Outputs are 32-bit float FITS, like eloy's. Frames are linked (symbolic links), not
    converted, into sequences."""

    def q(path):
        return f'"{path}"'

    head = "requires 1.0.0\nset32bits\nsetext fits\n"
    seq = work / "process"

    def link(kind, name):
        return f"cd {q(night.dir / kind)}\nlink {name} {q(f'-out={seq}')}\ncd {q(seq)}\n"

    return {
        "bias": head + link("Bias", "bias") + "stack bias med -nonorm -out=master_bias\n",
        "dark": head
        + link("Darks", "dark")
        + "preprocess dark -bias=master_bias\n"
        + "stack pp_dark med -nonorm -out=master_dark\n",
        "flat": head
        + link("Flats", "flat")
        + "preprocess flat -bias=master_bias -dark=master_dark\n"
        + "stack pp_flat med -norm=mul -out=master_flat\n",
        "lights": head
        + link("ScienceImages", "light")
        + "preprocess light -bias=master_bias -dark=master_dark -flat=master_flat\n",
    }


def run_siril(siril, night, work, logs, tag):
    fresh(work)
    (work / "process").mkdir(parents=True)
    warm(night.inputs())
    stages, peak, total = {}, 0.0, 0.0
    for stage, script in siril_scripts(night, work).items():
        path = work / f"{stage}.ssf"
        path.write_text(script)
        log_path = logs / f"{tag}-{stage}.log"
        run = run_timed([siril, "-d", work, "-s", path], log_path=log_path)
        failed = any("Script execution failed" in line for _, line in run.lines)
        if run.code != 0 or failed:
            run.code = run.code or 1
            check(run, f"Siril ({stage})", log_path)
        stages[stage] = run.wall
        total += run.wall
        peak = max(peak, run.rss_mib)
    lights = len(list((work / "process").glob("pp_light_*")))
    if lights != night.lights:
        sys.exit(f"Siril wrote {lights} calibrated lights, not {night.lights}; logs in {logs}")
    return {"stages": stages, "total": total, "rss_mib": peak}


def plain_io_child(argv):
    """The floor: read every input, write `sizes` bytes to as many files, with threads.
    Runs as a child process (`--plain-io-child LIST OUT THREADS SYNC`) to be timed."""
    inputs_list, out, threads, sync = argv
    spec = json.loads(Path(inputs_list).read_text())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chunk = 8 * MIB
    jobs = [("r", p, 0) for p in spec["inputs"]]
    jobs += [("w", out / f"out_{i:05}.bin", n) for i, n in enumerate(spec["sizes"])]
    lock = threading.Lock()
    local = threading.local()

    def work():
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = memoryview(bytearray(chunk))
        while True:
            with lock:
                if not jobs:
                    return
                mode, path, size = jobs.pop(0)
            if mode == "r":
                with open(path, "rb", buffering=0) as f:
                    while f.readinto(buffer):
                        pass
            else:
                with open(path, "wb", buffering=0) as f:
                    while size > 0:
                        size -= f.write(buffer[: min(size, chunk)])

    def sync_all(paths):
        while True:
            with lock:
                if not paths:
                    return
                path = paths.pop()
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def in_threads(target, *args):
        pool = [threading.Thread(target=target, args=args) for _ in range(int(threads))]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    written = [str(path) for mode, path, _ in jobs if mode == "w"]
    start = time.perf_counter()
    in_threads(work)
    if sync == "1":
        # One sync at the end, as eloy's default (--sync end): every file, then the folder.
        in_threads(sync_all, written)
        sync_all([str(out)])
    print(json.dumps({"elapsed": time.perf_counter() - start}))


def run_floor(night, eloy_out, out, logs, tag, sync):
    sizes = [p.stat().st_size for p in files_under(eloy_out)]
    spec = out.parent / f"{out.name}.json"
    fresh(out)
    spec.write_text(json.dumps({"inputs": [str(p) for p in night.inputs()], "sizes": sizes}))
    warm(night.inputs())
    cmd = [sys.executable, __file__, "--plain-io-child", spec, out, os.cpu_count() or 1]
    cmd.append("1" if sync else "0")
    log_path = logs / f"{tag}.log"
    run = run_timed(cmd, log_path=log_path)
    check(run, "plain I/O", log_path)
    # The I/O alone, without the interpreter's start-up (tens of milliseconds).
    elapsed = json.loads(run.stdout.strip().splitlines()[-1])["elapsed"]
    return {"stages": {}, "total": elapsed, "rss_mib": run.rss_mib, "bytes_written": sum(sizes)}


DIFF_CODE = r"""
import json, sys
from pathlib import Path
import numpy as np
from astropy.io import fits
ours, theirs = Path(sys.argv[1]), Path(sys.argv[2])
worst = {"max_abs": 0.0, "max_rel": 0.0, "validity_mismatch": 0, "frames": 0, "pixels": 0,
         "where_abs": None, "where_rel": None}
for theirs_file in sorted(theirs.glob("*.fits")):
    mine = ours / theirs_file.name
    a = fits.getdata(mine).astype(np.float64)
    b = fits.getdata(theirs_file).astype(np.float64)
    if a.shape != b.shape:
        sys.exit(f"{mine}: shape {a.shape}, Python eloy's {b.shape}")
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
    i, j = np.unravel_index(np.argmax(diff), diff.shape), np.unravel_index(np.argmax(rel), rel.shape)
    if diff[i] > worst["max_abs"]:
        worst["max_abs"], worst["where_abs"] = float(diff[i]), [theirs_file.name, *map(int, i), float(a[i]), float(b[i])]
    if rel[j] > worst["max_rel"]:
        worst["max_rel"], worst["where_rel"] = float(rel[j]), [theirs_file.name, *map(int, j), float(a[j]), float(b[j])]
    worst["validity_mismatch"] += int(np.count_nonzero((a == -1) != (b == -1)))
    worst["frames"] += 1
    worst["pixels"] += a.size
print(json.dumps(worst))
"""


def compare_frames(python, ours, theirs):
    out = subprocess.run(
        [str(python), "-c", DIFF_CODE, str(ours), str(theirs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- reporting


def median_result(results):
    """Medians, stage by stage, over repeated runs."""
    stages = {}
    for s in STAGES:
        values = [r["stages"][s] for r in results if s in r["stages"]]
        if values:
            stages[s] = statistics.median(values)
    merged = dict(results[0])
    merged.update(
        stages=stages,
        total=statistics.median(r["total"] for r in results),
        rss_mib=max(r["rss_mib"] for r in results),
        runs=len(results),
        totals=[round(r["total"], 3) for r in results],
    )
    return merged


def fmt_s(value):
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def ratio_text(value):
    return f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def table(night, rows, reference, fast):
    """Markdown table; ratios are each total over eloy's (default) and over eloy's with
    --no-sync --no-preview (what Python eloy and Siril do: no fsync, no pictures)."""
    lines = [
        f"**{night.describe()}** (seconds; median of the runs; peak RSS: largest of the runs)",
        "",
        "| tool | runs | scan | bias | dark | flat | lights | total | peak RSS "
        "| total / eloy | total / eloy --no-sync |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        cells = [fmt_s(r["stages"].get(s)) for s in STAGES]
        lines.append(
            f"| {name} | {r['runs']} | {' | '.join(cells)} | {fmt_s(r['total'])} "
            f"| {r['rss_mib']:.0f} MiB | {ratio_text(r['total'] / rows[reference]['total'])} "
            f"| {ratio_text(r['total'] / rows[fast]['total'])} |"
        )
    return "\n".join(lines)


def machine():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(
            int(line.split()[1]) // 1024 // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = "?"
    return f"{os.cpu_count()} cores, {cpu}, {mem} GiB RAM, Linux {platform.release()}"


# --------------------------------------------------------------------------- main


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-io-child":
        plain_io_child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lights", type=int, default=64, help="lights of the tutorial night (64)")
    p.add_argument("--calibration", type=int, default=16,
                   help="frames of each calibration kind of the tutorial night (16)")
    p.add_argument("--large", action="store_true",
                   help="also the large-sensor night (6248x4176, 20 of each kind, 8 lights)")
    p.add_argument("--large-only", action="store_true", help="only the large-sensor night")
    p.add_argument("--with-python", action="store_true", help="run Python eloy's tutorial")
    p.add_argument("--python", help="a Python with eloy, astropy and numpy (no venv made)")
    p.add_argument("--with-siril", action="store_true", help="run Siril (installs it if missing)")
    p.add_argument("--threads-table", action="store_true",
                   help="eloy --threads N for N = 1, 2, 4... up to the cores, tutorial night")
    p.add_argument("--repeat", type=int, default=3, help="runs of eloy and the floor (3)")
    p.add_argument("--repeat-others", type=int, default=1,
                   help="runs of Python eloy and Siril (1)")
    p.add_argument("--keep", help="work folder, kept (nights, venv and outputs reused)")
    p.add_argument("--eloy", help="an eloy binary to use instead of building one")
    args = p.parse_args()

    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="eloy-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    try:
        report = benchmark(args, work, logs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report)


def benchmark(args, work, logs):
    eloy = build_eloy(args)
    python = python_env(args, work) if args.with_python else None
    siril = siril_cli() if args.with_siril else None
    nights = []
    if not args.large_only:
        nights.append(Night("tutorial", 1020, 1530, args.calibration, args.lights, work))
    if args.large or args.large_only:
        nights.append(Night("large", 4176, 6248, 20, 8, work))
    for night in nights:
        night.generate(eloy)

    versions = {"eloy": version_of([eloy, "--version"])}
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                         capture_output=True, text=True)
    source = "binary given with --eloy" if args.eloy else f"built from {git.stdout.strip() or '?'}"
    versions["eloy"] += f" ({source})"
    if siril:
        versions["siril"] = version_of([siril, "--version"])
    out_lines = [f"machine: {machine()}", f"command: python3 benches/compare.py {' '.join(sys.argv[1:])}"]
    results = {"machine": machine(), "argv": sys.argv[1:], "nights": {}}

    for night in nights:
        log(f"== {night.describe()}: {night.input_bytes() / MIB:.0f} MiB of inputs")
        key = night.dir.parent.name
        runs = {"eloy": [], "eloy --no-sync --no-preview": [], "plain I/O": [],
                "plain I/O + final sync": [], "Python eloy": [], "Siril": []}
        eloy_out = work / key / "eloy-out"
        for i in range(max(args.repeat, args.repeat_others)):
            if i < args.repeat:
                log(f"eloy calibrate (run {i + 1})")
                runs["eloy"].append(run_eloy(eloy, night, eloy_out, logs, f"{key}-eloy-{i}"))
                written = files_under(eloy_out)
                log(f"plain I/O (run {i + 1})")
                runs["plain I/O"].append(
                    run_floor(night, eloy_out, work / key / "plain-io", logs, f"{key}-io-{i}", False))
                runs["plain I/O + final sync"].append(
                    run_floor(night, eloy_out, work / key / "plain-io", logs, f"{key}-iosync-{i}", True))
                log(f"eloy calibrate --no-sync --no-preview (run {i + 1})")
                runs["eloy --no-sync --no-preview"].append(
                    run_eloy(eloy, night, eloy_out, logs, f"{key}-eloy-fast-{i}",
                             extra=["--no-sync", "--no-preview"]))
                del written
            if i < args.repeat_others and python:
                log(f"Python eloy (run {i + 1})")
                runs["Python eloy"].append(
                    run_python(python, night, work / key / "python-out", logs, f"{key}-python-{i}"))
            if i < args.repeat_others and siril:
                log(f"Siril (run {i + 1})")
                runs["Siril"].append(run_siril(siril, night, work / key / "siril", logs, f"{key}-siril-{i}"))
        rows = {name: median_result(r) for name, r in runs.items() if r}
        if "Python eloy" in rows:
            versions.update({f"python {k}": v for k, v in rows["Python eloy"]["versions"].items()})
        out_lines += ["", table(night, rows, "eloy", "eloy --no-sync --no-preview")]
        night_result = {"rows": rows}
        if python:
            # The outputs of the last eloy run (--no-sync --no-preview; same pixels as the
            # default run) against the last Python eloy run's.
            ours = next(p for p in (eloy_out).iterdir() if p.is_dir() and p.name != "masters")
            diff = compare_frames(python, ours, work / key / "python-out")
            night_result["difference"] = diff
            out_lines += [
                "",
                f"eloy vs Python eloy, {diff['frames']} calibrated frames, {diff['pixels']} pixels:"
                f" largest absolute difference {diff['max_abs']:.3g} ADU"
                f" (eloy, Python eloy: {diff['where_abs'][3:] if diff['where_abs'] else '-'}),"
                f" largest relative difference {diff['max_rel']:.3g};"
                f" pixels valid in one and -1 in the other: {diff['validity_mismatch']}",
            ]
        floor = rows["plain I/O"]["total"]
        out_lines += [
            "",
            f"floor (plain I/O, {os.cpu_count()} threads, no fsync): {floor:.2f} s; "
            f"eloy --no-sync --no-preview is {rows['eloy --no-sync --no-preview']['total'] / floor:.2f}x it; "
            f"eloy (fsync) is {rows['eloy']['total'] / rows['plain I/O + final sync']['total']:.2f}x plain I/O + final sync",
        ]
        # How fast any tool reading these inputs and writing these bytes could be: the
        # peers' totals over the floor's are the largest ratios to them reachable here.
        durable = rows["plain I/O + final sync"]["total"]
        for peer in ("Python eloy", "Siril"):
            if peer in rows:
                out_lines.append(
                    f"{peer} / floor: {rows[peer]['total'] / floor:.1f}x without sync, "
                    f"{rows[peer]['total'] / durable:.1f}x with the final sync "
                    f"(eloy's default: {rows[peer]['total'] / rows['eloy']['total']:.1f}x)"
                )
        results["nights"][key] = night_result

    if args.threads_table:
        night = nights[0] if nights[0].name == "tutorial" else None
        if night is None:
            night = Night("tutorial", 1020, 1530, args.calibration, args.lights, work)
            night.generate(eloy)
        cores = os.cpu_count() or 1
        counts = sorted({1, cores} | {n for n in (2, 4, 8, 16, 32, 64) if n <= cores})
        lines = [
            "",
            f"**threads** ({night.describe()}; `eloy --threads N calibrate --no-sync --no-preview`;"
            f" median of {args.repeat})",
            "",
            "| threads | masters (s) | lights (s) | lights/s | total (s) | speed-up | peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        base = None
        table_rows = {}
        for n in counts:
            rs = [run_eloy(eloy, night, work / "threads-out", logs, f"threads-{n}-{i}", threads=n,
                           extra=["--no-sync", "--no-preview"])
                  for i in range(args.repeat)]
            r = median_result(rs)
            table_rows[n] = r
            masters = sum(r["stages"].get(s, 0) for s in ("bias", "dark", "flat"))
            base = base or r["total"]
            lines.append(
                f"| {n} | {masters:.2f} | {r['stages']['lights']:.2f} "
                f"| {night.lights / r['stages']['lights']:.1f} | {r['total']:.2f} "
                f"| {base / r['total']:.2f}x | {r['rss_mib']:.0f} MiB |"
            )
        out_lines += lines
        results["threads"] = table_rows

    out_lines.insert(2, "versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    results["versions"] = versions
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return "\n".join(out_lines)


if __name__ == "__main__":
    main()
