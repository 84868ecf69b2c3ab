"""classify(): fit from sparse labels, predict every pixel, cross-validate on the labelled pixels."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._intensity import no_data_pixels
from .._validate import MAX_CLASSES, check_array, check_choice, check_image, check_int, check_seed
from .._validate import check_labels as check_label_values
from ..lowcount import SMOOTH_KEV
from ..lowcount._potts import check_beta
from ..preprocess import as_counts, blank_pixels
from ._poisson import choose_step

CLASSIFIERS = ("poisson", "knn", "rf")
#: the default for count maps (EDS); an intensity cube (transmission...) gets ``"rf"``: see :func:`default_classifier`
DEFAULT_CLASSIFIER = "poisson"
#: Potts strength of the Poisson classifier (twice lowcount's: the templates are known, and on rich
#: rocks at 20 counts/px 2.0 beats 1.0 by 0.03-0.15 in balanced accuracy, thin glass films included)
DEFAULT_BETA = 2.0


@dataclass(frozen=True, eq=False)
class Classification:
    """A supervised phase map and its cross-validated scores.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Class of every pixel; -1 where a pixel holds no counts (:func:`phaselib.preprocess.blank_pixels`).
    probabilities : (H, W, K) float32 ndarray
        Class probabilities of every pixel.
    classes : tuple of str
        Class names.
    classifier : str
    confusion : (K, K) int ndarray or None
        Cross-validated confusion matrix on the labelled pixels (rows: label, columns:
        prediction); None when a class has a single labelled pixel.
    precision, recall, f1 : (K,) ndarray or None
        Per-class scores from ``confusion``.
    n_labelled : (K,) int ndarray
        Labelled pixels of each class.
    spectra : (K, C) ndarray or None
        The Poisson classifier's templates (rows summing to 1 in the energy window) on the
        input's channels; None for kNN / random forest.
    params : dict
    timings : dict
        Seconds: ``features``, ``fit_predict``, ``cv`` (for ``poisson``, with the refit at the EM step kept when the
        cross-validation chose an earlier one than the last).
    """

    labels: np.ndarray
    probabilities: np.ndarray
    classes: tuple
    classifier: str
    confusion: np.ndarray | None
    precision: np.ndarray | None
    recall: np.ndarray | None
    f1: np.ndarray | None
    n_labelled: np.ndarray
    spectra: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def balanced_accuracy(self) -> float | None:
        """Mean cross-validated recall of the classes (None without cross-validation)."""
        return None if self.recall is None else float(np.mean(self.recall))

    def scores(self) -> list[dict]:
        """One row per class: class, name, n_labelled, precision, recall, f1, fraction (of the map)."""
        frac = np.bincount(self.labels[self.labels >= 0], minlength=self.n_classes) / max(np.sum(self.labels >= 0), 1)
        rows = []
        for i, name in enumerate(self.classes):
            row = dict(cls=i, name=name, n_labelled=int(self.n_labelled[i]), fraction=round(float(frac[i]), 6))
            for key in ("precision", "recall", "f1"):
                v = getattr(self, key)
                row[key] = None if v is None else round(float(v[i]), 4)
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        h, w = self.labels.shape
        ba = self.balanced_accuracy
        head = (f"<Classification {h} x {w} pixels, {self.n_classes} classes ({self.classifier})"
                + (f", {self.params['cv_note']}" if ba is None and "cv_note" in self.params else "")
                + ("" if ba is None else f", cross-validated balanced accuracy {ba:.3f}"))
        rows = [f"  {r['name']}: {100 * r['fraction']:5.1f} % of the map, {r['n_labelled']} labelled"
                + ("" if r["recall"] is None else f", recall {r['recall']:.2f}, F1 {r['f1']:.2f}")
                for r in self.scores()]
        return "\n".join([head, *rows]) + ">"


def confusion_scores(truth, pred, n_classes):
    """Confusion matrix (rows truth, columns prediction) and per-class precision, recall, F1."""
    n_classes = check_int(n_classes, "n_classes", high=MAX_CLASSES)
    t = check_label_values(truth, "truth", high=n_classes, low=0)
    truth = t.astype(np.int64).ravel()
    pred = check_label_values(pred, "pred", high=n_classes, low=0, shape=t.shape).astype(np.int64).ravel()
    cm = np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(np.float64)
    precision = tp / np.maximum(cm.sum(0), 1)
    recall = tp / np.maximum(cm.sum(1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return cm, precision, recall, f1


def sample_labels(reference, n_per_class=20, *, random_state=0):
    """Sparse labels drawn from a phase map: ``n_per_class`` random pixels of each class.

    Parameters
    ----------
    reference : (H, W) int array_like
        A phase map (``-1``: unassigned, never drawn).
    n_per_class : int
        Pixels drawn per class (all of a class's pixels when it has fewer).
    random_state : int

    Returns
    -------
    (H, W) int16 ndarray
        ``-1`` everywhere but the drawn pixels.
    """
    ref = check_array(reference, "reference", ndim=2, kind="iu")
    n = check_int(n_per_class, "n_per_class")
    rng = np.random.default_rng(check_seed(random_state))
    out = np.full(ref.shape, -1, np.int16)
    flat = ref.ravel()
    for c in np.unique(flat[flat >= 0]):
        idx = np.flatnonzero(flat == c)
        pick = rng.choice(idx, size=min(n, idx.size), replace=False)
        out.ravel()[pick] = c
    return out


def check_labels(labels, shape):
    """Validated ``(H, W)`` labels: their flat index, classes and the number of classes."""
    labels = check_array(labels, "labels", ndim=2, kind="iu")
    if labels.shape != tuple(shape):
        raise ValueError(f"`labels` must have the map's shape {tuple(shape)}, got {labels.shape}.")
    if labels.min() < -1 or labels.max() >= MAX_CLASSES:
        raise ValueError(f"`labels` must be -1 (unlabelled) or a class 0..{MAX_CLASSES - 1}, got {int(labels.min())} "
                         f"to {int(labels.max())}.")
    flat = labels.ravel().astype(np.int64)
    index = np.flatnonzero(flat >= 0)
    k = int(flat.max()) + 1
    counts = np.bincount(flat[index], minlength=k)
    if k < 2 or np.any(counts == 0):
        missing = [int(c) for c in np.flatnonzero(counts == 0)]
        raise ValueError("`labels` must label at least two classes, each with a pixel"
                         + (f"; classes {missing[:10]}{' ...' if len(missing) > 10 else ''} have none." if missing
                            else f", got {k} class(es)."))
    return index, flat[index], k, counts


def default_classifier(image):
    """``"poisson"`` for a count map; ``"rf"`` for an intensity cube, whose values are not counts (on
    ``make_tof`` cubes with 20 painted pixels per region: rf 0.998-0.999, knn 0.94-0.97)."""
    return DEFAULT_CLASSIFIER if check_image(image).is_counts else "rf"


def classify(image, labels, *, classifier=None, class_names=None, beta=DEFAULT_BETA, n_iter=6,
             n_sweeps=10, intensity=False, grow=None, smooth_features=True, n_components="auto",
             energy_range=(0.1, None),
             n_folds=5, max_train_per_class=2000, decomposition=None, random_state=0) -> Classification:
    """Classify every pixel of a map from a few labelled ones.

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int array_like
        ``-1`` unlabelled, ``0..K-1`` the class of a labelled pixel (a few painted pixels,
        or a whole reference phase map: see also :func:`sample_labels`).
    classifier : {"poisson", "knn", "rf"}, optional
        Default: :func:`default_classifier` (``"poisson"``, or ``"rf"`` for an intensity cube).
        ``"poisson"``: class templates (summed spectra of the labelled pixels and their neighbours), the
        exact Poisson likelihood of each pixel, a Potts spatial prior of strength `beta` and
        `n_iter` semi-supervised EM steps re-estimating the templates from every pixel.
        ``"knn"`` / ``"rf"``: k-nearest neighbours / random forest (scikit-learn) on the
        Poisson-weighted PCA scores (with smoothed copies when `smooth_features`).
    class_names : sequence of str, optional
    beta : float
        Potts strength for ``poisson`` (nats per equal pair of neighbours; 0: per pixel).
    n_iter, n_sweeps : int
        EM steps and mean-field sweeps per step (``poisson``). With the cross-validation, `n_iter` is the most:
        the step whose out-of-fold balanced accuracy on the labelled pixels is highest is kept (an earlier one
        only when it beats the last by more than ``_poisson.STEP_MARGIN``); ``params["n_iter_used"]`` says which.
    grow : float or sequence of float, optional
        ``poisson``: Gaussian (pixels) spreading each labelled pixel over its neighbours for the first
        templates (0: the labelled pixels alone); with several, each is fitted and the fit whose classes
        agree best with the labelled pixels is kept. Default ``(1.0, 2.0)``.
    intensity : bool
        ``poisson``: also weigh each pixel's total counts (the full Poisson likelihood); off by
        default, as topography and dead time change the totals (as in :mod:`phaselib.lowcount`).
    smooth_features : bool
        ``knn`` / ``rf``: append Gaussian-smoothed score maps (sigma 1 to 4 px).
    n_components : int or "auto"
        PCA scores used as features (``knn`` / ``rf``).
    energy_range : (float, float or None)
        Energy window, keV.
    n_folds : int
        Stratified folds of the cross-validation on the labelled pixels (at most the smallest
        class's count; none below 2).
    max_train_per_class : int
        ``knn`` / ``rf`` train on at most this many labelled pixels per class (a random subset:
        for a whole reference map).
    decomposition : Decomposition, optional
        A PCA of this map to reuse (``knn`` / ``rf``).
    random_state : int

    Returns
    -------
    Classification
    """
    check_image(image)
    classifier = default_classifier(image) if classifier is None else classifier
    check_choice(classifier, "classifier", CLASSIFIERS)
    if classifier == "poisson" and not image.is_counts:
        raise ValueError("The poisson classifier assumes counts; for an intensity cube (transmission...) "
                         "use classifier 'rf' or 'knn'.")
    h, w, _ = image.shape
    index, y, k, counts = check_labels(labels, (h, w))
    image, scale = as_counts(image) if decomposition is None else (image, None)  # counts times a factor
    names = tuple(f"class {i}" for i in range(k)) if class_names is None else tuple(str(n) for n in class_names)
    if len(names) != k:
        raise ValueError(f"`class_names` must name the {k} classes, got {len(names)} names.")
    beta = check_beta(beta)
    asked_folds = check_int(n_folds, "n_folds")
    n_folds = min(asked_folds, int(counts.min()))
    check_int(max_train_per_class, "max_train_per_class")
    check_int(n_components, "n_components", allow_auto=True)  # even where unused (poisson): a slip is said
    timings = {}
    if classifier == "poisson":
        run, params, close, sums = _poisson_runner(image, (h, w), k, energy_range, beta, n_iter, n_sweeps,
                                                   intensity, grow, timings)
    else:
        run, params, close, sums = _sklearn_runner(image, classifier, k, smooth_features, n_components,
                                                   energy_range, decomposition, random_state, timings)
    train = _subsample(index, y, max_train_per_class, random_state) if classifier != "poisson" else (index, y)
    try:
        t0 = time.perf_counter()
        proba, extra = run(*train)
        timings["fit_predict"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cm = precision = recall = f1 = None
        if n_folds >= 2:
            pred = _cross_validate(run, train[0], train[1], n_folds, random_state)
            if isinstance(pred, dict):  # poisson: out-of-fold predictions after each EM step
                step, scores = choose_step(train[1], pred, k)
                params.update(n_iter_used=step,
                              cv_balanced_accuracy_by_step={s: round(v, 4) for s, v in scores.items()})
                pred = pred[step]
                if step < max(scores):  # the map of the step kept (its last E-step with every sweep)
                    proba, extra = run(*train, n_steps=step)
            cm, precision, recall, f1 = confusion_scores(train[1], pred, k)
        timings["cv"] = time.perf_counter() - t0
    finally:
        close()
    proba = proba.reshape(h, w, k).astype(np.float32, copy=False)
    params.update(classifier=classifier, n_classes=k, n_folds=n_folds if n_folds >= 2 else 0,
                  n_train=int(train[0].size), random_state=random_state)
    if n_folds < 2:
        params["cv_note"] = _no_cv_reason(asked_folds, counts, names)
    if scale is not None and scale.scaled:
        params["count_scale"] = scale.as_dict()
    full = None
    if classifier == "poisson":
        full = np.zeros((k, image.n_channels))
        full[:, extra["channels"]] = extra["spectra"]
    pred = proba.argmax(-1).astype(np.int16)
    # pixels that hold no counts, or no finite value of a cube: no class, as map_phases
    blank = blank_pixels(sums) if image.is_counts else no_data_pixels(image)
    if blank is not None and blank.any():
        pred[blank], proba[blank] = -1, 0
        params["blank_pixels"] = int(np.count_nonzero(blank))
    return Classification(pred, proba, names, classifier, cm, precision, recall, f1, counts, full, params, timings)


def _no_cv_reason(asked, counts, names):
    """Why no cross-validated scores were made (said in the summary and the command's output)."""
    if asked < 2:
        return f"no cross-validation (n_folds={asked})"
    few = [names[i] for i in np.flatnonzero(counts < 2)]
    listed = ", ".join(few[:5]) + (f" and {len(few) - 5} more" if len(few) > 5 else "")
    return (f"no cross-validation: it needs 2 labelled pixels of every class at least, and {listed} "
            f"{'has' if len(few) == 1 else 'have'} 1; label more pixels of {'it' if len(few) == 1 else 'them'}")


def _subsample(index, y, n_max, random_state):
    rng = np.random.default_rng(random_state)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(idx if idx.size <= n_max else rng.choice(idx, n_max, replace=False))
    keep = np.sort(np.concatenate(keep))
    return index[keep], y[keep]


def _cross_validate(run, index, y, n_folds, random_state):
    """Out-of-fold predictions of the labelled pixels (stratified k-fold); for ``poisson``, a dict of them after
    each EM step."""
    from sklearn.model_selection import StratifiedKFold

    pred = None
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for tr, te in folds.split(index.reshape(-1, 1), y):
        proba, extra = run(index[tr], y[tr], predict_index=index[te])
        steps = extra.get("steps")  # poisson: the predictions after each EM step
        if pred is None:
            pred = {s: np.empty_like(y) for s in steps} if steps else np.empty_like(y)
        if steps:
            for s, v in steps.items():
                pred[s][te] = v
        else:
            pred[te] = proba.argmax(-1)
    return pred


def _poisson_runner(image, shape, k, energy_range, beta, n_iter, n_sweeps, intensity, grow, timings):
    from .._stream import WeightedBlocks
    from ..preprocess import energy_channels
    from ._poisson import GROW_SIGMAS, poisson_fit

    n_iter = check_int(n_iter, "n_iter")
    n_sweeps = check_int(n_sweeps, "n_sweeps")
    check_choice(intensity, "intensity", (True, False))
    given = grow
    try:
        grow = GROW_SIGMAS if grow is None else tuple(float(g) for g in np.atleast_1d(grow))
    except (TypeError, ValueError):
        grow = ()
    if not grow or not all(np.isfinite(g) and 0 <= g <= 50 for g in grow):
        raise ValueError(f"`grow` must be one or more sigmas in pixels, 0 to 50, got {given!r:.60}.")
    t0 = time.perf_counter()
    channels = energy_channels(image, energy_range)
    scale = getattr(image, "energy_scale", None) or 0.0
    sigma = SMOOTH_KEV / scale if scale > 0 else 0.0
    wb = WeightedBlocks(image.data, slice(None), poisson=False)
    timings["features"] = time.perf_counter() - t0

    def run(train_index, train_y, predict_index=None, n_steps=None):
        # the fit on every labelled pixel chooses the growth of the first templates; the folds reuse it
        steps = {}
        q, spectra, _, params["grow_px"] = poisson_fit(wb, channels, shape, train_index, train_y, k,
                                                       grow=params.get("grow_px", grow),
                                                       beta=beta, n_iter=n_steps or n_iter, n_sweeps=n_sweeps,
                                                       sigma=sigma, intensity=intensity, steps=steps)
        sel = slice(None) if predict_index is None else predict_index
        steps = {s: v[sel] for s, v in steps.items()}
        return q.reshape(-1, k)[sel], dict(spectra=spectra, channels=channels, steps=steps)

    params = dict(beta=beta, n_iter=n_iter, n_sweeps=n_sweeps, intensity=intensity,
                  energy_range=[float(image.energy_keV[channels.start]), float(image.energy_keV[channels.stop - 1])])
    return run, params, wb.close, wb.pixel_sums.reshape(shape)


def _sklearn_runner(image, classifier, k, smooth_features, n_components, energy_range, decomposition,
                    random_state, timings):
    from ._features import pca_features

    check_choice(smooth_features, "smooth_features", (True, False))
    t0 = time.perf_counter()
    x, dec, n_used = pca_features(image, k, n_components=n_components,
                                  smooth_sigma=(1.0, 4.0) if smooth_features else None, energy_range=energy_range,
                                  decomposition=decomposition, random_state=random_state)
    timings["features"] = time.perf_counter() - t0

    def run(train_index, train_y, predict_index=None):
        model = _model(classifier, train_y, random_state)
        model.fit(x[train_index], train_y)
        proba = np.zeros((x.shape[0] if predict_index is None else predict_index.size, k), np.float32)
        proba[:, model.classes_] = model.predict_proba(x if predict_index is None else x[predict_index])
        return proba, {}

    params = dict(n_components=n_used, smooth_features=smooth_features, n_features=int(x.shape[1]),
                  energy_range=list(dec.params.get("energy_range", energy_range)))
    return run, params, lambda: None, dec.pixel_sums


def _model(classifier, y, random_state):
    if classifier == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        n = int(min(5, np.bincount(y).min()))
        return KNeighborsClassifier(n_neighbors=max(1, n), weights="distance")
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=1, class_weight="balanced",
                                  random_state=random_state, n_jobs=1)
