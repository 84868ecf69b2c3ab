"""The map's counts on groups of channels, for :mod:`._blur`'s likelihoods.

Channels whose intensities keep the same proportions between the phases (k-means on the centred
log-ratios of the phases' spectra) are summed into one group: a multinomial likelihood of a mixture
of the phases loses almost nothing of their contrast on :data:`GROUPS` groups, and the counts of a
full map fit in memory (1295 x 1820 px x 48 groups as uint16: 226 MB). They are read by their own
pass (:func:`_gather`) or collected by another step's pass (:func:`grouped_counts`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import sparse

from .._stream._passes import map_row_blocks
from ..preprocess import energy_channels

#: groups of channels the likelihood is computed on
GROUPS = 48


def channel_groups(sums, n_groups=GROUPS, random_state=0):
    """A group index for each channel: channels whose intensities are in nearly the same proportions
    between the phases (the centred log-ratios of the phases' spectra), by k-means weighted by counts."""
    from sklearn.cluster import KMeans

    s = np.asarray(sums, np.float64) + 0.5
    c = s.shape[1]
    if c <= n_groups:
        return np.arange(c)
    t = np.log(s / s.sum(1, keepdims=True))
    v = (t - t.mean(0)).T
    weight = s.sum(0)
    km = KMeans(n_clusters=n_groups, n_init=1, random_state=random_state).fit(v, sample_weight=weight)
    _, groups = np.unique(km.labels_, return_inverse=True)
    return groups


def _group(block, channels, merge, chunk=2048):
    """(N, G) float32: the counts of a row block's pixels summed over each group of channels (``merge``: the
    (C', G) 0/1 matrix), by a dense product ``chunk`` pixels at a time (counts are whole numbers, exact in
    float32): 6 times faster than through a sparse matrix at 600 counts/px."""
    flat = np.asarray(block).reshape(-1, block.shape[-1])
    merge = np.asarray(merge, np.float32)
    x = np.empty((flat.shape[0], merge.shape[1]), np.float32)
    for a in range(0, flat.shape[0], chunk):
        np.matmul(flat[a:a + chunk, channels].astype(np.float32), merge, out=x[a:a + chunk])
    return x


def _compact(y):
    """Counts held as uint16 (half of float32's memory on a full map) when they fit, as they do in any EDS pixel."""
    return y.astype(np.uint16 if y.size == 0 or y.max() <= 65535 else np.float32)


def _collect(r0, r1, block, *, labels, band, inner, channels, merge, k):
    """One row block: the grouped counts of its band pixels, and the grouped sums of each phase's inner
    pixels (row ``k``: the unassigned pixels)."""
    x = _group(block, channels, merge)
    lab = labels.ravel()
    at = np.flatnonzero(band.ravel())
    return r0, at, _compact(x[at]), _inner_sums(x, lab, inner.ravel(), k)


def _inner_sums(x, lab, inner, k):
    rows = np.flatnonzero(inner | (lab < 0))
    cls = np.where(lab[rows] < 0, k, lab[rows])
    pick = sparse.csr_matrix((np.ones(rows.size, np.float32), (cls, rows)), shape=(k + 1, x.shape[0]))
    return np.asarray(pick @ x, np.float64)


def _grouped_block(r0, r1, block, *, channels, merge):
    return r0, _compact(_group(block, channels, merge))


def grouped_counts(image, sums, energy_range=(0.1, None)):
    """What another pass over the map collects for :func:`beam_spread_fit` (``grouped=``): the channels'
    groups from the phases' summed counts ``sums``, and ``collect(r0, r1, block)``, the grouped counts of a
    row block. Returns ``(merge, collect)``; :func:`stack_grouped` makes the pass's results one array."""
    channels = energy_channels(image, energy_range)
    groups = channel_groups(np.asarray(sums, np.float64)[:, channels])
    merge = np.zeros((groups.size, groups.max() + 1), np.float32)
    merge[np.arange(groups.size), groups] = 1
    return merge, partial(_grouped_block, channels=channels, merge=merge)


def stack_grouped(parts):
    """The results of ``collect`` over every row block, in row order, as one (H * W, G) array (each block's
    part dropped from ``parts`` once copied: one copy held, not two)."""
    parts.sort(key=lambda p: p[0])
    out = np.empty((sum(len(p[1]) for p in parts), parts[0][1].shape[1]), np.result_type(*[p[1] for p in parts]))
    a = 0
    for i, (_, y) in enumerate(parts):
        out[a:a + len(y)] = y
        a += len(y)
        parts[i] = None
    return out


def _gather(image, lab, inner, channels, merge, k, block_rows, client, band, ranges):
    """The grouped counts of the band's pixels (their rows and columns) and each phase's inner sums, read
    from the row blocks ``ranges`` (None: all)."""
    w = lab.shape[1]
    parts = map_row_blocks(image, partial(_collect, channels=channels, merge=merge, k=k), block_rows=block_rows,
                           client=client, ranges=ranges, message="beam spread",
                           per_block=lambda r0, r1: {"labels": lab[r0:r1], "band": band[r0:r1],
                                                     "inner": inner[r0:r1]})
    at = np.concatenate([p[0] * w + p[1] for p in parts])
    rows, cols = np.divmod(at, w)
    sums = sum(p[3] for p in parts)
    y = np.empty((at.size, sums.shape[1]), np.result_type(*[p[2] for p in parts]))
    a = 0
    for i, p in enumerate(parts):  # each block's counts freed once copied: one band's worth held, not two
        y[a:a + len(p[2])] = p[2]
        a += len(p[2])
        parts[i] = None
    return rows, cols, y, np.arange(at.size), sums


def _from_counts(counts, lab, inner, k, band, ranges, chunk=262_144):
    """As :func:`_gather`, from every pixel's grouped counts already read (``counts``, (H * W, G)): the band's
    pixels index them (no copy), and the inner sums are added up ``chunk`` pixels at a time."""
    h, w = lab.shape
    rows_in = np.ones(h, bool)
    if ranges is not None:
        rows_in[:] = False
        for r0, r1 in ranges:
            rows_in[r0:r1] = True
    at = np.flatnonzero((band & rows_in[:, None]).ravel())
    rows, cols = np.divmod(at, w)
    take = (inner | (lab < 0)) & rows_in[:, None]
    flat_lab, flat_take = lab.ravel(), take.ravel()
    sums = np.zeros((k + 1, counts.shape[1]))
    for a in range(0, lab.size, chunk):
        sums += _inner_sums(counts[a:a + chunk].astype(np.float32), flat_lab[a:a + chunk], flat_take[a:a + chunk], k)
    return rows, cols, counts, at, sums
