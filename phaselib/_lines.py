"""X-ray line energies and weights from exspy's element database.

``import exspy`` pulls in HyperSpy (over a second); the database itself is a
plain dict literal in ``exspy/_misc/elements.py``, so it is read from that
file with :func:`ast.literal_eval`, falling back to a normal import.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache

#: elements common in rock-forming minerals, used when a map lists none
ROCK_ELEMENTS = (
    "C", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr",
    "Mn", "Fe", "Ni", "Cu", "Zn", "Zr", "Ba", "La", "Ce", "Nd", "Sr", "Y",
)


@lru_cache(maxsize=1)
def elements_database() -> dict:
    """exspy's element database as a plain dict (symbol -> properties)."""
    spec = importlib.util.find_spec("exspy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("exspy is needed for X-ray line energies: pip install exspy")
    path = f"{list(spec.submodule_search_locations)[0]}/_misc/elements.py"
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "elements":
                return ast.literal_eval(node.value)
    except (OSError, ValueError, SyntaxError):
        pass
    from exspy._misc.elements import elements_db  # slow path

    return elements_db.as_dictionary()


@lru_cache(maxsize=64)
def xray_lines(elements=None, *, max_energy=None, min_weight=0.0):
    """All X-ray lines of some elements.

    Parameters
    ----------
    elements : tuple of str, optional
        Element symbols (default: :data:`ROCK_ELEMENTS`).
    max_energy : float, optional
        Only lines below this energy (keV), e.g. the beam energy.
    min_weight : float
        Only lines at least this strong relative to the family's main line.

    Returns
    -------
    list of (name, energy_keV, weight)
        ``name`` like ``"Fe_Ka"``, sorted by energy.
    """
    db = elements_database()
    elements = tuple(elements) if elements else ROCK_ELEMENTS
    unknown = [e for e in elements if e not in db]
    if unknown:
        raise ValueError(f"Unknown element symbol(s): {', '.join(unknown)}.")
    out = []
    for el in elements:
        lines = db[el].get("Atomic_properties", {}).get("Xray_lines", {})
        for line, props in lines.items():
            e, w = float(props["energy (keV)"]), float(props.get("weight", 1.0))
            if (max_energy is None or e < max_energy) and w >= min_weight:
                out.append((f"{el}_{line}", e, w))
    return sorted(out, key=lambda t: t[1])


def line_energy(name: str) -> float:
    """Energy (keV) of a line named like ``"Si_Ka"``."""
    try:
        el, line = name.split("_")
        return float(elements_database()[el]["Atomic_properties"]["Xray_lines"][line]["energy (keV)"])
    except (KeyError, ValueError):
        raise ValueError(f"Unknown X-ray line {name!r}; write it like 'Si_Ka' or 'Fe_La'.") from None
