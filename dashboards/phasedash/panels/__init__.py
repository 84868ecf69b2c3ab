"""The seven steps of the practical, one panel (one file) each.

=====================  ======================================================================
``data.py``            1. Data: open / upload a map, pixel and rectangle spectra, crop, calibration
``decomposition.py``   2. Decomposition: scree plot, PCA / NMF / ICA, loading maps and factors
``clustering.py``      3. Clustering: k-means / GMM / fuzzy c-means, criteria, score space, memberships
``phase_map.py``       4. Phase map: from clusters, Otsu thresholds or a spatial prior; table, spectra
``compare.py``         5. Compare: three methods, renumbered to match, where they disagree, ARI
``grains.py``          6. Grains: watershed, grain map, size statistics, CSD
``label.py``           Label: paint pixels of each phase, train a classifier, confusion matrix
``export.py``          7. Export: PNG, TIFF, CSV, MSA and session files
=====================  ======================================================================

A panel holds widgets only: it reads the app's :class:`~phasedash.state.Session` and sends
each action through the app (``app.phases(...)``, ``app.grains(...)``), whose one-line calls
reach :mod:`phaselib`.
"""

import importlib

from ._base import Panel, guide, match_kind, tidy

#: class (or function) -> the module that holds it: a panel's module (and what it imports, as
#: scipy.stats for the grains) is imported when the panel is first made, not with the app
_WHERE = {"ClusteringPanel": "clustering", "ComparePanel": "compare", "DataPanel": "data",
          "DecompositionPanel": "decomposition", "ExportPanel": "export", "export": "export",
          "GrainsPanel": "grains", "LabelPanel": "label", "PhaseMapPanel": "phase_map"}

__all__ = ["ClusteringPanel", "ComparePanel", "DataPanel", "DecompositionPanel", "ExportPanel", "GrainsPanel",
           "LabelPanel", "Panel", "PhaseMapPanel", "export", "guide", "match_kind", "tidy"]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    for other, where in _WHERE.items():  # kept here, and `export` the function, not the module export.py
        if where == _WHERE[name]:
            globals()[other] = getattr(module, other)
    return globals()[name]
