"""An independent synthetic SEM-EDS map generator (rocks phaselib was not tuned on).

Written from textbook X-ray physics without looking at ``phaselib.datasets``; only
:class:`phaselib.SpectrumImage` is used, to hold the result.

Spectrum of a phase (per incident electron, arbitrary units, then normalised):

* composition: element weight fractions computed from an ideal mineral formula (atoms per
  formula unit and atomic weights) or, for glasses, from oxide weight percents;
* characteristic lines: K-alpha and K-beta of C..Zn, L lines of Ca..Fe (weak) and of Zr and Ba.
  Intensity of a line = ``C / A * omega * n(U) * p * f_abs(E) * eff(E)`` with ``C`` the weight
  fraction, ``A`` the atomic weight, ``omega`` a fluorescence yield (Bambynek's fit for K shells,
  rough effective values for L shells), ``n(U) = (U ln U - U + 1) / U`` a rough ionisation factor of the
  overvoltage ``U = E0 / E_edge``, ``p`` the share of the line in its shell, ``f_abs`` a matrix
  absorption factor ``(1 - exp(-chi)) / chi`` with ``mu/rho ~ E**-2.7`` and one mean depth, and
  ``eff`` the detector efficiency (a thin-window/dead-layer low-energy cut-off with a small Si K
  edge, and the 0.45 mm Si crystal's loss at high energy);
* a carbon coat: a weak C K-alpha line on every phase;
* a Kramers continuum ``Zbar (E0 - E) / E`` with the same absorption and efficiency;
* Gaussian peaks (integrated over each channel) whose FWHM is ``sqrt(a + b E)`` with 130 eV at Mn K-alpha
  (Fano factor 0.115, 3.8 eV per electron-hole pair);
* Si escape peaks 1.74 keV below the lines above the Si K edge, and a pile-up sum peak of the two
  strongest lines.

Each phase's spectrum is scaled to a total yield ``sqrt(Zbar / 11)`` (heavy phases brighter).

Textures (``kind``): ``basalt`` (labradorite laths, augite and glass groundmass, olivine
phenocrysts with magnetite inclusions, ilmenite laths, magnetite, apatite needles),
``granite`` (coarse irregular quartz / K-feldspar / oligoclase grains, biotite flakes, magnetite,
zircon inclusions in biotite), ``marble`` (granoblastic calcite > 50 % and dolomite, diopside,
quartz, pyrite cubes) and ``schist`` (foliated quartz, oligoclase, muscovite and biotite flakes,
almandine porphyroblasts with quartz and ilmenite inclusion trails, ilmenite).

True crystals: every painted object and background cell is tracked as it is painted
(``_othergen_grains``); :attr:`OtherRock.grains` numbers the pieces each still holds at the end.

The beam: each phase's indicator map is blurred by a Gaussian of ``beam_sigma_px``; a pixel's
expected spectrum is the blurred weights times the phase spectra (a matrix product in row
blocks), scaled to ``counts_per_pixel`` mean counts, then Poisson-sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from phaselib import SpectrumImage

from ._othergen_grains import Crystals
from ._othergen_spectra import MINERALS, mean_z, phase_spectrum

__all__ = ["KINDS", "MINERALS", "OtherRock", "make_other_rock", "phase_spectrum"]

KINDS = ("basalt", "granite", "marble", "schist")


# --------------------------------------------------------------------------------------------
# textures
# --------------------------------------------------------------------------------------------
def _distorted_grid(shape, rng, amp, smooth=5.0):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    if amp > 0:
        for grid in (yy, xx):
            n = gaussian_filter(rng.normal(size=shape), smooth)
            grid += amp * n / (n.std() + 1e-12)
    return yy, xx


def _voronoi(shape, rng, spacing, *, stretch=1.0, angle=0.0, amp=3.0):
    """Irregular cells about ``spacing`` px across (``stretch`` > 1: elongated along ``angle``)."""
    h, w = shape
    yy, xx = _distorted_grid(shape, rng, amp)
    c, s = np.cos(angle), np.sin(angle)
    u, v = xx * c + yy * s, -xx * s + yy * c
    pts = np.column_stack([u.ravel() / stretch, v.ravel()])
    n = max(int(h * w / spacing**2), 2)
    sy, sx = rng.uniform(0, h, n), rng.uniform(0, w, n)
    seeds = np.column_stack([(sx * c + sy * s) / stretch, -sx * s + sy * c])
    return cKDTree(seeds).query(pts)[1].reshape(shape)


def _cells(shape, rng, coarse, fine, p_fine, **kw):
    """Cells of two sizes: some coarse cells cut into fine ones."""
    a = _voronoi(shape, rng, coarse, **kw)
    b = _voronoi(shape, rng, fine, **kw)
    cut = rng.random(a.max() + 1) < p_fine
    ids = np.where(cut[a], (a + 1) * (b.max() + 1) + b, a)
    return np.unique(ids, return_inverse=True)[1].reshape(shape)


def _assign(cells, targets, rng):
    """Give each cell a phase so that the areas come near ``targets`` ({phase: fraction})."""
    sizes = np.bincount(cells.ravel())
    phases = list(targets)
    want = np.array([targets[p] for p in phases]) * sizes.sum() / sum(targets.values())
    got = np.zeros(len(phases))
    table = np.zeros(sizes.size, dtype=np.int64)
    for cell in rng.permutation(sizes.size):
        j = int(np.argmax(want - got))
        table[cell] = phases[j]
        got[j] += sizes[cell]
    return table[cells]


def _shape_mask(shape, cy, cx, r, *, kind, angle=0.0, aspect=1.0, sides=6):
    """Boolean mask of one grain and its bounding box: ``rect`` (length 2r, width 2r/aspect),
    ``ellipse`` or a ``poly``-gon with ``sides`` sides (radius r, squashed by aspect)."""
    h, w = shape
    y0, y1 = max(int(cy - r - 2), 0), min(int(cy + r + 3), h)
    x0, x1 = max(int(cx - r - 2), 0), min(int(cx + r + 3), w)
    if y0 >= y1 or x0 >= x1:
        return None, None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = dx * c + dy * s, (-dx * s + dy * c) * aspect
    if kind == "rect":
        m = (np.abs(u) <= r) & (np.abs(v) <= r)
    elif kind == "ellipse":
        m = u**2 + v**2 <= r**2
    else:
        th = np.arange(sides // 2) * 2 * np.pi / sides
        m = np.max(np.abs(u[..., None] * np.cos(th) + v[..., None] * np.sin(th)), axis=-1) <= r
    return m, (slice(y0, y1), slice(x0, x1))


def _paint(labels, phase, m, box, protect=(), crystals=None):
    if m is None:
        return
    sub = labels[box]
    ok = m & ~np.isin(sub, protect) if protect else m
    sub[ok] = phase
    if crystals is not None:
        crystals.paint(box, ok)


def _paint_until(labels, phase, fraction, rng, make, *, protect=(), where=None, max_tries=5000, crystals=None):
    """Paint grains from ``make(rng) -> (r, kind, angle, aspect)`` until ``phase`` covers ``fraction``
    (each one a new object of ``crystals``, a :class:`Crystals`, when given)."""
    target = fraction * labels.size
    h, w = labels.shape
    for _ in range(max_tries):
        if np.count_nonzero(labels == phase) >= target:
            break
        if where is not None:
            cy, cx = where(rng)
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r, kind, angle, aspect = make(rng)
        m, box = _shape_mask(labels.shape, cy, cx, r, kind=kind, angle=angle, aspect=aspect)
        _paint(labels, phase, m, box, protect, crystals)


def _random_in(labels, phases):
    ys, xs = np.nonzero(np.isin(labels, phases))

    def pick(rng):
        i = rng.integers(ys.size)
        return ys[i] + rng.uniform(-0.5, 0.5), xs[i] + rng.uniform(-0.5, 0.5)

    return pick


def _basalt(shape, rng):
    names = ("labradorite", "augite", "olivine", "glass", "ilmenite", "magnetite", "apatite")
    lab, aug, ol, gl, ilm, mag, ap = range(7)
    cells = _cells(shape, rng, 12, 6, 0.3)
    labels, xt = _assign(cells, {aug: 0.62, gl: 0.38}, rng), Crystals(cells)
    # olivine phenocrysts (euhedral), some with magnetite inclusions
    _paint_until(labels, ol, 0.09, rng,
                 lambda g: (g.uniform(8, 17), "poly", g.uniform(0, np.pi), g.uniform(1.0, 1.6)), crystals=xt)
    olivine = labels == ol
    ys, xs = np.nonzero(olivine)
    for i in rng.choice(ys.size, size=max(ys.size // 900, 1), replace=False):
        m, box = _shape_mask(shape, ys[i], xs[i], rng.uniform(1.5, 2.5), kind="poly", sides=4)
        _paint(labels, mag, m & olivine[box], box, crystals=xt)
    # plagioclase laths
    _paint_until(labels, lab, 0.45, rng,
                 lambda g: (g.uniform(8, 20), "rect", g.uniform(0, np.pi), g.uniform(3.5, 6.0)), protect=(ol, mag),
                 crystals=xt)
    # Fe-Ti oxides in the groundmass
    _paint_until(labels, ilm, 0.025, rng,
                 lambda g: (g.uniform(4, 9), "rect", g.uniform(0, np.pi), g.uniform(3.0, 5.0)), protect=(ol,),
                 crystals=xt)
    _paint_until(labels, mag, 0.025, rng,
                 lambda g: (g.uniform(2, 4.5), "poly", g.uniform(0, np.pi), 1.0), protect=(ol, ilm), crystals=xt)
    # apatite: needles in the mesostasis and a few stubby prisms
    _paint_until(labels, ap, 0.003, rng,
                 lambda g: ((g.uniform(3, 7), "rect", g.uniform(0, np.pi), g.uniform(3.0, 5.0))
                            if g.random() < 0.6 else (g.uniform(2, 3), "poly", g.uniform(0, np.pi), 1.0)),
                 where=_random_in(labels, [gl]), crystals=xt)
    return labels, names, xt.grains(labels, glass=(gl,))


def _granite(shape, rng):
    names = ("quartz", "K-feldspar", "oligoclase", "biotite", "magnetite", "zircon")
    qz, kfs, olig, bt, mag, zrn = range(6)
    cells = _cells(shape, rng, 30, 11, 0.3, amp=4.0)
    labels, xt = _assign(cells, {qz: 0.34, kfs: 0.35, olig: 0.26}, rng), Crystals(cells)
    _paint_until(labels, bt, 0.085, rng,
                 lambda g: (g.uniform(6, 14), "rect", g.uniform(0, np.pi), g.uniform(2.0, 3.5)), crystals=xt)
    near_bt = _random_in(labels, [bt])
    _paint_until(labels, mag, 0.01, rng, lambda g: (g.uniform(2, 4.5), "poly", g.uniform(0, np.pi), 1.0),
                 where=near_bt, crystals=xt)
    _paint_until(labels, zrn, 0.002, rng, lambda g: (g.uniform(1.5, 2.5), "poly", g.uniform(0, np.pi), 1.4),
                 where=_random_in(labels, [bt]), crystals=xt)
    return labels, names, xt.grains(labels)


def _marble(shape, rng):
    names = ("calcite", "dolomite", "diopside", "quartz", "pyrite")
    cal, dol, di, qz, py = range(5)
    cells = _cells(shape, rng, 24, 10, 0.35, amp=2.0)
    labels, xt = _assign(cells, {cal: 0.77, dol: 0.23}, rng), Crystals(cells)
    _paint_until(labels, di, 0.05, rng, lambda g: (g.uniform(3, 7), "ellipse", g.uniform(0, np.pi),
                                                   g.uniform(1.0, 1.5)), crystals=xt)
    _paint_until(labels, qz, 0.025, rng, lambda g: (g.uniform(2.5, 5), "ellipse", g.uniform(0, np.pi), 1.2),
                 protect=(di,), crystals=xt)
    _paint_until(labels, py, 0.0035, rng, lambda g: (g.uniform(1.5, 3), "rect", g.uniform(0, np.pi / 2), 1.0),
                 crystals=xt)
    return labels, names, xt.grains(labels)


def _schist(shape, rng):
    names = ("quartz", "oligoclase", "muscovite", "biotite", "almandine", "ilmenite")
    qz, pl, ms, bt, grt, ilm = range(6)
    fol = np.deg2rad(rng.uniform(-15, 15))
    cells = _cells(shape, rng, 11, 6, 0.3, stretch=2.5, angle=fol, amp=2.0)
    labels, xt = _assign(cells, {qz: 0.8, pl: 0.2}, rng), Crystals(cells)
    for phase, frac in ((ms, 0.22), (bt, 0.13)):
        _paint_until(labels, phase, frac, rng, lambda g: (g.uniform(7, 20), "rect", fol + g.normal(0, 0.08),
                                                          g.uniform(4.0, 7.0)), crystals=xt)
    _paint_until(labels, ilm, 0.004, rng, lambda g: (g.uniform(2.5, 5), "rect", fol + g.normal(0, 0.1), 3.0),
                 crystals=xt)
    # almandine porphyroblasts with an inclusion trail (quartz, ilmenite) at an angle to the foliation
    garnet = np.zeros(shape, bool)
    h, w = shape
    while np.count_nonzero(garnet) < 0.09 * labels.size:
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(12, 20)
        m, box = _shape_mask(shape, cy, cx, r, kind="poly", angle=rng.uniform(0, np.pi), sides=8)
        labels[box][m] = grt
        xt.paint(box, m)
        garnet[box] |= m
        trail = fol + rng.uniform(0.4, 1.2)
        for t in rng.uniform(-0.8 * r, 0.8 * r, size=int(r / 3)):
            y = cy + t * np.sin(trail) + rng.normal(0, 1.5)
            x = cx + t * np.cos(trail) + rng.normal(0, 1.5)
            phase = ilm if rng.random() < 0.25 else qz
            mi, bi = _shape_mask(shape, y, x, rng.uniform(1.0, 2.2), kind="ellipse", angle=trail, aspect=1.8)
            if mi is not None:
                labels[bi][mi & garnet[bi]] = phase
                xt.paint(bi, mi & garnet[bi])
    return labels, names, xt.grains(labels)


_TEXTURES = {"basalt": _basalt, "granite": _granite, "marble": _marble, "schist": _schist}


# --------------------------------------------------------------------------------------------
# the map
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OtherRock:
    """A synthetic map and its truth.

    ``image``: the spectrum image; ``labels``: (H, W) true phase index; ``names``: mineral of each
    index; ``fractions``: area fraction of each phase; ``spectra``: (K, C) expected spectrum of each
    phase (counts per pixel of a pure pixel); ``compositions``: element weight fractions; ``grains``: (H, W)
    int64 true crystal ids (each painted object or background cell, cut to the pixels it still holds, each
    8-connected piece one crystal; each connected glass region one id; see ``_othergen_grains``).
    """

    image: SpectrumImage
    labels: np.ndarray
    names: tuple
    fractions: np.ndarray
    spectra: np.ndarray
    compositions: tuple
    grains: np.ndarray


def make_other_rock(shape=(200, 300), kind="basalt", counts_per_pixel=60, seed=0, beam_sigma_px=0.7,
                    n_channels=2048, energy_scale_kev=0.01, energy_offset_kev=0.0, beam_kv=15.0,
                    block_rows=16) -> OtherRock:
    """A synthetic EDS map of a rock of ``kind`` (see :data:`KINDS`) with its true phase and crystal maps."""
    if kind not in _TEXTURES:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = np.random.default_rng(seed)
    labels, names, grains = _TEXTURES[kind](tuple(shape), rng)
    k = len(names)
    energies = energy_offset_kev + energy_scale_kev * np.arange(n_channels)
    comps = tuple(MINERALS[n] for n in names)
    spectra = np.stack([phase_spectrum(c, energies, beam_kv=beam_kv) * np.sqrt(mean_z(c) / 11.0) for c in comps])
    weights = np.empty(labels.shape + (k,), np.float32)
    for p in range(k):
        w = (labels == p).astype(np.float32)
        weights[..., p] = gaussian_filter(w, beam_sigma_px, mode="nearest") if beam_sigma_px > 0 else w
    weights /= weights.sum(-1, keepdims=True)
    totals = weights.reshape(-1, k) @ spectra.sum(1)
    spectra *= counts_per_pixel / totals.mean()
    spectra32 = spectra.astype(np.float32)
    h, w = labels.shape
    data = np.empty((h, w, n_channels), np.uint16)
    for r0 in range(0, h, block_rows):
        lam = weights[r0:r0 + block_rows].reshape(-1, k) @ spectra32
        data[r0:r0 + block_rows] = np.minimum(rng.poisson(np.maximum(lam, 0)), 65535).reshape(-1, w, n_channels)
    image = SpectrumImage(data, energy_offset=energy_offset_kev, energy_scale=energy_scale_kev,
                          beam_energy=beam_kv, pixel_size=1.0)
    fractions = np.bincount(labels.ravel(), minlength=k) / labels.size
    return OtherRock(image=image, labels=labels.astype(np.int64), names=tuple(names), fractions=fractions,
                     spectra=spectra, compositions=comps, grains=grains)
