"""Mineral compositions, a simple physical model of their SEM-EDS spectra, and counts.

Private helpers of :mod:`phaselib.datasets`. The X-ray line energies and weights,
binding energies and mass absorption coefficients come from eXSpy's element
database (imported lazily: eXSpy pulls in HyperSpy, which takes a second).
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache

import numpy as np
from scipy.special import erf

# Standard atomic weights (the values of eXSpy's element database, checked by the tests).
ATOMIC_WEIGHTS = {
    "H": 1.00794, "C": 12.0107, "O": 15.9994, "F": 18.9984032, "Na": 22.98976928,
    "Mg": 24.305, "Al": 26.9815386, "Si": 28.0855, "P": 30.973762, "S": 32.065,
    "Cl": 35.453, "K": 39.0983, "Ca": 40.078, "Ti": 47.867, "Mn": 54.938045,
    "Fe": 55.845, "Zr": 91.224,
}

#: Idealised formulas (no parentheses; OH written as O + H).
FORMULAS = {
    "quartz": "SiO2",
    "albite": "NaAlSi3O8",
    "anorthite": "CaAl2Si2O8",
    "plagioclase": "Na0.5Ca0.5Al1.5Si2.5O8",  # andesine-labradorite, An50
    "labradorite": "Na0.4Ca0.6Al1.6Si2.4O8",  # An60
    "andesine": "Na0.6Ca0.4Al1.4Si2.6O8",  # An40
    "K-feldspar": "KAlSi3O8",
    "orthoclase": "KAlSi3O8",
    "biotite": "KMg1.4Fe1.4Ti0.1Al1.2Si2.8O12H2",
    "muscovite": "KAl3Si3O12H2",
    "chlorite": "Mg3Fe2Al2Si3O18H8",
    "augite": "Ca0.9Na0.05Mg0.8Fe0.25Al0.15Si1.9O6",
    "diopside": "CaMgSi2O6",
    "hornblende": "Na0.5Ca2Mg3Fe1.5Al1.5Si6.5O24H2",
    "olivine": "Mg1.8Fe0.2SiO4",  # Fo90
    "almandine": "Fe3Al2Si3O12",
    "magnetite": "Fe3O4",
    "titanomagnetite": "Fe2.5Ti0.5O4",  # 50 % ulvospinel
    "ilmenite": "FeTiO3",
    "rutile": "TiO2",
    "titanite": "CaTiSiO5",
    "apatite": "Ca5P3O12F",
    "calcite": "CaCO3",
    "pyrite": "FeS2",
    "zircon": "ZrSiO4",
}

#: Rim compositions of zoned minerals (``make_rock(zoning=...)``): normal zoning, the rims
#: poorer in the high-temperature end-member (An, Fo, Mg).
RIMS = {
    "plagioclase": "Na0.7Ca0.3Al1.3Si2.7O8",  # An50 -> An30
    "labradorite": "Na0.7Ca0.3Al1.3Si2.7O8",  # An60 -> An30
    "andesine": "Na0.8Ca0.2Al1.2Si2.8O8",  # An40 -> An20 (oligoclase)
    "olivine": "Mg1.5Fe0.5SiO4",  # Fo90 -> Fo75
    "augite": "Ca0.85Na0.05Mg0.6Fe0.45Al0.15Si1.9O6",  # Mg# 76 -> 57
}

#: Volcanic glasses, oxide weight %: approximately the Smithsonian microbeam reference glasses
#: VG-2 (Juan de Fuca Ridge basaltic glass, USNM 111240/52) and VG-568 (Yellowstone rhyolitic
#: obsidian, USNM 72854) of Jarosewich, Nelen & Norberg (1980), Geostandards Newsletter 4, 43-47
#: (values rounded, minor oxides dropped). Homogeneous: a glass has no grains and no zoning.
GLASSES = {
    "basaltic glass": {"SiO2": 50.81, "TiO2": 1.85, "Al2O3": 14.06, "FeO": 11.84, "MnO": 0.22,
                       "MgO": 6.71, "CaO": 11.12, "Na2O": 2.62, "K2O": 0.19, "P2O5": 0.20},
    "rhyolitic glass": {"SiO2": 76.71, "TiO2": 0.12, "Al2O3": 12.06, "FeO": 1.23, "MgO": 0.03,
                        "CaO": 0.50, "Na2O": 3.75, "K2O": 4.89},
}

_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def weight_fractions(formula: str) -> dict:
    """Element weight fractions of a formula such as ``"Mg1.8Fe0.2SiO4"``."""
    atoms: dict = {}
    for el, n in _TOKEN.findall(formula):
        atoms[el] = atoms.get(el, 0.0) + (float(n) if n else 1.0)
    mass = {el: n * ATOMIC_WEIGHTS[el] for el, n in atoms.items()}
    total = sum(mass.values())
    return {el: round(m / total, 6) for el, m in mass.items()}


def oxide_weight_fractions(oxides: dict) -> dict:
    """Element weight fractions of an analysis in oxide weight % (e.g. ``{"SiO2": 76.7}``)."""
    out: dict = {}
    for oxide, wt in oxides.items():
        for el, x in weight_fractions(oxide).items():
            out[el] = out.get(el, 0.0) + x * wt
    total = sum(out.values())
    return {el: round(m / total, 6) for el, m in out.items()}


MINERALS = {name: weight_fractions(f) for name, f in FORMULAS.items()}
MINERALS.update({name: oxide_weight_fractions(ox) for name, ox in GLASSES.items()})
RIM_COMPOSITIONS = {name: weight_fractions(f) for name, f in RIMS.items()}


def resolve(minerals) -> dict:
    """name -> composition (normalised), from one name, a list of names or a dict."""
    if isinstance(minerals, str):
        minerals = [minerals]
    if isinstance(minerals, dict):
        items = list(minerals.items())
    elif not np.iterable(minerals):
        raise ValueError(f"minerals must be a list of mineral names, got {minerals!r}.")
    else:
        known = {n.casefold(): n for n in MINERALS}
        items = []
        for m in minerals:
            name = known.get(str(m).casefold())
            if name is None:
                raise ValueError(f"Unknown mineral {m!r}. Known minerals: {', '.join(MINERALS)} "
                                 f"(or give a dict name -> {{element: weight fraction}}).")
            items.append((name, MINERALS[name]))
    if not items:
        raise ValueError("minerals is empty: give at least one mineral name.")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"Each mineral may appear only once; got {names}.")
    out = {}
    for name, comp in items:
        try:
            c = {str(el): float(x) for el, x in comp.items()}
            ok = all(np.isfinite(x) and x >= 0 for x in c.values()) and sum(c.values()) > 0
        except (AttributeError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"The composition of {name!r} must be a dict element -> "
                             f"non-negative weight fraction (not all zero); got {comp!r}.")
        out[str(name)] = {el: x / sum(c.values()) for el, x in c.items()}
    return out


# ------------------------------------------------------------------ physics
_MN_KA = 5.8987  # keV, reference line of the detector resolution
_TAKEOFF_DEG = 35.0
_WINDOW_KEV = 0.35  # detector window: efficiency exp(-(E_w / E)^3)
_SENSOR_KEV = 24.0  # sensor thickness: efficiency 1 - exp(-(E_s / E)^3)
_BREMS_SCALE = 1.15e-5  # Kramers constant: background ~25 % of the counts of quartz at 20 kV
_MIN_LINE_KEV = 0.1  # lines below are not detected (H, He, Li)


@lru_cache(maxsize=1)
def _exspy():
    import logging
    import warnings

    # HyperSpy logs "Numba is not installed" to stdout while it is imported: drop that only.
    log = logging.getLogger("hyperspy.decorators")
    quiet = logging.Filter()
    quiet.filter = lambda record: "Numba" not in record.getMessage()
    log.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import exspy.material as material
    finally:
        log.removeFilter(quiet)
    return material


def element(el: str):
    db = _exspy().elements
    if el not in db:
        raise ValueError(f"Unknown chemical element {el!r} in a mineral composition.")
    return db[el]


def fwhm_keV(energy_resolution_MnKa: float, energy) -> np.ndarray:
    """Peak FWHM (keV) at ``energy`` (keV), as exspy's ``get_FWHM_at_Energy`` (>= 30 eV)."""
    f2 = 2.5 * (np.asarray(energy, float) - _MN_KA) * 1000.0 + energy_resolution_MnKa**2
    return np.sqrt(np.maximum(f2, 900.0)) / 1000.0


def _fluorescence_yield(z: int, family: str) -> float:
    if family == "K":  # Bambynek's fit
        q = (0.015 + 0.0327 * z - 0.64e-6 * z**3) ** 4
        return q / (1.0 + q)
    a = 8.9e7 if family == "L" else 1.3e9
    return z**4 / (z**4 + a)


@cache
def xray_lines(el: str) -> tuple:
    """((energy keV, weight, family, edge keV), ...) of every X-ray line of an element."""
    props = element(el)["Atomic_properties"]
    if "Xray_lines" not in props:
        return ()
    xl = props["Xray_lines"]
    raw = [(xl[n]["energy (keV)"], xl[n]["weight"], n[0]) for n in xl.keys()]
    be = props["Binding_energies"] if "Binding_energies" in props else {}
    out = []
    for energy, weight, fam in raw:
        shell = {"K": "K", "L": "L3", "M": "M5"}.get(fam)
        if shell in be:
            edge = be[shell]["onset_energy (eV)"] / 1000.0
        else:
            edge = 0.0
        edge = max(edge, 1.01 * max(e for e, _, f in raw if f == fam))
        out.append((float(energy), float(weight), fam, edge))
    return tuple(out)


@cache
def _mac_table(el: str):
    """(log energy, log mu/rho) of an element (Chantler's FFAST table in eXSpy), or None."""
    _exspy()
    from exspy._misc.eds.ffast_mac import ffast_mac

    if el not in ffast_mac:
        return None  # e.g. H: its absorption is negligible
    e = np.asarray(ffast_mac[el]["energies (keV)"], float)
    mu = np.asarray(ffast_mac[el]["mass_absorption_coefficient (cm2/g)"], float)
    keep = (e > 0) & (mu > 0)
    e, mu = e[keep], mu[keep]
    order = np.argsort(e, kind="stable")
    return np.log(e[order]), np.log(mu[order])


def _mac(composition: dict, energy) -> np.ndarray:
    """Mass absorption coefficient (cm2/g) of a composition at energies (keV)."""
    loge = np.log(np.maximum(np.atleast_1d(np.asarray(energy, float)), 1e-3))
    mu = np.zeros_like(loge)
    for el, c in composition.items():
        table = _mac_table(el)
        if table is not None:
            mu += c * np.exp(np.interp(loge, *table))
    return mu


def _absorption(mu, e0: float, ec) -> np.ndarray:
    """Philibert-Duncumb-Heinrich absorption factor f(chi) (simplified, h = 0.2)."""
    chi = mu / math.sin(math.radians(_TAKEOFF_DEG))
    sigma = 4.5e5 / np.maximum(e0**1.65 - np.asarray(ec, float) ** 1.65, 1e-3)
    x = chi / sigma
    return 1.0 / ((1.0 + x) * (1.0 + x / 6.0))


def detector_efficiency(energy) -> np.ndarray:
    """Detector efficiency: window absorption at low energy, sensor transparency at high."""
    e = np.maximum(np.asarray(energy, float), 1e-3)
    return np.exp(-((_WINDOW_KEV / e) ** 3)) * (1.0 - np.exp(-((_SENSOR_KEV / e) ** 3)))


def spectrum(composition: dict, energy_keV: np.ndarray, beam_energy: float,
             energy_resolution_MnKa: float) -> tuple:
    """Expected counts (arbitrary units) of a composition: (lines, background) per channel."""
    e = np.asarray(energy_keV, float)
    half = 0.5 * abs(e[1] - e[0]) if e.size > 1 else 0.005
    lo, hi = e - half, e + half
    total = sum(composition.values())
    comp = {el: c / total for el, c in composition.items() if c > 0}
    e0 = float(beam_energy)
    lines = np.zeros_like(e)
    for el, c in comp.items():
        props = element(el)["General_properties"]
        a, z = props["atomic_weight"], props["Z"]
        for energy, weight, fam, edge in xray_lines(el):
            if weight <= 0 or energy < _MIN_LINE_KEV or energy >= e0 or edge >= e0:
                continue
            u = e0 / edge
            gen = c / a * _fluorescence_yield(z, fam) * weight * (u * math.log(u) - u + 1.0)
            amp = gen * _absorption(_mac(comp, energy), e0, edge)[0] * detector_efficiency(energy)
            s = fwhm_keV(energy_resolution_MnKa, energy) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
            s2 = s * math.sqrt(2.0)  # gaussian integrated over each channel
            lines += amp * 0.5 * (erf((hi - energy) / s2) - erf((lo - energy) / s2))
    zmean = sum(c * element(el)["General_properties"]["Z"] for el, c in comp.items())
    inside = (e > 0.02) & (e < e0)
    bg = np.zeros_like(e)
    ei = e[inside]
    bg[inside] = (_BREMS_SCALE * zmean * (e0 - ei) / ei * 2 * half
                  * _absorption(_mac(comp, ei), e0, ei) * detector_efficiency(ei))
    return lines, bg


# ------------------------------------------------------------------ sampling
def alias_tables(spectra):
    """Walker-Vose alias tables of the spectra (over their non-zero channels), flattened."""
    size, chan, prob, alias = [], [], [], []
    offset = 0
    for p in spectra:
        ch = np.flatnonzero(p > 0)
        q = p[ch] / p[ch].sum() * ch.size
        pr, al = np.ones(ch.size), np.arange(ch.size)
        small, large = list(np.flatnonzero(q < 1)), list(np.flatnonzero(q >= 1))
        while small and large:
            s, g = small.pop(), large.pop()
            pr[s], al[s] = q[s], g
            q[g] -= 1.0 - q[s]
            (small if q[g] < 1 else large).append(g)
        size.append(ch.size)
        chan.append(ch)
        prob.append(pr)
        alias.append(al + offset)
        offset += ch.size
    size = np.asarray(size, np.int64)
    return dict(size=size, offset=np.cumsum(size) - size, chan=np.concatenate(chan),
                prob=np.concatenate(prob), alias=np.concatenate(alias))


def fill_rows(plan, r0, out):
    """Poisson counts of rows ``r0 .. r0 + len(out)`` into ``out`` (rows, W, C) uint16.

    Each row has its own random stream, ``default_rng([seed, 2, row])``: a pixel's total is
    Poisson(intensity), and its counts fall in the channels of its phase's spectrum
    (a multinomial draw, by the alias method), which is the same as independent Poisson
    counts per channel.
    """
    c, t = plan["n_channels"], plan["sampler"]
    for i in range(out.shape[0]):
        rng = np.random.default_rng([plan["seed"], 2, r0 + i])
        n = rng.poisson(plan["intensity"][r0 + i].astype(np.float64))
        k = np.repeat(plan["labels"][r0 + i].astype(np.int64), n)
        out[i] = bin_counts(draw_channels(t, k, rng), n, c)


def draw_channels(t, k, rng):
    """Channel of each count, drawn from the spectrum ``k`` of each count (alias method)."""
    size = t["size"][k]
    x = rng.random(k.size) * size
    j = np.minimum(x.astype(np.int64), size - 1)
    g = t["offset"][k] + j
    return t["chan"][np.where(x - j < t["prob"][g], g, t["alias"][g])]


def bin_counts(ch, n, c):
    """(W, C) counts of a row from the channel of every count and the counts per pixel."""
    w = n.size
    flat = np.repeat(np.arange(w, dtype=np.int64) * c, n) + ch
    counts = np.bincount(flat, minlength=w * c).reshape(w, c)
    return counts if n.max(initial=0) <= 65535 else np.minimum(counts, 65535)
