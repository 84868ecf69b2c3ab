"""What :func:`phaselib.pipeline.map_phases` does differently for an intensity cube (transmission...)."""

from __future__ import annotations

import time

import numpy as np

from . import lowcount

#: what map_phases does not do, or does its own way, for an intensity cube (``params["notes"]``)
INTENSITY_NOTES = (
    "intensity cube: PCA of each pixel's spectral shape (decompose.shape_pca), no Poisson weighting",
    "no Poisson spatial prior, no chi-square refinement of the phases (they assume counts)",
    "no X-ray lines, mineral names or MSA spectra (EDS only)",
)
EMPTIED_NOTE = ("{asked} regions asked for, {found} found: under the spatial prior the pixels of the others joined "
                "a neighbouring region (a region of a few noisy pixels, or regions whose shapes the components kept "
                "do not tell apart: try more components, or no spatial prior)")
PRIOR_NOTE = ("spatial prior: Potts field (beta {beta:g}) over a Gaussian per region in the shape-score space "
              "(lowcount.gaussian_potts); {moved} pixels moved")


def check_intensity(method, energy_range):
    """The energy window of an intensity cube (the EDS default 0.1 keV- becomes the whole axis); refuse what
    assumes counts."""
    if method == "nmf-otsu":
        raise ValueError("method 'nmf-otsu' assumes counts (Poisson NMF); for an intensity cube use "
                         "pca-kmeans, gmm or fuzzy-cmeans.")
    return None if energy_range is None or tuple(energy_range) == (0.1, None) else energy_range


def n_components(suggested, n_req, k_req):
    """Components to cluster: the scree's (above the noise line), but with three or more regions asked for,
    at least 2. On a noisy cube the noise line can leave one direction, along which 5 regions are not
    separable (make_tof at 30 neutrons per bin, seed 2: ARI 0.75 with 1, 0.91 with 2 and 0.998 with the
    spatial prior); all K - 1 directions bring in more noise than they separate (0.89 -> 0.90 with the prior)."""
    if n_req is not None:
        return n_req
    return max(suggested, 2) if (k_req or 0) >= 3 else suggested


def regions(features, labels, beta):
    """``(labels, moved)``: clustered labels under :func:`~phaselib.lowcount.gaussian_potts`, or unchanged
    (moved None) where some pixels are unassigned (fuzzy c-means) or ``beta`` is 0."""
    if beta == 0 or labels.min() < 0:
        return labels, None
    return lowcount.gaussian_potts(features, labels, beta=beta)


TRANSFORM_NOTES = {"log": "values taken as transmissions T: shapes of -log T",
                   "beam": "values taken as counts of neutrons through the sample (whole numbers): divided by the "
                           "mean spectrum of the 10 % of pixels with the most counts (taken for the open beam), "
                           "shapes of -log T",
                   "none": "values taken as absorbances (proportional to the amount): shapes of the values"}


def cube_notes(dec_params):
    """What :func:`~phaselib.decompose.shape_pca` assumed and mended in the cube, as notes for summary.json."""
    notes = [TRANSFORM_NOTES[dec_params["transform"]]] if dec_params.get("transform") in TRANSFORM_NOTES else []
    if dec_params.get("counts_without_open_beam"):
        notes.append("the values look like counts of neutrons, but the pixels with the most counts are not an open "
                     "beam to divide them by: give transmissions (--signal transmission) for shapes of -log T")
    if dec_params.get("dead_channels"):
        notes.append(f"{dec_params['dead_channels']} dead channels (0 or not finite in nearly every pixel) left out")
    if dec_params.get("missing_values"):
        notes.append(f"{dec_params['missing_values']} channel groups with no finite value filled from their pixel's "
                     "own shape")
    if dec_params.get("open_beam_level"):
        level, low, high = dec_params["open_beam_level"]
        spread = f" ({low:+.4f} to {high:+.4f} across the map)" if high - low > 0.002 else ""
        off = 100 * (np.exp(-level) - 1)
        notes.append(f"the open beam's attenuation {level:+.4f}{spread} (transmissions {off:+.1f} % off, from the "
                     "open-beam normalisation) taken out of every pixel")
    return notes


def emptied(asked, found):
    """The ``refinement`` record of regions the spatial prior emptied (``{"action": "fewer", ...}``, as
    :func:`phaselib.refine.describe_change` reads it), or None."""
    if not asked or found >= asked:
        return None
    return dict(action="fewer", asked=int(asked), found=int(found),
                reason=EMPTIED_NOTE.format(asked=asked, found=found))


def smooth_regions(features, labels, method, spatial_prior, beta, params, timings, dec_params=None):
    """Labels under the Gaussian Potts prior (``spatial_prior`` "auto" or True; not for fuzzy c-means,
    whose unassigned pixels stay so); ``params`` gets the notes (with those of the decomposition's
    ``dec_params``) and the number of regions."""
    params.update(signal="intensity", notes=list(INTENSITY_NOTES) + cube_notes(dec_params or {}))
    if spatial_prior is False or method == "fuzzy-cmeans":
        return labels
    t = time.perf_counter()
    labels, moved = regions(features, labels, beta)
    if moved is None:
        return labels
    timings["spatial_prior"] = time.perf_counter() - t
    asked = params.get("n_phases")
    params.update(spatial_prior="gaussian", n_phases=int(labels.max()) + 1)
    params["notes"].append(PRIOR_NOTE.format(beta=beta, moved=moved))
    change = emptied(asked, params["n_phases"])
    if change:
        params["refinement"] = [change]
        params["notes"].append(change["reason"])
    return labels
