"""Step 4, phase map: from clusters, Otsu thresholds on component maps or a spatial prior; minimum
size, phase colours, the modal table and the phase spectra."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from phaselib import quantify

from ..plots import CurveView, MapView, SpectrumView, axis_labels, labels_rgb, phase_colour
from ..texts import calibration_html, refinement_html
from ._base import Panel, guide


def _swatch(colour):
    return (f"<span style='display:inline-block;width:12px;height:12px;background:{colour};"
            "border:1px solid #777'></span>")


class PhaseMapPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.source = W.ToggleButtons(options=[("clusters", "clusters"), ("component maps + Otsu", "loadings"),
                                               ("clusters + spatial prior", "spatial")], description="Phases from")
        self.beta = W.FloatSlider(value=1.0, min=0.0, max=4.0, step=0.25, description="prior strength",
                                  continuous_update=False, layout=W.Layout(display="none"))
        self.min_size = W.IntSlider(value=0, min=0, max=200, description="min size (px)", continuous_update=False)
        self.component = W.Dropdown(options=[0], description="component", layout=W.Layout(width="200px"))
        self.threshold = W.FloatSlider(value=0, min=0, max=1, step=0.001, description="threshold",
                                       continuous_update=False, readout_format=".3f")
        self.reset = W.Button(description="Use Otsu", icon="undo")
        self.hist = CurveView("component map histogram", xlabel="abundance", ylabel="pixels", bars=True)
        self.map = MapView("phase map", width=420, css="pd-phase-map")
        self.table = W.HTML()
        self.name = W.Button(description="Name the minerals", icon="search")
        self.name.add_class("pd-name-minerals")
        self.name.on_click(lambda _: self.app.name_minerals())
        self.hint = W.HTML()
        self.colour_phase = W.Dropdown(options=[0], description="colour of", layout=W.Layout(width="170px"))
        self.colour = W.ColorPicker(concise=True, value=phase_colour(0), layout=W.Layout(width="60px"))
        self.spectra = SpectrumView("phase spectra (mean per pixel)", width=620, height=320, log=True)
        for w, name in ((self.min_size, "pd-min-size"), (self.threshold, "pd-threshold"), (self.source, "pd-source"),
                        (self.beta, "pd-beta"),
                        (self.table, "pd-modal-table"), (self.colour, "pd-colour")):
            w.add_class(name)
        self.source.observe(self.user(lambda ch: self.app.phases(source=ch["new"])), "value")
        self.min_size.observe(self.user(lambda ch: self.app.phases(min_size=ch["new"])), "value")
        self.beta.observe(self.user(lambda ch: self.app.phases(beta=ch["new"])), "value")
        self.threshold.observe(self.user(self.threshold_moved), "value")
        self.reset.on_click(lambda _: self.app.phases(overrides={k: v for k, v in self.s.overrides.items()
                                                                 if k != self.component.value}))
        self.component.observe(self.user(lambda ch: self.show_histogram()), "value")
        self.colour_phase.observe(self.user(lambda ch: self._colour_widget()), "value")
        self.colour.observe(self.user(lambda ch: self.app.set_colour(self.colour_phase.value, ch["new"])), "value")
        self.otsu_box = W.VBox([W.HBox([self.component, self.reset]), self.threshold, self.hist.widget])
        self.widget = W.VBox([
            guide("<h3>4. Phase map</h3>Each pixel gets the phase of its cluster, or, from component maps, of the "
                  "one component above its Otsu threshold (pixels above none or several stay <i>unassigned</i>, "
                  "grey). Move a threshold to override Otsu's; remove specks and fill holes smaller than the "
                  "minimum size. On a low-count map (tens of counts per pixel), a spatial prior scores each "
                  "pixel's counts under each phase spectrum and lets neighbours agree: speckle goes, small "
                  "grains stay. The colour of a phase is the same in every view.",
                  ["Which mineral is each phase? Compare its element lines with Mindat.",
                   "What are the modal proportions, and how much is unassigned?"],
                  cube=("<h3>4. Phase map</h3>Each pixel gets the region of its cluster, or, from component maps, "
                        "of the one component above its Otsu threshold (pixels above none or several stay "
                        "<i>unassigned</i>, grey). Move a threshold to override Otsu's; remove specks and fill "
                        "holes smaller than the minimum size. The regions from clusters are tested: one whose "
                        "5 x 5 mean spectral shapes fall in two groups is split, two with no dip between theirs "
                        "are merged. The colour of a region is the same in every view.",
                        ["Which material is each region? Compare its spectrum's Bragg edges with those of the "
                         "materials in the Data step.",
                         "Are a thick and a thin piece of one material in one region?"])),
            W.HBox([self.source, self.min_size, self.beta]), self.hint,
            W.HBox([W.VBox([self.map.widget, W.HBox([self.colour_phase, self.colour])]),
                    W.VBox([self.table, self.name, self.otsu_box])]),
            self.spectra.widget,
        ])

    def threshold_moved(self, change):
        i = self.component.value
        if i is None or self.app.updating:
            return
        self.app.phases(overrides={**self.s.overrides, i: float(change["new"])})

    def _colour_widget(self):
        with self.app.quiet(self.colour):
            self.colour.value = self.app.colours.get(self.colour_phase.value, phase_colour(self.colour_phase.value))

    def refresh(self, spectra_only=False):
        s = self.s
        if s.labels is None:
            return
        with self.app.quiet(self.source, self.min_size, self.beta):
            self.source.value, self.min_size.value, self.beta.value = s.phase_source, s.min_size, s.beta
        self.beta.layout.display = "" if s.phase_source == "spatial" else "none"
        counts = float(s.brightness.mean())
        self.name.layout.display = "" if s.image.is_eds else "none"  # minerals come from X-ray lines
        self.hint.value = ("" if counts >= 150 or s.phase_source == "spatial" or not s.image.is_counts else
                           f"<i>This map has {counts:.0f} counts per pixel: per-pixel clusters are speckled; "
                           "try <b>clusters + spatial prior</b>.</i>") + signed_note(s) + refinement_html(s)
        k = int(max(s.labels.max() + 1, 1))
        if not spectra_only:
            self.show_map()
            self.otsu_box.layout.display = "" if s.phase_source == "loadings" else "none"
            if s.decomposition is not None:
                with self.app.quiet(self.component):
                    self.component.options = list(range(s.decomposition.n_components))
                self.show_histogram()
            with self.app.quiet(self.colour_phase):
                self.colour_phase.options = list(range(k))
        self.show_table()
        if s.spectra is not None and s.spectra.sums.shape[0] == k:
            self.show_spectra()

    def show_map(self):
        s = self.s
        k = int(max(s.labels.max() + 1, 1))
        acc = s.accuracy()
        extra = "" if acc is None else f"; ARI vs truth {acc:.3f}"
        self.map.show(labels_rgb(s.labels, k, self.app.colours), f"{k} phases{extra}")

    def show_table(self):
        s = self.s
        k = int(max(s.labels.max() + 1, 1))
        fr, unassigned = s.fractions()
        lines = s.phase_lines if s.spectra is not None and len(s.phase_lines) == k else [[]] * k
        names = [n.text + (" (ambiguous)" if n.ambiguous else "") for n in s.minerals] \
            if len(s.minerals) == k else [""] * k
        rows = "".join(f"<tr><td>{_swatch(self.app.colour(i))} {i}</td><td>{100 * f:.2f} %</td>"
                       f"<td>{html.escape(' '.join(quantify.main_elements(ln)))}</td>"
                       f"<td style='max-width:320px'>{html.escape(nm)}</td></tr>"
                       for i, (f, ln, nm) in enumerate(zip(fr, lines, names)))
        rows += (f"<tr><td>{_swatch(self.app.colour(-1))} unassigned</td><td>{100 * unassigned:.2f} %</td>"
                 "<td></td><td></td></tr>")
        self.table.value = ("<table class='phasedash-modal' style='border-collapse:collapse'><tr><th>phase</th>"
                            f"<th>area %</th><th>main elements</th><th>mineral (score)</th></tr>{rows}</table>"
                            + calibration_html(s.minerals, k))

    def show_spectra(self):
        s = self.s
        k = s.spectra.sums.shape[0]
        means = np.maximum(s.spectra.means, 1e-3)
        uniq = {ln["line"]: ln for p in s.phase_lines for ln in p[:3]}
        self.spectra.show(s.image.energy_keV, means, colours=[self.app.colour(i) for i in range(k)],
                          labels=[f"phase {i}" for i in range(k)], lines=list(uniq.values()), **axis_labels(s.image))

    def show_histogram(self):
        s, i = self.s, self.component.value
        if s.decomposition is None or i is None or s.phase_source != "loadings":
            return
        maps = s.abundances()
        if i >= maps.shape[-1]:
            return
        v = maps[..., i].ravel()
        counts, edges = np.histogram(v, bins=60)
        otsu = float(s.otsu[i]) if s.otsu is not None and i < len(s.otsu) else float(np.median(v))
        used = float(s.overrides.get(i, otsu))
        with self.app.quiet(self.threshold):
            self.threshold.min, self.threshold.max = float(edges[0]), float(edges[-1])
            self.threshold.step = float((edges[-1] - edges[0]) / 500 or 0.001)
            self.threshold.value = used
        self.hist.show(edges[:-1], [counts * 0], bars=(0.5 * (edges[1:] + edges[:-1]), counts),
                       markers=[otsu, used], marker_colours=["#999999", "#d62728"],
                       title=f"component {i}: Otsu {otsu:.3g} (grey), used {used:.3g} (red)")


def signed_note(s):
    """Why Otsu thresholds on PCA or ICA component maps leave most pixels unassigned (signed maps, the first one
    the mean spectrum: on the classroom rock 55 % unassigned, ARI 0.57; on NMF maps 0.8 %, ARI 0.99)."""
    d = s.decomposition
    if s.phase_source != "loadings" or d is None or d.algorithm == "nmf":
        return ""
    share = float(np.mean(s.labels < 0)) if s.labels is not None else 0.0
    return (f"<br><i>{100 * share:.0f} % of the pixels are unassigned: {d.algorithm.upper()} component maps are "
            "signed mixtures (the first is the mean spectrum), not one map per phase. Otsu thresholds suit "
            "<b>NMF</b> component maps (step 2).</i>")

