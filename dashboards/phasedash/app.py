"""The guided phase-mapping app: eight steps in tabs over one :class:`Session`."""

from __future__ import annotations

import contextlib
import json
import threading

import ipywidgets as W

import phasedash.panels as panels
from phasedash.panels import match_kind

from .cache import first_look as shared_first_look
from .cache import shareable
from .cache import step as shared_step
from .confine import output_folder
from .panels import tidy
from .pipeline import run_pipeline
from .plots import phase_colour
from .runner import Runner
from .state import Session
from .upload import keep


def requested_map(default="sample:P45"):
    """The map named in the page's URL (``...phase_mapping.ipynb?map=synthetic:200x300``), else ``default``.

    Voilà passes the query string to the kernel as ``QUERY_STRING``; a preheated kernel (started
    before its page was asked for) waits here until Voilà hands it its page's request.
    """
    import os
    from urllib.parse import parse_qs

    query = os.environ.get("QUERY_STRING", "")
    if os.environ.get("VOILA_PREHEAT") == "True":
        from voila.utils import get_query_string

        query = get_query_string() or ""
    return parse_qs(query).get("map", [default])[0]


STEPS = ("Data", "Decomposition", "Clustering", "Phase map", "Compare", "Grains", "Export", "Label")
#: each step's panel: the app's attribute and its class in :mod:`phasedash.panels`
PANELS = (("data", "DataPanel"), ("decomposition", "DecompositionPanel"), ("clustering", "ClusteringPanel"),
          ("phase_map", "PhaseMapPanel"), ("comparison", "ComparePanel"), ("grain_panel", "GrainsPanel"),
          ("export_panel", "ExportPanel"), ("label", "LabelPanel"))


#: the page's title; ``kind`` follows the map loaded
TITLE = "<h2 style='margin:4px 0'>Phase mapping of {kind}</h2>"
#: what the export step shows in place of its links once the results change (they offered the earlier files)
STALE_EXPORT = "<i>The results changed since the last export: export again for their files.</i>"

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
        self.runner.on_idle = self._draw_stale
        self.runner.on_error = self._controls_back
        self.colours = {}
        self._local = threading.local()  # per thread: is this thread redrawing from the session?
        self._panels = {}  # name -> panel, for the steps built so far
        self._stale = set()  # steps made while a job computed: drawn when the worker is idle
        # a step's widgets are made when its tab is first shown (or the panel first used): a page
        # opens with one step's widgets, not eight (a class of 30 on one server: less to send, draw, hold)
        holders = [W.VBox([W.HTML("<i>opening this step...</i>")]) for _ in STEPS]
        self.tabs = W.Tab(children=holders, titles=[f"{i + 1}. {t}" for i, t in enumerate(STEPS)])
        self.tabs.selected_index = STEPS.index(start)
        self.tabs.observe(lambda change: self._panel(PANELS[change["new"]][0]) if change["new"] is not None else None,
                          "selected_index")
        self.title = W.HTML(TITLE.format(kind="an EDS spectrum image"))
        self.widget = W.VBox([self.title, W.HBox([self.runner.widget]), self.runner.message, self.tabs],
                             layout=W.Layout(width="100%"))
        self.widget.add_class("phasedash-app")
        tidy(self.widget)
        self._panel(PANELS[STEPS.index(start)][0])
        if sample:
            self.load(sample, wait=True)

    def _panel(self, name):
        """The step's panel, made (and drawn from the session) on first use."""
        panel = self._panels.get(name)
        if panel is not None:
            return panel
        with self.runner.lock:  # a job's result is shown under this lock: no redraw runs meanwhile
            if name in self._panels:
                return self._panels[name]
            i = [n for n, _ in PANELS].index(name)
            panel = getattr(panels, PANELS[i][1])(self)
            tidy(panel.widget)
            if self.session.image is not None:
                match_kind(panel.widget, self.session.image.is_eds)
            self._panels[name] = panel
            self.tabs.children[i].children = (panel.widget,)
            if hasattr(panel, "refresh") and self.session.image is not None:
                if self.runner.busy:
                    self._stale.add(name)  # the session is changing: drawn when the worker is idle
                else:
                    panel.refresh()
        return panel

    def _draw_stale(self):
        """Draw the steps made while a job computed (the runner calls this, under its lock)."""
        stale, self._stale = self._stale, set()
        if self.session.image is not None:
            for name in stale:
                self._panels[name].refresh()

    data = property(lambda self: self._panel("data"))
    decomposition = property(lambda self: self._panel("decomposition"))
    clustering = property(lambda self: self._panel("clustering"))
    phase_map = property(lambda self: self._panel("phase_map"))
    comparison = property(lambda self: self._panel("comparison"))
    grain_panel = property(lambda self: self._panel("grain_panel"))
    export_panel = property(lambda self: self._panel("export_panel"))
    label = property(lambda self: self._panel("label"))

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
        panels = {"data": ["data", "label"], "decomposition": ["decomposition"],
                  "clustering": ["clustering", "comparison"], "phases": ["phase_map"], "grains": ["grain_panel"]}
        built = self._panels  # steps not shown yet are drawn when first shown
        if what == "data" and self.session.image is not None:  # a ToF cube is no EDS map
            eds = self.session.image.is_eds
            self.title.value = TITLE.format(kind="an EDS spectrum image" if eds else "a spectral cube")
            for panel in built.values():
                match_kind(panel.widget, eds)
        if what == "spectra":
            if "phase_map" in built:
                built["phase_map"].refresh(spectra_only=True)
            return
        if "export_panel" in built and built["export_panel"].links.value:  # files of the results before this change
            built["export_panel"].links.value = STALE_EXPORT
        for step in order[order.index(what):]:
            for name in panels[step]:
                if name in built:
                    built[name].refresh()

    def _controls_back(self, kind):
        """After a refused request, the step's controls show the settings in effect again (a slider left at 1
        component after "NMF needs at least 2 components" showed a setting that was not used)."""
        step = {"decomposition": "decomposition", "clustering": "clustering", "phases": "phase_map"}.get(kind)
        if step in self._panels and self.session.image is not None:
            self._panels[step].refresh()

    def _pipeline(self, **changes):
        """Compute what a change makes stale, in the worker (:func:`phasedash.pipeline.run_pipeline`)."""
        run_pipeline(self.session, report=self.runner.report, **changes)

    # ---------------------------------------------------------------- actions
    def _new_map(self, change, label, wait=False, pipeline=True):
        """Change the map (``change()``), then redo every step; on failure the old map stays."""
        def compute():
            with self.transaction():
                change()
                if pipeline:
                    try:
                        self._pipeline(pca=True)
                    except (ValueError, OSError) as err:  # the reader's warnings first: a channels-first .npy
                        notes = [n for n in self.session.reader_notes if n not in str(err)]
                        if notes:
                            err.args = (" ".join([*notes, str(err)]),)
                        raise
        return self.runner.run("data", compute, lambda _: self.refresh("data"), label, wait=wait)

    def load(self, source, *, wait=False, **calibration):
        def change():
            self.session.load(source, **calibration)
            self.colours = {}
        if shareable(source, calibration):  # a bundled map: its first look is shared by every kernel
            def first_look():
                self.colours = {}
                shared_first_look(self.session, source, lambda: (change(), self._pipeline(pca=True)))
            return self._new_map(first_look, "loading", wait, pipeline=False)
        return self._new_map(change, "loading", wait)

    def calibrate(self, offset, scale, axis=None):
        return self._new_map(lambda: self.session.set_calibration(offset, scale, axis), "calibrating")

    def crop(self, rows, cols):
        return self._new_map(lambda: self.session.crop(rows, cols), "cropping")

    def decompose(self, algorithm, n_components):
        s = self.session
        def compute():  # on a bundled map, shared with the class (cache.step)
            shared_step(s, ["decompose", algorithm, int(n_components)], lambda: self._pipeline(
                decompose=(algorithm, n_components), cluster=(s.cluster_method, s.n_clusters)),
                sets=("algorithm", "n_components"))
        return self.runner.run("decomposition", compute, lambda _: self.refresh("decomposition"),
                               f"{algorithm} with {n_components} components")

    def cluster(self, method, n_clusters, threshold=0.5):
        def compute():  # on a bundled map, shared with the class (cache.step)
            shared_step(self.session, ["cluster", method, int(n_clusters), float(threshold)],
                       lambda: self._pipeline(cluster=(method, n_clusters, threshold)),
                       sets=("cluster_method", "n_clusters", "membership_threshold"))
        return self.runner.run("clustering", compute, lambda _: self.refresh("clustering"),
                               f"{method} with {n_clusters} clusters")

    def estimate(self):
        return self.runner.run("estimate", self.session.estimate_clusters,
                               lambda _: self.clustering.show_estimate(), "scoring numbers of clusters")

    def phases(self, **changes):
        """Phase map from the current clusters / component maps: fast map first, spectra after."""
        def compute():
            self.session.phase_map(**changes, spectra=False)
        def show(_):
            self.refresh("phases")
            self.runner.run("spectra", self.session.measure, lambda _: self.refresh("spectra"), "phase spectra",
                            keep_message=True)  # started by the page: an error shown meanwhile stays
        return self.runner.run("phases", compute, show, "phase map")

    def name_minerals(self):
        return self.runner.run("minerals", self.session.name_minerals, lambda _: self.refresh("spectra"),
                               "naming the minerals")

    def set_colour(self, phase, colour):
        self.colours[int(phase)] = colour
        self.refresh("phases")
        if "clustering" in self._panels:
            self._panels["clustering"].refresh()

    def compare(self):
        return self.runner.run("compare", lambda: self.session.compare(progress=self.runner.report),
                               self.comparison.show, "comparing methods")

    def grains(self, **options):
        return self.runner.run("grains", lambda: self.session.run_grains(**options),
                               lambda _: self.refresh("grains"), "separating grains")

    def export(self, folder):
        self.export_panel.links.value = ""  # the links of an earlier export are not this one's (if it fails)
        return self.runner.run("export", lambda: panels.export(self.session, folder, self.colours),
                               self.export_panel.show_files, "exporting")

    def save_session(self, folder):
        def compute():
            where = output_folder(folder)  # inside the export folder, or a message
            where.mkdir(parents=True, exist_ok=True)
            saved = self.session.save_session(where / "session.json")
            keep(self.session.source)  # an uploaded map stays while a saved session points at it
            return [saved]
        self.export_panel.links.value = ""
        return self.runner.run("export", compute, self.export_panel.show_files, "saving the session")

    def restore(self, state):
        """Reopen a session (a dict, a path, or the bytes of a session file)."""
        if isinstance(state, (bytes, bytearray)):
            try:
                state = json.loads(state.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                self.runner.error("This file is not a session file (not JSON).")
                return None
        def compute():
            with self.transaction():
                self.session.restore(state, progress=self.runner.report)
        return self.runner.run("data", compute, lambda _: self.refresh("data"), "reopening the session")

