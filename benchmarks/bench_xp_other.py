#!/usr/bin/env python
"""Grains with XP on an independent renderer: matched share, why crystals are missed, and what is separable at all.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_xp_other                       # every texture, seeds 1-2 (~4 minutes)
    .venv/bin/python -m benchmarks.bench_xp_other --textures granite,qkb --seeds 1,2,3 --renderer ours

Textures: ``make_texture``'s space-filling three-phase sets of ``bench_xp_grains`` (``qkb``, ``pkb``: 24 px grains;
``c40``: 40 px; ``f14``: 14 px) and the independent generator's rocks (``benchmarks/_othergen.py``: granite, basalt,
marble, schist). Renderers: ``optics`` (``benchmarks/_xp_optics.py``, textbook Michel-Levy optics written without
reading ``phaselib.datasets``) or ``ours`` (``render_thin_section``, as ``bench_deep_other`` renders these rocks).
``grain_map(TRUE phase map, min_area=10, boundary_image=XP)`` scored by ``score_grains(min_area=10)`` against the
true crystals. Each true crystal of 10 px or more that is not matched is classed: ``merged`` (one found grain holds
half of it or more but spreads over its neighbours), ``split`` (no found grain holds half of it), ``lost`` (half of it
or more in no found grain). Oracle (``optics`` only): a crystal is separable in principle when every crystal of its
phase that touches it differs from it by ``--contrast`` or more in mean colour (sRGB 0-1, noise-free unblurred image);
the share of such crystals bounds what any method splitting by colour alone can match.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage as ndi

from benchmarks._othergen import _TEXTURES
from benchmarks._report import write_results
from benchmarks._xp_optics import render_xp
from phaselib.datasets import make_texture
from phaselib.morphology import grain_map, match_grains

OURS = {"qkb": (["quartz", "K-feldspar", "biotite"], 24), "pkb": (["plagioclase", "K-feldspar", "biotite"], 24),
        "c40": (["plagioclase", "K-feldspar", "biotite"], 40), "f14": (["quartz", "K-feldspar", "biotite"], 14)}
OTHER = ("granite", "basalt", "marble", "schist")


def texture(name, seed, size=256):
    """(phase labels, crystal ids, mineral names) of one texture."""
    if name in OURS:
        minerals, gs = OURS[name]
        lab, gid = make_texture((size, size), n_phases=3, fractions=[0.5, 0.3, 0.2], grain_size=gs,
                                matrix_fraction=0, seed=seed)
        return lab, gid, list(minerals)
    lab, names, gid = _TEXTURES[name]((size, size), np.random.default_rng(seed))
    return lab, gid, list(names)


def render(lab, gid, minerals, seed, renderer, **kw):
    if renderer == "optics":
        return render_xp(lab, gid, minerals, seed=seed, **kw)
    from phaselib.datasets import render_thin_section
    names = {"oligoclase": "andesine", "glass": "basaltic glass"}
    extra = None
    if "dolomite" in minerals:
        from benchmarks._othergen_spectra import MINERALS as COMP
        extra = {"dolomite": COMP["dolomite"]}
    s = render_thin_section(lab, gid, [names.get(m, m) for m in minerals], seed=seed, compositions=extra, **kw)
    return s.xp, None


def _srgb(lin):
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def separable(lab, gid, clean, contrast, min_area=10):
    """Per true crystal id of ``min_area`` px or more: True where every touching crystal of its phase differs from it
    by ``contrast`` or more in mean sRGB colour of the noise-free image."""
    n = int(gid.max())
    area = np.bincount(gid.ravel(), minlength=n + 1)
    srgb = _srgb(clean)
    mean = np.stack([np.bincount(gid.ravel(), srgb[..., c].ravel(), minlength=n + 1) for c in range(3)], 1)
    mean /= np.maximum(area, 1)[:, None]
    phase = np.zeros(n + 1, int)
    phase[gid.ravel()] = lab.ravel()
    ok = {int(g): True for g in np.nonzero(area >= min_area)[0] if g > 0}
    for a, b in ((gid[:, :-1], gid[:, 1:]), (gid[:-1], gid[1:]), (gid[:-1, :-1], gid[1:, 1:]),
                 (gid[:-1, 1:], gid[1:, :-1])):
        pairs = np.unique(np.stack([a.ravel(), b.ravel()], 1), axis=0)
        pairs = pairs[(pairs[:, 0] != pairs[:, 1]) & (phase[pairs[:, 0]] == phase[pairs[:, 1]])]
        close = np.linalg.norm(mean[pairs[:, 0]] - mean[pairs[:, 1]], axis=1) < contrast
        for i, j in pairs[close]:
            for g in (i, j):
                if g in ok:
                    ok[g] = False
    return ok


def classify(found, gid, min_area=10):
    """Matched share and the unmatched true crystals classed as merged / split / lost, with the matched ids."""
    found, gid = found.copy(), gid.copy()
    for g in (found, gid):
        area = np.bincount(g.ravel())
        g[area[g] < min_area] = 0
    pairs, _ = match_grains(found, gid)
    matched = set(pairs[:, 1].tolist())
    counts = dict(merged=0, split=0, lost=0)
    kinds = {}
    for t, box in enumerate(ndi.find_objects(gid), start=1):
        if box is None or t in matched:
            continue
        m = gid[box] == t
        f = found[box][m]
        if np.count_nonzero(f == 0) * 2 >= f.size:
            k = "lost"
        else:
            best = np.bincount(f[f > 0]).max()
            k = "merged" if best * 2 >= f.size else "split"
        counts[k] += 1
        kinds[t] = k
    n_true = len(np.unique(gid[gid > 0]))
    return len(matched) / max(n_true, 1), counts, kinds, matched, n_true


def run(name, seed, renderer, contrasts=(0.03, 0.06), **kw):
    lab, gid, minerals = texture(name, seed)
    xp, truth = render(lab, gid, minerals, seed, renderer, **kw)
    found = grain_map(lab, min_area=10, boundary_image=xp).labels
    share, counts, kinds, matched, n_true = classify(found, gid)
    row = dict(texture=name, seed=seed, renderer=renderer, matched=share, n_true=n_true, **counts)
    if truth is not None:
        for c in contrasts:
            ok = separable(lab, gid, truth["clean"], c)
            row[f"separable_{c}"] = float(np.mean(list(ok.values())))
            row[f"matched_of_separable_{c}"] = float(np.mean([g in matched for g, v in ok.items() if v]))
            row[f"merged_inseparable_{c}"] = sum(1 for g, k in kinds.items() if k == "merged" and not ok.get(g, True))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--textures", default=",".join(list(OURS)[:2] + ["c40"] + list(OTHER)))
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--renderer", default="optics", choices=("optics", "ours"))
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    print("| texture | seed | renderer | true crystals | matched | merged | split | lost | separable (0.03 / 0.06) | "
          "matched of separable (0.03) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.textures.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run(name, seed, args.renderer)
            rows.append(r)
            sep = (f"{r['separable_0.03']:.2f} / {r['separable_0.06']:.2f} | {r['matched_of_separable_0.03']:.3f}"
                   if "separable_0.03" in r else "- | -")
            print(f"| {name} | {seed} | {args.renderer} | {r['n_true']} | **{r['matched']:.3f}** | {r['merged']} | "
                  f"{r['split']} | {r['lost']} | {sep} |", flush=True)
    for name in args.textures.split(","):
        m = [r["matched"] for r in rows if r["texture"] == name]
        print(f"{name}: mean matched {np.mean(m):.3f}")
    write_results(rows, args.json, prefix=f"xp-other-{args.renderer}-")


if __name__ == "__main__":
    main()
