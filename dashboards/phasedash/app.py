"""The guided phase-mapping app: seven steps in tabs over one :class:`Session`."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import ipywidgets as W

from phaselib.lowcount import needs_spatial_prior

from .panels import (
    ClusteringPanel,
    ComparePanel,
    DataPanel,
    DecompositionPanel,
    ExportPanel,
    GrainsPanel,
    PhaseMapPanel,
    export,
    tidy,
)
from .plots import phase_colour
from .runner import Runner
from .state import Session


def requested_map(default="sample:P45"):
    """The map named in the page's URL (``...phase_mapping.ipynb?map=synthetic:200x300``), else ``default``.

    Voilà passes the query string to the kernel as ``QUERY_STRING``.
    """
    import os
    from urllib.parse import parse_qs

    return parse_qs(os.environ.get("QUERY_STRING", "")).get("map", [default])[0]


STEPS = ("Data", "Decomposition", "Clustering", "Phase map", "Compare", "Grains", "Export")


class App:
    """The dashboard. ``App(sample="sample:P45").widget`` is what the notebook displays.

    Parameters
    ----------
    sample : str, optional
        Map to open at start (``sample:P45``, ``synthetic:200x300``, or a path).
    background : bool
        Compute in a worker thread so the page never freezes (False in tests and scripts).
    start : str
        Step shown first.
    """

    def __init__(self, sample="sample:P45", *, background=True, start="Data"):
        self.session = Session()
        self.runner = Runner(background=background)
        self.colours = {}
        self._local = threading.local()  # per thread: is this thread redrawing from the session?
        self.data = DataPanel(self)
        self.decomposition = DecompositionPanel(self)
        self.clustering = ClusteringPanel(self)
        self.phase_map = PhaseMapPanel(self)
        self.comparison = ComparePanel(self)
        self.grain_panel = GrainsPanel(self)
        self.export_panel = ExportPanel(self)
        panels = [self.data, self.decomposition, self.clustering, self.phase_map, self.comparison,
                  self.grain_panel, self.export_panel]
        self.tabs = W.Tab(children=[p.widget for p in panels], titles=[f"{i + 1}. {t}" for i, t in enumerate(STEPS)])
        self.tabs.selected_index = STEPS.index(start)
        title = W.HTML("<h2 style='margin:4px 0'>Phase mapping of an EDS spectrum image</h2>")
        self.widget = W.VBox([title, W.HBox([self.runner.widget]), self.runner.message, self.tabs],
                             layout=W.Layout(width="100%"))
        self.widget.add_class("phasedash-app")
        tidy(self.widget)
        if sample:
            self.load(sample, wait=True)

    # ---------------------------------------------------------------- helpers
    @property
    def updating(self) -> bool:
        """True while *this* thread sets widgets from the session (a refresh), not from a user.

        Per thread: a student's change arriving on the kernel's main thread while the worker
        redraws is still acted on.
        """
        return getattr(self._local, "updating", False)

    @contextlib.contextmanager
    def quiet(self, *widgets):
        """Set widget values from the session without acting on them (see :meth:`Panel.user`)."""
        was = self.updating
        self._local.updating = True
        try:
            yield
        finally:
            self._local.updating = was

    @contextlib.contextmanager
    def transaction(self):
        """Put the session back as it was if the work inside fails (a bad file keeps the old map)."""
        s = self.session
        saved = {name: getattr(s, name) for name in s.trait_names()}
        saved_truth, saved_colours = (s._truth_full, s._grains_full), dict(self.colours)
        try:
            yield
        except Exception:
            with s.hold_trait_notifications():
                for name, value in saved.items():
                    setattr(s, name, value)
            s.clear_caches()
            (s._truth_full, s._grains_full), self.colours = saved_truth, saved_colours
            raise

    def colour(self, i):
        return self.colours.get(i, phase_colour(i))

    def refresh(self, what):
        """Redraw the views that depend on ``what`` changed in the session."""
        order = ["data", "decomposition", "clustering", "phases", "grains"]
        panels = {"data": [self.data], "decomposition": [self.decomposition], "clustering": [self.clustering],
                  "phases": [self.phase_map], "grains": [self.grain_panel]}
        if what == "spectra":
            self.phase_map.refresh(spectra_only=True)
            return
        for step in order[order.index(what):]:
            for p in panels[step]:
                p.refresh()

    def _pipeline(self, *, pca=False, decompose=None, cluster=None, phases=None):
        """Compute what a change makes stale, in the worker: PCA, decomposition, clusters, phases, spectra."""
        s, report = self.session, self.runner.report
        if pca or s.pca is None:
            s.run_pca(progress=lambda f, m: report(0.4 * f, "PCA: " + m))
            if needs_spatial_prior(float(s.brightness.mean())):  # below 150 counts/px, as phaselib
                report(0.45, "low counts: number of phases on a binned copy")
                s.low_count_start()
        if decompose is not None or s.decomposition is None:
            s.decompose(*(decompose or (s.algorithm, s.n_components)), progress=lambda f, m: report(0.4 + 0.2 * f, m))
        if cluster is not None or s.clustering is None:
            report(0.6, "clustering")
            s.run_clustering(*(cluster or ()))
        report(0.8, "phase map")
        s.phase_map(**(phases or {}), spectra=False)
        report(0.9, "phase spectra")
        s.measure()

    # ---------------------------------------------------------------- actions
    def _new_map(self, change, label, wait=False):
        """Change the map (``change()``), then redo every step; on failure the old map stays."""
        def compute():
            with self.transaction():
                change()
                self._pipeline(pca=True)
        return self.runner.run("data", compute, lambda _: self.refresh("data"), label, wait=wait)

    def load(self, source, *, wait=False, **calibration):
        def change():
            self.session.load(source, **calibration)
            self.colours = {}
        return self._new_map(change, "loading", wait)

    def calibrate(self, offset, scale):
        return self._new_map(lambda: self.session.set_calibration(offset, scale), "calibrating")

    def crop(self, rows, cols):
        return self._new_map(lambda: self.session.crop(rows, cols), "cropping")

    def decompose(self, algorithm, n_components):
        s = self.session
        return self.runner.run("decomposition", lambda: self._pipeline(
            decompose=(algorithm, n_components), cluster=(s.cluster_method, s.n_clusters)),
            lambda _: self.refresh("decomposition"), f"{algorithm} with {n_components} components")

    def cluster(self, method, n_clusters, threshold=0.5):
        return self.runner.run("clustering", lambda: self._pipeline(cluster=(method, n_clusters, threshold)),
                               lambda _: self.refresh("clustering"), f"{method} with {n_clusters} clusters")

    def estimate(self):
        return self.runner.run("estimate", self.session.estimate_clusters,
                               lambda _: self.clustering.show_estimate(), "scoring numbers of clusters")

    def phases(self, **changes):
        """Phase map from the current clusters / component maps: fast map first, spectra after."""
        def compute():
            self.session.phase_map(**changes, spectra=False)
        def show(_):
            self.refresh("phases")
            self.runner.run("spectra", self.session.measure, lambda _: self.refresh("spectra"), "phase spectra")
        return self.runner.run("phases", compute, show, "phase map")

    def name_minerals(self):
        return self.runner.run("minerals", self.session.name_minerals, lambda _: self.refresh("spectra"),
                               "naming the minerals")

    def set_colour(self, phase, colour):
        self.colours[int(phase)] = colour
        self.refresh("phases")
        self.clustering.refresh()

    def compare(self):
        return self.runner.run("compare", lambda: self.session.compare(progress=self.runner.report),
                               self.comparison.show, "comparing methods")

    def grains(self, **options):
        return self.runner.run("grains", lambda: self.session.run_grains(**options),
                               lambda _: self.refresh("grains"), "separating grains")

    def export(self, folder):
        return self.runner.run("export", lambda: export(self.session, folder, self.colours),
                               self.export_panel.show_files, "exporting")

    def save_session(self, folder):
        def compute():
            Path(folder).mkdir(parents=True, exist_ok=True)
            return [self.session.save_session(Path(folder) / "session.json")]
        return self.runner.run("export", compute, self.export_panel.show_files, "saving the session")

    def restore(self, state):
        """Reopen a session (a dict, a path, or the bytes of a session file)."""
        if isinstance(state, (bytes, bytearray)):
            try:
                state = json.loads(state.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self.runner.error("This file is not a session file (not JSON).")
                return None
        def compute():
            with self.transaction():
                self.session.restore(state, progress=self.runner.report)
        return self.runner.run("data", compute, lambda _: self.refresh("data"), "reopening the session")

