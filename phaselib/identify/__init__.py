"""Mineral names for phase spectra: standardless composition, then the closest minerals of a table.

:func:`composition` turns a spectrum (a phase's summed spectrum) into a semi-quantitative
composition (atomic and weight %); :func:`match_minerals` ranks the minerals of
``minerals.csv`` (:func:`mineral_table`: 85 rock-forming and accessory minerals and 4 volcanic
glass compositions in 91 rows, each with its source) by how well their cation fractions fit it;
:func:`name_phases` does both for every phase of a map.

``_physics.py``: the theoretical factors; ``_fit.py``: the spectrum fit; ``_composition.py``:
:func:`composition`; ``_table.py``: the table and formula reader; ``_match.py``: the scores;
``_mixture.py``: small grains mixed with the phase around them; ``_calibrate.py``: the element
sensitivities fitted on the map's own phases (a detector unlike the model).

Examples
--------
>>> from phaselib.pipeline import map_phases
>>> result = map_phases(image)                                       # doctest: +SKIP
>>> names = name_phases(result.spectra.sums, result.spectra.energy_keV,
...                     beam_energy=image.beam_energy)                # doctest: +SKIP
>>> [n.best for n in names]                                          # doctest: +SKIP
['rhyolitic glass', 'andesine', 'biotite', 'apatite', 'hematite']
>>> names[1].text                                                    # doctest: +SKIP
'andesine (An37) 0.95, oligoclase (An30) 0.94, labradorite (An50) 0.93'
"""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_positive
from ._composition import CALIBRATE_COUNTS, Composition, calibration_of, composition, effective_counts
from ._match import Candidate, PhaseName, match_minerals
from ._match import calibrate as _calibrate
from ._table import Mineral, parse_formula, read_table
from ._table import default_table as _default_table

__all__ = ["Candidate", "Composition", "Mineral", "PhaseName", "calibration_of", "composition", "match_minerals",
           "mineral_table", "calibration_note", "name_phases", "parse_formula"]


def mineral_table(path=None) -> tuple:
    """The minerals of ``minerals.csv`` (or of a CSV laid out the same way).

    Parameters
    ----------
    path : str or Path, optional
        Default: the table shipped with phaselib (``phaselib/identify/minerals.csv``, whose
        header cites the sources).

    Returns
    -------
    tuple of Mineral
    """
    return _default_table() if path is None else read_table(path)


def name_phases(spectra_sums, energy_keV, *, beam_energy, elements=None, table=None, min_counts=2000,
                min_score=0.5, max_uncertainty=0.2, margin=0.05, energy_resolution_MnKa=130.0,
                calibrate=True) -> tuple:
    """Composition and mineral name of each phase spectrum.

    Parameters
    ----------
    spectra_sums : (K, C) or (C,) array_like
        Summed spectra of the phases (counts: ``PhaseMap.spectra.sums``). Sums, not means:
        the counting errors, hence the tolerance of the match and the ``"unknown"`` rule,
        come from the counts.
    energy_keV : (C,) array_like
        Channel energies.
    beam_energy : float
        Accelerating voltage, kV.
    elements : sequence of str, optional
        Candidate elements (see :func:`composition`).
    table : path or sequence of Mineral, optional
        Default: :func:`mineral_table`.
    min_counts : float
        A phase with fewer counts in all is ``"unknown"`` without a fit.
    min_score, max_uncertainty, margin : float
        See :func:`match_minerals`.
    energy_resolution_MnKa : float
        Detector FWHM at Mn Ka, eV.
    calibrate : bool
        Fit the elements' sensitivities on the phases themselves (default): when several
        phases agree that an element is read too high or too low (a detector or a model
        unlike phaselib's), its readings are divided by a factor before naming, and each
        composition says so (``Composition.sensitivity``). Needs three phases with counts
        enough to name; see :mod:`phaselib.identify._calibrate` for what is assumed.

    Returns
    -------
    tuple of PhaseName
        One per phase; ``.best`` is the name (``"unknown"`` when the counts are too few or
        nothing fits), ``.text`` a short summary with the runner-up minerals.
    """
    sums = check_array(spectra_sums, "spectra_sums", kind="biuf")
    if sums.ndim == 1:
        sums = sums[None]
    if sums.ndim != 2:
        raise ValueError(f"`spectra_sums` must be (K, C) or (C,), got shape {sums.shape}.")
    e = check_array(energy_keV, "energy_keV", ndim=1, kind="iuf")
    if e.shape[0] != sums.shape[1]:
        raise ValueError(f"`energy_keV` has {e.shape[0]} channels, `spectra_sums` {sums.shape[1]}.")
    check_positive(beam_energy, "beam_energy")
    min_counts = check_positive(min_counts, "min_counts", allow_zero=True)
    rows = mineral_table() if table is None else table
    totals = sums.sum(1)
    worth = np.array([effective_counts(s, e, beam_energy=beam_energy, elements=elements,  # an over-dispersed
                                       energy_resolution_MnKa=energy_resolution_MnKa) if t >= min_counts else t
                      for s, t in zip(sums, totals)])  # spectrum is worth fewer counts
    comps, reasons = [None] * len(sums), [""] * len(sums)
    # the phases rich enough to refine their own energy shift and resolution first; the others get the counts-weighted
    # median of theirs (or, with none, the sum of all phases'): see `composition`'s `calibration`
    shared, found = None, False  # found once, for every poor phase (from the rich ones, all named by then)
    for i in np.argsort(worth < CALIBRATE_COUNTS, kind="stable"):
        if totals[i] < min_counts:
            reasons[i] = f"too few counts ({totals[i]:.0f} < {min_counts:g})"
            continue
        if worth[i] < CALIBRATE_COUNTS and not found:
            shared, found = _shared_calibration(comps, sums, e, beam_energy, elements, energy_resolution_MnKa), True
        try:
            comps[i] = composition(sums[i], e, beam_energy=beam_energy, elements=elements,
                                   energy_resolution_MnKa=energy_resolution_MnKa, calibration=shared)
        except ValueError as err:
            if "significant" not in str(err):
                raise
            reasons[i] = "no significant X-ray line"
    if not isinstance(calibrate, (bool, np.bool_)):
        raise TypeError(f"`calibrate` must be True or False, got {calibrate!r}.")
    comps = _oxygen_of_the_detector(comps)
    scale = _oxygen_scale(comps)
    if calibrate:
        comps, factors = _calibrate(comps, table=rows, oxygen_scale=scale, max_uncertainty=max_uncertainty)
        scale = _oxygen_scale(comps) if factors else scale
    out = []
    for i, (comp, reason) in enumerate(zip(comps, reasons)):
        if comp is None:
            out.append(PhaseName("unknown", 0.0, True, f"unknown ({reason})", (), None, reason))
            continue
        # a phase's pixels may hold some of a phase around it: one with more counts (a matrix,
        # a larger mineral), not a smaller one
        others = {f"phase {j}": c for j, c in enumerate(comps)
                  if j != i and c is not None and c.total_counts > comp.total_counts}
        out.append(match_minerals(comp, table=rows, min_score=min_score, max_uncertainty=max_uncertainty,
                                  margin=margin, neighbours=others, oxygen_scale=scale))
    return tuple(out)


def calibration_note(names) -> str:
    """One sentence on the element readings that :func:`name_phases` corrected on the map's own
    phases (``calibrate=True``), for the major cations (>= 3 % of a phase's cations) moved by 10 %
    or more; ``""`` when none.

    Parameters
    ----------
    names : sequence of PhaseName

    Returns
    -------
    str
    """
    if names is None or isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise TypeError(f"`names` must be the PhaseName list of name_phases, got {type(names).__name__}.")
    factors, major = {}, set()
    for n in names:
        c = getattr(n, "composition", None)
        if c is None:
            continue
        factors.update(dict(c.sensitivity))
        major.update(el for el, f in zip(*c.cations()[:2]) if f >= 0.03)
    moved = sorted(((el, f) for el, f in factors.items() if el in major and abs(f - 1.0) >= 0.1),
                   key=lambda t: -abs(np.log(t[1])))
    if not moved:
        return ""
    return ("Element readings corrected on the map's own phases (the detector reads them unlike phaselib's "
            "model; each reading divided by): " + ", ".join(f"{el} {f:.2f}" for el, f in moved) + ".")


def _shared_calibration(comps, sums, e, beam_energy, elements, resolution):
    """The energy shift and resolution of the phases that refined theirs (counts-weighted medians), else those of
    the sum of all phases (None where it is too poor too)."""
    rich = [c for c in comps if c is not None and c.total_counts >= CALIBRATE_COUNTS]
    if not rich:
        return calibration_of(np.sum(sums, 0), e, beam_energy=beam_energy, elements=elements,
                              energy_resolution_MnKa=resolution) if len(sums) > 1 else None
    w = np.array([c.total_counts for c in rich])

    def median(v):
        order = np.argsort(v)
        return float(np.asarray(v)[order][np.searchsorted(np.cumsum(w[order]), 0.5 * w.sum())])
    return median([c.energy_shift_keV for c in rich]), median([c.energy_resolution_MnKa for c in rich])


def _oxygen_of_the_detector(comps):
    """:func:`composition` takes a phase whose O K line reads under 0.3 of its stoichiometric oxygen
    for an oxygen-poor one (a sulfide) and keeps the measured oxygen. When the map's phases read,
    in the median, little oxygen (a detector with a thick window, or weaker at low energies than
    the model), a phase reading at least half that median (and 0.1) is oxygen-bearing like the
    others: its oxygen is by stoichiometry again."""
    ratios = [c.oxygen_ratio for c in comps if c is not None and c.oxygen_ratio == c.oxygen_ratio]
    if len(ratios) < 3:
        return comps
    floor = max(0.1, 0.5 * float(np.median(ratios)))
    return [c.rescaled({}, oxygen="stoichiometry") if c is not None and c.oxygen == "measured"
            and c.oxygen_ratio >= floor else c for c in comps]


def _oxygen_scale(comps):
    """The detector's efficiency at O K is rarely known well: the factor on the measured oxygen that
    gives the map's silicate and oxide phases, in the median, their oxygen by stoichiometry."""
    ratios = [c.oxygen_ratio for c in comps if c is not None and c.oxygen == "stoichiometry"
              and 0.15 <= c.oxygen_ratio <= 2.5]
    return 1.0 / float(np.median(ratios)) if len(ratios) >= 2 else 1.0
