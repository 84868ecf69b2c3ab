"""Standardless semi-quantitative composition of a spectrum (:func:`composition`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

import phaselib.identify._physics as phys

from .._lines import ROCK_ELEMENTS
from .._validate import check_array, check_choice, check_int, check_number, check_positive
from ._dispersion import dispersion
from ._fit import GENERIC_ROCK, fit_lines, refine_calibration

#: elements never used as cations in a mineral's signature (light, unmeasured or anions)
NOT_CATIONS = frozenset({"H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne"})
#: valence of each cation for oxygen by stoichiometry (Fe as FeO: total iron as Fe2+)
VALENCE = {"Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Li": 1, "Mg": 2, "Ca": 2, "Sr": 2, "Ba": 2, "Mn": 2,
           "Fe": 2, "Ni": 2, "Co": 2, "Cu": 2, "Zn": 2, "Pb": 2, "Al": 3, "Cr": 3, "V": 3, "Sc": 3,
           "Y": 3, "La": 3, "Ce": 3, "Pr": 3, "Nd": 3, "Sm": 3, "Gd": 3, "Dy": 3, "Er": 3, "Yb": 3,
           "B": 3, "Si": 4, "Ti": 4, "Zr": 4, "Hf": 4, "Sn": 4, "Th": 4, "U": 4, "C": 4, "P": 5,
           "Nb": 5, "Ta": 5, "S": 6, "W": 6, "Mo": 6, "F": -1, "Cl": -1, "Br": -1, "I": -1}
#: default candidates: phaselib's rock-forming elements but carbon (the conductive coat: fitted, not
#: reported) and strontium (its L line sits between Si Ka and Si Kb, where a peak-shape misfit of
#: Si in real spectra reads as several % Sr; Sr minerals are rare)
DEFAULT_ELEMENTS = tuple(el for el in ROCK_ELEMENTS if el not in ("C", "Sr"))
#: total counts from which the energy shift and resolution are refined
CALIBRATE_COUNTS = 2e4
#: the first fit's resolutions, times the one given: the majors found at the given one alone are not those of a detector
#: far from it (a 175 eV detector fitted at 130 eV: quartz's wide Si peak read as Si with Y beside it, O lost; the
#: resolution refined on those majors then settled at 125 eV, chi-square 136, "unknown"); the shift and resolution
#: are refined from the best fitting one (every candidate element fitted), on its majors, within 0.7-1.5 times it
RESOLUTION_STARTS = (1.0, 0.85, 1.2, 1.45)
#: a spectrum of more counts is fitted (:func:`composition`) as its shape scaled to this many: past ~5e7 counts the
#: fit's weights (Poisson variance plus the model's own error, relative to the model) drove hundreds of channels to
#: negative model counts (P45's phases summed over maps 146 and 1000 times its size, 1e8 counts in its glass: no
#: line significant, "Fe 100 %" for its biotite, where 1e5-1e7 counts name rhyolitic glass and biotite); the counting
#: noise of 4e6 counts is far below that model error. (:func:`calibration_of` is not capped: a map's summed spectrum
#: of 2e7 counts, the chevkinite map's, sets its poor phases' shift as it was validated.)
MAX_FIT_COUNTS = 4e6


@dataclass(frozen=True, eq=False)
class Composition:
    """A semi-quantitative composition (see :func:`composition`).

    Attributes
    ----------
    elements : tuple of str
        Elements found (and oxygen), by atomic number.
    atomic_percent, weight_percent : (n,) ndarray
        Normalised to 100 %.
    atomic_percent_error : (n,) ndarray
        One standard deviation from counting statistics only (the model error, typically
        10-20 % relative, is not included).
    net_counts : (n,) ndarray
        Fitted counts of each element's line family (NaN for oxygen by stoichiometry).
    lines : tuple of str
        Family each element was quantified from (``"Si_K"``, ``"Zr_L"``, ``"O_stoich"``).
    oxygen : str
        ``"stoichiometry"`` or ``"measured"``.
    oxygen_ratio : float
        Oxygen measured from the O K line over oxygen by stoichiometry (about 1 for anhydrous
        oxides and silicates, more for hydrous ones, ~3 for carbonates, ~0 for sulfides);
        NaN when O K is not in the spectrum.
    total_counts : float
        The counts fitted (fewer than the spectrum's where it was over-dispersed or above
        :data:`MAX_FIT_COUNTS`).
    reduced_chi2 : float
        Of the spectrum fit (about 1 for a good fit of a Poisson spectrum; the counting errors
        are scaled up by its square root when it is above 1).
    energy_shift_keV, energy_resolution_MnKa : float
        Calibration the fit used: peaks were found ``energy_shift_keV`` above the nominal
        line energies, with this detector FWHM (eV at Mn Ka).
    """

    elements: tuple
    atomic_percent: np.ndarray
    weight_percent: np.ndarray
    atomic_percent_error: np.ndarray
    net_counts: np.ndarray
    lines: tuple
    oxygen: str
    oxygen_ratio: float
    total_counts: float
    reduced_chi2: float
    energy_shift_keV: float = 0.0
    energy_resolution_MnKa: float = 130.0
    sensitivity: tuple = ()

    def __repr__(self) -> str:
        parts = ", ".join(f"{el} {v:.1f}" for el, v in zip(self.elements, self.atomic_percent))
        return f"<Composition atomic % {parts}; O by {self.oxygen}, {self.total_counts:.0f} counts>"

    def as_dict(self, kind="atomic") -> dict:
        """element -> atomic % (``kind="atomic"``) or weight % (``"weight"``)."""
        check_choice(kind, "kind", ("atomic", "weight"))
        values = self.atomic_percent if kind == "atomic" else self.weight_percent
        return {el: float(v) for el, v in zip(self.elements, values)}

    def cations(self) -> tuple:
        """(elements, fractions (n,), errors (n,)) of the cations (every element but light
        ones and anions O, F), as fractions of all cations (sum 1)."""
        idx = [i for i, el in enumerate(self.elements) if el not in NOT_CATIONS]
        total = float(self.atomic_percent[idx].sum()) if idx else 0.0
        if total <= 0:
            return (), np.zeros(0), np.zeros(0)
        return (tuple(self.elements[i] for i in idx), self.atomic_percent[idx] / total,
                self.atomic_percent_error[idx] / total)

    def formula(self, oxygens: float) -> dict:
        """Atoms per ``oxygens`` oxygen atoms (e.g. 4 for olivine, 8 for feldspar)."""
        check_positive(oxygens, "oxygens")
        d = self.as_dict()
        if d.get("O", 0) <= 0:
            raise ValueError("This composition holds no oxygen; normalise it another way.")
        return {el: round(v * oxygens / d["O"], 3) for el, v in d.items() if el != "O"}

    def line_energies(self) -> dict:
        """element -> energy (keV) of the main line of the family each cation was read from."""
        out = {}
        for line in self.lines:
            el, fam = line.split("_")
            if el not in NOT_CATIONS and fam in "KLM":
                out[el] = max(phys.families(el)[fam][1], key=lambda lw: lw[1])[0]
        return out

    def rescaled(self, factors: dict, oxygen: str | None = None) -> Composition:
        """This composition with each cation's reading divided by ``factors[element]`` (1 where
        absent); oxygen by stoichiometry follows the new cations, measured oxygen stays.
        ``oxygen="stoichiometry"`` turns measured oxygen into oxygen by stoichiometry (for a phase
        whose weak O K line was the detector's, not the phase's: see :func:`name_phases`)."""
        oxygen = self.oxygen if oxygen is None else check_choice(oxygen, "oxygen", ("stoichiometry", "measured"))
        d = self.as_dict()
        n = {el: v / factors.get(el, 1.0) for el, v in d.items() if el != "O"}
        sd = {el: s / factors.get(el, 1.0) for el, s in zip(self.elements, self.atomic_percent_error)}
        o_meas = self.oxygen_ratio * _oxygen_stoich({el: v for el, v in d.items() if el != "O"})
        o_new = _oxygen_stoich(n)
        ratio = o_meas / o_new if o_new > 0 else float("nan")
        if oxygen == "stoichiometry" and o_new > 0:
            n["O"] = o_new
        elif "O" in d:
            n["O"] = d["O"]
        order = tuple(sorted(n, key=phys.atomic_number))
        total = sum(n.values())
        at = np.array([n[el] / total * 100 for el in order])
        err = np.array([sd.get(el, 0.0) / total * 100 for el in order])
        w = _weights(n)
        wt = np.array([w.get(el, 0.0) * 100 for el in order])
        net = dict(zip(self.elements, self.net_counts))
        lines = dict(zip(self.elements, self.lines))
        if oxygen == "stoichiometry":
            net["O"], lines["O"] = np.nan, "O_stoich"
        used = tuple((el, round(float(f), 3)) for el, f in sorted(factors.items()) if el in n and f != 1.0)
        return dataclasses.replace(self, elements=order, atomic_percent=at, weight_percent=wt, atomic_percent_error=err,
                                   net_counts=np.array([net[el] for el in order]),
                                   lines=tuple(lines[el] for el in order), oxygen=oxygen,
                                   oxygen_ratio=float(ratio), sensitivity=self.sensitivity + used)

    def __str__(self) -> str:
        return ", ".join(f"{el} {a:.1f}" for el, a in zip(self.elements, self.atomic_percent)) + " at.%"


def _oxygen_stoich(n: dict) -> float:
    return max(0.0, sum(VALENCE.get(el, 2) * x for el, x in n.items() if el != "O") / 2.0)


def _weights(n: dict) -> dict:
    m = {el: x * phys.atomic_weight(el) for el, x in n.items() if x > 0}
    total = sum(m.values())
    return {el: v / total for el, v in m.items()} if total > 0 else dict(GENERIC_ROCK)


def composition(spectrum, energy_keV, *, beam_energy, elements=None, oxygen="stoichiometry",
                energy_resolution_MnKa=130.0, energy_range=(0.2, None), min_significance=3.5,
                calibrate=True, iterations=3, calibration=None) -> Composition:
    """Standardless semi-quantitative composition of a spectrum.

    The net intensity of each element's K line family (L, or M, for elements whose K shell
    the beam cannot excite with an overvoltage of 1.5) is fitted with a physical background
    (see :mod:`phaselib.identify._fit`), divided by the theoretical generation factor
    (fluorescence yield times the overvoltage factor ``U ln U - U + 1``) after correcting
    each line for absorption in the specimen (PDH ``f(chi)``) and the detector efficiency,
    and normalised to 100 % (see :mod:`phaselib.identify._physics`). Absorption depends on
    the composition, so fit and correction are iterated.

    Accuracy: semi-quantitative. On synthetic spectra (:func:`phaselib.datasets.phase_spectra`,
    whose physics is of the same kind, so this measures the fit and the counting noise, not
    the model) the major cations (>= 10 % of the cations) of 20 phases came within a median
    0.3-0.6 % relative of the truth at 10^5-10^6 counts, 1-2 % at 5 000-20 000 and ~5 % at
    2 000 (90th percentiles 1-2 %, 2-7 %, 8-13 %). On real spectra the model's own errors
    dominate: for the plagioclase of the P45 dacite, An from Ca/(Ca+Na) and from Al/Si differ
    by ~8 An and the alkalis come ~15 % low (Na migrates under the beam), so expect ~10-20 %
    relative for majors, worse for Na, Mg and minor elements. Fe2+ and Fe3+ are not told
    apart. Hydrogen, lithium, boron and (by default) carbon are not measured; the O K line
    is strongly absorbed and read at only 50-65 % of the stoichiometric oxygen on P45 (the
    detector's window efficiency at 0.5 keV is not known), hence oxygen by stoichiometry.

    A spectrum whose noise is several times Poisson's (a phase summed over a mosaic of tiles of one acquisition,
    counts multiplied; :mod:`phaselib.identify._dispersion`) is fitted as the counts it is worth, divided by that
    factor, and one of more than :data:`MAX_FIT_COUNTS` counts as its shape scaled to that many (``total_counts``
    says which).

    Parameters
    ----------
    spectrum : (C,) array_like
        Counts (a phase's summed spectrum; a mean spectrum works but gives no counting errors
        of meaning).
    energy_keV : (C,) array_like
        Channel energies, increasing and evenly spaced.
    beam_energy : float
        Accelerating voltage, kV.
    elements : sequence of str, optional
        Candidate elements (default: phaselib's rock-forming elements without strontium, and
        without carbon, which is fitted as the conductive coat but not reported); those not
        significantly present are dropped.
    oxygen : {"stoichiometry", "measured"}
        ``"stoichiometry"`` (default): oxygen from the cations' usual valences (Fe as FeO, S
        as SO3 unless the O K line shows the phase holds little oxygen, as in sulfides; F and
        Cl replace oxygen), the usual practice for EDS of oxides and silicates.
        ``"measured"``: from the O K line (strongly absorbed; less accurate).
    energy_resolution_MnKa : float
        Detector FWHM at Mn Ka, eV.
    energy_range : (float, float or None)
        Fitted energy window, keV (default 0.2 keV to the beam energy).
    min_significance : float
        An element is kept if its line family is at least this many sigma above zero.
    calibrate : bool
        With at least 20 000 counts, first refine the energy shift (within +-20 eV) and the
        detector resolution (0.7-1.5 times ``energy_resolution_MnKa``) on the major lines: a
        misplaced or too narrow model peak otherwise makes a spurious neighbour element.
    iterations : int
        Fit-and-correct passes.
    calibration : (float, float), optional
        ``(energy shift keV, resolution eV at Mn Ka)`` to use where the spectrum holds too few counts to refine its
        own (:func:`calibration_of` another spectrum of the same map: its sum). At a few thousand counts a peak left
        5 eV off its model is fitted by a neighbour line: the apatite of the real chevkinite map thinned to 1 % of
        its counts (5 600 counts) read 10 % Zr from its P Ka (Zr La 30 eV above), enough to name it "unknown".

    Returns
    -------
    Composition
    """
    s = check_array(spectrum, "spectrum", ndim=1, kind="biuf").astype(np.float64)
    e = check_array(energy_keV, "energy_keV", ndim=1, kind="iuf").astype(np.float64)
    if s.shape != e.shape or e.size < 8 or np.any(np.diff(e) <= 0):
        raise ValueError(f"`spectrum` {s.shape} and `energy_keV` {e.shape} must be alike, 1-D, with >= 8 "
                         f"increasing energies.")
    if np.any(s < 0):
        raise ValueError("`spectrum` holds negative counts.")
    e0 = check_number(beam_energy, "beam_energy", low=0, low_open=True, high=1000)  # kV; 1e300 overflowed
    check_choice(oxygen, "oxygen", ("stoichiometry", "measured"))
    res = check_number(energy_resolution_MnKa, "energy_resolution_MnKa", low=30, high=1000)
    check_number(min_significance, "min_significance", low=0)
    check_int(iterations, "iterations", low=1, high=20)
    if not isinstance(calibrate, (bool, np.bool_)):
        raise TypeError(f"`calibrate` must be True or False, got {calibrate!r}.")
    if not isinstance(energy_range, (tuple, list)) or len(energy_range) != 2:
        raise TypeError(f"`energy_range` must be a pair (low keV, high keV or None), got {energy_range!r}.")
    lo = check_number(energy_range[0], "energy_range[0]", low=0)
    hi = check_number(energy_range[1], "energy_range[1]", low=lo, low_open=True, allow_none=True)
    if e.size and (lo >= e.max() or (hi is not None and hi <= e.min())):
        raise ValueError(f"`energy_range` ({lo:g} to {hi if hi is not None else 'the end'} keV) holds no channel of "
                         f"the spectrum ({e.min():g} to {e.max():g} keV).")
    if elements is None:
        cand = DEFAULT_ELEMENTS
    else:
        if isinstance(elements, str) or not np.iterable(elements) or not all(isinstance(el, str) for el in elements):
            raise TypeError(f"`elements` must be a sequence of element symbols, got {elements!r}.")
        cand = tuple(dict.fromkeys(elements))
        for el in cand:
            phys.element_props(el)
    cand = tuple(dict.fromkeys([*cand, "O"]))  # O is always fitted, to check the stoichiometry
    nuisance = ("C",) if "C" not in cand else ()
    kw = dict(beam_energy=e0, resolution=res, window=(lo, hi), min_significance=min_significance)
    if calibration is not None:
        if not isinstance(calibration, (tuple, list)) or len(calibration) != 2:
            raise TypeError(f"`calibration` must be a pair (shift keV, resolution eV), got {calibration!r}.")
        check_number(calibration[0], "calibration[0]", low=-1, high=1)
        check_number(calibration[1], "calibration[1]", low=30, high=1000)
    with _one_blas_thread():  # small matrices: BLAS threads only thrash a busy machine
        s = _shape_of(s, e, cand, nuisance, kw)
        return _composition(s, e, e0, cand, nuisance, oxygen, iterations, calibrate, kw, calibration)


def _shape_of(s, e, cand, nuisance, kw):
    """The spectrum as the counts it is worth: divided by its :func:`~._dispersion.dispersion`, then scaled down to
    :data:`MAX_FIT_COUNTS` counts where it holds more."""
    s = s / dispersion(s, e, cand, nuisance, kw, cap=MAX_FIT_COUNTS)
    total = float(s.sum())
    return s * (MAX_FIT_COUNTS / total) if total > MAX_FIT_COUNTS else s


def effective_counts(spectrum, energy_keV, *, beam_energy, elements=None, energy_resolution_MnKa=130.0,
                     energy_range=(0.2, None)) -> float:
    """The counts a spectrum is fitted as (:func:`composition`): its counts over its over-dispersion (a mosaic of
    copies of one map, counts multiplied: :mod:`phaselib.identify._dispersion`), at most :data:`MAX_FIT_COUNTS`."""
    s = check_array(spectrum, "spectrum", ndim=1, kind="biuf").astype(np.float64)
    e = check_array(energy_keV, "energy_keV", ndim=1, kind="iuf").astype(np.float64)
    e0 = check_number(beam_energy, "beam_energy", low=0, low_open=True, high=1000)
    cand = tuple(dict.fromkeys([*(DEFAULT_ELEMENTS if elements is None else elements), "O"]))
    kw = dict(beam_energy=e0, resolution=check_number(energy_resolution_MnKa, "energy_resolution_MnKa", low=30,
                                                       high=1000), window=tuple(energy_range))
    with _one_blas_thread():
        return float(_shape_of(s, e, cand, ("C",) if "C" not in cand else (), kw).sum())


def calibration_of(spectrum, energy_keV, *, beam_energy, elements=None, energy_resolution_MnKa=130.0,
                   energy_range=(0.2, None)):
    """``(energy shift keV, resolution eV at Mn Ka)`` refined on a spectrum's major lines (as :func:`composition`
    does on its own spectrum), or None under :data:`CALIBRATE_COUNTS` counts or without a major line. Given to
    :func:`composition` as ``calibration`` for spectra of the same map too poor to refine their own."""
    s = check_array(spectrum, "spectrum", ndim=1, kind="biuf").astype(np.float64)
    e = check_array(energy_keV, "energy_keV", ndim=1, kind="iuf").astype(np.float64)
    if s.shape != e.shape or s.sum() < CALIBRATE_COUNTS:
        return None
    e0 = check_number(beam_energy, "beam_energy", low=0, low_open=True, high=1000)
    cand = tuple(dict.fromkeys([*(DEFAULT_ELEMENTS if elements is None else elements), "O"]))
    kw = dict(beam_energy=e0, resolution=check_number(energy_resolution_MnKa, "energy_resolution_MnKa", low=30,
                                                       high=1000), window=tuple(energy_range), artefacts=True)
    with _one_blas_thread():
        return _refined(s, e, cand, ("C",) if "C" not in cand else (), kw)


def _refined(s, e, cand, nuisance, kw):
    """``(shift, resolution)`` on the spectrum's majors (lines over 10 sigma), or None without one. The majors are
    those of the first fit at the resolution of :data:`RESOLUTION_STARTS` that fits best (see there)."""
    rest = {k: v for k, v in kw.items() if k not in ("min_significance", "resolution")}
    starts = [kw["resolution"] * f for f in RESOLUTION_STARTS]  # every candidate in: chi-squares of one model each
    start = min(starts, key=lambda r: fit_lines(s, e, elements=cand, nuisance=nuisance, resolution=r, select=False,
                                                **rest).reduced_chi2)
    first = fit_lines(s, e, elements=cand, nuisance=nuisance, min_significance=kw.get("min_significance", 3.5),
                      resolution=start, **rest)
    majors = [el for el, v in first.intensity.items() if v > 10 * first.error[el]]
    if not majors:
        return None
    return refine_calibration(s, e, elements=majors, nuisance=nuisance, resolution=start, **rest)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _composition(s, e, e0, cand, nuisance, oxygen, iterations, calibrate, kw, calibration=None):
    lo, hi = kw["window"]
    weights, fit, shift = None, None, 0.0
    kw = dict(kw, artefacts=bool(s.sum() >= CALIBRATE_COUNTS))
    found = _refined(s, e, cand, nuisance, kw) if calibrate and s.sum() >= CALIBRATE_COUNTS else None
    if calibrate and found is None and calibration is not None:
        found = (float(calibration[0]), float(calibration[1]))
    if found is not None:
        shift, res = found
        kw.update(resolution=res)
        e = e - shift
    for it in range(iterations):
        fit = fit_lines(s, e, elements=cand if it == 0 else tuple(fit.intensity), nuisance=nuisance,
                        weights=weights, select=it == 0, **kw)
        els = [el for el, v in fit.intensity.items() if el != "O" and v > 0]
        if not els:
            raise ValueError("No element line is significant in this spectrum (too few counts?).")
        g = np.array([phys.generation_factor(el, fit.family[el], e0) for el in els])
        r = np.array([fit.intensity[el] for el in els]) / g
        n = dict(zip(els, r / r.sum()))
        o_meas = fit.intensity["O"] / phys.generation_factor("O", "K", e0) / r.sum() if "O" in fit.intensity else 0
        o_stoich = _oxygen_stoich(n)
        o_in_range = phys.main_family("O", e0, lo, hi or e[-1]) is not None
        ratio = o_meas / o_stoich if (o_in_range and o_stoich > 0) else float("nan")
        use_meas = oxygen == "measured" or (o_in_range and not ratio >= 0.3)
        n["O"] = max(o_meas, 0.0) if use_meas else o_stoich
        if n["O"] <= 0:
            del n["O"]
        weights = _weights(n)
    # counting errors of the cation fractions: x = r / sum(r), r = beta / g
    j_beta = [list(fit.intensity).index(el) for el in els]
    cov_r = fit.cov[np.ix_(j_beta, j_beta)] / np.outer(g, g) * max(1.0, fit.reduced_chi2)
    x = r / r.sum()
    jac = (np.eye(len(els)) - x[:, None]) / r.sum()
    var_x = np.clip(np.diag(jac @ cov_r @ jac.T), 0, None)
    order = sorted(n, key=phys.atomic_number)
    total = sum(n.values())
    at = np.array([n[el] / total for el in order]) * 100
    share = sum(n[el] for el in els) / total  # cation (non-O) share of all atoms
    err = np.array([0.0 if el == "O" else np.sqrt(var_x[els.index(el)]) * share * 100 for el in order])
    wt = np.array([weights[el] for el in order]) * 100
    net = np.array([fit.net_counts.get(el, np.nan) if (el != "O" or use_meas) else np.nan for el in order])
    lines = tuple(f"{el}_{fit.family[el]}" if (el != "O" or use_meas) else "O_stoich" for el in order)
    return Composition(tuple(order), at, wt, err, net, lines, "measured" if use_meas else "stoichiometry",
                       float(ratio), float(s.sum()), fit.reduced_chi2, shift, kw["resolution"])
