"""An independent crossed-polars renderer from textbook optics (written without reading ``phaselib.datasets``).

Each crystal gets its own random optic-axis orientation (uniform on the sphere, angle ``theta`` to the
microscope axis) and its own extinction position ``phi`` (uniform in the stage plane). In the uniaxial approximation
the section's birefringence is ``delta * sin(theta)**2``, its retardation ``R = delta' * thickness`` (nm) and, between
crossed polars, the transmitted light at wavelength ``lam`` is

    I(lam) = sin(2 phi)**2 * sin(pi R / lam)**2                       (Michel-Levy)

so a crystal is dark every 90 degrees of stage rotation (extinction) and its interference colour is the
spectrum ``I(lam)`` seen by the eye: integrated against the CIE 1931 colour-matching functions (the analytic
multi-lobe fit of Wyman, Sloan & Shirley 2013) under a flat illuminant, converted to linear sRGB, times the
mineral's body colour (biotite's brown masks its colours), blurred by the optics (a Gaussian in linear light),
with shot and read noise, then gamma-encoded to 8 bits. Isotropic minerals (glass, garnet) and opaques are black.
Plagioclase has polysynthetic (albite) twins: lamellae 2-5 px wide across the crystal in a random direction, the
two sets of lamellae with extinction positions a random 10-60 degrees apart (symmetric extinction); about half
the K-feldspar crystals and a third of the plagioclase have a simple (Carlsbad) twin, a straight line through the
crystal with the two halves at different extinction; half the calcite / dolomite crystals hold thin e-twin lamellae.
Thickness varies gently across the section (a wedge of a few %). Boundaries carry no drawn line.

:func:`render_xp` returns the XP image (H, W, 3) uint8 and a dict of per-crystal truths (retardation, ``phi``, the
noise-free unblurred image in linear light), which :mod:`benchmarks.bench_xp_other` uses for its separability oracle.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: birefringence (n_gamma - n_alpha), body colour in plane light (linear RGB transmittance); None: opaque
MINERALS = {
    "quartz": (0.009, (1.0, 1.0, 1.0)), "K-feldspar": (0.006, (0.97, 0.95, 0.93)),
    "plagioclase": (0.008, (1.0, 1.0, 1.0)), "oligoclase": (0.007, (1.0, 1.0, 1.0)),
    "andesine": (0.008, (1.0, 1.0, 1.0)), "labradorite": (0.009, (1.0, 1.0, 1.0)),
    "albite": (0.010, (1.0, 1.0, 1.0)), "biotite": (0.050, (0.55, 0.38, 0.2)),
    "muscovite": (0.040, (1.0, 1.0, 0.98)), "augite": (0.025, (0.9, 0.92, 0.85)),
    "diopside": (0.028, (0.95, 0.97, 0.93)), "olivine": (0.036, (0.97, 1.0, 0.95)),
    "apatite": (0.004, (1.0, 1.0, 1.0)), "zircon": (0.060, (1.0, 0.98, 0.95)),
    "calcite": (0.172, (1.0, 1.0, 1.0)), "dolomite": (0.179, (1.0, 1.0, 1.0)),
    "almandine": (0.0, (0.95, 0.75, 0.75)), "glass": (0.0, (0.6, 0.5, 0.4)),
    "basaltic glass": (0.0, (0.6, 0.5, 0.4)), "hornblende": (0.022, (0.45, 0.6, 0.3)),
    "ilmenite": (None, None), "magnetite": (None, None), "pyrite": (None, None),
}
POLYSYNTHETIC = ("plagioclase", "oligoclase", "andesine", "labradorite", "albite")
CARLSBAD = {"K-feldspar": 0.5, "plagioclase": 0.33, "oligoclase": 0.33, "andesine": 0.33, "labradorite": 0.33}
ETWINS = ("calcite", "dolomite")

_LAM = np.linspace(400.0, 700.0, 61)


def _g(x, mu, s1, s2):
    return np.exp(-0.5 * ((x - mu) / np.where(x < mu, s1, s2)) ** 2)


def _cmf(lam):
    """CIE 1931 2-degree colour-matching functions, multi-lobe Gaussian fit (Wyman, Sloan & Shirley 2013)."""
    x = 1.056 * _g(lam, 599.8, 37.9, 31.0) + 0.362 * _g(lam, 442.0, 16.0, 26.7) - 0.065 * _g(lam, 501.1, 20.4, 26.2)
    y = 0.821 * _g(lam, 568.8, 46.9, 40.5) + 0.286 * _g(lam, 530.9, 16.3, 31.1)
    z = 1.217 * _g(lam, 437.0, 11.8, 36.0) + 0.681 * _g(lam, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], 1)


_XYZ2RGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
_CMF = _cmf(_LAM)
_WHITE = _CMF.sum(0)  # a flat spectrum of 1: white, Y = 1


def interference_rgb(retardation_nm):
    """Linear sRGB of the light between crossed polars at 45 degrees from extinction, per retardation (nm)."""
    r = np.atleast_1d(np.asarray(retardation_nm, float))
    spec = np.sin(np.pi * r[:, None] / _LAM[None, :]) ** 2
    xyz = spec @ _CMF / _WHITE[1]
    rgb = (xyz @ _XYZ2RGB.T) / (_WHITE / _WHITE[1] @ _XYZ2RGB.T)  # a flat spectrum of 1 -> (1, 1, 1)
    return np.clip(rgb, 0, None)


def _stripes(shape, box, rng, width):
    """Parity (0/1) of lamellae ``width`` px wide in a random direction over the pixels of ``box``."""
    yy, xx = np.mgrid[box[0], box[1]]
    a = rng.uniform(0, np.pi)
    t = yy * np.sin(a) + xx * np.cos(a) + rng.uniform(0, 2 * width)
    return (np.floor(t / width) % 2).astype(bool)


def render_xp(labels, grains, minerals, *, seed=0, thickness_um=30.0, blur=0.8, noise=0.01, exposure=1.0,
              wedge=0.04, cast=(1.0, 1.0, 1.0)):
    """Crossed-polars image of a thin section.

    Parameters
    ----------
    labels, grains : (H, W) int arrays
        Phase index (into ``minerals``) and crystal id of each pixel.
    minerals : sequence of str
        Mineral name of each phase (keys of :data:`MINERALS`).
    seed : int
        Orientations, twins and noise.
    thickness_um, blur, noise, exposure, wedge, cast
        Section thickness; Gaussian blur (px, linear light); read noise (0-1 scale; shot noise is twice it at full
        light); a gain; relative thickness change across the section; the lamp's colour (RGB gains).

    Returns
    -------
    xp : (H, W, 3) uint8
    truth : dict
        ``clean`` (H, W, 3) linear light before blur and noise; ``retardation`` and ``phi`` per crystal id.
    """
    rng = np.random.default_rng(seed)
    labels, grains = np.asarray(labels), np.asarray(grains)
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    a = rng.uniform(0, 2 * np.pi)
    thick = thickness_um * 1000.0 * (1 + wedge * ((yy * np.sin(a) + xx * np.cos(a)) / max(h, w) - 0.5))
    clean = np.zeros((h, w, 3))
    ret, phis = {}, {}
    for gid, box in enumerate(ndi.find_objects(grains), start=1):
        if box is None:
            continue
        m = grains[box] == gid
        phase = int(np.bincount(labels[box][m]).argmax())
        delta, body = MINERALS[minerals[phase]]
        if delta is None:  # opaque
            continue
        cos_t = rng.uniform(-1, 1)
        d_eff = delta * (1 - cos_t ** 2)
        phi = np.full(m.shape, rng.uniform(0, np.pi))
        name = minerals[phase]
        if name in POLYSYNTHETIC:
            twin = _stripes((h, w), box, rng, rng.uniform(2.0, 5.0))
            phi = np.where(twin, phi + np.deg2rad(rng.uniform(10, 60)), phi)
        if rng.random() < CARLSBAD.get(name, 0.0):
            cy, cx = (np.mean(np.nonzero(m)[i]) + box[i].start for i in (0, 1))
            b = rng.uniform(0, np.pi)
            yy_, xx_ = np.mgrid[box[0], box[1]]
            half = (yy_ - cy) * np.sin(b) + (xx_ - cx) * np.cos(b) > 0  # a straight line through the crystal
            phi = np.where(half, phi + np.deg2rad(rng.uniform(15, 75)), phi)
        if name in ETWINS and rng.random() < 0.5:
            band = _stripes((h, w), box, rng, rng.uniform(1.0, 2.0)) & _stripes((h, w), box, rng, 7.0)
            phi = np.where(band, phi + np.deg2rad(rng.uniform(20, 70)), phi)
        r = d_eff * thick[box][m]
        rgb = interference_rgb(r) * (np.sin(2 * phi[m]) ** 2)[:, None] * np.asarray(body)[None]
        clean[box][m] = rgb
        ret[gid], phis[gid] = float(np.median(r)), float(phi.flat[0])
    img = clean * np.asarray(cast)[None, None] * exposure
    if blur > 0:
        img = ndi.gaussian_filter(img, (blur, blur, 0))
    img = img + rng.normal(0, 1, img.shape) * np.sqrt(noise ** 2 + (2 * noise) ** 2 * np.clip(img, 0, None))
    img = np.clip(img, 0, 1)
    srgb = np.where(img <= 0.0031308, 12.92 * img, 1.055 * img ** (1 / 2.4) - 0.055)
    return (srgb * 255 + 0.5).astype(np.uint8), dict(clean=clean, retardation=ret, phi=phis)
