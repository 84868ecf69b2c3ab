"""Pixel sizes: tilt correction and setting them on a map."""

from __future__ import annotations

import math

from .._validate import check_image, check_number, check_positive


def tilt_corrected_pixel_size(pixel_size, stage_tilt_deg, *, cross_section=True):
    """Pixel size along x and y of a map seen at a stage tilt (tilt axis along x).

    x is not foreshortened. A FIB cross-section face stands perpendicular to the sample
    surface: with the stage tilted by ``t`` the beam meets it ``90 - t`` degrees from its
    normal, so heights on it look shortened by ``cos(90 - t)`` and ``px_y = px_x / cos(90 - t)``
    (``t = 52``: x 1.269; ``t = 90``: face-on, x 1; ``t = 0``: edge-on, invalid). For the
    sample surface (``cross_section=False``) ``px_y = px_x / cos(t)`` (``t = 90`` invalid).

    Parameters
    ----------
    pixel_size : float
        Pixel size along x (any length unit; the result uses the same).
    stage_tilt_deg : float
        Stage tilt, ``0 <= t <= 90`` degrees.
    cross_section : bool
        A cross-section face (default) or the sample surface.

    Returns
    -------
    (float, float)
        ``(px_x, px_y)``, e.g. ``(17.1875, 21.811)`` for 17.1875 nm at 52 degrees.

    Raises
    ------
    ValueError
        If the pixel size is not positive, the tilt is outside 0..90 or the face is edge-on.
    """
    px = check_positive(pixel_size, "pixel_size")
    check_number(stage_tilt_deg, "stage_tilt_deg", low=0, high=90)
    angle = 90.0 - stage_tilt_deg if cross_section else float(stage_tilt_deg)
    if angle == 90.0:
        raise ValueError(f"At a tilt of {stage_tilt_deg:g} degrees the "
                         f"{'cross-section' if cross_section else 'surface'} is seen edge-on; "
                         "its y size cannot be corrected.")
    return px, px / (1.0 if angle == 0.0 else math.cos(math.radians(angle)))


def with_pixel_size(image, pixel_size, pixel_size_y=None):
    """A new SpectrumImage with pixel size ``pixel_size`` (x) and ``pixel_size_y`` (y; default:
    square pixels), in micrometres. ``with_pixel_size(img, *tilt_corrected_pixel_size(...))``.

    Raises
    ------
    ValueError
        If a size is not a positive number.
    """
    check_image(image)
    py = None if pixel_size_y is None else check_positive(pixel_size_y, "pixel_size_y")
    return image.replace(pixel_size=check_positive(pixel_size, "pixel_size"), pixel_size_y=py)
