"""bench_scale's HyperSpy child: one HyperSpy 2.5 run of a mode, stage by stage, in a fresh process.

    python -m benchmarks._scale_child --mode hs-eager --data MAP.npy --truth MAP_truth.npz --k 6 \\
        --result RUN.json [--zspy MAP.zspy] [--n-init 4] [--as-limit-mb MB]

Stages: import, load, change_dtype("float32"), decomposition (SVD for ``hs-eager`` and
``hs-lazy-svd``, "PCA" = IncrementalPCA for ``hs-lazy-ipca``, 24 components), k-means
cluster_analysis. Each stage prints ``@@STAGE name`` as it starts (the parent attributes the
memory it polls to it) and gets its own exact peak RSS; the record is rewritten to ``--result``
after every stage, so a run killed in a stage still says which. ``--as-limit-mb`` sets
``RLIMIT_AS`` (an allocation past it is a ``MemoryError``, recorded with the failing frames).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks import _hyperspy
from benchmarks._maps import CHUNK_ROWS, N_PCA
from benchmarks._measure import STAGE_MARK, PeakMeter, status_mb

ALGORITHMS = {"hs-eager": "SVD", "hs-lazy-svd": "SVD", "hs-lazy-ipca": "PCA"}


def build_parser():
    p = argparse.ArgumentParser(description="bench_scale's child: one HyperSpy run, stage by stage.")
    p.add_argument("--mode", required=True, choices=tuple(ALGORITHMS))
    p.add_argument("--data", required=True, help="the map (.npy)")
    p.add_argument("--zspy", help="its row-chunked .zspy copy (lazy modes; else a dask array over the .npy)")
    p.add_argument("--truth", required=True, help="the map's _truth.npz")
    p.add_argument("--k", type=int, required=True, help="clusters and components of the k-means")
    p.add_argument("--n-init", default="4", help="KMeans n_init ('auto' or an integer)")
    p.add_argument("--result", required=True, help="where to write the JSON record")
    p.add_argument("--as-limit-mb", type=float, default=0.0, help="RLIMIT_AS in MB (0: none)")
    return p


class Run:
    """The record of the run, rewritten to ``--result`` at every change; ``stage(name)`` times one stage."""

    def __init__(self, args):
        self.rec = dict(mode=args.mode, ok=False, stages={}, as_limit_mb=args.as_limit_mb, source=None)
        self.result = Path(args.result)
        self.meter = PeakMeter()

    def dump(self):
        self.result.write_text(json.dumps(self.rec, indent=1, default=str))

    def stage(self, name):
        return _Stage(self, name)


class _Stage:
    def __init__(self, run, name):
        self.run, self.name = run, name

    def __enter__(self):
        print(f"{STAGE_MARK}{self.name}", flush=True)
        self.run.rec["current_stage"] = self.name
        self.run.dump()
        self.rss0 = self.run.meter.start()
        self.t0 = time.perf_counter()

    def __exit__(self, et, ev, tb):
        dt = time.perf_counter() - self.t0
        peak = self.run.meter.stop()
        rec = self.run.rec
        entry = dict(time_s=dt, rss_before_mb=self.rss0, peak_rss_mb=peak, rss_after_mb=status_mb("VmRSS"),
                     anon_after_mb=status_mb("RssAnon"), vmsize_after_mb=status_mb("VmSize"))
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
        self.run.dump()
        return False


def _load(args, hs, np, run):
    """The map as a HyperSpy signal: eager from the .npy, or lazy from the .zspy (or a dask array)."""
    rec = run.rec
    with run.stage("load"):
        if args.mode == "hs-eager":
            s = _hyperspy.eds_signal(hs, np.load(args.data))  # the signal holds the only reference
            rec["source"] = "np.load(.npy) -> Signal1D (EDS_SEM)"
            return s
        if args.zspy:
            s = hs.load(args.zspy, lazy=True)
            rec["source"] = f"hs.load(.zspy, lazy=True), chunks {s.data.chunksize}"
        else:  # no .zspy: a dask array over the memory-mapped .npy
            import dask.array as da

            arr = da.from_array(np.load(args.data, mmap_mode="r"), chunks=(CHUNK_ROWS, -1, -1))
            s = _hyperspy.eds_signal(hs, arr).as_lazy()
            rec["source"] = f"da.from_array(np.load(.npy, mmap_mode='r')), chunks {arr.chunksize}"
        rec["signal_class"] = type(s).__name__
    return s


def _analyse(args, s, run):
    """change_dtype, decomposition and k-means, each a stage; returns the labels."""
    with run.stage("change_dtype"):
        s.change_dtype("float32")
    algorithm = ALGORITHMS[args.mode]
    run.rec["decomposition_call"] = f"decomposition(True, algorithm={algorithm!r}, output_dimension={N_PCA})"
    with run.stage("decomposition"):
        s.decomposition(True, algorithm=algorithm, output_dimension=N_PCA, print_info=False)
    with run.stage("cluster"):
        _hyperspy.kmeans(s, args.k, args.k, _hyperspy.n_init(args.n_init))
        return _hyperspy.cluster_labels(s)[1]


def main(argv=None):
    """One HyperSpy run; writes its record to ``--result`` after every stage. Exit 0 if it succeeded, else 3."""
    args = build_parser().parse_args(argv)
    import resource

    t_start = time.perf_counter()
    if args.as_limit_mb > 0:
        lim = int(args.as_limit_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    run = Run(args)
    print(f"{STAGE_MARK}import", flush=True)
    import logging
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    import exspy  # noqa: F401  (EDS_SEM)
    import hyperspy.api as hs
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    from sklearn.metrics import adjusted_rand_score

    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    run.rec["stages"]["import"] = dict(time_s=time.perf_counter() - t_start, peak_rss_mb=run.meter.hwm())
    run.dump()
    try:
        labels = _analyse(args, _load(args, hs, np, run), run)
        truth = np.load(args.truth)["labels"]
        run.rec["ari"] = float(adjusted_rand_score(truth.ravel(), labels.ravel()))
        run.rec.update(ok=True, status="ok")
    except MemoryError:
        run.rec.setdefault("status", "MemoryError")
    except Exception as err:  # noqa: BLE001  (recorded; the parent reports it)
        run.rec.setdefault("status", "error")
        run.rec.setdefault("error", f"{type(err).__name__}: {str(err)[:300]}")
    run.rec.pop("current_stage", None)
    run.rec["child_total_s"] = time.perf_counter() - t_start
    run.dump()
    return 0 if run.rec["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
