"""Energy windows: from keV bounds to the channels of a map (one rule for every caller)."""

from __future__ import annotations

import math

from .._validate import check_image, check_int, check_number, check_positive


def energy_window_slice(energy_offset, energy_scale, n_channels, low=None, high=None, *, beam_energy=None,
                        min_channels=1):
    """The channels ``i`` whose energy ``offset + scale * i`` lies in ``low <= E <= high``.

    The one rule from keV bounds to channels: :func:`energy_window`, :func:`energy_channels`
    and every decomposition use it. A channel within a millionth of a channel of a bound
    counts as inside (so 0.1 keV on an axis that reaches it by float steps is kept).

    Parameters
    ----------
    energy_offset, energy_scale : float
        Energy axis, in keV.
    n_channels : int
        Number of channels ``C``.
    low, high : float or None
        Window in keV; ``low=None``: the bottom of the axis; ``high=None``: the beam energy if
        given, else the top of the axis.
    beam_energy : float or None
        Accelerating voltage (kV): no X-ray is emitted above it.
    min_channels : int
        Fewest channels the window must hold.

    Returns
    -------
    slice
        ``slice(start, stop)`` with ``0 <= start < stop <= C``.

    Raises
    ------
    TypeError
        If a bound or the axis is not a number.
    ValueError
        If the axis is invalid, ``low >= high``, or fewer than `min_channels` channels lie in
        the window.
    """
    scale, n = check_positive(energy_scale, "energy_scale"), check_int(n_channels, "n_channels")
    energy_offset = check_number(energy_offset, "energy_offset")
    top = energy_offset + scale * (n - 1)
    if beam_energy is not None and beam_energy != 0:  # 0: unknown, as None
        beam_energy = check_positive(beam_energy, "beam_energy")
    if high is None and beam_energy:
        high = beam_energy
    low = energy_offset if low is None else check_number(low, "low")
    high = top if high is None else check_number(high, "high")
    if low >= high:
        raise ValueError(f"The energy window needs low < high, got {low!r}, {high!r}.")
    eps = 1e-6
    start = max(0, math.ceil((low - energy_offset) / scale - eps))
    stop = min(n, math.floor((high - energy_offset) / scale + eps) + 1)
    if stop - start < check_int(min_channels, "min_channels"):
        held = max(0, stop - start)
        raise ValueError(f"The energy window {low:g}-{high:g} keV holds {held} channel(s) of the map "
                         f"({energy_offset:.3f}-{top:.3f} keV); at least {min_channels} are needed: "
                         + ("widen it." if held else "no channel lies in it."))
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
    sl = energy_channels(image, (low, high), min_channels=1)
    return image.replace(data=image.data[:, :, sl],
                         energy_offset=image.energy_offset + image.energy_scale * sl.start)


def energy_channels(image, energy_range=(0.1, None), *, min_channels=2) -> slice:
    """The channels of ``image`` inside ``energy_range`` (keV), by :func:`energy_window_slice`.

    Parameters
    ----------
    image : SpectrumImage
    energy_range : (float or None, float or None) or None
        ``(low, high)``; ``None`` bounds as in :func:`energy_window_slice` (high: the beam
        energy if known, else the top of the axis); ``None``: the whole axis up to the beam energy.
    min_channels : int
        Fewest channels the window must hold (2 for a decomposition).

    Returns
    -------
    slice
    """
    check_image(image)
    if energy_range is not None and (isinstance(energy_range, (str, bytes)) or not hasattr(energy_range, "__len__")
                                     or len(energy_range) != 2):
        raise ValueError(f"`energy_range` must be (low, high) in keV (numbers or None), got {energy_range!r:.60}.")
    low, high = (None, None) if energy_range is None else energy_range
    return energy_window_slice(image.energy_offset, image.energy_scale, image.n_channels, low, high,
                               beam_energy=image.beam_energy, min_channels=min_channels)
