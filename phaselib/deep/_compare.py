"""Scores of several models and the random-forest baseline on a folder of labelled images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import phaselib.deep._data as _data
import phaselib.deep._evaluate as _evaluate

from ._runner import load_set, predict


def labelled_sets(folder, patterns):
    """``[(stem, {role: path}, labels)]`` of the image sets of ``folder`` that have a label map."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder.name}.")
    out = []
    for stem, paths in _data.find_sets(folder, patterns).items():
        lab = _data.find_labels(folder, stem)
        if lab is not None:
            out.append((stem, paths, _data.read_labels(lab)))
    if not out:
        raise ValueError(f"no labelled image set in {folder.name}.")
    return out


def class_map(folder, classes):
    """Index map from a folder's label ids (its ``classes.csv``) to ``classes`` (a model's), by name.

    Returns None when the folder has no ``classes.csv`` (its ids are taken to be the model's).

    Raises
    ------
    ValueError
        If the folder names a class the model does not have.
    """
    if not (Path(folder) / "classes.csv").exists():
        return None
    from ._labels import listed_classes

    names, _ = listed_classes(folder)  # its rows only: ids 10, 20, 30 are no 31 classes (class_0... were "unknown")
    unknown = [n for n in names.values() if n not in classes]
    if unknown:
        raise ValueError(f"the labels of {Path(folder).name} hold classes the model does not have: "
                         f"{', '.join(unknown[:5])}.")
    remap = np.full(max(names, default=-1) + 1, -2, np.int16)  # -2: an id classes.csv does not list
    for i, n in names.items():
        remap[i] = classes.index(n)
    return remap


def _relabel(lab, remap, n_classes, stem):
    """The label map ``lab`` in the model's ids; refused without a labelled pixel or with an id
    the model (or the folder's classes.csv) does not have: scores would be empty or silently wrong."""
    top = remap.size if remap is not None else n_classes
    unlisted = remap is not None and lab.max(initial=-1) < top and (remap[np.maximum(lab, 0)][lab >= 0] == -2).any()
    if lab.max(initial=-1) >= top or unlisted:
        bad = int(lab.max()) if not unlisted else int(lab[(lab >= 0) & (remap[np.maximum(lab, 0)] == -2)].min())
        raise ValueError(f"the label map of {stem} holds the id {bad}; "
                         + ("classes.csv does not list it." if remap is not None else f"the model has {top} classes."))
    if not (lab >= 0).any():
        raise ValueError(f"the label map of {stem} has no labelled pixel.")
    return lab if remap is None else np.where(lab >= 0, remap[np.maximum(lab, 0)], -1).astype(np.int16)


def compare(models, folder, *, baseline_folder=None, out=None, groups=None, seed=0, views=1):
    """Score models (and the random forest) on every labelled image set of ``folder``.

    Parameters
    ----------
    models : dict
        name -> :class:`Segmenter`; they must share their classes.
    folder : str or Path
        Image sets and ``NAME_labels.npy`` / ``.png`` maps (the truth; ``-1`` ignored); with a
        ``classes.csv``, its ids are matched to the model's classes by name.
    baseline_folder : str or Path, optional
        Training folder of the random forest on :func:`_evaluate.pixel_features` of the first
        model's inputs; None: no baseline.
    out : str or Path, optional
        Folder for ``NAME_comparison.png`` panels (PP or first input, truth, each model).
    groups : dict, optional
        New name -> class names merged (scores reported both ways).
    seed : int
    views : int
        Mirror images averaged by each model (:func:`predict`).

    Returns
    -------
    dict
        ``{"scores": {name: Scores (all sets)}, "per_set": {name: {stem: Scores}}, "merged":
        {name: Scores} (with ``groups``), "seconds": {name: seconds}, "skipped": {stem: why} (sets whose label map
        has no labelled pixel), "failed": {stem: error} (sets that could not be scored; the others are)}``.

    Raises
    ------
    ValueError
        If no set at all can be scored.
    """
    first = next(iter(models.values()))
    meta = first.meta
    classes = meta["classes"]
    for name, m in models.items():
        if m.meta["classes"] != classes:
            raise ValueError(f"model {name} has other classes than the first; compare models of one label set.")
    patterns = {}
    for m in models.values():
        for r in m.meta["inputs"]:
            patterns.setdefault(r, m.meta["patterns"][r])
    remap = class_map(folder, classes)
    skipped, failed, sets = {}, {}, []
    for stem, paths, lab in labelled_sets(folder, patterns):
        if not (lab >= 0).any():  # one such set stopped the whole evaluation (session 59)
            skipped[stem] = "its label map has no labelled pixel; not scored"
            continue
        try:
            sets.append((stem, paths, _relabel(lab, remap, len(classes), stem)))
        except ValueError as err:
            failed[stem] = str(err)
    if not sets:
        raise ValueError(f"no image set of {Path(folder).name} has a usable label map"
                         + (f" ({next(iter(failed.values()))})" if failed else " (none has a labelled pixel)."))
    runners, rf = dict(models), None
    seconds = dict.fromkeys(runners, 0.0)
    if baseline_folder is not None:
        t = time.perf_counter()
        base_map = class_map(baseline_folder, classes)
        base = [(st, p, _relabel(lab, base_map, len(classes), st))
                for st, p, lab in labelled_sets(baseline_folder, {r: meta["patterns"][r] for r in meta["inputs"]})
                if (lab >= 0).any()]  # a set without a labelled pixel teaches the forest nothing
        if not base:
            raise ValueError(f"no label map of {Path(baseline_folder).name} has a labelled pixel: the random forest "
                             "has nothing to learn from (--no_baseline).")
        xs = [load_set(p, meta) for _, p, _ in base]
        labs = [_data.refine_labels(x, _data.register_labels(x, _data.upsample_labels(lab, x.shape[:2]))[0])
                for x, (_, _, lab) in zip(xs, base)]
        rf = _evaluate.train_forest(xs, labs, seed=seed)
        seconds["random forest"] = time.perf_counter() - t
    per_set = {n: {} for n in list(runners) + (["random forest"] if baseline_folder is not None else [])}
    for stem, paths, truth in sets:
        try:
            _one_set(stem, paths, truth, runners, rf, meta, classes, per_set, seconds, out, views)
        except (ValueError, OSError) as err:  # one bad set: said for that set, the others still scored
            failed[stem] = str(err)
            for scores in per_set.values():
                scores.pop(stem, None)
    if not any(per_set.values()):
        raise ValueError(f"no image set of {Path(folder).name} could be scored ({next(iter(failed.values()))})")
    scores = {n: sum(s.values(), _evaluate.Scores(np.zeros((len(classes),) * 2, np.int64), tuple(classes)))
              for n, s in per_set.items()}
    merged = {n: s.merged(groups) for n, s in scores.items()} if groups else {}
    return {"scores": scores, "per_set": per_set, "merged": merged, "seconds": seconds, "skipped": skipped,
            "failed": failed}


def _one_set(stem, paths, truth, runners, rf, meta, classes, per_set, seconds, out, views):
    """Score every model (and the forest ``rf``) on one labelled set; its side-by-side panel into ``out``."""
    panels, titles = [], []
    for name, m in runners.items():
        x = load_set(paths, m.meta)
        if truth.shape != x.shape[:2]:  # a coarse map, as training takes it: on the images' grid, registered
            truth = _data.register_labels(x, _data.upsample_labels(truth, x.shape[:2],
                                                                   f"the label map of {stem}"))[0]
        if not panels:
            panels += [np.repeat((x[..., :3] * 255).astype(np.uint8), 3 // min(3, x.shape[-1]), axis=-1)[..., :3],
                       _evaluate.colourise(truth, meta["colors"])]
            titles += [m.meta["inputs"][0].upper(), "labels"]
        t = time.perf_counter()
        pred = predict(m, x, views=views)
        seconds[name] += time.perf_counter() - t
        per_set[name][stem] = _evaluate.score(truth, pred, classes)
        panels.append(_evaluate.colourise(pred, meta["colors"]))
        titles.append(name)
    if rf is not None:
        t = time.perf_counter()
        pred = _evaluate.predict_forest(rf, load_set(paths, meta))
        seconds["random forest"] += time.perf_counter() - t
        per_set["random forest"][stem] = _evaluate.score(truth, pred, classes)
        panels.append(_evaluate.colourise(pred, meta["colors"]))
        titles.append("random forest")
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        _evaluate.side_by_side(Path(out) / f"{stem}_comparison.png", panels, titles)
