"""Row-block iteration: the one place where map data are read.

Every computation over a whole map (Poisson weights, PCA passes, projections,
phase sums) goes through :func:`iter_row_blocks`, so that numpy arrays, memory
maps and dask arrays are read a few rows at a time and never copied whole.
"""

from __future__ import annotations

import numpy as np

#: target size of one block of raw data, in bytes
BLOCK_BYTES = 64 * 2**20


def default_block_rows(shape, itemsize, *, block_bytes=BLOCK_BYTES) -> int:
    """Rows per block so that a block of raw data is about ``block_bytes``."""
    h, w, c = shape
    return int(max(1, min(h, block_bytes // max(1, w * c * itemsize))))


def iter_row_blocks(data, block_rows=None):
    """Yield ``(r0, r1, block)`` with ``block = np.asarray(data[r0:r1])``.

    Parameters
    ----------
    data : (H, W, C) ndarray, memmap or dask array
    block_rows : int, optional
        Rows per block (default: about 64 MiB of raw data per block).
    """
    h = data.shape[0]
    if block_rows is None:
        block_rows = default_block_rows(data.shape, data.dtype.itemsize)
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}.")
    is_dask = type(data).__module__.startswith("dask")
    for r0 in range(0, h, block_rows):
        r1 = min(h, r0 + block_rows)
        block = data[r0:r1]
        yield r0, r1, (block.compute() if is_dask else np.asarray(block))


def to_csr(block, channels=slice(None)):
    """A (rows*W, C') float32 CSR matrix of the counts of a row block."""
    from scipy import sparse

    b = block[..., channels]
    flat = b.reshape(-1, b.shape[-1])
    if np.issubdtype(flat.dtype, np.floating):
        if not np.all(np.isfinite(flat)):
            raise ValueError("The map holds NaN or infinite values; counts must be finite.")
    return sparse.csr_matrix(flat, dtype=np.float32)
