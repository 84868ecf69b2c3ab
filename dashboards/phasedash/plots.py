"""bqplot views used by the panels: maps as PNG images, spectra with line markers, curves."""

from __future__ import annotations

import html
import io

import bqplot as bq
import ipywidgets as W
import numpy as np
from PIL import Image as _PIL

from phaselib.render import PHASE_COLOURS, UNASSIGNED_COLOUR

# viridis at 9 stops, interpolated into a 256-entry table (no matplotlib needed)
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], float)
VIRIDIS = np.stack([np.interp(np.linspace(0, 8, 256), np.arange(9), _VIRIDIS[:, i]) for i in range(3)],
                   -1).astype(np.uint8)


def rounded(value, digits=3) -> str:
    """A number for people: ``digits`` significant digits (``0.0372`` not ``0.037234567891234``), ``?`` if None."""
    return "?" if value is None else f"{float(value):.{digits}g}"


class _Note:
    """A view that shows a short note in its place until it has something to draw ("press ... to
    compute"), never an empty image with 0-1 axes or a flat line; and a legend below the plot, where it
    covers nothing. ``view.widget`` is what a panel lays out."""

    def _wrap(self, legend=False):
        lay = self.figure.layout
        # the note lies over the figure, in the same place, and the figure is hidden under it, never taken
        # out of the layout (display: none): bqplot draws a figure shown at 0 x 0 px with sizes of 0 less its
        # margins, six console errors ("<rect> attribute width: A negative value") for each waiting plot
        self.note = W.HTML(layout=W.Layout(width=lay.width, height=lay.height, display="none", grid_area="1 / 1"))
        self.note.add_class("pd-note")
        self.frame = W.Box([self.figure], layout=W.Layout(grid_area="1 / 1", overflow="visible"))
        self.legend = W.HTML(layout=W.Layout(width=lay.width))
        plot = W.GridBox([self.frame, self.note], layout=W.Layout(overflow="visible"))
        self.widget = W.VBox([plot] + ([self.legend] if legend else []))

    def wait_for(self, html_text):
        """Show ``html_text`` (e.g. "Press <b>Compare</b> to compute.") instead of the plot."""
        self.note.value = ("<div style='height:100%;display:flex;align-items:center;justify-content:center;"
                           "text-align:center;padding:0 24px;box-sizing:border-box;border:1px dashed #bbb;"
                           f"color:#555;background:#fafafa'><span>{html_text}</span></div>")
        self.note.layout.display, self.frame.layout.visibility = "", "hidden"
        self.legend.value = ""

    @property
    def waiting(self) -> bool:
        return self.note.layout.display != "none"

    def _drawn(self):
        if self.note.layout.display != "none":
            self.note.layout.display, self.frame.layout.visibility = "none", None

    def _legend(self, labels, colours):
        items = "".join(f"<span style='margin-right:12px;white-space:nowrap'><span style='display:inline-block;"
                        f"width:14px;height:3px;vertical-align:middle;background:{c}'></span> {html.escape(str(t))}"
                        "</span>" for t, c in zip(labels or [], colours or []))
        self.legend.value = f"<div class='pd-legend' style='font-size:12px;color:#333'>{items}</div>" if items else ""


def phase_colour(i) -> str:
    """The fixed colour of phase ``i`` (``-1``: unassigned), shared by every view."""
    return UNASSIGNED_COLOUR if i < 0 else PHASE_COLOURS[i % len(PHASE_COLOURS)]


def _rgb(hexes):
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)


def png(rgb) -> bytes:
    buf = io.BytesIO()
    _PIL.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def scalar_rgb(values, low=None, high=None):
    """(H, W) values -> (H, W, 3) viridis colours (2nd-98th percentile stretch by default)."""
    v = np.asarray(values, np.float32)
    finite = v[np.isfinite(v)]
    lo = float(np.percentile(finite, 2)) if low is None and finite.size else (low or 0.0)
    hi = float(np.percentile(finite, 98)) if high is None and finite.size else (high or 1.0)
    idx = np.clip((v - lo) / (hi - lo if hi > lo else 1.0) * 255, 0, 255)
    return VIRIDIS[np.nan_to_num(idx).astype(np.uint8)]


def labels_rgb(labels, n_phases=None, colours=None):
    """(H, W) phase labels (-1 unassigned) -> (H, W, 3) in the fixed phase colours."""
    lab = np.asarray(labels)
    k = int(lab.max()) + 1 if n_phases is None else int(n_phases)
    table = _rgb([UNASSIGNED_COLOUR] + [(colours or {}).get(i, phase_colour(i)) for i in range(max(k, 1))])
    return table[np.clip(lab.astype(np.int64) + 1, 0, len(table) - 1)]


def score_density_rgb(x, y, labels, colours=None, bins=None):
    """Every pixel's scores on two components as one image: a 2-D histogram whose bins take the colour
    of their most frequent cluster, paler where fewer pixels fall (log scale), white where none.

    A scatter of thousands of SVG points costs each browser ~0.6 CPU-s to draw (a class's browsers
    share a server's cores in our measurements); one image of ``bins`` x ``bins`` shows all pixels.

    ``bins`` per axis: by default 0.7 sqrt(pixels) within 48-128 (a small map's points would be specks).

    Returns
    -------
    rgb : (bins, bins, 3) uint8, row 0 at the highest ``y``
    extent : (x0, x1, y0, y1), the scores' range: 0.5th-99.5th percentile, widened to hold the 5th-95th
        percentile of every cluster, plus 5 %
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    lab = np.asarray(labels, np.int64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, lab = x[ok], y[ok], lab[ok]
    bins = int(np.clip(0.7 * np.sqrt(x.size), 48, 128)) if bins is None else int(bins)
    if x.size == 0:
        return np.full((bins, bins, 3), 255, np.uint8), (0.0, 1.0, 0.0, 1.0)

    step = max(1, x.size // 200_000)  # the range from a sample of a big map; the picture from every pixel
    sub = lab[::step]

    def span(v):  # the bulk of the pixels and the core of every cluster, however small
        v = v[::step]
        lo, hi = np.percentile(v, [0.5, 99.5])
        for i in np.unique(sub):
            c_lo, c_hi = np.percentile(v[sub == i], [5, 95])
            lo, hi = min(lo, c_lo), max(hi, c_hi)
        pad = 0.05 * (hi - lo) or 0.5
        return float(lo - pad), float(hi + pad)

    (x0, x1), (y0, y1) = span(x), span(y)
    fx, fy = (x - x0) / (x1 - x0) * bins, (y1 - y) / (y1 - y0) * bins  # row 0: highest y
    inside = (fx >= 0) & (fx < bins) & (fy >= 0) & (fy < bins)  # outliers left out, not piled on the edges
    ix, iy = fx[inside].astype(np.int64), fy[inside].astype(np.int64)
    k = int(lab.max()) + 2  # column 0: unassigned (-1)
    counts = np.bincount((iy * bins + ix) * k + lab[inside] + 1, minlength=bins * bins * k).reshape(-1, k)
    total = counts.sum(1)
    table = _rgb([UNASSIGNED_COLOUR] + [(colours or {}).get(i, phase_colour(i)) for i in range(k - 1)])
    colour = table[counts.argmax(1)].astype(float)
    strength = np.log1p(total) / np.log1p(max(int(total.max()), 1))
    alpha = np.where(total > 0, 0.35 + 0.65 * strength, 0.0)[:, None]
    rgb = 255 * (1 - alpha) + colour * alpha
    return rgb.reshape(bins, bins, 3).round().astype(np.uint8), (x0, x1, y0, y1)


def grains_rgb(grain_labels, seed=0):
    """Grain ids (0 background) -> random but stable colours."""
    g = np.asarray(grain_labels)
    table = np.random.default_rng(seed).integers(40, 230, (int(g.max()) + 1, 3)).astype(np.uint8)
    table[0] = 255
    return table[g]


class MapView(_Note):
    """A map shown as a PNG image in a bqplot figure, clickable and with a rectangle brush."""

    def __init__(self, title="", *, width=360, brush=False, on_click=None, on_brush=None, css=None,
                 xlabel="column", ylabel="row"):
        self.shape = (1, 1)
        self.xs, self.ys = bq.LinearScale(min=0, max=1), bq.LinearScale(min=1, max=0)
        blank = png(np.zeros((1, 1, 3), np.uint8))
        self._pictures = [W.Image(value=blank, format="png"), W.Image(value=blank, format="png")]
        self.picture = self._pictures[0]
        self.mark = bq.Image(image=self.picture, scales={"x": self.xs, "y": self.ys}, x=[0, 1], y=[0, 1])
        self.mark.pixelated = True
        self.marker = bq.Scatter(x=[], y=[], scales={"x": self.xs, "y": self.ys}, colors=["red"],
                                 marker="cross", default_size=60)
        ax = [bq.Axis(scale=self.xs, label=xlabel, num_ticks=4),
              bq.Axis(scale=self.ys, side="left", label=ylabel, num_ticks=4)]
        self.figure = bq.Figure(marks=[self.mark, self.marker], axes=ax, title=title,
                                fig_margin=dict(top=30, bottom=35, left=45, right=10),
                                layout=W.Layout(width=f"{width}px", height=f"{int(width * 0.85)}px"),
                                padding_x=0, padding_y=0)
        if css:
            self.figure.add_class(css)
        self._wrap()
        if on_click is not None:
            self.mark.on_element_click(lambda _, ev: on_click(*self._pixel(ev["data"])))
        if brush:  # off until set_mode("rectangle"): a brush on the figure takes the clicks
            self.brush = bq.interacts.BrushSelector(x_scale=self.xs, y_scale=self.ys, color="red")
            if on_brush is not None:
                self.brush.observe(lambda ch: self._brushed(on_brush), "brushing")

    def set_mode(self, mode):
        """``"pixel"``: clicks pick a pixel; ``"rectangle"``: dragging draws a rectangle."""
        self.figure.interaction = self.brush if mode == "rectangle" else None

    def clear_selection(self):
        """Take away the rectangle drawn (it belongs to the map shown before)."""
        if getattr(self, "brush", None) is not None:
            self.brush.selected_x = self.brush.selected_y = None

    def _pixel(self, data):
        h, w = self.shape
        return int(np.clip(data["click_y"], 0, h - 1)), int(np.clip(data["click_x"], 0, w - 1))

    def _brushed(self, callback):
        if self.brush.brushing or self.brush.selected_x is None or self.brush.selected_y is None:
            return
        (x0, x1), (y0, y1) = sorted(self.brush.selected_x), sorted(self.brush.selected_y)
        callback(int(round(y0)), int(round(y1)), int(round(x0)), int(round(x1)))

    def show(self, rgb, title=None, extent=None):
        """Draw ``rgb`` (H, W, 3); ``extent=(x0, x1, y0, y1)`` places it on data axes (row 0 at ``y1``)
        instead of pixel columns and rows."""
        self._drawn()
        h, w = rgb.shape[:2]
        with self.mark.hold_sync():
            if extent is not None:
                self.shape = (-1, -1)  # not a map: the next map resets the pixel axes
                x0, x1, y0, y1 = (float(v) for v in extent)
                self.xs.min, self.xs.max, self.ys.min, self.ys.max = x0, x1, y0, y1
                self.mark.x, self.mark.y = [x0, x1], [y0, y1]
            elif (h, w) != self.shape:
                self.shape = (h, w)
                self.xs.min, self.xs.max = 0, w
                self.ys.min, self.ys.max = h, 0
                self.mark.x, self.mark.y = [0, w], [h, 0]
            # bqplot's Image view redraws when its `image` widget is replaced, not when that
            # widget's value changes: fill the other of two pictures, then point the mark at it.
            self.picture = self._pictures[1] if self.picture is self._pictures[0] else self._pictures[0]
            self.picture.value = png(rgb)
            self.mark.image = self.picture
        if title is not None:
            self.figure.title = title

    def mark_pixel(self, row, col):
        self.marker.x, self.marker.y = [col + 0.5], [row + 0.5]


def axis_labels(image):
    """``SpectrumView.show`` keywords for a map's signal axis: none for EDS, else its name, units and kind."""
    if image is None or image.is_eds:
        return {}
    return dict(x_label=image.axis_label, y_label=image.signal)


class SpectrumView(_Note):
    """Spectra against energy with labelled element-line markers."""

    def __init__(self, title="", *, width=560, height=300, log=False):
        self.xs = bq.LinearScale()
        self.ys = bq.LogScale() if log else bq.LinearScale(min=0)
        sc = {"x": self.xs, "y": self.ys}
        self.lines = bq.Lines(x=[0, 1], y=[[1, 1]], scales=sc, stroke_width=1.2, colors=["#1f77b4"])
        self.ticks = bq.Lines(x=[], y=[], scales=sc, colors=["#888888"], stroke_width=0.8, line_style="dashed")
        self.names = bq.Label(x=[], y=[], text=[], scales=sc, font_weight="normal", default_size=11,
                              colors=["#444444"], rotate_angle=-90, align="end")
        ax = [bq.Axis(scale=self.xs, label="energy (keV)"),
              bq.Axis(scale=self.ys, side="left", label="counts", tick_format=".2s")]
        self.figure = bq.Figure(marks=[self.lines, self.ticks, self.names], axes=ax, title=title,
                                fig_margin=dict(top=30, bottom=40, left=55, right=10),
                                layout=W.Layout(width=f"{width}px", height=f"{height}px"))
        self._wrap(legend=True)

    def show(self, energy, spectra, colours=None, lines=(), labels=None, title=None, x_max=None, x_label=None,
             y_label=None):
        """``spectra``: (C,) or (K, C); ``lines``: dicts with ``line`` and ``energy_keV``. ``x_label``: another
        signal axis than the X-ray energy (:func:`axis_labels`), shown whole."""
        y = np.atleast_2d(np.asarray(spectra, float))
        e = np.asarray(energy, float)
        hi = x_max or (float(e[-1]) if x_label else float(min(e[-1], 12.0)))
        lo = float(e[0]) if x_label else 0.1
        keep = (e >= lo) & (e <= hi)
        self.figure.axes[0].label, self.figure.axes[1].label = x_label or "energy (keV)", y_label or "counts"
        y = y[:, keep]
        peak = float(y.max()) if y.size and y.max() > 0 else 1.0
        log = isinstance(self.ys, bq.LogScale)
        low = float(max(y[y > 0].min(), peak * 1e-4)) if log and (y > 0).any() else 0.0
        # headroom above the highest peak for the line names, written downwards from the top: a name
        # written upwards from the peak runs out of the plot and shows only its first letter
        top = peak * (peak / low) ** 0.3 if log and low > 0 else peak * 1.3
        self._drawn()
        with self.lines.hold_sync(), self.ticks.hold_sync(), self.names.hold_sync():
            self.lines.x, self.lines.y = e[keep], y
            self.lines.colors = list(colours) if colours else ["#1f77b4"]
            self.lines.labels = list(labels) if labels else []
            self._legend(labels if labels and len(labels) > 1 else [], self.lines.colors)
            self.xs.min, self.xs.max = lo, hi
            named = [ln for ln in lines if lo <= ln["energy_keV"] <= hi]
            self.ticks.x = [[ln["energy_keV"]] * 2 for ln in named] or []
            self.ticks.y = [[low, peak] for _ in named] or []
            self.names.x = [ln["energy_keV"] for ln in named]
            self.names.y = [top * (0.97 if not log else 1.0)] * len(named)
            self.ys.max = top
            self.names.text = [ln["line"].replace("_", " ") for ln in named]
        if title is not None:
            self.figure.title = title


class CurveView(_Note):
    """A small x-y plot (scree, histogram, estimate curves, CSD) with optional vertical markers."""

    def __init__(self, title="", *, xlabel="", ylabel="", width=360, height=260, log_y=False, bars=False,
                 x_format=".3g"):
        self.xs = bq.LinearScale()
        self.ys = bq.LogScale() if log_y else bq.LinearScale()
        sc = {"x": self.xs, "y": self.ys}
        self.bars = bq.Bars(x=[], y=[], scales=sc, colors=["#9ecae1"], padding=0.05) if bars else None
        # a placeholder above 0: on a log scale, 0 is placed at NaN (7 console errors when first drawn)
        self.lines = bq.Lines(x=[0, 1], y=[[1, 1]], scales=sc, marker="circle", marker_size=16,
                              colors=["#1f77b4"])
        self.vlines = bq.Lines(x=[], y=[], scales=sc, colors=["#d62728"], stroke_width=2)
        marks = ([self.bars] if self.bars else []) + [self.lines, self.vlines]
        self.y_axis = bq.Axis(scale=self.ys, side="left", label=ylabel, tick_format=".3g")
        ax = [bq.Axis(scale=self.xs, label=xlabel, tick_format=x_format), self.y_axis]
        self.figure = bq.Figure(marks=marks, axes=ax, title=title,
                                fig_margin=dict(top=30, bottom=40, left=55, right=10),
                                layout=W.Layout(width=f"{width}px", height=f"{height}px"))
        self._wrap(legend=True)

    def set_log(self, log):
        scale = bq.LogScale() if log else bq.LinearScale()
        for m in [self.lines, self.vlines] + ([self.bars] if self.bars else []):
            m.scales = {**m.scales, "y": scale}
        self.ys = self.y_axis.scale = scale

    def show(self, x, ys, *, colours=None, labels=None, bars=None, markers=None, marker_colours=None,
             title=None):
        self._drawn()
        ys = np.atleast_2d(np.asarray(ys, float))
        with self.lines.hold_sync():
            self.lines.x, self.lines.y = np.asarray(x, float), ys
            self.lines.colors = list(colours or ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"])
            self.lines.labels = list(labels or [])
            self._legend(labels, self.lines.colors)
        if self.bars is not None and bars is not None:
            bx, by = bars
            self.bars.x, self.bars.y = np.asarray(bx, float), np.asarray(by, float)
        lo = float(np.nanmin(ys)) if ys.size else 0.0
        hi = float(np.nanmax(ys)) if ys.size else 1.0
        if self.bars is not None and bars is not None and len(bars[1]):
            lo, hi = min(lo, 0.0), max(hi, float(np.max(bars[1])))
        markers = list(markers or [])
        with self.vlines.hold_sync():
            self.vlines.x = [[m, m] for m in markers] or []
            self.vlines.y = [[lo, hi] for _ in markers] or []
            if markers:
                self.vlines.colors = list(marker_colours or ["#d62728"] * len(markers))
        if title is not None:
            self.figure.title = title
