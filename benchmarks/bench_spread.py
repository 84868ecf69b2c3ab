#!/usr/bin/env python
"""The beam-spread step of ``map_phases`` on rocks it was not built on: ARI with the step off and on.

Rocks made with ``make_rock`` from other minerals, grain sizes, beam spreads and zoning than the presets
the step was built on (``phaselib/refine/_blur.py``), each mapped with the true number of phases, with
``beam_spread=False`` and with the default; the spread read is printed beside. From the repository root::

    python -m benchmarks.bench_spread [--counts 30,150] [--seed 11] [--json PATH]
"""

from __future__ import annotations

import argparse

from sklearn.metrics import adjusted_rand_score as ari

#: name, minerals, fractions, grain size (px), beam spread (px), zoning, glass
ROCKS = [
    ("metapelite", ["quartz", "muscovite", "biotite", "almandine", "chlorite", "rutile"],
     [0.35, 0.25, 0.2, 0.1, 0.08, 0.02], 10.0, 1.0, 0.0, None),
    ("amphibolite", ["hornblende", "plagioclase", "quartz", "titanite", "ilmenite"],
     [0.5, 0.3, 0.12, 0.05, 0.03], 14.0, 0.5, 0.5, None),
    ("marble", ["calcite", "diopside", "quartz", "pyrite", "apatite"], [0.6, 0.2, 0.12, 0.05, 0.03], 8.0, 0.8, 0.0,
     None),
    ("andesite", ["labradorite", "augite", "magnetite", "basaltic glass"], [0.4, 0.2, 0.05, 0.35], 16.0, 0.7, 0.8,
     "basaltic glass"),
]


def row(rock, counts, seed):
    """ARI with the step off and on, and what the step did, on one rock at one count level."""
    from phaselib.datasets import make_rock
    from phaselib.pipeline import map_phases

    name, minerals, fractions, grain, spread, zoning, glass = rock
    r = make_rock((160, 240), counts_per_pixel=counts, minerals=minerals, fractions=fractions, grain_size=grain,
                  beam_spread=spread, zoning=zoning, glass=glass, seed=seed)
    off = map_phases(r.image, n_phases=len(minerals), beam_spread=False)
    on = map_phases(r.image, n_phases=len(minerals))
    info = on.params["beam_spread"]
    return dict(rock=name, counts=counts, true_spread=spread, ari_off=ari(r.labels.ravel(), off.labels.ravel()),
                ari_on=ari(r.labels.ravel(), on.labels.ravel()), spread_read=info["sigma"], moved=info["moved"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", default="30,150", help="counts per pixel, comma-separated")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    rows = []
    print("| rock | beam spread (px) | counts/px | ARI off -> on | spread read (px) | pixels moved |")
    print("|---|---|---|---|---|---|")
    for rock in ROCKS:
        for counts in (float(v) for v in args.counts.split(",")):
            r = row(rock, counts, args.seed)
            rows.append(r)
            print(f"| {r['rock']} | {r['true_spread']:g} | {counts:g} | {r['ari_off']:.3f} -> {r['ari_on']:.3f} | "
                  f"{r['spread_read']:g} | {r['moved']} |", flush=True)
    if args.json:
        import json
        from pathlib import Path

        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
