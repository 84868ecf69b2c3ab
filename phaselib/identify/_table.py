"""The mineral table (``minerals.csv``): formulas parsed to atoms, cation signatures, series."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phaselib.identify._physics as phys

from ._composition import NOT_CATIONS

TABLE_PATH = Path(__file__).with_name("minerals.csv")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)|(\()|(\))(\d*\.?\d*)")
_OXIDE = re.compile(r"^([A-Z][a-z]?)(\d*)O(\d*)$")


def parse_formula(formula: str) -> dict:
    """Atoms per formula unit: ``"Ca5(PO4)3F"`` -> ``{"Ca": 5, "P": 3, "O": 12, "F": 1}``.

    Also reads oxide weight percentages, ``"wt%: SiO2 49.2; Al2O3 15.7; FeO 7.1"``, as atoms
    per 100 g.
    """
    if not isinstance(formula, str):
        raise TypeError(f"`formula` must be a str, got {type(formula).__name__}.")
    text = formula.strip()
    if text.startswith("wt%:"):
        return _parse_oxides(text[4:], formula)
    stack, pos = [{}], 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break
        pos = m.end()
        el, n, opening, closing, mult = m.groups()
        if opening:
            stack.append({})
        elif closing:
            if len(stack) == 1:
                raise ValueError(f"Unbalanced ')' in formula {formula!r}.")
            group, k = stack.pop(), float(mult) if mult else 1.0
            for e, v in group.items():
                stack[-1][e] = stack[-1].get(e, 0.0) + v * k
        else:
            phys.element_props(el)
            stack[-1][el] = stack[-1].get(el, 0.0) + (float(n) if n else 1.0)
    if pos != len(text) or len(stack) != 1 or not stack[0]:
        raise ValueError(f"Cannot read the formula {formula!r} (write it like 'Mg1.8Fe0.2SiO4' or "
                         f"'Ca5(PO4)3F').")
    if not all(0 < v < 1e6 for v in stack[0].values()):  # 'H999...' reads as infinity
        raise ValueError(f"The formula {formula[:40]!r} holds an absurd number of atoms.")
    return stack[0]


def _parse_oxides(text, formula):
    atoms = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            oxide, value = part.split()
            wt = float(value)
            el, n, o = _OXIDE.match(oxide).groups()
        except (ValueError, AttributeError):
            raise ValueError(f"Cannot read {part!r} in {formula!r} (write 'wt%: SiO2 49.2; FeO 7.1').") from None
        n, o = float(n or 1), float(o or 1)
        moles = wt / (n * phys.atomic_weight(el) + o * phys.atomic_weight("O"))
        atoms[el] = atoms.get(el, 0.0) + n * moles
        atoms["O"] = atoms.get("O", 0.0) + o * moles
    if not atoms:
        raise ValueError(f"No oxide in {formula!r}.")
    return atoms


@dataclass(frozen=True)
class Mineral:
    """One row of the mineral table.

    Attributes
    ----------
    name : str
        Common name (what a phase is called).
    variety : str
        Composition or note (``"Fo90"``, ``"or kyanite/andalusite"``).
    group : str
        Mineral group (``"olivine"``, ``"plagioclase"``...).
    formula : str
    series : str
        Solid-solution index this row anchors (``"Fo"``, ``"An"``...), or ``""``.
    x, lo, hi : float or None
        The row's index value and the index range named after it.
    source : str
    """

    name: str
    variety: str
    group: str
    formula: str
    series: str = ""
    x: float | None = None
    lo: float | None = None
    hi: float | None = None
    source: str = ""

    @property
    def atoms(self) -> dict:
        return parse_formula(self.formula)

    def cations(self) -> dict:
        """element -> fraction of all cations (elements other than H, Li, Be, B, C, N, O, F)."""
        a = {el: n for el, n in self.atoms.items() if el not in NOT_CATIONS}
        total = sum(a.values())
        return {el: n / total for el, n in a.items()} if total else {}

    @property
    def oxygen_per_cation(self) -> float:
        a = self.atoms
        total = sum(n for el, n in a.items() if el not in NOT_CATIONS)
        return a.get("O", 0.0) / total if total else 0.0


def _float(text):
    return float(text) if text.strip() else None


def read_table(path) -> tuple:
    """Minerals of a CSV file laid out as ``minerals.csv`` (``#`` lines are comments)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if line.strip() and not line.startswith("#")))
    out = []
    for i, r in enumerate(rows):
        try:
            m = Mineral(r["mineral"].strip(), r["variety"].strip(), r["group"].strip(), r["formula"].strip(),
                        r["series"].strip(), _float(r["x"]), _float(r["lo"]), _float(r["hi"]), r["source"].strip())
            if not m.cations():
                raise ValueError("no cation in the formula")
            if m.series and None in (m.x, m.lo, m.hi):
                raise ValueError("a series row needs x, lo and hi")
        except (KeyError, AttributeError, ValueError) as err:
            raise ValueError(f"Row {i + 1} of the mineral table {str(path)!r} is malformed: {err}") from None
        out.append(m)
    return tuple(out)


@lru_cache(maxsize=1)
def default_table() -> tuple:
    return read_table(TABLE_PATH)
