"""Step 5, compare: three methods on the same map, renumbered to match (Session.compare), where they
disagree, and their ARI."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..plots import MapView, labels_rgb
from ._base import Panel, guide


class ComparePanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.go = W.Button(description="Compare the methods", button_style="primary", icon="columns")
        self.maps = {m: MapView(m, width=300) for m in ("pca-kmeans", "nmf-otsu", "fuzzy-cmeans")}
        self.disagree = MapView("where they disagree", width=300, css="pd-disagree-map")
        self.supervised = MapView("supervised (Label step)", width=300, css="pd-compare-supervised")
        self.prior = MapView("phase map (spatial prior)", width=300, css="pd-compare-prior")
        self.table = W.HTML()
        self.go.on_click(lambda _: self.app.compare())
        self.result = None
        self.beside = W.HBox([self.disagree.widget, self.supervised.widget, self.table])
        self.refresh()
        self.widget = W.VBox([
            guide("<h3>5. Compare</h3>The same map, the same number of phases, three methods (a cube of intensities: "
                  "gmm in place of nmf-otsu, whose NMF assumes counts). The adjusted Rand "
                  "index (ARI) measures how much two phase maps agree (1: the same partition, 0: chance); on a "
                  "synthetic map it is also measured against the true phases. The three methods cluster each pixel "
                  "on its own; when the phase map step uses the spatial prior, its map is shown beside them.",
                  ["Where do the methods disagree? Are those pixels mixed, or on grain boundaries?"]),
            self.go, W.HBox([v.widget for v in self.maps.values()]),
            self.beside])

    def refresh(self):
        """A new map or new clusters: the comparison made before no longer applies."""
        self.result = None
        for v in [*self.maps.values(), self.disagree, self.supervised, self.prior]:
            v.wait_for("Press <b>Compare the methods</b> to compute.")
        self._show_prior(False)  # shown beside the methods when the phase map is the prior's
        self.table.value = ""

    def _show_prior(self, on):
        """Put the spatial prior's map in the row, or take it out: a plot hidden (display: none) when its
        tab is first shown is drawn at 0 x 0 px by bqplot, six console errors of negative sizes."""
        self.prior.widget.layout.display = "" if on else "none"
        row = [self.disagree.widget, self.supervised.widget, self.table]
        self.beside.children = row[:1] + [self.prior.widget] + row[1:] if on else row

    def show(self, result):
        self.result = result
        maps, agree, acc = result
        k = max(int(lab.max()) + 1 for lab in maps.values())
        for view, (m, lab) in zip(self.maps.values(), maps.items()):  # an intensity cube: gmm in nmf-otsu's place
            view.show(labels_rgb(lab, k, self.app.colours), m)
        stack = np.stack(list(maps.values()))
        differ = (stack != stack[0]).any(0)
        rgb = np.where(differ[..., None], np.array([215, 48, 39], np.uint8), np.array([235, 235, 235], np.uint8))
        self.disagree.show(rgb, f"disagree: {100 * differ.mean():.1f} % of pixels")
        rows = "".join(f"<tr><td>{a} vs {b}</td><td>{v:.3f}</td></tr>" for (a, b), v in agree.items())
        rows += "".join(f"<tr><td>{m} vs truth</td><td>{v:.3f}</td></tr>" for m, v in acc.items() if v is not None)
        rows += self._prior(maps, k) + self._supervised(maps, k)
        self.table.value = f"<table class='phasedash-agreement'><tr><th>pair</th><th>ARI</th></tr>{rows}</table>"

    def _prior(self, maps, k):
        """The phase map step's spatial-prior map beside the per-pixel methods (they use no prior: at low counts the
        prior is what tells the phases apart); its ARI rows. Hidden when the phase map is not the prior's."""
        s, ref = self.s, next(iter(maps.values()))
        if s.phase_source != "spatial" or s.labels is None or s.labels.shape != ref.shape:
            self._show_prior(False)
            return ""
        self._show_prior(True)
        return self._beside(self.prior, s.labels, maps, k, f"spatial prior (beta {s.beta:g})")

    def _beside(self, view, labels, maps, k, name):
        """Show ``labels`` renumbered to match the first method's map; its ARI rows against it and the truth."""
        from phaselib.compare import adjusted_rand, match_labels

        first, ref = next(iter(maps.items()))
        lab = match_labels(labels, ref)
        view.show(labels_rgb(lab, max(k, int(lab.max()) + 1), self.app.colours), name)
        acc = self.s.accuracy(lab)
        return (f"<tr><td>{name} vs {first}</td><td>{adjusted_rand(lab, ref):.3f}</td></tr>"
                + ("" if acc is None else f"<tr><td>{name} vs truth</td><td>{acc:.3f}</td></tr>"))

    def _supervised(self, maps, k):
        """The Label step's map beside the unsupervised ones (renumbered to match the first); its ARI rows."""
        sup = self.s.supervised
        if sup is None or sup[0].labels.shape != next(iter(maps.values())).shape:
            self.supervised.wait_for("Train a classifier in the <b>Label</b> step to see it here.")
            return ""
        return self._beside(self.supervised, sup[0].labels, maps, k, f"supervised ({sup[0].classifier})")
