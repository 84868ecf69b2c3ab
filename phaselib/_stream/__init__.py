"""The streaming core: every pass over a map's pixels goes through here.

- :mod:`._blocks`: row blocks of numpy, memory-mapped or dask data (the one place map data are read);
- :mod:`._passes`: ``map_row_blocks``, a pass on local threads or on a Dask cluster;
- :mod:`._weighted`: ``WeightedBlocks``, sparse Poisson-weighted row blocks for PCA, NMF and the EM.
"""

from ._blocks import (
    BLOCK_BYTES,
    block_rows_for,
    check_block_rows,
    default_block_rows,
    iter_row_blocks,
    row_ranges,
    sample_ranges,
)
from ._passes import active_client, map_row_blocks
from ._threads import n_workers, single_threaded_blas
from ._weighted import CACHE_BYTES, NOT_FINITE, WeightedBlocks, csr_from_counts

__all__ = ["BLOCK_BYTES", "CACHE_BYTES", "NOT_FINITE", "WeightedBlocks", "active_client", "block_rows_for",
           "check_block_rows", "csr_from_counts", "default_block_rows", "iter_row_blocks", "map_row_blocks",
           "n_workers", "row_ranges", "sample_ranges", "single_threaded_blas"]
