"""Energy windows: from keV bounds to the channels of a map (one rule for every caller)."""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_image, check_int, check_number, check_positive


def energy_window_slice(energy_offset, energy_scale, n_channels, low=None, high=None):
    """The channels ``i`` whose energy ``offset + scale * i`` lies in ``low <= E <= high``.

    Parameters
    ----------
    energy_offset, energy_scale : float
        Energy axis, in keV.
    n_channels : int
        Number of channels ``C``.
    low, high : float or None
        Window in keV; ``None`` means the bottom / top of the axis.

    Returns
    -------
    slice
        ``slice(start, stop)`` with ``0 <= start < stop <= C``.

    Raises
    ------
    ValueError
        If the axis is invalid, ``low >= high``, or no channel lies in the window.
    """
    scale, n = check_positive(energy_scale, "energy_scale"), check_int(n_channels, "n_channels")
    energy_offset = check_number(energy_offset, "energy_offset")
    top = energy_offset + scale * (n - 1)
    low = energy_offset if low is None else check_number(low, "low")
    high = top if high is None else check_number(high, "high")
    if low >= high:
        raise ValueError(f"The energy window needs low < high, got {low!r}, {high!r}.")
    eps = 1e-6  # a channel within a millionth of a channel of a bound counts as inside
    start = max(0, math.ceil((low - energy_offset) / scale - eps))
    stop = min(n, math.floor((high - energy_offset) / scale + eps) + 1)
    if start >= stop:
        raise ValueError(f"No channel lies between {low:g} and {high:g} keV; the energy axis "
                         f"covers {energy_offset:.3f}..{top:.3f} keV.")
    return slice(start, stop)


def energy_window(image, low=0.1, high=None):
    """Keep the channels with ``low <= E <= high`` (keV).

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    low : float or None
        Lowest energy kept (default 0.1 keV drops the zero-energy noise peak); ``None``: none.
    high : float or None
        Highest energy kept; ``None``: the beam energy if known, else the top of the axis.

    Returns
    -------
    SpectrumImage
        Map of shape ``(H, W, C')`` (a view of numpy data) whose ``energy_offset`` is the
        energy of the first channel kept.

    Raises
    ------
    ValueError
        As :func:`energy_window_slice`.
    """
    check_image(image)
    if high is None and image.beam_energy:
        high = float(image.beam_energy)
    sl = energy_window_slice(image.energy_offset, image.energy_scale, image.n_channels, low, high)
    return image.replace(data=image.data[:, :, sl],
                         energy_offset=image.energy_offset + image.energy_scale * sl.start)


def energy_channels(image, energy_range=(0.1, None)) -> slice:
    """Channels inside ``energy_range`` (keV; ``None`` top = beam energy or axis end)."""
    low, high = energy_range if energy_range is not None else (None, None)
    e = image.energy_keV
    if high is None:
        high = image.beam_energy if image.beam_energy else e[-1]
    if low is None:
        low = e[0]
    if high <= low:
        raise ValueError(f"Empty energy window: {low} keV to {high} keV.")
    idx = np.flatnonzero((e >= low) & (e <= high))
    if idx.size < 2:
        raise ValueError(
            f"The energy window {low:g}-{high:g} keV holds {idx.size} channel(s) of the map "
            f"({e[0]:.3f}-{e[-1]:.3f} keV); widen it."
        )
    return slice(int(idx[0]), int(idx[-1]) + 1)
