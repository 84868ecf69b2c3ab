"""The split test: whether one phase holds two chemistries.

A clustering can put two minerals in one phase: k-means on the PCA scores of a basalt, where
the glass is a mixture of the minerals around it, gives augite and glass one cluster; at a few
tens of counts per pixel the binned start of :func:`~phaselib.lowcount.map_lowcount` puts the
plagioclase phenocrysts of the real P45 map into its groundmass in one thinning of five. The
seeding of :mod:`._seed` and the excess test of the low-count path look for pixels that no phase
explains, and these are explained, by a phase fitted to both minerals. The two halves of such a
phase do differ chemically, though, and that is tested directly:

Cut
    Each phase's pixels inside its regions (their 3 x 3 neighbourhood, or the neighbourhood the
    features describe, all of the phase: the mixed pixels along a boundary would otherwise be a
    second chemistry of every phase) are projected on their first ``N_AXES`` principal axes and
    cut in two by k-means; the phase's other pixels go to the nearer half.
Test
    The two halves' summed spectra (inside pixels only) go through :func:`distinct_phases`, the
    test that merges phases: a major element's share differs by a factor of 3 at more than
    5 sigma. There is no mixture test (unlike seeding): a basalt's glass *is* close to a mixture
    of its minerals, and the pixels straddling boundaries, which are mixtures, are left out of
    the cut. Zoning, a glass's spatial variation and noise do not pass: on the real P45 map at
    122 counts/px no phase splits.
"""

from __future__ import annotations

import numpy as np

import phaselib.refine._check as _check

from .. import quantify
from .._validate import check_array, check_number, check_seed
from ._merge import LIGHT, _shares, distinct_phases

#: principal axes of a phase's features that k-means cuts
N_AXES = 3
#: a phase is tried when this many of its pixels are inside its regions ...
MIN_PHASE = 50
#: ... and split when each half holds at least this many of them
MIN_HALF = 10
#: pixels k-means is fitted on (the others are assigned to the nearer centre) ...
MAX_FIT = 5000
#: ... this many rows at a time
CHUNK = 1 << 16


def halves(features, labels, inside, *, random_state=0):
    """Cut each phase in two along its inside pixels' main axes of variation.

    Parameters
    ----------
    features : (N, m) array_like
        Features of the pixels (rows read for one phase at a time).
    labels : (N,) int ndarray
        Phase of each pixel, -1 unassigned.
    inside : (N,) bool ndarray
        Pixels inside their phase's regions (:func:`inside_pixels`); the cut is fitted on them.

    Returns
    -------
    (N,) int ndarray
        ``2 * p + half`` for the pixels of the phases cut (all their pixels), -1 for the others.
    """
    from sklearn.cluster import KMeans

    random_state = check_seed(random_state)
    features, labels = _check.pixel_features(features, labels)
    inside = _check.mask(np.reshape(inside, -1) if np.size(inside) == labels.size else inside, "inside",
                         labels.shape)
    out = np.full(labels.size, -1, np.int64)
    rng = np.random.default_rng(random_state)
    for p in np.unique(labels[labels >= 0]):
        fit_at = np.flatnonzero((labels == p) & inside)
        if fit_at.size < MIN_PHASE:
            continue
        if fit_at.size > MAX_FIT:
            fit_at = np.sort(rng.choice(fit_at, MAX_FIT, replace=False))
        x = _check.finite_rows(np.asarray(features[fit_at], np.float64))
        if not np.ptp(x, axis=0).any():  # every pixel alike (the blank pixels' phase): nothing to cut
            continue
        mu = x.mean(0)
        axes = np.linalg.svd(x - mu, full_matrices=False)[2][:N_AXES]
        km = KMeans(2, n_init=3, random_state=random_state).fit((x - mu) @ axes.T)
        at = np.flatnonzero(labels == p)
        for i in range(0, at.size, CHUNK):  # a phase of millions of pixels, a chunk of rows at a time
            rows = at[i:i + CHUNK]
            out[rows] = 2 * p + km.predict((_check.finite_rows(np.asarray(features[rows], np.float64)) - mu) @ axes.T)
    return out


def split_phases(half_sums, half_pixels, phase_sums, energy_keV, *, beam_energy=None):
    """Which cut phases hold two chemistries.

    Parameters
    ----------
    half_sums : (2K, C) ndarray
        Summed counts of each half's inside pixels (row ``2 * p + half``), from :func:`halves`.
    half_pixels : (2K,) int ndarray
        How many inside pixels each half holds.
    phase_sums : (K, C) ndarray
        Summed counts of the phases.
    energy_keV : (C,) ndarray
    beam_energy : float, optional

    Returns
    -------
    splits : list of (int, ndarray, ndarray)
        ``(phase, first half's sums, second half's sums)`` of each phase to split.
    notes : list of dict
        ``{"action": "split", "phase", "reason"}``.
    """
    phase_sums = _check.phase_sums(phase_sums, "phase_sums")
    k, c = phase_sums.shape
    half_sums = _check.phase_sums(half_sums, "half_sums", rows=2 * k, channels=c)
    half_pixels = check_array(half_pixels, "half_pixels", ndim=1, kind="iu")
    if half_pixels.size != 2 * k:
        raise ValueError(f"`half_pixels` must count the pixels of the {2 * k} halves, got {half_pixels.size}.")
    splits, notes = [], []
    for p in range(k):
        a, b = half_sums[2 * p], half_sums[2 * p + 1]
        if min(half_pixels[2 * p], half_pixels[2 * p + 1]) < MIN_HALF or min(a.sum(), b.sum()) <= 0:
            continue
        found = {f["element"] for s in (a, b) for f in quantify.lines_of(
            s, energy_keV, beam_energy=beam_energy, n_lines=12)}
        elements = tuple(sorted(found - set(LIGHT)))
        if not elements:
            continue
        shares, var = _shares(np.array([a, b]), energy_keV, elements, beam_energy)
        differ, why = distinct_phases(shares[0], var[0], shares[1], var[1], elements, together=False)
        if not differ or _admixed(a, b, np.delete(phase_sums, p, 0)):
            continue
        splits.append((p, a, b))
        notes.append(dict(action="split", phase=int(p), reason=f"two chemistries in one phase ({why})"))
    return splits, notes


def _admixed(a, b, others, tol=0.5, most=0.75):
    """Whether one half is the other with some of the other phases mixed in (a boundary zone, the pixels next to
    a grain of another phase): its spectrum a non-negative mixture of the other half and the other phases within
    ``tol`` of its distance to the nearest of them, the other half taking at least ``most`` of the mixture."""
    from scipy.optimize import nnls

    norm = lambda x: np.asarray(x, np.float64) / max(float(np.sum(x)), 1.0)  # noqa: E731
    rest = [norm(o) for o in others if np.sum(o) > 0]
    for x, y in ((a, b), (b, a)):
        x, y = norm(x), norm(y)
        basis = np.array([y] + rest)
        c, residual = nnls(basis.T, x)
        nearest = min(np.linalg.norm(x - v) for v in basis)
        if c.sum() > 0 and c[0] >= most * c.sum() and residual <= tol * nearest:
            return True
    return False


def is_mixture(spectrum, phases, tol=0.3):
    """Whether a (normalised) spectrum is close to a mixture of the phases' (pixels straddling
    boundaries, or the noise tails of several phases): the residual of its non-negative
    least-squares fit by them is under ``tol`` times its distance to the nearest phase."""
    from scipy.optimize import nnls

    tol = check_number(tol, "tol", low=0)
    spectrum, phases = _check.spectra(spectrum, phases)
    nearest = min(np.linalg.norm(spectrum - p) for p in phases)
    _, residual = nnls(phases.T, spectrum)
    return residual <= tol * nearest
