"""Cheap images of a synthetic rock (BSE, plane- and cross-polarised light) and its labels.

:func:`render_thin_section` renders, for any texture (phase labels + grain ids, e.g. from
:func:`make_texture`, :func:`make_phenocrysts` or :func:`make_rock`), three co-registered
images and an EDS-like label map:

* **BSE**: the brightness of each mineral is its backscatter coefficient (Reuter's fit per
  element, Castaing's rule, from the mineral's formula), mapped from eta 0.08-0.26 to the grey
  levels, with a small per-crystal channelling contrast (+-1 %), blur and noise;
* **PP** (plane-polarised light, polariser along x): the mineral's colour, pleochroic
  between two colours with the angle of each crystal's vibration direction and the tilt of
  its optic axis; turbid K-feldspar, relief lines (darkening where the refractive index
  changes), vignetting, blur and noise;
* **XP** (crossed polars): the interference colour of retardation ``thickness * dn * sin^2
  (tilt)`` from a Michel-Levy chart (:func:`._optics.interference_colours`), times
  ``sin^2(2 * extinction angle)`` and the body colour; opaque and isotropic phases (glass,
  garnet) are black; plagioclase and calcite show polysynthetic twins (lamellae of two
  extinction angles). Each crystal (grain id) draws its own orientation, so touching crystals
  of one mineral differ in XP.
* **labels**: the true phase map sampled at a coarser pixel (``label_pixel``, the centre
  point of each coarse pixel) on a grid shifted by ``misregistration`` pixels, as a
  registered QEMSCAN / EDS map is; ``-1`` where the shifted grid leaves the image.

Assumptions: a 30 um section under white light, one uniaxial-like indicatrix per crystal
(optic axis uniform on the sphere), no zoning; undulose extinction (strained crystals whose
extinction angle sweeps across them) and cracks only when asked (``undulose``, ``cracks``); colours
are typical, not measured. ``-1`` in the input labels is epoxy (a hole): white in PP, black in XP and BSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

import phaselib.datasets._glass as _glass
import phaselib.datasets._minerals as _minerals
import phaselib.datasets._optics as _optics

from .._validate import check_choice, check_int, check_number, check_positive
from ._texture import _check_seed, _check_shape, make_texture

__all__ = ["ThinSection", "make_thin_section", "render_thin_section", "write_training_folder"]

_ETA_RANGE = (0.08, 0.26)
_ROCKS = ("granite", "basalt", "dacite", "default")


@dataclass(frozen=True, eq=False)
class ThinSection:
    """Co-registered cheap images of a rock, its true phase map and its EDS-like labels.

    Attributes
    ----------
    pp, xp : (H, W, 3) ndarray of uint8
        sRGB images in plane- and cross-polarised light.
    bse : (H, W) ndarray of uint8
        Backscattered-electron image.
    truth : (H, W) ndarray of int16
        True phase of every image pixel (``-1`` epoxy).
    labels : (H, W) ndarray of int16
        The label map as an EDS map gives it: coarser and misregistered, ``-1`` unlabelled.
    grain_ids : (H, W) ndarray of int32
        Crystal id of every pixel (each with its own optical orientation).
    phase_names : tuple of str
    colors : tuple of str
        ``"#rrggbb"`` of each phase (for label maps and netCDF files).
    mm_per_pixel : float
        Pixel size of the images.
    """

    pp: np.ndarray
    xp: np.ndarray
    bse: np.ndarray
    truth: np.ndarray
    labels: np.ndarray
    grain_ids: np.ndarray
    phase_names: tuple
    colors: tuple
    mm_per_pixel: float

    def __repr__(self) -> str:
        h, w = self.truth.shape
        return f"<ThinSection {h} x {w}; {', '.join(self.phase_names)}>"


def _colour(name, i):
    from ..render import PHASE_COLOURS

    return PHASE_COLOURS[i % len(PHASE_COLOURS)]


def _grain_fields(labels, grain_ids, rng):
    """Per-pixel extinction angle and optic-axis factor sin^2(tilt), from per-crystal draws."""
    gid = np.asarray(grain_ids, np.int64)
    if gid.min() < 0:
        raise ValueError("grain_ids must be non-negative.")
    n = int(gid.max()) + 1
    phi = rng.uniform(0.0, np.pi, n)
    s = 1.0 - rng.uniform(0.0, 1.0, n) ** 2  # sin^2 of the tilt: cos(tilt) uniform on the sphere
    twin_delta = rng.uniform(np.radians(20), np.radians(45), n)
    twin_width = rng.uniform(2.0, 4.5, n)
    chan = rng.normal(0.0, 0.01, n)
    return gid, phi, s, twin_delta, twin_width, chan


def _sweep(gid, yy, xx, rng, angle):
    """(H, W) angle added to each crystal's extinction: ``angle`` per equivalent width, along a
    random direction of each crystal, zero at its centroid (``yy``, ``xx``: the pixels' coordinates)."""
    n = int(gid.max()) + 1
    theta = rng.uniform(0.0, 2 * np.pi, n)
    proj = xx * np.cos(theta)[gid] + yy * np.sin(theta)[gid]
    area = np.bincount(gid.ravel(), minlength=n).astype(np.float64)
    centre = np.bincount(gid.ravel(), proj.ravel(), n) / np.maximum(area, 1)
    return angle * (proj - centre[gid]) / np.sqrt(np.maximum(area, 1))[gid]


def _crack_map(shape, n, rng):
    """(H, W) in [0, 1]: ``n`` antialiased straight lines between random points of the image."""
    from skimage.draw import line_aa

    h, w = shape
    out = np.zeros(shape)
    for _ in range(n):
        r0, r1 = rng.integers(0, h, 2)
        c0, c1 = rng.integers(0, w, 2)
        rr, cc, val = line_aa(int(r0), int(c0), int(r1), int(c1))
        ok = (rr < h) & (cc < w)
        np.maximum.at(out, (rr[ok], cc[ok]), val[ok])
    return out


def _smooth_noise(shape, sigma, rng):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    sd = f.std()
    return f / sd if sd > 0 else f


def render_thin_section(labels, grain_ids, minerals, *, seed=0, thickness_um=30.0, blur=0.6, noise=0.02,
                        brightness=1.0, colour=(1.0, 1.0, 1.0), label_pixel=3, misregistration=1.5,
                        mm_per_pixel=0.002, compositions=None, undulose=0.0, cracks=0):
    """Render BSE, PP and XP images of a texture, and its label map as an EDS map gives it.

    Parameters
    ----------
    labels : (H, W) array of int
        Phase index of every pixel, ``0..K-1`` (``-1``: epoxy, a hole).
    grain_ids : (H, W) array of int
        Crystal id of every pixel (touching crystals of one phase have different ids).
    minerals : sequence of str
        Mineral name of each phase (names of :data:`phaselib.datasets.MINERALS`; others get
        a neutral colour and need ``compositions``).
    seed : int
        Random seed (orientations, noise, misregistration).
    thickness_um : float
        Section thickness (30 um is the standard).
    blur, noise : float
        Gaussian blur (pixels) and noise (standard deviation, fraction of full scale).
    brightness : float
        Gain of the light and of the BSE signal (1: nominal), for held-out shifts.
    colour : (float, float, float)
        Gains of the R, G, B channels of the light (a colour shift of the lamp / camera).
    label_pixel : int
        Pixel of the label map, in image pixels (1: the truth itself).
    misregistration : float
        Standard deviation (pixels) of the shift between the label grid and the images.
    mm_per_pixel : float
        Pixel size of the images.
    compositions : dict, optional
        name -> {element: weight fraction} for minerals outside the table.
    undulose : float
        Undulose extinction: each crystal's extinction angle sweeps by this many degrees over
        a distance of its equivalent width (the square root of its area), along a direction of
        its own (strained quartz: 5-30 degrees). 0: every crystal extinguishes as one.
    cracks : int
        Straight cracks across the section (1 px wide, filled with epoxy: black in XP, darker in PP
        by their relief, dark in BSE), from random points to random points. The labels ignore them.

    Returns
    -------
    ThinSection
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 2-D integer array, got {lab.dtype} with shape {lab.shape}.")
    gid = np.asarray(grain_ids)
    if gid.shape != lab.shape:
        raise ValueError(f"grain_ids must have the shape of labels {lab.shape}, got {gid.shape}.")
    names = tuple(str(m) for m in minerals)
    k = len(names)
    if lab.max() >= k or lab.min() < -1:
        raise ValueError(f"labels must be in -1..{k - 1} for {k} minerals, got {lab.min()}..{lab.max()}.")
    seed = _check_seed(seed)
    thickness_nm = 1000.0 * check_positive(thickness_um, "thickness_um")
    blur = check_positive(blur, "blur", allow_zero=True)
    noise = check_number(noise, "noise", low=0, high=0.5)
    brightness = check_number(brightness, "brightness", low=0.1, high=3)
    gains = np.array([check_number(c, "colour", low=0.1, high=3) for c in np.ravel(colour)], float)
    if gains.size != 3:
        raise ValueError(f"colour must be three gains (R, G, B), got {colour!r}.")
    label_pixel = check_int(label_pixel, "label_pixel")
    misregistration = check_number(misregistration, "misregistration", low=0, high=50)
    mm_per_pixel = check_positive(mm_per_pixel, "mm_per_pixel")
    undulose = check_number(undulose, "undulose", low=0, high=180)
    cracks = check_int(cracks, "cracks", low=0, high=10_000)
    comps = dict(_minerals.MINERALS)
    comps.update(compositions or {})
    missing = [n for n in names if n not in comps]
    if missing:
        raise ValueError(f"No composition for {missing}: give compositions={{name: {{element: fraction}}}}.")
    rng = np.random.default_rng([seed, 14])
    h, w = lab.shape
    gid, phi, s, twin_delta, twin_width, chan = _grain_fields(lab, gid, rng)
    table = [_optics.optics(n) for n in names]
    idx = np.where(lab < 0, k, lab).astype(np.int64)  # k: epoxy
    c0 = np.array([t[0] for t in table] + [(0.97, 0.97, 0.97)])
    c1 = np.array([t[1] for t in table] + [(0.97, 0.97, 0.97)])
    biref = np.array([t[2] for t in table] + [0.0])
    ri = np.array([t[3] for t in table] + [1.54])
    flags = [t[4] for t in table] + ["isotropic"]
    twinned = np.array(["twinned" in f for f in flags])
    turbid = np.array(["turbid" in f for f in flags])
    eta = np.array([_optics.backscatter_coefficient(comps[n]) for n in names] + [0.02])

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ext = phi[gid] + (_sweep(gid, yy, xx, np.random.default_rng([seed, 15]), np.radians(undulose)) if undulose else 0.0)
    tw = twinned[idx]
    if tw.any():
        a = ext[tw]
        stripe = np.floor((xx[tw] * np.cos(a) + yy[tw] * np.sin(a)) / twin_width[gid[tw]]) % 2
        ext = ext.copy()
        ext[tw] = a + stripe * twin_delta[gid[tw]]
    sp = s[gid]
    # plane-polarised light: pleochroism between c0 and c1 with the vibration direction and tilt
    mix = (sp * np.cos(ext) ** 2)[..., None]
    pp = c0[idx] * (1 - mix) + c1[idx] * mix
    if turbid[idx].any():
        dust = np.clip(_smooth_noise((h, w), 1.2, rng), -2, 2)
        pp *= (1.0 - 0.06 * turbid[idx] * (1 + dust))[..., None] * np.array([1.0, 0.97, 0.92])
    relief = ndimage.gaussian_gradient_magnitude(ri[idx], 0.8)
    pp *= np.exp(-2.5 * relief)[..., None]
    # crossed polars: interference colour of the retardation, extinction, body colour
    lut = _optics.interference_colours()
    g = np.clip(thickness_nm * biref[idx] * sp / 2.0, 0, lut.shape[0] - 1).astype(np.int64)
    xp = lut[g] * (np.sin(2 * ext) ** 2)[..., None] * np.sqrt(pp)
    light = brightness * gains * (1.0 - 0.08 * (((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (h * h + w * w) * 4))[
        ..., None]
    crack = _crack_map((h, w), cracks, np.random.default_rng([seed, 16])) if cracks else None
    out = []
    for img, dark in ((pp * light, 0.75), (xp * light, 0.05)):
        if crack is not None:
            img = img * (1 - (1 - dark) * crack)[..., None]
        if blur > 0:
            img = ndimage.gaussian_filter(img, (blur, blur, 0))
        img = img + noise * rng.standard_normal(img.shape) * np.sqrt(np.clip(img, 0.01, 1))
        out.append(_optics.to_srgb8(img))
    b = (eta[idx] * (1 + chan[gid] * (lab >= 0)) - _ETA_RANGE[0]) / (_ETA_RANGE[1] - _ETA_RANGE[0])
    b = b * brightness
    if crack is not None:
        b = b * (1 - 0.7 * crack)
    if blur > 0:
        b = ndimage.gaussian_filter(b, blur * 1.3)
    b = b + 1.5 * noise * rng.standard_normal(b.shape)
    bse = np.round(np.clip(b, 0, 1) * 255).astype(np.uint8)
    # the EDS labels: coarse pixels sampled at their centres on a shifted grid
    dy, dx = rng.normal(0.0, misregistration, 2) if misregistration > 0 else (0.0, 0.0)
    ry = (np.floor((np.arange(h) + dy) / label_pixel) * label_pixel + label_pixel // 2).astype(np.int64)
    rx = (np.floor((np.arange(w) + dx) / label_pixel) * label_pixel + label_pixel // 2).astype(np.int64)
    inside = ((ry >= 0) & (ry < h))[:, None] & ((rx >= 0) & (rx < w))[None, :]
    coarse = lab[np.clip(ry, 0, h - 1)[:, None], np.clip(rx, 0, w - 1)[None, :]]
    coarse = np.where(inside, coarse, -1).astype(np.int16)
    return ThinSection(out[0], out[1], bse, lab.astype(np.int16), coarse, gid.astype(np.int32), names,
                       tuple(_colour(n, i) for i, n in enumerate(names)), float(mm_per_pixel))


def make_thin_section(shape=(256, 256), *, rock="granite", grain_size=None, seed=0, **render):
    """A synthetic rock texture of a preset and its rendered images (:func:`render_thin_section`).

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` in image pixels.
    rock : {"granite", "basalt", "dacite", "default"}
        The minerals and fractions of :func:`make_rich_rock`'s presets (the glass of basalt and
        dacite as a groundmass), or ``"default"``: :data:`DEFAULT_MINERALS` in a groundmass.
    grain_size : float, optional
        Grain diameter in pixels (default the preset's, scaled x1.5 for optical resolution).
    seed : int
        Random seed of the texture and the rendering.
    **render
        Options of :func:`render_thin_section`.

    Returns
    -------
    ThinSection
    """
    from ._presets import rich_rock_options
    from ._rock import DEFAULT_MINERALS

    h, w = _check_shape(shape)
    check_choice(rock, "rock", _ROCKS)
    seed = _check_seed(seed)
    if rock == "default":
        names, fractions, glass = list(DEFAULT_MINERALS), None, None
        opts = dict(grain_size=12.0, matrix_fraction=0.25)
    else:
        opts = rich_rock_options(rock)
        names, fractions, glass = opts["minerals"], opts["fractions"], opts["glass"]
    gs = 1.5 * opts["grain_size"] if grain_size is None else check_positive(grain_size, "grain_size")
    if glass is not None:
        f = np.asarray(fractions, float) / np.sum(fractions)
        lab, gid = _glass.glass_texture((h, w), f, names.index(glass), grain_size=gs, seed=seed,
                                        exact_fractions=True)
    else:
        lab, gid = make_texture((h, w), n_phases=len(names), fractions=fractions, grain_size=gs,
                                matrix_fraction=opts.get("matrix_fraction", 0.25), seed=seed,
                                exact_fractions=True)
    return render_thin_section(lab, gid, names, seed=seed, **render)


def write_training_folder(folder, sections, names=None, *, true_labels=False):
    """Write thin sections as a training folder of images and label maps.

    One ``NAME_pp.png``, ``NAME_xp.png``, ``NAME_bse.png`` and ``NAME_labels.npy`` per
    section, and ``classes.csv`` (``Name,Index,Color`` rows) for the union of their minerals;
    the label maps hold the indices of that union (``-1`` unlabelled).

    Parameters
    ----------
    folder : str or Path
        Created if missing.
    sections : sequence of ThinSection
    names : sequence of str, optional
        File stems (default ``section_000``, ...).
    true_labels : bool
        Write the true phase maps instead of the EDS-like labels (for test folders).

    Returns
    -------
    tuple of str
        The class names, in index order.
    """
    from PIL import Image

    sections = list(sections)
    if not sections or not all(isinstance(s, ThinSection) for s in sections):
        raise TypeError("sections must be a non-empty sequence of ThinSection.")
    names = [f"section_{i:03d}" for i in range(len(sections))] if names is None else [str(n) for n in names]
    if len(names) != len(sections):
        raise ValueError(f"names must have one entry per section ({len(sections)}), got {len(names)}.")
    classes, colors = [], []
    for s in sections:
        for n, c in zip(s.phase_names, s.colors):
            if n not in classes:
                classes.append(n)
                colors.append(c)
    from ..render import PHASE_COLOURS

    colors = [PHASE_COLOURS[i % len(PHASE_COLOURS)] for i in range(len(classes))]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, s in zip(names, sections):
        remap = np.array([classes.index(n) for n in s.phase_names] + [-1], np.int16)
        lab = s.truth if true_labels else s.labels
        np.save(folder / f"{stem}_labels.npy", remap[np.where(lab < 0, len(s.phase_names), lab)])
        Image.fromarray(s.pp).save(folder / f"{stem}_pp.png")
        Image.fromarray(s.xp).save(folder / f"{stem}_xp.png")
        Image.fromarray(s.bse).save(folder / f"{stem}_bse.png")
    with open(folder / "classes.csv", "w", encoding="utf-8") as fh:
        fh.write("Name,Index,Color\n")
        fh.writelines(f"{n},{i},{c}\n" for i, (n, c) in enumerate(zip(classes, colors)))
    return tuple(classes)
