"""The SpectrumImage value object: a spectrum image and its calibration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class SpectrumImage:
    """A spectrum image: every pixel of an ``(H, W)`` map holds a ``C``-channel spectrum.

    Parameters
    ----------
    data : (H, W, C) ndarray or dask array
        Counts. Integer dtypes are kept as they are (no float copy is made).
    energy_offset : float
        Energy of channel 0, in keV.
    energy_scale : float
        Channel width, in keV.
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

    def __post_init__(self):
        shape = getattr(self.data, "shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"A spectrum image needs data of shape (H, W, C); got "
                f"{'no array' if shape is None else f'shape {tuple(shape)}'}."
            )
        if min(shape) < 1:
            raise ValueError(f"The spectrum image is empty (shape {tuple(shape)}).")
        if not np.isfinite(self.energy_scale) or self.energy_scale <= 0:
            raise ValueError(
                f"energy_scale must be a positive number of keV per channel, "
                f"got {self.energy_scale!r}."
            )
        if not np.isfinite(self.energy_offset):
            raise ValueError(f"energy_offset must be finite, got {self.energy_offset!r}.")
        object.__setattr__(self, "elements", tuple(self.elements or ()))

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

    @property
    def energy_keV(self) -> np.ndarray:
        """(C,) ndarray: energy of each channel, in keV."""
        return self.energy_offset + self.energy_scale * np.arange(self.n_channels)

    def channel_of(self, energy_keV: float) -> int:
        """Nearest channel index of an energy (keV), clipped to the axis."""
        idx = int(round((energy_keV - self.energy_offset) / self.energy_scale))
        return min(max(idx, 0), self.n_channels - 1)

    def replace(self, **changes) -> SpectrumImage:
        """A new SpectrumImage with some fields changed (the original is untouched)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        h, w, c = self.shape
        kind = "lazy" if self.is_lazy else "in memory"
        e0, e1 = self.energy_keV[[0, -1]]
        px = f"{self.pixel_size:.4g} um/px" if self.pixel_size else "pixel size unknown"
        kv = f"{self.beam_energy:g} kV" if self.beam_energy else "beam energy unknown"
        return (
            f"<SpectrumImage {h} x {w} px x {c} ch, {self.data.dtype}, {kind}; "
            f"{e0:.3f}..{e1:.3f} keV ({self.energy_scale * 1000:.4g} eV/ch); {kv}; {px}>"
        )
