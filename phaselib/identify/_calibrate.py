"""Sensitivities from the map itself: the standardless factors corrected on the map's own phases.

Standardless quantification divides each line's intensity by a theoretical generation factor.
A detector whose efficiency is not the model's, or the model's own error at the beam energy,
scales one element's reading against the others: by 10-30 % commonly, by 2 for lines far apart
in energy (Fe K against Mg K) when the model and the instrument disagree. Every name then
drifts: Fe read twice over makes an olivine Fo60 of an Fo80, an orthopyroxene an olivine and an
ilmenite an ulvöspinel.

A map of a rock holds several phases, most of them stoichiometric minerals sharing elements.
The factors that make them, all together, fit minerals of the table best are an estimate of
those errors (the same idea as calibrating on a standard, with the map's minerals as the
standards, unnamed).

Model: such errors are smooth in the line's energy (a detector window or crystal thickness
unlike the model's, an overvoltage or cross-section law off by a power of the energy), so the
factor of an element read from a line of energy ``E`` is ::

    ln f(E) = a u + b u^2,   u = ln(E / 2 keV)

(only ratios are measured, so ``f(2 keV) = 1`` costs nothing). :func:`map_sensitivities`
maximises, over a grid of ``(a, b)`` then a finer one around the best, ::

    sum_p w_p best_score_p(f) - PRIOR (a^2 / SIGMA_A^2 + b^2 / SIGMA_B^2) / 2

(``best_score_p``: the best single-mineral score of phase p, :func:`_match._scores`, after its
cation fractions are divided by ``f`` and renormalised; ``w_p``: its share of the map's counts
over 5 %, at most 1, so that small grains, mixed with their neighbours, weigh less). Two parameters for a whole map: a
single odd phase (a glass, a mineral missing from the table) cannot bend them, several phases
that agree can. Assumed: at least three phases with counts enough to name, most of them
minerals of the table, and at least two line energies among their major cations (>= 3 %).
"""

from __future__ import annotations

import numpy as np

#: prior: standard deviations of a and b, and the weight of the penalty against the summed scores
SIGMA_A, SIGMA_B, PRIOR = 0.5, 0.3, 0.1
#: coarse grid of (a, b), then a finer step around the best
A_GRID, B_GRID, FINE = np.linspace(-1.2, 1.2, 13), np.linspace(-0.6, 0.6, 7), 0.05
#: phases needed; the share of the map's counts a phase needs to vote, and from which its vote
#: counts in full (the pixels of small grains hold their neighbours' X-rays too, which the single
#: minerals fitted here cannot explain); the share of the cations that makes an element a major one
MIN_PHASES, MIN_SHARE, FULL_SHARE, MAJOR = 3, 0.01, 0.05, 0.03
#: energy (keV) at which the factor is 1
E_REF = 2.0


def map_sensitivities(vectors, energies, scores_fn, sig, oxy):
    """Factors by which each element is over-read, fitted on a map's phases.

    Parameters
    ----------
    vectors : list of (x, err, o, weight)
        Per phase: cation fractions ``(E,)``, their counting errors ``(E,)``, oxygen per
        cation (or None), on the table's element order (see ``_match._vector``), and the weight
        of its score.
    energies : (E,) ndarray
        Energy of the line each element is read from, keV (NaN: not read; factor 1).
    scores_fn : callable
        ``_match._scores``, broadcasting over leading axes of ``x`` and ``err``.
    sig, oxy : ndarray
        The table's points: ``(N, E)`` cation fractions, ``(N,)`` oxygen per cation.

    Returns
    -------
    f : (E,) ndarray
        Factor of each element: divide a measured fraction by it (all 1 when nothing is fitted).
    ab : (float, float)
        The fitted ``(a, b)``.
    """
    ones = np.ones(sig.shape[1])
    if len(vectors) < MIN_PHASES:
        return ones, (0.0, 0.0)
    x = np.array([v[0] for v in vectors])
    u = np.log(np.where(np.isfinite(energies), energies, E_REF) / E_REF)
    major = (x >= MAJOR).any(axis=0) & np.isfinite(energies)
    if np.unique(np.round(u[major], 2)).size < 2:
        return ones, (0.0, 0.0)

    def total(ab):  # (G, 2) -> (G,) objective
        trials = ab[:, :1] * u + ab[:, 1:] * u ** 2
        out = -PRIOR * ((ab[:, 0] / SIGMA_A) ** 2 + (ab[:, 1] / SIGMA_B) ** 2) / 2
        for xp, ep, op, wp in vectors:
            y = xp * np.exp(-trials)
            s = y.sum(axis=1, keepdims=True)
            o = None if op is None else op / s  # oxygen per cation follows the cations' new sum
            score, _ = scores_fn((y / s)[:, None, :], (ep * np.exp(-trials) / s)[:, None, :], o, sig, oxy)
            out = out + wp * score.max(axis=1)
        return out

    coarse = np.array([(a, b) for a in A_GRID for b in B_GRID])
    best = coarse[int(np.argmax(total(coarse)))]
    step = np.arange(-2, 3) * FINE
    fine = np.array([(best[0] + da, best[1] + db) for da in step for db in step])
    a, b = fine[int(np.argmax(total(fine)))]
    return np.exp(a * u + b * u ** 2), (float(a), float(b))
