#!/usr/bin/env python
"""Grains of every crystalline phase on the independent generator's rocks, against the true crystals.

``benchmarks/_othergen.py`` paints its textures object by object (laths, polygons, inclusions over a
Voronoi-like background of cells) and keeps the id of each: ``OtherRock.grains`` numbers the true
crystals (the pixels each object still holds at the end, every 8-connected piece a crystal of its own;
each connected glass region one id). Each map (200 x 300 px, 2048 channels, 15 kV) is scored twice:

* true masks: ``grain_map(rock.labels)``, the grains that ``phaselib.morphology`` separates when the
  phase map is perfect: what the separation itself loses;
* found maps: ``map_phases(rock.image, name_minerals=False)`` then ``grain_map(r.labels)``; each found
  phase is given the true phase holding most of its pixels (majority overlap; a true phase split into
  two found phases keeps the grains of both; disagreements with the Hungarian
  :func:`phaselib.compare.phase_matching` are recorded in the JSON).

Per true phase (glass left out: it has no crystals), the found grains of that phase are scored against
``np.where(rock.labels == p, rock.grains, 0)`` by :func:`phaselib.morphology.score_grains` with
``min_area=10``: ``matched`` (share of true crystals matched one-to-one at IoU >= 0.5), ``count error``
((found - true) / true) and the median relative error of the equivalent diameter of the matched grains.
Phases that host inclusions are flagged ``*`` (olivine with magnetite in basalt, biotite with zircon in
granite, almandine with quartz / ilmenite trails in schist). ``touching``: share of the true crystals that
share an edge with another crystal of their phase (a boundary no phase map shows; a separation can only
guess it from the shape). Each true crystal left unmatched is put in one class: ``lost`` (found pixels of
the phase cover < 50 % of it), ``split`` (its largest found grain holds < 50 % of it; ``split@incl``: the
crystal holds an inclusion, enclosed or in a bay), ``merged`` (its best found grain holds >= 50 % of it
and also >= 50 % of another true crystal of the phase, or >= 10 px of one), ``grown`` (the rest: the found
grain is too large for another reason, e.g. a rim of mixed pixels around a small crystal). From the
repository root::

    python -m benchmarks.bench_othergen_grains [--kinds basalt,granite,marble,schist] [--counts 50,200] \
        [--seeds 1,2] [--beams 0.7[,1.5]] [--beam-counts 50] [--json PATH]

Beams after the first of ``--beams`` run only at the ``--beam-counts`` levels (default: the lowest count).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

from benchmarks._env import environment
from benchmarks._othergen import KINDS, make_other_rock
from benchmarks._report import command_line, write_results

MIN_AREA = 10
_EIGHT = np.ones((3, 3), bool)
SHAPE = (200, 300)
#: phases holding inclusions, per kind
HOSTS = {"basalt": {"olivine"}, "granite": {"biotite"}, "schist": {"almandine"}, "marble": set()}
CLASSES = ("lost", "split", "split@incl", "merged", "grown")


def _ints(text):
    return [int(v) for v in text.split(",") if v.strip()]


def _floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def _drop_small(ids):
    ids = ids.copy()
    area = np.bincount(ids.ravel())
    ids[area[ids] < MIN_AREA] = 0
    return ids


def has_inclusion(t, labels, grains, boxes):
    """Whether true crystal ``t`` holds an inclusion: a crystal of another phase that it encloses, or that it
    surrounds over at least half of its outline (an inclusion in a bay of the crystal); ``boxes``:
    ``ndi.find_objects(grains)``."""

    def padded(i):
        return tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in boxes[i - 1])

    box = padded(t)
    sub = grains[box] == t
    near = ndi.binary_dilation(sub, _EIGHT) & ~sub & (labels[box] != labels[box][sub][0])
    for o in np.unique(grains[box][near]):
        ob = padded(o)
        om = grains[ob] == o
        ring = ndi.binary_dilation(om, _EIGHT) & ~om
        if np.count_nonzero(ring & (grains[ob] == t)) >= 0.5 * np.count_nonzero(ring):
            return True
    return False


def failures(found, true, labels, grains):
    """The class (:data:`CLASSES`) of every true crystal (>= MIN_AREA px) left unmatched by ``score_grains``."""
    from phaselib.morphology import match_grains

    found, true = _drop_small(found), _drop_small(true)
    pairs, _ = match_grains(found, true, min_iou=0.5)
    done = set(pairs[:, 1].tolist())
    ta = np.bincount(true.ravel())
    both = (found > 0) & (true > 0)
    base = int(true.max()) + 1
    pair, inter = np.unique(found[both].astype(np.int64) * base + true[both], return_counts=True)
    pf, pt = pair // base, pair % base
    out, boxes = dict.fromkeys(CLASSES, 0), None
    for t in np.unique(true[true > 0]):
        if t in done:
            continue
        sel = pt == t
        fs, ins = pf[sel], inter[sel]
        if ins.sum() < 0.5 * ta[t]:
            out["lost"] += 1
            continue
        f = fs[np.argmax(ins)]
        if ins.max() < 0.5 * ta[t]:
            boxes = ndi.find_objects(grains) if boxes is None else boxes
            out["split@incl" if has_inclusion(t, labels, grains, boxes) else "split"] += 1
            continue
        others = (pf == f) & (pt != t)
        shares = inter[others] / ta[pt[others]]
        out["merged" if np.any((shares >= 0.5) | (inter[others] >= MIN_AREA)) else "grown"] += 1
    return out


def touching_share(labels, grains, p):
    """Share of the true crystals of ``p`` (>= MIN_AREA px) sharing an edge with another crystal of ``p``."""
    t = _drop_small(np.where(labels == p, grains, 0))
    ids = np.unique(t[t > 0])
    near = set()
    for x, y in ((t[:, :-1], t[:, 1:]), (t[:-1], t[1:])):
        m = (x > 0) & (y > 0) & (x != y)
        near |= set(x[m].tolist()) | set(y[m].tolist())
    return float(np.mean([i in near for i in ids.tolist()])) if ids.size else 0.0


def score_phase(gmap, phases, labels, grains, p):
    """``score_grains`` of the grains of ``gmap`` whose phase is in ``phases`` against the true crystals of ``p``."""
    from phaselib.morphology import score_grains

    ph = gmap.phases[np.maximum(gmap.labels, 1) - 1] if gmap.n_grains else np.zeros(gmap.labels.shape, np.int64)
    found = np.where((gmap.labels > 0) & np.isin(ph, list(phases)), gmap.labels, 0).astype(np.int64)
    true = np.where(labels == p, grains, 0)
    try:
        s = score_grains(found, true, min_area=MIN_AREA)
    except ValueError:  # no true crystal of MIN_AREA px
        return None
    s["why"] = failures(found, true, labels, grains)
    return s


def majority_phases(found, truth, k):
    """{true phase: [found phases whose pixels are mostly of it]} and the found x true pixel table."""
    ok = found >= 0
    kf = int(found.max()) + 1 if ok.any() else 0
    table = np.zeros((max(kf, 1), k), np.int64)
    np.add.at(table, (found[ok], truth[ok]), 1)
    home = {p: [] for p in range(k)}
    for j in range(kf):
        if table[j].sum():
            home[int(np.argmax(table[j]))].append(j)
    return home, table


def run_one(kind, counts, beam, seed):
    from phaselib.compare import phase_matching
    from phaselib.morphology import grain_map
    from phaselib.pipeline import map_phases

    t0 = time.perf_counter()
    rock = make_other_rock(SHAPE, kind, counts, seed=seed, beam_sigma_px=beam)
    t_gen = time.perf_counter() - t0
    k = len(rock.names)
    t0 = time.perf_counter()
    g_true = grain_map(rock.labels)
    t_true = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = map_phases(rock.image, name_minerals=False)
    t_map = time.perf_counter() - t0
    found = np.asarray(r.labels)
    home, table = majority_phases(found, rock.labels, k)
    hungarian = phase_matching(found, rock.labels)
    t0 = time.perf_counter()
    g_found = grain_map(found)
    t_found = time.perf_counter() - t0
    rows = []
    for p, name in enumerate(rock.names):
        if "glass" in name or "groundmass" in name:
            continue
        st = score_phase(g_true, [p], rock.labels, rock.grains, p)
        sf = score_phase(g_found, home[p], rock.labels, rock.grains, p) if home[p] else None
        if st is None:
            continue
        recall = float(np.mean(np.isin(found[rock.labels == p], home[p]))) if home[p] else 0.0
        rows.append(dict(kind=kind, counts=counts, beam=beam, seed=seed, phase=name, host=name in HOSTS[kind],
                         area=float(rock.fractions[p]), n_true=st["n_true"], true_masks=st, found_map=sf,
                         touching=touching_share(rock.labels, rock.grains, p),
                         found_phases=home[p], pixel_recall=recall))
    disagree = {int(j): int(t) for j, t in hungarian.items() if int(np.argmax(table[j])) != t}
    meta = dict(kind=kind, counts=counts, beam=beam, seed=seed, k_true=k, k_found=int(r.n_phases),
                unassigned=float(np.mean(found < 0)), majority_vs_hungarian=disagree, confusion=table.tolist(),
                seconds=dict(generate=round(t_gen, 1), grains_true=round(t_true, 1), map=round(t_map, 1),
                             grains_found=round(t_found, 1)))
    print(f"  {kind} counts={counts} beam={beam} seed={seed}: K {r.n_phases}/{k}, "
          f"{t_gen:.0f}+{t_true:.0f}+{t_map:.0f}+{t_found:.0f} s", flush=True)
    return rows, meta


def _cell(s):
    if s is None:
        return "– | – | –"
    return f"{s['matched']:.2f} | {s['count_error']:+.2f} | {s['diameter_error']:.2f}"


def markdown(rows):
    out = ["| kind | counts | beam | seed | phase | area % | n true | touching | true: matched | count err | diam err "
           "| found: matched | count err | diam err | n found (true/found map) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st, sf = r["true_masks"], r["found_map"]
        nf = f"{st['n_found']} / {sf['n_found'] if sf else '–'}"
        name = r["phase"] + (" *" if r["host"] else "")
        out.append(f"| {r['kind']} | {r['counts']} | {r['beam']:g} | {r['seed']} | {name} | {100 * r['area']:.1f} "
                   f"| {r['n_true']} | {r['touching']:.2f} | {_cell(st)} | {_cell(sf)} | {nf} |")
    return "\n".join(out)


def summary(rows):
    """Mean matched per (kind, counts, beam, phase) over the seeds (a true phase no found phase holds: 0)."""
    keys = list(dict.fromkeys((r["kind"], r["counts"], r["beam"], r["phase"]) for r in rows))
    out = ["| kind | counts | beam | phase | seeds | touching | true masks: mean matched | found maps: mean matched |",
           "|---|---|---|---|---|---|---|---|"]
    for key in keys:
        sel = [r for r in rows if (r["kind"], r["counts"], r["beam"], r["phase"]) == key]
        mt = np.mean([r["true_masks"]["matched"] for r in sel])
        mf = [r["found_map"]["matched"] if r["found_map"] else 0.0 for r in sel]
        host = " *" if sel[0]["host"] else ""
        tc = np.mean([r["touching"] for r in sel])
        out.append(f"| {key[0]} | {key[1]} | {key[2]:g} | {key[3]}{host} | {len(sel)} | {tc:.2f} | {mt:.2f} "
                   f"| {np.mean(mf):.2f} |")
    return "\n".join(out)


def why(rows, below=0.9):
    """The classes of the unmatched true crystals of every phase with matched < ``below``."""
    out = []
    for r in rows:
        for side in ("true_masks", "found_map"):
            s = r[side]
            if s is None or s["matched"] >= below:
                continue
            parts = ", ".join(f"{c} {n}" for c, n in s["why"].items() if n)
            out.append(f"- {r['kind']} {r['counts']} beam {r['beam']:g} seed {r['seed']} {r['phase']} ({side}): "
                       f"matched {s['matched']:.2f} of {s['n_true']} (found {s['n_found']}); "
                       f"unmatched: {parts}; pixel recall of the phase {r['pixel_recall']:.2f}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--counts", default="50,200", help="mean counts per pixel, comma-separated")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--beams", default="0.7", help="beam sigmas, px; those after the first only at --beam-counts")
    ap.add_argument("--beam-counts", default=None, help="count levels for the extra beams (default: the lowest)")
    ap.add_argument("--json", default=None, help="write the results there")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    counts, beams = _ints(args.counts), _floats(args.beams)
    extra = _ints(args.beam_counts) if args.beam_counts else [min(counts)]
    rows, metas = [], []
    t0 = time.perf_counter()
    for kind in kinds:
        for c in counts:
            for beam in beams[:1] + [b for b in beams[1:] if c in extra]:
                for seed in _ints(args.seeds):
                    r, m = run_one(kind, c, beam, seed)
                    rows += r
                    metas.append(m)
    total = time.perf_counter() - t0
    print(f"\n## Grains on the independent generator's rocks ({SHAPE[0]} x {SHAPE[1]} px, min_area {MIN_AREA}, "
          f"{total:.0f} s)\n")
    print("`*`: phase hosting inclusions. true: grain_map of the true phase map; found: of map_phases' map.\n")
    print(markdown(rows))
    print("\nMean matched per phase over the seeds:\n")
    print(summary(rows))
    print("\nUnmatched true crystals of the phases with matched < 0.9 "
          "(lost / split / split@incl / merged / grown):\n")
    print(why(rows))
    if args.json:
        write_results(dict(command=command_line(), environment=environment(), seconds=round(total, 1),
                           generator=dict(module="benchmarks/_othergen.py", shape=list(SHAPE), n_channels=2048,
                                          energy_scale_kev=0.01, beam_kv=15.0),
                           min_area=MIN_AREA, rows=rows, maps=metas), args.json)


if __name__ == "__main__":
    main()
