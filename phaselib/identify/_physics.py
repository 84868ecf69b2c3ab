"""Theoretical factors of standardless EDS quantification (no standards, no ZAF tables).

X-ray line energies and weights, binding energies and atomic weights come from eXSpy's element
database (:mod:`phaselib._lines`), mass absorption coefficients from the Chantler et al. (2005)
FFAST table that eXSpy ships (read from its source file, so HyperSpy is not imported). The
models are the textbook first approximations:

* generated intensity per atom of a line family ``~ omega * (U ln U - U + 1)``: Bethe's
  ionisation cross-section ``~ ln U / (U E_c^2)`` integrated along the electron path with a
  stopping power ``~ 1 / E`` (so ``E_c`` cancels); ``U = E0 / E_c`` is the overvoltage;
* fluorescence yield ``omega``: Burhop's fit ``q / (1 + q)``, ``q = (0.015 + 0.0327 Z -
  0.64e-6 Z^3)^4`` for K shells, ``Z^4 / (Z^4 + 8.9e7)`` for L, ``Z^4 / (Z^4 + 1.3e9)`` for M;
* absorption: Philibert-Duncumb-Heinrich ``f(chi) = 1 / ((1 + chi/s)(1 + h/(1+h) chi/s))``,
  Heinrich's Lenard coefficient ``s = 4.5e5 / (E0^1.65 - E_c^1.65)``, ``h = 1.2 A / Z^2``;
* detector efficiency: a thin polymer window and a thick silicon sensor,
  ``exp(-(0.35 keV / E)^3) (1 - exp(-(24 keV / E)^3))``;
* no atomic-number (backscatter, stopping power) or secondary-fluorescence correction.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from functools import cache, lru_cache

import numpy as np

from .._lines import elements_database

TAKEOFF_DEG = 35.0
_WINDOW_KEV = 0.35
_SENSOR_KEV = 24.0
_MN_KA = 5.8987
#: line families whose main line is used for each shell, and the edge that excites them
_SHELL = {"K": "K", "L": "L3", "M": "M5"}


def element_props(el: str) -> dict:
    db = elements_database()
    if el not in db:
        raise ValueError(f"Unknown chemical element {el!r}.")
    return db[el]


def atomic_number(el: str) -> int:
    return int(element_props(el)["General_properties"]["Z"])


def atomic_weight(el: str) -> float:
    return float(element_props(el)["General_properties"]["atomic_weight"])


@cache
def families(el: str) -> dict:
    """family -> (edge keV, ((line energy keV, weight), ...)) of an element's X-ray lines."""
    props = element_props(el)["Atomic_properties"]
    lines = props.get("Xray_lines", {})
    edges = props.get("Binding_energies", {})
    out = {}
    for fam in "KLM":
        ln = tuple((float(p["energy (keV)"]), float(p.get("weight", 1.0)))
                   for name, p in lines.items() if name[0] == fam and float(p.get("weight", 1.0)) > 0)
        if not ln:
            continue
        edge = edges.get(_SHELL[fam], {}).get("onset_energy (eV)")
        edge = float(edge) / 1000.0 if edge else 0.0
        out[fam] = (max(edge, 1.01 * max(e for e, _ in ln)), ln)
    return out


def fluorescence_yield(z: int, family: str) -> float:
    if family == "K":
        q = (0.015 + 0.0327 * z - 0.64e-6 * z**3) ** 4
        return q / (1.0 + q)
    return z**4 / (z**4 + (8.9e7 if family == "L" else 1.3e9))


def overvoltage_factor(beam_energy: float, edge: float) -> float:
    """``U ln U - U + 1`` (0 below the edge): generated X-rays per atom, up to a constant."""
    u = beam_energy / edge
    return u * math.log(u) - u + 1.0 if u > 1.0 else 0.0


def detector_efficiency(energy) -> np.ndarray:
    e = np.maximum(np.asarray(energy, float), 1e-3)
    return np.exp(-((_WINDOW_KEV / e) ** 3)) * (1.0 - np.exp(-((_SENSOR_KEV / e) ** 3)))


def fwhm_keV(energy, resolution_MnKa: float) -> np.ndarray:
    """Peak FWHM (keV) at ``energy`` (keV) for a detector of FWHM ``resolution_MnKa`` eV at Mn Ka."""
    f2 = 2.5 * (np.asarray(energy, float) - _MN_KA) * 1000.0 + resolution_MnKa**2
    return np.sqrt(np.maximum(f2, 900.0)) / 1000.0


@lru_cache(maxsize=1)
def _ffast() -> dict:
    """Chantler's FFAST mass absorption table from eXSpy's source (no HyperSpy import)."""
    spec = importlib.util.find_spec("exspy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("exspy is needed for mass absorption coefficients: pip install exspy")
    path = f"{list(spec.submodule_search_locations)[0]}/_misc/eds/ffast_mac.py"
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ffast_mac":
                return ast.literal_eval(node.value)
    except (OSError, ValueError, SyntaxError):
        pass
    from exspy._misc.eds.ffast_mac import ffast_mac  # slow path: imports HyperSpy

    return ffast_mac


@cache
def _mac_table(el: str):
    table = _ffast().get(el)
    if table is None:
        return None  # H: negligible absorption
    e = np.asarray(table["energies (keV)"], float)
    mu = np.asarray(table["mass_absorption_coefficient (cm2/g)"], float)
    keep = (e > 0) & (mu > 0)
    order = np.argsort(e[keep], kind="stable")
    return np.log(e[keep][order]), np.log(mu[keep][order])


def mass_absorption(weights: dict, energy) -> np.ndarray:
    """Mass absorption coefficient (cm2/g) of a composition (element -> weight fraction)."""
    loge = np.log(np.maximum(np.atleast_1d(np.asarray(energy, float)), 1e-3))
    mu = np.zeros_like(loge)
    for el, c in weights.items():
        table = _mac_table(el)
        if table is not None and c > 0:
            mu += c * np.exp(np.interp(loge, *table))
    return mu


def absorption(weights: dict, energy, beam_energy: float, edge) -> np.ndarray:
    """PDH absorption factor f(chi) of X-rays of ``energy`` generated above ``edge`` (keV)."""
    if not weights:
        return np.ones(np.shape(np.atleast_1d(energy)))
    h = 1.2 * sum(c * atomic_weight(el) / atomic_number(el) ** 2 for el, c in weights.items())
    chi = mass_absorption(weights, energy) / math.sin(math.radians(TAKEOFF_DEG))
    s = 4.5e5 / np.maximum(beam_energy**1.65 - np.asarray(edge, float) ** 1.65, 1e-3)
    x = chi / s
    return 1.0 / ((1.0 + x) * (1.0 + h / (1.0 + h) * x))


def main_family(el: str, beam_energy: float, e_min: float, e_max: float):
    """The line family used to quantify an element: K, else L, else M, if excited and in range.

    A family needs its main line inside ``[e_min, e_max]`` and an overvoltage of at least 1.3
    (K) or 1.2 (L, M; heavier elements rarely reach 1.5 on their K shell). None if none fits.
    Iron at 10 kV (K shell overvoltage 1.41) is read on its K line: its L line (0.7 keV, strongly absorbed, its
    shape and yield model-dependent) read iron low under another generator's physics (a basalt's ilmenite named
    rutile, its augite diopside, its magnetite titanomagnetite: 2 of 7 phases named at 10 kV, 5 of 7 on K).
    """
    fams = families(el)
    for fam, u_min in (("K", 1.3), ("L", 1.2), ("M", 1.2)):
        if fam not in fams:
            continue
        edge, lines = fams[fam]
        main = max(lines, key=lambda t: t[1])[0]
        if e_min <= main <= e_max and beam_energy / edge >= u_min:
            return fam
    return None


def generation_factor(el: str, family: str, beam_energy: float) -> float:
    """Counts of a family's main line per atom, up to a constant shared by all elements."""
    edge = families(el)[family][0]
    return fluorescence_yield(atomic_number(el), family) * overvoltage_factor(beam_energy, edge)
