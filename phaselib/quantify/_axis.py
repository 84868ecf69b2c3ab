"""Checks of a map's energy axis and beam energy against its summed spectrum (said in warnings, never refused), and
:func:`phase_lines`, which names each phase's lines after them.

- **Calibration**: the strong K-alpha lines (O and heavier) named in the sum spectrum sit where the axis puts their
  energies, within a few eV (real maps here: medians of 3-8 eV, single lines up to 16 eV, on 10 eV channels). A
  median shift over :data:`CAL_SHIFT_EV`, or a line more than :data:`CAL_SPREAD_EV` off the others along the axis (a
  scale error grows with energy), means a wrong offset or scale: elements and minerals are then misnamed.
- **Beam energy**: no X-ray is emitted above it. Over :data:`ABOVE_BEAM_SHARE` of the counts above it (by half a
  keV) means the beam energy given is too low (at 20 kV, 1.2-3 % of the counts lie above 10.5 keV).
"""

from __future__ import annotations

import numpy as np

from ._lines import identify_lines

#: a median shift of the strong lines from their energies beyond which the energy axis is said to be off (eV)
CAL_SHIFT_EV = 15.0
#: the largest shift of a strong line from a straight fit through zero shift... beyond which (eV) a scale is off
CAL_SPREAD_EV = 30.0
#: share of the counts above the beam energy (+0.5 keV) beyond which the beam energy given is said to be too low
ABOVE_BEAM_SHARE = 0.005


def axis_warnings(total, energy_keV, beam_energy=None) -> list[str]:
    """Warnings (texts) about the energy axis and beam energy of a map whose summed spectrum is ``total``."""
    total = np.asarray(total, np.float64)
    e = np.asarray(energy_keV, np.float64)
    out = []
    if total.sum() <= 0 or e.size < 8:
        return out
    if beam_energy:
        above = float(total[e > beam_energy + 0.5].sum() / total.sum())
        if above > ABOVE_BEAM_SHARE:
            reach = e[min(np.searchsorted(np.cumsum(total) / total.sum(), 0.9999), e.size - 1)]
            out.append(f"{100 * above:.1f} % of the counts lie above the beam energy given ({beam_energy:g} kV), where "
                       f"no X-ray is emitted; the counts reach {reach:.1f} keV: check the beam energy (--beam-energy).")
    lines = identify_lines(total, e, beam_energy=beam_energy, n_lines=10)
    if not lines:
        return out
    top = max(x["height"] for x in lines)
    strong = [x for x in lines if x["line"].endswith("_Ka") and x["energy_keV"] >= 0.5 and x["height"] >= 0.05 * top]
    if len(strong) < 2:
        return out
    at = np.array([x["energy_keV"] for x in strong])
    shift = 1000 * (np.array([x["peak_keV"] for x in strong]) - at)
    median = float(np.median(shift))
    worst = int(np.argmax(np.abs(shift - median)))
    if abs(median) > CAL_SHIFT_EV or (len(strong) >= 3 and abs(shift[worst] - median) > CAL_SPREAD_EV):
        shown = ", ".join(f"{x['line'].replace('_', ' ')} at {x['peak_keV']:.3f} keV for {x['energy_keV']:.3f}"
                          for x in strong[:3])
        out.append(f"The X-ray lines sit {median:+.0f} eV (median) from the energies the axis gives them ({shown}): "
                   "check the energy calibration (offset and scale); phaselib.preprocess.calibrate_energy fits it to "
                   "known lines. Elements and minerals may be misnamed.")
    return out


def phase_lines(sums, energy_keV, *, elements=None, beam_energy=None):
    """The strongest named X-ray lines of each phase spectrum (:func:`identify_lines`); ``elements``
    (e.g. a file's metadata) are dropped when one of them is not an element symbol. An energy axis or a beam
    energy that the phases' summed spectrum belies is warned of (:func:`axis_warnings`)."""
    import warnings

    for text in axis_warnings(np.sum(sums, axis=0), energy_keV, beam_energy):
        warnings.warn(text, stacklevel=3)
    try:
        return [identify_lines(s, energy_keV, elements=elements, beam_energy=beam_energy) for s in sums]
    except ValueError:
        return [identify_lines(s, energy_keV, beam_energy=beam_energy) for s in sums]
