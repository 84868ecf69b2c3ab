"""Steps of :func:`phaselib.pipeline.map_phases`: the choice of the low-count path; on a label map, boundary pixels
and specks; the counts' scale noted."""

from __future__ import annotations

import time
import warnings

import numpy as np

from . import lowcount, refine

#: pixels read (row blocks spread over the map) to estimate the mean counts that choose the low-count path
COUNT_SAMPLE_PIXELS = 100_000


def boundaries(image, labels, k, spectra, params, timings, block_rows, client, mean_counts, which, specks=False,
               blank=None):
    """Mixed pixels to their dominant phase, then the beam's spread (:func:`refine.relabel_boundaries`), then
    phases left with no pixel taken out (:func:`refine.drop_empty`), then (``specks``) phases left with too few
    pixels given to their neighbours (:func:`refine.drop_specks`). Pixels
    that hold no data (``blank``, :func:`phaselib.preprocess.blank_pixels`) are unassigned and stay so."""
    if blank is not None and blank.any():
        if (labels[blank] >= 0).any():
            labels, spectra = np.where(blank, -1, labels).astype(labels.dtype), None
        params["blank_pixels"] = int(np.count_nonzero(blank))
    labels, spectra, more, times = refine.relabel_boundaries(image, labels, k, spectra, params["energy_range"],
                                                             mean_counts, mixed_pixels=which[0], beam_spread=which[1],
                                                             block_rows=block_rows, client=client)
    params.update(more)
    timings.update(times)
    labels, k, emptied = refine.drop_empty(labels, k)
    if emptied:
        spectra = None
        params.update(n_phases=k, refinement=list(params.get("refinement", [])) + emptied)
    if specks:
        labels, k, gone = refine.drop_specks(labels, k)
        if gone:
            spectra = None
            params.update(n_phases=k, refinement=list(params.get("refinement", [])) + gone)
    return labels, spectra, k


def asked(image, first, dec, n_comp, k_req, features, blank, params, timings, mean_counts, which, run):
    """``(labels, spectra, k)`` with ``k_req`` phases asked for, from ``auto``'s phases ``first``
    (:func:`refine.asked_map`; k-means with ``k_req`` clusters as the other start); the boundary steps as
    :func:`boundaries`, the specks dropped; what changed added to ``params["refinement"]``."""
    from . import cluster

    def start():
        return cluster.cluster(dec.features(n_comp), k_req, random_state=run["random_state"],
                               mask=None if blank is None else ~blank.ravel()).labels

    def finish(labels, spectra):
        labels, spectra, k = boundaries(image, labels, int(labels.max()) + 1, spectra, params, timings,
                                        run["block_rows"], run["client"], mean_counts, which, blank=blank)
        labels, k, gone = refine.drop_specks(labels, k)
        return labels, None if gone else spectra, k, gone

    labels, spectra, k, more = refine.asked_map(image, first, k_req, features, dec.pixel_sums, finish, start=start,
                                                **run)
    params.update(n_phases=k, refinement=list(params["refinement"]) + more, start="auto")
    return labels, spectra, k


def scaled(result, scale):
    """The result, with how its map's values were turned into counts (:func:`phaselib.preprocess.as_counts`) in
    ``params["count_scale"]``."""
    if scale is not None and scale.scaled:
        result.params["count_scale"] = scale.as_dict()
    return result


def low_counts(image, default_method, spatial_prior, decomposition, energy_range, timings) -> bool:
    """Whether to take the spatial-prior path: asked for, or (``"auto"``, default method) a mean
    below :data:`phaselib.lowcount.LOW_COUNTS` counts per pixel in the energy window, estimated
    from spread row blocks before any decomposition (or read off a given decomposition). A map under
    :data:`phaselib.lowcount.FEW_COUNTS` counts per pixel is warned of, whichever path it takes."""
    t = time.perf_counter()
    if decomposition is not None:
        sums = decomposition.pixel_sums[decomposition.pixel_sums > 0]
        mean = float(sums.mean()) if sums.size else 0.0
    else:
        mean = lowcount.mean_counts(image, energy_range=energy_range, sample_pixels=COUNT_SAMPLE_PIXELS, nonempty=True)
    timings["count_estimate"] = time.perf_counter() - t
    if lowcount.few_counts_note(mean):
        warnings.warn(lowcount.few_counts_note(mean, energy_range), stacklevel=3)
    if spatial_prior is not True and not (spatial_prior == "auto" and default_method):
        return False
    return spatial_prior is True or lowcount.needs_spatial_prior(mean)


def describe(pm) -> str:
    """A short text of a :class:`~phaselib.pipeline.PhaseMap` (its ``repr``): size, method, one line per phase."""
    h, w = pm.labels.shape
    head = f"<PhaseMap {h} x {w} pixels, {pm.n_phases} phases ({pm.method}"
    head += f", {pm.n_blank} blank pixels)" if pm.n_blank else ")"
    rows = pm.table()
    lines = [f"  phase {r['phase']}: {100 * r['fraction']:5.1f} %  {r['main_elements'] or '-':<14}"
             f"{'  ' + r['mineral'] if r.get('mineral') else ''}" for r in rows[:-1]]
    if pm.unassigned_fraction > 0:
        lines.append(f"  unassigned: {100 * pm.unassigned_fraction:.1f} %")
    return "\n".join([head, *lines]) + ">"
