"""Pixels whose levels are not those of the class they were given: a mineral the model was not trained on.

A network gives every pixel one of its classes. A section holding a mineral the model never saw (hornblende, a
garnet, pyrite in a model trained on granites) is labelled as something else without a word: the bundled model
called a hornblende biotite (0.75 of its pixels), an almandine apatite (0.88), pyrite magnetite (0.84), and the
modal fractions of those classes took the unknown mineral's share. A model trained by ``segment train`` records
each class's equalised level and spread (``class_levels``, :mod:`._gains`). Here each pixel's PP and BSE levels,
smoothed over 1 px and equalised twice, by the image's means and by the gains fitted on the model's classes
(:mod:`._gains`), are compared with those of the class it was labelled; a pixel inside a region of one class whose
level lies more than :data:`FAR` of that class's spreads away in some channel under both gains is not explained by
it. XP levels are left out: one mineral's interference colour spans black to bright with its crystals' orientations.

Assumption: a mineral the model knows keeps its level within a few spreads of training's once the image's gains
are divided out (lamp, colour cast, BSE contrast), and an unknown mineral differs from the class it is taken for
in PP colour or BSE level. An unknown mineral alike in both (calcite or muscovite beside a feldspar, albite beside
andesine; pyrite or almandine once the gain fit has absorbed it) is not caught. Measured (session 60, bundled
model with its six training sections' levels, :data:`FAR` 3): of 63 held-out preset sections (blurred, noisy,
relit, PP clipped, colour casts, thinner and thicker) none had more than 0.023 % of its pixels flagged (the
independent generator's basalt and schist with their own models: 0-0.008 %); a 256 x 256 granite holding 15 % of
hornblende / chlorite / rutile had 1.0-2.1 / 0.5-1.6 / 6.8-8.2 % (two seeds); the independent generator's marble
and schist (97 % and 26 % of minerals the model lacks) 2.1 % and 0.3-0.7 %.
"""

from __future__ import annotations

import numpy as np

from ._gains import _gain_factors, _where, fit_gains

#: Gaussian smoothing (px) of the levels before they are compared (a pixel's noise averaged down; the recorded spreads
#: hold it, so the test is conservative)
SMOOTH = 1.0
#: a pixel is compared only where the predicted map holds its class across this window (boundaries mix two levels)
INNER = 5
#: a pixel whose level in some PP or BSE channel lies further than this many of its class's spreads is unexplained
FAR = 3.0
#: rows per block, and the margin each side (over the smoothing's and the window's reach), of the comparison
ROWS, HALO = 256, 8
#: the share of the image such pixels must make before ``segment`` says so
NOTE_SHARE = 0.003


def unexplained(x, labels, meta):
    """Shares of the image whose levels the class they were labelled does not explain.

    Parameters
    ----------
    x : (H, W, C) array
        The image stack the prediction was made on, channels in ``meta["inputs"]`` order, 0-1, not normalised.
    labels : (H, W) int array
        The predicted classes.
    meta : dict
        The model's metadata; models that record no ``class_levels`` (made before session 59, such as the bundled
        one) or no PP / BSE input give ``{}``.

    Returns
    -------
    dict
        ``{class name: share of the image's pixels}`` of the pixels labelled that class whose levels lie more than
        :data:`FAR` of its spreads away (only classes with such pixels).
    """
    from scipy import ndimage

    levels = meta.get("class_levels")
    sources = meta.get("gains") or {}
    roles = [r for r in meta["inputs"] if r in ("pp", "bse") and sources.get(r, r) == r]
    if not levels or not sources or not roles:
        return {}
    use = np.concatenate([_where(meta["inputs"], meta["channels"])[r] for r in roles])
    x = np.asarray(x, np.float32)
    lab = np.asarray(labels)
    mu = np.asarray(levels["mean"], np.float32)[:, use]
    inv = 1.0 / np.asarray(levels["std"], np.float32)[:, use]
    k = mu.shape[0]
    seen = np.asarray(levels["weight"], np.float64) > 0  # a class the training labels never held has no levels
    valid = (lab >= 0) & (lab < k)
    lab = np.where(valid, lab, 0).astype(np.int16)
    # far under the image's means AND under the gains fitted on the classes: a prediction keeps the means unless the
    # fit moves them by over 7 % (._gains.MOVED), so a known mineral's level may be a few % off either way (its PP
    # spread is 2-3 % of its level); an unknown mineral is far from its class under both
    gains = [g[use] for g in (_gain_factors(x, meta["inputs"], meta["channels"], sources), fit_gains(x, meta))]
    far = np.zeros(lab.shape, bool)
    for top in range(0, lab.shape[0], ROWS):  # row blocks with a margin: memory bounded as the prediction's
        a, b = max(top - HALO, 0), min(top + ROWS + HALO, lab.shape[0])
        keep = slice(top - a, top - a + min(ROWS, lab.shape[0] - top))
        lb = lab[a:b]
        ok = (valid[a:b] & seen[lb] & (ndimage.maximum_filter(lb, INNER) == ndimage.minimum_filter(lb, INNER)))[keep]
        raw = np.stack([ndimage.gaussian_filter(np.ascontiguousarray(x[a:b, :, c]), SMOOTH)[keep] for c in use], -1)
        m, iv = mu[lb[keep]], inv[lb[keep]]
        for g in gains:
            ok &= (np.abs(raw * g - m) * iv).max(axis=-1) > FAR
        far[top:top + ok.shape[0]] = ok
    far = ndimage.binary_opening(far)  # single pixels (noise) are not a mineral
    counts = np.bincount(lab[far], minlength=k)
    return {meta["classes"][i]: float(counts[i] / lab.size) for i in np.flatnonzero(counts)}


def note(stem, shares):
    """The line ``segment`` prints when :func:`unexplained`'s shares reach :data:`NOTE_SHARE` of the image, or None."""
    total = sum(shares.values())
    if total < NOTE_SHARE:
        return None
    parts = ", ".join(f"{name} {100 * v:.1f} %" for name, v in sorted(shares.items(), key=lambda kv: -kv[1])[:3])
    return (f"phaselib: note: {stem}: {100 * total:.1f} % of the image looks like none of the classes it was "
            f"labelled ({parts} of the image: PP or BSE levels more than {FAR:g} of the class's spreads in training "
            f"away): a mineral the model was not trained on? Those pixels are labelled as something else and the "
            f"modal fractions of those classes hold them.")
