"""A number of phases asked for, from the phases that ``auto`` finds.

k-means with the number of phases asked for, K, spends clusters where the counts vary most, not where the
minerals are: on a dominant phase cut in two by its noise or by the mixed pixels along its boundaries, while
two minerals of a small share share one cluster. The tests after it (:func:`refine_phases` with ``n_phases``)
then had to merge K + n phases down to K by how alike their chemistries are, and merged distinct minerals
while a band of mixed pixels stayed. The number of clusters ``auto`` takes (the PCA components above the noise)
follows the distinct spectra instead. So, with K asked for (default clustering, counts):

* the map's phases are found as under ``auto`` (:func:`refine_phases` without ``n_phases``);
* fewer than K: they are tested again with K asked for (:func:`asked_phases`: seeding, and the split test on
  3 x 3 means with the shallower dip, :data:`._dip.ASKED_DIP_SHARE`), K at most;
* more than K: after the boundary steps and the specks' removal, which take the phases made of mixed pixels,
  they are merged down to K, the pair that loses the least likelihood first (:func:`merged_to`).

Measured on 100 random rocks of :func:`phaselib.datasets.make_rock` (4-8 minerals of 25 drawn at random, one
of them 0.2-0.6 %, 5-30 px grains, 10-25 kV, beam spread 0-1 px, zoning, detector artefacts; 150 x 200 px,
200 counts/px) with the true K: mean ARI 0.941 -> 0.957, maps under 0.90 15 -> 11 (docs/phases.md, issue 11).
"""

from __future__ import annotations

import numpy as np

from ._refine import refine_phases

#: phases found from the number asked for are kept instead of fewer found from ``auto``'s when this share of the
#: pixels lies, phase by phase, within one of the fewer (they split ``auto``'s phases and merge none)
NESTED = 0.95


def asked_phases(image, first, n_phases, features, pixel_sums, start=None, **options):
    """The phases of ``auto`` (``first``, a :class:`Refinement`) with ``n_phases`` asked for: tested again
    with that number when there are fewer (:func:`refine_phases` with ``n_phases``), else as they are (merged
    down later, :func:`merged_to`).

    ``start()`` returns the labels of a clustering with ``n_phases`` clusters (any shape holding the map's
    pixels); when still fewer are found, the phases tested from it are kept instead if they are more and refine
    those found (each within one of them, :data:`NESTED`). Returns ``(Refinement, its changes after first's)``."""
    if first.n_phases >= n_phases:
        return first, []
    ref = refine_phases(image, first.labels, features, pixel_sums, n_phases=n_phases, spectra=first.spectra,
                        **options)
    if ref.n_phases < n_phases and start is not None:
        start = np.reshape(start(), image.shape[:2]).astype(np.int16)
        other = refine_phases(image, start, features, pixel_sums, n_phases=n_phases, **options)
        if other.n_phases > ref.n_phases and nested(other.labels, ref.labels) >= NESTED:
            return other, list(other.changes)
    return ref, list(ref.changes)


def asked_map(image, first, n_phases, features, pixel_sums, finish, start=None, **options):
    """The whole flow with ``n_phases`` asked for, from ``auto``'s phases ``first``: :func:`asked_phases`, then
    ``finish(labels, spectra) -> (labels, spectra, k, changes)`` (the boundary steps and the specks' removal of
    the caller: ``map_phases``' or the dashboard's), then, with more than ``n_phases`` left, :func:`merged_to` and
    ``finish`` again. Returns ``(labels, spectra, k, changes after first's)``; ``spectra`` may be None."""
    ref, changes = asked_phases(image, first, n_phases, features, pixel_sums, start=start, **options)
    labels, spectra, k, gone = finish(ref.labels, ref.spectra)
    changes = list(changes) + list(gone)
    if k > n_phases:
        ref = merged_to(image, labels, spectra, n_phases, features, pixel_sums, **options)
        labels, spectra, k, gone = finish(ref.labels, ref.spectra)
        changes += list(ref.changes) + list(gone)
    return labels, spectra, k, changes


def nested(fine, coarse):
    """Share of the assigned pixels of ``fine`` whose phase lies in the same phase of ``coarse`` as most of its
    pixels: 1 when every phase of ``fine`` is within one of ``coarse``."""
    f, c = np.ravel(fine), np.ravel(coarse)
    ok = (f >= 0) & (c >= 0)
    if not ok.any():
        return 0.0
    table = np.zeros((int(f.max()) + 1, int(c.max()) + 1), np.int64)
    np.add.at(table, (f[ok], c[ok]), 1)
    return float(table.max(1).sum() / ok.sum())


def merged_to(image, labels, spectra, n_phases, features, pixel_sums, **options):
    """Phases merged until ``n_phases`` are left (no seeding, no split), each time the pair whose merge loses the
    least likelihood (:func:`._merge.merge_cost`): a :class:`Refinement`. By the most alike chemistries instead
    (the largest ratio of a major element's shares, as below ``n_phases``), the real chevkinite map's seven phases
    asked down to six joined two large distinct ones (ARI 0.52 against its seven; by the likelihood 0.92), and a
    random rock's two glasses were joined where a phase of 18 pixels stayed (0.917; by the likelihood 0.996)."""
    return refine_phases(image, labels, features, pixel_sums, n_phases=n_phases, spectra=spectra, seed=False,
                         split=False, by_cost=True, **options)
