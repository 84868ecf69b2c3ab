"""After EM: a phase that holds two chemistries is split in two.

At a few tens of counts per pixel the binned start of :func:`~phaselib.lowcount.map_lowcount`
can miss a large phase altogether (on the real P45 map thinned to 22 counts/px, one start in
five puts the plagioclase phenocrysts into the groundmass), and the excess test of
:mod:`._grow` cannot find it: the plagioclase's Ca and Na lines are only two or three times the
groundmass's, and the groundmass spectrum fitted to both holds part of them. The two halves of
such a phase do differ chemically, though, and that is tested directly:

Split
    Each phase's pixels inside its regions (their ``SIZE`` x ``SIZE`` neighbourhood all of the
    phase: the mixed pixels along a boundary would otherwise be a second chemistry of every
    phase) are described by the counts of that neighbourhood in energy bands (five hundred
    counts at 20 counts/px), as square-root shares (which makes the Poisson noise of a band
    about even) projected on their first ``N_AXES`` principal axes, and cut in two by k-means.
Test
    The two halves' summed spectra (the pixels' own counts, not their neighbourhoods') go
    through :func:`phaselib.refine.distinct_phases`, the test that merges phases: a major
    element's share differs by a factor of 3 at more than 5 sigma. A half that is a mixture of
    the other half and the other phases (:func:`phaselib.refine.is_mixture`: the pixels along a
    boundary) splits nothing. Zoning, a glass's spatial variation and noise do not pass: on the
    real P45 map at 122 counts/px no phase splits, at 22 counts/px the groundmass and
    plagioclase do when they were one phase.
"""

from __future__ import annotations

import numpy as np

from .. import quantify, refine
from ..refine._merge import LIGHT, _shares

#: side of the square neighbourhood whose counts describe a pixel
SIZE = 5
#: principal axes of the neighbourhoods' square-root band shares that k-means cuts
N_AXES = 3
#: a phase is tried when it holds this many pixels, and a half must hold ...
MIN_PHASE = 50
#: ... at least this many
MIN_HALF = 10
#: pixels k-means is fitted on (the others are assigned to the nearest centre)
MAX_FIT = 20000


def halves(band_counts, labels, k, *, random_state=0):
    """Cut each phase of at least ``MIN_PHASE`` pixels in two by its pixels' neighbourhoods.

    Parameters
    ----------
    band_counts : (H, W, B) ndarray
        Counts of each pixel in energy bands.
    labels : (H*W,) int ndarray
    k : int
        Number of phases.

    Returns
    -------
    (H*W,) int ndarray
        ``2 * p + half`` for the pixels of the phases cut, -1 for the others.
    """
    from scipy.ndimage import uniform_filter
    from sklearn.cluster import KMeans

    h, w, nb = band_counts.shape
    pooled = uniform_filter(np.asarray(band_counts, np.float32), size=(SIZE, SIZE, 1), mode="nearest")
    pooled = pooled.reshape(h * w, nb)
    out = np.full(h * w, -1, np.int64)
    rng = np.random.default_rng(random_state)
    lab2 = labels.reshape(h, w)
    for p in range(k):
        # only pixels whose whole neighbourhood is of the phase: the mixed pixels along its
        # boundaries are a second "chemistry" of every phase
        own = lab2 == p
        inside = own & (uniform_filter(own.astype(np.float32), size=SIZE, mode="constant") > 1 - 0.5 / SIZE ** 2)
        at = np.flatnonzero(inside.ravel())
        if at.size < MIN_PHASE:
            continue
        x = pooled[at]
        x = np.sqrt(x / np.maximum(x.sum(1, keepdims=True), 1e-12))
        x -= x.mean(0)
        fit = x if at.size <= MAX_FIT else x[rng.choice(at.size, MAX_FIT, replace=False)]
        axes = np.linalg.svd(fit, full_matrices=False)[2][:N_AXES]
        km = KMeans(2, n_init=3, random_state=random_state).fit(fit @ axes.T)
        out[at] = 2 * p + km.predict(x @ axes.T)
    return out


def split_phases(half_sums, phase_sums, energy_keV, *, beam_energy=None):
    """Which cut phases hold two chemistries.

    Parameters
    ----------
    half_sums : (2K, C) ndarray
        Summed counts of each half (row ``2 * p + half``), from :func:`halves`.
    phase_sums : (K, C) ndarray
        Summed counts of the phases.
    energy_keV : (C,) ndarray

    Returns
    -------
    splits : list of (int, ndarray, ndarray)
        ``(phase, first half's sums, second half's sums)`` of each phase to split.
    notes : list of dict
        ``{"action": "split", "phase", "n_pixels", "reason"}``.
    """
    norm = lambda s: s / max(s.sum(), 1.0)  # noqa: E731
    splits, notes = [], []
    for p in range(phase_sums.shape[0]):
        a, b = half_sums[2 * p], half_sums[2 * p + 1]
        if min(a.sum(), b.sum()) <= 0:
            continue
        found = {f["element"] for s in (a, b) for f in quantify.identify_lines(
            s, energy_keV, beam_energy=beam_energy, n_lines=12)}
        elements = tuple(sorted(found - set(LIGHT)))
        if not elements:
            continue
        shares, var = _shares(np.array([a, b]), energy_keV, elements, beam_energy)
        differ, why = refine.distinct_phases(shares[0], var[0], shares[1], var[1], elements)
        if not differ:
            continue
        others = [norm(s) for q, s in enumerate(phase_sums) if q != p and s.sum() > 0]
        if refine.is_mixture(norm(a), others + [norm(b)]) or refine.is_mixture(norm(b), others + [norm(a)]):
            continue
        splits.append((p, a, b))
        notes.append(dict(action="split", phase=int(p), reason=f"two chemistries in one phase ({why})"))
    return splits, notes
