"""Bright spots (gamma hits, hot pixels) in a 2-D image: detection and cleaning.

Two detectors, both set from a mask of labelled pixels (``1`` spot, ``0`` not a spot, ``-1``
unlabelled), as in the seeds' neutron-imaging lecture:

``"median"`` (the lecture's baseline)
    A pixel is a spot when it exceeds its 3 x 3 median by more than a threshold; the threshold
    is the one with the best F1 on the labelled pixels.
``"rf"`` / ``"knn"`` (trained)
    A random forest or k-nearest neighbours on a few local features of each pixel, all in units of the local
    noise (Poisson's where the image holds counts, else a line fitted to the image, :func:`noise_model`: a camera's
    units, a flat-field correction): its differences to the 3 x 3 and 5 x 5 medians, the local standard deviation,
    a Laplacian of Gaussian, the largest of its neighbours' differences to their median, the edge strength of the
    median image, its difference to the median of its 24 neighbours in units of their own spread, noise and
    texture together, and its white top-hat (what a 7 px disc cannot fit under: clusters and tracks stand out, a
    sample's edge does not); trained on a balanced sample of the labelled pixels (as many non-spots as spots); the
    probability threshold is then the one with the best F1 on the labelled pixels (out-of-fold), since a balanced
    sample over-calls spots. A painted spot is taken as painted whole: the unlabelled pixels touching it are trained
    on as not spots. Features in counts (the value, the differences to the medians) are left out: the labelled part
    of an image is often brighter or darker than the rest, and a split learnt in counts does not carry over.

A cleaned image replaces the spots by the median of the non-spot pixels around them.
:func:`confusion` scores a detection against any truth mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ._spot_noise import POISSON_FACTOR, _noise_var, fit_noise  # noqa: F401 (POISSON_FACTOR: documented here)
from ._validate import check_array, check_choice, check_int

__all__ = ["METHODS", "SpotDetection", "clean_spots", "confusion", "detect_spots", "noise_model", "spot_features"]

METHODS = ("rf", "knn", "median")
#: the factor by which the share of spots among the labelled pixels must exceed its estimate among the unlabelled
#: ones for the trained detector's probabilities to be moved to each part's share: spots painted with a few strokes
#: of background give 7-42 (make_spotty_radiograph seeds 4-11); a left half labelled whole 0.4-1.7. The estimate
#: (EM on the model's probabilities) errs high where they are spread (spots painted with a halo: 0.2-0.3), so only
#: labels richer in spots than the rest are acted on
PRIOR_SHIFT = 3.0
#: fewer labelled spot pixels than this and a trained detector is said to have learnt from too few (an independent
#: generator's image with 9, all faint: F1 0.01 on the rest, the median baseline 0.28)
FEW_SPOTS = 20
FEATURE_NAMES = ("z_med3", "z_med5", "local_std", "log_sigma1", "neighbour_max_diff", "edge", "z_neighbours5",
                 "tophat7")


@dataclass(frozen=True, eq=False)
class SpotDetection:
    """Spots found in an image.

    Attributes
    ----------
    spots : (H, W) bool ndarray
    cleaned : (H, W) float32 ndarray
        The image with the spots replaced by the median of the non-spot pixels around them.
    method : str
    threshold : float
        ``"median"``: of the difference to the median; trained: of the spot probability.
    confusion : (2, 2) int ndarray
        On the labelled pixels (rows: label 0/1, columns: detection 0/1); out-of-fold for the
        trained detectors.
    precision, recall, f1 : float
        From ``confusion``; NaN when fewer than 2 spots or 2 other pixels are labelled (``params["scores_note"]``).
    params : dict
    """

    spots: np.ndarray
    cleaned: np.ndarray
    method: str
    threshold: float
    confusion: np.ndarray
    precision: float
    recall: float
    f1: float
    params: dict = field(default_factory=dict)


def confusion(truth, detected, mask=None):
    """(2, 2) confusion matrix, precision, recall and F1 of a spot detection.

    Parameters
    ----------
    truth, detected : (H, W) bool array_like
    mask : (H, W) bool array_like, optional
        Score only these pixels.

    Returns
    -------
    cm : (2, 2) int ndarray
        Rows truth (not spot, spot), columns detection.
    precision, recall, f1 : float
    """
    t = check_array(truth, "truth", kind="biuf") != 0
    d = check_array(detected, "detected", kind="biuf") != 0
    if t.shape != d.shape:
        raise ValueError(f"`truth` (shape {t.shape}) and `detected` (shape {d.shape}) must have one shape.")
    if mask is not None:
        m = check_array(mask, "mask", kind="biuf") != 0
        if m.shape != t.shape:
            raise ValueError(f"`mask` must have the shape {t.shape} of the images, got {m.shape}.")
        t, d = t[m], d[m]
    cm = np.array([[np.sum(~t & ~d), np.sum(~t & d)], [np.sum(t & ~d), np.sum(t & d)]], np.int64)
    return (cm, *_prf(cm))


def _prf(cm):
    tp, fp, fn = float(cm[1, 1]), float(cm[0, 1]), float(cm[1, 0])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _check_image(image):
    a = check_array(image, "image", ndim=2, kind="biuf")
    if a.size and a.min() == a.max():
        raise ValueError(f"`image` is constant (every pixel {a.flat[0]}): there is nothing to detect in it.")
    return a.astype(np.float32)


def _neighbour_z(f, noise_var, size=5, rows=256):
    """``(f - m) / sqrt(noise_var(m) + s**2)``: ``m`` the median of a pixel's ``size**2 - 1`` neighbours
    (itself left out), ``s`` their spread (1.4826 x median absolute deviation). The spread holds the texture
    and edges that the noise alone does not (a pixel of a bright grain among dark pores is not a
    spot). Computed ``rows`` rows at a time: the windows of a 2048 x 2048 image would take 400 MB."""
    half = size // 2
    padded = np.pad(f, half, mode="symmetric")
    ring = np.ones((size, size), bool)
    ring[half, half] = False
    out = np.empty_like(f)
    for r0 in range(0, f.shape[0], rows):
        r1 = min(r0 + rows, f.shape[0])
        near = np.lib.stride_tricks.sliding_window_view(padded[r0:r1 + 2 * half], (size, size))[..., ring]
        med = np.median(near, axis=-1)
        spread = 1.4826 * np.median(np.abs(near - med[..., None]), axis=-1)
        out[r0:r1] = (f[r0:r1] - med) / np.sqrt(noise_var(med) + spread * spread)
    return out


def noise_model(image, med5=None, n_bins=24):
    """``(gain, offset)`` of the noise variance ``gain * level + offset`` of a 2-D image, fitted to it (Poisson
    counts give ~(1, 0)); :func:`phaselib._spot_noise.fit_noise` says how."""
    return fit_noise(_check_image(image), med5, check_int(n_bins, "n_bins", low=3))


def spot_features(image):
    """(H * W, 8) float32 local features of every pixel (:data:`FEATURE_NAMES`), in units of the local noise:
    Poisson's where the image holds counts, else a noise model fitted to it (:func:`noise_model`)."""
    f = _check_image(image)
    med3 = ndimage.median_filter(f, size=3, mode="reflect")
    med5 = ndimage.median_filter(f, size=5, mode="reflect")
    var, _ = _noise_var(f, med5)
    noise3, noise5 = np.sqrt(var(med3)), np.sqrt(var(med5))
    d3, d5 = f - med3, f - med5
    mean = ndimage.uniform_filter(f, 3)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(f * f, 3) - mean * mean, 0))
    log = -ndimage.gaussian_laplace(f, 1.0)
    neigh = ndimage.maximum_filter(d3, footprint=np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool))
    edge = np.hypot(ndimage.sobel(med5, 0), ndimage.sobel(med5, 1))
    back = ndimage.grey_opening(med3, footprint=np.hypot(*np.mgrid[-3:4, -3:4]) <= 3.2)  # under a 7 px disc
    x = np.stack([d3 / noise3, d5 / noise5, std / noise3, log / noise3, neigh / noise3, edge / noise5,
                  _neighbour_z(f, var), (f - back) / np.sqrt(var(back))], axis=-1)
    return x.reshape(-1, x.shape[-1]).astype(np.float32)


def clean_spots(image, spots, *, size=5):
    """The image with each spot pixel replaced by the median of the non-spot pixels of its
    ``size x size`` neighbourhood (the 3 x 3 median of the whole image where all are spots)."""
    f = _check_image(image)
    s = check_array(spots, "spots", ndim=2, kind="biu").astype(bool)
    if s.shape != f.shape:
        raise ValueError(f"`spots` must have the image's shape {f.shape}, got {s.shape}.")
    size = check_int(size, "size", low=3, high=2 * max(f.shape) + 1)  # a window past the image is the image
    out = f.copy()
    if not s.any():
        return out
    half = size // 2
    masked = np.pad(np.where(s, np.nan, f), half, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(masked, (2 * half + 1, 2 * half + 1))
    rows, cols = np.nonzero(s)
    near = windows[rows, cols].reshape(rows.size, -1)
    ok = ~np.isnan(near).all(1)
    fill = ndimage.median_filter(f, size=3)[rows, cols]
    if ok.any():
        fill[ok] = np.nanmedian(near[ok], axis=1)
    out[rows, cols] = fill
    return out


def _check_mask(mask, shape):
    m = check_array(mask, "mask", ndim=2, kind="biu")
    if m.shape != shape:
        raise ValueError(f"`mask` must have the image's shape {shape}, got {m.shape}.")
    if not np.isin(m, (-1, 0, 1)).all():  # checked before the cast: 255 in a uint8 mask is not -1
        raise ValueError("`mask` must hold 1 (spot), 0 (not a spot) and -1 (unlabelled) only.")
    m = m.astype(np.int8)
    if not ((m == 1).any() and (m == 0).any()):
        raise ValueError("`mask` must label at least one spot (1) and one pixel that is not a spot (0).")
    return m


def _best_threshold(scores, truth):
    """The threshold on ``scores`` (spot when >) with the best F1 on ``truth``."""
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order].astype(np.int64)
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    f1 = 2 * tp / np.maximum(tp + fp + t.sum(), 1)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # cut only between distinct scores
    i = last[np.argmax(f1[last])]
    nxt = s[i + 1] if i + 1 < s.size else s[i] - 1.0
    return float((s[i] + nxt) / 2)


def detect_spots(image, mask, *, method="rf", n_train=4000, n_folds=3, clean_size=5, random_state=0) -> SpotDetection:
    """Find the spots of an image from a mask of labelled pixels, and clean them.

    Parameters
    ----------
    image : (H, W) array_like
    mask : (H, W) int array_like
        ``1`` spot, ``0`` not a spot, ``-1`` unlabelled.
    method : {"rf", "knn", "median"}
        See the module's description.
    n_train : int
        Trained detectors: at most this many spots, and as many non-spots, are drawn from the
        labelled pixels.
    n_folds : int
        Folds of the out-of-fold probabilities that choose the trained detector's threshold
        and its confusion matrix.
    clean_size : int
        Neighbourhood of the cleaning median (pixels).
    random_state : int

    Returns
    -------
    SpotDetection
    """
    f = _check_image(image)
    m = _check_mask(mask, f.shape)
    check_choice(method, "method", METHODS)
    n_train = check_int(n_train, "n_train")
    n_folds = check_int(n_folds, "n_folds", low=2)
    labelled = m.ravel() >= 0
    truth = m.ravel()[labelled] == 1
    if method == "median":
        diff = (f - ndimage.median_filter(f, size=3, mode="reflect")).ravel()
        threshold = _best_threshold(diff[labelled], truth)
        spots = diff > threshold
        cm, p, r, f1 = confusion(truth, spots[labelled])
        params = dict(size=3)
    else:
        x = spot_features(f)
        # a painted spot is painted whole: the unlabelled pixels touching it are not spots (without them the model
        # never saw a spot's neighbour labelled, where strokes of background stop short of the spots, and called the
        # rings around the spots)
        ring = ndimage.binary_dilation(m == 1, np.ones((3, 3), bool)) & (m < 0)
        spots, threshold, cm, params = _trained(x, np.where(ring, 0, m).ravel(), method, n_train, n_folds,
                                                random_state, labelled)
        params["ring_negatives"] = int(ring.sum())
        p, r, f1 = _prf(cm)
    spots = spots.reshape(f.shape)
    params.update(n_labelled=int(labelled.sum()), n_labelled_spots=int(truth.sum()), clean_size=clean_size)
    if method != "median" and 2 <= truth.sum() < FEW_SPOTS:
        params["few_spots_note"] = (f"only {int(truth.sum())} spot pixels labelled: a trained detector learns little "
                                    f"from fewer than {FEW_SPOTS} (paint more spots, or compare with the median "
                                    "baseline)")
    if min(truth.sum(), truth.size - truth.sum()) < 2:  # one of either: scored on the pixels that set the threshold
        p = r = f1 = float("nan")
        params["scores_note"] = (f"no scores: {int(truth.sum())} spot(s) and {int(truth.size - truth.sum())} other "
                                 "pixel(s) labelled; label 2 of each at least to score the detection on pixels "
                                 "left out of its fit")
    return SpotDetection(spots, clean_spots(f, spots, size=clean_size), method, threshold, cm, p, r, f1, params)


def _model(method, random_state, n_samples, few_spots):
    """The detector for a sample of ``n_samples`` labelled pixels: k <= the sample's size, and leaves of one pixel
    when the labels hold ``few_spots`` (under 10: leaves of 2 could not hold a lone spot, which was outvoted)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if method == "knn":
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.preprocessing import FunctionTransformer

        # distances need comparable scales: a signed log tames the spots' range of amplitudes
        signed_log = FunctionTransformer(lambda a: np.sign(a) * np.log1p(np.abs(a)))
        return make_pipeline(signed_log, StandardScaler(),
                             KNeighborsClassifier(n_neighbors=min(7, n_samples), weights="distance"))
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=1 if few_spots else 2, class_weight="balanced",
                                  random_state=random_state, n_jobs=1)


def _fit_scores(x, idx, y, method, folds, random_state):
    """Spot probability of every pixel, the sample's own pixels out of fold."""
    from sklearn.model_selection import StratifiedKFold

    few = int(y.sum()) < 10  # one setting for the model and its folds, whose threshold it takes
    proba = _model(method, random_state, y.size, few).fit(x[idx], y).predict_proba(x)[:, 1]
    scores = proba.copy()
    if folds >= 2:
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=random_state).split(idx, y):
            model = _model(method, random_state, tr.size, few)
            scores[idx[te]] = model.fit(x[idx[tr]], y[tr]).predict_proba(x[idx[te]])[:, 1]
    return proba, scores


def _trained(x, flat_mask, method, n_train, n_folds, random_state, scored):
    """Fit on a balanced sample; threshold and confusion from out-of-fold probabilities (the confusion on the pixels
    ``scored``, labelled in ``flat_mask`` too)."""
    rng = np.random.default_rng(random_state)
    pos, neg = np.flatnonzero(flat_mask == 1), np.flatnonzero(flat_mask == 0)
    n_pos = min(n_train, pos.size)
    # the background: as many random pixels as spots (at least n_train), and as many of its hardest
    # ones (largest difference to the median in noise units: edges, texture) that a random sample misses
    n_neg = min(neg.size, max(n_train, n_pos))
    hard = neg[np.argsort(-x[neg, FEATURE_NAMES.index("z_med3")])[:min(n_neg, neg.size)]]
    rest = np.setdiff1d(neg, hard, assume_unique=True)
    idx = np.concatenate([rng.choice(pos, n_pos, replace=False), hard,
                          rng.choice(rest, min(n_neg, rest.size), replace=False)])
    y = (flat_mask[idx] == 1).astype(np.int64)
    folds = min(n_folds, int(np.bincount(y).min()))
    proba, scores = _fit_scores(x, idx, y, method, folds, random_state)
    # the sample is balanced: choose the threshold on every labelled pixel, the sample's own
    # pixels taken out of fold, so that the share of spots among them is the real one
    labelled = np.flatnonzero(flat_mask >= 0)
    truth = flat_mask[labelled] == 1
    params = dict(n_train=int(idx.size), n_folds=folds, features=list(FEATURE_NAMES))
    pi_t, pi_l, unl = float(y.mean()), float(truth.mean()), np.flatnonzero(flat_mask < 0)
    pi_u = _unlabelled_prior(proba[unl], pi_t) if folds >= 2 and unl.size else pi_l
    if pi_l > PRIOR_SHIFT * pi_u:
        # the labels hold spots in another proportion than the rest (spots painted, a few strokes of background):
        # probabilities moved to each part's own share of spots, one threshold on them
        params["spot_share"] = dict(labelled=round(pi_l, 6), unlabelled_estimate=round(pi_u, 6))
        scores[labelled], proba[labelled] = (_to_prior(a[labelled], pi_l, pi_t) for a in (scores, proba))
        proba[unl] = _to_prior(proba[unl], pi_u, pi_t)
    threshold = _best_threshold(scores[labelled], truth) if folds >= 2 else 0.5
    cm, _, _, _ = confusion(flat_mask[scored] == 1, scores[scored] > threshold)
    return proba > threshold, threshold, cm, params


def _to_prior(p, prior, trained):
    """Probabilities of a model fitted at a share ``trained`` of spots, for pixels among which it is ``prior``."""
    a = prior / trained * p
    return a / np.maximum(a + (1 - prior) / (1 - trained) * (1 - p), 1e-300)


def _unlabelled_prior(p, trained, n_iter=200):
    """The share of spots among the unlabelled pixels (EM on the model's probabilities, Saerens et al. 2002)."""
    prior = trained
    for _ in range(n_iter):
        new = float(_to_prior(p, prior, trained).mean())
        if abs(new - prior) < 1e-9:
            break
        prior = new
    return prior
