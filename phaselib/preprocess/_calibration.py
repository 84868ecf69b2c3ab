"""Energy-axis calibration by fitting the positions of known X-ray lines.

The seed notebook found peaks in the summed spectrum and fitted ``np.polyfit``
of their channels against line energies; :func:`calibrate_energy` does the same
with sub-channel peak positions. Re-exported by :mod:`phaselib.preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._image import SpectrumImage
from .._lines import line_energy
from .._validate import check_image, check_number, check_positive
from ._weights import row_block_sums

__all__ = ["EnergyCalibration", "apply_calibration", "calibrate_energy"]


@dataclass(frozen=True, eq=False)
class EnergyCalibration:
    """An energy axis fitted by :func:`calibrate_energy`: ``E = offset + scale * channel``.

    Attributes
    ----------
    offset, scale : float
        Energy of channel 0 and channel width, in keV.
    lines : tuple of str
        The X-ray lines used, e.g. ``("Al_Ka", "Si_Ka")``.
    line_energies_keV, peak_channels, residuals_keV : (L,) ndarray
        Tabulated line energies, fitted (sub-channel) peak positions, and
        ``line_energies_keV - (offset + scale * peak_channels)``.
    """

    offset: float
    scale: float
    lines: tuple
    line_energies_keV: np.ndarray
    peak_channels: np.ndarray
    residuals_keV: np.ndarray


def _peak_position(spectrum, centre, half_width, smooth_sigma, refine_half):
    """Sub-channel position of the peak nearest ``centre`` within ``+-half_width`` channels."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    lo, hi = max(0, int(centre - half_width)), min(len(spectrum), int(centre + half_width) + 2)
    peaks, props = find_peaks(gaussian_filter1d(spectrum, smooth_sigma)[lo:hi], prominence=0)
    if len(peaks) == 0:
        return None
    prom = props["prominences"]
    peaks = peaks[prom >= 0.1 * prom.max()] + lo  # ignore ripples beside the real peaks
    top = int(peaks[np.argmin(np.abs(peaks - centre))])
    a, b = max(0, top - refine_half), min(len(spectrum), top + refine_half + 1)
    y = spectrum[a:b]
    if b - a >= 3 and np.all(y > 0):  # a gaussian is a parabola in log space
        k2, k1, _ = np.polyfit(np.arange(a, b) - top, np.log(y), 2, w=np.sqrt(y))
        if k2 < 0 and abs(k1 / (2 * k2)) <= refine_half:
            return top - k1 / (2 * k2)
    return float(top)


def calibrate_energy(image_or_spectrum, lines, *, energy_offset=None, energy_scale=None,
                     search_keV=0.3):
    """Fit the energy axis to the measured positions of known X-ray lines.

    Each line's peak is the (smoothed) local maximum nearest its nominal channel within
    ``+-search_keV``, refined to a sub-channel position by a gaussian (log-parabola) fit over
    about +-40 eV; ``energy = offset + scale * channel`` is then fitted with ``np.polyfit``.

    Parameters
    ----------
    image_or_spectrum : SpectrumImage or (C,) array_like
        A map (its sum spectrum is used; of a dask map only the sum is computed) or a spectrum.
    lines : sequence of str
        Two or more strong, well separated X-ray lines, e.g. ``["Al_Ka", "Si_Ka", "K_Ka",
        "Ca_Ka", "Fe_Ka"]``; energies from exspy's element database.
    energy_offset, energy_scale : float, optional
        Nominal axis (keV) used to find the peaks; default: the image's. Needed for a spectrum.
    search_keV : float
        Half width of the search window around each line's nominal position.

    Returns
    -------
    EnergyCalibration

    Raises
    ------
    ValueError
        If fewer than two different lines are given, a line is unknown or off the axis, no peak
        is found near a line, the nominal axis is missing or invalid, the spectrum is not 1-D
        or not finite, or the peaks found do not increase with energy.
    """
    if isinstance(image_or_spectrum, SpectrumImage):
        img = image_or_spectrum
        offset = img.energy_offset if energy_offset is None else energy_offset
        scale = img.energy_scale if energy_scale is None else energy_scale
        spectrum = (np.asarray(img.data.sum(axis=(0, 1), dtype=np.float64).compute())
                    if img.is_lazy else row_block_sums(img)[1])
    else:
        spectrum = np.asarray(image_or_spectrum, dtype=np.float64)
        if spectrum.ndim != 1 or spectrum.size < 3:
            raise ValueError(f"A spectrum must be 1-D with at least 3 channels, got shape "
                             f"{spectrum.shape}.")
        if energy_offset is None or energy_scale is None:
            raise ValueError("Give `energy_offset` and `energy_scale` (the nominal energy "
                             "axis) with a plain spectrum.")
        offset, scale = energy_offset, energy_scale
    scale, search = check_positive(scale, "energy_scale"), check_positive(search_keV, "search_keV")
    check_number(offset, "energy_offset")
    if not np.isfinite(spectrum).all():
        raise ValueError("The spectrum holds NaN or infinite values.")
    lines = (lines,) if isinstance(lines, str) else tuple(str(x) for x in lines)
    if len(set(lines)) < 2:
        raise ValueError(f"Energy calibration needs at least two different lines, got {lines}.")
    energies = np.array([line_energy(x) for x in lines])
    n, top = len(spectrum), offset + scale * (len(spectrum) - 1)
    channels = []
    for line, energy in zip(lines, energies):
        centre = (energy - offset) / scale
        if not 0 <= centre <= n - 1:
            raise ValueError(f"{line} ({energy:.4f} keV) is outside the energy axis "
                             f"{offset:.3f}..{top:.3f} keV.")
        pos = _peak_position(spectrum, centre, search / scale, max(1.0, 0.02 / scale),
                             max(1, round(0.04 / scale)))
        if pos is None:
            raise ValueError(f"No peak found within {search:g} keV of {line} ({energy:.4f} "
                             "keV); drop that line or widen `search_keV`.")
        channels.append(pos)
    channels = np.array(channels)
    distinct = len(np.unique(channels.round(6))) == len(np.unique(energies))
    fit_scale, fit_offset = np.polyfit(channels, energies, 1) if distinct else (0.0, 0.0)
    if not fit_scale > 0:
        raise ValueError(f"The peaks found for {lines} at channels {np.round(channels, 1)} do "
                         "not increase with energy; check the lines and the nominal axis.")
    residuals = energies - (fit_offset + fit_scale * channels)
    for arr in (energies, channels, residuals):
        arr.setflags(write=False)
    return EnergyCalibration(float(fit_offset), float(fit_scale), lines, energies, channels,
                             residuals)


def apply_calibration(image, calibration):
    """A new SpectrumImage with the energy axis of an :class:`EnergyCalibration`."""
    check_image(image)
    if not isinstance(calibration, EnergyCalibration):
        raise TypeError(f"Expected an EnergyCalibration, got {type(calibration).__name__}.")
    return image.replace(energy_offset=calibration.offset, energy_scale=calibration.scale)
