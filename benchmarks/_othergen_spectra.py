"""Spectra of the independent generator (:mod:`benchmarks._othergen`): element data, mineral compositions and
the spectrum model (lines, continuum, detector) described in that module's text."""

from __future__ import annotations

import numpy as np
from scipy.special import erf

__all__ = ["MINERALS", "mean_z", "phase_spectrum"]

# --------------------------------------------------------------------------------------------
# elements: Z, atomic weight, K edge (keV), K-alpha, K-beta (keV), K-beta / K-alpha
# --------------------------------------------------------------------------------------------
_ELEMENTS = {
    "H": (1, 1.008, None, None, None, 0.0),
    "C": (6, 12.011, 0.284, 0.277, None, 0.0),
    "O": (8, 15.999, 0.532, 0.525, None, 0.0),
    "F": (9, 18.998, 0.686, 0.677, None, 0.0),
    "Na": (11, 22.990, 1.072, 1.041, 1.071, 0.01),
    "Mg": (12, 24.305, 1.305, 1.254, 1.302, 0.015),
    "Al": (13, 26.982, 1.560, 1.487, 1.557, 0.02),
    "Si": (14, 28.086, 1.839, 1.740, 1.836, 0.03),
    "P": (15, 30.974, 2.146, 2.013, 2.139, 0.04),
    "S": (16, 32.06, 2.472, 2.307, 2.464, 0.06),
    "Cl": (17, 35.45, 2.822, 2.622, 2.816, 0.08),
    "K": (19, 39.098, 3.607, 3.314, 3.590, 0.11),
    "Ca": (20, 40.078, 4.038, 3.692, 4.013, 0.12),
    "Ti": (22, 47.867, 4.966, 4.511, 4.932, 0.13),
    "Cr": (24, 51.996, 5.989, 5.415, 5.947, 0.13),
    "Mn": (25, 54.938, 6.539, 5.899, 6.490, 0.13),
    "Fe": (26, 55.845, 7.112, 6.404, 7.058, 0.135),
    "Zn": (30, 65.38, 9.659, 8.638, 9.572, 0.14),
    "Zr": (40, 91.224, 17.998, 15.775, 17.668, 0.17),
    "Ba": (56, 137.327, 37.441, 32.194, 36.378, 0.2),
}

# L lines: L3 edge (keV), effective yield (rough, includes the shell's occupancy), ((energy, weight), ...)
_L_LINES = {
    "Ca": (0.346, 0.002, ((0.341, 1.0),)),
    "Ti": (0.454, 0.004, ((0.452, 1.0),)),
    "Cr": (0.574, 0.007, ((0.573, 1.0),)),
    "Mn": (0.639, 0.008, ((0.637, 1.0),)),
    "Fe": (0.707, 0.012, ((0.705, 0.75), (0.718, 0.2), (0.615, 0.05))),
    "Zn": (1.020, 0.02, ((1.012, 0.8), (1.035, 0.2))),
    "Zr": (2.223, 0.10, ((2.042, 0.62), (2.124, 0.28), (2.219, 0.06), (2.302, 0.04))),
    "Ba": (5.247, 0.15, ((4.466, 0.55), (4.828, 0.27), (5.156, 0.08), (5.531, 0.06), (3.954, 0.04))),
}

_OXIDES = {  # oxide -> (cation, cations per formula, oxygens per formula)
    "SiO2": ("Si", 1, 2), "TiO2": ("Ti", 1, 2), "Al2O3": ("Al", 2, 3), "FeO": ("Fe", 1, 1),
    "MnO": ("Mn", 1, 1), "MgO": ("Mg", 1, 1), "CaO": ("Ca", 1, 1), "Na2O": ("Na", 2, 1),
    "K2O": ("K", 2, 1), "P2O5": ("P", 2, 5),
}


def _from_formula(atoms: dict) -> dict:
    mass = {el: n * _ELEMENTS[el][1] for el, n in atoms.items()}
    total = sum(mass.values())
    return {el: m / total for el, m in mass.items()}


def _from_oxides(wt: dict) -> dict:
    mass: dict = {}
    for oxide, pct in wt.items():
        cation, nc, no = _OXIDES[oxide]
        mw = nc * _ELEMENTS[cation][1] + no * _ELEMENTS["O"][1]
        mass[cation] = mass.get(cation, 0.0) + pct * nc * _ELEMENTS[cation][1] / mw
        mass["O"] = mass.get("O", 0.0) + pct * no * _ELEMENTS["O"][1] / mw
    total = sum(mass.values())
    return {el: m / total for el, m in mass.items()}


#: element weight fractions of the minerals the textures use
MINERALS = {
    "quartz": _from_formula({"Si": 1, "O": 2}),
    "albite": _from_formula({"Na": 1, "Al": 1, "Si": 3, "O": 8}),
    "oligoclase": _from_formula({"Na": 0.8, "Ca": 0.2, "Al": 1.2, "Si": 2.8, "O": 8}),
    "labradorite": _from_formula({"Na": 0.4, "Ca": 0.6, "Al": 1.6, "Si": 2.4, "O": 8}),
    "K-feldspar": _from_formula({"K": 0.88, "Na": 0.1, "Ba": 0.01, "Al": 1.01, "Si": 2.99, "O": 8}),
    "augite": _from_formula({"Ca": 0.85, "Na": 0.03, "Mg": 0.80, "Fe": 0.22, "Al": 0.12, "Ti": 0.03,
                             "Si": 1.90, "O": 6}),
    "diopside": _from_formula({"Ca": 1, "Mg": 0.95, "Fe": 0.05, "Si": 2, "O": 6}),
    "olivine": _from_formula({"Mg": 1.6, "Fe": 0.4, "Si": 1, "O": 4}),
    "ilmenite": _from_formula({"Fe": 0.95, "Mn": 0.03, "Mg": 0.02, "Ti": 1, "O": 3}),
    "magnetite": _from_formula({"Fe": 2.9, "Ti": 0.05, "Al": 0.05, "O": 4}),
    "apatite": _from_formula({"Ca": 5, "P": 3, "O": 12, "F": 1}),
    "biotite": _from_formula({"K": 0.95, "Mg": 1.4, "Fe": 1.3, "Ti": 0.15, "Al": 1.3, "Si": 2.8,
                              "O": 12, "H": 2}),
    "muscovite": _from_formula({"K": 0.9, "Na": 0.08, "Al": 2.9, "Fe": 0.05, "Mg": 0.05, "Si": 3.1,
                                "O": 12, "H": 2}),
    "hornblende": _from_formula({"Na": 0.5, "K": 0.1, "Ca": 1.8, "Mg": 3.0, "Fe": 1.5, "Al": 1.6,
                                 "Ti": 0.1, "Si": 6.8, "O": 24, "H": 2}),
    "calcite": _from_formula({"Ca": 1, "C": 1, "O": 3}),
    "dolomite": _from_formula({"Ca": 1, "Mg": 0.95, "Fe": 0.05, "C": 2, "O": 6}),
    "almandine": _from_formula({"Fe": 2.2, "Mg": 0.5, "Ca": 0.2, "Mn": 0.1, "Al": 2, "Si": 3, "O": 12}),
    "chromite": _from_formula({"Fe": 0.6, "Mg": 0.4, "Cr": 1.5, "Al": 0.5, "O": 4}),
    "pyrite": _from_formula({"Fe": 1, "S": 2}),
    "zircon": _from_formula({"Zr": 0.99, "Si": 1, "O": 4}),  # Hf left out
    "titanite": _from_formula({"Ca": 1, "Ti": 1, "Si": 1, "O": 5}),
    "glass": _from_oxides({"SiO2": 57.0, "TiO2": 1.8, "Al2O3": 14.5, "FeO": 10.0, "MnO": 0.2, "MgO": 2.8,
                           "CaO": 6.2, "Na2O": 4.0, "K2O": 2.0, "P2O5": 0.5}),  # andesitic mesostasis
}

# --------------------------------------------------------------------------------------------
# spectra
# --------------------------------------------------------------------------------------------
_FWHM_MN_EV = 130.0
_FANO_EV = 2.3548**2 * 3.8 * 0.115  # FWHM^2 grows by this many eV^2 per eV of energy
_NOISE_EV2 = _FWHM_MN_EV**2 - _FANO_EV * 5898.8
_KRAMERS = 7.5e-7  # continuum per unit Zbar: about a fifth of the counts of a silicate
_COAT_C = 0.03  # weight fraction equivalent of the carbon coat's C K-alpha
_ESCAPE = 0.04  # Si escape peak fraction times the line energy (keV)
_PILEUP = 0.002  # sum-peak fraction (of a line's share squared)


def _fwhm_kev(e):
    return np.sqrt(_NOISE_EV2 + _FANO_EV * np.asarray(e) * 1000.0) / 1000.0


def _omega_k(z):
    x = (0.015 + 0.0327 * z - 0.64e-6 * z**3) ** 4
    return x / (1.0 + x)


def _ionisation(u):
    u = np.asarray(u, dtype=float)
    return np.where(u > 1.0, (u * np.log(np.maximum(u, 1.0)) - u + 1.0) / np.maximum(u, 1.0), 0.0)


def efficiency(e):
    """Detector efficiency: window + dead layer low-energy cut-off, small Si K edge, crystal loss."""
    e = np.maximum(np.asarray(e, dtype=float), 1e-3)
    window = np.exp(-((0.36 / e) ** 2.5))
    edge = np.where(e > 1.839, np.exp(-0.04 * (1.839 / e) ** 2.7), 1.0)
    crystal = 1.0 - np.exp(-((25.0 / e) ** 2.7))
    return window * edge * crystal


def absorption(e):
    """Matrix self-absorption of X-rays of energy ``e`` (keV), one mean depth for every phase."""
    e = np.maximum(np.asarray(e, dtype=float), 1e-3)
    chi = 4000.0 * (0.525 / e) ** 2.7 * 1.74 * 3.0e-4  # mu/rho (cm2/g) * csc(35 deg) * rho z (g/cm2)
    return np.where(chi > 1e-6, -np.expm1(-chi) / np.maximum(chi, 1e-6), 1.0)


def _lines(comp: dict, beam_kv: float) -> list:
    """(energy keV, intensity) of every characteristic line of a composition, before the detector."""
    out = []
    for el, c in list(comp.items()) + [("C", _COAT_C)]:
        z, a, k_edge, ka, kb, kb_ratio = _ELEMENTS[el]
        if ka is not None and k_edge < beam_kv:
            base = c / a * _omega_k(z) * float(_ionisation(beam_kv / k_edge))
            out.append((ka, base / (1.0 + kb_ratio)))
            if kb is not None and kb_ratio > 0:
                out.append((kb, base * kb_ratio / (1.0 + kb_ratio)))
        if el in _L_LINES and _L_LINES[el][0] < beam_kv:
            edge, omega, lines = _L_LINES[el]
            base = c / a * omega * float(_ionisation(beam_kv / edge))
            out.extend((e, base * w) for e, w in lines)
    return [(e, i * float(absorption(e) * efficiency(e))) for e, i in out if i > 0]


def mean_z(comp: dict) -> float:
    return sum(c * _ELEMENTS[el][0] for el, c in comp.items())


def phase_spectrum(comp: dict, energies: np.ndarray, *, beam_kv: float = 15.0) -> np.ndarray:
    """Expected spectrum (per channel, summing to 1) of a composition on channel centres ``energies`` (keV)."""
    energies = np.asarray(energies, dtype=float)
    step = float(energies[1] - energies[0])
    lo, hi = energies - step / 2, energies + step / 2
    lines = _lines(comp, beam_kv)
    total_lines = sum(i for _, i in lines)
    # escape peaks and the sum peak of the two strongest lines
    extra = [(e - 1.74, i * _ESCAPE / e) for e, i in lines if e > 1.839]
    strong = sorted(lines, key=lambda t: -t[1])[:2]
    for j, (e1, i1) in enumerate(strong):
        for e2, i2 in strong[j:]:
            extra.append((e1 + e2, _PILEUP * i1 * i2 / total_lines * (1 if e1 == e2 else 2)))
    spec = np.zeros(energies.size)
    for e, i in lines + extra:
        s = _fwhm_kev(e) / 2.3548
        spec += i * 0.5 * (erf((hi - e) / (np.sqrt(2) * s)) - erf((lo - e) / (np.sqrt(2) * s)))
    e = np.clip(energies, 0.05, None)
    brems = _KRAMERS * mean_z(comp) * np.clip(beam_kv - e, 0, None) / e * absorption(e) * efficiency(e) * step
    spec += np.where(energies > 0.05, brems, 0.0)
    return spec / spec.sum()
