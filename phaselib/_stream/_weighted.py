"""Poisson-weighted, sparse, row-blocked view of a spectrum image.

EDS counts are sparse (a pixel with 200 counts hits at most 200 of 2048
channels), so the map is held as CSR row blocks of raw counts. The Keenan &
Kotula weighting ``X_w = D_g^-1/2 X D_h^-1/2`` (``g`` pixel sums, ``h`` channel
sums; HyperSpy's ``normalize_poissonian_noise=True``) is applied to the small
dense operand of each product, so the weighted matrix is never formed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

from ._blocks import block_rows_for, in_flight, iter_row_blocks, sample_ranges
from ._threads import n_workers, release_memory, single_threaded_blas

#: sparse blocks are kept in memory when their total size stays below this
CACHE_BYTES = 1536 * 2**20


#: values of a block turned into CSR at a time (their int64 index temporaries: ~8 bytes per nonzero)
CSR_ELEMENTS = 4 * 2**20

#: largest count per channel taken (floats beyond this are not counts, and their float32 sums overflow)
MAX_COUNT = 1e12

#: what a map holding NaN or infinity is told
NOT_FINITE = "The map holds NaN or infinite values (missing or damaged data?); counts must be finite."


def csr_from_counts(flat, channels=slice(None)) -> sparse.csr_matrix:
    """(N, C) counts -> float32 CSR of the columns ``channels`` (a slice).

    Faster than ``scipy.sparse.csr_matrix(dense)``; ``flat`` may hold all channels
    (the window is applied to the indices, so no copy of the block is made). Rows are taken
    :data:`CSR_ELEMENTS` values at a time, so the index temporaries stay small whatever the block.
    """
    flat = np.ascontiguousarray(flat)
    n, c = flat.shape
    start, stop, _ = channels.indices(c)
    step = max(1, CSR_ELEMENTS // max(c, 1))
    data, cols, counts = [], [], []
    for a in range(0, n, step):
        d, k, m = _csr_rows(flat[a:a + step], start, stop)
        data.append(d)
        cols.append(k)
        counts.append(m)
    indptr = np.zeros(n + 1, np.int64)
    if n:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))
    return sparse.csr_matrix((cat(data, np.float32), cat(cols, np.int32), indptr), shape=(n, stop - start))


def _csr_rows(flat, start, stop):
    """The nonzero values (float32), their columns - start (int32) and the count per row of rows ``flat``,
    within the columns ``start:stop``; the checks of :func:`csr_from_counts` on them."""
    if np.issubdtype(flat.dtype, np.floating):
        if not np.isfinite(flat).all():
            raise ValueError(NOT_FINITE)
        if (flat < 0).any():
            raise ValueError("The map holds negative values; counts must be >= 0.")
        if flat.size and float(flat.max()) > MAX_COUNT:  # float32 sums of such values overflow
            raise ValueError(f"The map holds values up to {float(flat.max()):.3g}; counts per channel must be at "
                             f"most {MAX_COUNT:.0e} (not counts? then --signal intensity).")
    elif np.issubdtype(flat.dtype, np.signedinteger) and (flat < 0).any():
        raise ValueError("The map holds negative values; counts must be >= 0.")
    if flat.dtype.itemsize >= 8 and flat.size and not np.issubdtype(flat.dtype, np.floating) \
            and int(flat.max()) > MAX_COUNT:  # 64-bit integers beyond float32's exact sums
        raise ValueError(f"The map holds values up to {float(flat.max()):.3g}; counts per channel must be at "
                         f"most {MAX_COUNT:.0e}.")
    n, c = flat.shape
    nz = np.flatnonzero(flat)
    rows, cols = np.divmod(nz, c)
    if (start, stop) != (0, c):
        keep = (cols >= start) & (cols < stop)
        nz, rows, cols = nz[keep], rows[keep], cols[keep] - start
    return flat.reshape(-1)[nz].astype(np.float32), cols.astype(np.int32), np.bincount(rows, minlength=n)


class WeightedBlocks:
    """Row blocks of a map as CSR counts, with Poisson weights.

    Parameters
    ----------
    data : (H, W, C) array-like (numpy, memmap or dask)
    channels : slice
        Channels used (an energy window).
    poisson : bool
        Apply the Keenan & Kotula weighting.
    block_rows : int, optional
    progress : callable, optional
        ``progress(done_fraction, message)``.
    """

    def __init__(self, data, channels=slice(None), *, poisson=True, block_rows=None,
                 sample_fraction=1.0, cache_bytes=CACHE_BYTES, progress=None):
        self.data = data
        self.channels = channels
        self.shape = tuple(data.shape)
        h, w, _ = self.shape
        if block_rows is None:
            # small blocks parallelise well; about 8 MiB of raw counts each
            block_rows = block_rows_for(data, block_bytes=8 * 2**20)
        self.block_rows = block_rows
        self.ranges = sample_ranges(h, block_rows, sample_fraction)
        self.n_pixels = sum(r1 - r0 for r0, r1 in self.ranges) * w
        self._pool = ThreadPoolExecutor(n_workers())
        self._cache = []
        pixel_sums = np.zeros(h * w, np.float64)
        channel_sums = None
        sq_over_g = 0.0  # sum_i x_ij^2 / g_i, per channel: the weighted data's squared norm, later
        sq = 0.0
        nbytes = 0
        keep = True
        for i, (r0, r1, csr) in enumerate(self._read()):
            g = np.asarray(csr.sum(axis=1), dtype=np.float64).ravel()
            pixel_sums[r0 * w:r1 * w] = g
            cs = np.asarray(csr.sum(axis=0), dtype=np.float64).ravel()
            rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
            d2 = csr.data.astype(np.float64) ** 2
            sq_over_g = sq_over_g + np.bincount(csr.indices, d2 / np.where(g > 0, g, 1.0)[rows],
                                                minlength=csr.shape[1])
            sq += d2.sum()
            channel_sums = cs if channel_sums is None else channel_sums + cs
            nbytes += csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
            keep = keep and nbytes <= cache_bytes
            if keep:
                self._cache.append((r0, r1, csr))
            else:
                self._cache = []
            if progress:
                progress((i + 1) / len(self.ranges), "reading map")
        self.cached = keep
        self.pixel_sums = pixel_sums
        self.channel_sums = channel_sums
        self.total = float(pixel_sums.sum())
        if self.total <= 0:
            c, n = self.channels, self.shape[-1]
            lo, hi = c.start or 0, (n if c.stop is None else c.stop) - 1
            raise ValueError(f"The map holds no counts in channels {lo} to {hi} of {n} (its energy window): check "
                             "the energy calibration (keV) and the energy range." if (lo, hi) != (0, n - 1) else
                             "The map holds no counts (every pixel is zero).")
        self.n_channels = channel_sums.size
        if poisson:
            self.row_w = 1.0 / np.sqrt(np.where(pixel_sums > 0, pixel_sums, 1.0))
            self.col_w = 1.0 / np.sqrt(np.where(channel_sums > 0, channel_sums, 1.0))
            #: squared Frobenius norm of the weighted data (the total for explained-variance ratios)
            self.sq_norm = float(np.sum(sq_over_g * self.col_w ** 2))
        else:
            self.row_w = np.ones_like(pixel_sums)
            self.col_w = np.ones_like(channel_sums)
            self.sq_norm = float(sq)

    def _read(self):
        """Yield ``(r0, r1, csr)`` for each row block, converting in worker threads."""
        w = self.shape[1]
        ch = self.channels

        def convert(item):
            r0, r1, block = item
            return r0, r1, csr_from_counts(block.reshape((r1 - r0) * w, block.shape[-1]), ch)

        source = iter_row_blocks(self.data, ranges=self.ranges)
        # keep at most 2 * workers blocks in flight (fewer if they are big: in_flight)
        pending, limit = [], None
        for item in source:
            pending.append(self._pool.submit(convert, item))
            limit = limit or in_flight(item[2].nbytes, self._pool._max_workers)
            if len(pending) >= limit:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
        release_memory()  # the pass's freed temporaries, back to the system

    def blocks(self):
        """Iterate ``(r0, r1, csr)`` blocks of raw counts (from cache or re-read)."""
        return iter(self._cache) if self.cached else self._read()

    def map_blocks(self, func):
        """``[func(r0, r1, csr) for each block]``, run in worker threads."""
        with single_threaded_blas():
            if self.cached:
                return list(self._pool.map(lambda b: func(*b), self._cache))
            return [func(*b) for b in self._read()]

    def sum_blocks(self, func):
        """``sum(func(r0, r1, csr) for each block)`` as float64, added up as the blocks finish (a
        list of every block's (K, C) result first would hold thousands of them on a full map)."""
        total = None
        with single_threaded_blas():
            parts = self._pool.map(lambda b: func(*b), self._cache) if self.cached else \
                (func(*b) for b in self._read())
            for part in parts:
                part = part.toarray() if hasattr(part, "toarray") else np.asarray(part)
                total = part.astype(np.float64) if total is None else total + part
        return total

    def gram_times(self, z):
        """``X_w^T X_w z`` for a (C', k) matrix ``z``, one pass over the blocks."""
        w = self.shape[1]
        zw = (self.col_w[:, None] * z).astype(np.float32)

        def one(r0, r1, csr):
            rw = self.row_w[r0 * w:r1 * w, None].astype(np.float32)
            return csr.T @ ((csr @ zw) * (rw * rw))

        return self.sum_blocks(one) * self.col_w[:, None]

    def project(self, v):
        """``X_w v`` for a (C', k) matrix ``v``: (n_pixels, k) float32 scores of the
        sampled rows, in row order."""
        w = self.shape[1]
        vw = (self.col_w[:, None] * v).astype(np.float32)
        starts = np.cumsum([0] + [(r1 - r0) * w for r0, r1 in self.ranges])
        where = {r0: s for (r0, _), s in zip(self.ranges, starts)}
        out = np.empty((self.n_pixels, v.shape[1]), np.float32)

        def one(r0, r1, csr):
            s = where[r0]
            out[s:s + (r1 - r0) * w] = (csr @ vw) * self.row_w[r0 * w:r1 * w, None].astype(np.float32)

        self.map_blocks(one)
        return out

    def sampled(self, values):
        """The entries of a per-pixel array (H*W, ...) that belong to the sampled rows."""
        w = self.shape[1]
        return np.concatenate([values[r0 * w:r1 * w] for r0, r1 in self.ranges])

    def close(self):
        self._pool.shutdown(wait=False)
        self._cache = []
