#!/usr/bin/env python
"""phaselib vs HyperSpy 2.5 at increasing map sizes, up to the full 1295 x 1820 x 2048 map.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_scale.py                        # 256^2, 512^2, 1024^2, full
    .venv/bin/python benchmarks/bench_scale.py --sizes 256x256,512x512 --keep-maps
    .venv/bin/python benchmarks/bench_scale.py --sizes full --modes phaselib,phaselib-dask

For every size, on the same synthetic rock (``phaselib.datasets.write_rock``, 200 counts/pixel):

* ``phaselib``       ``python -m phaselib map MAP.npy --out DIR --energy-offset -0.2
  --energy-scale 0.01 --beam-energy 20 --quiet`` (memory-mapped ``.npy``);
* ``phaselib-lazy``  the same on a row-chunked ``.zspy`` with ``--lazy``;
* ``phaselib-dask``  the same ``.npy`` command with ``--workers 2`` (a local Dask cluster);
* ``hs-eager``       HyperSpy: ``np.load`` -> ``Signal1D`` (EDS_SEM) -> ``change_dtype("float32")``
  -> ``decomposition(True, algorithm="SVD", output_dimension=24)`` -> k-means
  ``cluster_analysis`` (true k, k components);
* ``hs-lazy-svd``    HyperSpy lazy: ``hs.load(MAP.zspy, lazy=True)`` -> ``change_dtype("float32")``
  -> ``decomposition(True, algorithm="SVD", output_dimension=24)`` (HyperSpy 2.5's lazy
  SVD: ``svd_solver="randomized"``, ``dask.array.linalg.svd_compressed``) -> k-means;
* ``hs-lazy-ipca``   the same with ``algorithm="PCA"`` (HyperSpy 2.5's lazy name for
  scikit-learn's ``IncrementalPCA``, fed one chunk of 16 rows at a time) -> k-means.

Every run is a fresh process, watched by this script every ``--poll`` seconds: the
anonymous (``RssAnon``) and total (``VmRSS``) resident memory of the whole process tree
(``/proc/PID/task/*/children``, so Dask's worker processes are counted). Memory caps, so
that the machine never runs out:

* every child is killed (its whole process group) when its tree goes above ``--cap-gb``
  (HyperSpy: total RSS, as the data is read into anonymous memory; phaselib: anonymous
  memory, since the resident pages of a memory-mapped 9.7 GB ``.npy`` are page cache);
  reported as ``killed at 14 GB cap``;
* HyperSpy children also set ``RLIMIT_AS`` (``--as-limit-gb``, default cap + 2 GB: the
  address-space limit counts virtual reservations -- thread stacks, malloc arenas,
  OpenBLAS buffers -- about 1-1.5 GB above the RSS here, so a limit equal to the RSS cap
  would fail runs that fit); hitting it gives a ``MemoryError`` in the child;
* a wall-time limit (``--timeout-hyperspy``, ``--timeout``), reported as ``timeout``.

A HyperSpy mode that timed out at one size is not run at bigger sizes (reported as
skipped). Results: markdown tables on stdout, JSON in ``benchmarks/results/scale-<date>.json``.
Maps, ``.zspy`` copies, logs and outputs go to ``benchmarks/_work/scale/``; with the
default ``--cleanup`` the maps and outputs this script made are deleted once a size is
done (an existing full map given by ``--full-map`` is reused and never deleted).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bench_core as core  # noqa: E402  (environment, child env, HyperSpy signal set-up, ...)

WORK = HERE / "_work" / "scale"
FULL = (1295, 1820)
DEFAULT_FULL_MAP = Path("/work/bigmap/full_1295x1820_c200.npy")
ENERGY_OFFSET, ENERGY_SCALE, BEAM_ENERGY = core.ENERGY_OFFSET, core.ENERGY_SCALE, core.BEAM_ENERGY
N_PCA = 24
CHUNK_ROWS = 16
MODES = ("phaselib", "phaselib-lazy", "phaselib-dask", "hs-eager", "hs-lazy-svd", "hs-lazy-ipca")
HS_MODES = ("hs-eager", "hs-lazy-svd", "hs-lazy-ipca")
MODE_NAMES = {
    "phaselib": "phaselib (.npy, mmap)",
    "phaselib-lazy": "phaselib --lazy (.zspy)",
    "phaselib-dask": "phaselib --workers 2 (.npy)",
    "hs-eager": "HyperSpy eager SVD",
    "hs-lazy-svd": "HyperSpy lazy SVD (randomized)",
    "hs-lazy-ipca": "HyperSpy lazy IncrementalPCA",
}
HS_STAGES = ("import", "load", "change_dtype", "decomposition", "cluster")
MARK = "@@STAGE "
BARS = dict(time_s=120.0, anon_mb=2000.0, ari=0.97)  # the full-map bars of the issue


# ====================================================================== HyperSpy child
def _status_mb(key):
    with open("/proc/self/status") as fh:
        m = re.search(rf"^{key}:\s+(\d+)\s*kB", fh.read(), re.M)
    return int(m.group(1)) / 1024.0 if m else None


def hs_child(args):
    """One HyperSpy run (``--hs-child``); writes its record to ``args.result`` after every stage."""
    import resource

    t_start = time.perf_counter()
    if args.as_limit_mb > 0:
        lim = int(args.as_limit_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    rec = dict(mode=args.mode, ok=False, stages={}, as_limit_mb=args.as_limit_mb, source=None)
    meter = core.PeakMeter()
    result = Path(args.result)

    def dump():
        result.write_text(json.dumps(rec, indent=1, default=str))

    class Stage:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            print(f"{MARK}{self.name}", flush=True)
            rec["current_stage"] = self.name
            dump()
            self.rss0 = meter.start()
            self.t0 = time.perf_counter()

        def __exit__(self, et, ev, tb):
            dt = time.perf_counter() - self.t0
            peak = meter.stop()
            entry = dict(time_s=dt, rss_before_mb=self.rss0, peak_rss_mb=peak,
                         rss_after_mb=_status_mb("VmRSS"), anon_after_mb=_status_mb("RssAnon"),
                         vmsize_after_mb=_status_mb("VmSize"))
            if et is not None:
                import traceback

                entry["error"] = f"{et.__name__}: {str(ev)[:300]}"
                # where it failed: the innermost frames (file:line function)
                entry["where"] = [f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}"
                                  for f in traceback.extract_tb(tb)[-6:]]
                rec["status"] = "MemoryError" if issubclass(et, MemoryError) else "error"
                rec["error"] = entry["error"]
                rec["failed_stage"] = self.name
            rec["stages"][self.name] = entry
            dump()
            return False

    print(f"{MARK}import", flush=True)
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    import logging

    import exspy  # noqa: F401  (EDS_SEM)
    import hyperspy.api as hs
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    from sklearn.metrics import adjusted_rand_score

    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    rec["stages"]["import"] = dict(time_s=time.perf_counter() - t_start, peak_rss_mb=meter.hwm())
    dump()
    k = args.k
    n_init = args.n_init if args.n_init == "auto" else int(args.n_init)
    try:
        if args.mode == "hs-eager":
            with Stage("load"):
                s = core._hs_signal(hs, np.load(args.data))  # the signal holds the only reference
                rec["source"] = "np.load(.npy) -> Signal1D (EDS_SEM)"
        else:
            with Stage("load"):
                if args.zspy:
                    s = hs.load(args.zspy, lazy=True)
                    rec["source"] = f"hs.load(.zspy, lazy=True), chunks {s.data.chunksize}"
                else:  # no .zspy: a dask array over the memory-mapped .npy
                    import dask.array as da

                    arr = da.from_array(np.load(args.data, mmap_mode="r"), chunks=(CHUNK_ROWS, -1, -1))
                    s = core._hs_signal(hs, arr).as_lazy()
                    rec["source"] = f"da.from_array(np.load(.npy, mmap_mode='r')), chunks {arr.chunksize}"
                rec["signal_class"] = type(s).__name__
        with Stage("change_dtype"):
            s.change_dtype("float32")
        algorithm = {"hs-eager": "SVD", "hs-lazy-svd": "SVD", "hs-lazy-ipca": "PCA"}[args.mode]
        rec["decomposition_call"] = (f"decomposition(True, algorithm={algorithm!r}, "
                                     f"output_dimension={N_PCA})")
        with Stage("decomposition"):
            s.decomposition(True, algorithm=algorithm, output_dimension=N_PCA, print_info=False)
        with Stage("cluster"):
            s.cluster_analysis("decomposition", source_for_centers=None, preprocessing=None,
                               n_clusters=k, algorithm="kmeans", number_of_components=k,
                               n_init=n_init, random_state=0)
            masks = np.asarray(s.learning_results.cluster_labels, bool)
            labels = np.where(masks.any(0), masks.argmax(0), -1)
        truth = np.load(args.truth)["labels"]
        rec["ari"] = float(adjusted_rand_score(truth.ravel(), labels.ravel()))
        rec.update(ok=True, status="ok")
    except MemoryError:
        rec.setdefault("status", "MemoryError")
    except Exception as err:  # noqa: BLE001  (recorded; the parent reports it)
        rec.setdefault("status", "error")
        rec.setdefault("error", f"{type(err).__name__}: {str(err)[:300]}")
    rec.pop("current_stage", None)
    rec["child_total_s"] = time.perf_counter() - t_start
    dump()
    return 0 if rec["ok"] else 3


# ====================================================================== measuring a child
def _tree(pid):
    """pid and all its descendants (children of every thread, not just the main one)."""
    out = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids = fh.read().split()
        except OSError:
            continue
        for c in kids:
            out += _tree(int(c))
    return out


def _mem(pid):
    anon = rss = 0.0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) / 1024
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) / 1024
        except OSError:
            pass
    return anon, rss


def mem_available_mb():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def wait_for_memory(need_mb, max_wait, log=print):
    """Wait (at most ``max_wait`` s) until the machine has ``need_mb`` available; returns what it has."""
    t0 = time.perf_counter()
    told = False
    while True:
        avail = mem_available_mb()
        if avail >= need_mb or time.perf_counter() - t0 > max_wait:
            if told:
                log(f"    (memory: {avail / 1024:.1f} GB available after {time.perf_counter() - t0:.0f} s)", flush=True)
            return avail
        if not told:
            log(f"    (waiting for memory: {avail / 1024:.1f} GB available, want {need_mb / 1024:.1f} GB; "
                "other processes hold the rest)", flush=True)
            told = True
        time.sleep(2)


GUARD_MB = 1024.0  # kill a child when the machine has less than this available (other processes grew)


def run_watched(cmd, *, log, timeout, cap_mb, cap_on, poll, env):
    """Run ``cmd`` in its own process group, poll its tree's memory, enforce the cap and timeout.

    Returns a dict: rc, wall_s, peak_anon_mb, peak_rss_mb, kernel_maxrss_mb (one process, from
    wait4), stage_peaks {stage: {anon_mb, rss_mb}} (from ``@@STAGE`` lines of the child),
    killed ('cap' / 'timeout' / None), killed_stage, other_cpus.
    """
    stage = {"name": "whole"}
    peaks = {}
    busy0 = core._busy_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                            start_new_session=True)

    def reader():
        with open(log, "wb") as fh:
            for line in proc.stdout:
                fh.write(line)
                if line.startswith(MARK.encode()):
                    stage["name"] = line[len(MARK):].decode().strip()
        proc.stdout.close()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    peak_anon = peak_rss = 0.0
    killed = killed_stage = None
    status = ru = None
    while True:
        pid, st, r = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, ru = st, r
            break
        anon, rss = _mem(proc.pid)
        peak_anon, peak_rss = max(peak_anon, anon), max(peak_rss, rss)
        cur = stage["name"]
        pk = peaks.setdefault(cur, {"anon_mb": 0.0, "rss_mb": 0.0})
        pk["anon_mb"], pk["rss_mb"] = max(pk["anon_mb"], anon), max(pk["rss_mb"], rss)
        over = (rss if cap_on == "rss" else anon) > cap_mb
        late = time.perf_counter() - t0 > timeout
        low = mem_available_mb() < GUARD_MB
        if (over or late or low) and killed is None:
            killed, killed_stage = ("cap" if over else "timeout" if late else "low-memory"), cur
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(poll)
    wall = time.perf_counter() - t0
    th.join(timeout=10)
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    if killed:  # leftovers of the group (e.g. Dask workers)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    other = max(0.0, (core._busy_cpu_s() - busy0) - (ru.ru_utime + ru.ru_stime)) / max(wall, 1e-9)
    return dict(rc=rc, wall_s=wall, peak_anon_mb=peak_anon, peak_rss_mb=max(peak_rss, ru.ru_maxrss / 1024),
                polled_peak_rss_mb=peak_rss, kernel_maxrss_mb=ru.ru_maxrss / 1024, stage_peaks=peaks,
                killed=killed, killed_stage=killed_stage, other_cpus=other)


def _tail(log, n=3):
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in re.split(r"[\r\n]", text) if ln.strip() and not ln.startswith(MARK)]
    return " | ".join(lines[-n:])[-300:]


def _failure(m, args, timeout, log, cap_label):
    if m["killed"] == "cap":
        return f"killed at {cap_label} cap"
    if m["killed"] == "timeout":
        return f"timeout ({timeout:g} s)"
    if m["killed"] == "low-memory":
        return f"killed: machine below {GUARD_MB / 1024:g} GB available (other processes' memory)"
    rc = m["rc"]
    if rc < 0:
        name = signal.Signals(-rc).name
        return f"killed by {name}" + (" (kernel OOM?)" if name == "SIGKILL" else "")
    tail = _tail(log)
    if "MemoryError" in tail or "Unable to allocate" in tail:
        return "MemoryError"
    return f"exit {rc}: {tail[-160:]}"


# ====================================================================== maps
def _truth_of(npy):
    return npy.with_name(npy.stem + "_truth.npz")


def ensure_map(shape, args, created, prep):
    """The ``.npy`` map of ``shape`` and its truth: the given full map, or one written here."""
    if tuple(shape) == FULL and args.full_map and Path(args.full_map).exists():
        path = Path(args.full_map)
        truth = _truth_of(path)
        if not truth.exists():
            raise SystemExit(f"{truth} is missing (the full map's truth)")
        import numpy as np

        with np.load(truth) as t:
            opts = json.loads(str(t["options"]))
            if tuple(t["labels"].shape) != FULL or float(opts["counts_per_pixel"]) != float(args.counts):
                raise SystemExit(f"{path}: not a {FULL} map at {args.counts:g} counts/pixel")
        print(f"  reusing {path} (seed {opts.get('seed')}, {opts['counts_per_pixel']:g} counts/pixel)",
              flush=True)
        return path, truth, opts.get("seed")
    h, w = shape
    path = WORK / f"rock_{h}x{w}_c{args.counts:g}_s{args.seed}.npy"
    truth = _truth_of(path)
    if not (path.exists() and truth.exists()):
        need = h * w * 2048 * 2 / 1e9
        free = shutil.disk_usage(WORK).free / 1e9
        if need * 1.3 > free:
            raise SystemExit(f"{path.name} needs {need:.1f} GB; only {free:.1f} GB free")
        print(f"  writing {path.relative_to(ROOT)} ({need:.2f} GB) ...", flush=True)
        code = ("from phaselib.datasets import write_rock; "
                f"write_rock({str(path)!r}, ({h}, {w}), counts_per_pixel={args.counts!r}, "
                f"seed={args.seed}, overwrite=True)")
        m = run_watched([sys.executable, "-c", code], log=WORK / "logs" / f"write_{h}x{w}.log",
                        timeout=3600, cap_mb=args.cap_gb * 1024, cap_on="anon", poll=args.poll, env=core._env())
        prep.append(dict(what="write_rock", size=f"{h}x{w}", path=str(path), ok=m["rc"] == 0,
                         **{k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb")}))
        if m["rc"] != 0:
            raise SystemExit(f"write_rock failed: see {WORK / 'logs' / f'write_{h}x{w}.log'}")
        print(f"    {m['wall_s']:.1f} s, peak anon {m['peak_anon_mb']:.0f} MB", flush=True)
        created.update({path, truth})
    return path, truth, args.seed


def ensure_zspy(npy, shape, args, created, prep):
    """A row-chunked ``.zspy`` copy (``phaselib.io.save``), or None when it can't be written."""
    h, w = shape
    z = WORK / f"{npy.stem}.zspy"
    if z.exists() and (z / ".zmetadata").exists():
        return z
    shutil.rmtree(z, ignore_errors=True)
    print(f"  writing {z.relative_to(ROOT)} (chunks ({CHUNK_ROWS}, {w}, 2048)) ...", flush=True)
    code = ("import phaselib, phaselib.io; "
            f"img = phaselib.load({str(npy)!r}, energy_offset={ENERGY_OFFSET}, energy_scale={ENERGY_SCALE}, "
            f"beam_energy={BEAM_ENERGY}); "
            f"phaselib.io.save(img, {str(z)!r}, chunks=({CHUNK_ROWS}, {w}, 2048))")
    log = WORK / "logs" / f"zspy_{h}x{w}.log"
    m = run_watched([sys.executable, "-c", code], log=log, timeout=3600, cap_mb=args.cap_gb * 1024,
                    cap_on="anon", poll=args.poll, env=core._env())
    size_gb = sum(f.stat().st_size for f in z.rglob("*") if f.is_file()) / 1e9 if z.exists() else 0.0
    ok = m["rc"] == 0
    prep.append(dict(what="zspy", size=f"{h}x{w}", path=str(z), ok=ok, disk_gb=size_gb,
                     error=None if ok else _failure(m, args, 3600, log, f"{args.cap_gb:g} GB"),
                     **{k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb")}))
    created.add(z)
    if not ok:
        print(f"    FAILED ({prep[-1]['error']}); HyperSpy's lazy runs use a dask array over the memmap",
              flush=True)
        shutil.rmtree(z, ignore_errors=True)
        return None
    print(f"    {m['wall_s']:.1f} s, peak anon {m['peak_anon_mb']:.0f} MB, peak RSS {m['peak_rss_mb']:.0f} MB, "
          f"{size_gb:.2f} GB on disk", flush=True)
    return z


# ====================================================================== runs
def _ari(labels, truth_labels):
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth_labels.ravel(), labels.ravel()))


def run_phaselib(mode, size, npy, zspy, truth_labels, args, i, ref_labels):
    import numpy as np

    tag = f"{mode}_{size}_{i}"
    out = WORK / "out" / tag
    shutil.rmtree(out, ignore_errors=True)
    src = zspy if mode == "phaselib-lazy" else npy
    cmd = [sys.executable, "-m", "phaselib", "map", str(src), "--out", str(out),
           "--energy-offset", str(ENERGY_OFFSET), "--energy-scale", str(ENERGY_SCALE),
           "--beam-energy", f"{BEAM_ENERGY:g}", "--quiet"]
    if mode == "phaselib-lazy":
        cmd.insert(5, "--lazy")
    elif mode == "phaselib-dask":
        cmd += ["--workers", str(args.workers)]
    rec = dict(mode=mode, size=size, run=i, command=" ".join(cmd[1:]), cap=f"anon > {args.cap_gb:g} GB",
               phaselib_sha256=core._source_digest()["sha256"])
    quiet = core.wait_for_quiet(args.wait_idle, log=print)
    rec["mem_available_before_mb"] = wait_for_memory(4096 + GUARD_MB, args.wait_memory)
    log = WORK / "logs" / f"{tag}.log"
    m = run_watched(cmd, log=log, timeout=args.timeout, cap_mb=args.cap_gb * 1024, cap_on="anon",
                    poll=args.poll, env=core._env())
    rec.update({k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb", "polled_peak_rss_mb",
                                  "kernel_maxrss_mb", "other_cpus")}, busy_before=quiet)
    if m["rc"] != 0 or not (out / "labels.npy").exists():
        rec.update(ok=False, status=_failure(m, args, args.timeout, log, f"{args.cap_gb:g} GB anon"),
                   log=str(log))
        return rec, None
    labels = np.load(out / "labels.npy")
    summary = json.loads((out / "summary.json").read_text())
    rec.update(ok=True, status="ok", ari=_ari(labels, truth_labels), n_phases=summary.get("n_phases"),
               stage_times_s=summary.get("timings_s"), inner_wall_s=summary.get("wall_time_s"),
               inner_peak_memory_mb=summary.get("peak_memory_mb"),
               unassigned_fraction=summary.get("unassigned_fraction"))
    if ref_labels is not None:
        rec["labels_equal_local"] = bool(np.array_equal(labels, ref_labels))
        rec["labels_differ_px"] = int(np.count_nonzero(labels != ref_labels))
        rec["ari_vs_local"] = _ari(labels, ref_labels)
    if not args.keep_outputs and not (mode == "phaselib" and i == 0):
        shutil.rmtree(out, ignore_errors=True)
    return rec, labels


def run_hyperspy(mode, size, npy, zspy, truth, k, args, i):
    tag = f"{mode}_{size}_{i}"
    result = WORK / "logs" / f"{tag}.json"
    result.unlink(missing_ok=True)
    # the child may grow to the cap: wait until the machine has that much to spare; if another
    # user's processes keep holding memory, lower this run's cap (recorded) rather than risk the machine
    quiet = core.wait_for_quiet(args.wait_idle, log=print)
    avail = wait_for_memory(args.cap_gb * 1024 + GUARD_MB + 512, args.wait_memory)
    cap_mb = min(args.cap_gb * 1024, avail - GUARD_MB - 512)
    as_mb = (cap_mb + (args.as_limit_gb - args.cap_gb) * 1024) if args.as_limit_gb > 0 else 0
    cap_label = f"{cap_mb / 1024:.3g} GB" + ("" if cap_mb >= args.cap_gb * 1024 else
                                            " (lowered: other processes held memory)")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--hs-child", "--mode", mode, "--data", str(npy),
           "--truth", str(truth), "--k", str(k), "--result", str(result), "--n-init", str(args.hs_n_init),
           "--as-limit-mb", str(as_mb)]
    if zspy is not None and mode != "hs-eager":
        cmd += ["--zspy", str(zspy)]
    rec = dict(mode=mode, size=size, run=i, cap=f"RSS > {cap_label} (polled), RLIMIT_AS "
               + (f"{as_mb / 1024:.3g} GB" if as_mb > 0 else "off"), cap_mb=cap_mb, as_limit_mb=as_mb,
               mem_available_before_mb=avail, timeout_s=args.timeout_hyperspy)
    log = WORK / "logs" / f"{tag}.log"
    m = run_watched(cmd, log=log, timeout=args.timeout_hyperspy, cap_mb=cap_mb, cap_on="rss",
                    poll=args.poll, env=core._env())
    rec.update({k_: m[k_] for k_ in ("wall_s", "peak_anon_mb", "peak_rss_mb", "polled_peak_rss_mb",
                                     "kernel_maxrss_mb", "other_cpus", "stage_peaks")}, busy_before=quiet)
    child = json.loads(result.read_text()) if result.exists() else {}
    rec["stages"] = child.get("stages", {})
    # the child resets its VmHWM at each stage (exact stage peaks), so wait4's maxrss is only the
    # last stage's: the whole run's peak RSS is the largest of the polled and the stage peaks
    rec["peak_rss_mb"] = max([m["polled_peak_rss_mb"]] + [v.get("peak_rss_mb") or 0 for v in rec["stages"].values()])
    for key in ("source", "signal_class", "decomposition_call", "ari", "as_limit_mb", "error"):
        if key in child:
            rec[key] = child[key]
    if m["rc"] == 0 and child.get("ok"):
        rec.update(ok=True, status="ok")
    else:
        rec["ok"] = False
        rec["log"] = str(log)
        if m["killed"]:
            rec["status"] = _failure(m, args, args.timeout_hyperspy, log, cap_label)
            rec["failed_stage"] = m["killed_stage"]
        elif child.get("status") == "MemoryError":
            rec["status"] = "MemoryError" + (" (RLIMIT_AS)" if args.as_limit_gb > 0 else "")
            rec["failed_stage"] = child.get("failed_stage")
        elif child.get("status") == "error":
            rec["status"] = f"error: {child.get('error', '')[:160]}"
            rec["failed_stage"] = child.get("failed_stage")
        else:
            rec["status"] = _failure(m, args, args.timeout_hyperspy, log, cap_label)
            rec["failed_stage"] = child.get("current_stage")
    return rec


# ====================================================================== summary
def _med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarise(runs, sizes, modes):
    """One row per (size, mode, stage), medians over the successful runs."""
    rows = []
    for size in sizes:
        for mode in modes:
            recs = [r for r in runs if r["size"] == size and r["mode"] == mode]
            if not recs:
                continue
            ok = [r for r in recs if r.get("ok")]
            bad = [r for r in recs if not r.get("ok")]
            statuses = sorted({r["status"] + (f" during {r['failed_stage']}" if r.get("failed_stage") else "")
                               for r in bad})
            status = "ok" if not bad else ("; ".join(statuses) if not ok else
                                           f"ok ({len(bad)} of {len(recs)} failed: {'; '.join(statuses)})")
            whole = dict(size=size, mode=mode, stage="whole", n=len(ok), runs=len(recs),
                         time_s=_med([r["wall_s"] for r in ok]),
                         anon_mb=_med([r["peak_anon_mb"] for r in ok]),
                         rss_mb=_med([r["peak_rss_mb"] for r in ok]),
                         ari=_med([r.get("ari") for r in ok]), status=status,
                         times=[round(r["wall_s"], 2) for r in ok],
                         disturbed=sum(r.get("other_cpus", 0) > core.OTHER_LOAD_FLAG for r in ok))
            if not ok and bad:  # how far the failed run got
                r = bad[0]
                whole.update(time_s=None, failed_after_s=r["wall_s"], anon_mb=r["peak_anon_mb"],
                             rss_mb=r["peak_rss_mb"])
            if mode in ("phaselib-dask", "phaselib-lazy"):
                whole["labels_equal_local"] = [r.get("labels_equal_local") for r in ok]
                whole["labels_differ_px"] = [r.get("labels_differ_px") for r in ok]
                whole["ari_vs_local"] = _med([r.get("ari_vs_local") for r in ok])
            stage_rows = []
            if mode.startswith("phaselib"):
                names = []
                for r in ok:
                    for s in (r.get("stage_times_s") or {}):
                        if s not in names:
                            names.append(s)
                for s in names:
                    stage_rows.append(dict(size=size, mode=mode, stage=s, n=len(ok), runs=len(recs),
                                           time_s=_med([(r.get("stage_times_s") or {}).get(s) for r in ok]),
                                           anon_mb=None, rss_mb=None, ari=None, status="ok"))
            else:
                src = ok or bad
                for s in HS_STAGES:
                    done = [r for r in src if s in r.get("stages", {}) and "error" not in r["stages"][s]]
                    failed_here = [r for r in bad if r.get("failed_stage") == s]
                    if not done and not failed_here:
                        continue
                    pool = done or failed_here
                    st = "ok" if done else whole["status"]
                    stage_rows.append(dict(
                        size=size, mode=mode, stage=s, n=len(done), runs=len(recs),
                        time_s=_med([r["stages"][s]["time_s"] for r in done]) if done else None,
                        anon_mb=_med([r.get("stage_peaks", {}).get(s, {}).get("anon_mb") for r in pool]),
                        rss_mb=_med([max(r.get("stages", {}).get(s, {}).get("peak_rss_mb") or 0,
                                         r.get("stage_peaks", {}).get(s, {}).get("rss_mb") or 0) or None
                                     for r in pool]),
                        ari=None, status=st))
            rows += stage_rows + [whole]
    return rows


def _f(v, spec, none="–"):
    return none if v is None else format(v, spec)


def _t(v):
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def markdown_main(rows):
    out = ["| size | tool/mode | stage | median s (n) | peak anon MB | peak RSS MB | ARI vs truth | status |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = _t(r["time_s"])
        if r["time_s"] is not None:
            t += f" (n={r['n']})" + ("†" if r.get("disturbed") else "")
        elif r.get("failed_after_s") is not None:
            t = f"failed after {r['failed_after_s']:.0f}"
        ari = _f(r.get("ari"), ".4f")
        if r.get("ari_vs_local") is not None:
            eq = r.get("labels_equal_local") or []
            diff = [d for d in r.get("labels_differ_px") or [] if d]
            ari += (f" (vs local run: ARI {r['ari_vs_local']:.4f}, identical {sum(bool(e) for e in eq)}/{len(eq)}"
                    + (f", {max(diff)} px differ" if diff else "") + ")")
        stage = "**whole**" if r["stage"] == "whole" else r["stage"]
        out.append(f"| {r['size']} | {MODE_NAMES[r['mode']]} | {stage} | {t} | {_f(r['anon_mb'], '.0f')} "
                   f"| {_f(r['rss_mb'], '.0f')} | {ari} | {r['status']} |")
    return "\n".join(out)


def ratios(rows, sizes):
    """HyperSpy / phaselib, where both ran: whole run, and decomposition vs phaselib's pca stage."""
    get = {(r["size"], r["mode"], r["stage"]): r for r in rows}
    out = []
    for size in sizes:
        pl = get.get((size, "phaselib", "whole"))
        pl_pca = get.get((size, "phaselib", "pca"))
        if not pl or pl["time_s"] is None:
            continue
        for mode in HS_MODES:
            hs = get.get((size, mode, "whole"))
            if not hs or hs["time_s"] is None:
                continue
            dec = get.get((size, mode, "decomposition"))
            out.append(dict(
                size=size, mode=mode, hs_s=hs["time_s"], pl_s=pl["time_s"], speed=hs["time_s"] / pl["time_s"],
                dec_speed=(dec["time_s"] / pl_pca["time_s"]) if dec and pl_pca and dec["time_s"] and
                pl_pca["time_s"] else None,
                hs_rss=hs["rss_mb"], pl_anon=pl["anon_mb"], pl_rss=pl["rss_mb"],
                mem_rss=hs["rss_mb"] / pl["rss_mb"], mem_anon=hs["rss_mb"] / pl["anon_mb"],
                hs_ari=hs["ari"], pl_ari=pl["ari"]))
    return out


def markdown_ratios(rat):
    out = ["| size | HyperSpy mode | HyperSpy whole s | phaselib whole s | speed ratio (whole) "
           "| decomposition / phaselib pca | HyperSpy peak RSS MB | phaselib peak anon / RSS MB "
           "| memory ratio (RSS / RSS; RSS / phaselib anon) | ARI HyperSpy / phaselib |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rat:
        out.append(f"| {r['size']} | {MODE_NAMES[r['mode']]} | {_t(r['hs_s'])} | {_t(r['pl_s'])} "
                   f"| {r['speed']:.1f}x | {_f(r['dec_speed'], '.1f')}x | {r['hs_rss']:.0f} "
                   f"| {r['pl_anon']:.0f} / {r['pl_rss']:.0f} | {r['mem_rss']:.1f}x; {r['mem_anon']:.1f}x "
                   f"| {_f(r['hs_ari'], '.3f')} / {_f(r['pl_ari'], '.4f')} |")
    return "\n".join(out)


def bars_check(rows):
    get = {(r["size"], r["mode"], r["stage"]): r for r in rows}
    out = {}
    for mode in ("phaselib", "phaselib-lazy", "phaselib-dask"):
        r = get.get(("full", mode, "whole"))
        if not r or r["time_s"] is None:
            continue
        out[mode] = dict(time_s=r["time_s"], anon_mb=r["anon_mb"], ari=r["ari"],
                         time_ok=r["time_s"] < BARS["time_s"], anon_ok=r["anon_mb"] < BARS["anon_mb"],
                         ari_ok=(r["ari"] or 0) >= BARS["ari"])
        out[mode]["all_ok"] = out[mode]["time_ok"] and out[mode]["anon_ok"] and out[mode]["ari_ok"]
    return out


# ====================================================================== main
def _parse_sizes(text):
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "full":
            sizes.append(FULL)
            continue
        try:
            h, w = (int(v) for v in part.split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes are HxW or 'full', comma-separated; got {text!r}") from None
        sizes.append((h, w))
    return sizes


def _size_name(shape):
    return "full" if tuple(shape) == FULL else f"{shape[0]}x{shape[1]}"


def build_parser():
    p = argparse.ArgumentParser(description="phaselib vs HyperSpy 2.5 at increasing map sizes.")
    p.add_argument("--sizes", type=_parse_sizes, default=_parse_sizes("256x256,512x512,1024x1024,full"),
                   help="HxW or 'full' (1295x1820), comma-separated (default 256x256,512x512,1024x1024,full)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--lazy-sizes", type=_parse_sizes, default=_parse_sizes("1024x1024,full"),
                   help="sizes for phaselib-lazy and phaselib-dask (default 1024x1024,full)")
    p.add_argument("--full-map", default=str(DEFAULT_FULL_MAP) if DEFAULT_FULL_MAP.exists() else None,
                   help="an existing full map (.npy + _truth.npz) to reuse (default %(default)s)")
    p.add_argument("--counts", type=float, default=200.0, help="counts per pixel (default 200)")
    p.add_argument("--seed", type=int, default=11, help="seed of the maps written here (default 11, as the "
                   "full map)")
    p.add_argument("--repeat", type=int, default=3, help="phaselib .npy runs per size up to 1024^2 (default 3)")
    p.add_argument("--repeat-full", type=int, default=2, help="phaselib .npy runs on the full map (default 2)")
    p.add_argument("--repeat-other", type=int, default=1, help="phaselib --lazy / --workers runs (default 1)")
    p.add_argument("--repeat-hyperspy-small", type=int, default=3,
                   help="HyperSpy runs per mode on maps up to 256x256 px (default 3)")
    p.add_argument("--repeat-hyperspy", type=int, default=1, help="HyperSpy runs per mode on bigger maps (default 1)")
    p.add_argument("--workers", type=int, default=2, help="Dask workers for phaselib-dask (default 2)")
    p.add_argument("--hs-n-init", default="match",
                   help="HyperSpy KMeans n_init (default: phaselib.cluster.kmeans's default, as bench_core)")
    p.add_argument("--cap-gb", type=float, default=14.0, help="kill a child above this memory (default 14)")
    p.add_argument("--as-limit-gb", type=float, default=None,
                   help="RLIMIT_AS of the HyperSpy children (default cap + 2; 0: none)")
    p.add_argument("--timeout-hyperspy", type=float, default=600.0, help="seconds per HyperSpy run (default 600)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per phaselib run (default 900)")
    p.add_argument("--poll", type=float, default=0.05, help="memory polling interval, s (default 0.05)")
    p.add_argument("--wait-idle", type=float, default=60.0, metavar="SECONDS",
                   help="before each run wait up to SECONDS for other processes to use < 0.3 CPU (default 60)")
    p.add_argument("--wait-memory", type=float, default=1800.0, metavar="SECONDS",
                   help="before a run wait up to SECONDS for cap + 1.5 GB of available memory (HyperSpy; "
                   "phaselib: 5 GB); then a HyperSpy run gets a lower cap (default 1800)")
    p.add_argument("--retry-low-memory", type=int, default=2,
                   help="runs again a run killed because the machine ran low (other processes) (default 2)")
    p.add_argument("--keep-maps", dest="cleanup", action="store_false",
                   help="keep the maps and .zspy copies written here (default: delete each size's when done)")
    p.add_argument("--keep-outputs", action="store_true", help="keep the phaselib output folders")
    p.add_argument("--json", type=Path, default=None, help="default benchmarks/results/scale-<date>.json")
    p.add_argument("--merge-from", type=Path, default=None, metavar="JSON",
                   help="an earlier result: its runs of the modes not run now (e.g. HyperSpy's, which do not "
                        "depend on phaselib's source) are merged into this one's tables and JSON")
    # HyperSpy child (internal)
    p.add_argument("--hs-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--zspy", help=argparse.SUPPRESS)
    p.add_argument("--truth", help=argparse.SUPPRESS)
    p.add_argument("--k", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n-init", default="4", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--as-limit-mb", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.hs_child:
        return hs_child(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown mode(s) {bad}; choose from {MODES}")
    if args.as_limit_gb is None:
        args.as_limit_gb = args.cap_gb + 2
    if args.hs_n_init == "match":
        args.hs_n_init = str(core._phaselib_kmeans_n_init())
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    (WORK / "out").mkdir(parents=True, exist_ok=True)

    env = core.environment()
    du = shutil.disk_usage(WORK)
    print("# phaselib vs HyperSpy 2.5 at scale\n")
    print(f"- date: {env['date']}")
    print(f"- machine: {env['cpu']}; {env['cpu_count']} CPUs; {env.get('memory_gb', '?')} GiB RAM; "
          f"{env['platform']}; Python {env['python']}; disk free {du.free / 1e9:.0f} GB")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    src = env["phaselib_source"]
    print(f"- phaselib source: sha256 {src['sha256']} of {src['n_files']} files (newest {src['newest_file_mtime']})")
    print(f"- sizes {', '.join(_size_name(s) for s in args.sizes)}; modes {', '.join(modes)}; "
          f"lazy/dask sizes {', '.join(_size_name(s) for s in args.lazy_sizes)}")
    print(f"- caps: kill above {args.cap_gb:g} GB (HyperSpy: RSS; phaselib: anon), polled every {args.poll:g} s; "
          f"HyperSpy RLIMIT_AS {args.as_limit_gb:g} GB; timeouts: HyperSpy {args.timeout_hyperspy:g} s, "
          f"phaselib {args.timeout:g} s\n", flush=True)

    runs, prep = [], []
    created = set()
    hs_timed_out = {}
    t_all = time.perf_counter()
    try:
        for shape in args.sizes:
            size = _size_name(shape)
            print(f"## {size} ({shape[0]}x{shape[1]} px x 2048 ch, {shape[0] * shape[1] * 4096 / 1e9:.2f} GB)",
                  flush=True)
            import numpy as np

            npy, truth, seed = ensure_map(shape, args, created, prep)
            with np.load(truth) as t:
                truth_labels = t["labels"]
                k = int(len(t["phase_names"]))
            big = shape[0] * shape[1] > 256 * 256
            in_lazy = tuple(shape) in [tuple(s) for s in args.lazy_sizes]
            need_zspy = any(m in modes for m in ("hs-lazy-svd", "hs-lazy-ipca")) or \
                ("phaselib-lazy" in modes and in_lazy)
            ref = None

            def retry(fn, *fn_args):
                """Run again a run killed because other processes left the machine short of memory."""
                out = fn(*fn_args)
                for _ in range(args.retry_low_memory):
                    rec_ = out[0] if isinstance(out, tuple) else out
                    if not str(rec_.get("status", "")).startswith("killed: machine below"):
                        break
                    print(f"    ({rec_['mode']} run killed: machine low on memory because of other processes; "
                          "running it again)", flush=True)
                    out = fn(*fn_args)
                return out

            def show(rec):
                if rec["ok"]:
                    msg = (f"{rec['wall_s']:7.1f} s  anon {rec['peak_anon_mb']:6.0f} MB  "
                           f"RSS {rec['peak_rss_mb']:6.0f} MB"
                           + (f"  ARI {rec['ari']:.4f}" if rec.get("ari") is not None else ""))
                    if rec.get("stage_times_s"):
                        msg += "  [" + ", ".join(f"{k_} {v:.1f}" for k_, v in rec["stage_times_s"].items()) + "]"
                    if rec.get("stages"):
                        msg += "  [" + ", ".join(f"{k_} {v['time_s']:.1f}" for k_, v in rec["stages"].items()) + "]"
                    if "labels_equal_local" in rec:
                        msg += f"  identical to local: {rec['labels_equal_local']} (ARI {rec['ari_vs_local']:.4f})"
                    if rec.get("other_cpus", 0) > core.OTHER_LOAD_FLAG:
                        msg += f"  [other processes used {rec['other_cpus']:.1f} CPUs]"
                else:
                    msg = (f"FAILED: {rec['status']}" + (f" during {rec['failed_stage']}" if rec.get("failed_stage")
                                                          else "")
                           + f" after {rec['wall_s']:.0f} s (peak anon {rec['peak_anon_mb']:.0f} MB, "
                           f"RSS {rec['peak_rss_mb']:.0f} MB)")
                print(f"  {MODE_NAMES[rec['mode']]:32s} {rec['size']} run {rec['run'] + 1}: {msg}", flush=True)

            if "phaselib" in modes:
                n = args.repeat_full if tuple(shape) == FULL else args.repeat
                for i in range(n):
                    rec, labels = retry(run_phaselib, "phaselib", size, npy, None, truth_labels, args, i, None)
                    runs.append(rec)
                    show(rec)
                    if ref is None and labels is not None:
                        ref = labels
            if "phaselib-dask" in modes and in_lazy:
                for i in range(args.repeat_other):
                    rec, _ = retry(run_phaselib, "phaselib-dask", size, npy, None, truth_labels, args, i, ref)
                    runs.append(rec)
                    show(rec)
            zspy = ensure_zspy(npy, shape, args, created, prep) if need_zspy else None
            if "phaselib-lazy" in modes and in_lazy and zspy is not None:
                for i in range(args.repeat_other):
                    rec, _ = retry(run_phaselib, "phaselib-lazy", size, npy, zspy, truth_labels, args, i, ref)
                    runs.append(rec)
                    show(rec)
            for mode in HS_MODES:
                if mode not in modes:
                    continue
                if mode in hs_timed_out:
                    rec = dict(mode=mode, size=size, run=0, ok=False, skipped=True, wall_s=None,
                               status=f"skipped (timed out at {hs_timed_out[mode]})", peak_anon_mb=None,
                               peak_rss_mb=None)
                    runs.append(rec)
                    print(f"  {MODE_NAMES[mode]:32s} {size}: {rec['status']}", flush=True)
                    continue
                n = args.repeat_hyperspy if big else args.repeat_hyperspy_small
                for i in range(n):
                    rec = retry(run_hyperspy, mode, size, npy, zspy, truth, k, args, i)
                    runs.append(rec)
                    show(rec)
                    if not rec["ok"]:
                        if rec["status"].startswith("timeout"):
                            hs_timed_out[mode] = size
                        break  # no repeats of a failing run
            if args.cleanup:
                for p in sorted(created):
                    if p.exists() and (p == zspy or p.stem.startswith(npy.stem)):
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
                if not args.keep_outputs:
                    for d in (WORK / "out").glob(f"*_{size}_*"):
                        shutil.rmtree(d, ignore_errors=True)
            print(f"  (elapsed {time.perf_counter() - t_all:.0f} s)\n", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: summarising the runs done so far", flush=True)

    sizes = [_size_name(s) for s in args.sizes]
    merged = None
    if args.merge_from:
        old = json.loads(Path(args.merge_from).read_text())
        keep = [r for r in old["runs"] if r["mode"] not in modes and r["size"] in sizes]
        for r in keep:
            r["merged_from"] = str(args.merge_from)
        runs += keep
        prep += [dict(p, merged_from=str(args.merge_from)) for p in old.get("preparation", [])
                 if not any(q["what"] == p["what"] and q["size"] == p["size"] for q in prep)]
        merged = dict(path=str(args.merge_from), command=old.get("command"),
                      date=old.get("environment", {}).get("date"),
                      phaselib_source=old.get("environment", {}).get("phaselib_source"), n_runs=len(keep))
        modes = [m for m in MODES if m in modes or any(r["mode"] == m for r in keep)]
        print(f"(merged {len(keep)} runs of {', '.join(sorted({r['mode'] for r in keep}))} from {args.merge_from}, "
              f"run {merged['date']})\n")
    real_runs = [r for r in runs if not r.get("skipped")]
    rows = summarise(real_runs, sizes, modes)
    for r in runs:  # skipped modes get a row too
        if r.get("skipped"):
            rows.append(dict(size=r["size"], mode=r["mode"], stage="whole", n=0, runs=0, time_s=None,
                             anon_mb=None, rss_mb=None, ari=None, status=r["status"]))
    order = {s: i for i, s in enumerate(sizes)}
    rows.sort(key=lambda r: (order[r["size"]], MODES.index(r["mode"])))
    rat = ratios(rows, sizes)
    bars = bars_check(rows)

    print("## Results (medians)\n")
    print(markdown_main(rows))
    print()
    print("- median s: wall time; `whole` = the child process from start to exit (imports, loading, "
          "writing included), other stages: phaselib's own `summary.json` timings, HyperSpy's timed "
          "inside the child. n = successful runs behind the median.")
    print(f"- peak anon / RSS MB: the process tree's RssAnon / VmRSS polled every {args.poll:g} s (per "
          "HyperSpy stage: attributed by stage markers; RSS also takes the kernel's exact VmHWM of the "
          "stage). RSS counts the page cache of memory-mapped files (phaselib's .npy input).")
    print("- failed runs: time = how long until the failure; memory = the peak until then.")
    print(f"- HyperSpy: k-means cluster_analysis (n_clusters = true k = {k}, number_of_components = k, "
          f"n_init={args.hs_n_init}, random_state=0); the runs do no per-phase spectra and write no files.")
    print("- † = other processes kept > 0.2 CPU busy during some of these runs.\n")
    if rat:
        print("### HyperSpy / phaselib, where both ran\n")
        print(markdown_ratios(rat))
        print()
    if bars:
        print("### Full-map bars (< 120 s, < 2 GB peak anonymous, ARI >= 0.97)\n")
        for mode, b in bars.items():
            print(f"- {MODE_NAMES[mode]}: {b['time_s']:.1f} s ({'meets' if b['time_ok'] else 'MISSES'}), "
                  f"{b['anon_mb']:.0f} MB anon ({'meets' if b['anon_ok'] else 'MISSES'}), ARI {b['ari']:.4f} "
                  f"({'meets' if b['ari_ok'] else 'MISSES'})")
        print()
    if prep:
        print("### Preparation\n")
        for p in prep:
            extra = f", {p['disk_gb']:.2f} GB on disk" if "disk_gb" in p else ""
            print(f"- {p['what']} {p['size']}: {'ok' if p['ok'] else 'FAILED ' + str(p.get('error'))}, "
                  f"{p['wall_s']:.1f} s, peak anon {p['peak_anon_mb']:.0f} MB, RSS {p['peak_rss_mb']:.0f} MB{extra}")
        print()
    shas = sorted({r["phaselib_sha256"] for r in real_runs if "phaselib_sha256" in r})
    if len(shas) > 1:
        print(f"WARNING: phaselib's source changed during the benchmark ({', '.join(shas)}).\n")
    total = time.perf_counter() - t_all
    print(f"total benchmark time {total:.0f} s")

    opts = {k: v for k, v in vars(args).items() if not k.startswith(("hs_child", "mode", "data", "zspy", "truth",
                                                                      "result", "as_limit_mb", "n_init"))
            and k not in ("k",)}
    opts["sizes"], opts["lazy_sizes"] = sizes, [_size_name(s) for s in args.lazy_sizes]
    payload = dict(environment=env, command=" ".join([Path(sys.executable).name, *sys.argv]),
                   merged_from=merged, options=opts, modes=modes, bars=BARS, bars_check=bars, summary=rows, ratios=rat,
                   preparation=prep, runs=runs, total_s=total)
    core.write_results(payload, args.json, prefix="scale-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
