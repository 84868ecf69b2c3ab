"""Passes over the row blocks of a map, on local threads or on a Dask cluster.

A pass applies ``func(r0, r1, block)`` to every row block and returns the
results in row order. Locally, blocks are read and processed by a few threads
(NumPy and SciPy release the GIL); when a ``dask.distributed`` client is active
(or given), each block is a Dask task and the workers read their own rows: a
dask array's chunks, or rows of a ``.npy`` memory map opened by path.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._blocks import block_rows_for, check_block_rows, in_flight, iter_row_blocks, row_ranges
from ._threads import n_workers, release_memory, single_threaded_blas


def active_client(client=None):
    """The given client, else the current ``dask.distributed`` client, else None."""
    if client is not None:
        return client
    if "distributed" not in sys.modules:  # no client can be active without it
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _read_npy_rows(filename, offset, dtype, shape, r0, r1):
    mm = np.memmap(filename, dtype=dtype, mode="r", offset=offset, shape=shape)
    return np.array(mm[r0:r1])


def _block_rows_of(image, block_rows):
    if block_rows is None:
        return block_rows_for(image.data, block_bytes=32 * 2**20)
    return check_block_rows(block_rows)


def map_row_blocks(image, func, *, block_rows=None, client=None, per_block=None, progress=None,
                   message="pass", ranges=None):
    """``[func(r0, r1, block) for each row block]``, in row order.

    Parameters
    ----------
    image : SpectrumImage
    func : callable
        ``func(r0, r1, block)`` with ``block`` an (r1 - r0, W, C) ndarray. On a
        cluster it must be picklable (a module-level function or a partial).
    block_rows : int, optional
    client : distributed.Client, optional
        Default: the active client if any, else local threads.
    per_block : callable, optional
        ``per_block(r0, r1) -> dict`` of extra keyword arguments for ``func`` (e.g.
        the block's rows of a label map), so that tasks carry only their share.
    progress : callable, optional
        ``progress(fraction, message)``.
    ranges : list of (int, int), optional
        The row blocks to read (e.g. :func:`sample_ranges`), instead of all of them.
    """
    if ranges is None:
        ranges = row_ranges(image.shape[0], _block_rows_of(image, block_rows))
    client = active_client(client)
    if per_block is not None:
        plain = func
        func = lambda r0, r1, block: plain(r0, r1, block, **per_block(r0, r1))  # noqa: E731
        if client is not None:
            return _distributed(image, plain, ranges, client, progress, message, per_block)
    if client is None:
        return _local(image, func, ranges, progress, message)
    return _distributed(image, func, ranges, client, progress, message)


def _local(image, func, ranges, progress, message):
    out = [None] * len(ranges)
    index = {r0: i for i, (r0, _) in enumerate(ranges)}
    with ThreadPoolExecutor(n_workers()) as pool, single_threaded_blas():
        pending = []
        done = 0
        limit = None
        for r0, r1, block in iter_row_blocks(image.data, ranges=ranges):
            pending.append((r0, pool.submit(func, r0, r1, block)))
            limit = limit or in_flight(block.nbytes, pool._max_workers)
            while len(pending) > limit:
                r, fut = pending.pop(0)
                out[index[r]] = fut.result()
                done += 1
                if progress:
                    progress(done / len(ranges), message)
        for r, fut in pending:
            out[index[r]] = fut.result()
            done += 1
            if progress:
                progress(done / len(ranges), message)
    release_memory()
    return out


def _distributed(image, func, ranges, client, progress, message, per_block=None):
    import dask
    from distributed import as_completed

    data = image.data
    tasks = []
    for r0, r1 in ranges:
        if type(data).__module__.startswith("dask"):
            block = data[r0:r1]
        elif isinstance(data, np.memmap) and data.filename:
            block = dask.delayed(_read_npy_rows)(data.filename, data.offset, data.dtype, data.shape, r0, r1)
        else:
            block = data[r0:r1]
        extra = per_block(r0, r1) if per_block else {}
        tasks.append(dask.delayed(func)(r0, r1, block, **extra))
    with warnings.catch_warnings():  # in-memory maps travel inside the graph, by design
        warnings.filterwarnings("ignore", message="Sending large graph")
        futures = client.compute(tasks)
    order = {f.key: i for i, f in enumerate(futures)}
    out = [None] * len(futures)
    for n, fut in enumerate(as_completed(futures), 1):
        out[order[fut.key]] = fut.result()
        if progress:
            progress(n / len(futures), message)
    return out
