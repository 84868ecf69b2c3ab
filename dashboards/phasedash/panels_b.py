"""Steps 4-7 of the practical: phase map, comparison, grains, export."""

from __future__ import annotations

import base64
import html

import ipywidgets as W
import numpy as np

from phaselib import quantify

from .panels_a import Panel, guide
from .plots import CurveView, MapView, SpectrumView, grains_rgb, labels_rgb, phase_colour


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
        self.otsu_box = W.VBox([W.HBox([self.component, self.reset]), self.threshold, self.hist.figure])
        self.widget = W.VBox([
            guide("<h3>4. Phase map</h3>Each pixel gets the phase of its cluster, or, from component maps, of the "
                  "one component above its Otsu threshold (pixels above none or several stay <i>unassigned</i>, "
                  "grey). Move a threshold to override Otsu's; remove specks and fill holes smaller than the "
                  "minimum size. On a low-count map (tens of counts per pixel), a spatial prior scores each "
                  "pixel's counts under each phase spectrum and lets neighbours agree: speckle goes, small "
                  "grains stay. The colour of a phase is the same in every view.",
                  ["Which mineral is each phase? Compare its element lines with Mindat.",
                   "What are the modal proportions, and how much is unassigned?"]),
            W.HBox([self.source, self.min_size, self.beta]), self.hint,
            W.HBox([W.VBox([self.map.figure, W.HBox([self.colour_phase, self.colour])]),
                    W.VBox([self.table, self.otsu_box])]),
            self.spectra.figure,
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
        self.hint.value = ("" if counts >= 150 or s.phase_source == "spatial" else
                           f"<i>This map has {counts:.0f} counts per pixel: per-pixel clusters are speckled; "
                           "try <b>clusters + spatial prior</b>.</i>")
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
        rows = "".join(f"<tr><td>{_swatch(self.app.colour(i))} {i}</td><td>{100 * f:.2f} %</td>"
                       f"<td>{html.escape(' '.join(quantify.main_elements(ln)))}</td></tr>"
                       for i, (f, ln) in enumerate(zip(fr, lines)))
        rows += f"<tr><td>{_swatch(self.app.colour(-1))} unassigned</td><td>{100 * unassigned:.2f} %</td><td></td></tr>"
        self.table.value = ("<table class='phasedash-modal' style='border-collapse:collapse'><tr><th>phase</th>"
                            f"<th>area %</th><th>main elements</th></tr>{rows}</table>")

    def show_spectra(self):
        s = self.s
        k = s.spectra.sums.shape[0]
        means = np.maximum(s.spectra.means, 1e-3)
        uniq = {ln["line"]: ln for p in s.phase_lines for ln in p[:3]}
        self.spectra.show(s.image.energy_keV, means, colours=[self.app.colour(i) for i in range(k)],
                          labels=[f"phase {i}" for i in range(k)], lines=list(uniq.values()))

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


class ComparePanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.go = W.Button(description="Compare the methods", button_style="primary", icon="columns")
        self.maps = {m: MapView(m, width=300) for m in ("pca-kmeans", "nmf-otsu", "fuzzy-cmeans")}
        self.disagree = MapView("where they disagree", width=300, css="pd-disagree-map")
        self.table = W.HTML()
        self.go.on_click(lambda _: self.app.compare())
        self.result = None
        self.widget = W.VBox([
            guide("<h3>5. Compare</h3>The same map, the same number of phases, three methods. The adjusted Rand "
                  "index (ARI) measures how much two phase maps agree (1: the same partition, 0: chance); on a "
                  "synthetic map it is also measured against the true phases.",
                  ["Where do the methods disagree? Are those pixels mixed, or on grain boundaries?"]),
            self.go, W.HBox([v.figure for v in self.maps.values()]),
            W.HBox([self.disagree.figure, self.table])])

    def show(self, result):
        self.result = result
        maps, agree, acc = result
        k = max(int(lab.max()) + 1 for lab in maps.values())
        for m, lab in maps.items():
            self.maps[m].show(labels_rgb(lab, k, self.app.colours), m)
        stack = np.stack(list(maps.values()))
        differ = (stack != stack[0]).any(0)
        rgb = np.where(differ[..., None], np.array([215, 48, 39], np.uint8), np.array([235, 235, 235], np.uint8))
        self.disagree.show(rgb, f"disagree: {100 * differ.mean():.1f} % of pixels")
        rows = "".join(f"<tr><td>{a} vs {b}</td><td>{v:.3f}</td></tr>" for (a, b), v in agree.items())
        rows += "".join(f"<tr><td>{m} vs truth</td><td>{v:.3f}</td></tr>" for m, v in acc.items() if v is not None)
        self.table.value = f"<table class='phasedash-agreement'><tr><th>pair</th><th>ARI</th></tr>{rows}</table>"


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
                    self.map.figure]),
            W.HBox([self.hist.figure, self.csd.figure]), self.stats])

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
            return
        self.map.show(grains_rgb(g.labels), f"{g.n_grains} grains")
        self.show_stats()

    def show_stats(self):
        from phaselib._grainstats import crystal_size_distribution, size_statistics

        g = self.s.grains
        if g is None:
            return
        if g.n_grains < 3:
            self.stats.value = f"Only {g.n_grains} grain(s): too few for statistics."
            return
        d = np.asarray(g.table()["equivalent_diameter_um"], float)
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            st = size_statistics(d)
        centres = 0.5 * (st.bin_edges[1:] + st.bin_edges[:-1])
        dens = st.counts / (st.counts.sum() * np.diff(st.bin_edges))
        self.hist.show(st.kde_x, [st.kde_y], bars=(centres, dens), markers=[st.kde_peak],
                       title=f"{g.n_grains} grains: KDE peak {st.kde_peak:.3g} um")
        area = float(np.prod(g.labels.shape)) * g.pixel_size ** 2
        grow = self.growth.value if self.growth.value and self.growth.value > 0 else None
        try:
            csd = crystal_size_distribution(d, area, growth_rate=grow)
            ok = np.isfinite(csd.ln_density)
            fit = csd.intercept + csd.slope * csd.sizes
            self.csd.show(csd.sizes, [np.where(ok, csd.ln_density, np.nan), fit],
                          colours=["#1f77b4", "#d62728"], labels=["ln n", "fit"],
                          title=f"slope {csd.slope:.3g} +/- {csd.slope_err:.2g} /um")
            t = csd.residence_time
            tau = "" if t is None else f"; residence time tau = {t:.3g} s = {t / 3.156e7:.3g} yr"
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
        self.stats.value = (f"<b>{g.n_grains} grains</b>: mean {st.mean:.3g} um, median {st.median:.3g}, "
                            f"geometric mean {st.geometric_mean:.3g}, RMS {st.rms_mean:.3g}, SD {st.std:.3g}, "
                            f"IQR {st.iqr:.3g}{tau}{warn}")


class ExportPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.folder = W.Text(value="phasedash-export", description="folder")
        self.export = W.Button(description="Export results", button_style="primary", icon="download")
        self.save = W.Button(description="Save session", icon="save")
        self.reopen = W.FileUpload(accept=".json", description="Reopen session")
        self.links = W.HTML()
        self.export.on_click(lambda _: self.app.export(self.folder.value))
        self.save.on_click(lambda _: self.app.save_session(self.folder.value))
        self.reopen.observe(self.user(lambda ch: ch["new"] and self.app.restore(bytes(ch["new"][0]["content"]))),
                            "value")
        self.widget = W.VBox([
            guide("<h3>7. Export</h3>Write the phase map (PNG, TIFF), the modal table and grain table (CSV), "
                  "the phase spectra (MSA, readable by HyperSpy and vendor software) and a session file that "
                  "reopens this state. Files go to the folder on the server and can be downloaded here."),
            self.folder, W.HBox([self.export, self.save, self.reopen]), self.links])

    def show_files(self, paths):
        links = []
        for p in paths:
            data = base64.b64encode(p.read_bytes()).decode()
            links.append(f"<a download='{html.escape(p.name)}' href='data:application/octet-stream;base64,{data}'>"
                         f"{html.escape(p.name)}</a>")
        self.links.value = "Written: " + " &middot; ".join(links)
