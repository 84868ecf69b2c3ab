"""The Poisson template classifier: class spectra from the labelled pixels and their neighbours, exact
Poisson log-likelihood per pixel, optionally the Potts prior of :mod:`phaselib.lowcount` and a few
semi-supervised EM steps that re-estimate the templates from every pixel."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..lowcount._potts import loglik, normalise, potts_mean_field, smooth, weighted_sums

#: log-likelihood penalty (nats) that keeps a labelled pixel in its class during the E-steps
CLAMP_NATS = 1e4
#: the M-steps re-estimate each template from the pixels whose posterior for it is at least this
#: (soft posteriors of every pixel let a template drift toward a similar, larger phase: on the rich
#: dacite at 20 counts/px, 0 -> 0.5 raises the balanced accuracy 0.874 -> 0.898, the glass 0.32 -> 0.50)
CONFIDENT = 0.5
#: each M-step's template is ``(1 - a) * (mean spectrum of the confident pixels) + a * (mean spectrum of the
#: labelled pixels)``, with ``a`` starting at ANCHOR and halved at every step: the painted pixels steer the
#: first steps, so that a class's template cannot drift onto a larger phase that its first, noisy template
#: happened to win (400 counts: on the rich basalt at 20 counts/px the titanomagnetite template went to the
#: ilmenite, on the dacite the K-feldspar one to the glass). On 4 rich basalt and 4 dacite maps and label draws
#: not used to choose it, balanced accuracy 0.911 / 0.899 -> 0.929 / 0.924 (worst 0.865 / 0.864 -> 0.927 / 0.921).
ANCHOR = 0.5
#: the first templates are the summed spectra of the painted pixels *and their neighbours*, each painted pixel
#: spread by a Gaussian of sigma pixels (a painted pixel counts for its own class only). Twenty painted pixels at
#: 20 counts/px hold 400 counts: too few to tell two plagioclases apart, and the EM then settles on another
#: partition of higher likelihood (one class takes both plagioclases, the other the mixed pixels of grain
#: boundaries). A painted pixel's neighbours are mostly of its grain: 6-25 times the counts. But a class painted
#: near the grains of another can have its template pulled onto that phase, more so with a wider Gaussian: both
#: GROW_SIGMAS are fitted and the fit that agrees better with the painted pixels is kept (:func:`agreement`).
#: On the other generator's basalts at 20 counts/px (An35 beside a zoned An60), balanced accuracy 0.83-0.90 ->
#: 0.93-0.95, and on maps made after this choice 0.84-0.94 -> 0.93-0.96 (the true spectra give 0.958); no held-out
#: map worse (benchmarks/results/classify-other-generator-2026-12-03-s24.json, docs/supervised.md).
GROW_SIGMAS = (1.0, 2.0)
#: with cross-validation, the EM step kept is the one whose out-of-fold balanced accuracy on the painted pixels is
#: highest, an earlier step only when it beats the last by more than this. EM steps can carry a small class onto the
#: mixed pixels along the boundary between two others (augite between chlorite and calcite under a 1 px beam: 270
#: true pixels, 1200 after one step, 4400 after six); its painted pixels' folds see it. Chosen on 82 runs (random
#: rocks 100-129, the rich presets seeds 4-5, the other generator's rocks, 20 counts/px): the smallest margin with
#: no run worse than the last step by more than 0.002; see docs/supervised.md.
STEP_MARGIN = 0.025


def one_hot(n_pixels, index, y, k):
    """(n_pixels, K) float32: 1 at ``(index[i], y[i])``, zero elsewhere."""
    q = np.zeros((n_pixels, k), np.float32)
    q[index, y] = 1.0
    return q


def grown(shape, index, y, k, sigma):
    """(H*W, K) float32 weights of every pixel for each class: the painted pixels' one-hot spread by a
    Gaussian of ``sigma`` pixels (peak 1), a painted pixel keeping its own class only. One class plane at a
    time (a map's worth of float32 besides the result); a map painted everywhere has nothing to grow into."""
    h, w = shape
    out = one_hot(h * w, index, y, k)
    if sigma <= 0 or index.size == h * w:
        return out
    peak = np.float32(2 * np.pi * sigma ** 2)  # a lone painted pixel keeps weight 1
    plane = np.zeros(h * w, np.float32)
    for c in range(k):
        plane[:] = 0
        plane[index[y == c]] = 1
        out[:, c] = ndi.gaussian_filter(plane.reshape(h, w), sigma, mode="constant", truncate=3.0).ravel() * peak
    out[index] = 0
    out[index, y] = 1
    return out


def agreement(free, q, index, y, beta, shape):
    """How well a fit agrees with the painted pixels: the mean log-probability of each painted pixel's class
    from its own likelihood (not clamped) and its 4 neighbours' memberships (the Potts field).

    A fit in which another class took a class's grains leaves that class's painted pixels as islands: each
    then scores about ``-4 beta`` nats.
    """
    h, w = shape
    k = q.shape[-1]
    planes = q.reshape(h, w, k)
    around = np.zeros_like(planes)
    around[1:] += planes[:-1]
    around[:-1] += planes[1:]
    around[:, 1:] += planes[:, :-1]
    around[:, :-1] += planes[:, 1:]
    field = free.astype(np.float64) + beta * around.reshape(-1, k)[index]
    field -= field.max(1, keepdims=True)
    logp = field - np.log(np.exp(field).sum(1, keepdims=True))
    return float(logp[np.arange(len(index)), y].mean())


def poisson_fit(wb, channels, shape, train_index, train_y, k, *, grow=GROW_SIGMAS, **kwargs):
    """:func:`poisson_predict` for each growth sigma in ``grow``; the fit that agrees best with the painted
    pixels (:func:`agreement`), as ``(q, spectra, mean_counts, sigma)``."""
    best = None
    if len(train_index) == shape[0] * shape[1]:  # painted everywhere (a reference map): nothing to grow into
        grow = (0.0,)
    steps = kwargs.pop("steps", None)
    for g in np.atleast_1d(grow):
        mine = None if steps is None else {}
        q, spectra, mean_counts, free = poisson_predict(wb, channels, shape, train_index, train_y, k,
                                                        grow=float(g), steps=mine, **kwargs)
        score = agreement(free, q, train_index, train_y, kwargs["beta"], shape) if np.size(grow) > 1 else 0.0
        if best is None or score > best[0]:
            best = (score, q, spectra, mean_counts, float(g), mine)
    if steps is not None:
        steps.update(best[5])
    return best[1:5]


def choose_step(y, predictions, k, margin=STEP_MARGIN):
    """The EM step to keep, from out-of-fold predictions of the painted pixels after each step.

    Parameters
    ----------
    y : (n,) int ndarray
        The painted pixels' classes.
    predictions : dict
        Step number -> (n,) out-of-fold predicted classes.
    k : int
    margin : float
        An earlier step is kept only when its balanced accuracy beats the last step's by more than this.

    Returns
    -------
    step : int
    scores : dict
        Step -> balanced accuracy.
    """
    scores = {}
    for s, pred in predictions.items():
        recall = [np.mean(pred[y == c] == c) for c in range(k) if np.any(y == c)]
        scores[s] = float(np.mean(recall))
    last = max(scores)
    best = max(scores, key=lambda s: (scores[s], s))  # ties: the later step
    return (best if scores[best] > scores[last] + margin else last), scores


def poisson_predict(wb, channels, shape, train_index, train_y, k, *, beta, n_iter, n_sweeps, sigma,
                    intensity, grow, steps=None):
    """Posteriors of every pixel under the class templates of the training pixels.

    Parameters
    ----------
    wb : WeightedBlocks
        The map's CSR counts (all channels, no Poisson weighting).
    channels : slice
        The energy window.
    shape : (int, int)
        ``(H, W)``.
    train_index, train_y : (n,) int ndarrays
        Flat index and class of the training pixels.
    k : int
        Number of classes.
    beta : float
        Potts strength (0: per-pixel posteriors).
    n_iter : int
        E-steps; the templates are re-estimated from the posteriors between consecutive ones
        (the training pixels stay in their class).
    n_sweeps : int
        Mean-field sweeps of the last E-step (half as many before).
    sigma : float
        Gaussian smoothing of the templates along the channels (channels).
    intensity : bool
        Use the exact Poisson likelihood, whose total-count term
        ``N log M_p - M_p`` (``M_p`` the class's mean counts per pixel) also weighs the pixel's
        brightness; False: the multinomial part only (the spectrum's shape).
    grow : float
        Gaussian (pixels) spreading each training pixel over its neighbours for the first templates (0: the
        training pixels alone).
    steps : dict, optional
        Filled with each pixel's most probable class ``(H*W,)`` after each E-step, by step number (1 to `n_iter`;
        those before the last from half the sweeps, as they are computed).

    Returns
    -------
    q : (H, W, K) float32 ndarray
        Posterior class probabilities.
    spectra : (K, C') ndarray
        The templates (rows summing to 1) on the window's channels.
    mean_counts : (K,) ndarray
        Mean counts per pixel of each class (of the training pixels, then of the posteriors).
    free : (n, K) float32 ndarray
        The last E-step's log-likelihoods of the training pixels, not clamped to their class.
    """
    h, w = shape
    n = h * w
    totals = wb.pixel_sums
    background = wb.channel_sums[channels] / max(float(wb.channel_sums[channels].sum()), 1e-12)
    q = one_hot(n, train_index, train_y, k)
    clamp = np.full((len(train_index), k), -CLAMP_NATS, np.float32)
    clamp[np.arange(len(train_index)), train_y] = 0.0
    painted = _shares(weighted_sums(wb, grown(shape, train_index, train_y, k, grow))[:, channels])
    anchor = ANCHOR
    for it in range(n_iter):
        # first pass: q is the training pixels' one-hot; then the confident posteriors of every pixel,
        # pulled toward the painted pixels' spectra by a share that halves at every step
        if it:
            q = np.where(q >= CONFIDENT, q, 0) if CONFIDENT > 0 else q
            mix = (1 - anchor) * _shares(weighted_sums(wb, q)[:, channels]) + anchor * painted
            anchor /= 2
        else:
            mix = painted
        spectra = normalise(smooth(mix, sigma), background)
        mass = q.sum(0).astype(np.float64)
        mean_counts = (q.T.astype(np.float64) @ totals) / np.maximum(mass, 1e-9)
        unary = loglik(wb, spectra, channels)
        if intensity:
            m = np.maximum(mean_counts, 1e-3)
            unary += (totals[:, None] * np.log(m)[None] - m[None]).astype(np.float32)
        free = unary[train_index]
        unary[train_index] += clamp
        # the E-steps before the last only steer the templates: half the sweeps
        sweeps = n_sweeps if it == n_iter - 1 else max(2, n_sweeps // 2)
        q = potts_mean_field(unary.reshape(h, w, k), beta, n_sweeps=sweeps).reshape(n, k)
        if steps is not None:  # each pixel's class only: six posteriors of a full map would take ~0.5 GB
            steps[it + 1] = q.argmax(1).astype(np.int16)
    return q.reshape(h, w, k), spectra, mean_counts, free


def _shares(sums):
    """Rows of summed counts as shares of their totals (an empty row stays zero)."""
    sums = np.asarray(sums, np.float64)
    return sums / np.maximum(sums.sum(1, keepdims=True), 1e-12)
