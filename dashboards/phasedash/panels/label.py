"""Step "Label": paint a few pixels of each phase, train a classifier (phaselib.classify), see the
map, the cross-validated confusion matrix and the per-class scores."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from phaselib.classify import CLASSIFIERS, DEFAULT_CLASSIFIER, default_classifier

from ..plots import MapView, labels_rgb, phase_colour
from ..training import train
from ._base import Panel, guide


class LabelPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.cls = W.Dropdown(description="paint class", layout=W.Layout(width="230px"))
        self.cls.add_class("pd-label-class")
        self.name = W.Text(description="its name", layout=W.Layout(width="230px"), continuous_update=False)
        self.add = W.Button(description="Add a class", icon="plus")
        self.mode = W.ToggleButtons(options=[("paint dots", "pixel"), ("paint rectangles", "rectangle")])
        self.radius = W.IntSlider(value=1, min=0, max=5, description="dot radius", continuous_update=False)
        self.clear = W.Button(description="Clear the labels", icon="eraser")
        self.classifier = W.ToggleButtons(options=list(CLASSIFIERS), value=DEFAULT_CLASSIFIER,
                                          description="classifier")
        self.go = W.Button(description="Train and classify", button_style="primary", icon="graduation-cap")
        self.go.add_class("pd-label-train")
        self.canvas = MapView("paint here (counts per pixel)", width=420, brush=True, on_click=self.clicked,
                              on_brush=self.brushed, css="pd-label-paint")
        self.map = MapView("classified", width=420, css="pd-label-map")
        self.count = W.HTML()
        self.scores = W.HTML()
        self.scores.add_class("pd-label-scores")
        self.add.on_click(lambda _: self._add_class())
        self.name.observe(self.user(lambda ch: self._rename(ch["new"])), "value")
        self.cls.observe(self.user(lambda ch: self._show_name()), "value")
        self.mode.observe(lambda ch: self.canvas.set_mode(ch["new"]), "value")
        self.clear.on_click(lambda _: self._clear())
        self.go.on_click(lambda _: self.train())
        self.widget = W.VBox([
            guide("<h3>Label</h3>When clustering cannot tell phases apart (a few counts per pixel, similar "
                  "minerals), tell it: pick a class, paint a few pixels of that phase on the map (click for a dot, "
                  "or drag rectangles), do the same for every phase, then train. Every pixel gets a class; the "
                  "confusion matrix and the scores come from cross-validation on your painted pixels (each fold "
                  "predicts pixels it was not trained on).",
                  ["How few pixels per phase are enough? Which phases does the confusion matrix mix up?",
                   "Do poisson, knn and rf agree? Where do they differ from the unsupervised map?"]),
            W.HBox([self.cls, self.name, self.add]), W.HBox([self.mode, self.radius, self.clear]),
            W.HBox([self.classifier, self.go]), self.count,
            W.HBox([self.canvas.widget, self.map.widget]), self.scores])
        self.refresh()

    # ------------------------------------------------------------ painting
    def _ensure(self):
        s = self.s
        if s.image is None:
            return False
        if s.paint is None or s.paint.shape != s.image.shape[:2]:  # a new map or a crop: start afresh
            with s.hold_trait_notifications():
                s.paint = np.full(s.image.shape[:2], -1, np.int16)
                s.label_names = list(s.label_names or ["class 0", "class 1"])
                s.supervised = None
        return True

    def paint(self, rows, cols):
        """Give the pixels ``(rows, cols)`` (arrays or slices) the selected class, and redraw."""
        if not self._ensure():
            return
        paint = self.s.paint.copy()
        paint[rows, cols] = self.cls.value
        self.s.paint = paint
        self.draw_canvas()

    def clicked(self, row, col):
        r = self.radius.value
        h, w = self.s.image.shape[:2]
        yy, xx = np.mgrid[max(0, row - r):min(h, row + r + 1), max(0, col - r):min(w, col + r + 1)]
        disc = (yy - row) ** 2 + (xx - col) ** 2 <= r * r
        self.paint(yy[disc], xx[disc])

    def brushed(self, r0, r1, c0, c1):
        """Paint the pixels inside a dragged rectangle of pixel edges (as the data step reads it: ``[r0:r1]``; one
        more row and column were painted), one pixel at least."""
        r0, c0 = max(r0, 0), max(c0, 0)
        self.paint(slice(r0, max(r1, r0 + 1)), slice(c0, max(c1, c0 + 1)))

    def _no_map(self):
        """True (and the page says so) when there is no map to paint classes on."""
        if self._ensure():
            return False
        self.app.runner.error("Load a map first: classes are painted on its pixels.")
        return True

    def _add_class(self):
        if self._no_map():
            return
        self.s.label_names = [*self.s.label_names, f"class {len(self.s.label_names)}"]
        self._options(len(self.s.label_names) - 1)

    def _rename(self, name):
        if self._no_map() or self.cls.value is None:
            return
        names = list(self.s.label_names)
        names[self.cls.value] = name.strip() or f"class {self.cls.value}"
        self.s.label_names = names
        self._options(self.cls.value)

    def _clear(self):
        if self._ensure():
            self.s.paint = np.full(self.s.image.shape[:2], -1, np.int16)
            self.draw_canvas()

    def _options(self, value):
        with self.app.quiet():
            self.cls.options = [(f"{i}: {n}", i) for i, n in enumerate(self.s.label_names)]
            self.cls.value = value
        self._show_name()
        self.draw_canvas()

    def _show_name(self):
        with self.app.quiet():
            self.name.value = self.s.label_names[self.cls.value] if self.cls.value is not None else ""

    # ------------------------------------------------------------ views
    def draw_canvas(self):
        s = self.s
        b = np.asarray(s.brightness, np.float32)
        lo, hi = np.percentile(b, [2, 98])
        grey = (np.clip((b - lo) / (hi - lo if hi > lo else 1), 0, 1) * 200 + 30).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, -1)
        painted = s.paint >= 0
        if painted.any():
            rgb[painted] = labels_rgb(s.paint, len(s.label_names), self.app.colours)[painted]
        self.canvas.show(rgb)
        counts = np.bincount(s.paint[painted], minlength=len(s.label_names))
        self.count.value = (f"<span class='pd-label-count'>{int(painted.sum())} pixels painted: "
                            + ", ".join(f"{html.escape(n)} {c}" for n, c in zip(s.label_names, counts)) + "</span>")

    def refresh(self):
        """A new map (or a restored session): the canvas, and the last result if it still applies."""
        if not self._ensure():
            self.canvas.wait_for("Load a map first.")
            return
        counts = self.s.image.is_counts  # the poisson classifier assumes counts: not for an intensity cube
        keep = self.classifier.value if counts or self.classifier.value != "poisson" else None
        with self.app.quiet():
            self.classifier.options = [c for c in CLASSIFIERS if counts or c != "poisson"]
            self.classifier.value = keep or default_classifier(self.s.image)
        self._options(min(self.cls.value or 0, len(self.s.label_names) - 1))
        if self.s.supervised is None:
            self.map.wait_for("Paint pixels of two classes or more, then press <b>Train and classify</b>.")
            self.scores.value = ""
        else:
            self.show(self.s.supervised[0])

    def train(self):
        return self.app.runner.run("label", lambda: train(self.s, self.classifier.value), self.show,
                                   f"training {self.classifier.value}")

    def show(self, result):
        used = self.s.supervised[1]
        colours = {j: self.app.colour(c) for j, c in enumerate(used)}
        self.map.show(labels_rgb(result.labels, result.n_classes, colours),
                      f"{result.classifier}: {result.n_classes} classes")
        names = [html.escape(n) for n in result.classes]
        sw = [f"<span style='color:{colours.get(j, phase_colour(j))}'>&#9632;</span> {n}" for j, n in enumerate(names)]
        if result.confusion is None:
            cm = "<p>Too few painted pixels in a class for cross-validation (two or more each).</p>"
        else:
            head = "".join(f"<th>{n}</th>" for n in names)
            body = "".join(f"<tr><th>{sw[i]}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
                           for i, row in enumerate(result.confusion))
            step = result.params.get("n_iter_used")
            kept = "" if step is None else (f"; EM steps kept: {step} of {result.params['n_iter']}, the number "
                                            "whose folds scored best")
            cm = (f"<table class='pd-confusion'><tr><th>painted \\ predicted</th>{head}</tr>{body}</table>"
                  f"<p>balanced accuracy (cross-validated): {result.balanced_accuracy:.3f}{kept}</p>")
        rows = "".join(f"<tr><td>{sw[r['cls']]}</td><td>{r['n_labelled']}</td><td>{100 * r['fraction']:.1f} %</td>"
                       f"<td>{_f(r['precision'])}</td><td>{_f(r['recall'])}</td><td>{_f(r['f1'])}</td></tr>"
                       for r in result.scores())
        t = result.timings
        self.scores.value = (f"<h4>Confusion matrix (painted pixels, {result.params['n_folds']}-fold)</h4>{cm}"
                             "<table class='pd-class-scores'><tr><th>class</th><th>painted</th><th>of map</th>"
                             f"<th>precision</th><th>recall</th><th>F1</th></tr>{rows}</table>"
                             f"<p style='color:#555'>fit + predict {t['features'] + t['fit_predict']:.2f} s, "
                             f"cross-validation {t['cv']:.2f} s</p>")


def _f(v):
    return "–" if v is None else f"{v:.2f}"
