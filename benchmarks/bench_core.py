#!/usr/bin/env python
"""phaselib vs HyperSpy 2.5: time and peak memory of each stage, on the same synthetic maps.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_core.py                      # classroom subset 200x300
    .venv/bin/python benchmarks/bench_core.py --sizes 200x300,256x256,400x400
    .venv/bin/python benchmarks/bench_core.py --only phaselib --repeat 1   # quick

Every measured run is a fresh Python process: ``bench_core.py --child`` for the stages
(PCA, clustering, NMF), the real commands for the whole process. Inside a stage child,
wall time is taken around the stage's call only (imports, ``np.load`` of the map and any
untimed set-up excluded), and the stage's memory is the peak RSS during the call minus
the RSS just before it (the peak is reset with ``/proc/self/clear_refs`` on Linux, or
sampled every 2 ms with psutil elsewhere). The whole process is timed by the parent
around the child (imports included), its peak RSS taken from ``os.wait4``.

The maps are written once to ``benchmarks/_work/`` with ``phaselib.datasets.write_rock``,
and both sides read the same ``.npy``. Results: a markdown table on stdout and JSON in
``benchmarks/results/<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
RESULTS = HERE / "results"

STAGES = ("pca", "cluster", "nmf", "process")
SIDES = ("phaselib", "hyperspy")
STAGE_NAMES = {"pca": "PCA", "cluster": "clustering", "nmf": "NMF", "process": "whole process"}
#: stage -> (minimum speed ratio, minimum memory ratio), HyperSpy / phaselib, classroom subset
TARGETS = {"pca": (20.0, None), "cluster": (20.0, None), "nmf": (20.0, None), "process": (5.0, 3.0)}
CLASSROOM = (200, 300)
OTHER_LOAD_FLAG = 0.2  # runs during which other processes used more CPUs than this are flagged
N_PCA = 24  # components computed by the PCA stage (phaselib's default max_components)

# calibration of the synthetic maps (phaselib.datasets defaults)
ENERGY_OFFSET = -0.2
ENERGY_SCALE = 0.01
BEAM_ENERGY = 20.0


# ====================================================================== memory meter
class PeakMeter:
    """Peak resident memory of this process over a window, in MiB.

    On Linux the kernel's high-water mark (VmHWM) is reset by writing 5 to
    ``/proc/self/clear_refs``, so the peak is exact; elsewhere a thread samples the RSS.
    """

    def __init__(self):
        self.process_peak = 0.0  # high-water mark over the whole process life
        self._thread = None
        self.exact = self._can_reset()

    @staticmethod
    def _status(key):
        with open("/proc/self/status") as fh:
            m = re.search(rf"^{key}:\s+(\d+)\s*kB", fh.read(), re.M)
        return int(m.group(1)) / 1024.0

    def _can_reset(self):
        try:
            self._status("VmHWM")
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except (OSError, AttributeError):
            return False

    def rss(self):
        if self.exact:
            return self._status("VmRSS")
        import psutil

        return psutil.Process().memory_info().rss / 2**20

    def hwm(self):
        if self.exact:
            return self._status("VmHWM")
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 2**20 if sys.platform == "darwin" else r / 1024.0

    def start(self):
        """Begin a window; returns the RSS at its start."""
        self.process_peak = max(self.process_peak, self.hwm())
        if self.exact:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        else:
            import psutil

            proc = psutil.Process()
            self._peak = proc.memory_info().rss / 2**20
            self._stop = threading.Event()

            def poll():
                while not self._stop.wait(0.002):
                    self._peak = max(self._peak, proc.memory_info().rss / 2**20)

            self._thread = threading.Thread(target=poll, daemon=True)
            self._thread.start()
        return self.rss()

    def peak(self):
        """Peak RSS since :meth:`start` (the window stays open)."""
        if self.exact:
            p = self.hwm()
        else:
            p = max(self._peak, self.rss())
        self.process_peak = max(self.process_peak, p)
        return p

    def stop(self):
        p = self.peak()
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        return p


# ====================================================================== the child
def _hs_signal(hs, data):
    s = hs.signals.Signal1D(data)
    s.set_signal_type("EDS_SEM")
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy", "keV", ENERGY_OFFSET, ENERGY_SCALE
    s.metadata.set_item("Acquisition_instrument.SEM.beam_energy", BEAM_ENERGY)
    return s


def child_main(args):
    """Run one stage of one side once; write a JSON record to ``args.result``."""
    t_start = time.perf_counter()
    meter = PeakMeter()
    import warnings

    import numpy as np

    # everything both sides need, imported before the timer (incl. lazy imports inside calls)
    import scipy.linalg  # noqa: F401
    import scipy.sparse  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics

    if args.side == "phaselib":
        from phaselib import SpectrumImage, cluster, decompose
    else:
        import exspy  # noqa: F401  (EDS_SEM signal type)
        import hyperspy.api as hs
    warnings.simplefilter("ignore")
    t_import = time.perf_counter() - t_start

    t = time.perf_counter()
    data = np.load(args.data)  # the whole map in memory, uint16 (H, W, C)
    truth = np.load(args.truth)["labels"]
    t_load = time.perf_counter() - t
    k, n = args.k, args.n
    rec = dict(stage=args.stage, side=args.side, shape=list(data.shape), k=k, n=n, ok=False,
               import_s=t_import, load_s=t_load, exact_memory=meter.exact)

    # ---------------------------------------------------------------- set-up (untimed)
    if args.side == "phaselib":
        image = SpectrumImage(data, energy_offset=ENERGY_OFFSET, energy_scale=ENERGY_SCALE,
                              beam_energy=BEAM_ENERGY)
        if args.stage == "cluster":
            dec = decompose.pca(image, n_components=args.n_pca)
    else:
        s = _hs_signal(hs, data)
        del data  # the signal holds the only reference (as after hs.load)
        if args.stage == "cluster":
            s.change_dtype("float32")
            s.decomposition(True, algorithm="SVD", output_dimension=args.n_pca, print_info=False)
    rec["setup_rss_mb"] = meter.rss()

    # ---------------------------------------------------------------- the stage (timed)
    labels = None
    rss0 = meter.start()
    t0 = time.perf_counter()
    if args.side == "phaselib":
        if args.stage == "pca":
            out = decompose.pca(image, n_components=args.n_pca)
        elif args.stage == "nmf":
            out = decompose.nmf(image, k)
        elif args.stage == "cluster":
            out = cluster.kmeans(dec.features(n), k)
    else:
        if args.stage in ("pca", "nmf"):
            s.change_dtype("float32")  # the classroom sequence: float32, then decomposition
            rec["change_dtype_s"] = time.perf_counter() - t0
            rec["change_dtype_mb"] = meter.peak() - rss0
            if args.stage == "pca":
                s.decomposition(True, algorithm="SVD", output_dimension=args.n_pca, print_info=False)
            else:
                s.decomposition(True, algorithm="NMF", output_dimension=k, print_info=False)
        elif args.stage == "cluster":
            n_init = args.hs_kmeans_n_init if args.hs_kmeans_n_init == "auto" else int(args.hs_kmeans_n_init)
            s.cluster_analysis("decomposition", source_for_centers=None,
                               preprocessing=args.hs_preprocessing, n_clusters=k, algorithm="kmeans",
                               number_of_components=n, n_init=n_init, random_state=0)
    elapsed = time.perf_counter() - t0
    peak = meter.stop()
    rec.update(ok=True, time_s=elapsed, rss_before_mb=rss0, stage_peak_mb=peak,
               stage_mb=peak - rss0, process_peak_mb=meter.process_peak)

    # ---------------------------------------------------------------- checks (untimed)
    if args.side == "phaselib" and args.stage in ("cluster", "nmf"):
        rec["phaselib_params"] = {k_: v for k_, v in out.params.items()
                                  if isinstance(v, (int, float, str, bool, type(None)))}
    if args.stage == "cluster":
        if args.side == "phaselib":
            labels = out.labels
        else:
            masks = np.asarray(s.learning_results.cluster_labels, bool)
            labels = np.where(masks.any(0), masks.argmax(0), -1)
        rec["ari"] = float(sklearn.metrics.adjusted_rand_score(truth.ravel(), np.ravel(labels)))
    elif args.stage == "pca":
        if args.side == "phaselib":
            rec["explained_variance_ratio"] = [float(v) for v in out.explained_variance_ratio[:8]]
        else:
            ev = np.asarray(s.learning_results.explained_variance)
            rec["explained_variance_ratio"] = [float(v) for v in (ev / ev.sum())[:8]]
    elif args.stage == "nmf":
        if args.side == "phaselib":
            factors = np.asarray(out.factors, np.float64)
            rec["n_iter"] = int(out.params.get("n_iter_", -1))
        else:
            factors = np.asarray(s.learning_results.factors, np.float64).T
        with np.load(args.truth) as tr:
            rec["spectra_cosine"] = _spectra_match(factors, tr["phase_spectra"])
    Path(args.result).write_text(json.dumps(rec, indent=1))
    return 0


def _spectra_match(factors, true_spectra):
    """Mean cosine similarity of NMF factors and the true phase spectra, best one-to-one match.

    Computed on 0.1-20 keV (phaselib's default window), so both sides are judged alike.
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    e = ENERGY_OFFSET + ENERGY_SCALE * np.arange(true_spectra.shape[1])
    keep = (e >= 0.1) & (e <= BEAM_ENERGY)
    a = np.nan_to_num(factors[:, keep])
    b = true_spectra[:, keep]
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = a @ b.T
    rows, cols = linear_sum_assignment(-cos)
    return float(cos[rows, cols].mean())


# ====================================================================== the parent
def _mb(ru_maxrss):
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 1024.0


def _busy_cpu_s():
    """CPU seconds the whole machine has spent busy so far (all processes)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))


def wait_for_quiet(max_wait, threshold=0.3, log=print):
    """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` CPUs."""
    if max_wait <= 0:
        return None
    import psutil

    ncpu = psutil.cpu_count() or 1
    t0 = time.perf_counter()
    told = False
    while True:
        busy = psutil.cpu_percent(interval=1.0) / 100 * ncpu
        if busy < threshold:
            return busy
        if time.perf_counter() - t0 > max_wait:
            log(f"    (machine still busy: {busy:.1f} CPUs used by other processes; running anyway)")
            return busy
        if not told:
            log(f"    (waiting for a quiet machine: {busy:.1f} CPUs busy)", flush=True)
            told = True


def run_measured(cmd, *, log, timeout, env):
    """Run ``cmd``; return (exit code, wall s, peak RSS MiB of the child, timed_out, other CPUs).

    ``other CPUs`` is the mean number of CPUs kept busy by *other* processes during the
    run (machine busy time minus the child's own CPU time, over the wall time): above
    ~0.2 the timing is disturbed.
    """
    with open(log, "w") as fh:
        busy0 = _busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        other = max(0.0, (_busy_cpu_s() - busy0) - (ru.ru_utime + ru.ru_stime)) / max(wall, 1e-9)
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return rc, wall, _mb(ru.ru_maxrss), timed_out.is_set(), other


def _failure(rc, timed_out, log, timeout):
    tail = Path(log).read_text(errors="replace")[-4000:] if Path(log).exists() else ""
    if timed_out:
        return f"timed out (> {timeout:g} s)"
    if rc < 0:
        name = signal.Signals(-rc).name
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    if "MemoryError" in tail:
        line = [ln for ln in tail.splitlines() if "MemoryError" in ln][-1].strip()
        return "MemoryError" + (f" ({line[-120:]})" if line not in ("MemoryError",) else "")
    lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
    return f"exit {rc}: {lines[-1][:200] if lines else 'no output'}"


def _env(threads=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("PYTHONSTARTUP", None)
    return env


def ensure_map(shape, counts, seed, log=print):
    """Write the synthetic map once (``_work/rock_HxW_cCOUNTS_sSEED.npy`` + truth)."""
    h, w = shape
    path = WORK / f"rock_{h}x{w}_c{counts:g}_s{seed}.npy"
    truth = path.with_name(path.stem + "_truth.npz")
    if path.exists() and truth.exists():
        return path, truth
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"writing {path.relative_to(ROOT)} ...")
    t = time.perf_counter()
    code = (
        "import sys; from phaselib.datasets import write_rock; "
        f"write_rock({str(path)!r}, ({h}, {w}), counts_per_pixel={counts!r}, seed={seed}, overwrite=True)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"  done in {time.perf_counter() - t:.1f} s")
    return path, truth


def environment():
    from importlib import metadata

    info = dict(
        date=_dt.datetime.now().isoformat(timespec="seconds"),
        python=sys.version.split()[0], platform=platform.platform(),
        cpu=_cpu_model(), cpu_count=os.cpu_count(),
        cpu_affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    )
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    versions = {}
    for dist in ("phaselib", "hyperspy", "exspy", "rosettasciio", "numpy", "scipy", "scikit-learn",
                 "dask", "psutil"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    info["versions"] = versions
    info["phaselib_source"] = _source_digest()
    try:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
            for d in threadpool_info()
        ]
    except Exception:  # pragma: no cover - informative only
        info["blas"] = None
    info["env_threads"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                       "MKL_NUM_THREADS") if k in os.environ}
    return info


def _phaselib_kmeans_n_init():
    """Default ``n_init`` of ``phaselib.cluster.kmeans`` (read from its source, no import)."""
    import ast

    tree = ast.parse((ROOT / "phaselib" / "cluster.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "kmeans":
            args = node.args
            for a, d in zip(args.kwonlyargs, args.kw_defaults):
                if a.arg == "n_init" and isinstance(d, ast.Constant):
                    return int(d.value)
            pos = args.args[len(args.args) - len(args.defaults):]
            for a, d in zip(pos, args.defaults):
                if a.arg == "n_init" and isinstance(d, ast.Constant):
                    return int(d.value)
    return 4


def _source_digest():
    """sha256 of phaselib's .py files (the code benchmarked, whatever git says), and their newest mtime."""
    import hashlib

    files = sorted((ROOT / "phaselib").glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    newest = max((f.stat().st_mtime for f in files), default=0)
    return dict(sha256=h.hexdigest()[:16], newest_file_mtime=_dt.datetime.fromtimestamp(newest)
                .isoformat(timespec="seconds"), n_files=len(files))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.M)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def _ari_of(labels_path, truth_path):
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    lab = np.load(labels_path)
    truth = np.load(truth_path)["labels"]
    return float(adjusted_rand_score(truth.ravel(), lab.ravel()))


def run_stage(stage, side, shape, data, truth, k, args, i, log):
    """One run of one stage on one side; returns a record (``ok`` False on failure)."""
    h, w = shape
    tag = f"{stage}_{side}_{h}x{w}_{i}"
    logdir = WORK / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    logfile = logdir / f"{tag}.log"
    base = dict(stage=stage, side=side, size=f"{h}x{w}", run=i, k=k, n=k,
                phaselib_sha256=_source_digest()["sha256"])
    if stage == "process":
        out = WORK / "out" / tag
        if out.exists():
            import shutil

            shutil.rmtree(out)
        if side == "phaselib":
            cmd = [sys.executable, "-m", "phaselib", "map", str(data), "--out", str(out),
                   f"--energy-offset={ENERGY_OFFSET}", f"--energy-scale={ENERGY_SCALE}",
                   f"--beam-energy={BEAM_ENERGY}", "--n-phases", str(k), "--n-components", str(k),
                   "--quiet"]
        else:
            cmd = [sys.executable, str(HERE / "hyperspy_map.py"), str(data), "--out", str(out),
                   f"--energy-offset={ENERGY_OFFSET}", f"--energy-scale={ENERGY_SCALE}",
                   f"--beam-energy={BEAM_ENERGY}", "--n-phases", str(k), "--n-components", str(k),
                   "--output-dimension", str(N_PCA), "--kmeans-n-init", str(args.hs_kmeans_n_init)]
            if args.hs_preprocessing:
                cmd += ["--preprocessing", args.hs_preprocessing]
        base["command"] = " ".join(cmd)
        quiet = wait_for_quiet(args.wait_idle, log=log)
        rc, wall, peak, timed_out, other = run_measured(cmd, log=logfile, timeout=args.timeout, env=_env())
        base.update(other_cpus=other, busy_before=quiet)
        if rc != 0:
            return {**base, "ok": False, "error": _failure(rc, timed_out, logfile, args.timeout),
                    "log": str(logfile)}
        rec = {**base, "ok": True, "time_s": wall, "process_peak_mb": peak, "stage_mb": peak}
        try:
            rec["ari"] = _ari_of(out / "labels.npy", truth)
            summary = json.loads((out / "summary.json").read_text())
            rec["inner_timings_s"] = summary.get("timings_s")
        except Exception as err:  # noqa: BLE001
            rec["check_error"] = repr(err)
        return rec
    result = WORK / "logs" / f"{tag}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--stage", stage, "--side", side,
           "--data", str(data), "--truth", str(truth), "--k", str(k), "--n", str(k),
           "--n-pca", str(N_PCA), "--result", str(result),
           "--hs-kmeans-n-init", str(args.hs_kmeans_n_init)]
    if args.hs_preprocessing:
        cmd += ["--hs-preprocessing", args.hs_preprocessing]
    quiet = wait_for_quiet(args.wait_idle, log=log)
    rc, wall, peak, timed_out, other = run_measured(cmd, log=logfile, timeout=args.timeout, env=_env())
    base.update(other_cpus=other, busy_before=quiet)
    if rc != 0 or not result.exists():
        return {**base, "ok": False, "error": _failure(rc, timed_out, logfile, args.timeout),
                "log": str(logfile), "child_wall_s": wall}
    rec = json.loads(result.read_text())
    rec.update(base)
    rec["child_wall_s"] = wall
    return rec


# ---------------------------------------------------------------------- summary table
def _median(records, key):
    vals = [r[key] for r in records if r.get("ok") and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarise(runs, stages, sizes, sides):
    rows = []
    for size in sizes:
        for stage in stages:
            row = dict(stage=stage, size=size)
            for side in sides:
                recs = [r for r in runs if r["stage"] == stage and r["size"] == size and r["side"] == side]
                ok = [r for r in recs if r.get("ok")]
                row[side] = dict(
                    runs=len(recs), ok=len(ok), time_s=_median(ok, "time_s"),
                    stage_mb=_median(ok, "stage_mb"), process_peak_mb=_median(ok, "process_peak_mb"),
                    ari=_median(ok, "ari"), spectra_cosine=_median(ok, "spectra_cosine"),
                    errors=sorted({r["error"] for r in recs if not r.get("ok")}),
                    times=[round(r["time_s"], 4) for r in ok],
                    disturbed=sum(r.get("other_cpus", 0) > OTHER_LOAD_FLAG for r in ok),
                )
            pl, hs = row.get("phaselib"), row.get("hyperspy")
            if pl and hs and pl["time_s"] and hs["time_s"]:
                row["speed_ratio"] = hs["time_s"] / pl["time_s"]
            if pl and hs and pl["stage_mb"] and hs["stage_mb"]:
                row["memory_ratio"] = hs["stage_mb"] / max(pl["stage_mb"], 1e-9)
            t_speed, t_mem = TARGETS[stage]
            row["target_speed"], row["target_memory"] = t_speed, t_mem
            row["speed_met"] = None if "speed_ratio" not in row else row["speed_ratio"] >= t_speed
            row["memory_met"] = (None if t_mem is None or "memory_ratio" not in row
                                 else row["memory_ratio"] >= t_mem)
            rows.append(row)
    return rows


def _fmt(v, spec=".2f", none="–"):
    return none if v is None else format(v, spec)


def _cell_time(side):
    if side is None or not side["runs"]:
        return "not run"
    if not side["ok"]:
        return "FAILED: " + "; ".join(side["errors"])
    t = side["time_s"]
    text = f"{t:.3f}" if t < 10 else f"{t:.1f}"
    text += f" (n={side['ok']})" + ("†" if side.get("disturbed") else "")
    if side["ok"] < side["runs"]:
        text += f", {side['runs'] - side['ok']} failed: " + "; ".join(side["errors"])
    return text


def _cell_mem(side):
    if side is None or not side["ok"]:
        return "–"
    return f"{side['stage_mb']:.0f}"


def _verdict(ratio, target, met):
    if ratio is None:
        return "–"
    s = f"{ratio:.1f}x"
    if target is None:
        return s
    return f"{s} ({'meets' if met else 'MISSES'} ≥{target:g}x)"


def markdown_table(rows, sides):
    out = ["| stage | size | phaselib median s | HyperSpy median s | speed ratio (target) "
           "| phaselib peak MB | HyperSpy peak MB | memory ratio (target) | accuracy phaselib / HyperSpy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pl, hs = r.get("phaselib"), r.get("hyperspy")
        ari = "–"
        if r["stage"] in ("cluster", "process"):
            ari = f"ARI {_fmt(pl and pl['ari'], '.3f')} / {_fmt(hs and hs['ari'], '.3f')}"
        elif r["stage"] == "nmf":
            ari = (f"cos {_fmt(pl and pl['spectra_cosine'], '.3f')} / "
                   f"{_fmt(hs and hs['spectra_cosine'], '.3f')}")
        out.append(
            f"| {STAGE_NAMES[r['stage']]} | {r['size']} | {_cell_time(pl)} | {_cell_time(hs)} "
            f"| {_verdict(r.get('speed_ratio'), r['target_speed'], r['speed_met'])} "
            f"| {_cell_mem(pl)} | {_cell_mem(hs)} "
            f"| {_verdict(r.get('memory_ratio'), r['target_memory'], r['memory_met'])} | {ari} |"
        )
    return "\n".join(out)


def markdown_peaks(rows):
    out = ["| stage | size | phaselib child peak MB | HyperSpy child peak MB | phaselib runs (s) "
           "| HyperSpy runs (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["stage"] == "process":
            continue
        pl, hs = r.get("phaselib"), r.get("hyperspy")
        out.append(
            f"| {STAGE_NAMES[r['stage']]} | {r['size']} | {_fmt(pl and pl['process_peak_mb'], '.0f')} "
            f"| {_fmt(hs and hs['process_peak_mb'], '.0f')} | {pl['times'] if pl else '–'} "
            f"| {hs['times'] if hs else '–'} |"
        )
    return "\n".join(out)


def _parse_sizes(text):
    sizes = []
    for part in text.split(","):
        try:
            h, w = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"sizes are HxW[,HxW...], e.g. 200x300,256x256; got {text!r}") from None
        if h < 2 or w < 2:
            raise argparse.ArgumentTypeError(f"size {part!r} is too small")
        sizes.append((h, w))
    return sizes


def build_parser():
    p = argparse.ArgumentParser(description="phaselib vs HyperSpy: time and peak memory per stage.")
    p.add_argument("--sizes", type=_parse_sizes, default=[CLASSROOM],
                   help="map sizes HxW, comma-separated (default 200x300, the classroom subset)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--repeat", type=int, default=3, help="runs per stage and side (medians quoted)")
    p.add_argument("--repeat-hyperspy", type=int, default=None,
                   help="runs of each HyperSpy stage (default: --repeat)")
    p.add_argument("--repeat-hyperspy-nmf", type=int, default=1,
                   help="runs of HyperSpy's NMF (default 1: about 2 min each on 60 000 px)")
    p.add_argument("--only", choices=SIDES, help="run one side only")
    p.add_argument("--counts", type=float, default=200.0, help="counts per pixel (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed to one run")
    p.add_argument("--hs-kmeans-n-init", default="match",
                   help="HyperSpy KMeans n_init (default 'match': phaselib.cluster.kmeans's default n_init; "
                        "'auto' = scikit-learn's default)")
    p.add_argument("--hs-preprocessing", default=None,
                   help="HyperSpy cluster_analysis preprocessing (default none, HyperSpy 2.5's default)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each run, wait up to SECONDS for other processes to use < 0.3 CPU "
                        "(default 0: don't wait; runs disturbed by other load are flagged anyway)")
    p.add_argument("--retry-disturbed", type=int, default=0, metavar="N",
                   help="run again (up to N times) a run that other processes disturbed (default 0)")
    p.add_argument("--json", type=Path, default=None,
                   help="where to write the results (default benchmarks/results/<date>.json)")
    # child mode (internal)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stage", help=argparse.SUPPRESS)
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--truth", help=argparse.SUPPRESS)
    p.add_argument("--k", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n-pca", type=int, default=N_PCA, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p


def write_results(payload, path=None, prefix=""):
    """Write ``payload`` as JSON to ``path``, or to ``results/<prefix><date>[-N].json`` (a free name)."""
    if path is None:
        stem = f"{prefix}{_dt.date.today().isoformat()}"
        path, i = RESULTS / f"{stem}.json", 2
        while path.exists():
            path, i = RESULTS / f"{stem}-{i}.json", i + 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.child:
        return child_main(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise SystemExit(f"unknown stage(s) {bad}; choose from {STAGES}")
    sides = [args.only] if args.only else list(SIDES)
    rep_hs = args.repeat if args.repeat_hyperspy is None else args.repeat_hyperspy
    if min(args.repeat, rep_hs, args.repeat_hyperspy_nmf) < 1:
        raise SystemExit("repeat counts must be >= 1")

    if args.hs_kmeans_n_init == "match":
        args.hs_kmeans_n_init = str(_phaselib_kmeans_n_init())
    env = environment()
    print("# phaselib vs HyperSpy benchmark\n")
    print(f"- date: {env['date']}")
    print(f"- machine: {env['cpu']}; {env['cpu_count']} CPUs ({env['cpu_affinity']} usable); "
          f"{env.get('memory_gb', '?')} GiB RAM; {env['platform']}; Python {env['python']}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    src = env["phaselib_source"]
    print(f"- phaselib source: sha256 {src['sha256']} of {src['n_files']} files (newest {src['newest_file_mtime']})")
    if env.get("blas"):
        print("- BLAS/OpenMP: " + "; ".join(
            f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in env["blas"]))
    print(f"- maps: phaselib.datasets.write_rock, {args.counts:g} counts/pixel, 2048 channels, seed "
          f"{args.seed}; sizes {', '.join(f'{h}x{w}' for h, w in args.sizes)}")
    print(f"- repeats: phaselib {args.repeat}, HyperSpy {rep_hs} (NMF {args.repeat_hyperspy_nmf}); "
          "each run a fresh process\n", flush=True)

    runs = []
    t_all = time.perf_counter()
    try:
        for shape in args.sizes:
            data, truth = ensure_map(shape, args.counts, args.seed)
            import numpy as np

            with np.load(truth) as t:
                k = int(len(t["phase_names"]))
            for stage in stages:
                for side in sides:
                    n_runs = args.repeat if side == "phaselib" else (
                        args.repeat_hyperspy_nmf if stage == "nmf" else rep_hs)
                    for i in range(n_runs):
                        discarded = []
                        rec = run_stage(stage, side, shape, data, truth, k, args, i, print)
                        while (rec.get("ok") and rec.get("other_cpus", 0) > OTHER_LOAD_FLAG
                               and len(discarded) < args.retry_disturbed):
                            print(f"    (run disturbed: other processes used {rec['other_cpus']:.1f} CPUs; "
                                  "running it again)", flush=True)
                            discarded.append({k_: v for k_, v in rec.items()
                                              if k_ in ("time_s", "stage_mb", "other_cpus")})
                            rec = run_stage(stage, side, shape, data, truth, k, args, i, print)
                        if discarded:
                            rec["discarded_disturbed_attempts"] = discarded
                        runs.append(rec)
                        if rec["ok"]:
                            msg = (f"{rec['time_s']:8.3f} s  stage {rec['stage_mb']:7.0f} MB  "
                                   f"peak {rec['process_peak_mb']:7.0f} MB")
                            if rec.get("ari") is not None:
                                msg += f"  ARI {rec['ari']:.3f}"
                            if rec.get("spectra_cosine") is not None:
                                msg += f"  spectra cos {rec['spectra_cosine']:.3f}"
                            if rec.get("other_cpus", 0) > OTHER_LOAD_FLAG:
                                msg += f"  [other processes used {rec['other_cpus']:.1f} CPUs]"
                        else:
                            msg = f"FAILED: {rec['error']}"
                        print(f"  {stage:8s} {side:9s} {shape[0]}x{shape[1]}  run {i + 1}/{n_runs}: {msg}",
                              flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: summarising the runs done so far", flush=True)

    size_names = [f"{h}x{w}" for h, w in args.sizes]
    rows = summarise(runs, stages, size_names, sides)
    print("\n## Results (medians)\n")
    print(markdown_table(rows, sides))
    print()
    print("- time: wall time of the stage's call inside a fresh process (imports, np.load and the "
          "untimed set-up excluded); whole process: wall time of the command, imports included.")
    print("- peak MB: stage memory, peak RSS during the call minus RSS just before it "
          "(whole process: peak RSS of the command). Memory ratio = HyperSpy / phaselib.")
    print(f"- † = some of these runs shared the CPUs with other processes (> {OTHER_LOAD_FLAG} CPU busy "
          "elsewhere; see other_cpus in the JSON): less reliable.")
    print(f"- n = number of runs behind a median; HyperSpy NMF: {args.repeat_hyperspy_nmf} run(s) "
          "(--repeat-hyperspy-nmf).")
    print("- HyperSpy PCA/NMF stage = change_dtype('float32') + decomposition(True, ...) (the classroom "
          "sequence); clustering stage: cluster_analysis only, after an untimed decomposition on both sides.")
    print(f"- k = n = true number of phases; PCA computes {N_PCA} components on both sides "
          "(HyperSpy's eager SVD computes the full SVD whatever output_dimension).")
    pl_params = next((r.get("phaselib_params") for r in runs
                      if r["stage"] == "cluster" and r["side"] == "phaselib" and r.get("ok")), None)
    print(f"- HyperSpy KMeans: n_init={args.hs_kmeans_n_init}, random_state=0, preprocessing="
          f"{args.hs_preprocessing}; phaselib kmeans (defaults, on count-normalised scores): "
          f"{pl_params or 'not run'}.")
    nmf_params = next((r.get("phaselib_params") for r in runs
                       if r["stage"] == "nmf" and r["side"] == "phaselib" and r.get("ok")), None)
    if nmf_params:
        print(f"- NMF: HyperSpy runs scikit-learn's NMF (init nndsvda, cd solver, max_iter 200, tol 1e-4) "
              f"on the dense Poisson-weighted map; phaselib.decompose.nmf defaults: {nmf_params}.")
    print("- accuracy: adjusted Rand index of the labels vs the true phases (clustering, whole process); "
          "NMF: mean cosine similarity of the factors to the true phase spectra (best one-to-one match, "
          "0.1-20 keV).")
    print("- Targets (classroom subset 200x300): PCA, clustering, NMF ≥ 20x faster; "
          "whole process ≥ 5x faster and ≥ 3x less peak memory.\n")
    print("### Whole-child peak RSS (imports + data + stage) and individual run times\n")
    print(markdown_peaks(rows))
    shas = sorted({r["phaselib_sha256"] for r in runs})
    if len(shas) > 1:
        print(f"\nWARNING: phaselib's source changed during the benchmark ({', '.join(shas)}); "
              "see phaselib_sha256 of each run in the JSON.")
    print(f"\ntotal benchmark time {time.perf_counter() - t_all:.0f} s")

    payload = dict(environment=env, command=" ".join([Path(sys.executable).name, *sys.argv]),
                   options=dict(sizes=size_names, stages=stages, sides=sides, repeat=args.repeat,
                                repeat_hyperspy=rep_hs, repeat_hyperspy_nmf=args.repeat_hyperspy_nmf,
                                counts_per_pixel=args.counts, seed=args.seed, n_pca=N_PCA,
                                hs_kmeans_n_init=args.hs_kmeans_n_init,
                                hs_preprocessing=args.hs_preprocessing),
                   targets={k: dict(speed=v[0], memory=v[1]) for k, v in TARGETS.items()},
                   summary=rows, runs=runs)
    write_results(payload, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
