"""The SpectrumImage value object: a spectrum image and its calibration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

#: kinds of signal: ``counts`` (Poisson statistics, e.g. EDS) and real values whose noise is not Poisson
#: in the values themselves: ``transmission`` (T: the amount of material is -log T), ``absorbance``
#: (already proportional to the amount: -log T, optical density, reflectance taken as it is) and
#: ``intensity`` (one of the two, told apart from the values: see :func:`phaselib.decompose.shape_pca`)
SIGNAL_KINDS = ("counts", "intensity", "transmission", "absorbance")
#: spellings of the Ångström (a wavelength axis's units) read as "Å"
ANGSTROM = ("Angstrom", "angstrom", "Angstroms", "angstroms", "AA", "A", "\u212b", "Ang")
#: units of a time-of-flight axis (an unnamed axis in them is the "Time of flight")
TIME_UNITS = ("s", "ms", "us", "µs", "\u03bcs", "ns")


@dataclass(frozen=True, eq=False)
class SpectrumImage:
    """A spectrum image: every pixel of an ``(H, W)`` map holds a ``C``-channel spectrum.

    The last axis is the *signal axis*. For SEM-EDS maps (the default) it is the X-ray energy in
    keV and the data are counts; any other spectral cube (e.g. a neutron time-of-flight
    transmission cube with a wavelength axis in Angstrom) gives the axis its own name and units
    and says what kind of values it holds.

    Parameters
    ----------
    data : (H, W, C) ndarray or dask array
        Counts or intensities. Integer dtypes are kept as they are (no float copy is made).
    energy_offset : float
        Value of the signal axis at channel 0: the energy in keV for EDS maps, else in
        ``axis_units`` (also readable as :attr:`axis_offset`).
    energy_scale : float
        Channel width (keV for EDS, else ``axis_units``); also :attr:`axis_scale`.
    beam_energy : float or None
        Accelerating voltage, in kV.
    pixel_size : float or None
        Pixel size along x, in micrometres.
    pixel_size_y : float or None
        Pixel size along y, in micrometres (defaults to ``pixel_size``).
    elements : tuple of str
        Element symbols recorded with the map (may be empty).
    metadata : dict
        Original metadata of the file (free form; never interpreted).
    source : str or None
        Path of the file the map came from.
    signal : {"counts", "intensity", "transmission", "absorbance"}
        ``counts`` (default): Poisson counts, weighted as such by :mod:`phaselib.decompose`.
        The others (transmission, absorbance, reflectance...): no Poisson weighting, no X-ray lines
        (see :func:`phaselib.decompose.shape_pca`); ``transmission`` is turned into ``-log T``,
        ``absorbance`` used as it is, ``intensity`` either, as its values suggest.
    axis_name, axis_units : str or None
        Name and units of the signal axis; None: ``"Energy"`` and ``"keV"`` (an EDS map).
    axis_values : (C,) array-like or None
        Explicit, strictly increasing axis values. Evenly spaced values are turned into
        ``energy_offset``/``energy_scale``; uneven ones are kept (:attr:`axis`) and the offset and
        scale become their straight-line fit (used for windows of the axis).
    """

    data: Any
    energy_offset: float = 0.0
    energy_scale: float = 0.01
    beam_energy: float | None = None
    pixel_size: float | None = None
    pixel_size_y: float | None = None
    elements: tuple = ()
    metadata: dict = field(default_factory=dict, repr=False)
    source: str | None = None
    signal: str = "counts"
    axis_name: str | None = None
    axis_units: str | None = None
    axis_values: Any = field(default=None, repr=False)

    def __post_init__(self):
        shape = getattr(self.data, "shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"A spectrum image needs data of shape (H, W, C); got "
                f"{'no array' if shape is None else f'shape {tuple(shape)}'}."
            )
        if min(shape) < 1:
            raise ValueError(f"The spectrum image is empty (shape {tuple(shape)}).")
        if self.signal not in SIGNAL_KINDS:
            raise ValueError(f"`signal` must be one of {', '.join(SIGNAL_KINDS)}, got {self.signal!r}.")
        for name in ("axis_name", "axis_units"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"`{name}` must be a str or None, got {type(value).__name__}.")
        if self.axis_units is not None and self.axis_units.strip() in ANGSTROM:  # one spelling (Bragg edges use it)
            object.__setattr__(self, "axis_units", "Å")
        if self.axis_values is not None:
            self._set_axis_values(shape[2])
        units = "keV" if self.is_energy_axis else (self.axis_units or "units")
        if not np.isfinite(self.energy_scale) or self.energy_scale <= 0:
            raise ValueError(
                f"{'energy_scale' if self.is_energy_axis else 'The axis scale (energy_scale)'} must be a "
                f"positive number of {units} per channel, got {self.energy_scale!r}."
            )
        if not np.isfinite(self.energy_offset):
            raise ValueError(f"energy_offset must be finite, got {self.energy_offset!r}.")
        for name in ("beam_energy", "pixel_size", "pixel_size_y"):  # unknown (None) or a positive number
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                      or not np.isfinite(value) or value <= 0):
                raise ValueError(f"`{name}` must be a positive number or None, got {value!r}.")
        if self.beam_energy is not None and self.beam_energy > 1000:  # kV; 1e308 overflowed the line models
            raise ValueError(f"`beam_energy` must be a number of kV up to 1000, got {self.beam_energy!r}.")
        object.__setattr__(self, "elements", tuple(self.elements or ()))

    def _set_axis_values(self, n_channels):
        values = np.asarray(self.axis_values, dtype=np.float64)
        if values.ndim != 1 or values.size != n_channels:
            raise ValueError(f"`axis_values` must hold one value per channel ({n_channels}), "
                             f"got shape {values.shape}.")
        if not np.isfinite(values).all():
            raise ValueError("`axis_values` must be finite.")
        if n_channels == 1:
            object.__setattr__(self, "energy_offset", float(values[0]))
            object.__setattr__(self, "axis_values", None)
            return
        steps = np.diff(values)
        if (steps <= 0).any():
            raise ValueError("`axis_values` must be strictly increasing.")
        slope, intercept = np.polyfit(np.arange(n_channels), values, 1)
        object.__setattr__(self, "energy_offset", float(intercept))
        object.__setattr__(self, "energy_scale", float(slope))
        uniform = np.ptp(steps) <= 1e-6 * abs(float(steps.mean()))
        if uniform:
            object.__setattr__(self, "energy_offset", float(values[0]))
            object.__setattr__(self, "energy_scale", float(steps.mean()))
        object.__setattr__(self, "axis_values", None if uniform else values)

    # ----------------------------------------------------------------- shape
    @property
    def shape(self) -> tuple:
        """``(H, W, C)``."""
        return tuple(int(n) for n in self.data.shape)

    @property
    def n_channels(self) -> int:
        return self.shape[2]

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def is_lazy(self) -> bool:
        """True when ``data`` is a dask array (nothing is read until computed)."""
        return type(self.data).__module__.startswith("dask")

    # ----------------------------------------------------------- signal axis
    @property
    def is_counts(self) -> bool:
        """True for Poisson counts (``signal == "counts"``)."""
        return self.signal == "counts"

    @property
    def is_energy_axis(self) -> bool:
        """True when the signal axis is an X-ray energy in keV (no other name or units given)."""
        return self.axis_units in (None, "keV") and (self.axis_name or "Energy").lower() in ("energy", "e")

    @property
    def is_eds(self) -> bool:
        """True for an X-ray map: counts on an energy axis in keV (X-ray lines, minerals, MSA)."""
        return self.is_counts and self.is_energy_axis

    @property
    def axis_offset(self) -> float:
        """Value of the signal axis at channel 0 (the same as ``energy_offset``)."""
        return self.energy_offset

    @property
    def axis_scale(self) -> float:
        """Channel width of the signal axis (the same as ``energy_scale``)."""
        return self.energy_scale

    @property
    def axis(self) -> np.ndarray:
        """(C,) ndarray: value of the signal axis at each channel, in :attr:`units`."""
        if self.axis_values is not None:
            return np.array(self.axis_values, dtype=np.float64)
        return self.energy_offset + self.energy_scale * np.arange(self.n_channels)

    @property
    def name(self) -> str:
        """Name of the signal axis (``"Energy"`` for EDS maps; unnamed in other units, a name they imply: a ToF
        cube in Å was "Energy (Å)")."""
        if self.axis_name or self.axis_units in (None, "keV", "eV"):
            return self.axis_name or "Energy"
        units = self.axis_units.strip()
        return "Wavelength" if units in ("Å", "nm") else "Time of flight" if units in TIME_UNITS else "Signal axis"

    @property
    def units(self) -> str:
        """Units of the signal axis (``"keV"`` for EDS maps)."""
        return self.axis_units if self.axis_units is not None else "keV"

    @property
    def axis_label(self) -> str:
        """``"Energy (keV)"``, ``"Wavelength (Å)"``...: a label for plots."""
        return f"{self.name} ({self.units})" if self.units else self.name

    @property
    def energy_keV(self) -> np.ndarray:
        """(C,) ndarray: energy of each channel, in keV (for other cubes: :attr:`axis`)."""
        return self.axis

    def channel_of(self, energy_keV: float) -> int:
        """Nearest channel index of an axis value (keV for EDS), clipped to the axis."""
        if self.axis_values is not None:
            return int(np.abs(self.axis_values - energy_keV).argmin())
        idx = int(round((energy_keV - self.energy_offset) / self.energy_scale))
        return min(max(idx, 0), self.n_channels - 1)

    def replace(self, **changes) -> SpectrumImage:
        """A new SpectrumImage with some fields changed (the original is untouched).

        Changing the channels (``data`` with another ``C``, ``energy_offset``/``energy_scale``)
        drops explicit ``axis_values`` unless new ones are given.
        """
        if self.axis_values is not None and "axis_values" not in changes:
            new_c = getattr(changes.get("data"), "shape", (0, 0, self.n_channels))[-1]
            if new_c != self.n_channels or {"energy_offset", "energy_scale"} & set(changes):
                changes["axis_values"] = None
        return replace(self, **changes)

    def __repr__(self) -> str:
        h, w, c = self.shape
        kind = "lazy" if self.is_lazy else "in memory"
        e0, e1 = self.axis[[0, -1]]
        px = f"{self.pixel_size:.4g} um/px" if self.pixel_size else "pixel size unknown"
        if self.is_energy_axis:
            axis = f"{e0:.3f}..{e1:.3f} keV ({self.energy_scale * 1000:.4g} eV/ch)"
        else:
            axis = f"{self.name} {e0:.4g}..{e1:.4g} {self.units} ({self.energy_scale:.4g} {self.units}/ch)"
        extra = f"; {self.signal}" if not self.is_counts else ""
        if self.is_eds or self.beam_energy:
            extra += f"; {self.beam_energy:g} kV" if self.beam_energy else "; beam energy unknown"
        return f"<SpectrumImage {h} x {w} px x {c} ch, {self.data.dtype}, {kind}; {axis}{extra}; {px}>"
