"""The EM step of ``classify`` chosen on the painted pixels' folds, against always the last: many rocks at 20 counts/px.

    .venv/bin/python -m benchmarks.bench_classify_steps [--corpus choose|held] [--draws 0,1] [--json PATH]

For each map and label draw (20 painted pixels per class, :func:`~phaselib.classify.sample_labels`),
:func:`~phaselib.classify.classify` with its defaults (poisson; the cross-validation chooses the EM step kept)
and with ``n_folds=1`` (no folds: the last of the six steps, as before session 50), and the reach of one template
per class: the summed spectra of every true pixel of each class with the same Potts prior (``oracle``).
Balanced accuracy over all pixels against the truth.

Corpora: ``choose`` (the maps the rule's margin was chosen on: random rocks 100-129 of
``bench_random_rocks`` at 150 x 200, the rich presets seeds 4-5, the independent generator's four rocks seed 2,
``make_rock`` seed 4) and ``held`` (made after the choice: random rocks 210-249, rich presets seeds 20-21, the
independent generator seed 10, ``make_rock`` seeds 30-31). ~5 min each on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from phaselib import datasets
from phaselib.classify import classify, sample_labels
from phaselib.lowcount._potts import potts_mean_field

from ._othergen import make_other_rock
from ._report import write_results
from .bench_random_rocks import draw

CORPORA = {
    "choose": dict(random=range(100, 130), rich=(4, 5), other=(2,), plain=(4,)),
    "held": dict(random=range(210, 250), rich=(20, 21), other=(10,), plain=(30, 31)),
}


def maps(corpus):
    """(group, name, rock) of a corpus."""
    c = CORPORA[corpus]
    for seed in c["random"]:
        yield "random", f"random s{seed}", datasets.make_rock((150, 200), counts_per_pixel=20, seed=seed, **draw(seed))
    for kind in ("basalt", "dacite", "granite"):
        for seed in c["rich"]:
            yield f"rich {kind}", f"rich {kind} s{seed}", datasets.make_rich_rock(
                (200, 300), kind=kind, counts_per_pixel=20, seed=seed)
    for kind in ("basalt", "granite", "marble", "schist"):
        for seed in c["other"]:
            yield f"other {kind}", f"other {kind} s{seed}", make_other_rock(
                (200, 300), kind=kind, counts_per_pixel=20, seed=seed)
    for seed in c["plain"]:
        yield "make_rock", f"make_rock s{seed}", datasets.make_rock((200, 300), counts_per_pixel=20, seed=seed)


def oracle(image, truth):
    """Balanced accuracy of the true-pixel templates with the Potts prior (beta 2)."""
    k = int(truth.max()) + 1
    data = np.asarray(image.data, np.float64).reshape(-1, image.shape[-1])
    s = np.stack([data[truth.ravel() == p].sum(0) for p in range(k)]) + 0.5
    s /= s.sum(1, keepdims=True)
    ll = (data @ np.log(s).T).reshape(*truth.shape, k)
    return balanced_accuracy_score(truth.ravel(), potts_mean_field(ll, 2.0).reshape(-1, k).argmax(1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", choices=sorted(CORPORA), default="held")
    p.add_argument("--draws", default="0,1")
    p.add_argument("--json", help="output JSON (default benchmarks/results/classify-steps-<corpus>-<date>.json)")
    args = p.parse_args(argv)
    rows = []
    for group, name, rock in maps(args.corpus):
        truth = rock.labels
        reach = oracle(rock.image, truth)
        for d in (int(x) for x in args.draws.split(",")):
            labels = sample_labels(truth, 20, random_state=d)
            chosen = classify(rock.image, labels)
            last = classify(rock.image, labels, n_folds=1)
            row = dict(group=group, map=name, draw=d, oracle=round(reach, 4), step=chosen.params["n_iter_used"],
                       chosen=round(balanced_accuracy_score(truth.ravel(), chosen.labels.ravel()), 4),
                       last=round(balanced_accuracy_score(truth.ravel(), last.labels.ravel()), 4),
                       cv_by_step=chosen.params["cv_balanced_accuracy_by_step"])
            rows.append(row)
            print(f"{name} draw {d}: last step {row['last']:.3f} -> step {row['step']} {row['chosen']:.3f} "
                  f"(oracle {reach:.3f})", flush=True)
    print("\n| maps | runs | last step (before) | EM step chosen | oracle | better by > 0.01 | worse by > 0.01 |")
    print("|---|---|---|---|---|---|---|")
    for group in dict.fromkeys(r["group"] for r in rows):
        g = [r for r in rows if r["group"] == group]
        _line(group, g)
    _line("**all**", rows)
    worst = min(r["chosen"] - r["last"] for r in rows)
    print(f"\nworst change {worst:+.4f}; runs under 0.95: {sum(r['last'] < 0.95 for r in rows)} -> "
          f"{sum(r['chosen'] < 0.95 for r in rows)}")
    write_results(dict(rows=rows, corpus=args.corpus), args.json, prefix=f"classify-steps-{args.corpus}-")


def _line(name, g):
    mean = statistics.fmean
    print(f"| {name} | {len(g)} | {mean(r['last'] for r in g):.4f} | {mean(r['chosen'] for r in g):.4f} | "
          f"{mean(r['oracle'] for r in g):.4f} | {sum(r['chosen'] > r['last'] + 0.01 for r in g)} | "
          f"{sum(r['chosen'] < r['last'] - 0.01 for r in g)} |")


if __name__ == "__main__":
    main()
