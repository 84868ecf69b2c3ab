"""Over-dispersed spectra: a phase's summed spectrum whose noise is several times Poisson's (:func:`dispersion`).

Every count-based step of the names (the line fit's weights, the significance of a line, the counting errors and the
``"too few counts"`` rule) assumes Poisson counts. A spectrum summed over copies of one acquisition (a mosaic of its
tiles, each thinned or flipped) or a map's counts multiplied and drawn again holds the noise of the one acquisition
times the factor: weighed as Poisson counts, its peaks hold that many times the information they hold.
:func:`~._composition.composition` divides such a spectrum by its dispersion, so that it is fitted as the counts it is
worth.
"""

from __future__ import annotations

import numpy as np

from ._fit import fit_lines

#: the noise of real phase spectra reads up to ~1.7 times Poisson's variance between neighbouring channels (P45 and
#: the chevkinite map, 3e3-7e6 counts); a spectrum reading more than this is over-dispersed (:func:`dispersion`): P45's
#: phases times 146, Poisson-drawn (each draw's noise is the map's noise times 146), read 8-93, and weighed as Poisson
#: counts their peaks held 100 times the information they hold: spurious minor lines, errors inflated by the fit's
#: chi-square (300-400), the apatite and Fe-oxide specks "unknown (too few counts)" at 4e5-7e5 counts
REAL_DISPERSION = 3.0
#: channels the dispersion is read from (Pearson residuals of fewer counts are too skewed), and how many at least
DISPERSION_COUNTS, DISPERSION_CHANNELS = 20.0, 50


def _neighbour_ratio(s):
    """The median of ``(a - b)^2 / (a + b)`` over neighbouring channels of :data:`DISPERSION_COUNTS` counts or more,
    over that of a chi-square of one degree of freedom (0.455); 1 with fewer than :data:`DISPERSION_CHANNELS`."""
    a, b = s[:-1], s[1:]
    ok = (a >= DISPERSION_COUNTS) & (b >= DISPERSION_COUNTS)
    if ok.sum() < DISPERSION_CHANNELS:
        return 1.0
    return float(np.median((a[ok] - b[ok]) ** 2 / (a[ok] + b[ok]))) / 0.4549


def dispersion(s, e, cand, nuisance, kw, cap):
    """How many times Poisson's variance a spectrum's noise is, beyond that of real spectra (1: not over-dispersed).

    Two readings, each of which only over-dispersion raises in every channel: between neighbouring channels
    (:func:`_neighbour_ratio`; a peak's flanks raise it where counts are many) and against a first fit of the lines
    (the median Pearson residual over channels of 20 counts or more; the model's misfit raises it on real spectra).
    The lower, less ``REAL_DISPERSION - 1``, and at least 1 (``kw``: :func:`~._fit.fit_lines`'s keywords). A mosaic
    of tiles of one acquisition, or counts multiplied, raise both (P45's phases times 146: 8-93 and 6-110; real and
    synthetic spectra: 1-1.7, 1-2.4)."""
    ratio = _neighbour_ratio(s)
    if ratio <= REAL_DISPERSION:
        return 1.0
    scale = min(1.0, cap / float(s.sum()))  # fitted as the shape scaled to `cap` counts, as composition does
    fit = fit_lines(s * scale, e, elements=cand, nuisance=nuisance, select=False,
                    **{k: v for k, v in kw.items() if k != "min_significance"})
    y, mu = s[fit.window] * scale, fit.model
    ok = mu >= DISPERSION_COUNTS
    if ok.sum() >= DISPERSION_CHANNELS:
        ratio = min(ratio, float(np.median((y[ok] - mu[ok]) ** 2 / mu[ok])) / 0.4549 / scale)
    return max(1.0, ratio - REAL_DISPERSION + 1.0)
