"""Step 2, decomposition: the scree plot with the noise line, PCA / NMF / ICA, loading maps and factors."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..plots import CurveView, MapView, SpectrumView, axis_labels, scalar_rgb
from ..state import ALGORITHMS
from ._base import Panel, guide


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
                   "Which element peaks does each factor show? Where is it strong on the map?"],
                  cube=("<h3>2. Decomposition</h3>For a cube of intensities (transmissions), PCA works on each "
                        "pixel's spectral <i>shape</i>: its attenuation divided by its mean, so that a thick and a "
                        "thin piece of one material look alike. Components above the red noise line carry signal; "
                        "the rest is noise. NMF gives non-negative components; ICA unmixes the PCA scores.",
                        ["How many components stand above the noise?",
                         "Which edges does each factor show? Where is it strong on the map?"])),
            W.HBox([W.VBox([self.scree.widget, self.log, self.suggested]),
                    W.VBox([self.algorithm, self.n, self.component])]),
            W.HBox([self.loading.widget, self.factor.widget]),
        ])

    def refresh(self):
        s = self.s
        if s.pca is None:
            return
        ev = s.pca.explained_variance_ratio
        x = np.arange(1, len(ev) + 1)
        noise = s.pca.noise_variance / s.pca.explained_variance[0] * ev[0] if s.pca.noise_variance else None
        ys = [ev] + ([np.full(len(ev), noise)] if noise else [])
        noise_name = "Poisson noise" if s.image.is_counts else "noise"
        self.scree.show(x, ys, colours=["#1f77b4", "#d62728"], labels=["explained variance", noise_name],
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
                         title=f"{d.algorithm.upper()} factor {i}", **axis_labels(self.s.image))
        self.factor.ys.min = float(min(0.0, d.factors[i].min()))
