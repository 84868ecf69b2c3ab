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

from __future__ import annotations

import html

import ipywidgets as W


def guide(text, questions=()):
    """The step's explanation and its questions for the student, as HTML."""
    q = "".join(f"<li>{html.escape(x)}</li>" for x in questions)
    return W.HTML(f"<div style='max-width:900px;color:#333'>{text}"
                  + (f"<p><b>Questions</b></p><ul>{q}</ul>" if q else "") + "</div>")


def tidy(widget):
    """Show whole descriptions and button labels (ipywidgets cuts them at a fixed width)."""
    for w in getattr(widget, "children", ()):
        tidy(w)
    if isinstance(widget, W.Button) and not widget.layout.width:
        widget.layout.width = "max-content"
    elif getattr(widget, "description", "") and hasattr(widget, "style") and hasattr(widget.style,
                                                                                     "description_width"):
        if not widget.style.description_width:
            widget.style.description_width = "initial"
    return widget


class Panel:
    """A step of the app: its widgets read the shared session; actions go through the app's runner."""

    def __init__(self, app):
        self.app, self.s = app, app.session

    def user(self, callback):
        """``callback(change)`` for changes made by the user, not by a refresh from the session."""
        return lambda change: None if self.app.updating else callback(change)


# the panels import Panel and guide from here: defined above, so these imports come last
from .clustering import ClusteringPanel  # noqa: E402
from .compare import ComparePanel  # noqa: E402
from .data import DataPanel  # noqa: E402
from .decomposition import DecompositionPanel  # noqa: E402
from .export import ExportPanel, export  # noqa: E402
from .grains import GrainsPanel  # noqa: E402
from .label import LabelPanel  # noqa: E402
from .phase_map import PhaseMapPanel  # noqa: E402

__all__ = ["ClusteringPanel", "ComparePanel", "DataPanel", "DecompositionPanel", "ExportPanel", "GrainsPanel",
           "LabelPanel", "Panel", "PhaseMapPanel", "export", "guide", "tidy"]
