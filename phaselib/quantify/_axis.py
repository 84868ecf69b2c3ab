"""Checks of a map's energy axis and beam energy against its summed spectrum (said in warnings, never refused), and
:func:`phase_lines`, which names each phase's lines after them.

- **Calibration**: the strongest peaks of the sum spectrum sit at main lines of the usual elements, within a few eV
  (:func:`_peak_offset`; over :data:`PEAK_OFF_EV`, a wrong offset or scale: a shift of a few lines' spacing is seen
  too, where the lines it names would look right), and the strong K-alpha lines (O and heavier) named in it sit where
  the axis puts their energies (real maps here: medians of 3-8 eV, single lines up to 16 eV, on 10 eV channels). A
  median shift over :data:`CAL_SHIFT_EV`, or a line more than :data:`CAL_SPREAD_EV` off the others along the axis (a
  scale error grows with energy), means a wrong offset or scale: elements and minerals are then misnamed.
- **Beam energy**: no X-ray is emitted above it. Over :data:`ABOVE_BEAM_SHARE` of the counts above it (by half a
  keV) means the beam energy given is too low (at 20 kV, 1.2-3 % of the counts lie above 10.5 keV).
"""

from __future__ import annotations

import numpy as np

from ._lines import lines_of

#: a median shift of the strong lines from their energies beyond which the energy axis is said to be off (eV)
CAL_SHIFT_EV = 15.0
#: the largest shift of a strong line from a straight fit through zero shift... beyond which (eV) a scale is off
CAL_SPREAD_EV = 30.0
#: a median distance of the strongest peaks to the nearest main line beyond which (eV) the axis is said to be off
PEAK_OFF_EV = 15.0
#: elements whose main lines (:data:`MAIN_LINES`) the strongest peaks of a rock's spectrum are expected at
AXIS_ELEMENTS = ("C", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr", "Mn", "Fe", "Co",
                 "Ni", "Cu", "Zn", "Sr", "Zr", "Ba", "La", "Ce", "Nd", "Pb")
MAIN_LINES = ("Ka", "Kb", "La", "Lb1", "Ma")
#: channels wider than this (eV) are not checked for their calibration (16 channels of 640 eV gave a "107 eV" note),
#: nor narrower than FINEST_EV
COARSEST_EV, FINEST_EV = 100.0, 1.0
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
    step_ev = 1000 * float(e[1] - e[0])
    if not FINEST_EV <= step_ev <= COARSEST_EV:  # channels wider than the lines: no line placed to a few eV;
        return out  # narrower than 1 eV: no X-ray axis (its line widths would be billions of channels)
    off = _peak_offset(total, e, beam_energy)
    if off is not None and off > PEAK_OFF_EV:
        out.append(f"The strongest peaks sit a median {off:.0f} eV from the nearest line of the usual elements "
                   "(within a few eV on a calibrated axis): check the energy calibration (offset and scale); "
                   "phaselib.preprocess.calibrate_energy fits it to known lines. Elements and minerals may be "
                   "misnamed.")
        return out
    lines = lines_of(total, e, beam_energy=beam_energy, n_lines=10)
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
    # the lines' peaks are placed to a channel: their tolerances at least half a channel and a channel wide
    if abs(median) > max(CAL_SHIFT_EV, step_ev / 2) or (len(strong) >= 3 and abs(shift[worst] - median) > max(
            CAL_SPREAD_EV, step_ev)):
        shown = ", ".join(f"{x['line'].replace('_', ' ')} at {x['peak_keV']:.3f} keV for {x['energy_keV']:.3f}"
                          for x in strong[:3])
        out.append(f"The X-ray lines sit {median:+.0f} eV (median) from the energies the axis gives them ({shown}): "
                   "check the energy calibration (offset and scale); phaselib.preprocess.calibrate_energy fits it to "
                   "known lines. Elements and minerals may be misnamed.")
    return out


def _peak_offset(total, e, beam_energy, n=6):
    """Median distance (eV) of the ``n`` strongest peaks of ``total`` (0.3-10 keV, under the beam energy, 5 % of the
    strongest or more; positions to a fraction of a channel) to the nearest main line of :data:`AXIS_ELEMENTS`;
    None with fewer than 3 peaks. On a calibrated axis 0.3-9 eV (P45 6, the chevkinite map 9, synthetic rocks; none of
    49 maps of other generators and detectors over 15); with the axis 20 eV or 1 % off 13-29, 0.05-0.2 keV off 33-100,
    0.27 keV off (Si Ka read as Al Ka) 13-55."""
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    from .._lines import xray_lines
    from ._lines import _background

    step = float(e[1] - e[0])
    if not step > 0:
        return None
    smooth = gaussian_filter1d(total, 0.13 / 2.355 / step / 2)
    net = smooth - _background(smooth, max(3, int(round(3 * 0.13 / step))))
    top = min(10.0, beam_energy or 10.0)
    m = np.where((e > 0.3) & (e < top), net, 0)
    peaks = np.flatnonzero((m > 0) & (m == maximum_filter1d(m, 2 * max(1, int(0.065 / step)) + 1)))
    peaks = peaks[(peaks > 0) & (peaks < e.size - 1)]
    peaks = peaks[np.argsort(-m[peaks])][:n]
    peaks = peaks[m[peaks] >= 0.05 * m[peaks].max()] if peaks.size else peaks
    if peaks.size < 3:
        return None
    a, b, c = net[peaks - 1], net[peaks], net[peaks + 1]  # a parabola through the three channels around each peak
    at = e[peaks] + step * 0.5 * (a - c) / np.where(a - 2 * b + c == 0, -1e-12, a - 2 * b + c)
    lines = np.array([x[1] for x in xray_lines(AXIS_ELEMENTS, min_weight=0.1) if x[0].split("_")[1] in MAIN_LINES])
    return float(1000 * np.median(np.abs(at[:, None] - lines[None]).min(1)))


def phase_lines(sums, energy_keV, *, elements=None, beam_energy=None):
    """The strongest named X-ray lines of each phase spectrum (:func:`identify_lines`); ``elements``
    (e.g. a file's metadata) are dropped when one of them is not an element symbol. An energy axis or a beam
    energy that the phases' summed spectrum belies is warned of (:func:`axis_warnings`)."""
    import warnings

    for text in axis_warnings(np.sum(sums, axis=0), energy_keV, beam_energy):
        warnings.warn(text, stacklevel=3)
    try:
        return [lines_of(s, energy_keV, elements=elements, beam_energy=beam_energy) for s in sums]
    except ValueError:
        return [lines_of(s, energy_keV, beam_energy=beam_energy) for s in sums]
