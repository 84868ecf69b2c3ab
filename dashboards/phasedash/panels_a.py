"""Steps 1-3 of the practical: data, decomposition, clustering."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W
import numpy as np

from .plots import CurveView, MapView, SpectrumView, labels_rgb, phase_colour, scalar_rgb
from .state import ALGORITHMS, CLUSTER_METHODS, SAMPLES
from .upload import ChunkedUpload


def guide(text, questions=()):
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


class DataPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.sample = W.Dropdown(options=list(SAMPLES), description="Bundled map", style={"description_width": "90px"},
                                 layout=W.Layout(width="460px"))
        self.load_sample = W.Button(description="Load", button_style="primary", icon="folder-open")
        self.upload = ChunkedUpload(self.uploaded, lambda msg: self.app.runner.error(msg),
                                    accept=".bcf,.rpl,.raw,.hspy,.msa,.emd,.npy",
                                    description="Upload a map", tooltip="an .rpl together with its .raw")
        self.path = W.Text(placeholder="or a path on the server: /data/map.bcf", layout=W.Layout(width="360px"))
        self.load_path = W.Button(description="Open path", icon="file")
        self.offset = W.FloatText(description="offset (keV)", step=0.001, layout=W.Layout(width="200px"))
        self.scale = W.FloatText(description="scale (keV/ch)", step=0.0001, layout=W.Layout(width="200px"))
        self.apply_cal = W.Button(description="Apply calibration")
        self.info = W.HTML()
        self.map = MapView("counts per pixel", brush=True, on_click=self.pick_pixel, on_brush=self.pick_box,
                           css="pd-data-map")
        self.pick = W.ToggleButtons(options=[("click a pixel", "pixel"), ("drag a rectangle", "rectangle")],
                                    value="pixel")
        self.pick.add_class("pd-pick")
        self.pick.observe(lambda ch: self.map.set_mode(ch["new"]), "value")
        self.spectrum = SpectrumView("summed spectrum", log=True)
        self.crop_btn = W.Button(description="Crop to rectangle", icon="crop", disabled=True)
        self.uncrop_btn = W.Button(description="Whole map", icon="expand")
        self.box = None
        self.load_sample.on_click(lambda _: self.app.load(SAMPLES[self.sample.value]))
        self.load_path.on_click(lambda _: self.app.load(self.path.value, **self._calibration()))
        self.apply_cal.on_click(lambda _: self.app.calibrate(self.offset.value, self.scale.value))
        self.crop_btn.on_click(lambda _: self.box and self.app.crop(self.box[:2], self.box[2:]))
        self.uncrop_btn.on_click(lambda _: self.app.crop(None, None))
        self.widget = W.VBox([
            guide("<h3>1. Data</h3>Choose a map. The summed spectrum shows every element present; "
                  "click a pixel or drag a rectangle on the map to see its spectrum, and crop the map to a "
                  "subset if it is large. Check the energy calibration against a known line (Si K&alpha; is at "
                  "1.740 keV). A whole classroom-size map, analysed earlier, is in the "
                  "<a href='full_map.ipynb' target='_blank'>full-map results dashboard</a>.",
                  ["Which elements does the summed spectrum show?",
                                  "Do bright and dark areas of the map have different spectra?"]),
            W.HBox([self.sample, self.load_sample]), W.HBox([self.upload, self.path, self.load_path]),
            W.HBox([self.offset, self.scale, self.apply_cal]), self.info,
            W.HBox([W.VBox([self.pick, self.map.figure, W.HBox([self.crop_btn, self.uncrop_btn])]),
                    self.spectrum.figure]),
        ])

    def _calibration(self):
        return dict(energy_offset=self.offset.value, energy_scale=self.scale.value) if self.path.value.lower(
        ).endswith(".npy") else {}

    def uploaded(self, paths):
        """Open uploaded files (all in one folder: an .rpl finds its .raw beside it)."""
        main = [p for p in paths if p.suffix.lower() != ".raw"]
        if not main:
            self.app.runner.error("Upload the .rpl file together with its .raw file.")
            return
        path = str(main[0])
        self.app.load(path, **(dict(energy_offset=self.offset.value, energy_scale=self.scale.value)
                                if path.lower().endswith(".npy") else {}))

    def pick_pixel(self, row, col):
        self.box = None
        self.crop_btn.disabled = True
        self._show_selection(row, row + 1, col, col + 1, f"pixel ({row}, {col})")
        self.map.mark_pixel(row, col)

    def pick_box(self, r0, r1, c0, c1):
        self._show_selection(r0, r1, c0, c1, None)

    def _show_selection(self, r0, r1, c0, c1, name):
        try:
            spec, box = self.s.pixel_spectrum(r0, c0, r1, c1)
        except ValueError as err:
            self.app.runner.error(err)
            return
        n = (box[1] - box[0]) * (box[3] - box[2])
        if n > 1:
            self.box = box
            self.crop_btn.disabled = False
        name = name or f"rows {box[0]}:{box[1]}, columns {box[2]}:{box[3]} ({n} px)"
        mean = self.s.total / self.s.brightness.size
        self.spectrum.show(self.s.image.energy_keV, [mean, np.maximum(spec / n, 1e-3)],
                           colours=["#999999", "#d62728"], labels=["whole map (mean)", name],
                           lines=self.s.total_lines, title=f"spectrum of {name} (per pixel)")

    def refresh(self):
        s, im = self.s, self.s.image
        if im is None:
            return
        h, w, c = im.shape
        with self.app.quiet(self.sample):
            names = {v: k for k, v in SAMPLES.items()}
            if s.source in names:
                self.sample.value = names[s.source]
        self.offset.value, self.scale.value = round(im.energy_offset, 5), round(im.energy_scale, 6)
        crop = "" if s.crop_box is None else " (cropped: rows {}:{}, columns {}:{})".format(*s.crop_box)
        self.info.value = (f"<b>{html.escape(Path(s.source).name if '/' in s.source else s.source)}</b>{crop}: "
                           f"{h} x {w} pixels x {c} channels, {s.brightness.mean():.0f} counts/pixel; "
                           f"beam {im.beam_energy or '?'} kV; pixel {im.pixel_size or '?'} um; "
                           f"elements: {html.escape(' '.join(im.elements) or 'not in the file')}")
        self.map.show(scalar_rgb(s.brightness), "counts per pixel")
        self.spectrum.show(im.energy_keV, np.maximum(s.total / s.brightness.size, 1e-3), lines=s.total_lines,
                           labels=["whole map (mean per pixel)"], colours=["#1f77b4"],
                           title="summed spectrum (mean per pixel), strongest lines named")


class DecompositionPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.scree = CurveView("scree plot", xlabel="component", ylabel="explained variance ratio", log_y=True,
                               x_format="d")
        self.log = W.ToggleButtons(options=["log", "linear"], value="log", style={"button_width": "60px"})
        self.suggested = W.HTML()
        self.algorithm = W.ToggleButtons(options=list(ALGORITHMS), description="Algorithm")
        self.n = W.IntSlider(value=2, min=1, max=20, description="components", continuous_update=False)
        self.component = W.IntSlider(value=0, min=0, max=1, description="show", continuous_update=False)
        self.loading = MapView("loading map", css="pd-loading-map")
        self.factor = SpectrumView("factor spectrum")
        for w, name in ((self.n, "pd-n-components"), (self.algorithm, "pd-algorithm"),
                        (self.component, "pd-component")):
            w.add_class(name)
        self.log.observe(self.user(lambda ch: self.scree.set_log(ch["new"] == "log")), "value")
        self.algorithm.observe(self.user(lambda ch: self.app.decompose(ch["new"], self.n.value)), "value")
        self.n.observe(self.user(lambda ch: self.app.decompose(self.algorithm.value, ch["new"])), "value")
        self.component.observe(self.user(lambda ch: self.show_component()), "value")
        self.widget = W.VBox([
            guide("<h3>2. Decomposition</h3>PCA (weighted for Poisson noise, as HyperSpy does) finds the "
                  "directions of largest variance. Components above the red noise line carry signal; the rest "
                  "is noise. NMF gives non-negative, more physical components; ICA unmixes the PCA scores.",
                  ["How many components stand above the noise?",
                   "Which element peaks does each factor show? Where is it strong on the map?"]),
            W.HBox([W.VBox([self.scree.figure, self.log, self.suggested]),
                    W.VBox([self.algorithm, self.n, self.component])]),
            W.HBox([self.loading.figure, self.factor.figure]),
        ])

    def refresh(self):
        s = self.s
        if s.pca is None:
            return
        ev = s.pca.explained_variance_ratio
        x = np.arange(1, len(ev) + 1)
        noise = s.pca.noise_variance / s.pca.explained_variance[0] * ev[0] if s.pca.noise_variance else None
        ys = [ev] + ([np.full(len(ev), noise)] if noise else [])
        self.scree.show(x, ys, colours=["#1f77b4", "#d62728"], labels=["explained variance", "Poisson noise"],
                        markers=[s.pca.suggested_n_components + 0.5] if s.pca.suggested_n_components else [])
        self.suggested.value = (f"Suggested: <b>{s.pca.suggested_n_components}</b> components above the noise "
                                f"(Marchenko-Pastur edge).")
        with self.app.quiet(self.n, self.algorithm):
            self.n.max = s.pca.n_components
            self.n.value = s.n_components
            self.algorithm.value = s.algorithm
        if s.decomposition is not None:
            with self.app.quiet(self.component):
                self.component.max = max(s.decomposition.n_components - 1, 0)
                self.component.value = min(self.component.value, self.component.max)
            self.show_component()

    def show_component(self):
        d = self.s.decomposition
        if d is None:
            return
        i = min(self.component.value, d.n_components - 1)
        self.loading.show(scalar_rgb(d.loadings[..., i]), f"{d.algorithm.upper()} loading {i}")
        self.factor.show(self.s.image.energy_keV, d.factors[i], lines=self.s.total_lines,
                         title=f"{d.algorithm.upper()} factor {i}")
        self.factor.ys.min = float(min(0.0, d.factors[i].min()))


class ClusteringPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.method = W.ToggleButtons(options=list(CLUSTER_METHODS), description="Method")
        self.k = W.IntSlider(value=2, min=2, max=12, description="clusters", continuous_update=False)
        self.threshold = W.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05, description="membership >=",
                                       continuous_update=False, style={"description_width": "100px"})
        self.estimate_btn = W.Button(description="Estimate the number", icon="line-chart")
        self.curves = CurveView("number of clusters", xlabel="clusters", ylabel="score (scaled 0-1)", x_format="d")
        self.pair_x = W.Dropdown(options=[0], value=0, description="x: comp.", layout=W.Layout(width="160px"))
        self.pair_y = W.Dropdown(options=[1], value=1, description="y: comp.", layout=W.Layout(width="160px"))
        import bqplot as bq

        xs, ys = bq.LinearScale(), bq.LinearScale()
        self.scatter = bq.Scatter(x=[0], y=[0], scales={"x": xs, "y": ys}, default_size=6, stroke_width=0,
                                  opacities=[0.6])
        self.scatter_fig = bq.Figure(marks=[self.scatter], title="score space, coloured by cluster",
                                     axes=[bq.Axis(scale=xs, label="score x"),
                                           bq.Axis(scale=ys, side="left", label="score y")],
                                     layout=W.Layout(width="380px", height="340px"),
                                     fig_margin=dict(top=30, bottom=40, left=50, right=10))
        self.member = W.Dropdown(options=[0], description="membership of", layout=W.Layout(width="200px"))
        self.membership = MapView("membership")
        self.clusters = MapView("clusters", css="pd-cluster-map")
        self.unassigned = W.HTML()
        self.method.observe(self.user(lambda ch: self.app.cluster(CLUSTER_METHODS[ch["new"]], self.k.value,
                                                         self.threshold.value)), "value")
        self.k.observe(self.user(lambda ch: self.app.cluster(CLUSTER_METHODS[self.method.value], ch["new"],
                                                    self.threshold.value)), "value")
        self.threshold.observe(self.user(lambda ch: self.app.cluster(CLUSTER_METHODS[self.method.value], self.k.value,
                                                            ch["new"])), "value")
        for w, name in ((self.k, "pd-n-clusters"), (self.method, "pd-cluster-method"),
                        (self.threshold, "pd-membership")):
            w.add_class(name)
        self.estimate_btn.on_click(lambda _: self.app.estimate())
        for w in (self.pair_x, self.pair_y):
            w.observe(self.user(lambda ch: self.show_scatter()), "value")
        self.member.observe(self.user(lambda ch: self.show_membership()), "value")
        self.widget = W.VBox([
            guide("<h3>3. Clustering</h3>Each pixel is a point in the space of its component scores "
                  "(normalised by its counts); pixels of one mineral gather in one cloud. k-means cuts the space "
                  "into K cells, a Gaussian mixture fits K ellipsoids, fuzzy c-means gives each pixel a membership "
                  "of every cluster: pixels with no membership above the threshold are left unassigned (mixed).",
                  ["Where do the criteria agree on the number of clusters?",
                   "Which pixels are mixed, and where are they on the map?"]),
            W.HBox([W.VBox([self.method, self.k, self.threshold, self.estimate_btn, self.unassigned]),
                    self.curves.figure]),
            W.HBox([W.VBox([W.HBox([self.pair_x, self.pair_y]), self.scatter_fig]), self.clusters.figure,
                    W.VBox([self.member, self.membership.figure])]),
        ])

    def refresh(self):
        s = self.s
        if s.pca is not None:
            opts = list(range(s.n_components))
            with self.app.quiet(self.pair_x, self.pair_y):
                self.pair_x.options, self.pair_y.options = opts, opts
                self.pair_x.value = 0
                self.pair_y.value = min(1, len(opts) - 1)
        c = s.clustering
        if c is None:
            return
        with self.app.quiet(self.k, self.method, self.threshold):
            self.k.value = c.n_clusters
            self.method.value = {v: k for k, v in CLUSTER_METHODS.items()}[c.method]
            self.threshold.value = s.membership_threshold
        self.threshold.disabled = c.method != "fcm"
        self.unassigned.value = f"Unassigned (mixed) pixels: <b>{100 * c.unassigned_fraction:.1f} %</b>"
        h, w = s.image.shape[:2]
        self.clusters.show(labels_rgb(c.labels.reshape(h, w), c.n_clusters, self.app.colours),
                           f"{c.n_clusters} clusters ({c.method})")
        with self.app.quiet(self.member):
            keep = self.member.value
            self.member.options = list(range(c.n_clusters)) if c.memberships is not None else []
            if self.member.options:
                self.member.value = keep if keep in self.member.options else 0
        self.show_scatter()
        self.show_membership()
        if s.estimate is not None:
            self.show_estimate()

    def show_scatter(self):
        s, c = self.s, self.s.clustering
        if c is None or s.pca is None:
            return
        x = s.features()
        idx = np.random.default_rng(0).permutation(len(x))[:4000]
        i, j = self.pair_x.value or 0, self.pair_y.value or 0
        with self.scatter.hold_sync():
            self.scatter.x, self.scatter.y = x[idx, i], x[idx, j]
            self.scatter.colors = [phase_colour(int(v)) if v >= 0 else "#bbbbbb" for v in c.labels[idx]]

    def show_membership(self):
        c = self.s.clustering
        if c is None or c.memberships is None or self.member.value is None:
            self.membership.show(np.full((1, 1, 3), 240, np.uint8), "membership (fuzzy c-means / GMM only)")
            return
        h, w = self.s.image.shape[:2]
        m = c.memberships[:, self.member.value].reshape(h, w)
        self.membership.show(scalar_rgb(m, 0.0, 1.0), f"membership of cluster {self.member.value} (0-1)")

    def show_estimate(self):
        e = self.s.estimate
        ys, names = [], []
        for name, v in e.scores.items():
            v = np.asarray(v, float)
            span = np.ptp(v) or 1.0
            ys.append((v - v.min()) / span)
            names.append(f"{name} (best {e.best.get(name)})")
        self.curves.show(e.k, ys, labels=names, markers=[self.k.value], title="criteria (scaled 0-1)")
