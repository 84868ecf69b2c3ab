#!/usr/bin/env python
"""phaselib's ``map_phases`` on rocks from an independent generator (``benchmarks/_othergen.py``).

The generator was written from textbook EDS physics without reading ``phaselib.datasets``: minerals
as element weight fractions from their formulae; K-alpha/K-beta lines (Na..Zn), L lines (Fe, Zr, Ba...)
with intensities ~ weight fraction x fluorescence yield x a rough ionisation factor of the overvoltage
x matrix absorption x detector efficiency; a Kramers continuum ``Zbar (E0 - E) / E`` with the
same absorption and efficiency; Gaussian peaks of FWHM ``sqrt(a + b E)`` (130 eV at Mn K-alpha); Si
escape and sum peaks; heavy phases a little brighter. Textures: ``basalt`` (labradorite laths,
augite, olivine phenocrysts with magnetite inclusions, glass ~15 %, Fe-Ti oxides, 0.3 % apatite),
``granite`` (coarse quartz / K-feldspar / oligoclase, biotite flakes, magnetite, zircon in biotite),
``marble`` (calcite ~70 %, dolomite, diopside, quartz, pyrite ~0.35 %) and ``schist`` (foliated
quartz ~50 %, oligoclase, muscovite, biotite, almandine porphyroblasts with inclusion trails, ilmenite
~0.5 %). The beam mixes the phases over a Gaussian of ``sigma = 0.7`` px, then Poisson counts.

Every map (200 x 300 px x 2048 channels of 10 eV, 15 kV) is mapped twice: ``map_phases(image)``
(``auto``: the number of phases found by phaselib) and ``map_phases(image, n_phases=K)`` with the true
``K``. Reported: the adjusted Rand index against the truth (all pixels, unassigned ones a class of
their own), the number of phases found, the recall of each true phase after the Hungarian matching
(:func:`phaselib.compare.match_labels`), the mineral named for each found phase, the seconds, and,
for every run, what each found phase holds of the truth and which true phases were merged, split
or lost. From the repository root::

    python -m benchmarks.bench_othergen [--kinds basalt,granite,marble,schist] [--counts 20,60,200] \
        [--seeds 1,2] [--beam-kv 15] [--json PATH]

``--beam-kv 10``: the same rocks at 10 kV (Fe K barely excited: a glass and its plagioclase then differ by Al and
Ca within a factor of 2 and by minor K, Mg, Fe, Ti).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks._env import environment
from benchmarks._othergen import KINDS, make_other_rock
from benchmarks._report import command_line, write_results

SHORT = {"labradorite": "Pl", "augite": "Aug", "olivine": "Ol", "glass": "Gl", "ilmenite": "Ilm",
         "magnetite": "Mag", "apatite": "Ap", "quartz": "Qz", "K-feldspar": "Kfs", "oligoclase": "Olg",
         "biotite": "Bt", "zircon": "Zrn", "calcite": "Cal", "dolomite": "Dol", "diopside": "Di", "pyrite": "Py",
         "muscovite": "Ms", "almandine": "Alm"}


def _ints(text):
    return [int(v) for v in text.split(",") if v.strip()]


def _short(name):
    return SHORT.get(name, name)


def score(labels, truth, names, result):
    """ARI, recalls, what each found phase holds and the merges / splits / losses of one run."""
    from phaselib.compare import match_labels, phase_matching

    k = len(names)
    found = np.asarray(labels)
    ari = float(adjusted_rand_score(truth.ravel(), found.ravel()))
    matched = match_labels(found, truth)
    recall = {n: float(np.mean(matched[truth == i] == i)) for i, n in enumerate(names)}
    pairs = phase_matching(found, truth)
    kf = int(found.max()) + 1 if found.size and found.max() >= 0 else 0
    table = np.zeros((max(kf, 1), k), np.int64)  # found x truth pixel counts
    ok = found >= 0
    np.add.at(table, (found[ok], truth[ok]), 1)
    minerals = result.minerals
    phases = []
    for j in range(kf):
        n_j = int(table[j].sum())
        order = np.argsort(-table[j])
        holds = [(names[i], round(float(table[j, i] / max(n_j, 1)), 3)) for i in order[:3] if table[j, i] > 0]
        phases.append(dict(
            phase=j, n_pixels=n_j, fraction=round(n_j / truth.size, 4),
            matched=names[pairs[j]] if j in pairs else None, holds=holds,
            mineral=minerals[j].best if j < len(minerals) else "",
            mineral_text=minerals[j].text if j < len(minerals) else ""))
    problems = []
    # merged: one found phase holds most of the pixels of several true phases
    home = {i: int(np.argmax(table[:, i])) if table[:, i].sum() else -1 for i in range(k)}
    for j in range(kf):
        into = [names[i] for i in range(k) if home[i] == j]
        if len(into) > 1:
            problems.append(f"merged {'+'.join(into)} into phase {j} ({phases[j]['mineral']})")
    # split: a true phase is the majority of several found phases
    for i in range(k):
        parts = [j for j in range(kf) if table[j].sum() and int(np.argmax(table[j])) == i]
        if len(parts) > 1:
            shares = ", ".join(f"{j} ({phases[j]['mineral']}, {table[j, i] / max(table[:, i].sum(), 1):.0%})"
                               for j in parts)
            problems.append(f"split {names[i]} into phases {shares}")
    # lost or poorly recalled
    for i, n in enumerate(names):
        if recall[n] < 0.5:
            j = home[i]
            where = f"mostly in phase {j} ({phases[j]['mineral']})" if j >= 0 else "all unassigned"
            problems.append(f"lost {n} (recall {recall[n]:.2f}, {where})")
    unassigned = float(np.mean(found < 0))
    return dict(ari=ari, recall=recall, phases=phases, problems=problems, unassigned=unassigned,
                confusion=table.tolist())


def run_one(kind, counts, seed, beam_kv=15.0):
    from phaselib.pipeline import map_phases

    t0 = time.perf_counter()
    rock = make_other_rock(kind=kind, counts_per_pixel=counts, seed=seed, beam_kv=beam_kv)
    t_gen = time.perf_counter() - t0
    rows = []
    k = len(rock.names)
    for mode, n_phases in (("auto", "auto"), ("K", k)):
        t0 = time.perf_counter()
        r = map_phases(rock.image, n_phases=n_phases)
        seconds = time.perf_counter() - t0
        s = score(r.labels, rock.labels, rock.names, r)
        rows.append(dict(kind=kind, counts=counts, seed=seed, beam_kv=beam_kv, mode=mode, k_true=k,
                         k_found=int(r.n_phases),
                         seconds=round(seconds, 2), generate_s=round(t_gen, 2), truth=list(rock.names),
                         truth_fractions=[round(float(f), 4) for f in rock.fractions],
                         refinement=r.params.get("refinement"), **s))
        print(f"  {kind} counts={counts} seed={seed} {mode}: K={r.n_phases}/{k} ARI={s['ari']:.3f} "
              f"{seconds:.1f}s", flush=True)
    return rows


def markdown(rows):
    out = ["| kind | counts | seed | mode | K true | K found | ARI | recall per true phase | minerals found | s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec = " ".join(f"{_short(n)} {v:.2f}" for n, v in r["recall"].items())
        mins = ", ".join(f"{p['phase']}:{p['mineral']}" for p in r["phases"])
        out.append(f"| {r['kind']} | {r['counts']} | {r['seed']} | {r['mode']} | {r['k_true']} | {r['k_found']} "
                   f"| {r['ari']:.3f} | {rec} | {mins} | {r['seconds']:.1f} |")
    return "\n".join(out)


def summary(rows):
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    counts = list(dict.fromkeys(r["counts"] for r in rows))
    out = ["| kind | " + " | ".join(f"{c} auto | {c} K" for c in counts) + " |",
           "|---|" + "---|" * (2 * len(counts))]
    for kind in kinds + ["all"]:
        cells = []
        for c in counts:
            for mode in ("auto", "K"):
                v = [r["ari"] for r in rows if r["counts"] == c and r["mode"] == mode and kind in ("all", r["kind"])]
                cells.append(f"{np.mean(v):.3f}" if v else "–")
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def details(rows):
    out = []
    for r in rows:
        flag = "  <-- " + "; ".join(r["problems"]) if r["problems"] else ""
        out.append(f"\n{r['kind']} counts={r['counts']} seed={r['seed']} {r['mode']}: K {r['k_found']}/{r['k_true']}, "
                   f"ARI {r['ari']:.3f}, unassigned {r['unassigned']:.2%}{flag}")
        for p in r["phases"]:
            holds = ", ".join(f"{n} {v:.0%}" for n, v in p["holds"])
            out.append(f"  phase {p['phase']}: {p['fraction']:.2%} matched={p['matched']} holds [{holds}] "
                       f"-> {p['mineral_text']}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--counts", default="20,60,200", help="mean counts per pixel, comma-separated")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--beam-kv", type=float, default=15.0, help="the beam's energy (kV)")
    ap.add_argument("--json", default=None, help="write the results there")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    rows = []
    for kind in kinds:
        for counts in _ints(args.counts):
            for seed in _ints(args.seeds):
                rows.extend(run_one(kind, counts, seed, args.beam_kv))
    print(f"\n## map_phases on the independent generator's rocks (200 x 300 px, 2048 ch, {args.beam_kv:g} kV, "
          "beam sigma 0.7 px)\n")
    print(markdown(rows))
    print("\nMean ARI per kind and count level (auto / true K):\n")
    print(summary(rows))
    print("\nFound phases (share of the map, matched true phase, what it holds of the truth, mineral names):")
    print(details(rows))
    if args.json:
        write_results(dict(command=command_line(), environment=environment(),
                           generator=dict(module="benchmarks/_othergen.py", shape=[200, 300], n_channels=2048,
                                          energy_scale_kev=0.01, beam_kv=args.beam_kv, beam_sigma_px=0.7),
                           runs=rows), args.json)


if __name__ == "__main__":
    main()
