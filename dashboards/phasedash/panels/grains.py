"""Step 6, grains: watershed settings, the grain map, size statistics and the CSD."""

from __future__ import annotations

import html
import warnings

import ipywidgets as W
import numpy as np

from phaselib.morphology import crystal_size_distribution, size_statistics

from ..plots import CurveView, MapView, grains_rgb
from ._base import Panel, guide


class GrainsPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.phase = W.Dropdown(options=[("all phases", -1)], value=-1, description="phase")
        self._accuracy = (None, None)  # (GrainMap, its score against a synthetic map's true grains)
        self.min_distance = W.IntSlider(value=3, min=1, max=30, description="min distance", continuous_update=False)
        self.min_area = W.IntSlider(value=4, min=0, max=200, description="min area (px)", continuous_update=False)
        self.border = W.Checkbox(value=False, description="drop grains touching the border")
        self.growth = W.FloatText(value=1e-4, description="G (um/s)", layout=W.Layout(width="200px"))
        self.go = W.Button(description="Separate grains", button_style="primary", icon="th")
        self.map = MapView("grains", width=400, css="pd-grain-map")
        self.hist = CurveView("grain sizes", xlabel="equivalent diameter (um)", ylabel="density", bars=True)
        self.csd = CurveView("crystal size distribution", xlabel="L (um)", ylabel="ln n")
        self.stats = W.HTML()
        self.go.on_click(lambda _: self.app.grains(**self.options()))
        for w, name in ((self.min_distance, "pd-min-distance"), (self.go, "pd-grains-go"),
                        (self.stats, "pd-grain-stats")):
            w.add_class(name)
        for w in (self.phase, self.min_distance, self.min_area, self.border):
            w.observe(self.user(lambda ch: self.s.grains is not None and self.app.grains(**self.options())), "value")
        self.growth.observe(self.user(lambda ch: self.show_stats()), "value")
        self.widget = W.VBox([
            guide("<h3>6. Grains</h3>Touching crystals of one phase are split by a watershed on the distance to "
                  "the grain edge, with straight cuts from the concave corners where two crystals meet the "
                  "outline. The boundary between two crystals of one mineral does not show in a phase map: "
                  "where they pack most of the area, about one grain in five stays merged with a neighbour. "
                  "Sizes are equivalent circular diameters of 2-D sections (not 3-D sizes). The "
                  "crystal size distribution ln n(L) against L is a line for steady growth: its slope is "
                  "-1/(G&tau;), so a growth rate G gives the residence time &tau;.",
                  ["Are the grains of the minerals of different sizes?",
                   "What residence time does the CSD give for your growth rate?"]),
            W.HBox([W.VBox([self.phase, self.min_distance, self.min_area, self.border, self.growth, self.go]),
                    self.map.widget]),
            W.HBox([self.hist.widget, self.csd.widget]), self.stats])
        self.waiting()

    def waiting(self):
        for v in (self.map, self.hist, self.csd):
            v.wait_for("Press <b>Separate grains</b> to compute.")
        self.stats.value = ""

    def options(self):
        o = dict(min_distance=self.min_distance.value, min_area=self.min_area.value,
                 exclude_border=self.border.value)
        if self.phase.value >= 0:
            o["phases"] = [self.phase.value]
        return o

    def refresh(self):
        s = self.s
        if s.labels is not None:
            k = int(max(s.labels.max() + 1, 1))
            with self.app.quiet(self.phase):
                keep = self.phase.value
                self.phase.options = [("all phases", -1)] + [(f"phase {i}", i) for i in range(k)]
                self.phase.value = keep if keep < k else -1
        g = s.grains
        if g is None:
            self.waiting()
            return
        self.map.show(grains_rgb(g.labels), f"{g.n_grains} grains")
        self.show_stats()

    def show_stats(self):
        g = self.s.grains
        if g is None:
            return
        if g.n_grains < 3:
            self.stats.value = f"Only {g.n_grains} grain(s): too few for statistics."
            return
        d = np.asarray(g.table()["equivalent_diameter_um"], float)
        unit = "um" if self.s.image is not None and self.s.image.pixel_size else "px"  # no pixel size: in pixels
        self.hist.figure.axes[0].label, self.csd.figure.axes[0].label = f"equivalent diameter ({unit})", f"L ({unit})"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            st = size_statistics(d)
        centres = 0.5 * (st.bin_edges[1:] + st.bin_edges[:-1])
        dens = st.counts / (st.counts.sum() * np.diff(st.bin_edges))
        self.hist.show(st.kde_x, [st.kde_y], bars=(centres, dens), markers=[st.kde_peak],
                       title=f"{g.n_grains} grains: KDE peak {st.kde_peak:.3g} {unit}")
        area = g.section_area_um2  # pixels that hold no counts are not section
        grow = self.growth.value if self.growth.value and self.growth.value > 0 and unit == "um" else None
        try:
            csd = crystal_size_distribution(d, area, growth_rate=grow)
            ok = np.isfinite(csd.ln_density)
            fit = csd.intercept + csd.slope * csd.sizes
            self.csd.show(csd.sizes, [np.where(ok, csd.ln_density, np.nan), fit],
                          colours=["#1f77b4", "#d62728"], labels=["ln n", "fit"],
                          title=f"slope {csd.slope:.3g} +/- {csd.slope_err:.2g} /{unit}")
            t = csd.residence_time
            tau = "" if t is None else f"; residence time tau = {t:.3g} s = {t / 3.156e7:.3g} yr"
            if unit == "px" or not (self.growth.value and self.growth.value > 0):
                tau = ("; no residence time: the map has no pixel size" if unit == "px" else
                       "; no residence time: give a growth rate G above 0")
        except ValueError as err:
            tau = f"; CSD: {html.escape(str(err))}"
        warn = "".join(f"<br><i>{html.escape(str(w.message))}</i>" for w in caught)
        if self._accuracy[0] is not g:  # once per grain map, not on every growth-rate change
            self._accuracy = (g, self.s.grain_accuracy())
        acc = self._accuracy[1]
        if acc is not None:
            warn += (f"<br>Against the true grains of this synthetic rock: {acc['matched']:.0%} of the "
                     f"{acc['n_true']} true grains (10 px and more) found one-to-one, grain count "
                     f"{acc['count_error']:+.0%}.")
        if g.spanning_phases:
            which = ", ".join(str(p) for p in g.spanning_phases)
            warn += (f"<br><i>Phase {which} forms one cluster across the map (a groundmass, a glass, or crystals "
                     f"of one mineral packing the area): its grains are pieces of that cluster, not crystals "
                     f"you could count.</i>")
        matrix = [p for p in g.params.get("in_matrix", ()) if p not in g.spanning_phases]
        if matrix:
            which = ", ".join(str(p) for p in matrix)
            warn += (f"<br><i>Phase {which} stands in a matrix (one other phase holds 70 % or more of what lies "
                     f"around it, or its crystals are twice as thick as the grains around them): a lone notch in "
                     f"its outline is taken for a bite or an open inclusion, not a contact between two crystals, "
                     f"and starts no cut.</i>")
        self.stats.value = (f"<b>{g.n_grains} grains</b>: mean {st.mean:.3g} {unit}, median {st.median:.3g}, "
                            f"geometric mean {st.geometric_mean:.3g}, RMS {st.rms_mean:.3g}, SD {st.std:.3g}, "
                            f"IQR {st.iqr:.3g}{tau}{warn}")
