"""Energy windows: from keV bounds to the channels of a map (one rule for every caller).

An X-ray map must hold channels of an X-ray spectrum in its window, counted in keV: an absurd
energy calibration is refused (:func:`energy_channels`), never read as a window of the whole axis.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_image, check_int, check_number, check_positive

#: X-ray lines lie below this energy (keV): the top of an X-ray spectrum whose beam energy is unknown
XRAY_TOP_KEV = 40.0
#: with no upper bound known, an X-ray map's window holds at least this many channels below XRAY_TOP_KEV
#: (or half of its channels, if fewer): else its axis is no X-ray energy axis
FEW_XRAY_CHANNELS = 5


def energy_window_slice(energy_offset, energy_scale, n_channels, low=None, high=None, *, beam_energy=None,
                        min_channels=1, units="keV"):
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
    units : str
        The axis' units, in messages (a cube's axis need not be in keV).

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
    if not math.isfinite(top):
        raise ValueError(f"The energy axis ({energy_offset:.4g} keV + {scale:.4g} keV per channel, {n} channels) "
                         "runs past the largest number: its calibration is not an energy axis.")
    if beam_energy is not None and beam_energy != 0:  # 0: unknown, as None
        beam_energy = check_positive(beam_energy, "beam_energy")
    if high is None and beam_energy:
        high = beam_energy
    low = energy_offset if low is None else check_number(low, "low")
    high = top if high is None else check_number(high, "high")
    if low >= high:
        raise ValueError(f"The energy window needs low < high, got {low!r}, {high!r}.")
    eps = 1e-6
    # bounds far beyond the axis (1e308 keV) held to a channel past it: their channel numbers overflowed
    lo, hi = (min(max(x, energy_offset - scale), top + scale) for x in (low, high))
    start = max(0, math.ceil((lo - energy_offset) / scale - eps))
    stop = min(n, math.floor((hi - energy_offset) / scale + eps) + 1)
    if stop - start < check_int(min_channels, "min_channels"):
        held = max(0, stop - start)
        what = "energy window" if units == "keV" else "window"
        raise ValueError(f"The {what} {low:.4g}-{high:.4g} {units} holds {held} channel(s) of the map "
                         f"({energy_offset:.4g}-{top:.4g} {units}); at least {min_channels} are needed: "
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

    Raises
    ------
    ValueError
        As :func:`energy_window_slice`; for an X-ray map (:attr:`~phaselib.SpectrumImage.is_eds`) also
        when the window, counted in keV, holds fewer than `min_channels` channels, or, with no upper
        bound (neither `high` nor the beam energy known), when fewer than a handful of channels lie
        between `low` and 40 keV (:data:`XRAY_TOP_KEV`): its energy calibration is not that of an X-ray
        spectrum (1e9 keV per channel, an axis from 1e9 keV), whose axis would else be taken whole.
        Other cubes (an intensity cube, an axis in other units) are windowed as they are.
    """
    check_image(image)
    min_channels = check_int(min_channels, "min_channels")
    if energy_range is not None and (isinstance(energy_range, (str, bytes)) or not hasattr(energy_range, "__len__")
                                     or len(energy_range) != 2):
        raise ValueError(f"`energy_range` must be (low, high) in keV (numbers or None), got {energy_range!r:.60}.")
    low, high = (None, None) if energy_range is None else energy_range
    if not image.is_eds:
        if image.axis_values is not None:  # an uneven axis: its values, not their straight-line fit
            return _values_window(image, low, high, min_channels)
        return energy_window_slice(image.energy_offset, image.energy_scale, image.n_channels, low, high,
                                   beam_energy=image.beam_energy, min_channels=min_channels, units=image.units)
    known_top = high is not None or bool(image.beam_energy)
    if not known_top:  # the top of the axis is no bound: the X-ray range first
        _check_xray_window(image, low, None, max(min_channels, _few(image)))
    try:
        sl = energy_window_slice(image.energy_offset, image.energy_scale, image.n_channels, low, high,
                                 beam_energy=image.beam_energy, min_channels=min_channels)
    except ValueError:
        if _held(image, 0.1, XRAY_TOP_KEV) < _few(image):  # say why: no X-ray axis, not a misplaced window
            _check_xray_window(image, 0.1, XRAY_TOP_KEV, _few(image), what="X-ray range")
        raise
    _check_xray_window(image, low, high, min_channels)  # counted in keV, not within a millionth of a channel
    return sl


def _values_window(image, low, high, need):
    """The channels of a cube on an uneven axis whose values lie in ``low <= v <= high`` (None: that end of the
    axis), within a millionth of the axis' span."""
    v = np.asarray(image.axis_values, np.float64)
    low = v[0] if low is None else check_number(low, "low")
    high = v[-1] if high is None else check_number(high, "high")
    if low >= high:
        raise ValueError(f"The window needs low < high, got {low!r}, {high!r}.")
    tol = 1e-6 * (v[-1] - v[0])
    start, stop = int(np.searchsorted(v, low - tol, "left")), int(np.searchsorted(v, high + tol, "right"))
    if stop - start < need:
        raise ValueError(f"The window {low:.4g}-{high:.4g} {image.units} holds {max(0, stop - start)} channel(s) of "
                         f"the cube ({v[0]:.4g}-{v[-1]:.4g} {image.units}); at least {need} are needed.")
    return slice(start, stop)


def _few(image):
    """Channels an X-ray map holds at least in its X-ray range: :data:`FEW_XRAY_CHANNELS`, or half of them."""
    return max(1, min(FEW_XRAY_CHANNELS, image.n_channels // 2))


def _held(image, bottom, top):
    """How many channels of ``image`` lie in ``bottom <= E <= top`` (keV), within a millionth of a keV at most."""
    tol = 1e-6 * min(float(image.energy_scale), 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        axis = image.energy_keV
        return int(np.count_nonzero((axis >= bottom - tol) & (axis <= top + tol)))


def _check_xray_window(image, low, high, need, what="energy window"):
    """Refuse an X-ray map with fewer than ``need`` channels, counted by their energy, between ``low`` (None:
    the bottom of the axis) and ``high`` (None: the beam energy, else :data:`XRAY_TOP_KEV`, not the top of the
    axis: an axis calibrated absurdly, 1e9 keV per channel or from 1e9 keV, would else be taken whole). Counted
    in keV: the slack of :func:`energy_window_slice`, a millionth of a channel, is 1000 keV at 1e9 keV per
    channel. ``what`` names the window in the message."""
    beam = image.beam_energy
    with np.errstate(over="ignore", invalid="ignore"):
        axis = image.energy_keV
    bottom = float(axis[0]) if low is None else float(check_number(low, "low"))
    top = float(check_number(high, "high") if high is not None else beam if beam else XRAY_TOP_KEV)
    held = _held(image, bottom, top)
    if held < need:
        known = "" if high is not None or beam else " (no beam energy known)"
        what = f"{'X-ray range' if known else what} {bottom:.4g}-{top:.4g} keV{known}"
        raise ValueError(f"The {what} holds {held} channel(s) of the map, whose axis runs {axis[0]:.4g}-"
                         f"{axis[-1]:.4g} keV ({image.energy_scale:.4g} keV per channel); at least {need} are "
                         "needed: check its energy calibration.")


def intensity_window(energy_range):
    """The window of an intensity cube: the EDS default ``(0.1, None)`` keV is the whole axis, whose units need not
    be keV (on a channel axis from 0 it dropped the first channel, and the dashboard's largest number of components
    with it)."""
    return None if energy_range is None or tuple(energy_range) == (0.1, None) else energy_range


def window_channels(image, energy_range):
    """Channels of ``image`` in ``energy_range`` (:func:`energy_channels`), or all of them where the window is refused
    (the decomposition then says why) or the cube holds no counts: the most components a default can ask for (24 on a
    5-channel window was refused as "`n_components` must be in [1, 6], got 24", an option the user never gave)."""
    if not image.is_counts:
        return image.shape[2]
    try:
        sl = energy_channels(image, energy_range)
    except ValueError:
        return image.shape[2]
    return sl.stop - sl.start
