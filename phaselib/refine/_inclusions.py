"""Inclusions too small for the beam: a blob of a third phase that is the host mixed with another phase.

A magnetite inclusion a few pixels across in plagioclase is, under a beam spreading a pixel or more,
a blob of mixed pixels: magnetite with plagioclase around it. No pixel of it is pure magnetite, so the
clustering gives the blob the phase nearest the mixture (an Fe-Ca silicate: augite), and the test of
mixed pixels (:mod:`._unmix`) never tries magnetite there, since no neighbour holds it. Each such blob
then counts as a grain of the wrong mineral.

The test, blob by blob (a connected piece of one phase of at most ``MAX_PIXELS`` pixels, at least
``HOST_SHARE`` of the pixels around it held by one other phase, its host):

* the blob's summed counts (a 20 px blob at 50 counts/px holds a thousand: power where one pixel has
  none), on the 48 groups of channels of the beam's step (:mod:`._grouped`), are scored by the
  multinomial log-likelihood under mixtures of two phase spectra, the host's share in ``SHARES``;
* hypothesis *own*: its phase mixed with the host (a true small grain, blurred); hypothesis *other*:
  any third phase mixed with the host (often part of the inclusion already holds it, and the blob is the
  rest: the mixed-pixel test, with a margin below 100 counts/px, leaves such blobs whole);
* when the best *other* beats *own* by ``MARGIN`` nats, the blob goes to that phase. The pixels
  between it and the host are then sorted out by the mixed-pixel and beam steps that follow.

Assumptions, stated: a blob mixes at most two phases, its host and one other; the phase spectra are
the phases' summed spectra (a blob is a small share of its phase). A true small grain is explained by
its own spectrum at least as well as by a mixture of two others, unless its composition lies on the
line between them: then the counts cannot tell, and the blob keeps its phase (the margin).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse

from .._stream._passes import map_row_blocks
from ..preprocess import energy_channels
from ._grouped import _group, channel_groups

#: blobs of at most this many pixels are tested (a 10 px wide inclusion under a 1.5 px beam)
MAX_PIXELS = 100
#: ... when at least this share of the pixels around them (4-connected ring) is one other phase
HOST_SHARE = 0.6
#: shares of the host tried in each two-phase mixture (0: the blob's phase alone)
SHARES = np.linspace(0.0, 0.9, 10)
#: nats by which the best mixture of the host with a third phase must beat the blob's own phase
MARGIN = 10.0
#: what the test does, in one line (``params["inclusions"]`` of a phase map)
RULE = ("each blob of <= 100 px inside one host phase to the third phase whose mixture with the host explains its "
        "summed counts better than its own phase's mixture by 10 nats")


def inclusion_blobs(labels, k, max_pixels=MAX_PIXELS, host_share=HOST_SHARE):
    """The blobs to test: ``(ids, phase, host)``, ``ids`` an (H, W) int map (-1 elsewhere, else the blob's
    index) and the phase and host of each blob. Vectorised: a full map holds tens of thousands of pieces."""
    labels = np.asarray(labels)
    comp = np.zeros(labels.shape, np.int64)  # 4-connected pieces of each phase, numbered over all phases
    phase_of, n = [np.zeros(1, int)], 0
    for p in range(k):
        c, m = ndi.label(labels == p)
        comp[c > 0] = c[c > 0] + n
        phase_of.append(np.full(m, p))
        n += m
    phase_of = np.concatenate(phase_of)
    small = np.bincount(comp.ravel(), minlength=n + 1) <= max_pixels
    small[0] = False
    # the ring: the pixels 4-adjacent to a small piece and outside it, each once, counted by their phase
    idx = np.arange(labels.size).reshape(labels.shape)
    pairs = []
    for piece, other, at_px in ((comp[:-1], comp[1:], idx[1:]), (comp[1:], comp[:-1], idx[:-1]),
                                (comp[:, :-1], comp[:, 1:], idx[:, 1:]), (comp[:, 1:], comp[:, :-1], idx[:, :-1])):
        at = small[piece] & (other != piece)
        pairs.append(piece[at] * labels.size + at_px[at])
    ring = np.unique(np.concatenate(pairs))
    lab = labels.ravel()[ring % labels.size]
    around = np.bincount((ring // labels.size)[lab >= 0] * k + lab[lab >= 0], minlength=(n + 1) * k).reshape(n + 1, k)
    host = around.argmax(1)
    total = around.sum(1)
    ok = small & (total > 0) & (around[np.arange(n + 1), host] >= host_share * total) & (host != phase_of)
    index = np.full(n + 1, -1, np.int32)
    index[ok] = np.arange(np.count_nonzero(ok), dtype=np.int32)
    return index[comp], phase_of[ok], host[ok]


def best_mixture(counts, templates, a, h, shares=SHARES):
    """Log-likelihood (up to a constant) of each blob's counts (B, C) under the best mixture of phase
    ``a[i]`` with host ``h[i]`` (``templates``: (K, C) normalised spectra, no zero); the blobs of each
    pair of phases at once, on that pair's (S, C) log-mixtures."""
    a, h = np.broadcast_to(a, (len(counts),)), np.asarray(h)
    out = np.empty(len(counts))
    for pa, ph in set(zip(a.tolist(), h.tolist())):
        at = (a == pa) & (h == ph)
        mix = (1 - shares)[:, None] * templates[pa][None] + shares[:, None] * templates[ph][None]
        out[at] = (counts[at] @ np.log(mix).T).max(1)
    return out


def _blob_block(r0, r1, block, *, ids, channels, merge):
    """The blobs present in one row block and their sums there on the groups of channels (the blobs'
    pixels only: a few % of the map; only the blobs present: a full map has tens of thousands)."""
    rows = np.flatnonzero(ids.ravel() >= 0)
    present, inverse = np.unique(ids.ravel()[rows], return_inverse=True)
    x = _group(np.asarray(block).reshape(-1, block.shape[-1])[rows], channels, merge)
    pick = sparse.csr_matrix((np.ones(rows.size, np.float32), (inverse.ravel(), np.arange(rows.size))),
                             shape=(present.size, rows.size))
    return present, np.asarray(pick @ x, np.float64)


def blob_counts(image, ids, n, sums, energy_range=(0.1, None), *, block_rows=None, client=None):
    """Each blob's summed counts on the groups of channels of :func:`._grouped.channel_groups` (48: a full
    map's ten thousand blobs in a few MB), and the phases' ``sums`` on the same groups, on one pass."""
    channels = energy_channels(image, energy_range)
    groups = channel_groups(np.asarray(sums, np.float64)[:, channels])
    merge = np.zeros((groups.size, groups.max() + 1), np.float32)
    merge[np.arange(groups.size), groups] = 1
    parts = map_row_blocks(image, partial(_blob_block, channels=channels, merge=merge), block_rows=block_rows,
                           client=client, per_block=lambda r0, r1: {"ids": ids[r0:r1]}, message="inclusions")
    out = np.zeros((n, merge.shape[1]))
    for present, part in parts:
        out[present] += part
    return out, np.asarray(sums, np.float64)[:, channels] @ merge


def reassign_inclusions(image, labels, k, sums, energy_range=(0.1, None), *, margin=MARGIN, block_rows=None,
                        client=None):
    """Give each blob that is its host mixed with a third phase to that phase (see the module docstring).

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
    k : int
    sums : (K, C) ndarray
        The phases' summed spectra.
    energy_range : (float, float or None)
    margin : float
    block_rows : int, optional
    client : distributed.Client, optional

    Returns
    -------
    labels : (H, W) ndarray
        A copy, with the blobs moved.
    moved : list of dict
        One entry per blob moved: its phase, host, new phase, pixels and the margin in nats.
    """
    labels = np.array(labels, copy=True)
    if k < 3:
        return labels, []
    ids, phase, host = inclusion_blobs(labels, k)
    if phase.size == 0:
        return labels, []
    y, grouped = blob_counts(image, ids, phase.size, sums, energy_range, block_rows=block_rows, client=client)
    t = grouped + 0.5
    t /= t.sum(1, keepdims=True)
    own = best_mixture(y, t, phase, host)
    best, to = np.full(phase.size, -np.inf), np.full(phase.size, -1)
    for x in range(k):
        ll = best_mixture(y, t, np.full(phase.size, x), host)
        better = (x != phase) & (x != host) & (ll > best)
        best[better], to[better] = ll[better], x
    go = best - own > margin
    new = np.where(go, to, -1)
    inside = ids >= 0
    dest = new[ids[inside]]
    labels[inside] = np.where(dest >= 0, dest, labels[inside])  # one pass over the map, not one per blob
    size = np.bincount(ids[inside], minlength=phase.size)
    moved = [dict(phase=int(phase[b]), host=int(host[b]), to=int(to[b]), pixels=int(size[b]),
                  nats=round(float(best[b] - own[b]), 1)) for b in np.flatnonzero(go)]
    return labels, moved
