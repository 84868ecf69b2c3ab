"""What :func:`phaselib.pipeline.map_phases` does differently for an intensity cube (transmission...)."""

from __future__ import annotations

import time

import numpy as np

from . import lowcount, refine
from .preprocess._window import intensity_window

#: what map_phases does not do, or does its own way, for an intensity cube (``params["notes"]``)
INTENSITY_NOTES = (
    "intensity cube: PCA of each pixel's spectral shape (decompose.shape_pca), no Poisson weighting",
    "no Poisson spatial prior; regions tested by the dip of their 5 x 5 mean shape scores (refine.region_tests), "
    "not by chi-square (it assumes counts)",
    "no X-ray lines, mineral names or MSA spectra (EDS only)",
)
EMPTIED_NOTE = ("{asked} regions asked for, {found} found: under the spatial prior the pixels of the others joined "
                "a neighbouring region (a region of a few noisy pixels, or regions whose shapes the components kept "
                "do not tell apart: try more components, or no spatial prior)")
PRIOR_NOTE = ("spatial prior: Potts field (beta {beta:g}) over a Gaussian per region in the shape-score space "
              "(lowcount.gaussian_potts); {moved} pixels moved")


def check_signal(image, method, energy_range):
    """The energy window of a map: an X-ray map's as given, an intensity cube's the whole axis by default (the EDS
    default 0.1 keV- is no window of it). Refused: a method that assumes counts on an intensity cube, and counts on
    an axis that is no X-ray energy in keV, which the counts path would read as one (it tests X-ray lines: a cube
    of neutron counts in Å was tested for lines of 1-5 "keV", ARI 0.85 where its intensities give 1.0; in µs, past
    500 "keV", it failed with a message about eV)."""
    if image.is_counts:
        if not image.is_energy_axis:
            units = image.units or "no units"
            fix = ("give an X-ray map's energy axis in keV (offset and scale divided by 1000)" if units == "eV" else
                   "map counts of another kind (neutrons, a detector's counts per bin) as intensities: --signal "
                   "intensity on the command line, image.replace(signal='intensity') in Python (counts not yet "
                   "divided by the open beam are divided by it)")
            raise ValueError(f"This map holds counts on a {image.name.lower()} axis ({units}): the counts path finds "
                             f"phases by their X-ray lines, on an energy axis in keV; {fix}.")
        return energy_range
    if method == "nmf-otsu":
        raise ValueError("method 'nmf-otsu' assumes counts (Poisson NMF); for an intensity cube use "
                         "pca-kmeans, gmm or fuzzy-cmeans.")
    return intensity_window(energy_range)


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
    if dec_params.get("spikes"):
        notes.append(f"{dec_params['spikes']} values more than 8 noise s.d. above their neighbours along the axis "
                     "(gamma hits in single frames) left out of their channel groups")
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


MERGE_REASON = "one material: no dip between their 5 x 5 mean shape scores (ratio {ratio:.2f})"
TINY_REASON = ("a region of {n} pixels, too thin or too few to test (a band along boundaries, a few pixels), "
               "joined the region nearest in shape")
SPLIT_REASON = "two materials: a dip between the 5 x 5 mean shape scores of its two parts (ratio {ratio:.2f})"


def _split(f, labels, split):
    """``(labels, change)``: ``labels`` with the region of ``split`` (as :func:`~phaselib.refine.region_tests`
    gives it) cut in two."""
    ratio, a, part = split
    out = refine.split_region(f, labels, a, part)
    return out, dict(action="split", phase=int(a), n_pixels=int(np.count_nonzero(out == out.max())),
                     reason=SPLIT_REASON.format(ratio=ratio))


def _merge(labels, merge):
    """``(labels, change)``: region ``b`` of ``merge`` ``(ratio, a, b)`` joined to ``a``, the others renumbered."""
    ratio, a, b = merge
    out = np.where(labels == b, a, labels)
    out = np.where(out > b, out - 1, out).astype(labels.dtype)
    why = TINY_REASON.format(n=int(np.count_nonzero(labels == b))) if np.isinf(ratio) else \
        MERGE_REASON.format(ratio=ratio)
    return out, dict(action="merged", phase=int(b), into=int(a), reason=why)


def test_regions(features, labels, n_regions, beta):
    """``(labels, changes)`` after the dip tests of :func:`phaselib.refine.region_tests`, each change followed by
    the Potts prior again. With ``n_regions`` asked for, the number stays: a region holding two materials is
    split, then the Potts prior applied, and a pair that is one material merged (kept only when the prior joined
    the pieces of one, or a pair is then one: a region mixing two materials hides the dip between pieces of the
    one it shares); a region holding two is also split while there are fewer regions than asked.
    Else (auto) every such merge and split, one at a time."""
    h, w = labels.shape
    f = np.asarray(features, np.float64).reshape(h, w, -1)
    smooth = (lambda lab: lowcount.gaussian_potts(f, lab, beta=beta)[0]) if beta > 0 else (lambda lab: lab)
    changes = []
    for _ in range(int(labels.max()) + 3):
        # with the number asked, this round needs the split only; the trial split's round the merge only
        merge, split = refine.region_tests(f, labels, tiny=n_regions is not None, merges=n_regions is None)
        if n_regions is None:  # auto: a merge first, else a split
            if merge is None and split is None:
                break
            new, change = _merge(labels, merge) if merge is not None else _split(f, labels, split)
            new = smooth(new)
            if merge is None and int(new.max()) <= int(labels.max()):
                break  # the prior undid the split
            labels = new
            changes.append(change)
            continue
        if split is None:
            break
        trial, cut = _split(f, labels, split)
        trial = smooth(trial)
        before, after = int(labels.max()) + 1, int(trial.max()) + 1
        if after <= before and np.array_equal(trial, labels) or before < n_regions and after <= before:
            break  # the prior undid the split
        if after <= n_regions:  # a region more where one was short, or the prior joined the pieces of one
            labels = trial
            changes.append(cut)
            continue
        merge = refine.region_tests(f, trial, splits=False)[0]
        if merge is None:
            break
        labels, joined = _merge(trial, merge)
        labels = smooth(labels)
        changes += [cut, joined]
    return labels, changes


def tested_regions(dec, n_components, labels, beta, n_regions=None, asked=None, timings=None, blank=None):
    """``(labels, changes, moved)``: clustered ``labels`` (flat or (H, W)) of the shape PCA ``dec`` under the Potts
    prior on its first ``n_components`` scores (:func:`regions`; ``moved`` None when it did not run), then the dip
    tests of :func:`test_regions` on 8 scores more; ``changes`` (for ``refinement``) ends with :func:`emptied`'s
    record when fewer regions than ``asked`` are left. ``blank`` ((H, W) bool: the pixels with no data,
    :func:`no_data_pixels`, -1 in ``labels``) go with the region nearest their scores meanwhile (they have no
    shape, as the open beam) and come back -1: with them unassigned the prior and the tests did not run (a cube
    with 8 rows of its beam blocked, 30 neutrons per bin: ARI 0.98 -> 0.77)."""
    labels = np.asarray(labels).reshape(dec.loadings.shape[:2]).astype(np.int16)
    blank = None if blank is None or not np.any(blank) or not np.any(labels >= 0) else np.asarray(blank, bool)
    if blank is not None:
        labels = _fill_blank(dec.features(n_components), labels, blank)
    t = time.perf_counter()
    labels, moved = regions(dec.features(n_components), labels, beta)
    if moved is None:
        return labels if blank is None else np.where(blank, -1, labels).astype(np.int16), [], None
    if timings is not None:
        timings["spatial_prior"] = time.perf_counter() - t
    t = time.perf_counter()
    labels, changes = test_regions(dec.features(min(dec.n_components, n_components + 8)), labels, n_regions, beta)
    if timings is not None:
        timings["region_tests"] = time.perf_counter() - t
    change = emptied(asked, int(labels.max()) + 1)
    if blank is not None:
        labels = np.where(blank, -1, labels).astype(np.int16)
    return labels, changes + ([change] if change else []), moved


def _fill_blank(features, labels, blank):
    """``labels`` with the ``blank`` pixels given the region whose mean scores are nearest theirs."""
    f = np.asarray(features, np.float64).reshape(labels.size, -1)
    flat = labels.ravel()
    k = int(flat.max()) + 1
    ok = (flat >= 0) & ~blank.ravel()
    means = np.stack([f[ok & (flat == c)].mean(0) if np.any(ok & (flat == c)) else np.full(f.shape[1], np.inf)
                      for c in range(k)])
    out = flat.copy()
    b = np.flatnonzero(blank.ravel())
    out[b] = np.argmin(((f[b, None, :] - means[None]) ** 2).sum(-1), 1)
    return out.reshape(labels.shape).astype(np.int16)


def no_data_pixels(image, transform="auto", rows=256):
    """(H, W) bool: the pixels of a cube with no finite value in any channel (a detector's dead pixels, a mask), or
    None when there are none; with transmissions or neutron counts (``transform`` "log" or "beam", as
    :func:`~phaselib.decompose.shape_pca` decides it, "auto": from the values), also those holding 0 in every
    channel (a dead pixel, the beam blocked: no neutron, no shape; a flat -log of the clipped zeros put them in a
    material's region). Read ``rows`` rows at a time."""
    if transform == "auto":
        from .decompose._shape import _transform_of

        transform = _transform_of(image, slice(0, image.n_channels), "auto")
    zeros = transform in ("log", "beam")
    h = image.shape[0]
    out = np.zeros(image.shape[:2], bool)
    for r0 in range(0, h, rows):
        x = np.asarray(image.data[r0:r0 + rows])
        out[r0:r0 + rows] = ~(np.isfinite(x) & (x != 0)).any(-1) if zeros else ~np.isfinite(x).any(-1)
    return out if out.any() else None


def smooth_regions(dec, n_components, labels, method, spatial_prior, beta, params, timings, n_regions=None,
                   blank=None):
    """Labels under the Gaussian Potts prior (``spatial_prior`` "auto" or True; not for fuzzy c-means,
    whose unassigned pixels stay so), then the dip tests (:func:`tested_regions`); ``params`` gets the notes
    (with those of the decomposition), the number of regions and the tests' changes (``refinement``). The
    ``blank`` pixels (no data, :func:`no_data_pixels`) stay unassigned (-1), counted in ``params["blank_pixels"]``."""
    params.update(signal="intensity", notes=list(INTENSITY_NOTES) + cube_notes(dec.params))
    if blank is not None:
        params["blank_pixels"] = int(np.count_nonzero(blank))
    if spatial_prior is False or method == "fuzzy-cmeans":
        return labels if blank is None else np.where(blank, -1, labels).astype(labels.dtype)
    labels, changes, moved = tested_regions(dec, n_components, labels, beta, n_regions, params.get("n_phases"),
                                            timings, blank)
    if blank is not None:
        labels = np.where(blank, -1, labels).astype(labels.dtype)
    if moved is None:
        return labels
    params.update(spatial_prior="gaussian", n_phases=int(labels.max()) + 1)
    params["notes"].append(PRIOR_NOTE.format(beta=beta, moved=moved))
    if changes:
        params["refinement"] = changes
        params["notes"] += [refine.describe_change(c) for c in changes]
    return labels
