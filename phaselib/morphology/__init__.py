"""Grains of a phase map: watershed separation, grain tables, size statistics, CSDs.

The texture practical after the phase map: split the touching crystals of each phase,
measure every grain, describe the size distribution the way GrainSizeTools does, and read
a crystal size distribution (CSD) for a residence time.

All sizes here are **2-D section sizes** (apparent diameters of the grains cut by the
polished surface). A random section cuts most crystals off their centre, so section sizes
are smaller and more spread than the true 3-D sizes; no stereological correction (Saltykov,
CSDCorrections) is applied. Compare CSD slopes between 2-D data sets, or correct them
before reading 3-D growth times.

``_separate.py``: the watershed of one phase, with the concavity cuts and merges of ``_split.py``,
the inclusions and bays of ``_fill.py`` and the crystals standing apart of ``_apart.py``;
``_grainmap.py``: every phase of a label map; ``_table.py``: the grain table; ``_stats.py``: size
statistics and CSDs; ``_figure.py``: their figure (matplotlib, else Pillow); ``_score.py``: scores against
known grains.
"""

from ._boundaries import image_grains, split_grains
from ._grainmap import GrainMap, grain_map, spans_map
from ._plots import plot_csd, plot_size_distribution
from ._score import match_grains, score_grains
from ._separate import separate_grains
from ._stats import (
    CSD,
    MIN_RELIABLE_GRAINS,
    GrainSizeWarning,
    SizeStatistics,
    crystal_size_distribution,
    equivalent_diameter,
    size_statistics,
)
from ._table import GrainTable, grain_table

__all__ = ["CSD", "MIN_RELIABLE_GRAINS", "GrainMap", "GrainSizeWarning", "GrainTable", "SizeStatistics",
           "crystal_size_distribution", "equivalent_diameter", "grain_map", "grain_table", "match_grains",
           "plot_csd", "plot_size_distribution", "score_grains", "separate_grains", "size_statistics", "spans_map"]
__all__ += ["image_grains", "split_grains"]
