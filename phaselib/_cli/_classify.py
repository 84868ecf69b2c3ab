"""``python -m phaselib classify INPUT --labels LABELS --out DIR``: phases from painted pixels."""

from __future__ import annotations

import sys
import time

from ._common import _number, add_input_options, open_input

#: when the command started
T_START = time.perf_counter()


def add_parser(subparsers):
    """Add the ``classify`` subcommand; return its parser."""
    from ..classify import CLASSIFIERS, DEFAULT_BETA, DEFAULT_CLASSIFIER

    m = subparsers.add_parser("classify", help="classify every pixel from a few labelled ones (supervised phases)")
    add_input_options(m)
    m.add_argument("--labels", required=True,
                   help="(H, W) int .npy (-1 unlabelled, 0..K-1) or a PNG painted in distinct colours "
                   "(white/black/transparent: unlabelled; names from LABELS.json {\"#rrggbb\": \"name\"})")
    m.add_argument("--out", required=True, help="output folder (created)")
    m.add_argument("--classifier", choices=CLASSIFIERS, default=None,
                   help=f"poisson (default for counts, {DEFAULT_CLASSIFIER!r}): class templates + Poisson likelihood "
                   "+ spatial prior (--beta, 0: off); knn / rf: on the PCA scores (rf: default for --signal intensity)")
    m.add_argument("--grow", type=_number(0, 50), nargs="+", default=None, metavar="PX",
                   help="poisson: Gaussian sigmas (pixels) spreading each labelled pixel over its neighbours for the "
                   "first templates; with several, the fit that agrees best with the labels is kept "
                   "(default: 1 2; 0: the labelled pixels alone)")
    m.set_defaults(beta=DEFAULT_BETA)  # the classifier's own default
    return m


def run(args):
    from ..classify import classify, read_labels, save_classification

    image, bar, _ = open_input(args)
    labels, names = read_labels(args.labels)
    n_classes = int(labels.max()) + 1  # before a crop or a bin leaves some out
    if args.crop and labels.shape != image.shape[:2]:
        (r0, r1), (c0, c1) = args.crop
        labels = labels[r0:r1, c0:c1]
    if args.bin > 1 and labels.shape != image.shape[:2]:
        labels = _bin_labels(labels, args.bin)
    if labels.shape != image.shape[:2]:
        raise ValueError(f"The labels ({labels.shape[0]} x {labels.shape[1]}) do not match the map "
                         f"({image.shape[0]} x {image.shape[1]} pixels).")
    labels, names, ids = _present_classes(labels, names, n_classes, bool(args.crop) or args.bin > 1)
    energy_range = tuple(args.energy_range) if args.energy_range else (0.1, None)
    t0 = time.perf_counter()
    result = classify(image, labels, classifier=args.classifier, class_names=names, beta=args.beta, grow=args.grow,
                      n_components=args.n_components, energy_range=energy_range, random_state=args.seed)
    if bar is not None:
        bar.close()
    save_classification(result, image, args.out, inputs=[args.input, args.labels],
                        summary_extra=dict(input=str(args.input), labels_file=str(args.labels), painted_class_ids=ids,
                                           wall_time_s=round(time.perf_counter() - T_START, 3)))
    ba = result.balanced_accuracy
    print(f"{result.n_classes} classes ({result.classifier}) in {time.perf_counter() - t0:.2f} s; "
          f"cross-validated balanced accuracy {'n/a' if ba is None else f'{ba:.3f}'}; written to {args.out}")
    for row in result.scores():
        f1 = "n/a" if row["f1"] is None else f"{row['f1']:.3f}"
        print(f"  {row['cls']}: {row['name']:<20} {100 * row['fraction']:6.2f} %  labelled {row['n_labelled']:4d}  "
              f"F1 {f1}")
    if result.params.get("cv_note"):
        print("  " + result.params["cv_note"])
    if result.params.get("count_scale"):
        print("  " + result.params["count_scale"]["note"])
    if result.params.get("blank_pixels"):  # said as map says them (the shares above are of the other pixels)
        what = "counts" if image.is_counts else "data (no finite value or 0 throughout)"
        print(f"  {result.params['blank_pixels']} pixels hold no {what}: no class (-1 in labels.npy)")


def _present_classes(labels, names, k, cut=False):
    """Labels and names of the classes that still have a labelled pixel (a crop or a bin can leave
    some out: painted on the whole map, a class may lie outside the cropped area); a note names the
    classes left out, and the others keep their names ("class N" by their ids, for a ``.npy``); the ids
    painted of the classes kept, in their new order (``labels.npy`` numbers them 0..K-1)."""
    import numpy as np

    if k < 1:
        return labels, names, None
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=k)
    present = np.flatnonzero(counts)
    if len(present) == k or len(present) < 2:  # all there; or too few: classify() says so
        return labels, names, list(range(k))
    given = list(names) if names is not None and len(names) >= k else [f"class {c}" for c in range(k)]
    gone = [given[c] for c in np.flatnonzero(counts == 0)]
    listed = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
    kept = ", ".join(f"{given[c]} -> {i}" for i, c in enumerate(present[:8])) + (" ..." if len(present) > 8 else "")
    print(f"phaselib: note: no labelled pixel of {listed} in the map{' as cropped/binned' if cut else ''}; "
          f"classifying with the {len(present)} other classes, numbered in labels.npy as {kept}", file=sys.stderr)
    remap = np.full(k, -1, np.int16)
    remap[present] = np.arange(len(present))
    out = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1).astype(np.int16)
    return out, tuple(given[c] for c in present), [int(c) for c in present]


def _bin_labels(labels, b):
    """Labels of the b x b binned map: the most common class of a block's labelled pixels (-1: none)."""
    import numpy as np

    h, w = labels.shape[0] // b * b, labels.shape[1] // b * b
    blocks = labels[:h, :w].reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3).reshape(h // b, w // b, b * b)
    k = int(labels.max()) + 1
    if k < 1:
        return np.full((h // b, w // b), -1, np.int16)
    votes = np.stack([(blocks == c).sum(-1) for c in range(k)], axis=-1)
    return np.where(votes.max(-1) > 0, votes.argmax(-1), -1).astype(np.int16)
