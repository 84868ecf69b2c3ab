"""bench_core's measured child: one stage (PCA, clustering, NMF) of one side, once, in a fresh process.

    python -m benchmarks._core_child --stage pca --side phaselib --data MAP.npy --truth MAP_truth.npz \\
        --k 6 --n 6 --result RUN.json

It imports what both sides need (incl. scikit-learn, so lazy imports inside a call are not
timed), ``np.load``s the map, does the untimed set-up (for clustering: the side's own
decomposition), then times the stage's call only. The stage's memory is the peak RSS during
the call minus the RSS just before it (:class:`benchmarks._measure.PeakMeter`). The record
(times, memory, accuracy) is written as JSON to ``--result``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks import _hyperspy
from benchmarks._maps import BEAM_ENERGY, ENERGY_OFFSET, ENERGY_SCALE, N_PCA
from benchmarks._measure import PeakMeter


def build_parser():
    p = argparse.ArgumentParser(description="bench_core's child: one stage of one side, once.")
    p.add_argument("--stage", required=True, choices=("pca", "cluster", "nmf"))
    p.add_argument("--side", required=True, choices=("phaselib", "hyperspy"))
    p.add_argument("--data", required=True, help="the map (.npy, uint16 H x W x C)")
    p.add_argument("--truth", required=True, help="its _truth.npz")
    p.add_argument("--k", type=int, required=True, help="clusters / NMF components")
    p.add_argument("--n", type=int, required=True, help="components the clustering uses")
    p.add_argument("--n-pca", type=int, default=N_PCA, help="components the PCA computes")
    p.add_argument("--result", required=True, help="where to write the JSON record")
    p.add_argument("--hs-kmeans-n-init", default="4", help="HyperSpy KMeans n_init ('auto' or an integer)")
    p.add_argument("--hs-preprocessing", default=None, help="HyperSpy cluster_analysis preprocessing")
    return p


def _import_everything(side):
    """What both sides need, imported before any timer (incl. lazy imports inside the calls).

    Returns phaselib's modules (a namespace) or ``hyperspy.api``."""
    import warnings

    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.sparse  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics  # noqa: F401

    if side == "phaselib":
        from phaselib import SpectrumImage, cluster, decompose

        lib = SimpleNamespace(SpectrumImage=SpectrumImage, cluster=cluster, decompose=decompose)
    else:
        import exspy  # noqa: F401  (EDS_SEM signal type)
        import hyperspy.api as lib
    warnings.simplefilter("ignore")
    return lib


def _setup(args, lib, data):
    """The untimed set-up: phaselib's SpectrumImage (+ its PCA for clustering), or HyperSpy's signal
    (+ its decomposition); the signal holds the only reference to the data, as after ``hs.load``."""
    if args.side == "phaselib":
        image = lib.SpectrumImage(data, energy_offset=ENERGY_OFFSET, energy_scale=ENERGY_SCALE,
                                  beam_energy=BEAM_ENERGY)
        dec = lib.decompose.pca(image, n_components=args.n_pca) if args.stage == "cluster" else None
        return image, dec
    s = _hyperspy.eds_signal(lib, data)
    if args.stage == "cluster":
        s.change_dtype("float32")
        s.decomposition(True, algorithm="SVD", output_dimension=args.n_pca, print_info=False)
    return s


def _run_phaselib(args, lib, obj):
    image, dec = obj
    if args.stage == "pca":
        return lib.decompose.pca(image, n_components=args.n_pca)
    if args.stage == "nmf":
        return lib.decompose.nmf(image, args.k)
    return lib.cluster.kmeans(dec.features(args.n), args.k)


def _run_hyperspy(args, s, meter, rss0, t0, rec):
    if args.stage == "cluster":
        _hyperspy.kmeans(s, args.k, args.n, _hyperspy.n_init(args.hs_kmeans_n_init), args.hs_preprocessing)
        return None
    s.change_dtype("float32")  # the classroom sequence: float32, then decomposition
    rec["change_dtype_s"] = time.perf_counter() - t0
    rec["change_dtype_mb"] = meter.peak() - rss0
    if args.stage == "pca":
        s.decomposition(True, algorithm="SVD", output_dimension=args.n_pca, print_info=False)
    else:
        s.decomposition(True, algorithm="NMF", output_dimension=args.k, print_info=False)
    return None


def _timed_stage(args, lib, obj, meter, rec):
    """The stage's call, timed, with its peak memory; returns phaselib's result (None for HyperSpy)."""
    rss0 = meter.start()
    t0 = time.perf_counter()
    if args.side == "phaselib":
        out = _run_phaselib(args, lib, obj)
    else:
        out = _run_hyperspy(args, obj, meter, rss0, t0, rec)
    elapsed = time.perf_counter() - t0
    peak = meter.stop()
    rec.update(ok=True, time_s=elapsed, rss_before_mb=rss0, stage_peak_mb=peak,
               stage_mb=peak - rss0, process_peak_mb=meter.process_peak)
    return out


def _checks(args, obj, out, truth, rec):
    """Untimed: accuracy of the stage (ARI, explained variance, NMF spectra) and phaselib's parameters."""
    import numpy as np
    import sklearn.metrics

    phaselib = args.side == "phaselib"
    if phaselib and args.stage in ("cluster", "nmf"):
        rec["phaselib_params"] = {k_: v for k_, v in out.params.items()
                                  if isinstance(v, (int, float, str, bool, type(None)))}
    if args.stage == "cluster":
        labels = out.labels if phaselib else _hyperspy.cluster_labels(obj)[1]
        rec["ari"] = float(sklearn.metrics.adjusted_rand_score(truth.ravel(), np.ravel(labels)))
    elif args.stage == "pca":
        if phaselib:
            rec["explained_variance_ratio"] = [float(v) for v in out.explained_variance_ratio[:8]]
        else:
            ev = np.asarray(obj.learning_results.explained_variance)
            rec["explained_variance_ratio"] = [float(v) for v in (ev / ev.sum())[:8]]
    elif args.stage == "nmf":
        if phaselib:
            factors = np.asarray(out.factors, np.float64)
            rec["n_iter"] = int(out.params.get("n_iter_", -1))
        else:
            factors = np.asarray(obj.learning_results.factors, np.float64).T
        with np.load(args.truth) as tr:
            rec["spectra_cosine"] = spectra_match(factors, tr["phase_spectra"])


def spectra_match(factors, true_spectra):
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


def main(argv=None):
    """Run one stage of one side once; write a JSON record to ``--result``."""
    args = build_parser().parse_args(argv)
    t_start = time.perf_counter()
    meter = PeakMeter()
    lib = _import_everything(args.side)
    t_import = time.perf_counter() - t_start
    import numpy as np

    t = time.perf_counter()
    data = np.load(args.data)  # the whole map in memory, uint16 (H, W, C)
    truth = np.load(args.truth)["labels"]
    t_load = time.perf_counter() - t
    rec = dict(stage=args.stage, side=args.side, shape=list(data.shape), k=args.k, n=args.n, ok=False,
               import_s=t_import, load_s=t_load, exact_memory=meter.exact)
    obj = _setup(args, lib, data)
    del data  # HyperSpy: the signal holds the only reference (as after hs.load)
    rec["setup_rss_mb"] = meter.rss()
    out = _timed_stage(args, lib, obj, meter, rec)
    _checks(args, obj, out, truth, rec)
    Path(args.result).write_text(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
