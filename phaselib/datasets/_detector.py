"""Detector artefacts of an EDS spectrum: Si escape peaks and pile-up (sum) peaks.

Private helpers of :mod:`phaselib.datasets`. Both act on an expected spectrum (counts per
channel on an evenly spaced energy axis) and return a spectrum with the same total, so they
can follow the physical model of :func:`phaselib.datasets._minerals.spectrum` unchanged.
"""

from __future__ import annotations

import numpy as np

SI_K_EDGE = 1.839  # keV: photons above it can ionise the Si K shell of the sensor
SI_KA = 1.740  # keV: the energy an escaping Si Ka photon carries away
ESCAPE_TYPICAL = 0.015  # escape share just above the edge (~1-2 % for P, S, K Ka)
SUM_TYPICAL = 0.005  # share of the recorded events that are pile-ups of two photons


def escape(spectrum, energy_keV, fraction):
    """Move a share of the counts above the Si K edge to ``E - 1.740 keV`` (escape peaks).

    The share is ``fraction * 1.839 / E`` at energy ``E`` above the edge: the nearer the
    edge, the shallower the photon is absorbed in the sensor and the likelier a Si Ka photon
    leaves it (about 0.6 % of Fe Ka for ``fraction = 0.015``). Each escape peak keeps the
    width of its parent line.
    """
    s = np.asarray(spectrum, float)
    e = np.asarray(energy_keV, float)
    if fraction <= 0:
        return s.copy()
    share = np.where(e > SI_K_EDGE, fraction * SI_K_EDGE / np.maximum(e, SI_K_EDGE), 0.0)
    lost = s * share
    moved = np.interp(e + SI_KA, e, lost, left=0.0, right=0.0)  # the counts of E land at E - 1.74
    if moved.sum() > 0:
        moved *= lost.sum() / moved.sum()  # interpolation keeps the shape; keep the counts too
    return s - lost + moved


def pile_up(spectrum, energy_keV, fraction):
    """Add pile-up: a share ``fraction`` of the events are two photons recorded as one.

    Two photons of energies ``E1`` and ``E2`` drawn from the spectrum are recorded at
    ``E1 + E2``, so the pile-up spectrum is the spectrum convolved with itself: a line that
    holds a share ``f`` of the counts gets a sum peak at twice its energy holding
    ``fraction * f**2`` of them (the rate of coincidences goes as the square of the line's
    rate), plus smaller peaks at the sums of two different lines. ``fraction`` stands for the
    count rate times the pulse pair resolution time (~0.5 % at a few 10 kcps).
    """
    s = np.asarray(spectrum, float)
    e = np.asarray(energy_keV, float)
    if fraction <= 0 or s.sum() <= 0:
        return s.copy()
    p = np.where(e > 0, s, 0.0)
    p /= p.sum()
    both = np.convolve(p, p)  # channel m of the sum is at 2 e[0] + m * step
    step = e[1] - e[0]
    summed = np.interp(e, 2 * e[0] + step * np.arange(both.size), both, left=0.0, right=0.0)
    return s.sum() * ((1.0 - fraction) * s / s.sum() + fraction * summed)


def artefacts(spectrum, energy_keV, *, escape_peaks=0.0, sum_peaks=0.0):
    """Escape peaks, then pile-up (the processor sees the pulses that escape left)."""
    return pile_up(escape(spectrum, energy_keV, escape_peaks), energy_keV, sum_peaks)
