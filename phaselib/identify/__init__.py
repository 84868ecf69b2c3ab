"""Mineral names for phase spectra: standardless composition, then the closest minerals of a table.

:func:`composition` turns a spectrum (a phase's summed spectrum) into a semi-quantitative
composition (atomic and weight %); :func:`match_minerals` ranks the minerals of
``minerals.csv`` (:func:`mineral_table`: 85 rock-forming and accessory minerals and 4 volcanic
glass compositions in 91 rows, each with its source) by how well their cation fractions fit it;
:func:`name_phases` does both for every phase of a map.

``_physics.py``: the theoretical factors; ``_fit.py``: the spectrum fit; ``_composition.py``:
:func:`composition`; ``_table.py``: the table and formula reader; ``_match.py``: the scores;
``_mixture.py``: small grains mixed with the phase around them.

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
from ._composition import Composition, composition
from ._match import Candidate, PhaseName, match_minerals
from ._table import Mineral, parse_formula, read_table
from ._table import default_table as _default_table

__all__ = ["Candidate", "Composition", "Mineral", "PhaseName", "composition", "match_minerals", "mineral_table",
           "name_phases", "parse_formula"]


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
                min_score=0.5, max_uncertainty=0.2, margin=0.05, energy_resolution_MnKa=130.0) -> tuple:
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
    comps, reasons = [], []
    for s in sums:
        total = float(np.sum(s))
        comp, reason = None, ""
        if total < min_counts:
            reason = f"too few counts ({total:.0f} < {min_counts:g})"
        else:
            try:
                comp = composition(s, e, beam_energy=beam_energy, elements=elements,
                                   energy_resolution_MnKa=energy_resolution_MnKa)
            except ValueError as err:
                if "significant" not in str(err):
                    raise
                reason = "no significant X-ray line"
        comps.append(comp)
        reasons.append(reason)
    # the detector's efficiency at O K is rarely known well: scale the measured oxygen so that
    # the map's silicate and oxide phases have, in the median, their oxygen by stoichiometry
    ratios = [c.oxygen_ratio for c in comps if c is not None and c.oxygen == "stoichiometry"
              and 0.3 <= c.oxygen_ratio <= 1.6]
    scale = 1.0 / float(np.median(ratios)) if len(ratios) >= 2 else 1.0
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
