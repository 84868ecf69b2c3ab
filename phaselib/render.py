"""Rendering of phase maps: the fixed phase colours (shared by the PNG, the dashboards and the
figures) and the PNG writer (Pillow; matplotlib is not needed)."""

from __future__ import annotations

import numpy as np

__all__ = ["PHASE_COLOURS", "UNASSIGNED_COLOUR", "phase_colours_rgb", "save_phase_map_png"]

#: colours of phases 0, 1, ... (Okabe-Ito then tab10-like); unassigned is grey
PHASE_COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#e377c2",
)
UNASSIGNED_COLOUR = "#d9d9d9"


def phase_colours_rgb(n_phases):
    """(n_phases + 1, 3) uint8 colours: index 0 is "unassigned", then phase 0, 1, ..."""
    hexes = [UNASSIGNED_COLOUR] + [PHASE_COLOURS[i % len(PHASE_COLOURS)] for i in range(n_phases)]
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)


def save_phase_map_png(labels, path, *, n_phases=None, names=None):
    """Save a label map as a PNG in the fixed phase colours, with a legend (Pillow).

    The map is scaled up by a whole factor (nearest neighbour) so that small maps
    stay readable; matplotlib is not needed.
    """
    from PIL import Image, ImageDraw

    k = int(labels.max()) + 1 if n_phases is None else n_phases
    rgb = phase_colours_rgb(k)[np.clip(labels.astype(np.int64) + 1, 0, k)]
    h, w = labels.shape
    zoom = max(1, 400 // max(h, w))
    img = Image.fromarray(rgb).resize((w * zoom, h * zoom), Image.NEAREST)
    # a name that says nothing after its number ("0: ", a cube's phase with no elements) is "phase 0"
    entries = [(names[i] if names and names[i].split(":", 1)[-1].strip() else f"phase {i}", i + 1) for i in range(k)]
    if (labels < 0).any():
        entries.append(("unassigned", 0))
    row = 14
    canvas = Image.new("RGB", (img.width + 220, max(img.height, row * len(entries) + 8)), "white")
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    colours = phase_colours_rgb(k)
    for j, (text, idx) in enumerate(entries):
        y = 4 + j * row
        draw.rectangle([img.width + 8, y, img.width + 18, y + 10], fill=tuple(int(v) for v in colours[idx]))
        draw.text((img.width + 24, y - 1), text[:32], fill="black")
    canvas.save(path)
