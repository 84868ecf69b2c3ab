"""The guided phase-mapping app under Panel: one :class:`PanelApp` per browser session.

A session starts from the process's shared first look at its map (:mod:`.shared`) and makes its
own changes privately. Every change is computed in the process's worker pool, never on the
server's event loop, one at a time per session; when the same kind of change is asked for again
before the first one ran, only the latest is computed. Errors become a message in the page.
"""

from __future__ import annotations

import asyncio
import html
import logging

import panel as pn

from ..cache import step as shared_step
from .export import results_zip
from .shared import DEFAULT_MAP, POOL, check_map_name, clone, first_look_future, restore, run_pipeline, snapshot
from .steps import ClusteringStep, DataStep, DecompositionStep, ExportStep, PhaseMapStep

STEPS = ("Data", "Decomposition", "Clustering", "Phase map", "Export")
STEP_CLASSES = (DataStep, DecompositionStep, ClusteringStep, PhaseMapStep, ExportStep)
#: errors whose message is for the student; any other is logged and named only by its kind
EXPECTED = (ValueError, TypeError, OSError, KeyError, IndexError)
log = logging.getLogger("phasedash.panel")


class PanelApp:
    """The dashboard of one browser session. ``PanelApp(...).page`` is what ``panel serve`` shows.

    Parameters
    ----------
    source : str
        The map to open (``sample:P45``, ``synthetic:HxW[:counts]``), checked by
        :func:`~phasedash.panelapp.shared.check_map_name`; call :meth:`start` to open it.
    """

    def __init__(self, source=DEFAULT_MAP):
        self.requested = source
        self.session = None
        self.colours = {}
        self._latest = {}
        self._lock, self._lock_loop = None, None
        self._busy = 0
        self._tasks = set()
        self.progress = pn.indicators.Progress(active=False, visible=False, width=160, bar_color="primary")
        self.status = pn.pane.HTML("", css_classes=["pd-status"])
        self.message = pn.pane.HTML("", css_classes=["pd-message"], sizing_mode="stretch_width")
        self.summary = pn.pane.HTML("Opening the map...", css_classes=["pd-summary"])
        # a step's widgets and figures are made when its tab is first shown, and only the shown tab is
        # sent to the browser (dynamic tabs): a page that opens costs the server a fifth of the work
        self._built = [None] * len(STEPS)
        self._holders = [pn.Column(sizing_mode="stretch_width") for _ in STEPS]
        self.tabs = pn.Tabs(*[(f"{i + 1}. {t}", h) for i, (t, h) in enumerate(zip(STEPS, self._holders))],
                            dynamic=True)
        self.tabs.param.watch(lambda event: self._step(event.new), "active")
        self._step(0)
        self.page = pn.Column(
            pn.pane.HTML("<h2 style='margin:4px 0'>Phase mapping of an EDS spectrum image</h2>"),
            pn.Row(self.summary, self.progress, self.status), self.message, self.tabs,
            css_classes=["phasedash-panel"], sizing_mode="stretch_width")

    # ------------------------------------------------------------------ steps
    def _step(self, i):
        """Step ``i``, made (and drawn from the session) the first time it is asked for."""
        if self._built[i] is None:
            step = self._built[i] = STEP_CLASSES[i](self)
            self._holders[i].objects = [step.view]
            if self.session is not None and hasattr(step, "refresh"):
                self._redraw(None, lambda _: step.refresh())
        return self._built[i]

    data = property(lambda self: self._step(0))
    decomposition = property(lambda self: self._step(1))
    clustering = property(lambda self: self._step(2))
    phase_map = property(lambda self: self._step(3))
    export_step = property(lambda self: self._step(4))

    # ------------------------------------------------------------- running work
    def submit(self, coroutine):
        """Run an action from a widget's callback (called on the server's event loop) as a task."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)  # a reference until it ends (the loop keeps only weak ones)
        task.add_done_callback(self._tasks.discard)
        return task

    def _session_lock(self):
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _busy_on(self, label):
        self._busy += 1
        self.progress.active = self.progress.visible = True
        self.status.object = f"<span style='color:#555'>{html.escape(label)}...</span>"

    def _busy_off(self):
        self._busy -= 1
        if self._busy <= 0:
            self._busy = 0
            self.progress.active = self.progress.visible = False
            self.status.object = ""

    def error(self, err):
        """Show an error in the page (its message; the kind only for an unexpected one)."""
        if isinstance(err, EXPECTED):
            text = str(err) or type(err).__name__
        else:
            log.exception("phasedash: unexpected error", exc_info=err)
            text = f"Something went wrong ({type(err).__name__}); the page keeps working."
        self.message.object = (f"<div class='phasedash-error' style='color:#a50f15;background:#fee0d2;"
                               f"padding:6px;border-radius:4px'>&#9888; {html.escape(text)}</div>")

    async def run(self, kind, compute, label, *, after="data", show=None):
        """``compute()`` in the pool with this session's lock, then redraw from step ``after``.

        Returns False when the work was dropped (a newer ``kind`` asked for) or failed; on a failure
        the session is put back as it was and the message shown.
        """
        token = self._latest[kind] = self._latest.get(kind, 0) + 1
        async with self._session_lock():
            if self._latest[kind] != token or self.session is None:
                return False
            self._busy_on(label)
            saved = snapshot(self.session)
            try:
                result = await asyncio.get_running_loop().run_in_executor(POOL, compute)
            except Exception as err:  # noqa: BLE001 - every error is shown, the server survives
                restore(self.session, saved)
                self.error(err)
                return False
            finally:
                self._busy_off()
            self.message.object = ""
            return self._redraw(after, show, result)

    # ------------------------------------------------------------------ views
    def _redraw(self, after, show=None, result=None):
        """Show a result and redraw from step ``after``, in one message to the browser."""
        try:
            with pn.io.hold():
                if show is not None:
                    show(result)
                if after:
                    self.refresh(after)
            return True
        except Exception as err:  # noqa: BLE001 - a view that cannot draw leaves a message, not a dead page
            self.error(err)
            return False

    def refresh(self, what="data"):
        """Redraw the steps that depend on ``what`` changed in the session."""
        order = ["data", "decomposition", "clustering", "phases"]
        for i in range(order.index(what), len(order)):
            if self._built[i] is not None:
                self._built[i].refresh()
        s = self.session
        h, w = s.image.shape[:2]
        self.summary.object = (f"<b>{html.escape(s.source)}</b>: {h} x {w} pixels &middot; "
                               f"{s.clustering.n_clusters} clusters &middot; {int(s.labels.max()) + 1} phases")

    # ---------------------------------------------------------------- actions
    async def start(self):
        """Open the requested map (``pn.state.onload`` calls this once the page is shown)."""
        return await self.open(self.requested)

    async def open(self, name):
        """Open a bundled or synthetic map from the process's shared first look."""
        token = self._latest["data"] = self._latest.get("data", 0) + 1
        try:
            name = check_map_name(name)
        except ValueError as err:
            self.error(err)
            self.summary.object = "No map open."
            return False
        async with self._session_lock():
            if self._latest["data"] != token:
                return False
            self._busy_on(f"opening {name}")
            try:
                template = await asyncio.wrap_future(first_look_future(name))
            except Exception as err:  # noqa: BLE001
                self.error(err)
                return False
            finally:
                self._busy_off()
            self.session, self.colours = clone(template), {}
            self.message.object = ""
            return self._redraw("data")

    async def calibrate(self, offset, scale):
        def compute():
            self.session.set_calibration(offset, scale)
            run_pipeline(self.session, pca=True)
        return await self.run("data", compute, "calibrating")

    # a step on a bundled map is computed once for the class, by the first student who asks for it, and
    # read (memory-mapped) by the others (phasedash.cache.step, as the Voilà app's steps)
    async def decompose(self, algorithm, n_components):
        def compute():
            s = self.session
            shared_step(s, ["panel-decompose", algorithm, int(n_components)], lambda: run_pipeline(
                s, decompose=(algorithm, n_components), cluster=(s.cluster_method, s.n_clusters)),
                sets=("algorithm", "n_components"))
        return await self.run("decomposition", compute,
            f"{algorithm} with {n_components} components", after="decomposition")

    async def cluster(self, method, n_clusters):
        def compute():
            s = self.session
            shared_step(s, ["panel-cluster", method, int(n_clusters)],
                        lambda: run_pipeline(s, cluster=(method, n_clusters)), sets=("cluster_method", "n_clusters"))
        return await self.run("clustering", compute, f"{method} with {n_clusters} clusters", after="clustering")

    async def estimate(self):
        return await self.run("estimate", lambda: self.session.estimate_clusters(), "scoring numbers of clusters",
                              after=None, show=lambda _: self.clustering.show_estimate())

    async def phases(self, **changes):
        def compute():
            self.session.phase_map(**changes, spectra=False)
            self.session.measure()
        return await self.run("phases", compute, "phase map", after="phases")

    async def name_minerals(self):
        return await self.run("minerals", lambda: self.session.name_minerals(), "naming the minerals", after=None,
                              show=lambda _: self.phase_map.show_table())

    async def export(self):
        """The session's results as one zip file to download (:func:`.export.results_zip`)."""
        return await self.run("export", lambda: results_zip(self.session, self.colours), "exporting", after=None,
                              show=self.export_step.show)


def serve_page(default=DEFAULT_MAP):
    """The page of one browser session: the map named by ``?map=`` (else ``default``), opened on load."""
    args = pn.state.session_args or {}
    raw = (args.get("map") or [default.encode()])[0]
    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    app = PanelApp(name)
    pn.state.onload(app.start)
    return app
