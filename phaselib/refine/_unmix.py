"""Mixed pixels along boundaries: each goes to the dominant phase of the mixture that explains it.

Where the beam straddles two grains, a pixel's spectrum is a mixture of theirs. A clustering
gives it the phase whose spectrum is nearest, and that may be a third phase lying between the
two in composition: a rim of "anorthite" between augite and albite, of "plagioclase" between
K-feldspar and a mafic mineral. Such rims cost the phase map its accuracy on every boundary and
cut the grain map into slivers. The test, pixel by pixel, for the pixels of a boundary (their
``WINDOW`` x ``WINDOW`` neighbourhood holds two phases or more):

* hypotheses: each phase present in the neighbourhood alone, and each two-phase mixture of them
  with the dominant phase's share in ``SHARES`` (``0.55 .. 0.9``);
* each is scored by the multinomial log-likelihood of the pixel's counts in the energy window
  (the pixel's total is given: brightness and topography do not count), the phase spectra
  being the summed spectra of the phases (half a count added to every channel, so no channel
  is impossible);
* to each phase's best score is added ``NEIGHBOUR_WEIGHT`` (1 nat) per pixel of its 8 neighbours
  that it holds (a tie between mixtures of nearly equal shares goes to the side its neighbours
  are on, so the outlines are not left ragged);
* the pixel goes to the phase with the best total; its own phase keeps it on a tie.

Assumptions, stated: a pixel mixes at most two phases, and they are among its neighbours' (the
beam's spread is about a pixel); a phase's summed spectrum is its pure spectrum (its mixed
pixels are a small share of it). A phase whose composition lies between two others that it
touches keeps its inner pixels: they are not on a boundary, and its boundary pixels go to it
when it explains them best. Per pixel this needs counts: :func:`phaselib.pipeline.map_phases`
uses it from :data:`MIN_COUNTS` counts/px, and below :data:`FULL_COUNTS` a pixel moves only when
the new phase beats its own by :data:`LOW_MARGIN` nats (without a margin, at 20-60 counts/px it
moved pixels at random on maps without mixed pixels: the default rock at 60 counts/px 0.998 ->
0.980, at 20 0.966 -> 0.928; with it, at 50 counts/px, seed 1, true K: default rock 0.996 ->
0.992, dacite 0.868 -> 0.874, basalt 0.866 -> 0.881, granite 0.949 -> 0.960, phenocrysts with a
1.5 px beam 0.910 -> 0.919).
Measured (true number of phases, ARI against the truth, seed 1): rich presets at 200 counts/px,
basalt 0.90 -> 0.95, dacite 0.91 -> 0.93, granite 0.975 -> 0.99; at 120 counts/px (after the
spatial prior) basalt 0.887 -> 0.923, dacite 0.907 -> 0.913, granite 0.956 -> 0.981, the default
rock (no mixed pixels) 1.000 -> 0.996; phenocrysts with a 1.5 px beam at 200 counts/px 0.945 ->
0.97 (0.96 without the neighbours' weight, and grains cut more often along ragged outlines).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage as ndi

import phaselib.refine._check as _check

from .. import quantify
from .._stream._passes import map_row_blocks
from .._stream._weighted import csr_from_counts
from .._validate import check_image, check_int, check_labels, check_number
from ..preprocess import energy_channels

#: the neighbourhood whose phases a pixel may mix (pixels)
WINDOW = 3
#: log-likelihood (nats) added to a phase's score per pixel of the 8 neighbours it holds
NEIGHBOUR_WEIGHT = 1.0
#: shares of the dominant phase in the two-phase mixtures tried (1.0, the pure phase, is always tried)
SHARES = (0.9, 0.8, 0.7, 0.6, 0.55)
#: mean counts per pixel from which the test is used (on both paths of :func:`phaselib.pipeline.map_phases`) ...
MIN_COUNTS = 40.0
#: ... and below this many, a pixel moves only if the new phase scores ``LOW_MARGIN`` nats more than its own
FULL_COUNTS, LOW_MARGIN = 100.0, 2.0
#: what the test does, in one line (``params["mixed_pixels"]`` of a phase map)
RULE = "each boundary pixel to the dominant phase of its best two-phase mixture of the phases around it"


def mixture_templates(sums, channels=slice(None)):
    """Log-spectra of every phase and two-phase mixture.

    Parameters
    ----------
    sums : (K, C) ndarray
        Summed counts of each phase.
    channels : slice
        The channels used.

    Returns
    -------
    log_templates : (C', T) float32 ndarray
        Log of each normalised template on ``channels``.
    dominant, other : (T,) int ndarray
        The phase holding the larger share of each template, and the other (itself for a pure phase).
    """
    s = np.asarray(sums, np.float64)[:, channels] + 0.5
    s /= s.sum(1, keepdims=True)
    k = s.shape[0]
    cols, dom, oth = [], [], []
    for d in range(k):
        cols.append(s[d])
        dom.append(d)
        oth.append(d)
        for o in range(k):
            if o != d:
                for a in SHARES:
                    cols.append(a * s[d] + (1 - a) * s[o])
                    dom.append(d)
                    oth.append(o)
    return np.log(np.array(cols)).T.astype(np.float32), np.array(dom), np.array(oth)


def neighbour_counts(labels, k, window=WINDOW):
    """(K, H, W) uint8: pixels of phase ``p`` in each pixel's ``window`` x ``window`` neighbourhood, itself included."""
    lab = np.asarray(labels)
    ones = np.ones((window, window), np.uint8)
    return np.stack([ndi.convolve((lab == p).view(np.uint8), ones, mode="nearest") for p in range(k)])


def best_phases(counts, around, own, log_templates, dominant, other, weight=NEIGHBOUR_WEIGHT, margin=0.0):
    """The dominant phase of the best hypothesis for each pixel (see the module docstring).

    Parameters
    ----------
    counts : (N, C') ndarray or sparse matrix
        The pixels' counts on the templates' channels.
    around : (N, K) int ndarray
        Pixels of each phase in each pixel's neighbourhood, itself included (:func:`neighbour_counts`).
    own : (N,) int ndarray
        Each pixel's phase (kept on a tie).
    log_templates, dominant, other
        From :func:`mixture_templates`.
    weight : float
        Added to a phase's score per neighbour it holds.
    margin : float
        A pixel moves only if the new phase's score beats its own by more than this (nats).

    Returns
    -------
    (N,) int ndarray
    """
    n = own.size
    if n == 0:
        return own.copy()
    around = np.asarray(around)
    ll = np.asarray(counts @ log_templates, np.float64)
    ll[~((around[:, dominant] > 0) & (around[:, other] > 0))] = -np.inf
    k = around.shape[1]
    best = np.full((n, k), -np.inf)
    for d in range(k):
        cols = dominant == d
        if cols.any():
            best[:, d] = ll[:, cols].max(1)
    rows = np.arange(n)
    support = around.astype(np.float64)
    support[rows, own] -= 1  # the neighbours, not the pixel itself
    best += weight * support
    new = best.argmax(1)
    keep = best[rows, new] <= best[rows, own] + margin
    return np.where(keep, own, new)


def _block(r0, r1, block, *, labels, around, channels, templates, margin=0.0, collect=None):
    """Changed pixels of one row block: its first row, their flat indices within the block, their new
    phase, the (K, K, C) sums of the counts moved from each phase to each other, and ``collect(r0, r1,
    block)`` (None without it: another step's reading of the same block)."""
    extra = None if collect is None else collect(r0, r1, block)
    return (*_moves(r0, block, labels, around, channels, templates, margin), extra)


def _moves(r0, block, labels, around, channels, templates, margin):
    log_t, dom, oth = templates
    k = around.shape[0]
    lab = labels.ravel()
    near = around.reshape(k, -1).T
    at = np.flatnonzero((lab >= 0) & ((near > 0).sum(1) >= 2))
    flat = block.reshape(-1, block.shape[-1])
    if at.size == 0:
        return r0, at, at, None
    x = flat[at]
    new = best_phases(csr_from_counts(x, channels), near[at], lab[at].astype(np.int64), log_t, dom, oth,
                      margin=margin)
    moved = new != lab[at]
    at, old, new = at[moved], lab[at][moved].astype(np.int64), new[moved]
    delta = np.zeros((k, k, flat.shape[1]))
    if at.size:
        np.add.at(delta, (old, new), x[moved].astype(np.float64))
    return r0, at, new, delta


def assign_mixed_pixels(image, labels, sums, *, energy_range=(0.1, None), window=WINDOW, margin=None,
                        block_rows=None, client=None, collect=None):
    """Give each boundary pixel to the dominant phase of the mixture that best explains it.

    Parameters
    ----------
    image : SpectrumImage
        A map of counts.
    labels : (H, W) int ndarray
        Phase of each pixel, -1 unassigned (unassigned pixels stay so, and are no phase's neighbours).
    sums : (K, C) ndarray
        Summed counts of each phase on the image's channels.
    energy_range : (float, float or None)
        The energy window (keV) of the likelihoods.
    window : int
        Neighbourhood whose phases a pixel may mix.
    margin : float, optional
        Nats by which a new phase must beat a pixel's own (:func:`best_phases`); default
        :func:`low_count_margin` of the phases' mean counts per pixel.
    block_rows : int, optional
    client : distributed.Client, optional
    collect : callable, optional
        ``collect(r0, r1, block)`` run on every row block in the same pass (another step's reading of the
        map, e.g. :func:`grouped_counts`); its results, in row order, are a fourth value returned.

    Returns
    -------
    labels : (H, W) int16 ndarray
    sums : (K, C) ndarray
        Summed counts after the moves (no second pass over the map).
    n_moved : int
    """
    window = check_int(window, "window", low=3, high=99)
    margin = check_number(margin, "margin", low=0, allow_none=True)
    check_image(image)
    lab = check_labels(labels, "labels", shape=image.shape[:2])
    sums = _check.phase_sums(sums, channels=image.n_channels)
    k = sums.shape[0]
    if k < 2 and collect is None:
        return lab.astype(np.int16), sums, 0
    channels = energy_channels(image, energy_range)
    around = neighbour_counts(lab, k, window)
    if margin is None:
        margin = low_count_margin(sums.sum() / max(np.count_nonzero(lab >= 0), 1))
    func = partial(_block, channels=channels, templates=mixture_templates(sums, channels), margin=float(margin),
                   collect=collect)
    parts = map_row_blocks(image, func, block_rows=block_rows, client=client,
                           per_block=lambda r0, r1: {"labels": lab[r0:r1], "around": around[:, r0:r1]},
                           message="mixed pixels")
    out = lab.astype(np.int16).ravel().copy()
    sums = sums.copy()
    w = lab.shape[1]
    n_moved = 0
    for r0, at, new, delta, _ in parts:
        if delta is not None and at.size:
            out[r0 * w + at] = new
            sums += delta.sum(0) - delta.sum(1)
            n_moved += at.size
    result = out.reshape(lab.shape), np.clip(sums, 0, None), n_moved
    return result if collect is None else (*result, [p[4] for p in parts])


def low_count_margin(mean_counts):
    """The margin (nats) a move needs on a map of ``mean_counts`` per pixel: 0 from ``FULL_COUNTS``,
    ``LOW_MARGIN`` below (there a pixel's likelihoods under nearly equal mixtures differ by noise
    alone, and moves without a margin cost the default rock, which has no mixed pixels, 0.02 ARI)."""
    mean_counts = check_number(mean_counts, "mean_counts", low=0)
    return 0.0 if mean_counts >= FULL_COUNTS else LOW_MARGIN


def assign_mixed_phase_pixels(image, labels, k, spectra=None, energy_range=(0.1, None), *, margin=None,
                              block_rows=None, client=None, collect=None):
    """:func:`assign_mixed_pixels` on a phase map of ``k`` phases with its :class:`~phaselib.quantify.PhaseSpectra`
    (computed when not given). Returns the new labels, their PhaseSpectra and the number of pixels moved (and
    the results of ``collect``, when given, as :func:`assign_mixed_pixels`)."""
    margin = check_number(margin, "margin", low=0, allow_none=True)
    if spectra is None:
        spectra = quantify.phase_spectra(image, labels, k, block_rows=block_rows, client=client)
    new, sums, moved, *extra = assign_mixed_pixels(image, labels, spectra.sums, energy_range=energy_range,
                                                   margin=margin, block_rows=block_rows, client=client,
                                                   collect=collect)
    n_pix = np.bincount(new[new >= 0].ravel(), minlength=k)[:k]
    return (new, quantify.PhaseSpectra(sums, n_pix, spectra.energy_keV, spectra.total), moved, *extra)
