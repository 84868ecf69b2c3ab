#!/usr/bin/env python
"""How far a phase map can go on a synthetic rock: classifiers that know the true phase spectra.

For each preset and count level, the true phase spectra are taken from a 2000 counts/px rendering
of the same rock (same seed: same texture, zoning and mixing); each pixel of the map at the given
count level is then classified by the multinomial likelihood of its counts under them, alone
(``beta 0``) and with the Potts prior of :mod:`phaselib.lowcount` (mean field, ``beta`` 2 and 4),
and ``map_phases`` (true K) is run beside them. ARI against the generator's phase map. Where
``map_phases`` is at or above the oracles, what is left is in the data (beam mixing along
boundaries, zoned rims, glass between its minerals), not in the estimation of the spectra. From the
repository root::

    python -m benchmarks.bench_oracle [--kinds dacite,basalt,granite,default] [--counts 20,200] [--seeds 1]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import adjusted_rand_score as ari


def _rock(kind, counts, seed):
    from phaselib import datasets

    if kind == "default":
        return datasets.make_rock((200, 300), counts_per_pixel=counts, seed=seed)
    return datasets.make_rich_rock((200, 300), kind=kind, counts_per_pixel=counts, seed=seed)


def row(kind, counts, seed):
    from phaselib.lowcount._potts import potts_mean_field
    from phaselib.pipeline import map_phases

    rock, clean = _rock(kind, counts, seed), _rock(kind, 2000, seed)
    h, w, c = rock.image.shape
    truth = rock.labels.ravel()
    k = int(truth.max()) + 1
    ref = np.asarray(clean.image.data, np.float64).reshape(-1, c)
    spectra = np.array([ref[truth == p].sum(0) for p in range(k)]) + 0.5
    spectra /= spectra.sum(1, keepdims=True)
    ll = (np.asarray(rock.image.data, np.float64).reshape(-1, c) @ np.log(spectra).T).reshape(h, w, k)
    out = {f"oracle, beta {b}": ari(truth, (potts_mean_field(ll, b) if b else ll).reshape(-1, k).argmax(1))
           for b in (0, 2, 4)}
    out["map_phases (true K)"] = ari(truth, map_phases(rock.image, n_phases=k).labels.ravel())
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default="dacite,basalt,granite,default")
    p.add_argument("--counts", default="20,200")
    p.add_argument("--seeds", default="1")
    args = p.parse_args(argv)
    header = None
    for kind in args.kinds.split(","):
        for counts in (float(v) for v in args.counts.split(",")):
            for seed in (int(v) for v in args.seeds.split(",")):
                r = row(kind, counts, seed)
                if header is None:
                    header = list(r)
                    print("| map | counts/px | seed | " + " | ".join(header) + " |")
                    print("|---|---|---|" + "---|" * len(header))
                print(f"| {kind} | {counts:g} | {seed} | " + " | ".join(f"{r[h]:.3f}" for h in header) + " |",
                      flush=True)


if __name__ == "__main__":
    main()
