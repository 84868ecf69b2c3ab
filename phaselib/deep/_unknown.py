"""Pixels whose levels are not those of the class they were given: a mineral the model was not trained on.

A network gives every pixel one of its classes. A section holding a mineral the model never saw (hornblende, a
garnet, pyrite in a model trained on granites) is labelled as something else without a word: the bundled model
called a hornblende biotite (0.75 of its pixels), an almandine apatite (0.88), pyrite magnetite (0.84), and the
modal fractions of those classes took the unknown mineral's share. A model trained by ``segment train`` records
each class's equalised level and spread (``class_levels``, :mod:`._gains`). Here each pixel's PP and BSE levels,
equalised as the prediction does (:func:`._gains.image_gains`) and smoothed over 1 px, are compared with those of
the class it was labelled; a pixel inside a region of one class whose level lies more than :data:`FAR` of that
class's spreads away in some channel is not explained by it. XP levels are left out: one mineral's interference
colour spans black to bright with its crystals' orientations (not one level).

Assumption: a mineral the model knows keeps its level within a few spreads of training's once the image's gains
are divided out (lamp, colour cast, BSE contrast), and an unknown mineral differs from the class it is taken for
in PP colour or BSE level. An unknown mineral alike in both (calcite or muscovite beside a feldspar, albite beside
andesine, almandine taken for apatite once the gain fit has absorbed it) is not caught. Measured (session 60,
bundled model with its six training sections' levels, :data:`FAR` 3): of 63 held-out preset sections (blurred, noisy,
relit, PP clipped, colour casts, thinner and thicker) none had more than 0.023 % of its pixels flagged (the
independent generator's basalt with its own model: 0 on six sections); a 256 x 256 granite holding 15 % of
hornblende / chlorite / rutile had 1.0-2.1 / 2.5-2.6 / 14-16 % (two seeds), of calcite, muscovite, albite or pyrite
0.1-0.3 %, almandine, titanite or diopside under 0.1 %. With 4 spreads the rutile was 3-6 % and chlorite 0.5-1.6 %.
"""

from __future__ import annotations

import numpy as np

from ._gains import _where, image_gains

#: Gaussian smoothing (px) of the levels before they are compared (a pixel's noise averaged down; the recorded spreads
#: hold it, so the test is conservative)
SMOOTH = 1.0
#: a pixel is compared only where the predicted map holds its class across this window (boundaries mix two levels)
INNER = 5
#: a pixel whose level in some PP or BSE channel lies further than this many of its class's spreads is unexplained
FAR = 3.0
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
    gains = image_gains(x, meta)[use]
    z = np.stack([ndimage.gaussian_filter(np.ascontiguousarray(x[..., c]) * g, SMOOTH) for c, g in zip(use, gains)],
                 axis=-1)
    mu = np.asarray(levels["mean"], np.float32)[:, use]
    inv = 1.0 / np.asarray(levels["std"], np.float32)[:, use]
    lab = np.asarray(labels)
    k = mu.shape[0]
    seen = np.asarray(levels["weight"], np.float64) > 0  # a class the training labels never held has no levels
    valid = (lab >= 0) & (lab < k)
    lab = np.where(valid, lab, 0).astype(np.int16)
    inner = valid & seen[lab] & (ndimage.maximum_filter(lab, INNER) == ndimage.minimum_filter(lab, INNER))
    far = inner & ((np.abs(z - mu[lab]) * inv[lab]).max(axis=-1) > FAR)
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
