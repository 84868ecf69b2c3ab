"""Grain tables, grain-size statistics (GrainSizeTools style) and crystal size distributions.

Private module: the public names are re-exported by :mod:`phaselib.morphology`. Numbers
only; the plot helpers are in ``_plots.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from scipy import stats as _stats

from .._validate import check_int, check_number, check_positive

#: size bins above this is a typing slip (each is a row of the CSD table)
MAX_BINS = 100_000

#: ln n values of a CSD fit that differ by no more than this are equal (bins of one count each: rounding only)
FLAT_LN = 1e-9
MIN_RELIABLE_GRAINS = 433  # GrainSizeTools: fewer measurements give unreliable estimates
STEREOLOGY_NOTE = ("2-D section sizes (apparent diameters in the polished section), not 3-D crystal "
                   "sizes: no stereological correction (Saltykov, CSDCorrections) is applied.")


class GrainSizeWarning(UserWarning):
    """Too few grains for reliable size statistics."""


def _sizes(values, name, *, minimum=1):
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array of sizes, got shape {v.shape}.")
    if v.size < minimum:
        raise ValueError(f"`{name}` needs at least {minimum} value(s), got {v.size}.")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"`{name}` must hold positive, finite sizes.")
    return v


# ----------------------------------------------------------------- grain table
def equivalent_diameter(areas, *, correct_diameter=None):
    """Equivalent circular diameter ``2 sqrt(A / pi)`` of section areas (GrainSizeTools).

    Parameters
    ----------
    areas : array_like
        Section areas (e.g. um^2).
    correct_diameter : float, optional
        Width of the grain boundaries, added to every diameter.

    Returns
    -------
    ndarray of float64
    """
    a = np.asarray(areas, dtype=float)
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise ValueError("`areas` must be non-negative, finite numbers.")
    d = 2.0 * np.sqrt(a / np.pi)
    if correct_diameter is None:
        return d
    return d + check_positive(correct_diameter, "correct_diameter", allow_zero=True)  # a width: >= 0


@dataclass(frozen=True, eq=False)
class SizeStatistics:
    """Grain-size statistics of a set of diameters, as in GrainSizeTools.

    Attributes
    ----------
    n : int
    mean, geometric_mean, rms_mean, median : float
        Central tendency (the RMS mean is discouraged by GrainSizeTools; given for completeness).
    std : float
        Standard deviation (with ``ddof``).
    iqr : float
        Interquartile range (``scipy.stats.iqr``).
    multiplicative_std : float
        ``exp(std(ln d))``, the spread of a log-normal distribution.
    kde_peak : float
        Diameter of the maximum of the Gaussian kernel density estimate.
    kde_bandwidth : float
        Kernel standard deviation, in diameter units.
    bandwidth_method : str
        ``"silverman"``, ``"scott"`` or ``"fixed"``.
    modal_interval : (float, float)
        Edges of the tallest histogram bin.
    bin_width : float
    bin_method : str
        The numpy rule (``"auto"``, ``"fd"``, ...) or ``"fixed"``.
    bin_edges, counts : ndarray
        The histogram.
    kde_x, kde_y : ndarray
        The density estimate on a grid from the smallest to the largest diameter.
    few_grains : bool
        ``n < 433``: GrainSizeTools' threshold for reliable estimates.
    """

    n: int
    mean: float
    geometric_mean: float
    rms_mean: float
    median: float
    std: float
    iqr: float
    multiplicative_std: float
    kde_peak: float
    kde_bandwidth: float
    bandwidth_method: str
    modal_interval: tuple
    bin_width: float
    bin_method: str
    bin_edges: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    kde_x: np.ndarray = field(repr=False)
    kde_y: np.ndarray = field(repr=False)
    few_grains: bool = False

    def to_dict(self) -> dict:
        """JSON-ready numbers (the histogram included, not the KDE curve)."""
        d = {k: getattr(self, k) for k in ("n", "mean", "geometric_mean", "rms_mean", "median", "std", "iqr",
                                           "multiplicative_std", "kde_peak", "kde_bandwidth",
                                           "bandwidth_method", "bin_width", "bin_method", "few_grains")}
        d = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}
        d["modal_interval"] = [float(v) for v in self.modal_interval]
        d["bin_edges"] = self.bin_edges.tolist()
        d["counts"] = self.counts.tolist()
        if self.few_grains:
            d["warning"] = _few_message(self.n)
        return d


def _few_message(n):
    return (f"only {n} grains: GrainSizeTools advises at least {MIN_RELIABLE_GRAINS} measurements "
            f"for reliable estimates")


def size_statistics(diameters, *, binsize="auto", bandwidth="silverman", precision=None, ddof=1, warn=True):
    """Central tendency, spread, histogram and KDE peak of grain diameters (GrainSizeTools).

    Parameters
    ----------
    diameters : (n,) array_like
        Positive diameters (e.g. ``table["equivalent_diameter_um"]``), at least 2, not all equal.
    binsize : str or float
        A numpy bin rule (``"auto"``, ``"fd"``, ``"doane"``, ``"scott"``, ``"stone"``, ``"rice"``,
        ``"sturges"``, ``"sqrt"``) over [min, max], or a fixed bin width starting at the minimum.
    bandwidth : {"silverman", "scott"} or float
        Plug-in rule of ``scipy.stats.gaussian_kde`` or the kernel standard deviation itself.
    precision : float, optional
        Grid step for the KDE peak (default: 1/1000 of the range of the diameters).
    ddof : int
        Delta degrees of freedom of the standard deviations (1: sample statistics).
    warn : bool
        Emit a :class:`GrainSizeWarning` when there are fewer than 433 grains
        (``few_grains`` is set either way).

    Returns
    -------
    SizeStatistics
    """
    d = _sizes(diameters, "diameters", minimum=2)
    if np.ptp(d) == 0:
        raise ValueError("all diameters are equal: the spread and the KDE are undefined.")
    check_int(ddof, "ddof", low=0, high=d.size - 1)
    few = d.size < MIN_RELIABLE_GRAINS
    if few and warn:
        warnings.warn(_few_message(d.size), GrainSizeWarning, stacklevel=2)
    if isinstance(binsize, str):
        try:
            counts, edges = np.histogram(d, bins=binsize, range=(d.min(), d.max()))
        except ValueError:
            raise ValueError(f"binsize must be a numpy bin rule ('auto', 'fd', 'doane', 'scott', 'stone', "
                             f"'rice', 'sturges', 'sqrt') or a positive width, got {binsize!r}.") from None
        width, method = float(edges[1] - edges[0]), binsize
    else:
        width, method = check_positive(binsize, "binsize"), "fixed"
        if np.ptp(d) / width > MAX_BINS:  # else np.arange asks for gigabytes, or more than numpy can index
            raise ValueError(f"binsize {width:g} cuts the diameters ({np.ptp(d):.3g} apart) into over {MAX_BINS} bins.")
        edges = np.arange(d.min(), d.max() + width, width)
        if edges.size < 2 or edges[-1] < d.max():
            edges = np.append(edges, edges[-1] + width)
        counts, edges = np.histogram(d, bins=edges)
    sd = d.std(ddof=1)
    if isinstance(bandwidth, str):
        if bandwidth not in ("silverman", "scott"):
            raise ValueError(f"bandwidth must be 'silverman', 'scott' or a positive number, got {bandwidth!r}.")
        kde = _stats.gaussian_kde(d, bw_method=bandwidth)
        bw, bw_method = float(kde.covariance_factor() * sd), bandwidth
    else:
        bw, bw_method = check_positive(bandwidth, "bandwidth"), "fixed"
        kde = _stats.gaussian_kde(d, bw_method=bw / sd)
    step = np.ptp(d) / 1000 if precision is None else check_positive(precision, "precision")
    x = np.linspace(d.min(), d.max(), int(np.ceil(np.ptp(d) / step)) + 1)
    y = kde(x)
    left = float(edges[np.argmax(counts)])
    logd = np.log(d)
    return SizeStatistics(
        n=int(d.size), mean=float(d.mean()), geometric_mean=float(np.exp(logd.mean())),
        rms_mean=float(np.sqrt(np.mean(d**2))), median=float(np.median(d)), std=float(d.std(ddof=ddof)),
        iqr=float(_stats.iqr(d)), multiplicative_std=float(np.exp(logd.std(ddof=ddof))),
        kde_peak=float(x[np.argmax(y)]), kde_bandwidth=bw, bandwidth_method=bw_method,
        modal_interval=(left, left + width), bin_width=width, bin_method=method, bin_edges=edges,
        counts=counts, kde_x=x, kde_y=y, few_grains=bool(few))


# ----------------------------------------------------------------- crystal size distribution
@dataclass(frozen=True, eq=False)
class CSD:
    """Crystal size distribution: population density per size bin and its log-linear fit.

    ``n(L) = N(L) / (dL * area)`` (grains per um of size per um^2 of section, um^-3);
    ``ln n = intercept + slope * L`` is fitted (weighted by the counts) over the bins in
    ``used``; for a steady-state open system (Marsh 1988) ``slope = -1 / (G tau)``, so with a
    growth rate ``G`` the characteristic residence time is ``tau = -1 / (G * slope)``.
    **Section sizes** (2-D), see ``note``.

    Attributes
    ----------
    bin_edges : (m + 1,) ndarray
    sizes : (m,) ndarray
        Bin centres L, um.
    counts : (m,) ndarray
    population_density : (m,) ndarray
    ln_density : (m,) ndarray
        NaN where a bin is empty.
    used : (m,) ndarray of bool
        Bins in the fit.
    slope, slope_err, intercept, intercept_err, r2 : float
        Fit (um^-1), standard errors (inflated when the scatter exceeds Poisson's) and the
        weighted R^2; NaN with fewer than 3 non-empty bins in the fit range.
    characteristic_size : float
        ``-1 / slope`` = ``G tau``, um.
    area : float
        Section area, um^2.
    growth_rate, residence_time, residence_time_err : float or None
        ``G`` (um per time unit) and ``tau`` with its standard error, in that time unit.
    note : str
    """

    bin_edges: np.ndarray
    sizes: np.ndarray
    counts: np.ndarray
    population_density: np.ndarray
    ln_density: np.ndarray
    used: np.ndarray
    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    r2: float
    characteristic_size: float
    area: float
    growth_rate: float | None = None
    residence_time: float | None = None
    residence_time_err: float | None = None
    note: str = STEREOLOGY_NOTE

    def to_dict(self) -> dict:
        keys = ("slope", "slope_err", "intercept", "intercept_err", "r2", "characteristic_size", "area",
                "growth_rate", "residence_time", "residence_time_err", "note")
        return {k: _json_number(getattr(self, k)) for k in keys}

    def rows(self) -> list[dict]:
        """One dict per size bin (the ``csd.csv`` rows)."""
        return [dict(size_min_um=float(a), size_max_um=float(b), size_um=float(c), count=int(n),
                     population_density=float(p), ln_population_density=_json_number(q), used_in_fit=bool(u))
                for a, b, c, n, p, q, u in zip(self.bin_edges[:-1], self.bin_edges[1:], self.sizes,
                                               self.counts, self.population_density, self.ln_density, self.used)]


def _json_number(v):
    if isinstance(v, (float, np.floating)) and not np.isfinite(v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def crystal_size_distribution(sizes, area, *, bins="auto", min_size=None, max_size=None,
                              growth_rate=None):
    """Population density per size bin, ``ln n`` against ``L``, its fit and residence time.

    Parameters
    ----------
    sizes : (n,) array_like
        Crystal sizes L, um (e.g. equivalent diameters; 2-D section sizes).
    area : float
        Area of the section the crystals were counted on, um^2.
    bins : int, str or sequence of float
        As in ``numpy.histogram`` (a count, a rule, or the bin edges in um).
    min_size : float, optional
        Smallest bin centre in the fit. Default: the bin of highest population density, so
        that the small-size turndown (resolution, section effects) is left out.
    max_size : float, optional
        Largest bin centre in the fit.
    growth_rate : float, optional
        Crystal growth rate G, um per time unit (e.g. um/s): gives ``residence_time`` in
        that unit.

    Returns
    -------
    CSD
    """
    s = _sizes(sizes, "sizes", minimum=2)
    area = check_positive(area, "area")
    g = None if growth_rate is None else check_positive(growth_rate, "growth_rate")
    if isinstance(bins, Integral) and not isinstance(bins, bool):
        bins = check_int(bins, "bins", high=MAX_BINS)
    min_size = check_number(min_size, "min_size", low=0, allow_none=True)
    max_size = check_number(max_size, "max_size", low=0, low_open=True, allow_none=True)
    if min_size is not None and max_size is not None and max_size <= min_size:
        raise ValueError(f"max_size ({max_size:g}) must be larger than min_size ({min_size:g}).")
    try:
        counts, edges = np.histogram(s, bins=bins)
    except (ValueError, TypeError) as err:
        raise ValueError(f"bins must be a count, a numpy rule or increasing edges: {err}") from None
    width = np.diff(edges)
    centre = edges[:-1] + width / 2
    density = counts / (width * area)
    with np.errstate(divide="ignore"):
        ln = np.where(counts > 0, np.log(np.where(counts > 0, density, 1.0)), np.nan)
    top = density >= density.max() * (1 - FLAT_LN)  # the first of equal densities (rounding picked the last)
    lo = centre[np.argmax(top)] if min_size is None else float(min_size)
    hi = np.inf if max_size is None else float(max_size)
    used = (counts > 0) & (centre >= lo) & (centre <= hi)
    slope = intercept = slope_err = intercept_err = r2 = np.nan
    if used.sum() >= 3:
        x, y, w = centre[used], ln[used], counts[used].astype(float)  # var(ln n) ~ 1 / count
        a = np.column_stack([np.ones_like(x), x])
        cov = np.linalg.inv(a.T @ (a * w[:, None]))
        intercept, slope = cov @ (a.T @ (w * y))
        if np.ptp(y) <= FLAT_LN:  # equal densities: a slope of rounding noise (-2e-15 gave tau = 5e19 s)
            intercept, slope = np.average(y, weights=w), 0.0
        res = y - (intercept + slope * x)
        cov = cov * max(1.0, float(w @ res**2) / (used.sum() - 2))  # scatter beyond Poisson
        intercept_err, slope_err = np.sqrt(np.diag(cov))
        ybar = np.average(y, weights=w)
        r2 = 1 - float(w @ res**2) / float(w @ (y - ybar) ** 2) if np.ptp(y) > FLAT_LN else np.nan
    tau = tau_err = None
    if g is not None and slope < 0:
        tau = -1.0 / (g * slope)
        tau_err = tau * slope_err / abs(slope) if np.isfinite(slope_err) else np.nan
    note = STEREOLOGY_NOTE + (f" Fit over {int(used.sum())} bins with L >= {lo:.4g} um." if used.sum() >= 3 else
                              " No fit: fewer than 3 non-empty size bins in the fit range.")
    if g is not None and tau is None:
        note += " No residence time: the fitted slope is not negative."
    elif tau is not None and slope + 2 * slope_err >= 0:
        note += " The slope is within 2 standard errors of 0: the residence time is not constrained."
    return CSD(bin_edges=edges, sizes=centre, counts=counts, population_density=density, ln_density=ln,
               used=used, slope=float(slope), slope_err=float(slope_err), intercept=float(intercept),
               intercept_err=float(intercept_err), r2=float(r2),
               characteristic_size=float(-1.0 / slope) if slope < 0 else np.nan, area=area,
               growth_rate=g, residence_time=None if tau is None else float(tau),
               residence_time_err=None if tau_err is None else float(tau_err), note=note)
