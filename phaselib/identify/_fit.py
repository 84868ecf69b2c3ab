"""Net line intensities of a spectrum: Poisson fit of line families and a physical background.

The spectrum in an energy window is modelled as a linear sum of

* one template per element and line family (K, L, M): every line of the family with its
  database weight, absorption and detector efficiency, as a Gaussian of the detector's width
  integrated over each channel;
* a Kramers continuum ``(E0 - E) / E`` times the detector efficiency and the specimen's
  absorption (its absorption edges included), times a low-order Legendre polynomial in E.

The coefficients are the Poisson maximum-likelihood estimates (iteratively reweighted least
squares with weights ``1 / model``); elements whose main family is not significant are dropped
one at a time and the model refitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

import phaselib.identify._physics as phys

SI_K_EDGE, SI_KA = 1.839, 1.740  # keV
#: relative error of the model in each channel (peak shapes, line energies, satellites): it
#: weighs with the counting error only above ~2500 counts per channel, and keeps a misfit of
#: a major peak from being read as a trace element on its flank
MODEL_ERROR = 0.02
#: a first guess of the specimen (weight fractions), for the absorption of the first pass
GENERIC_ROCK = {"O": 0.47, "Si": 0.28, "Al": 0.08, "Fe": 0.05, "Ca": 0.04, "Na": 0.03, "K": 0.03, "Mg": 0.02}


@dataclass(frozen=True, eq=False)
class LineFit:
    """Result of :func:`fit_lines` (private).

    intensity, error : dict element -> main-family coefficient (counts of its main line) and 1 sigma
    net_counts : dict element -> counts of the element's main family in the window
    family : dict element -> "K" / "L" / "M"
    cov : (n, n) ndarray, covariance of the main-family coefficients in ``tuple(intensity)`` order
    reduced_chi2 : float
    """

    intensity: dict
    error: dict
    net_counts: dict
    family: dict
    cov: np.ndarray
    reduced_chi2: float
    model: np.ndarray | None = None
    window: np.ndarray | None = None


def _templates(el, fams, e, lo, hi, beam_energy, weights, resolution, window):
    """family -> (C,) template of an element (main line normalised to weight 1)."""
    out = {}
    for fam in fams:
        edge, lines = phys.families(el)[fam]
        ln = np.array([(en, w) for en, w in lines
                       if 0.1 <= en < beam_energy and window[0] - 0.3 < en < window[1] + 0.3]).reshape(-1, 2)
        if not ln.size:
            continue
        energy, w = ln[:, 0], ln[:, 1]
        amp = w * phys.absorption(weights, energy, beam_energy, edge) * phys.detector_efficiency(energy)
        s = phys.fwhm_keV(energy, resolution) / (2.0 * math.sqrt(2.0 * math.log(2.0))) * math.sqrt(2.0)
        t = np.zeros_like(e)
        for en, a, si in zip(energy, amp, s):  # each Gaussian within +-6 sigma, integrated per channel
            i0, i1 = np.searchsorted(e, (en - 4.3 * si, en + 4.3 * si))
            t[i0:i1] += a * 0.5 * (erf((hi[i0:i1] - en) / si) - erf((lo[i0:i1] - en) / si))
        if t.sum() > 0:
            out[fam] = t
    return out


def _background(e, beam_energy, weights, degree, window):
    """(degree + 1, C) continuum basis."""
    kramers = np.clip(beam_energy - e, 0, None) / np.maximum(e, 1e-3)
    shape = kramers * phys.detector_efficiency(e) * phys.absorption(weights, e, beam_energy, e)
    u = 2.0 * (e - window[0]) / (window[1] - window[0]) - 1.0
    return np.array([shape * np.polynomial.legendre.Legendre.basis(k)(u) for k in range(degree + 1)])


def _variance(mu, floor):
    """Poisson variance plus the model's own error, :data:`MODEL_ERROR` of the counts."""
    mu = np.maximum(mu, floor)
    return mu + (MODEL_ERROR * mu) ** 2


def _irls(y, a, n_iter=6):
    """Poisson ML of ``y ~ a.T @ beta`` (identity link): returns beta, covariance, model."""
    scale = np.maximum(np.abs(a).max(axis=1), 1e-300)
    a = a / scale[:, None]
    mu = np.maximum(np.convolve(y, np.ones(5) / 5, mode="same"), 1.0)
    floor = max(0.05, 1e-4 * y.mean())
    for _ in range(n_iter):
        w = 1.0 / _variance(mu, floor)
        try:  # normal equations: a few hundred times faster than an SVD, and the columns are scaled
            beta = np.linalg.solve((a * w) @ a.T, a @ (w * y))
        except np.linalg.LinAlgError:
            sw = np.sqrt(w)
            beta = np.linalg.lstsq((a * sw).T, y * sw, rcond=None)[0]
        mu = beta @ a
    w = 1.0 / _variance(mu, floor)
    cov = np.linalg.pinv((a * w) @ a.T)
    return beta / scale, cov / np.outer(scale, scale), mu


def fit_lines(y, e, *, beam_energy, elements, nuisance=(), weights=None, resolution=130.0,
              window=(0.2, None), bg_degree=3, min_significance=3.5, select=True, artefacts=False) -> LineFit:
    """Fit the line families of ``elements`` (and of ``nuisance`` elements, not reported).

    Parameters
    ----------
    y : (C,) ndarray
        Counts.
    e : (C,) ndarray
        Channel energies (keV), increasing and evenly spaced.
    elements : sequence of str
        Candidate elements, quantified from their main family (:func:`_physics.main_family`).
    weights : dict, optional
        Specimen composition (weight fractions) for the absorption; default :data:`GENERIC_ROCK`.
    select : bool
        Drop candidates whose main-family coefficient is below ``min_significance`` sigma (those under 1 sigma
        together; one of these comes back when the residual asks for its line, :func:`_wanted_back`).
    artefacts : bool
        Also fit the detector's Si escape and pile-up peaks (:func:`_artefacts`, from a first
        fit of the model; their amounts are free).
    """
    weights = GENERIC_ROCK if weights is None else weights
    e_max = min(float(e[-1]), beam_energy - 0.05) if window[1] is None else min(window[1], beam_energy - 0.05)
    win = (float(window[0]), e_max)
    keep = (e >= win[0]) & (e <= win[1])
    y, e = np.asarray(y, float)[keep], e[keep]
    half = 0.5 * (e[1] - e[0])
    lo, hi = e - half, e + half
    main, cols, names = {}, [], []
    for el in dict.fromkeys([*elements, *nuisance]):
        fam = phys.main_family(el, beam_energy, *win)
        if fam is None:
            continue
        fams = [f for f, (edge, _) in phys.families(el).items() if edge < beam_energy]
        for f, t in _templates(el, fams, e, lo, hi, beam_energy, weights, resolution, win).items():
            cols.append(t)
            names.append((el, f))
        if (el, fam) in names and el in elements:
            main[el] = fam
    bg = _background(e, beam_energy, weights, bg_degree, win)
    active, extra, back, batch = set(main), None, set(), set()
    while True:
        idx = [i for i, (el, _) in enumerate(names) if el in active or el not in main]
        a = np.vstack([np.array(cols)[idx] if idx else np.empty((0, e.size)), bg,
                       extra if extra is not None else np.empty((0, e.size))])
        beta, cov, mu = _irls(y, a)
        if artefacts and extra is None and mu.sum() > 0:
            extra = _artefacts(mu, e)
            continue
        pos = {names[i]: j for j, i in enumerate(idx)}
        k = {el: pos[el, main[el]] for el in active}
        z = {el: beta[k[el]] / math.sqrt(max(cov[k[el], k[el]], 1e-300)) for el in active}
        weak = [el for el in active if z[el] < min_significance]
        if select and not weak:  # one element dropped with others it overlapped may be wanted back
            el = _wanted_back(y, mu, cols, names, {q: main[q] for q in batch - back}, min_significance)
            if el is not None:
                active.add(el)
                back.add(el)
                continue
        if not select or not weak:
            break
        very = [el for el in weak if z[el] < 1.0]
        active -= set(very) if very else {min(weak, key=z.get)}
        batch |= set(very)
    order = [el for el in main if el in active]
    j = [pos[el, main[el]] for el in order]
    dof = max(1, int(np.sum(y > 0)) - len(beta))
    chi2 = float(np.sum((y - mu) ** 2 / _variance(mu, 1.0))) / dof
    return LineFit(
        intensity={el: float(beta[k]) for el, k in zip(order, j)},
        error={el: math.sqrt(max(cov[k, k], 0.0)) for el, k in zip(order, j)},
        net_counts={el: float(beta[k] * cols[names.index((el, main[el]))].sum()) for el, k in zip(order, j)},
        family={el: main[el] for el in order},
        cov=cov[np.ix_(j, j)],
        reduced_chi2=chi2,
        model=mu,
        window=keep,
    )


def _wanted_back(y, mu, cols, names, dropped, min_significance):
    """The element of ``dropped`` (element: main family) whose line the residual ``y - mu`` asks for most, or None
    under ``min_significance`` (a score test, its line alone against the fit). The elimination drops every element
    under 1 sigma at once: where many lines overlap one wide peak (O K among the L lines of Ti to Zn, F K and Na K
    under a 175 eV detector), O itself read -0.5 sigma beside them, and apatite's or zircon's oxygen was lost."""
    w = 1.0 / _variance(mu, max(0.05, 1e-4 * y.mean()))
    best, best_z = None, float(min_significance)
    for el, fam in dropped.items():
        t = cols[names.index((el, fam))]
        z = float(t @ (w * (y - mu))) / math.sqrt(max(float((t * t) @ w), 1e-300))
        if z > best_z:
            best, best_z = el, z
    return best


def _artefacts(model, e):
    """(2, C) detector artefacts of a model spectrum, per unit amount.

    Si escape: counts at ``E`` above the Si K edge (1.839 keV) lose a share ``1.839 / E``
    that reappears at ``E - 1.740 keV``; pile-up: the spectrum convolved with itself (two
    photons recorded as one) replaces the same number of counts.
    """
    share = np.where(e > SI_K_EDGE, SI_K_EDGE / np.maximum(e, SI_K_EDGE), 0.0)
    lost = model * share
    moved = np.interp(e + SI_KA, e, lost, left=0.0, right=0.0)
    if moved.sum() > 0:
        moved *= lost.sum() / moved.sum()
    p = np.clip(model, 0, None)
    p = p / p.sum()
    both = np.convolve(p, p)
    summed = np.interp(e, 2 * e[0] + (e[1] - e[0]) * np.arange(both.size), both, left=0.0, right=0.0)
    return np.array([moved - lost, model.sum() * summed - model])


def refine_calibration(y, e, *, elements, resolution, max_shift=0.02, **kw):
    """Energy shift (keV, subtract from ``e``) and detector resolution (eV at Mn Ka) that fit best.

    Minimises the fit's reduced chi-square with ``elements`` (the majors, found beforehand):
    the shift on a 5 eV grid within ``max_shift`` then by a bounded 1-D search, the
    resolution within 0.7-1.5 times the given one, the shift again. Other keywords go to
    :func:`fit_lines`.
    """
    from scipy.optimize import minimize_scalar

    def chi2(shift, res):
        return fit_lines(y, e - shift, elements=elements, resolution=res, select=False, **kw).reduced_chi2

    def best_shift(res, around, half):
        return minimize_scalar(lambda d: chi2(d, res), bounds=(around - half, around + half), method="bounded",
                               options=dict(xatol=1e-3)).x

    grid = np.linspace(-max_shift, max_shift, 9)  # coarse first: the chi-square has side minima
    shift = float(grid[np.argmin([chi2(d, float(resolution)) for d in grid])])
    shift = best_shift(float(resolution), shift, grid[1] - grid[0])
    res = minimize_scalar(lambda r: chi2(shift, r), bounds=(0.7 * resolution, 1.5 * resolution),
                          method="bounded", options=dict(xatol=2.0)).x
    shift = best_shift(res, shift, 0.5 * (grid[1] - grid[0]))
    return float(shift), float(res)
