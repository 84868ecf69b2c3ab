"""Dashboard of precomputed full-map results ("here's one I made earlier"): no raw map needed."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W
import numpy as np

from phaselib import quantify
from phaselib.compare import adjusted_rand
from phaselib.morphology import grain_map
from phaselib.results import load_results

from .panels import guide, tidy
from .plots import CurveView, MapView, SpectrumView, grains_rgb, labels_rgb, phase_colour, scalar_rgb
from .runner import Runner

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "full_map_results.npz"


class ResultsApp:
    """Browse a results file written by ``python -m phaselib precompute``.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (default: the bundled full classroom-size map).
    background : bool
        Compute grains in a worker thread (False in tests).
    """

    def __init__(self, path=BUNDLED, *, background=True):
        self.runner = Runner(background=background)
        self.results = None
        self.info = W.HTML()
        self.brightness = MapView("counts per pixel", width=380)
        self.total = SpectrumView("summed spectrum", log=True, width=520)
        self.scree = CurveView("scree plot", xlabel="component", ylabel="explained variance ratio", log_y=True,
                               x_format="d")
        self.component = W.IntSlider(value=0, min=0, max=1, description="component", continuous_update=False)
        self.loading = MapView("loading", width=380)
        self.factor = SpectrumView("factor", width=520)
        self.method = W.ToggleButtons(description="Method")
        self.phase_map = MapView("phase map", width=460, css="pd-results-phase-map")
        self.table = W.HTML()
        self.spectra = SpectrumView("phase spectra (mean per pixel)", log=True, width=620)
        self.agreement = W.HTML()
        self.grain_btn = W.Button(description="Separate grains of this map", icon="th")
        self.grains = MapView("grains", width=460)
        self.grain_info = W.HTML()
        self.component.observe(lambda ch: self.show_component(), "value")
        self.method.observe(lambda ch: self.show_method(), "value")
        self.grain_btn.on_click(lambda _: self.separate_grains())
        self.widget = W.VBox([
            W.HTML("<h2 style='margin:4px 0'>A full map, analysed earlier</h2>"),
            guide("These results were computed once on the whole map with <code>python -m phaselib precompute"
                  "</code> (the raw map is not needed here). Browse the PCA, then the phase maps of three "
                  "methods and their agreement.",
                  ["How many components stand above the noise on the full map? On a subset?",
                   "Do the methods agree on the full map?"]),
            self.runner.widget, self.runner.message, self.info,
            W.HBox([self.brightness.widget, self.total.widget]),
            W.HBox([W.VBox([self.scree.widget, self.component]), self.loading.widget, self.factor.widget]),
            self.method, W.HBox([self.phase_map.widget, W.VBox([self.table, self.agreement])]), self.spectra.widget,
            W.HBox([self.grain_btn, self.grain_info]), self.grains.widget,
        ])
        self.grains.wait_for("Press <b>Separate grains of this map</b> to compute.")
        self.widget.add_class("phasedash-results")
        tidy(self.widget)
        self.open(path)

    def open(self, path):
        """Read a results file; a wrong file gives a message in the page."""
        try:
            self.results = load_results(path)
        except (OSError, ValueError) as err:
            self.runner.error(err)
            return
        self.runner.clear()
        r = self.results
        i = r.info
        h, w, c = i["shape"]
        self.info.value = (f"<b>{html.escape(Path(str(i.get('source') or path)).name)}</b>: {h} x {w} pixels x "
                           f"{c} channels, {float(r.pixel_sums.mean()):.0f} counts/pixel; methods: "
                           f"{', '.join(r.methods)}")
        lines = quantify.lines_of(r.sum_spectrum, r.energy_keV, beam_energy=i.get("beam_energy"), n_lines=10)
        self.lines = lines
        self.brightness.show(scalar_rgb(r.pixel_sums))
        self.total.show(r.energy_keV, np.maximum(r.sum_spectrum / (h * w), 1e-3), lines=lines)
        ev = r.explained_variance_ratio
        self.scree.show(np.arange(1, len(ev) + 1), [ev, np.full(len(ev), r.noise_variance_ratio or np.nan)],
                        colours=["#1f77b4", "#d62728"], labels=["explained variance", "Poisson noise"],
                        markers=[r.suggested_n_components + 0.5])
        self.component.max = r.loadings.shape[-1] - 1
        self.show_component()
        self.method.options = list(r.methods)
        self.method.value = next(iter(r.methods))
        self.show_method()
        names = list(r.methods)
        step = max(1, int(np.sqrt(r.methods[names[0]].labels.size / 250_000)))  # ARI on a subsample of big maps
        sub = {m: r.methods[m].labels[::step, ::step] for m in names}
        ari = {(a, b): adjusted_rand(sub[a], sub[b]) for k, a in enumerate(names) for b in names[k + 1:]}
        rows = "".join(f"<tr><td>{a} vs {b}</td><td>{v:.3f}</td></tr>" for (a, b), v in ari.items())
        self.agreement.value = f"<p>Agreement between methods (ARI)</p><table>{rows}</table>"

    def show_component(self):
        r, i = self.results, self.component.value
        self.loading.show(scalar_rgb(r.loadings[..., i].astype(np.float32)), f"PCA loading {i}")
        self.factor.show(r.energy_keV, r.factors[i], lines=self.lines, title=f"PCA factor {i}")
        self.factor.ys.min = float(min(0.0, r.factors[i].min()))

    def show_method(self):
        r = self.results
        if r is None or self.method.value not in r.methods:
            return
        m = r.methods[self.method.value]
        k = len(m.fractions)
        self.phase_map.show(labels_rgb(m.labels, k), f"{self.method.value}: {k} phases")
        rows = "".join(f"<tr><td><span style='color:{phase_colour(i)}'>&#9632;</span> {i}</td>"
                       f"<td>{100 * f:.2f} %</td><td>{html.escape(' '.join(quantify.main_elements(ln)))}</td></tr>"
                       for i, (f, ln) in enumerate(zip(m.fractions, m.lines)))
        rows += f"<tr><td>unassigned</td><td>{100 * m.unassigned_fraction:.2f} %</td><td></td></tr>"
        self.table.value = ("<table class='phasedash-modal'><tr><th>phase</th><th>area %</th><th>elements</th></tr>"
                            f"{rows}</table>")
        uniq = {ln["line"]: ln for p in m.lines for ln in p[:3]}
        self.spectra.show(r.energy_keV, np.maximum(m.mean_spectra, 1e-3), colours=[phase_colour(i) for i in range(k)],
                          labels=[f"phase {i}" for i in range(k)], lines=list(uniq.values()))
        if self.grain_info.value and not self.grain_info.value.endswith(f"({self.method.value})"):
            self.grain_info.value = ""  # grains of another method's map
            self.grains.wait_for("Press <b>Separate grains of this map</b> to compute.")

    def separate_grains(self):
        method = self.method.value
        labels = self.results.methods[method].labels
        px = self.results.info.get("pixel_size") or 1.0

        def show(g):
            if method != self.method.value:  # the map changed meanwhile
                return
            self.grains.show(grains_rgb(g.labels), f"{g.n_grains} grains ({method})")
            self.grain_info.value = f"{g.n_grains} grains ({method})"
        return self.runner.run("grains", lambda: grain_map(labels, pixel_size=px, min_area=4), show,
                               "separating the grains of every phase")
