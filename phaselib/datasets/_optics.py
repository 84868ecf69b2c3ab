"""Optical and electron-optical properties of the minerals, for :mod:`._thinsection`.

* ``OPTICS``: colour in plane-polarised light (two pleochroic colours, linear transmission),
  maximum birefringence, mean refractive index and texture flags of every mineral of
  :data:`phaselib.datasets.MINERALS` (approximate values of Deer, Howie & Zussman, *An
  Introduction to the Rock-Forming Minerals*, 2013; colours are typical, not measured).
* :func:`backscatter_coefficient`: the BSE coefficient of a composition, Reuter's fit
  eta(Z) = -0.0254 + 0.016 Z - 1.86e-4 Z**2 + 8.3e-7 Z**3 for each element, combined by weight
  fraction (Castaing's rule).
* :func:`interference_colours`: a Michel-Levy chart, sRGB of the retardation between crossed
  polars, integrating sin**2(pi * G / lambda) against the CIE 1931 colour-matching functions
  (the multi-lobe Gaussian fit of Wyman, Sloan & Shirley 2013) under an equal-energy light.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# name: (PP colour along the vibration direction of the polariser at angle 0, PP colour at 90
#        degrees, max birefringence, mean refractive index, flags) ; flags: "opaque",
#        "twinned" (polysynthetic twins), "turbid" (clouded by alteration), "isotropic"
_COLOURLESS = (0.93, 0.93, 0.92)
OPTICS = {
    "quartz": (_COLOURLESS, _COLOURLESS, 0.009, 1.547, ""),
    "albite": (_COLOURLESS, _COLOURLESS, 0.010, 1.532, "twinned"),
    "anorthite": (_COLOURLESS, _COLOURLESS, 0.013, 1.580, "twinned"),
    "plagioclase": (_COLOURLESS, _COLOURLESS, 0.009, 1.555, "twinned"),
    "labradorite": (_COLOURLESS, _COLOURLESS, 0.009, 1.560, "twinned"),
    "andesine": (_COLOURLESS, _COLOURLESS, 0.008, 1.550, "twinned"),
    "K-feldspar": ((0.90, 0.86, 0.80), (0.90, 0.86, 0.80), 0.007, 1.522, "turbid"),
    "orthoclase": ((0.90, 0.86, 0.80), (0.90, 0.86, 0.80), 0.007, 1.522, "turbid"),
    "biotite": ((0.85, 0.75, 0.45), (0.35, 0.18, 0.06), 0.050, 1.620, ""),
    "muscovite": (_COLOURLESS, _COLOURLESS, 0.040, 1.590, ""),
    "chlorite": ((0.78, 0.90, 0.70), (0.55, 0.75, 0.45), 0.005, 1.600, ""),
    "augite": ((0.80, 0.82, 0.70), (0.72, 0.76, 0.62), 0.025, 1.700, ""),
    "diopside": ((0.88, 0.92, 0.84), (0.84, 0.90, 0.80), 0.028, 1.680, ""),
    "hornblende": ((0.70, 0.78, 0.45), (0.30, 0.50, 0.25), 0.022, 1.650, ""),
    "olivine": ((0.92, 0.94, 0.86), (0.92, 0.94, 0.86), 0.035, 1.680, ""),
    "almandine": ((0.92, 0.78, 0.80), (0.92, 0.78, 0.80), 0.0, 1.830, "isotropic"),
    "magnetite": ((0.03, 0.03, 0.03), (0.03, 0.03, 0.03), 0.0, 2.4, "opaque"),
    "titanomagnetite": ((0.03, 0.03, 0.03), (0.03, 0.03, 0.03), 0.0, 2.4, "opaque"),
    "ilmenite": ((0.03, 0.03, 0.03), (0.03, 0.03, 0.03), 0.0, 2.4, "opaque"),
    "pyrite": ((0.03, 0.03, 0.03), (0.03, 0.03, 0.03), 0.0, 2.4, "opaque"),
    "rutile": ((0.60, 0.25, 0.10), (0.45, 0.15, 0.05), 0.287, 2.75, ""),
    "titanite": ((0.85, 0.72, 0.55), (0.78, 0.62, 0.45), 0.130, 1.930, ""),
    "apatite": (_COLOURLESS, _COLOURLESS, 0.004, 1.635, ""),
    "calcite": (_COLOURLESS, _COLOURLESS, 0.172, 1.570, "twinned"),
    "zircon": ((0.90, 0.88, 0.84), (0.90, 0.88, 0.84), 0.060, 1.950, ""),
    "basaltic glass": ((0.70, 0.52, 0.30), (0.70, 0.52, 0.30), 0.0, 1.600, "isotropic"),
    "rhyolitic glass": ((0.90, 0.90, 0.88), (0.90, 0.90, 0.88), 0.0, 1.495, "isotropic"),
}
_DEFAULT = ((0.85, 0.85, 0.85), (0.85, 0.85, 0.85), 0.010, 1.55, "")

_ATOMIC_NUMBERS = {"H": 1, "C": 6, "O": 8, "F": 9, "Na": 11, "Mg": 12, "Al": 13, "Si": 14, "P": 15,
                   "S": 16, "Cl": 17, "K": 19, "Ca": 20, "Ti": 22, "Mn": 25, "Fe": 26, "Zr": 40}


def optics(name: str):
    """``(pp_colour_0, pp_colour_90, birefringence, refractive_index, flags)`` of a mineral."""
    return OPTICS.get(name, _DEFAULT)


def backscatter_coefficient(composition: dict) -> float:
    """BSE coefficient of a composition ``{element: weight fraction}`` (Reuter + Castaing)."""
    total = sum(composition.values())
    eta = 0.0
    for el, w in composition.items():
        z = _ATOMIC_NUMBERS.get(el)
        if z is None:
            raise ValueError(f"No atomic number known for element {el!r}.")
        eta += w / total * (-0.0254 + 0.016 * z - 1.86e-4 * z ** 2 + 8.3e-7 * z ** 3)
    return float(eta)


def mean_atomic_number(composition: dict) -> float:
    """Mass-weighted mean atomic number of a composition ``{element: weight fraction}``."""
    total = sum(composition.values())
    return float(sum(w / total * _ATOMIC_NUMBERS[el] for el, w in composition.items()))


def _lobe(lam, mu, s1, s2):
    s = np.where(lam < mu, s1, s2)
    return np.exp(-0.5 * ((lam - mu) / s) ** 2)


@lru_cache(maxsize=1)
def interference_colours(max_retardation_nm: float = 4000.0, step_nm: float = 2.0) -> np.ndarray:
    """Linear sRGB (n, 3) of retardations ``0, step, ..., max`` between crossed polars.

    Full-wave white light through an equal-energy source, normalised so that the light
    without analyser (transmission 1 at every wavelength) is (1, 1, 1); high orders tend to
    (0.5, 0.5, 0.5), the mean of sin**2.
    """
    lam = np.arange(380.0, 781.0, 5.0)
    xbar = 1.056 * _lobe(lam, 599.8, 37.9, 31.0) + 0.362 * _lobe(lam, 442.0, 16.0, 26.7) \
        - 0.065 * _lobe(lam, 501.1, 20.4, 26.2)
    ybar = 0.821 * _lobe(lam, 568.8, 46.9, 40.5) + 0.286 * _lobe(lam, 530.9, 16.3, 31.1)
    zbar = 1.217 * _lobe(lam, 437.0, 11.8, 36.0) + 0.681 * _lobe(lam, 459.0, 26.0, 13.8)
    to_rgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    cmf = np.stack([xbar, ybar, zbar])  # (3, L)
    white = to_rgb @ cmf.sum(axis=1)
    g = np.arange(0.0, max_retardation_nm + step_nm / 2, step_nm)
    t = np.sin(np.pi * g[:, None] / lam[None, :]) ** 2  # (n, L)
    rgb = (t @ cmf.T) @ to_rgb.T / white
    return np.clip(rgb, 0.0, 1.0)


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """uint8 sRGB of linear values in [0, 1] (the sRGB transfer curve)."""
    x = np.clip(linear, 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(s * 255).astype(np.uint8)
