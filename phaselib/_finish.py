"""The last steps of :func:`phaselib.pipeline.map_phases` on a label map: boundary pixels and specks."""

from __future__ import annotations

import numpy as np

from . import refine


def boundaries(image, labels, k, spectra, params, timings, block_rows, client, mean_counts, which, specks=False,
               blank=None):
    """Mixed pixels to their dominant phase, then the beam's spread (:func:`refine.relabel_boundaries`), then
    (``specks``) phases left with too few pixels given to their neighbours (:func:`refine.drop_specks`). Pixels
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
    if specks:
        labels, k, gone = refine.drop_specks(labels, k)
        if gone:
            spectra = None
            params.update(n_phases=k, refinement=list(params.get("refinement", [])) + gone)
    return labels, spectra, k


def scaled(result, scale):
    """The result, with how its map's values were turned into counts (:func:`phaselib.preprocess.as_counts`) in
    ``params["count_scale"]``."""
    if scale is not None and scale.scaled:
        result.params["count_scale"] = scale.as_dict()
    return result
