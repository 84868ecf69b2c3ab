#!/usr/bin/env python
"""Neutron ToF transmission cubes: regions found by ``map_phases`` against the truth, clean to noisy.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_tof                     # every case, seeds 1-3 (~1 minute)
    .venv/bin/python -m benchmarks.bench_tof --seeds 1 --cases default,ob30

Each case is a :func:`phaselib.datasets.make_tof` cube (128 x 128 x 661, 1-5 Angstrom) with the options
below; ``map_phases(cube, n_phases=<true number of regions>)`` (``--signal intensity``, as the CLI),
with its spatial prior (``auto``) and without (``spatial_prior=False``), and ``map_phases(cube)`` (the number
of regions ``auto``). Columns: ARI against the
truth, median over seeds (worst in brackets), components clustered, and the lowest correlation of a
found region's mean spectrum with the noise-free one, next to the same for the TRUE regions' means
(at a few neutrons per bin even those are noisy). Markdown on stdout, JSON in
``benchmarks/results/tof-<date>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks._report import write_results
from phaselib.datasets import make_tof
from phaselib.pipeline import map_phases

#: name: make_tof options (default: Fe-bcc, Ni, Al, Cu and the open beam; 1000 neutrons per bin at the peak)
CASES = {
    "default": {},
    "ob100": {"open_beam_counts": 100},
    "ob30": {"open_beam_counts": 30},
    "ob10": {"open_beam_counts": 10},
    "thin200": {"attenuation": 0.2, "open_beam_counts": 200},
    "thin1000": {"attenuation": 0.1, "open_beam_counts": 1000},
    "pieces3": {"pieces": 3, "thickness_ratio": 3.0},
    "pieces3-ob50": {"pieces": 3, "thickness_ratio": 3.0, "open_beam_counts": 50},
    "nobeam-ob30": {"background": False, "open_beam_counts": 30},
    "two-irons-ob50": {"materials": ("Fe-bcc", "Fe-fcc", "Ni", "Cu"), "open_beam_counts": 50},
    # vanadium and polyethylene: no Bragg edges, cross sections straight lines of close slopes
    "v-pe-ob300": {"materials": ("V", "PE", "Al", "Cu"), "open_beam_counts": 300},
    "v-pe-ob1000": {"materials": ("V", "PE", "Al", "Cu")},
    # what detectors and normalisations leave (applied to the measured cube; see ARTEFACTS)
    "gain0.98": {"artefact": "gain0.98"},
    "gain1.05-ob100": {"artefact": "gain1.05", "open_beam_counts": 100},
    "shutter-gaps": {"artefact": "gaps"},
    "shutter-gaps-nan-ob100": {"artefact": "gaps-nan", "open_beam_counts": 100},
    "offset-0.02": {"artefact": "offset-0.02"},
    "flatfield-3%": {"artefact": "flatfield3"},
    "flatfield-wave-3%": {"artefact": "wave3"},
    "flatfield-10%": {"artefact": "flatfield"},
    "blur-1px": {"artefact": "blur1"},
    "blur-1px-ob100": {"artefact": "blur1", "open_beam_counts": 100},
}


def _gaps(x, value):
    x = x.copy()
    x[..., 200:212] = value  # the gaps between a ToF camera's shutters: nothing counted
    x[..., 400:406] = value
    return x


#: artefact: what it does to the measured transmissions
ARTEFACTS = {
    "gain0.98": lambda x: x * 0.98,  # open beam normalised 2 % too bright
    "gain1.05": lambda x: x * 1.05,
    "gaps": lambda x: _gaps(x, 0.0),
    "gaps-nan": lambda x: _gaps(x, np.nan),  # 0/0 after the division by the open beam
    "offset-0.02": lambda x: x - 0.02,  # a background subtracted 0.02 too high
    "flatfield": lambda x: x * np.linspace(0.9, 1.1, x.shape[1])[None, :, None],  # a gain across the map
    "flatfield3": lambda x: x * np.linspace(0.97, 1.03, x.shape[1])[None, :, None],
    "wave3": lambda x: x * _wave(x.shape[:2], 0.03)[..., None],
    # a detector's spatial blur (Gaussian, 1 px): pixels along a piece's edge mix it with the open beam
    "blur1": lambda x: __import__("scipy.ndimage", fromlist=["x"]).gaussian_filter(x, (1.0, 1.0, 0.0)),
}


def _wave(shape, amplitude):
    """An uneven flat field: ``1 + amplitude * sin(2 pi x) cos(pi y)`` over the map."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] / np.array([shape[0] - 1, shape[1] - 1])[:, None, None]
    return 1 + amplitude * np.sin(2 * np.pi * xx) * np.cos(np.pi * yy)


def best_correlation(means, truth):
    """Lowest, over the true regions, of the best correlation of a found mean spectrum with it (the open
    beam's flat spectrum, correlated with nothing, left out)."""
    def corr(m, t):
        ok = np.isfinite(m) & np.isfinite(t)  # dead channels left out
        return np.corrcoef(m[ok], t[ok])[0, 1]

    return min(max(corr(m, t) for m in means if np.nanmax(m) > np.nanmin(m)) for t in truth if np.ptp(t) > 0)


def one(case, seed):
    options = dict(CASES[case])
    artefact = options.pop("artefact", None)
    tof = make_tof((128, 128), 661, seed=seed, **options)
    if artefact:
        tof = dataclasses.replace(tof, image=tof.image.replace(
            data=ARTEFACTS[artefact](np.asarray(tof.image.data)).astype(np.float32)))
    truth = tof.labels.ravel()
    data = np.asarray(tof.image.data).reshape(truth.size, -1)
    clean = tof.region_spectra()
    row = {"case": case, "seed": seed, "n_regions": tof.n_regions,
           "true_corr": best_correlation([np.nanmean(data[truth == k], 0) for k in range(tof.n_regions)], clean)}
    for name, prior, k in (("prior", "auto", tof.n_regions), ("plain", False, tof.n_regions), ("auto", "auto", None)):
        res = map_phases(tof.image, n_phases=k, spatial_prior=prior)
        row[name] = {"ari": adjusted_rand_score(truth, res.labels.ravel()), "n_components": res.params["n_components"],
                     "corr": best_correlation(res.spectra.means, clean), "n_phases": res.n_phases}
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--json", help="output JSON path (default benchmarks/results/tof-<date>.json)")
    args = p.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [one(c, s) for c in cases for s in seeds]
    print("| case | options | ARI, no prior | ARI, prior (default) | components | corr. found / true regions "
          "| auto: regions found / true, ARI |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        rs = [r for r in rows if r["case"] == c]

        def cell(key, rs=rs):
            v = [r[key]["ari"] for r in rs]
            return f"{statistics.median(v):.3f} ({min(v):.3f})"

        corr = f"{min(r['prior']['corr'] for r in rs):.4f} / {min(r['true_corr'] for r in rs):.4f}"
        comps = "/".join(str(r["prior"]["n_components"]) for r in rs)
        found = "/".join(str(r["auto"]["n_phases"]) for r in rs)
        auto = f"{found} of {rs[0]['n_regions']}, {cell('auto')}"
        print(f"| {c} | {CASES[c] or 'default'} | {cell('plain')} | {cell('prior')} | {comps} | {corr} | {auto} |")
    write_results({"rows": rows, "seeds": seeds}, args.json, prefix="tof-")


if __name__ == "__main__":
    main()
