"""Row-block iteration: the one place where map data are read.

Every computation over a whole map (Poisson weights, PCA passes, projections,
phase sums) goes through :func:`iter_row_blocks`, so that numpy arrays, memory
maps and dask arrays are read a few rows at a time and never copied whole.
"""

from __future__ import annotations

import numpy as np

#: target size of one block of raw data, in bytes
BLOCK_BYTES = 64 * 2**20
#: raw blocks a pass keeps waiting (read ahead, queued for a worker) hold at most about this many
#: bytes beyond one per worker: a row block of a wide chunked map is 100+ MB, and eight of them in
#: flight were half the peak memory of a full map's run
IN_FLIGHT_BYTES = 256 * 2**20


def in_flight(block_nbytes, workers, *, most=2):
    """How many raw blocks of ``block_nbytes`` to keep waiting per worker's block: between
    ``workers`` (every worker busy) and ``most * workers``, within :data:`IN_FLIGHT_BYTES`."""
    fit = IN_FLIGHT_BYTES // max(int(block_nbytes), 1)
    return int(max(workers, min(most * workers, fit)))


def default_block_rows(shape, itemsize, *, block_bytes=BLOCK_BYTES) -> int:
    """Rows per block so that a block of raw data is about ``block_bytes``."""
    h, w, c = shape
    return int(max(1, min(h, block_bytes // max(1, w * c * itemsize))))


def block_rows_for(data, *, block_bytes=BLOCK_BYTES) -> int:
    """Rows per block for ``data``: about ``block_bytes`` of raw counts, and for a dask
    array a whole number of its row chunks (a block that cuts a compressed chunk would
    decompress it again for every block)."""
    rows = default_block_rows(data.shape, data.dtype.itemsize, block_bytes=block_bytes)
    chunks = getattr(data, "chunks", None)
    if type(data).__module__.startswith("dask") and chunks and chunks[0]:
        step = int(chunks[0][0])
        rows = max(step, rows // step * step)
    return rows


def check_block_rows(block_rows):
    """``block_rows`` as a positive int (a message, not numpy's, for nan, 2.5 or a string)."""
    from .._validate import check_int

    return check_int(block_rows, "block_rows")


def row_ranges(n_rows, block_rows):
    """``[(r0, r1), ...]`` covering ``n_rows`` rows in blocks of ``block_rows``."""
    block_rows = check_block_rows(block_rows)
    return [(r0, min(n_rows, r0 + block_rows)) for r0 in range(0, n_rows, block_rows)]


def sample_ranges(n_rows, block_rows, fraction):
    """Row blocks spread evenly over the map, covering about ``fraction`` of its rows."""
    ranges = row_ranges(n_rows, block_rows)
    if fraction >= 1:
        return ranges
    n = max(1, int(round(len(ranges) * fraction)))
    picks = np.unique(np.linspace(0, len(ranges) - 1, n).round().astype(int))
    return [ranges[i] for i in picks]


def iter_row_blocks(data, block_rows=None, *, ranges=None):
    """Yield ``(r0, r1, block)`` with ``block = np.asarray(data[r0:r1])``.

    Parameters
    ----------
    data : (H, W, C) ndarray, memmap or dask array
    block_rows : int, optional
        Rows per block (default: about 64 MiB of raw data per block).
    ranges : list of (int, int), optional
        Only these row ranges (default: all rows in blocks of ``block_rows``).
    """
    if ranges is None:
        if block_rows is None:
            block_rows = block_rows_for(data)
        ranges = row_ranges(data.shape[0], block_rows)
    if type(data).__module__.startswith("dask"):
        yield from _prefetched(data, ranges)
        return
    mapped = getattr(data, "_mmap", None) if isinstance(data, np.memmap) else None
    for r0, r1 in ranges:
        block = data[r0:r1]
        if mapped is not None:
            # copy the rows out of the memory map and let the kernel drop the mapped pages
            # from this process (they stay in the page cache): resident memory stays at a
            # few blocks however large the file
            block = np.array(block)
            _release(mapped)
        else:
            block = np.asarray(block)
        yield r0, r1, block


def _prefetched(data, ranges, ahead=None):
    """Dask blocks computed ``ahead`` at a time (decompressing chunks of a .zspy is the
    slow part of reading it, and runs while the previous block is being processed); by
    default 2, or 1 for blocks over half of :data:`IN_FLIGHT_BYTES`."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    if ahead is None:
        rows = max((r1 - r0 for r0, r1 in ranges), default=1)
        nbytes = rows * int(np.prod(data.shape[1:])) * data.dtype.itemsize
        ahead = 2 if 2 * nbytes <= IN_FLIGHT_BYTES else 1
    read = _block_reader(data)
    todo = iter(ranges)
    pool, done = ThreadPoolExecutor(ahead), False
    try:
        queue = deque((r, pool.submit(read, *r)) for r in _take(todo, ahead))
        while queue:
            (r0, r1), fut = queue.popleft()
            for r in _take(todo, 1):
                queue.append((r, pool.submit(read, *r)))
            yield r0, r1, fut.result()
        done = True
    finally:
        # stopped early (Ctrl-C, an error, the consumer gone): not waiting for a read ahead, which may wait for ever
        # on a Dask cluster whose workers died of the same Ctrl-C
        pool.shutdown(wait=done, cancel_futures=True)


#: dask arrays whose chunks phaselib's guarded reader makes (``phaselib.io``): fresh arrays
GUARDED_PREFIX = "phaselib-read-"


def _block_reader(data):
    """``read(r0, r1)``: rows ``r0:r1`` of a dask array as an ndarray.

    ``compute()`` copies a result that is one chunk (dask guards against handing out a buffer
    of its graph), so each read held the block twice for a moment: 2 x 114 MB per block of a
    full map. A block that is exactly one chunk of a file read by phaselib's guarded reader,
    whose chunks are fresh arrays from the decompressor, is taken as it is.
    """
    layers = getattr(getattr(data, "dask", None), "layers", {})
    guarded = any(str(name).startswith(GUARDED_PREFIX) for name in layers)
    if not guarded or any(len(c) != 1 for c in data.chunks[1:]):
        return lambda r0, r1: data[r0:r1].compute()
    bounds = np.cumsum((0,) + tuple(data.chunks[0]))
    first = {int(b): i for i, b in enumerate(bounds[:-1])}

    def read(r0, r1):
        i = first.get(r0)
        if i is None or bounds[i + 1] != r1:
            return data[r0:r1].compute()
        return np.asarray(data.blocks[i].to_delayed().ravel()[0].compute())

    return read


def _take(iterator, n):
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out


def _release(mapped):
    import mmap

    try:
        mapped.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # not on this platform: keep the pages
        pass
