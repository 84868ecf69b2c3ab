"""The plot helpers of size statistics and CSDs (matplotlib imported when they are called).

Private module: the public names are re-exported by :mod:`phaselib.morphology`.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_instance
from ._stats import CSD, SizeStatistics


def _axes(ax):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("the plot helpers need matplotlib (pip install matplotlib); the statistics "
                          "themselves do not.") from None
    if ax is None:
        ax = Figure(figsize=(6, 4), layout="tight").add_subplot()
    return ax


def plot_size_distribution(stats, *, ax=None, unit="um"):
    """Histogram, KDE, mean, median and KDE peak of a :class:`SizeStatistics` (GrainSizeTools' plot).

    Returns the matplotlib ``Axes`` (a new figure's when ``ax`` is None). Needs matplotlib.
    """
    check_instance(stats, SizeStatistics, "stats", "morphology.size_statistics")
    ax = _axes(ax)
    e, c = stats.bin_edges, stats.counts
    ax.bar(e[:-1], c / (c.sum() * np.diff(e)), width=np.diff(e), align="edge", color="#80419d",
           edgecolor="#C59fd7", alpha=0.7)
    ax.plot(stats.kde_x, stats.kde_y, color="#2F4858")
    top = max(stats.kde_y.max(), (c / (c.sum() * np.diff(e))).max())
    for x, style, label in ((stats.mean, "-", "arith. mean"), (stats.median, "--", "median"),
                            (stats.geometric_mean, "-.", "geo. mean"), (stats.kde_peak, ":", "KDE peak")):
        ax.vlines(x, 0, top, linestyles=style, color="#2F4858", label=f"{label} {x:.3g}")
    ax.set_xlabel(f"apparent (2-D) diameter ({unit})")
    ax.set_ylabel("density")
    ax.set_title(f"{stats.n} grains" + (" (fewer than 433: unreliable)" if stats.few_grains else ""))
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_csd(csd, *, ax=None, unit="um"):
    """``ln n`` against size with the fitted line of a :class:`CSD`. Needs matplotlib."""
    check_instance(csd, CSD, "csd", "morphology.crystal_size_distribution")
    ax = _axes(ax)
    ax.plot(csd.sizes[~csd.used], csd.ln_density[~csd.used], "o", mfc="none", color="grey", label="not fitted")
    ax.plot(csd.sizes[csd.used], csd.ln_density[csd.used], "o", color="#0072B2", label="fitted")
    if np.isfinite(csd.slope):
        x = csd.sizes[csd.used]
        ax.plot(x, csd.intercept + csd.slope * x, "-", color="#D55E00",
                label=f"slope {csd.slope:.3g} ± {csd.slope_err:.2g} /{unit}")
    ax.set_xlabel(f"L, 2-D section size ({unit})")
    ax.set_ylabel(f"ln n (n in {unit}$^{{-3}}$)")
    ax.legend(loc="best", fontsize="small")
    return ax
