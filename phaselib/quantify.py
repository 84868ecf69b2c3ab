"""Phase spectra, modal fractions and element lines, computed in row blocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._image import SpectrumImage
from ._lines import xray_lines
from ._stream import map_row_blocks
from ._validate import check_image

__all__ = ["PHASE_TABLE_COLUMNS", "PhaseSpectra", "identify_lines", "main_elements", "modal_fractions",
           "phase_spectra", "phase_table", "save_msa", "update_phase_spectra", "write_phase_table"]


@dataclass(frozen=True, eq=False)
class PhaseSpectra:
    """Summed spectra of the pixels of each phase.

    Attributes
    ----------
    sums : (K, C) ndarray of float64
    n_pixels : (K,) ndarray of int
    energy_keV : (C,) ndarray
    total : (C,) ndarray of float64
        Sum spectrum of the whole map (unassigned pixels included).
    """

    sums: np.ndarray
    n_pixels: np.ndarray
    energy_keV: np.ndarray
    total: np.ndarray | None = None

    @property
    def means(self) -> np.ndarray:
        """(K, C) mean spectrum per pixel of each phase (zeros for empty phases)."""
        n = np.maximum(self.n_pixels, 1)[:, None]
        return self.sums / n


def _check_labels(image, labels):
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2]:
        raise ValueError(
            f"`labels` (shape {labels.shape}) must have the map's shape {image.shape[:2]}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"`labels` must be integers (phase index, -1 unassigned), got {labels.dtype}.")
    return labels


def phase_spectra(image: SpectrumImage, labels, n_phases=None, *, block_rows=None, client=None,
                  progress=None) -> PhaseSpectra:
    """Sum the spectra of each phase's pixels, one row block at a time.

    Never allocates more than a row block of the map: the seed notebook's
    ``(n_phases, H, W, C)`` array is not needed.

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
        Phase index of each pixel; negative values (unassigned) are skipped.
    n_phases : int, optional
        Default: ``labels.max() + 1``.
    block_rows : int, optional
    client : distributed.Client, optional
        Run the pass on a Dask cluster (default: the active client, else local threads).
    progress : callable, optional

    Returns
    -------
    PhaseSpectra
    """
    from functools import partial

    check_image(image)
    labels = _check_labels(image, labels)
    k = int(labels.max()) + 1 if n_phases is None else int(n_phases)
    parts = map_row_blocks(image, partial(_sum_block, n_phases=k), block_rows=block_rows, client=client,
                           per_block=lambda r0, r1: {"labels": labels[r0:r1]}, progress=progress,
                           message="phase spectra")
    sums = np.sum(parts, axis=0)
    n_pixels = np.bincount(labels[labels >= 0].ravel(), minlength=k)[:k]
    return PhaseSpectra(sums[:k], n_pixels, image.energy_keV, sums[k])


def _sum_block(r0, r1, block, *, labels, n_phases):
    """(K + 1, C) float64 sums of each phase's pixels in one row block, then of all its pixels."""
    c = block.shape[-1]
    acc = np.uint64 if np.issubdtype(block.dtype, np.integer) else np.float64
    sums = np.zeros((n_phases + 1, c), np.float64)
    lab = labels.reshape(-1)
    flat = block.reshape(-1, c)
    for p in np.unique(lab[(lab >= 0) & (lab < n_phases)]):
        sums[p] = flat[lab == p].sum(axis=0, dtype=acc)
    sums[n_phases] = flat.sum(axis=0, dtype=acc)  # the whole block: the map's sum spectrum
    return sums


def update_phase_spectra(image: SpectrumImage, spectra: PhaseSpectra, old_labels, labels, *,
                         max_changed=0.25) -> PhaseSpectra | None:
    """Phase sums of ``labels`` from those of ``old_labels``, reading only the pixels that changed.

    A threshold or minimum-size change moves a few pixels between phases: correcting the
    previous sums for them gives the same sums as :func:`phase_spectra` (exactly, for integer
    counts) at a fraction of a full pass.

    Parameters
    ----------
    image : SpectrumImage
        The map both label maps belong to (in memory).
    spectra : PhaseSpectra
        ``phase_spectra(image, old_labels, K)``.
    old_labels, labels : (H, W) int ndarray
        Phase index of each pixel before and after (-1 unassigned), with phases ``0..K-1``.
    max_changed : float
        Above this share of changed pixels, None is returned (a full pass is then cheaper).

    Returns
    -------
    PhaseSpectra or None
        None when the shapes or the number of phases differ, or too many pixels changed.
    """
    check_image(image)
    old, new = (_check_labels(image, x) for x in (old_labels, labels))
    k = spectra.sums.shape[0]
    if new.size and max(int(old.max()), int(new.max())) >= k:
        return None
    changed = old != new
    if changed.mean() > max_changed:
        return None
    sums, n = spectra.sums.copy(), spectra.n_pixels.copy()
    if changed.any():
        data = np.asarray(image.data)[changed].astype(np.float64)  # (m, C) changed pixels
        for lab, sign in ((old[changed], -1.0), (new[changed], 1.0)):
            onehot = np.zeros((k, lab.size))
            ok = lab >= 0
            onehot[lab[ok], np.flatnonzero(ok)] = sign
            sums += onehot @ data
            n = n + np.rint(onehot.sum(1)).astype(np.int64)
    return PhaseSpectra(sums, n, spectra.energy_keV, spectra.total)


def modal_fractions(labels, n_phases=None):
    """Area fraction of each phase, and of unassigned pixels.

    Returns
    -------
    fractions : (K,) ndarray
        Share of all pixels (so ``fractions.sum() + unassigned == 1``).
    unassigned : float
    """
    labels = np.asarray(labels)
    k = int(labels.max()) + 1 if n_phases is None else int(n_phases)
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=k)[:k]
    return counts / labels.size, float(np.mean(labels < 0))


def _background(spectrum, width):
    """Rough continuum: a morphological opening smoothed, below the spectrum."""
    from scipy.ndimage import grey_opening, uniform_filter1d

    bg = grey_opening(spectrum, size=width)
    return np.minimum(uniform_filter1d(bg, width), spectrum)


def identify_lines(spectrum, energy_keV, *, elements=None, n_lines=6, beam_energy=None,
                   fwhm_keV=0.13, min_significance=5.0):
    """Name the strongest X-ray peaks of a spectrum from exspy's line database.

    Peaks are found above a morphological background; each is given the
    strongest line (by exspy's weight) within half a FWHM of its position.

    Parameters
    ----------
    spectrum : (C,) ndarray
        Counts (a phase's summed or mean spectrum).
    energy_keV : (C,) ndarray
    elements : sequence of str, optional
        Candidate elements (default: common rock-forming elements).
    n_lines : int
        How many peaks to name.
    beam_energy : float, optional
        Lines above it are ignored.
    fwhm_keV : float
        Peak width used for the background and matching.
    min_significance : float
        Minimum peak height over the background's Poisson noise (sigma), for
        summed spectra.

    Returns
    -------
    list of dict
        ``{"line", "element", "energy_keV", "peak_keV", "height"}``, strongest first.
    """
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    s = np.asarray(spectrum, np.float64)
    e = np.asarray(energy_keV, np.float64)
    if s.shape != e.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and energy_keV {e.shape} must be 1-D and alike.")
    scale = abs(e[1] - e[0])
    sigma = fwhm_keV / 2.355 / scale
    smooth = gaussian_filter1d(s, sigma / 2)
    bg = _background(smooth, max(3, int(round(3 * fwhm_keV / scale))))
    net = smooth - bg
    # peaks below ~0.2 keV and the detector's low-energy roll-off are not lines
    # local maxima over +-half a FWHM (scipy.signal.find_peaks would cost a 0.3 s import)
    half = max(1, int(fwhm_keV / scale / 2))
    masked = np.where(e > 0.2, net, 0)
    peaks = np.flatnonzero((masked > 0) & (masked == maximum_filter1d(masked, 2 * half + 1)))
    if s.sum() > 1e3:  # summed counts: keep peaks well above the noise of the smoothed background
        noise = np.sqrt(np.maximum(bg[peaks], 1.0) / (2 * np.sqrt(np.pi) * max(sigma / 2, 0.5)))
        peaks = peaks[net[peaks] >= min_significance * noise]
    peaks = peaks[net[peaks] > 0.01 * net[peaks].max()] if peaks.size else peaks
    candidates = xray_lines(tuple(elements) if elements else None, max_energy=beam_energy)
    energies = np.array([c[1] for c in candidates])
    peak_e = e[peaks]
    tol = fwhm_keV / 2

    def plausible(name):
        # an L or M line is believed only if the element's K (or L) line, when
        # excited and in range, is seen too
        el, line = name.split("_")
        for family in ("K", "L"):
            if line[0] == family:
                return True
            main = next((c[1] for c in candidates if c[0] == f"{el}_{family}a"), None)
            if main is not None and main < e[-1]:
                return bool(np.any(np.abs(peak_e - main) <= tol))
        return True

    found = []
    for p in peaks[np.argsort(-net[peaks])]:
        near = [i for i in np.flatnonzero(np.abs(energies - e[p]) <= tol) if plausible(candidates[i][0])]
        if not near:
            continue
        best = max(near, key=lambda i: (candidates[i][2], -abs(energies[i] - e[p])))
        name = candidates[best][0]
        if any(f["line"] == name for f in found):
            continue
        found.append(dict(line=name, element=name.split("_")[0], energy_keV=candidates[best][1],
                          peak_keV=round(float(e[p]), 4), height=float(net[p])))
        if len(found) >= n_lines:
            break
    return found


def main_elements(lines, n=4):
    """Distinct elements of :func:`identify_lines` output, strongest first."""
    out = []
    for f in lines:
        if f["element"] not in out:
            out.append(f["element"])
    return out[:n]


PHASE_TABLE_COLUMNS = ("phase", "fraction", "n_pixels", "main_elements")


def phase_table(fractions, n_pixels, lines, *, unassigned_fraction=None, n_unassigned=None) -> list[dict]:
    """The modal table: one row per phase, then one for unassigned pixels.

    Parameters
    ----------
    fractions : (K,) array_like
        Area fraction of each phase (of all pixels).
    n_pixels : (K,) array_like of int
    lines : list of K lists
        Named lines of each phase (:func:`identify_lines`); their elements fill ``main_elements``.
    unassigned_fraction, n_unassigned : float, int, optional
        The last row (``phase`` = ``"unassigned"``); default ``1 - sum(fractions)`` and 0 pixels.

    Returns
    -------
    list of dict
        Keys :data:`PHASE_TABLE_COLUMNS`; fractions rounded to 6 decimals.
    """
    if not len(fractions) == len(n_pixels) == len(lines):
        raise ValueError(f"fractions, n_pixels and lines must have one entry per phase, got "
                         f"{len(fractions)}, {len(n_pixels)} and {len(lines)}.")
    rows = [dict(phase=i, fraction=round(float(f), 6), n_pixels=int(n), main_elements=" ".join(main_elements(ln)))
            for i, (f, n, ln) in enumerate(zip(fractions, n_pixels, lines))]
    if unassigned_fraction is None:
        unassigned_fraction = max(0.0, 1.0 - float(np.sum(fractions)))
    rows.append(dict(phase="unassigned", fraction=round(float(unassigned_fraction), 6),
                     n_pixels=int(n_unassigned or 0), main_elements=""))
    return rows


def write_phase_table(rows, path) -> Path:
    """Write :func:`phase_table` rows as ``phases.csv`` (columns :data:`PHASE_TABLE_COLUMNS`)."""
    import csv

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

    spectra = np.atleast_2d(np.asarray(spectra, np.float64))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"phase_{i}" for i in range(len(spectra))]
    if len(names) != len(spectra):
        raise ValueError(f"{len(names)} names for {len(spectra)} spectra.")
    paths = []
    for name, s in zip(names, spectra):
        path = folder / f"{name}.msa"
        if path.exists() and not overwrite:
            raise FileExistsError(f"'{path}' exists; pass overwrite=True to replace it.")
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
