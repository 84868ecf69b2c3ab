"""Bokeh figures of the Panel app: maps as RGBA images, spectra with named lines, small curves.

Each view owns a Bokeh figure and its data sources; ``show(...)`` replaces the data (the
figure is built once per session). Legends sit beside the plots, never over them.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, LabelSet, Legend, Range1d, Span
from bokeh.plotting import figure

from ..plots import phase_colour

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def rgba(rgb):
    """(H, W, 3) uint8 colours -> (H, W) uint32 RGBA, as Bokeh's ``image_rgba`` takes them."""
    rgb = np.asarray(rgb, np.uint8)
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3], out[..., 3] = rgb, 255
    return out.view(np.uint32)[..., 0]


def _quiet(fig):
    fig.toolbar.logo = None
    fig.title.text_font_size = "12px"
    return fig


class MapView:
    """A map (row 0 at the top, one unit per pixel); optional legend of phase colours beside it."""

    def __init__(self, title="", *, width=420, legend=False, on_tap=None):
        self.width, self.shape = width, (1, 1)
        self.source = ColumnDataSource(dict(image=[np.zeros((1, 1), np.uint32)], dw=[1], dh=[1]))
        self.figure = _quiet(figure(title=title, frame_width=width, frame_height=width,
                                    x_range=Range1d(0, 1), y_range=Range1d(1, 0),
                                    tools=TOOLS + (",tap" if on_tap else ""), toolbar_location="above"))
        self.figure.image_rgba(image="image", x=0, y=0, dw="dw", dh="dh", source=self.source)
        self.figure.xaxis.axis_label, self.figure.yaxis.axis_label = "column (px)", "row (px)"
        self.legend_source = None
        if legend:
            self.legend_source = ColumnDataSource(dict(x=[], y=[], colour=[], label=[]))
            self.figure.add_layout(Legend(location="top_left", label_text_font_size="11px"), "right")
            self.figure.scatter("x", "y", source=self.legend_source, color="colour", marker="square", size=12,
                                legend_field="label")
        self.marker = ColumnDataSource(dict(x=[], y=[]))
        self.figure.scatter("x", "y", source=self.marker, marker="cross", size=14, color="red", line_width=2)
        if on_tap is not None:
            from bokeh.events import Tap

            self.figure.on_event(Tap, lambda ev: on_tap(*self.pixel(ev.x, ev.y)))

    def pixel(self, x, y):
        """(row, column) of the pixel at data coordinates ``x, y`` (clipped to the map)."""
        h, w = self.shape
        return int(np.clip(np.floor(y), 0, h - 1)), int(np.clip(np.floor(x), 0, w - 1))

    def show(self, rgb, title=None):
        h, w = rgb.shape[:2]
        if (h, w) != self.shape:
            self.shape = (h, w)
            f = self.figure
            f.x_range.update(start=0, end=w)
            f.y_range.update(start=h, end=0)
            f.frame_height = int(min(max(self.width * h / w, 120), 700))
        self.source.data = dict(image=[rgba(rgb)], dw=[w], dh=[h])
        self.marker.data = dict(x=[], y=[])
        if title is not None:
            self.figure.title.text = title

    def legend(self, labels, colours):
        """One square per phase beside the map (the squares themselves lie off the map)."""
        n = len(labels)
        self.legend_source.data = dict(x=[np.nan] * n, y=[np.nan] * n, colour=list(colours), label=list(labels))

    def mark_pixel(self, row, col):
        self.marker.data = dict(x=[col + 0.5], y=[row + 0.5])


class SpectrumView:
    """Spectra against energy (keV), named element lines marked, one legend entry per spectrum."""

    def __init__(self, title="", *, width=600, height=320, log=True):
        self.log = log
        self.figure = _quiet(figure(title=title, width=width, height=height, tools=TOOLS,
                                    y_axis_type="log" if log else "linear", toolbar_location="above"))
        self.figure.add_layout(Legend(label_text_font_size="11px"), "right")
        self.lines = ColumnDataSource(dict(xs=[], ys=[], colour=[], label=[]))
        self.figure.multi_line("xs", "ys", source=self.lines, color="colour", legend_field="label", line_width=1.3)
        self.ticks = ColumnDataSource(dict(x=[], y0=[], y1=[], name=[]))
        self.figure.segment("x", "y0", "x", "y1", source=self.ticks, color="#888888", line_dash="dashed")
        self.figure.add_layout(LabelSet(x="x", y="y1", text="name", source=self.ticks, angle=np.pi / 2,
                                        text_font_size="10px", text_color="#444444", x_offset=4, text_align="right"))
        self.figure.xaxis.axis_label, self.figure.yaxis.axis_label = "energy (keV)", "counts"

    def show(self, energy, spectra, *, colours=None, labels=None, lines=(), title=None, x_max=None):
        """``spectra``: (C,) or (K, C); ``lines``: dicts with ``line`` and ``energy_keV``."""
        y = np.atleast_2d(np.asarray(spectra, float))
        e = np.asarray(energy, float)
        hi = x_max or float(min(e[-1], 12.0))
        keep = (e >= 0.1) & (e <= hi)
        y = y[:, keep]
        if self.log:
            y = np.maximum(y, max(float(y.max()) * 1e-4, 1e-3) if y.size else 1e-3)
        peak = float(y.max()) if y.size and y.max() > 0 else 1.0
        low = float(y.min()) if y.size else 0.0
        colours = list(colours or ["#1f77b4"] * len(y))
        labels = list(labels or [f"spectrum {i}" for i in range(len(y))])
        self.lines.data = dict(xs=[e[keep]] * len(y), ys=list(y), colour=colours[:len(y)], label=labels[:len(y)])
        named = [ln for ln in lines if 0.1 <= ln["energy_keV"] <= hi]
        self.ticks.data = dict(x=[ln["energy_keV"] for ln in named], y0=[low] * len(named),
                               y1=[peak] * len(named), name=[ln["line"].replace("_", " ") for ln in named])
        if title is not None:
            self.figure.title.text = title


class CurveView:
    """A small x-y plot (the scree plot, histograms) with vertical markers; legend below it."""

    def __init__(self, title="", *, xlabel="", ylabel="", width=420, height=300, log_y=False):
        self.figure = _quiet(figure(title=title, width=width, height=height, tools=TOOLS,
                                    y_axis_type="log" if log_y else "linear", toolbar_location="above"))
        self.figure.add_layout(Legend(orientation="horizontal", label_text_font_size="11px"), "below")
        self.source = ColumnDataSource(dict(xs=[], ys=[], colour=[], label=[]))
        self.figure.multi_line("xs", "ys", source=self.source, color="colour", legend_field="label", line_width=1.5)
        self.points = ColumnDataSource(dict(x=[], y=[]))
        self.figure.scatter("x", "y", source=self.points, size=6)
        self.spans = [Span(dimension="height", line_color="#d62728", line_width=2, line_dash="dotted", location=0,
                           visible=False) for _ in range(3)]  # made now: BokehJS cannot add views later
        for sp in self.spans:
            self.figure.add_layout(sp)
        self.figure.xaxis.axis_label, self.figure.yaxis.axis_label = xlabel, ylabel

    def show(self, x, ys, *, colours=None, labels=None, markers=(), title=None):
        ys = np.atleast_2d(np.asarray(ys, float))
        x = np.asarray(x, float)
        colours = list(colours or ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"])
        labels = list(labels or [""] * len(ys))
        self.source.data = dict(xs=[x] * len(ys), ys=list(ys), colour=colours[:len(ys)], label=labels[:len(ys)])
        self.points.data = dict(x=x, y=ys[0])
        for sp in self.spans:
            sp.visible = False
        for sp, m in zip(self.spans, markers):
            sp.update(location=float(m), visible=True)
        if title is not None:
            self.figure.title.text = title


def phase_legend(labels_max, minerals=(), colours=None):
    """Legend entries and colours of phases ``0..K-1`` and of the unassigned pixels."""
    colours = colours or {}
    names = [getattr(m, "best", "") for m in minerals] if len(minerals) == labels_max else [""] * labels_max
    labels = [f"phase {i}" + (f": {n}" if n else "") for i, n in enumerate(names)] + ["unassigned"]
    cols = [colours.get(i, phase_colour(i)) for i in range(labels_max)] + [phase_colour(-1)]
    return labels, cols
