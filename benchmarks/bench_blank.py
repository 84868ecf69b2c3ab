#!/usr/bin/env python
"""Maps with pixels that hold no counts (an empty edge, a montage's gaps, dead pixels): phases and ARI on the rest.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_blank            # ~5 min
    .venv/bin/python -m benchmarks.bench_blank --maps p45

Each map is emptied four ways: ``edge`` (a 12 px empty edge and an 8-row strip: a drift-corrected map), ``gaps``
(two 3 px empty lines across: a stitched montage's seams), ``dead`` (1 % of the pixels, scattered) and ``corner``
(a third of the map, an L-shaped corner: a sample that does not fill the frame). Maps: ``rocks``, the default
synthetic rock and the rich basalt (:func:`~phaselib.datasets.make_rich_rock`), 150 x 200 px, at 20, 60 and 200
counts/px, seed 3, against their truth on the pixels that hold data; ``p45``, the bundled real map (122 counts/px)
and its binomial thinning to 22 counts/px, against the same map's phases without the emptying (K = 5 and
``auto``). Columns: phases found (true) and ARI on the pixels that hold data, with the true number given and
``auto``; the share of the empty pixels given a phase. Results: markdown on stdout, JSON in
``benchmarks/results/blank-<date>.json``.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks._report import write_results
from phaselib import load
from phaselib.datasets import make_rich_rock, make_rock, sample_path
from phaselib.pipeline import map_phases

PATTERNS = ("edge", "gaps", "dead", "corner")


def emptied(shape, pattern, seed=0):
    """(H, W) bool: the pixels to empty."""
    h, w = shape
    m = np.zeros(shape, bool)
    if pattern == "edge":
        m[:, :12] = m[:8, :] = True
    elif pattern == "gaps":
        m[h // 2 - 1:h // 2 + 2, :] = m[:, w // 3 - 1:w // 3 + 2] = True
    elif pattern == "dead":
        m.ravel()[np.random.default_rng(seed).choice(h * w, h * w // 100, replace=False)] = True
    else:
        m[: h // 2, : w // 3] = m[: h // 3, : w * 2 // 3] = True
    return m


def maps(which):
    """(name, image, reference labels, number of phases) of each map asked for."""
    if "rocks" in which:
        for counts in (20, 60, 200):
            r = make_rock((150, 200), counts_per_pixel=counts, seed=3)
            yield f"default rock, {counts} counts/px", r.image, r.labels, r.n_phases
            r = make_rich_rock((150, 200), kind="basalt", counts_per_pixel=counts, seed=3)
            yield f"rich basalt, {counts} counts/px", r.image, r.labels, r.n_phases
    if "p45" in which:
        image = load(sample_path("P45"))
        thin = image.replace(data=np.random.default_rng(0).binomial(np.asarray(image.data), 0.18).astype(np.uint8))
        for name, im in (("P45, 122 counts/px", image), ("P45 thinned, 22 counts/px", thin)):
            yield name, im, map_phases(im, n_phases=5).labels, 5


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--maps", default="rocks,p45", help="comma-separated: rocks, p45")
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    print("| map | emptied | share empty | K given: phases, ARI | auto: phases, ARI | empty pixels given a phase |")
    print("|---|---|---|---|---|---|")
    for name, image, ref, k in maps(args.maps.split(",")):
        for pattern in PATTERNS:
            mask = emptied(image.shape[:2], pattern)
            data = np.array(image.data)
            data[mask] = 0
            im = image.replace(data=data)
            row = dict(map=name, pattern=pattern, empty=float(mask.mean()), true=k)
            for key, n in (("k", k), ("auto", "auto")):
                pm = map_phases(im, n_phases=n)
                row[key] = dict(phases=pm.n_phases, ari=float(adjusted_rand_score(ref[~mask], pm.labels[~mask])),
                                given=float(np.mean(pm.labels[mask] >= 0)))
            rows.append(row)
            print(f"| {name} | {pattern} | {row['empty']:.3f} | {row['k']['phases']} ({k}), {row['k']['ari']:.3f} | "
                  f"{row['auto']['phases']}, {row['auto']['ari']:.3f} | {row['k']['given']:.2f} / "
                  f"{row['auto']['given']:.2f} |", flush=True)
    write_results(dict(rows=rows), args.json, prefix="blank-")


if __name__ == "__main__":
    main()
