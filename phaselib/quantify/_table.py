"""What is written of the phases: the modal table (``phases.csv``) and MSA spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import check_array, check_int, check_number, check_path
from ._lines import main_elements

PHASE_TABLE_COLUMNS = ("phase", "fraction", "n_pixels", "main_elements", "mineral")


def phase_table(fractions, n_pixels, lines, *, unassigned_fraction=None, n_unassigned=None,
                minerals=None) -> list[dict]:
    """The modal table: one row per phase, then one for unassigned pixels.

    Parameters
    ----------
    fractions : (K,) array_like
        Area fraction of each phase (of all pixels).
    n_pixels : (K,) array_like of int
    lines : list of K lists
        Named lines of each phase (:func:`identify_lines`); their elements fill ``main_elements``.
    minerals : list of K str, optional
        Best mineral name of each phase (:func:`phaselib.identify.name_phases`); ``""`` when not named.
    unassigned_fraction, n_unassigned : float, int, optional
        The last row (``phase`` = ``"unassigned"``); default ``1 - sum(fractions)`` and 0 pixels.

    Returns
    -------
    list of dict
        Keys :data:`PHASE_TABLE_COLUMNS`; fractions rounded to 6 decimals.
    """
    fractions = check_array(fractions, "fractions", ndim=1, kind="biuf")
    n_pixels = check_array(n_pixels, "n_pixels", ndim=1, kind="biuf")
    if lines is None or isinstance(lines, (str, bytes)):
        raise TypeError("`lines` must be a list of K lists of named lines (identify_lines).")
    if fractions.size and (fractions.min() < 0 or fractions.max() > 1):
        raise ValueError("`fractions` must be area fractions, from 0 to 1.")
    unassigned_fraction = check_number(unassigned_fraction, "unassigned_fraction", low=0, high=1, allow_none=True)
    n_unassigned = None if n_unassigned is None else check_int(n_unassigned, "n_unassigned", low=0)
    if not len(fractions) == len(n_pixels) == len(lines):
        raise ValueError(f"fractions, n_pixels and lines must have one entry per phase, got "
                         f"{len(fractions)}, {len(n_pixels)} and {len(lines)}.")
    minerals = [""] * len(fractions) if minerals is None else list(minerals)
    if len(minerals) != len(fractions):
        raise ValueError(f"`minerals` must have one entry per phase ({len(fractions)}), got {len(minerals)}.")
    rows = [dict(phase=i, fraction=round(float(f), 6), n_pixels=int(n), main_elements=" ".join(main_elements(ln)),
                 mineral=str(m)) for i, (f, n, ln, m) in enumerate(zip(fractions, n_pixels, lines, minerals))]
    if unassigned_fraction is None:
        unassigned_fraction = max(0.0, 1.0 - float(np.sum(fractions)))
    rows.append(dict(phase="unassigned", fraction=round(float(unassigned_fraction), 6),
                     n_pixels=int(n_unassigned or 0), main_elements="", mineral=""))
    return rows


def write_phase_table(rows, path) -> Path:
    """Write :func:`phase_table` rows as ``phases.csv`` (columns :data:`PHASE_TABLE_COLUMNS`)."""
    import csv

    check_path(path, "path")
    if rows is None or isinstance(rows, (str, bytes, dict)):
        raise TypeError("`rows` must be the list of dicts of phase_table.")

    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=PHASE_TABLE_COLUMNS, lineterminator="\n")
        out.writeheader()
        out.writerows({k: r[k] for k in PHASE_TABLE_COLUMNS} for r in rows)
    return path


def save_msa(spectra, energy_offset, energy_scale, folder, *, names=None, beam_energy=None,
             overwrite=False):
    """Write each spectrum as an EMSA/MSA file (RosettaSciIO's writer).

    Parameters
    ----------
    spectra : (K, C) ndarray
    energy_offset, energy_scale : float
        keV.
    folder : str or Path
    names : list of str, optional
        File stems (default ``phase_0`` ...).

    Returns
    -------
    list of Path
    """
    from rsciio.msa import file_writer

    spectra = check_array(np.atleast_2d(np.asarray(spectra, np.float64)), "spectra", ndim=2)
    if spectra.shape[0] == 0 or spectra.shape[1] < 2:
        raise ValueError(f"`spectra` must hold at least one spectrum of two channels or more, got {spectra.shape}.")
    check_number(energy_offset, "energy_offset")
    check_number(energy_scale, "energy_scale", low=0, low_open=True)
    if energy_scale > 1.0:
        raise ValueError(f"`energy_scale` {energy_scale:g} keV per channel: an EDS channel is a few eV; given in eV? "
                         f"Pass it (and `energy_offset`) divided by 1000.")
    names = [f"phase_{i}" for i in range(len(spectra))] if names is None else [str(n) for n in names]
    if len(names) != len(spectra):
        raise ValueError(f"{len(names)} names for {len(spectra)} spectra.")
    bad = [n for n in names if not n or n in (".", "..") or any(c in n for c in "/\\\0")]
    if bad or len(set(names)) != len(names):
        raise ValueError("`names` must be distinct file names without a folder (no '/', '\\\\' or '..'), got "
                         f"{(bad or names)[:3]!r}.")
    check_path(folder, "folder")
    beam_energy = check_number(beam_energy, "beam_energy", low=0, low_open=True, high=1000, allow_none=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, s in zip(names, spectra):
        path = folder / f"{name}.msa"
        if path.exists() and not overwrite:
            raise FileExistsError(f"'{path.name}' exists; pass overwrite=True to replace it.")
        md = {"General": {"title": name}, "Signal": {"signal_type": "EDS_SEM"}}
        if beam_energy:
            md["Acquisition_instrument"] = {"SEM": {"beam_energy": float(beam_energy)}}
        file_writer(str(path), {
            "data": s,
            "axes": [dict(name="Energy", size=s.size, offset=float(energy_offset),
                          scale=float(energy_scale), units="keV", navigate=False)],
            "metadata": md, "original_metadata": {},
        })
        paths.append(path)
    return paths
