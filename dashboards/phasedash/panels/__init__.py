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

from ._base import Panel, guide, tidy
from .clustering import ClusteringPanel
from .compare import ComparePanel
from .data import DataPanel
from .decomposition import DecompositionPanel
from .export import ExportPanel, export
from .grains import GrainsPanel
from .label import LabelPanel
from .phase_map import PhaseMapPanel

__all__ = ["ClusteringPanel", "ComparePanel", "DataPanel", "DecompositionPanel", "ExportPanel", "GrainsPanel",
           "LabelPanel", "Panel", "PhaseMapPanel", "export", "guide", "tidy"]
