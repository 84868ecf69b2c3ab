"""Step 3, clustering: k-means / Gaussian mixture / fuzzy c-means, the criteria for the number of
clusters, the score space and the membership maps."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..plots import CurveView, MapView, labels_rgb, scalar_rgb, score_density_rgb
from ..state import CLUSTER_METHODS
from ._base import Panel, guide

ESTIMATE_NOTE = "Press <b>Estimate the number</b> to score 2 to 8 clusters."


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
        self._pair_for = None  # the decomposition the default pair of components was chosen for
        self.scores = MapView("scores, by cluster", width=380, xlabel="score x", ylabel="score y",
                              css="pd-score-space")
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
                   "Which pixels are mixed, and where are they on the map?"],
                  cube=("<h3>3. Clustering</h3>Each pixel is a point in the space of its component scores (of its "
                        "spectrum's shape); pixels of one material gather in one cloud. k-means cuts the space "
                        "into K cells, a Gaussian mixture fits K ellipsoids, fuzzy c-means gives each pixel a "
                        "membership of every cluster: pixels with no membership above the threshold are left "
                        "unassigned (mixed).",
                        ["Where do the criteria agree on the number of clusters?",
                         "Which pixels are mixed: along the edges of the pieces, or in the open beam?"])),
            W.HBox([W.VBox([self.method, self.k, self.threshold, self.estimate_btn, self.unassigned]),
                    self.curves.widget]),
            W.HBox([W.VBox([W.HBox([self.pair_x, self.pair_y]), self.scores.widget]), self.clusters.widget,
                    W.VBox([self.member, self.membership.widget])]),
        ])
        self.curves.wait_for(ESTIMATE_NOTE)

    def refresh(self):
        s = self.s
        # (a shared step restores a copy of the decomposition: it is known by its content, not its identity)
        key = None if s.pca is None else (s.n_components, np.asarray(s.pca.explained_variance).tobytes())
        if s.pca is not None and key != self._pair_for:
            # a new decomposition: the two components whose scores vary most (with Poisson-weighted PCA the
            # first one's score, divided by the pixel's counts, is about the same everywhere: the mean
            # spectrum); a student's own choice stays while only the clusters change
            self._pair_for = key
            opts = list(range(s.n_components))
            spread = np.argsort(-s.features().var(0))
            with self.app.quiet(self.pair_x, self.pair_y):
                self.pair_x.options, self.pair_y.options = opts, opts
                self.pair_x.value = int(min(spread[:2]))
                self.pair_y.value = int(max(spread[:2])) if len(opts) > 1 else 0
        c = s.clustering
        if c is None:
            return
        with self.app.quiet(self.k, self.method, self.threshold):
            self.k.value = c.n_clusters
            self.method.value = {v: k for k, v in CLUSTER_METHODS.items()}[c.method]
            self.threshold.value = s.membership_threshold
        self.threshold.disabled = c.method != "fcm"
        self.unassigned.value = s.unassigned_note()
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
        else:
            self.curves.wait_for(ESTIMATE_NOTE)

    def show_scatter(self):
        s, c = self.s, self.s.clustering
        if c is None or s.pca is None:
            return
        x = s.features()
        i, j = self.pair_x.value or 0, self.pair_y.value or 0
        rgb, extent = score_density_rgb(x[:, i], x[:, j], c.labels, self.app.colours)
        self.scores.show(rgb, f"scores {i} and {j}, by cluster", extent=extent)

    def show_membership(self):
        c = self.s.clustering
        if c is None or c.memberships is None or self.member.value is None:
            self.membership.wait_for("Memberships come with <b>fuzzy c-means</b> or the <b>Gaussian mixture</b>: "
                                     "choose one of them above.")
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
