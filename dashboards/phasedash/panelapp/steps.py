"""The steps of the practical as Panel widgets and Bokeh figures: data, decomposition, clustering,
phase map and export. A step holds widgets only; its actions go through the app (``app.cluster(...)``),
whose one-line calls reach the :class:`~phasedash.state.Session`.

A widget event whose value is already the session's is ignored: that is a refresh from the session,
not a student's change (checked at once, before any work is scheduled).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import panel as pn

from phaselib import quantify

from ..plots import labels_rgb, scalar_rgb
from ..state import ALGORITHMS, CLUSTER_METHODS, SAMPLES
from ..texts import calibration_html, refinement_html
from .figures import CurveView, MapView, SpectrumView, phase_legend


def guide(text, questions=()):
    """The step's explanation and its questions for the student."""
    q = "".join(f"<li>{html.escape(x)}</li>" for x in questions)
    return pn.pane.HTML(f"<div style='max-width:900px;color:#333'>{text}"
                        + (f"<p><b>Questions</b></p><ul>{q}</ul>" if q else "") + "</div>", sizing_mode="stretch_width")


def _label(text, colour=None):
    """A widget's label and a button's colour, as this Panel names them (since 1.9 ``label`` and ``color``;
    ``name`` and ``button_type`` before)."""
    new = "label" in pn.widgets.Select.param
    out = {"label" if new else "name": text}
    if colour:
        out["color" if "color" in pn.widgets.Button.param else "button_type"] = colour
    return out


def _fmt(value, digits=3):
    """A number for people: ``0.1`` not ``0.10000000000000142``; ``?`` when unknown."""
    return "?" if value is None else f"{float(value):.{digits}g}"


class DataStep:
    def __init__(self, app):
        self.app = app
        self.sample = pn.widgets.Select(**_label("Bundled map"), options=dict(SAMPLES), width=420)
        self.load = pn.widgets.Button(**_label("Load", "primary"), width=80)
        self.load.on_click(lambda _: app.submit(app.open(self.sample.value)))
        self.info = pn.pane.HTML("", css_classes=["pd-data-info"], sizing_mode="stretch_width")
        self.energy = pn.pane.HTML("", css_classes=["pd-energy"])
        self.offset = pn.widgets.FloatInput(**_label("offset (keV)"), step=0.001, width=130)
        self.scale = pn.widgets.FloatInput(**_label("scale (keV/channel)"), step=0.0001, width=150)
        self.apply = pn.widgets.Button(**_label("Apply calibration"), width=140)
        self.apply.on_click(lambda _: app.submit(app.calibrate(self.offset.value, self.scale.value)))
        self.map = MapView("counts per pixel (click a pixel)", width=380, on_tap=self.pick_pixel)
        self.spectrum = SpectrumView("summed spectrum", width=620)
        self.view = pn.Column(
            guide("<h3>1. Data</h3>An EDS spectrum image holds one X-ray spectrum per pixel. The map shows the "
                  "counts per pixel; click a pixel to see its spectrum beside the whole map's. Check the energy "
                  "axis against a known line (Si K&alpha; is at 1.740 keV).",
                  ["Which elements does the summed spectrum show?",
                   "Do bright and dark areas of the map have different spectra?"]),
            pn.Row(self.sample, self.load), self.info,
            pn.Row(self.offset, self.scale, self.apply, self.energy),
            pn.Row(self.map.figure, self.spectrum.figure))

    def pick_pixel(self, row, col):
        s = self.app.session
        if s is None or s.image is None:
            return
        spec, _ = s.pixel_spectrum(row, col)
        mean = s.total / s.brightness.size
        self.map.mark_pixel(row, col)
        self.spectrum.show(s.image.energy_keV, [mean, spec], colours=["#999999", "#d62728"],
                           labels=["whole map (mean)", f"pixel ({row}, {col})"], lines=s.total_lines,
                           title=f"spectrum of pixel ({row}, {col})")

    def refresh(self):
        s = self.app.session
        im = s.image
        h, w, c = im.shape
        if s.source in SAMPLES.values():
            self.sample.value = s.source
        name = Path(s.source).name if "/" in s.source else s.source
        self.info.object = (f"<b>{html.escape(name)}</b>: {h} x {w} pixels x {c} channels, "
                            f"{s.brightness.mean():.0f} counts/pixel; beam {_fmt(im.beam_energy)} kV; "
                            f"pixel {_fmt(im.pixel_size)} &micro;m; "
                            f"elements: {html.escape(' '.join(im.elements) or 'not in the file')}" +
                            (f"<br><i>{html.escape(s.count_note)}</i>" if s.count_note else ""))
        e = im.energy_keV
        self.energy.object = (f"energy axis: {c} channels from {e[0]:.3f} to {e[-1]:.2f} keV "
                              f"({1000 * im.energy_scale:.2f} eV per channel)")
        self.offset.value, self.scale.value = round(im.energy_offset, 5), round(im.energy_scale, 6)
        self.map.show(scalar_rgb(s.brightness), "counts per pixel (click a pixel)")
        self.spectrum.show(e, s.total / s.brightness.size, lines=s.total_lines, labels=["whole map (mean)"],
                           title="summed spectrum (mean per pixel), strongest lines named")


class DecompositionStep:
    def __init__(self, app):
        self.app = app
        self.scree = CurveView("scree plot", xlabel="component", ylabel="explained variance ratio", log_y=True)
        self.suggested = pn.pane.HTML("", css_classes=["pd-suggested"])
        self.algorithm = pn.widgets.RadioButtonGroup(**_label("Algorithm"), options=list(ALGORITHMS), value="PCA")
        self.n = pn.widgets.IntSlider(**_label("components"), start=1, end=20, value=2, css_classes=["pd-n-components"])
        self.component = pn.widgets.IntSlider(**_label("show component"), start=0, end=1, value=0)
        self.loading = MapView("loading map", width=360)
        self.factor = SpectrumView("factor spectrum", width=560, log=False)
        self.algorithm.param.watch(self._changed, "value")
        self.n.param.watch(self._changed, "value")
        self.component.param.watch(lambda _: self.show_component(), "value")
        self.view = pn.Column(
            guide("<h3>2. Decomposition</h3>PCA (weighted for Poisson noise) finds the directions of largest "
                  "variance. Components above the red noise line carry signal; the rest is noise. NMF gives "
                  "non-negative, more physical components; ICA unmixes the PCA scores.",
                  ["How many components stand above the noise?",
                   "Which element peaks does each factor show? Where is it strong on the map?"]),
            pn.Row(pn.Column(self.scree.figure, self.suggested), pn.Column(self.algorithm, self.n, self.component)),
            pn.Row(self.loading.figure, self.factor.figure))

    def _changed(self, _):
        s = self.app.session
        if s is None or (self.algorithm.value, self.n.value) == (s.algorithm, s.n_components):
            return
        self.app.submit(self.app.decompose(self.algorithm.value, self.n.value))

    def refresh(self):
        s = self.app.session
        ev = s.pca.explained_variance_ratio
        x = np.arange(1, len(ev) + 1)
        noise = s.pca.noise_variance / s.pca.explained_variance[0] * ev[0] if s.pca.noise_variance else None
        ys = [ev] + ([np.full(len(ev), noise)] if noise else [])
        k = s.pca.suggested_n_components
        self.scree.show(x, ys, colours=["#1f77b4", "#d62728"], labels=["explained variance", "Poisson noise"],
                        markers=[k + 0.5] if k else [])
        self.suggested.object = f"Suggested: <b>{k}</b> components above the noise (Marchenko-Pastur edge)."
        self.n.end = s.pca.n_components
        self.n.value, self.algorithm.value = s.n_components, s.algorithm
        if s.decomposition is not None:
            self.component.end = max(s.decomposition.n_components - 1, 1)
            self.component.value = min(self.component.value, s.decomposition.n_components - 1)
            self.show_component()

    def show_component(self):
        s = self.app.session
        d = None if s is None else s.decomposition
        if d is None:
            return
        i = min(self.component.value, d.n_components - 1)
        self.loading.show(scalar_rgb(d.loadings[..., i]), f"{d.algorithm.upper()} loading {i}")
        self.factor.show(s.image.energy_keV, d.factors[i], lines=s.total_lines, labels=[f"factor {i}"],
                         title=f"{d.algorithm.upper()} factor {i}")


class ClusteringStep:
    def __init__(self, app):
        self.app = app
        self.method = pn.widgets.RadioButtonGroup(**_label("Method"), options=dict(CLUSTER_METHODS), value="kmeans")
        self.k = pn.widgets.IntSlider(**_label("clusters"), start=2, end=12, value=2, css_classes=["pd-n-clusters"])
        self.title = pn.pane.HTML("", css_classes=["pd-cluster-title"])
        self.unassigned = pn.pane.HTML("")
        self.estimate = pn.widgets.Button(**_label("Estimate the number of clusters"))
        self.estimate.on_click(lambda _: app.submit(app.estimate()))
        self.curves = CurveView("criteria (scaled 0-1)", xlabel="clusters", ylabel="score", width=380, height=280)
        # drawn once there is something to draw: an empty figure per page costs every browser of a class
        self.curves_pane = pn.pane.Bokeh(self.curves.figure, visible=False)
        self.curves_note = pn.pane.HTML("<span style='color:#555'>Press <b>Estimate the number of clusters</b> "
                                        "to score 2 to 8 clusters.</span>", width=380)
        self.clusters = MapView("clusters", width=380)
        self.method.param.watch(self._changed, "value")
        self.k.param.watch(self._changed, "value")
        self.view = pn.Column(
            guide("<h3>3. Clustering</h3>Each pixel is a point in the space of its component scores; pixels of "
                  "one mineral gather in one cloud. k-means cuts the space into K cells, a Gaussian mixture fits "
                  "K ellipsoids, fuzzy c-means gives each pixel a membership of every cluster.",
                  ["Where do the criteria agree on the number of clusters?",
                   "Which pixels are mixed, and where are they on the map?"]),
            pn.Row(pn.Column(self.method, self.k, self.title, self.unassigned, self.estimate),
                   self.curves_note, self.curves_pane),
            self.clusters.figure)

    def _changed(self, _):
        s = self.app.session
        if s is None or s.clustering is None or (self.method.value, self.k.value) == (
                s.clustering.method, s.clustering.n_clusters):
            return
        self.app.submit(self.app.cluster(self.method.value, self.k.value))

    def refresh(self):
        s = self.app.session
        c = s.clustering
        self.k.value, self.method.value = c.n_clusters, c.method
        self.title.object = f"<b>{c.n_clusters} clusters ({c.method})</b>"
        self.unassigned.object = s.unassigned_note()
        h, w = s.image.shape[:2]
        self.clusters.show(labels_rgb(c.labels.reshape(h, w), c.n_clusters, self.app.colours),
                           f"{c.n_clusters} clusters ({c.method})")
        if s.estimate is not None:
            self.show_estimate()

    def show_estimate(self):
        e = self.app.session.estimate
        ys, names = [], []
        for name, v in e.scores.items():
            v = np.asarray(v, float)
            ys.append((v - v.min()) / (np.ptp(v) or 1.0))
            names.append(f"{name} (best {e.best.get(name)})")
        self.curves.show(e.k, ys, labels=names, markers=[self.k.value])
        self.curves_note.visible, self.curves_pane.visible = False, True


def _swatch(colour):
    return (f"<span style='display:inline-block;width:12px;height:12px;background:{colour};"
            "border:1px solid #777'></span>")


class PhaseMapStep:
    SOURCES = {"clusters": "clusters", "component maps + Otsu": "loadings", "clusters + spatial prior": "spatial"}

    def __init__(self, app):
        self.app = app
        self.source = pn.widgets.RadioButtonGroup(**_label("Phases from"), options=self.SOURCES, value="clusters")
        self.min_size = pn.widgets.IntSlider(**_label("min size (px)"), start=0, end=200, value=0,
                                             css_classes=["pd-min-size"])
        self.title = pn.pane.HTML("", css_classes=["pd-phase-title"])
        self.changes = pn.pane.HTML("", css_classes=["pd-refinement"], sizing_mode="stretch_width")
        self.map = MapView("phase map", width=420, legend=True)
        self.table = pn.pane.HTML("", css_classes=["pd-modal-table"])
        self.name = pn.widgets.Button(**_label("Name the minerals"))
        self.name.on_click(lambda _: app.submit(app.name_minerals()))
        self.spectra = SpectrumView("phase spectra (mean per pixel)", width=760, height=340)
        self.source.param.watch(self._changed, "value")
        self.min_size.param.watch(self._changed, "value")
        self.view = pn.Column(
            guide("<h3>4. Phase map</h3>Each pixel gets the phase of its cluster, or, from component maps, of the "
                  "one component above its Otsu threshold (pixels above none or several stay <i>unassigned</i>, "
                  "grey). Remove specks and fill holes smaller than the minimum size. On a low-count map a "
                  "spatial prior lets neighbours agree. The colour of a phase is the same in every view.",
                  ["Which mineral is each phase? Compare its element lines with Mindat.",
                   "What are the modal proportions, and how much is unassigned?"]),
            pn.Row(self.source, self.min_size), self.title, self.changes,
            pn.Row(self.map.figure, pn.Column(self.table, self.name)), self.spectra.figure)

    def _changed(self, _):
        s = self.app.session
        if s is None or s.labels is None or (self.source.value, self.min_size.value) == (s.phase_source, s.min_size):
            return
        self.app.submit(self.app.phases(source=self.source.value, min_size=self.min_size.value))

    def refresh(self):
        s = self.app.session
        self.source.value, self.min_size.value = s.phase_source, s.min_size
        k = int(max(s.labels.max() + 1, 1))
        acc = s.accuracy()
        self.title.object = f"<b>{k} phases</b>" + ("" if acc is None else f"; ARI vs truth {acc:.3f}")
        self.changes.object = refinement_html(s)
        self.map.show(labels_rgb(s.labels, k, self.app.colours), f"phase map: {k} phases")
        self.show_table()

    def show_table(self):
        s, k = self.app.session, int(max(self.app.session.labels.max() + 1, 1))
        labels, colours = phase_legend(k, s.minerals, self.app.colours)
        self.map.legend(labels, colours)
        fr, unassigned = s.fractions()
        lines = s.phase_lines if s.spectra is not None and len(s.phase_lines) == k else [[]] * k
        names = [n.text + (" (ambiguous)" if n.ambiguous else "") for n in s.minerals] \
            if len(s.minerals) == k else [""] * k
        rows = "".join(f"<tr><td>{_swatch(colours[i])} {i}</td><td>{100 * f:.2f} %</td>"
                       f"<td>{html.escape(' '.join(quantify.main_elements(ln)))}</td>"
                       f"<td style='max-width:360px'>{html.escape(nm)}</td></tr>"
                       for i, (f, ln, nm) in enumerate(zip(fr, lines, names)))
        rows += (f"<tr><td>{_swatch(colours[-1])} unassigned</td><td>{100 * unassigned:.2f} %</td>"
                 "<td></td><td></td></tr>")
        self.table.object = ("<table class='phasedash-modal'><tr><th>phase</th><th>area %</th>"
                             f"<th>main elements</th><th>mineral (score)</th></tr>{rows}</table>"
                             + calibration_html(s.minerals, k))
        if s.spectra is not None and s.spectra.sums.shape[0] == k:
            uniq = {ln["line"]: ln for p in s.phase_lines for ln in p[:3]}
            self.spectra.show(s.image.energy_keV, s.spectra.means, colours=colours[:k],
                              labels=[f"phase {i}" for i in range(k)], lines=list(uniq.values()))


class ExportStep:
    def __init__(self, app):
        self.app = app
        self.prepare = pn.widgets.Button(**_label("Prepare the files", "primary"))
        self.prepare.on_click(lambda _: app.submit(app.export()))
        self.download = pn.widgets.FileDownload(**_label("Download the results (.zip)", "success"),
                                                filename="phasedash-results.zip", visible=False, embed=False)
        self.files = pn.pane.HTML("", css_classes=["pd-export-files"])
        self.view = pn.Column(
            guide("<h3>5. Export</h3>The phase map (PNG, TIFF), the modal table (CSV), the phase spectra (MSA, "
                  "readable by HyperSpy and vendor software) and a session file that reopens this state, in one "
                  "zip file to download. Nothing is written on the server."),
            self.prepare, self.download, self.files)

    def show(self, result):
        import io

        data, names = result
        self.download.file = io.BytesIO(data)
        self.download.visible = True
        self.files.object = "In the zip: " + ", ".join(html.escape(n) for n in names)
