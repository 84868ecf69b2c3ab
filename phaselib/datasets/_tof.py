"""Synthetic neutron time-of-flight transmission cubes with Bragg edges, with ground truth.

A polycrystalline material transmits ``T(lambda) = exp(-n t sigma(lambda))`` (``n`` atoms per
volume, ``t`` thickness). Its coherent elastic cross section grows by a step at every Bragg edge
``lambda = 2 d_hkl`` (below the edge the ``hkl`` planes can reflect) and falls to zero above the
longest edge:

    sigma_coh(lambda) = lambda**2 / (2 V0 N) * sum_{hkl: 2 d_hkl > lambda} |F_hkl|**2 d_hkl exp(-B / (2 d_hkl**2))

(sum over every reflection, so multiplicities are counted; ``F = N b`` for the allowed ``hkl`` of
a bcc or fcc lattice of ``N`` atoms per cell of volume ``V0``), plus absorption ``~ lambda`` and
a flat incoherent term. An amorphous material (polyethylene) has no edges: its cross section is a
straight line in ``lambda``, like vanadium's (whose coherent scattering is nearly nil), a pair told apart
only by their slopes. The sample pixels count ``Poisson(phi(lambda) T)`` neutrons, the open
beam ``Poisson(phi(lambda) frames) / frames`` (``phi`` a Maxwellian cold spectrum), and the cube
holds their ratio, the measured transmission.

Each material appears as pieces (lenses on a plate: the thickness changes within a piece) and,
when it has two pieces, at two base thicknesses; the base thicknesses are chosen so that every
material attenuates the same on average: regions differ by the *shape* of their spectra (the
edges), not by how dark they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._image import SpectrumImage
from .._validate import check_int, check_number, check_positive
from ._texture import _check_shape

#: name -> (lattice, a in Angstrom, coherent b in fm, absorption barn at 1.798 A, incoherent barn,
#: Debye-Waller B in A^2)
TOF_MATERIALS = {
    "Fe-bcc": ("bcc", 2.8665, 9.45, 2.56, 0.40, 0.35),
    "Fe-fcc": ("fcc", 3.5900, 9.45, 2.56, 0.40, 0.40),
    "Ni": ("fcc", 3.5240, 10.3, 4.49, 5.2, 0.37),
    "Al": ("fcc", 4.0495, 3.449, 0.231, 0.0082, 0.80),
    "Cu": ("fcc", 3.6150, 7.718, 3.78, 0.55, 0.55),
    # vanadium: a metal with almost no Bragg edges (b = -0.38 fm), its cross section a straight line in lambda
    "V": ("bcc", 3.0240, -0.3824, 5.08, 5.08, 0.45),
    # polyethylene, per CH2 (density 0.92 g/cm^3: one unit per 2.934^3 A^3), no crystal edges; the hydrogen's
    # scattering, rising with the wavelength (~30 + 16 lambda barn per H), is folded into the terms in lambda and
    # flat: a straight line too, close in shape to vanadium's (slope / intercept 0.49 and 0.56 per A)
    "PE": ("amorphous", 2.934, 0.0, 57.5, 65.5, 0.0),
}
DEFAULT_TOF_MATERIALS = ("Fe-bcc", "Ni", "Al", "Cu")
_ATOMS_PER_CELL = {"bcc": 2, "fcc": 4, "sc": 1, "amorphous": 1}


MAX_ORDER = 60  # bragg_edges lists reflections up to this index (2 a / lambda_min)


def _reflections(lattice, a, lambda_min):
    """d spacing of every allowed reflection vector (hkl and its signed permutations) with 2d >= lambda_min."""
    n = int(np.ceil(2 * a / lambda_min)) + 1
    r = np.arange(-n, n + 1)
    h, k, l = (g.ravel() for g in np.meshgrid(r, r, r, indexing="ij"))  # noqa: E741
    s = h * h + k * k + l * l
    if lattice == "amorphous":  # no crystal planes, no edges
        ok = np.zeros_like(s, bool)
    elif lattice == "bcc":
        ok = (h + k + l) % 2 == 0
    elif lattice == "fcc":
        ok = ((h % 2) == (k % 2)) & ((k % 2) == (l % 2))
    else:
        ok = np.ones_like(s, bool)
    ok &= s > 0
    d = a / np.sqrt(s[ok])
    keep = 2 * d >= lambda_min
    return d[keep], np.stack([h[ok], k[ok], l[ok]], 1)[keep]


def bragg_edges(lattice, a, wavelength_range=(1.0, 5.0)):
    """Bragg edges ``lambda = 2 d_hkl`` of a cubic lattice inside a wavelength range.

    Parameters
    ----------
    lattice : {"bcc", "fcc", "sc", "amorphous"}
    a : float
        Lattice constant, Angstrom.
    wavelength_range : (float, float)
        Angstrom.

    Returns
    -------
    list of (str, float)
        ``("110", 4.054)``...: one entry per distinct edge, longest wavelength first.
    """
    if lattice not in _ATOMS_PER_CELL:
        raise ValueError(f"`lattice` must be one of bcc, fcc, sc, amorphous, got {lattice!r}.")
    a = check_positive(a, "a")
    lo, hi = (check_positive(v, "wavelength_range") for v in wavelength_range)
    if 2 * a / lo > MAX_ORDER:  # (2 n + 1)**3 reflections to list: 1e-6 Angstrom asked for terabytes
        raise ValueError(f"The wavelength range starts at {lo:g} Angstrom: edges below a / {MAX_ORDER // 2} "
                         f"({2 * a / MAX_ORDER:.3g} Angstrom for a = {a:g}) are too many to list; start it higher.")
    d, hkl = _reflections(lattice, a, lo)
    out = {}
    for di, v in zip(d, hkl):
        key = round(2 * di, 6)
        if lo <= key <= hi and key not in out:
            out[key] = "".join(str(x) for x in sorted(np.abs(v), reverse=True))
    return [(out[k], float(k)) for k in sorted(out, reverse=True)]


def cross_section(material, wavelength):
    """Total cross section per atom (barn) of a material at each wavelength (Angstrom).

    Parameters
    ----------
    material : str or tuple
        A name of :data:`TOF_MATERIALS` or its tuple ``(lattice, a, b_fm, abs_barn, inc_barn, B)``.
    wavelength : (C,) array-like

    Returns
    -------
    (C,) ndarray
    """
    lattice, a, b, sig_abs, sig_inc, debye = TOF_MATERIALS[material] if isinstance(material, str) else material
    lam = np.asarray(wavelength, dtype=np.float64)
    d, _ = _reflections(lattice, a, float(lam.min()))
    n_cell = _ATOMS_PER_CELL[lattice]
    f2 = (n_cell * b * 1e-5) ** 2  # |F|^2 in A^2 (b: fm -> A)
    terms = np.sort(d * np.exp(-debye / (2 * d * d)))[::-1]
    d_sorted = np.sort(d)[::-1]
    cum = np.concatenate([[0.0], np.cumsum(terms)])
    n_active = np.searchsorted(-2 * d_sorted, -lam, side="right")  # reflections with 2d >= lambda
    coh = lam ** 2 / (2 * a ** 3 * n_cell) * f2 * cum[n_active] * 1e8  # A^2 -> barn
    return coh + sig_abs * lam / 1.798 + sig_inc


@dataclass(frozen=True, eq=False)
class SyntheticToF:
    """A synthetic time-of-flight transmission cube and its ground truth.

    Attributes
    ----------
    image : SpectrumImage
        Measured transmission, ``(H, W, C)`` float32, ``signal="intensity"``, wavelength in Angstrom.
    labels : (H, W) int16 ndarray
        Region of every pixel (``0`` the open beam when ``background``).
    names : tuple of str
        Name of each region.
    thickness : (H, W) ndarray
        Thickness of every pixel, cm (0 in the open beam).
    transmission : (H, W, C) float32 ndarray
        Expected transmission of every pixel (no noise).
    cross_sections : (K, C) ndarray
        Total cross section per atom of each region's material (barn; 0 for the open beam).
    bragg_edges : dict
        Material -> list of ``(hkl, wavelength)``.
    """

    image: SpectrumImage
    labels: np.ndarray
    names: tuple
    thickness: np.ndarray
    transmission: np.ndarray
    cross_sections: np.ndarray
    bragg_edges: dict

    @property
    def n_regions(self) -> int:
        return len(self.names)

    def region_spectra(self) -> np.ndarray:
        """(K, C) mean expected transmission of each region (the truth for centroid spectra)."""
        flat = self.transmission.reshape(-1, self.transmission.shape[-1])
        lab = self.labels.ravel()
        return np.stack([flat[lab == k].mean(0) for k in range(self.n_regions)])


def _layout(shape, n_materials, pieces, rng):
    """Piece masks on a grid: (piece index map, material of each piece, lens profile in 0.4..1)."""
    h, w = shape
    n_pieces = n_materials * pieces
    cols = int(np.ceil(np.sqrt(n_pieces)))
    rows = int(np.ceil(n_pieces / cols))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    piece = np.full(shape, -1, np.int32)
    profile = np.zeros(shape)
    order = rng.permutation(n_pieces)
    for i, p in enumerate(order):
        r, c = divmod(i, cols)
        cy, cx = (r + 0.5) * h / rows, (c + 0.5) * w / cols
        ry, rx = 0.42 * h / rows, 0.42 * w / cols
        rr = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        if p % 2:  # a rectangle: a wedge across it
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
            prof = 0.4 + 0.6 * (xx - cx + rx) / (2 * rx)
        else:  # a disc: a lens on a plate
            inside = rr <= 1
            prof = 0.4 + 0.6 * np.sqrt(np.clip(1 - rr, 0, 1))
        piece[inside] = p
        profile[inside] = prof[inside]
    return piece, np.arange(n_pieces) // pieces, profile


def make_tof(shape=(128, 128), n_channels=661, *, wavelength=(1.0, 5.0), materials=DEFAULT_TOF_MATERIALS,
             attenuation=0.8, thickness_ratio=2.0, pieces=2, background=True, open_beam_counts=1000.0,
             open_beam_frames=10, seed=0) -> SyntheticToF:
    """A neutron ToF transmission cube of polycrystalline pieces, with ground truth.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)``; the lecture's cube is 128 x 128 x 661.
    n_channels : int
    wavelength : (float, float)
        First and last channel, Angstrom.
    materials : sequence of str
        Names from :data:`TOF_MATERIALS` (one region each).
    attenuation : float
        Mean ``-log T`` over the wavelengths of every material's thinner pieces at full lens
        height (the base thicknesses are chosen for it, so no material is darker than another).
    thickness_ratio : float
        With two or more pieces per material, the second is this much thicker (then the third...).
    pieces : int
        Pieces of each material.
    background : bool
        Region 0 is the open beam (no sample).
    open_beam_counts : float
        Expected neutrons per pixel and channel at the peak of the incident spectrum.
    open_beam_frames : int
        The open beam is the mean of this many frames (less noisy than the sample).
    seed : int

    Returns
    -------
    SyntheticToF
    """
    h, w = _check_shape(shape)
    c = check_int(n_channels, "n_channels", low=2)
    lo, hi = (check_positive(v, "wavelength") for v in wavelength)
    if lo >= hi:
        raise ValueError(f"`wavelength` must be (low, high) with low < high, got {wavelength!r}.")
    materials = [materials] if isinstance(materials, str) else list(materials)  # "Ni": one material, not N and i
    unknown = [m for m in materials if m not in TOF_MATERIALS]
    if len(set(materials)) < len(materials):
        raise ValueError(f"`materials` names one material twice: {materials!r}.")
    if unknown or not materials:
        raise ValueError(f"`materials` must name some of {', '.join(TOF_MATERIALS)}, got {list(materials)!r}.")
    check_positive(attenuation, "attenuation")
    ratio = check_number(thickness_ratio, "thickness_ratio", low=1.0)
    pieces = check_int(pieces, "pieces")
    counts = check_positive(open_beam_counts, "open_beam_counts")
    frames = check_int(open_beam_frames, "open_beam_frames")
    rng = np.random.default_rng(seed)
    lam = np.linspace(lo, hi, c)
    sig = np.stack([cross_section(m, lam) for m in materials])  # (M, C) barn
    density = np.array([_ATOMS_PER_CELL[TOF_MATERIALS[m][0]] / TOF_MATERIALS[m][1] ** 3 for m in materials])
    mu = density[:, None] * sig * 1e-8 * 1e8  # per cm: atoms/A^3 * barn(1e-8 A^2) * 1e8 A/cm
    base = attenuation / mu.mean(1)  # cm
    piece, material_of, profile = _layout((h, w), len(materials), pieces, rng)
    off = 1 if background else 0
    labels = np.zeros((h, w), np.int16) if background else np.full((h, w), -1, np.int16)
    thickness = np.zeros((h, w))
    inside = piece >= 0
    m_px = material_of[piece[inside]]
    labels[inside] = m_px + off
    thickness[inside] = base[m_px] * ratio ** (piece[inside] % pieces) * profile[inside]
    if not background:  # no open beam: the pieces fill the map (nearest piece)
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(~inside, return_distances=False, return_indices=True)
        labels = labels[idx[0], idx[1]]
        thickness = thickness[idx[0], idx[1]]
    mu_px = np.zeros((h, w, c))
    mu_px[labels >= off] = mu[labels[labels >= off] - off]
    trans = np.exp(-mu_px * thickness[..., None]).astype(np.float32)
    lam0 = 2.0 * np.sqrt(2.5)  # a Maxwellian spectrum peaking at 2 A
    phi = (lam0 / lam) ** 5 * np.exp(-((lam0 / lam) ** 2))
    phi = counts * phi / phi.max()
    sample = rng.poisson(trans * phi).astype(np.float32)
    beam = rng.poisson(np.broadcast_to(phi * frames, trans.shape)).astype(np.float32) / frames
    measured = sample / np.maximum(beam, 1.0 / frames)
    names = (("open beam",) if background else ()) + tuple(materials)
    sections = np.vstack([np.zeros((1, c))] * off + [sig])
    edges = {m: bragg_edges(TOF_MATERIALS[m][0], TOF_MATERIALS[m][1], (lo, hi)) for m in materials}
    image = SpectrumImage(measured, energy_offset=lo, energy_scale=(hi - lo) / (c - 1), signal="intensity",
                          axis_name="Wavelength", axis_units="Å",
                          metadata={"synthetic": "neutron ToF transmission", "seed": seed})
    return SyntheticToF(image, labels, names, thickness, trans, sections, edges)
