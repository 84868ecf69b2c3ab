#!/usr/bin/env python
"""Mineral names under a detector unlike phaselib's model: the map's own calibration on and off.

A detector whose efficiency differs from the one phaselib's standardless model assumes reads
every line, and the background, ``p(E)`` times what the model expects. Thinning a map's counts
binomially, channel by channel, with probability ``p(E) = (E / 2 keV)^a`` (scaled to at most 1)
is exactly such a detector on the same specimen: nothing is simulated twice, and it applies to
real maps too. For each preset rock (true K given to ``map_phases``) and each ``a``, the phases
are named with :func:`phaselib.identify.name_phases` with ``calibrate`` off and on; a true
phase counts when the phase holding most of its pixels is named after it (first rank), and
"group" when the name is of its group (andesine for a labradorite zoned to An30 rims). On the
real P45 map (no truth) the names of the thinned maps are compared with those of the map as
recorded (the same number of phases asked for). From the repository root::

    python -m benchmarks.bench_names [--kinds basalt,dacite,granite] [--counts 100,400] [--a -0.6,0,0.6] [--json OUT]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks._report import command_line, write_results


def thinned(image, a, seed=0):
    """The map as a detector reading ``(E / 2)^a`` times the model's efficiency would record it."""
    if a == 0:
        return image
    e = np.clip(np.asarray(image.energy_keV, float), 0.1, None)
    p = (e / 2.0) ** a
    p = p / p[(e >= 0.2) & (e <= (image.beam_energy or e[-1]))].max()
    rng = np.random.default_rng(seed)
    data = np.asarray(image.data)
    return image.replace(data=rng.binomial(data, np.clip(p, 0, 1)).astype(data.dtype))


def _names(result, image, calibrate):
    from phaselib.identify import name_phases

    return name_phases(result.spectra.sums, image.energy_keV, beam_energy=image.beam_energy, calibrate=calibrate)


def rock_row(kind, counts, a, seed):
    from phaselib import datasets
    from phaselib.identify import mineral_table
    from phaselib.pipeline import map_phases

    groups = {m.name: m.group for m in mineral_table()}
    rock = datasets.make_rich_rock((200, 300), kind=kind, counts_per_pixel=counts, seed=seed)
    image = thinned(rock.image, a, seed)
    result = map_phases(image, n_phases=rock.n_phases, name_minerals=False)
    out = {}
    for cal in (False, True):
        names = _names(result, image, cal)
        first = group = 0
        for t, true in enumerate(rock.phase_names):
            found = result.labels[rock.labels == t]
            found = found[found >= 0]
            if found.size == 0:
                continue
            n = names[int(np.bincount(found).argmax())]
            first += n.best == true and n.candidates[0].name == true
            group += n.group == groups.get(true, "?")
        key = "calibrated" if cal else "plain"
        out[key], out[key + " (group)"] = f"{first}/{rock.n_phases}", f"{group}/{rock.n_phases}"
        out[key + " first"] = first
    return out


def p45_rows(alist):
    import phaselib
    from phaselib import datasets
    from phaselib.pipeline import map_phases

    image = phaselib.load(datasets.sample_path("P45"))
    ref = map_phases(image, name_minerals=False)
    rows = []
    base = {cal: [n.best for n in _names(ref, image, cal)] for cal in (False, True)}
    for a in alist:
        img = thinned(image, a)
        res = map_phases(img, n_phases=ref.n_phases, name_minerals=False)
        row = dict(map="P45", a=a, phases=res.n_phases)
        for cal in (False, True):
            names = [n.best for n in _names(res, img, cal)]
            same = sum(names[int(np.bincount(res.labels[ref.labels == k][res.labels[ref.labels == k] >= 0]).argmax())]
                       == base[True][k] for k in range(ref.n_phases))
            row["calibrated" if cal else "plain"] = f"{same}/{ref.n_phases} as recorded"
            row[("calibrated" if cal else "plain") + " names"] = ", ".join(names)
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default="basalt,dacite,granite")
    p.add_argument("--counts", default="100,400")
    p.add_argument("--a", default="-0.6,0,0.6")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-p45", action="store_true")
    p.add_argument("--json", help="write the rows here (default: benchmarks/results/names-<date>.json)")
    args = p.parse_args(argv)
    alist = [float(v) for v in args.a.split(",")]
    rows = []
    print(f"{'rock':8s} {'c/px':>5s} {'a':>5s} | {'plain':>6s} {'group':>6s} | {'calibrated':>10s} {'group':>6s}")
    for kind in args.kinds.split(","):
        for counts in (float(v) for v in args.counts.split(",")):
            for a in alist:
                r = dict(rock=kind, counts=counts, a=a, **rock_row(kind, counts, a, args.seed))
                rows.append(r)
                print(f"{kind:8s} {counts:5.0f} {a:5.1f} | {r['plain']:>6s} {r['plain (group)']:>6s} | "
                      f"{r['calibrated']:>10s} {r['calibrated (group)']:>6s}", flush=True)
    tot = {k: sum(r[k + " first"] for r in rows) for k in ("plain", "calibrated")}
    print(f"first-ranked true names, all cases: plain {tot['plain']}, calibrated {tot['calibrated']}")
    if not args.no_p45:
        for r in p45_rows([a for a in alist if a != 0]):
            rows.append(r)
            print(f"P45 a={r['a']:+.1f}: plain {r['plain']}, calibrated {r['calibrated']} "
                  f"({r['calibrated names']})")
    write_results(dict(command=command_line(), rows=rows, totals=tot), args.json, prefix="names-")


if __name__ == "__main__":
    main()
