#!/usr/bin/env python
"""The HyperSpy 2.5 equivalent of ``python -m phaselib map MAP.npy --out DIR``.

Used by ``bench_core`` for the "whole process" comparison; it can also be run
by hand, from the repository root::

    python -m benchmarks.hyperspy_map MAP.npy --out DIR --energy-offset -0.2 \\
        --energy-scale 0.01 --beam-energy 20 --n-phases 6 --n-components 6

It does what the classroom notebook does with HyperSpy, and what phaselib's
``map`` command does by default (``pca-kmeans``):

1. load the ``(H, W, C)`` counts (``np.load``) and wrap them in an ``EDS_SEM``
   signal with the same energy calibration;
2. ``change_dtype("float32")``;
3. ``decomposition(True, algorithm="SVD", output_dimension=24)`` (Poisson-weighted);
4. ``cluster_analysis("decomposition", n_clusters=K, number_of_components=N,
   algorithm="kmeans")``;
5. the summed (and mean) spectrum of each cluster from the raw counts of its pixels;
6. write ``labels.npy`` (int16), ``phase_spectra.npy`` (mean spectra, float32),
   ``phase_sums.npy``, ``summary.json`` and ``phase_map.png``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

T_START = time.perf_counter()

from benchmarks._hyperspy import cluster_labels, eds_signal, kmeans, n_init  # noqa: E402  (after T_START)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input")
    p.add_argument("--out", required=True)
    p.add_argument("--energy-offset", type=float, required=True)
    p.add_argument("--energy-scale", type=float, required=True)
    p.add_argument("--beam-energy", type=float, default=None)
    p.add_argument("--n-phases", type=int, required=True)
    p.add_argument("--n-components", type=int, default=None, help="default: --n-phases")
    p.add_argument("--output-dimension", type=int, default=24, help="components computed (as phaselib's 24)")
    p.add_argument("--kmeans-n-init", default="4", help="KMeans n_init ('auto' = scikit-learn's default)")
    p.add_argument("--preprocessing", default=None, help="cluster_analysis preprocessing (default none)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)

    import hyperspy.api as hs
    import numpy as np
    t_import = time.perf_counter() - T_START
    timings = {}
    t = time.perf_counter()
    # no other reference to the counts: change_dtype frees the uint16
    s = eds_signal(hs, np.load(args.input), args.energy_offset, args.energy_scale, args.beam_energy)
    s.change_dtype("float32")
    timings["load"] = time.perf_counter() - t

    t = time.perf_counter()
    s.decomposition(True, algorithm="SVD", output_dimension=args.output_dimension, print_info=False)
    timings["pca"] = time.perf_counter() - t

    k = args.n_phases
    n = args.n_components or k
    t = time.perf_counter()
    kmeans(s, k, n, n_init(args.kmeans_n_init), args.preprocessing, random_state=args.seed)
    masks, labels = cluster_labels(s)  # masks (K, H*W), largest cluster first
    h, w = s.data.shape[:2]
    labels = labels.reshape(h, w).astype(np.int16)
    timings["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    flat = s.data.reshape(h * w, -1)  # the counts, as float32 (decomposition restored them)
    sums = np.stack([flat[m].sum(0, dtype=np.float64) for m in masks])
    n_pixels = masks.sum(1)
    means = sums / np.maximum(n_pixels, 1)[:, None]
    timings["quantify"] = time.perf_counter() - t

    from pathlib import Path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "labels.npy", labels)
    np.save(out / "phase_spectra.npy", means.astype(np.float32))
    np.save(out / "phase_sums.npy", sums)
    _save_png(labels, out / "phase_map.png", k)
    summary = dict(
        n_phases=k, n_components=n, fractions=(n_pixels / labels.size).tolist(),
        timings_s={name: round(v, 4) for name, v in timings.items()}, import_s=round(t_import, 3),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        wall_time_s=round(time.perf_counter() - T_START, 3),
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{k} clusters written to {out} in {time.perf_counter() - T_START:.2f} s")
    return 0


def _save_png(labels, path, k):
    """The same kind of figure as phaselib's phase_map.png (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = ["#d9d9d9", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
               "#F0E442", "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd"]
    colours = colours[:1] + [colours[1 + i % (len(colours) - 1)] for i in range(k)]
    h, w = labels.shape
    fig = Figure(figsize=(min(12, 2 + 6 * w / max(h, w)), min(10, 1 + 6 * h / max(h, w))), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(labels + 1, cmap=ListedColormap(colours), vmin=-0.5, vmax=k + 0.5, interpolation="nearest")
    ax.set_axis_off()
    ax.legend(handles=[Patch(color=colours[i + 1], label=f"cluster {i}") for i in range(k)],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.savefig(path, bbox_inches="tight")


if __name__ == "__main__":
    sys.exit(main())
