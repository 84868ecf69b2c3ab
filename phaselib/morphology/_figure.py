"""The figure of ``python -m phaselib grains``: one row per phase, the size distribution and the CSD,
drawn with matplotlib when it is installed, else with Pillow (the statistics need neither)."""

from __future__ import annotations

import numpy as np


def save_figure(panels, path, unit="um"):
    """One row per phase: size distribution and CSD, sizes in ``unit`` ("um", or "px" when the pixel size is
    unknown). matplotlib if installed, else Pillow."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return _pillow_figure(panels, path, unit=unit)
    from ._plots import plot_csd, plot_size_distribution

    fig = Figure(figsize=(10, 3.6 * len(panels)), layout="tight")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for (p, stats, csd), (a, b) in zip(panels, axes):
        plot_size_distribution(stats, ax=a, unit=unit)
        a.set_title(f"phase {p}: {a.get_title()}")
        if csd is not None:
            plot_csd(csd, ax=b, unit=unit)
            b.set_title(f"phase {p}: CSD (2-D section sizes)")
    fig.savefig(path, dpi=90)
    return path


def _pillow_figure(panels, path, width=420, height=260, unit="um"):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (2 * width, height * len(panels)), "white")
    draw = ImageDraw.Draw(img)
    for row, (p, stats, csd) in enumerate(panels):
        y0 = row * height
        e, c = stats.bin_edges, stats.counts
        dens = c / (c.sum() * np.diff(e))
        box = _axes_box(draw, 0, y0, width, height, f"phase {p}: {stats.n} grains, diameter ({unit})",
                        (e[0], e[-1]), (0, max(dens.max(), stats.kde_y.max())))
        for left, right, v in zip(e[:-1], e[1:], dens):
            (xa, ya), (xb, yb) = box(left, v), box(right, 0)
            draw.rectangle([xa, ya, xb, yb], fill=(128, 65, 157), outline=(197, 159, 215))
        draw.line([box(x, y) for x, y in zip(stats.kde_x, stats.kde_y)], fill=(47, 72, 88), width=2)
        for x, colour in ((stats.mean, (47, 72, 88)), (stats.median, (230, 159, 0)), (stats.kde_peak, (0, 114, 178))):
            draw.line([box(x, 0), box(x, max(dens.max(), stats.kde_y.max()))], fill=colour, width=1)
        if csd is not None and np.any(np.isfinite(csd.ln_density)):
            ok = np.isfinite(csd.ln_density)
            y = csd.ln_density[ok]
            box = _axes_box(draw, width, y0, width, height, f"CSD: ln n vs L ({unit}), 2-D sizes",
                            (csd.bin_edges[0], csd.bin_edges[-1]), (y.min() - 0.5, y.max() + 0.5))
            for x, v, used in zip(csd.sizes[ok], y, csd.used[ok]):
                (px, py) = box(x, v)
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], outline=(0, 114, 178),
                             fill=(0, 114, 178) if used else None)
            if np.isfinite(csd.slope):
                xs = csd.sizes[csd.used]
                draw.line([box(xs[0], csd.intercept + csd.slope * xs[0]),
                           box(xs[-1], csd.intercept + csd.slope * xs[-1])], fill=(213, 94, 0), width=2)
                draw.text((width + 60, y0 + 22), f"slope {csd.slope:.3g} /{unit}", fill="black")
    img.save(path)
    return path


def _axes_box(draw, x0, y0, width, height, title, xr, yr):
    """Draw axes in a panel; return a function data -> pixel."""
    left, top, right, bottom = x0 + 50, y0 + 20, x0 + width - 15, y0 + height - 30
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text((left, y0 + 4), title, fill="black")
    draw.text((left, bottom + 4), f"{xr[0]:.3g}", fill="black")
    draw.text((right - 30, bottom + 4), f"{xr[1]:.3g}", fill="black")
    draw.text((x0 + 4, top), f"{yr[1]:.3g}", fill="black")
    draw.text((x0 + 4, bottom - 10), f"{yr[0]:.3g}", fill="black")
    sx = (right - left) / ((xr[1] - xr[0]) or 1.0)
    sy = (bottom - top) / ((yr[1] - yr[0]) or 1.0)
    return lambda x, y: (left + (x - xr[0]) * sx, bottom - (y - yr[0]) * sy)
