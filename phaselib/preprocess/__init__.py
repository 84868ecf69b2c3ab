"""Preprocessing of spectrum images: crop, binning, energy window, calibration, weights, pixel size,
pixels that hold no data, counts from scaled values.

Every function takes a :class:`~phaselib.SpectrumImage` and returns a new one (or plain
arrays); the input is never modified. Integer counts stay integer, and a dask map stays lazy.
"""

from ._blank import BLANK_MEDIAN, blank_pixels
from ._calibration import EnergyCalibration, apply_calibration, calibrate_energy
from ._crop_bin import bin_energy, bin_spatial, crop
from ._pixel_size import tilt_corrected_pixel_size, with_pixel_size
from ._scale import CountScale, as_counts, count_scale
from ._weights import poisson_weights
from ._window import energy_channels, energy_window, energy_window_slice, window_channels

__all__ = [
    "BLANK_MEDIAN", "CountScale", "EnergyCalibration", "apply_calibration", "bin_energy", "bin_spatial", "blank_pixels",
    "as_counts", "calibrate_energy", "count_scale",
    "crop", "energy_channels", "energy_window", "energy_window_slice", "poisson_weights", "window_channels",
    "tilt_corrected_pixel_size", "with_pixel_size",
]
