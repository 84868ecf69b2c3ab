"""Element lines of a spectrum: named peaks, net line intensities, the detector's peak width."""

from __future__ import annotations

import warnings

import numpy as np

from .._lines import xray_lines
from .._validate import check_array, check_int, check_number

#: a spectrum of values that are not whole counts (a mean) and fewer in all than this is warned about: its lines'
#: significance is tested as counts (:func:`identify_lines`)
FEW_COUNTS = 1e4
#: energies (keV) no X-ray axis reaches: an axis beyond is in eV (:func:`_spectrum_args`)
MAX_KEV = 500.0


def _spectrum_args(spectrum, energy_keV, beam_energy, fwhm_keV):
    """The spectrum and its energies as finite 1-D float arrays of one shape, the beam energy (kV, None) and
    the line width (keV) as finite positive numbers: NaN made NaN peaks and no word, a negative width skimage's
    \"Radius must be a nonnegative integer\"."""
    s = check_array(spectrum, "spectrum", kind="biuf").astype(np.float64)
    e = check_array(energy_keV, "energy_keV", kind="biuf").astype(np.float64)
    if s.shape != e.shape or s.ndim != 1:
        raise ValueError(f"`spectrum` (shape {s.shape}) and `energy_keV` (shape {e.shape}) must be 1-D and alike.")
    if e.size and np.nanmax(np.abs(e)) > MAX_KEV:
        raise ValueError(f"`energy_keV` runs to {np.nanmax(np.abs(e)):.6g}: X-ray energies in keV stay under "
                         f"{MAX_KEV:g}; an axis in eV? Pass it divided by 1000.")
    beam_energy = check_number(beam_energy, "beam_energy", low=0, low_open=True, high=1000, allow_none=True)
    fwhm_keV = check_number(fwhm_keV, "fwhm_keV", low=0, low_open=True, high=10)
    return s, e, beam_energy, fwhm_keV


def _background(spectrum, width):
    """Rough continuum: a morphological opening smoothed, below the spectrum."""
    from scipy.ndimage import grey_opening, uniform_filter1d

    bg = grey_opening(spectrum, size=width)
    return np.minimum(uniform_filter1d(bg, width), spectrum)


#: A Si detector's escape peak sits this far (keV, Si Ka) below a line above the Si K edge (SI_K_EDGE_KEV) ...
ESCAPE_KEV = 1.740
SI_K_EDGE_KEV = 1.839
#: ... and an escape peak holds at most this share of its parent line's height (~1-2 % of a line just above the edge
#: escapes); generous, since a peak is dropped only when it would add an element no other peak shows (calcite's Ca Ka
#: escape read as Y La) ...
ARTEFACT_SHARE = 0.05
#: ... a pile-up (sum) peak at most this share of the weaker of its two parents (two photons in one pulse: about twice
#: the pile-up rate; Si Ka + Ca Ka of a diopside with 2 % of its events piled up: 0.9 % of Ca Ka), so that a minor
#: line where two strong ones would sum (chrome diopside's Cr Ka, 17 eV from Si Ka + Ca Ka, 2.8 % of Ca Ka at 1 wt%
#: Cr) is still named; at 5 % it was not
PILEUP_SHARE = 0.01
#: An L line of an element whose K line the beam excites is named only when its peak is at most this many times the
#: K line's height (a 3d metal's L lines are weak and absorbed; peak heights favour low energies, where peaks are
#: narrower, so a factor of a few): the O Ka peak of a 1 % chevkinite apatite, 1 channel low, was named V La (32 net
#: counts at V Ka's 1.9: a factor 17)
L_OVER_K = 4.0
#: A peak near lines of several elements goes to a found element's line when that line, by its weight and the height
#: of the element's found lines of its family, makes at least this share of the peak
KNOWN_SHARE = 0.3


def detector_artefacts(peak_keV, heights, tol_keV):
    """Which peaks may be the detector's Si escape peaks or pile-up (sum) peaks of stronger peaks
    (:data:`ARTEFACT_SHARE`, :data:`PILEUP_SHARE`).

    Parameters
    ----------
    peak_keV, heights : (P,) ndarray
        Energies and net heights of the peaks found.
    tol_keV : float
        How close (keV) a peak must lie to ``E - 1.740`` of a parent above the Si K edge (escape) or to
        ``E1 + E2`` of two parents (pile-up).

    Returns
    -------
    (P,) ndarray of bool
        True where a peak is at most that share of such parents.
    """
    e, h = np.asarray(peak_keV, float), np.asarray(heights, float)
    out = np.zeros(e.size, bool)
    for i in range(e.size):
        escape = (h >= h[i] / ARTEFACT_SHARE) & (e > SI_K_EDGE_KEV) & (np.abs(e - ESCAPE_KEV - e[i]) <= tol_keV)
        strong = h >= h[i] / PILEUP_SHARE
        pairs = np.abs(e[strong][:, None] + e[strong][None, :] - e[i]) <= tol_keV
        out[i] = bool(escape.any() or pairs.any())
    return out


def identify_lines(spectrum, energy_keV, *, elements=None, n_lines=6, beam_energy=None,
                   fwhm_keV=0.13, min_significance=5.0, n_pixels=None):
    """Name the strongest X-ray peaks of a spectrum from exspy's line database.

    Peaks are found above a morphological background; each is given the
    strongest line (by exspy's weight) within half a FWHM of its position. A weak peak where the
    detector puts an escape or pile-up peak of stronger ones (:func:`detector_artefacts`) names no
    element that no other peak shows.

    Parameters
    ----------
    spectrum : (C,) ndarray
        Counts: a phase's summed spectrum, or its mean spectrum with ``n_pixels`` (the significance of a line
        is tested against the counts' Poisson noise; a spectrum of values that are not whole counts, such as a
        mean, is warned about when it holds few).
    energy_keV : (C,) ndarray
    elements : sequence of str, optional
        Candidate elements (default: common rock-forming elements).
    n_lines : int
        How many peaks to name.
    beam_energy : float, optional
        Lines above it are ignored.
    fwhm_keV : float
        Peak width used for the background and matching.
    min_significance : float
        Minimum peak height over the background's Poisson noise (sigma): a line is named only
        when the counts make it significant.
    n_pixels : int, optional
        ``spectrum`` is the mean of this many pixels' counts (``phase_spectra.npy`` of ``map``, with the
        ``n_pixels`` of ``phases.csv``): it is tested as their sum, heights are reported per pixel.

    Returns
    -------
    list of dict
        ``{"line", "element", "energy_keV", "peak_keV", "height"}``, strongest first.
    """
    s = check_array(spectrum, "spectrum", kind="biuf").astype(np.float64)
    n_pixels = check_int(n_pixels, "n_pixels", low=1, allow_none=True)
    kw = dict(elements=elements, n_lines=n_lines, beam_energy=beam_energy, fwhm_keV=fwhm_keV,
              min_significance=min_significance)
    if n_pixels is not None:
        return [dict(f, height=f["height"] / n_pixels) for f in lines_of(s * n_pixels, energy_keV, **kw)]
    if s.sum() < FEW_COUNTS and np.any(np.abs(s - np.round(s)) > 1e-6 * np.maximum(np.abs(s), 1.0)):
        warnings.warn("`spectrum` holds values that are not whole counts (a mean spectrum?): its lines are tested "
                      "against the Poisson noise of counts, so few are named. Pass the summed spectrum, or the mean "
                      "with `n_pixels`.", UserWarning, stacklevel=2)
    return lines_of(s, energy_keV, **kw)


def lines_of(spectrum, energy_keV, *, elements=None, n_lines=6, beam_energy=None, fwhm_keV=0.13,
             min_significance=5.0):
    """:func:`identify_lines` without its check of the counts (phaselib's own sums: a binned start's, a float
    cube's)."""
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    s, e, beam_energy, fwhm_keV = _spectrum_args(spectrum, energy_keV, beam_energy, fwhm_keV)
    n_lines = check_int(n_lines, "n_lines", low=0)
    min_significance = check_number(min_significance, "min_significance", low=0)
    scale = abs(e[1] - e[0]) if e.size > 1 else 0.0
    if not scale > 0 or abs(e[-1] - e[0]) < 2 * fwhm_keV:  # narrower than two line widths: no line to tell
        return []
    sigma = fwhm_keV / 2.355 / scale
    smooth = gaussian_filter1d(s, sigma / 2)
    bg = _background(smooth, max(3, int(round(3 * fwhm_keV / scale))))
    net = smooth - bg
    # peaks below ~0.2 keV and the detector's low-energy roll-off are not lines
    # local maxima over +-half a FWHM (scipy.signal.find_peaks would cost a 0.3 s import)
    half = max(1, int(fwhm_keV / scale / 2))
    masked = np.where(e > 0.2, net, 0)
    peaks = np.flatnonzero((masked > 0) & (masked == maximum_filter1d(masked, 2 * half + 1)))
    # keep peaks well above the Poisson noise of the smoothed background (a few counts of a
    # low-count phase do not make a line)
    noise = np.sqrt(np.maximum(bg[peaks], 1.0) / (2 * np.sqrt(np.pi) * max(sigma / 2, 0.5)))
    peaks = peaks[net[peaks] >= min_significance * noise]
    peaks = peaks[net[peaks] > 0.01 * net[peaks].max()] if peaks.size else peaks
    candidates = xray_lines(tuple(elements) if elements else None, max_energy=beam_energy)
    energies = np.array([c[1] for c in candidates])
    peak_e = e[peaks]
    tol = fwhm_keV / 2

    def seen(el, line):
        main = next((c[1] for c in candidates if c[0] == f"{el}_{line}"), None)
        return main is not None and bool(np.any(np.abs(peak_e - main) <= tol))

    def plausible(name, height):
        # an L or M line is believed only if the element's K (or L) line, when excited and in
        # range, is seen too; a minor line of a family (Kb, Lb, Ll...) only if its alpha line is
        el, line = name.split("_")
        if line[1:] != "a" and not seen(el, f"{line[0]}a"):
            return False
        for family in ("K", "L"):
            if line[0] == family:
                return True
            main = next((c[1] for c in candidates if c[0] == f"{el}_{family}a"), None)
            # the K (L) line is required only when the beam excites it well: an overvoltage of
            # 1.5 over its edge, taken 15 % above the line (Zr K at 20 kV is barely excited)
            excited = beam_energy is None or 1.15 * 1.5 * main <= beam_energy if main is not None else False
            if main is not None and main < e[-1] and excited:
                at = np.abs(peak_e - main) <= tol
                # ... and, for an L line, not far stronger than that K line (:data:`L_OVER_K`)
                return bool(at.any()) and (family != "K" or height <= L_OVER_K * net[peaks][at].max())
        return True

    artefact = dict(zip(peaks.tolist(), detector_artefacts(peak_e, net[peaks], tol / 2)))
    found, family_height = [], {}  # (element, family) -> the height its found lines give a line of weight 1

    def explains(i, p, near, known):
        """A found element's line: the main line of another of its families about as near as any candidate (Fe La
        of an olivine, not F Ka), or a line of a found family as strong as its weight makes it."""
        el, line = candidates[i][0].split("_")
        if el not in known:
            return False
        if (el, line[0]) not in family_height:
            nearest = min(abs(energies[j] - e[p]) for j in near)
            return line[1:] == "a" and abs(energies[i] - e[p]) <= nearest + tol / 4
        return candidates[i][2] * family_height[(el, line[0])] >= KNOWN_SHARE * net[p]

    for p in peaks[np.argsort(-net[peaks])]:
        near = [i for i in np.flatnonzero(np.abs(energies - e[p]) <= tol) if plausible(candidates[i][0], net[p])]
        if not near:
            continue
        # a peak near lines of several elements goes to an element already found (Ti Kb, not V Ka) when that line
        # can be as strong (Si Ka of zircon is not Zr Ll, of weight 0.04; the O Ka of ilmenite is not Ti La)
        known = {f["element"] for f in found}
        near = [i for i in near if explains(i, p, near, known)] or near
        best = max(near, key=lambda i: (candidates[i][2], -abs(energies[i] - e[p])))
        name = candidates[best][0]
        if any(f["line"] == name for f in found) or (artefact[int(p)] and name.split("_")[0] not in known):
            continue  # a detector's escape or sum peak adds no element
        found.append(dict(line=name, element=name.split("_")[0], energy_keV=candidates[best][1],
                          peak_keV=round(float(e[p]), 4), height=float(net[p])))
        key = (found[-1]["element"], name.split("_")[1][0])
        if candidates[best][2] > 0:
            family_height[key] = max(family_height.get(key, 0.0), float(net[p]) / candidates[best][2])
        if len(found) >= n_lines:
            break
    return found


def fwhm_at(energy_keV, fwhm_MnKa_keV=0.13):
    """Detector peak width (keV) at an energy: ``FWHM^2 = FWHM0^2 + k E``, through ``fwhm_MnKa_keV``
    at Mn Ka (5.899 keV) and about 50 eV of electronic noise at zero energy."""
    e = check_array(energy_keV, "energy_keV", kind="biuf").astype(np.float64)
    fwhm_MnKa_keV = check_number(fwhm_MnKa_keV, "fwhm_MnKa_keV", low=0, low_open=True, high=10)
    k = (fwhm_MnKa_keV ** 2 - 0.05 ** 2) / 5.899
    return np.sqrt(0.05 ** 2 + k * np.clip(e, 0, None))


def line_intensities(spectrum, energy_keV, elements, *, beam_energy=None, fwhm_keV=0.13):
    """Net counts of each element's main line (Ka, else La, else Ma) above a background.

    The net counts are summed over +-0.6 FWHM around the line (about 80 % of a Gaussian peak)
    above the morphological background of :func:`identify_lines`; lines of neighbouring
    elements that overlap are not separated (a semi-quantitative measure).

    Parameters
    ----------
    spectrum : (C,) array_like
        Counts (a phase sum).
    energy_keV : (C,) array_like
    elements : sequence of str
    beam_energy : float, optional
        A line family is used only with an overvoltage of about 1.5 (K lines up to 11.6 keV at 20 kV).
    fwhm_keV : float
        Peak width at Mn Ka.

    Returns
    -------
    net : (E,) ndarray
        Net counts (0 for an element with no usable line in range).
    variance : (E,) ndarray
        Their Poisson variance (counts in the window plus the background's).
    """
    from scipy.ndimage import gaussian_filter1d

    s, e, beam_energy, fwhm_keV = _spectrum_args(spectrum, energy_keV, beam_energy, fwhm_keV)
    scale = abs(e[1] - e[0]) if e.size > 1 else 0.0
    if not scale > 0:
        raise ValueError("`energy_keV` must increase from one channel to the next.")
    bg = _background(gaussian_filter1d(s, fwhm_keV / 2.355 / scale / 2), max(3, int(round(3 * fwhm_keV / scale))))
    # a family is used when the beam excites it well: an overvoltage of 1.5 over its edge, taken
    # 15 % above the line (so Zr L, not Zr K, at 20 kV)
    top = beam_energy / (1.15 * 1.5) if beam_energy else e[-1]
    db = {name: energy for name, energy, _ in xray_lines(tuple(elements), max_energy=top)}
    net, var = np.zeros(len(elements)), np.zeros(len(elements))
    for i, el in enumerate(elements):
        line = next((db[f"{el}_{ln}"] for ln in ("Ka", "La", "Ma") if f"{el}_{ln}" in db
                     and 0.15 < db[f"{el}_{ln}"] < min(top, e[-1])), None)
        if line is None:
            continue
        half = 0.6 * float(fwhm_at(line, fwhm_keV))
        win = (e >= line - half) & (e <= line + half)
        net[i] = float((s[win] - bg[win]).sum())
        var[i] = float(s[win].sum() + bg[win].sum())
    return net, var


def main_elements(lines, n=4):
    """Distinct elements of :func:`identify_lines` output, strongest first."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"`n` must be a whole number >= 0, got {n!r}.")
    if isinstance(lines, (str, bytes)) or not hasattr(lines, "__iter__"):
        raise TypeError(f"`lines` must be the list of identify_lines, got {type(lines).__name__}.")
    out = []
    for f in lines:
        if f["element"] not in out:
            out.append(f["element"])
    return out[:n]
