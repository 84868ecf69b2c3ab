"""Compact precomputed results ("here's one I made earlier").

A full map is analysed once (PCA, and one or several phase-mapping methods) and
what the dashboards need is written to one compressed ``.npz``: PCA loadings of
the signal components at half precision, factors, scree data, the total-counts
map, and for each method its label map, phase spectra, fractions and named
lines. A Binder opens it without the raw map; a 1295 x 1820 map gives a few
tens of MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import decompose
from ._atomic import atomic_file, memmap_source, refuse_inputs
from ._serialize import jsonable
from ._validate import check_int
from .pipeline import METHODS, map_phases

FORMAT = "phaselib-results-1"


@dataclass(frozen=True, eq=False)
class MethodResult:
    """One method's phase map, read back from a results file."""

    labels: np.ndarray
    mean_spectra: np.ndarray
    fractions: np.ndarray
    n_pixels: np.ndarray
    unassigned_fraction: float
    lines: list
    params: dict


@dataclass(frozen=True, eq=False)
class Results:
    """Precomputed results of a map, read by :func:`load_results`.

    Attributes
    ----------
    energy_keV : (C,) ndarray
    pixel_sums : (H', W') ndarray
        Total counts per pixel (the map's brightness), averaged over
        ``info["display_bin"]`` pixels square.
    sum_spectrum : (C,) ndarray
    factors : (n, C) ndarray
        PCA factors (all computed components).
    loadings : (H', W', m) float16 ndarray
        PCA loadings of the first ``m`` components (those above the noise, at least 2),
        binned as ``pixel_sums``.
    explained_variance_ratio : (n,) ndarray
    noise_variance_ratio : float
    suggested_n_components : int
    methods : dict of str -> MethodResult
    info : dict
        Source file, shape, calibration, beam energy, pixel size, timings.
    """

    energy_keV: np.ndarray
    pixel_sums: np.ndarray
    sum_spectrum: np.ndarray
    factors: np.ndarray
    loadings: np.ndarray
    explained_variance_ratio: np.ndarray
    noise_variance_ratio: float
    suggested_n_components: int
    methods: dict
    info: dict


def precompute(image, path, *, methods=("pca-kmeans", "nmf-otsu", "fuzzy-cmeans"), extra_components=2,
               display_bin=1, overwrite=False, progress=None, **options) -> Path:
    """Analyse a map once and write compact results to ``path`` (``.npz``).

    Parameters
    ----------
    image : SpectrumImage
    path : str or Path
        Output ``.npz`` file.
    methods : sequence of str
        Phase-mapping methods to run (one PCA is shared).
    extra_components : int
        Loadings are kept for the components above the noise plus this many.
    display_bin : int
        Store the loadings and the counts map averaged over ``display_bin`` x
        ``display_bin`` pixels (they are for display; the label maps keep full
        resolution). 2 makes a full classroom map's file about 3 times smaller.
    overwrite : bool
    progress : callable, optional
    **options
        Passed to :func:`phaselib.pipeline.map_phases` (n_phases, min_size, client...).

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"Results are written to a .npz file, not '{path.name}'.")
    refuse_inputs(path, [image.source, memmap_source(image.data)])
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise FileExistsError(f"'{path.name}' exists; pass overwrite=True (--overwrite) to replace it.")
    if path.is_dir():
        raise ValueError(f"'{path.name}' is a folder; give a .npz file name.")
    check_int(display_bin, "display_bin")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"Unknown method(s) {unknown}; choose from {', '.join(METHODS)}.")
    say = progress or (lambda f, m: None)
    skipped = [m for m in methods if m == "nmf-otsu" and not image.is_counts]  # Poisson NMF: counts only
    methods = [m for m in methods if m not in skipped] or methods
    pca_keys = ("energy_range", "random_state", "block_rows", "sample_pixels", "client")
    dec = decompose.pca(image, **{k: v for k, v in options.items() if k in pca_keys},
                        progress=lambda f, m: say(0.4 * f, m))
    arrays, meta = {}, {"format": FORMAT, "methods": {}, "skipped": [f"{m}: assumes counts" for m in skipped]}
    for i, method in enumerate(methods):
        res = map_phases(image, method=method, decomposition=dec,
                         progress=lambda f, m, i=i, name=method: say(0.4 + 0.6 * (i + f) / len(methods),
                                                                    f"{name}: {m}"),
                         **options)
        arrays[f"{method}/labels"] = res.labels.astype(np.int8 if res.n_phases < 127 else np.int16)
        arrays[f"{method}/mean_spectra"] = res.spectra.means.astype(np.float32)
        arrays[f"{method}/n_pixels"] = res.spectra.n_pixels
        meta["methods"][method] = dict(params=res.params, lines=res.lines, timings_s=res.timings,
                                       unassigned_fraction=res.unassigned_fraction)
    m = min(dec.n_components, max(2, (dec.suggested_n_components or 2) + extra_components))
    arrays.update(
        energy_keV=image.energy_keV, pixel_sums=_bin_mean(dec.pixel_sums, display_bin).astype(np.float32),
        factors=dec.factors, loadings=_bin_mean(dec.loadings[..., :m], display_bin).astype(np.float16),
        explained_variance_ratio=dec.explained_variance_ratio,
        sum_spectrum=res.spectra.total,
    )
    noise_ratio = (dec.noise_variance or 0) * dec.explained_variance_ratio[0] / dec.explained_variance[0]
    meta.update(
        suggested_n_components=dec.suggested_n_components, noise_variance_ratio=noise_ratio,
        info=dict(source=image.source, shape=list(image.shape), dtype=str(image.data.dtype),
                  energy_offset=image.energy_offset, energy_scale=image.energy_scale,
                  beam_energy=image.beam_energy, pixel_size=image.pixel_size,
                  pca_params=dec.params, elements=list(image.elements), display_bin=int(display_bin)),
    )
    with atomic_file(path, overwrite=overwrite) as tmp:  # a temporary file, renamed when complete
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta, default=jsonable)), **arrays)
    say(1.0, "done")
    return path



def _bin_mean(a, b):
    """Mean over b x b pixel blocks of an (H, W, ...) array (edges cropped to whole blocks)."""
    if b == 1:
        return a
    h, w = (a.shape[0] // b) * b, (a.shape[1] // b) * b
    a = np.asarray(a[:h, :w], np.float32)
    return a.reshape(h // b, b, w // b, b, *a.shape[2:]).mean(axis=(1, 3))


def load_results(path) -> Results:
    """Read a file written by :func:`precompute`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path.name}'.")
    if not path.is_file():
        raise ValueError(f"'{path.name}' is not a regular file.")
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except Exception as err:  # zipfile, numpy and json raise many types for a damaged file
        raise ValueError(f"'{path.name}' is not a phaselib results file ({type(err).__name__}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"'{path.name}' is not a phaselib results file (unknown format).")
    try:
        return _checked(_results(meta, arrays))
    except _Damaged as err:
        raise ValueError(f"'{path.name}' is a damaged phaselib results file ({err}).") from None
    except KeyError:  # not named: the key may be the file's own text
        raise ValueError(f"'{path.name}' is a damaged phaselib results file (an array or an entry is missing).") \
            from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"'{path.name}' is a damaged phaselib results file ({type(err).__name__}).") from None


class _Damaged(ValueError):
    """What is wrong in a results file (a part missing, or parts that disagree)."""


def _checked(r):
    """``r`` when its parts agree with each other and with what :func:`precompute` writes (the dashboards use them
    without further checks); else :class:`_Damaged` saying what is wrong."""
    def need(ok, what):
        if not ok:
            raise _Damaged(what)

    need(isinstance(r.info, dict), "its info is not a table")
    shape = r.info.get("shape")
    need(isinstance(shape, list) and len(shape) == 3 and all(isinstance(n, int) and n > 0 for n in shape),
         "no map shape")
    beam, px = r.info.get("beam_energy"), r.info.get("pixel_size")
    need(all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0)
             for v in (beam, px)), "its beam energy or pixel size is not a number")
    c = r.energy_keV.shape[0] if r.energy_keV.ndim == 1 else -1
    need(c == shape[2] and np.isfinite(r.energy_keV).all(), "its energy axis does not fit the map")
    need(r.sum_spectrum.shape == (c,) and r.factors.ndim == 2 and r.factors.shape[1] == c,
         "its spectra do not fit the energy axis")
    need(r.loadings.ndim == 3 and r.loadings.shape[2] >= 1 and r.pixel_sums.shape == r.loadings.shape[:2],
         "its component maps and counts map disagree")
    need(r.explained_variance_ratio.ndim == 1 and r.explained_variance_ratio.size >= r.loadings.shape[2],
         "its scree data are short")
    need(bool(r.methods), "no phase map")
    for m in r.methods.values():
        need(m.labels.shape == tuple(shape[:2]), "a phase map of another size than the map")
        need(m.mean_spectra.ndim == 2 and m.mean_spectra.shape[1] == c and m.n_pixels.shape == (
            m.mean_spectra.shape[0],), "phase spectra that do not fit")
        need(m.labels.dtype.kind in "iu" and (m.labels.size == 0 or (
            int(m.labels.min()) >= -1 and int(m.labels.max()) < m.mean_spectra.shape[0])),
            "a phase map naming phases it has no spectrum for")
    return r


def _results(meta, arrays):
    methods = {}
    for name, m in meta["methods"].items():
        labels = arrays[f"{name}/labels"].astype(np.int16)
        n_pixels = arrays[f"{name}/n_pixels"]
        methods[name] = MethodResult(labels, arrays[f"{name}/mean_spectra"], n_pixels / max(labels.size, 1),
                                     n_pixels, m["unassigned_fraction"], m["lines"], m["params"])
    return Results(arrays["energy_keV"], arrays["pixel_sums"], arrays["sum_spectrum"], arrays["factors"],
                   arrays["loadings"], arrays["explained_variance_ratio"], meta["noise_variance_ratio"],
                   meta["suggested_n_components"], methods, meta["info"])
