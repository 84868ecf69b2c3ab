"""Pieces of one phase that the merge test of :mod:`._merge` would keep apart: a zoned phase's rims, a speck's pixels.

The more clusters a map starts from (the number of components above the noise grows with the pixels mapped: P45
alone starts from 5, twice side by side from 11, 2 x 2 times from 24), the finer a clustering cuts what is one
phase to a petrologist, and the factor-3 rule of :func:`._merge.distinct_phases` reads the means of the pieces:

* a zoned plagioclase's sodic rims (Ca 3.0 % of the line counts against the cores' 7.6 %) are one population of
  pixels with the cores and close in all (:func:`zoned_test`);
* a speck of a mineral (apatite grains of 1-3 px in P45) cut along the line from its purest pixels to the host
  it mixes with: each piece is thin (no insides) and its chemistry is the speck's mixed with a host
  (:func:`one_speck`).

**Assumption**: effect sizes, not pixel counts, say what is one phase: two phases whose chemistries differ in all
by under :data:`ONE_ZONED` of their line counts and whose pixels show no dip between them are one; a thin phase
that is another thin phase mixed with a phase that has insides is that phase's mixed pixels.
"""

from __future__ import annotations

import numpy as np

#: :func:`merge_phases` under ``auto``: two phases whose chemistries are this close in all (half the summed absolute
#: differences of their line-count shares) and whose pixels are one population (the dip test's density between them
#: at least :data:`ONE_POPULATION` of the lower one's) are pieces of one zoned phase, even when a major element's
#: shares are a factor 3 apart: P45's plagioclase (Ca 7.6 % of the line counts) and its sodic rims (Ca 3.0 %, 0.05
#: apart in all, density 0.86) were two phases when the map was mapped twice side by side (more clusters to start
#: from) and one alone. Pairs a petrologist parts are further apart (albite / K-feldspar, augite / orthopyroxene,
#: a glass and its plagioclase 0.2 or more) or two populations (An60 / An35 0.43-0.64)
ONE_ZONED, ONE_POPULATION = 0.1, 0.8
#: :func:`one_speck`: the mixture's residual (half the summed absolute differences of the shares) at most this share of
#: the phase's distance to either end, and the speck's weight in the mixture at least :data:`SPECK_LEAST`
SPECK_TOL, SPECK_LEAST = 0.25, 0.2


def _apart(x, y):
    return 0.5 * float(np.abs(np.asarray(x) - np.asarray(y)).sum())


def one_speck(shares_a, shares_b, hosts, *, tol=SPECK_TOL, least=SPECK_LEAST):
    """Whether one of two thin phases is the other mixed with a host: its line-count shares are ``t`` of the other's
    and ``1 - t`` of a ``hosts`` row (``t >= least``), within ``tol`` of its distance to either. Returns the reason,
    or ""."""
    hosts = np.asarray(hosts, np.float64).reshape(-1, np.size(shares_a))
    for x, y in ((shares_a, shares_b), (shares_b, shares_a)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        for h in hosts:
            d = y - h
            t = float(np.clip(np.dot(x - h, d) / max(float(d @ d), 1e-12), 0.0, 1.0))
            if t < least:
                continue
            left = _apart(x, t * y + (1 - t) * h)
            if left <= tol * min(_apart(x, y), _apart(x, h)):
                return (f"one speck's pixels, mixed with a host to {100 * (1 - t):.0f} % in one (the mixture leaves "
                        f"{100 * left:.1f} % of its line counts)")
    return ""


def zoned_test(image, lab, sums, n_pix, size):
    """``test(a, b, shares_a, shares_b)``: the reason two phases are pieces of one zoned phase (:data:`ONE_ZONED`:
    close chemistries, one population of pixels), or ""; cached for phases unchanged since."""
    from ._dip import dip_ratio

    if image is None or image.is_lazy:
        return lambda a, b, sa, sb: ""
    seen = {}

    def test(a, b, sa, sb):
        apart = 0.5 * float(np.abs(np.asarray(sa) - np.asarray(sb)).sum())
        if apart >= ONE_ZONED:
            return ""
        key = (a, b, int(n_pix[a]), int(n_pix[b]))
        if key not in seen:
            r = dip_ratio(image.data, lab.reshape(image.shape[:2]), a, b, sums[a], sums[b], size=size)
            seen[key] = "" if r is None or r < ONE_POPULATION else (
                f"pieces of one zoned phase ({100 * apart:.0f} % of the line counts on other elements, one population: "
                f"the density of their pixels between them is {r:.2f} of the lower one's)")
        return seen[key]
    return test
