"""PCA of the spectral *shape* of an intensity cube (transmission, absorbance...): no Poisson weighting.

The model: a pixel's attenuation ``a(lambda) = -log T(lambda)`` is the amount of material in the
beam (its thickness) times the material's cross section, ``a = t * mu(lambda)``. Dividing each
pixel's attenuation by its mean over the axis leaves the *shape* ``mu / mean(mu)``, the same
for a thin and a thick piece of one material: regions are told apart by the shape of their
spectra (Bragg edges...), not by how dark they are. Pixels whose mean attenuation is not above
its own noise (an open beam) cannot have a shape; they are put at the origin.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._stream import map_row_blocks
from .._validate import check_choice, check_image, check_int
from ..preprocess import energy_channels
from ._base import DEFAULT_N_COMPONENTS, Decomposition, range_keV
from ._censor import attenuation, dead_channels, fill, group_block, open_beam_levels

#: the shape is computed on groups of neighbouring channels, about this many groups
SHAPE_CHANNELS = 110
#: a pixel's mean attenuation must exceed this many times its own noise to have a shape
SHAPE_SNR = 3.0
#: a pixel within ``HALO_REACH`` px of the open beam whose mean attenuation is under ``HALO_SHARE`` of the
#: largest among its 8 neighbours is more open beam than sample (a detector's blur, a piece's edge, a narrow gap
#: between pieces): it has no shape. The scale-free shape would give it the piece's shape, noisier: a ring region
#: of its own, or pieces grown by the blur's tail
HALO_REACH = 3
HALO_SHARE = 0.5
HALO_STEPS = 3
#: components above ``SCREE_MARGIN`` times the noise edge count as signal
SCREE_MARGIN = 1.25
#: an ``intensity`` cube with more negative values than this share is not taken for transmissions
NEGATIVE_SHARE = 0.02
#: an ``intensity`` cube of whole numbers with a median above this is taken for counts of neutrons (``beam``)
BEAM_MEDIAN = 5
#: with ``beam``, the open beam's spectrum is the mean of the pixels with this share of the most counts
BEAM_SHARE = 0.1
#: ... when the spectra of their halves agree within Poisson noise: chi-square per channel under this
BEAM_CHI2 = 2.0


def _transform_of(image, channels, transform):
    """``"log"`` (transmissions: the amount of material is -log T), ``"beam"`` (counts of the neutrons through the
    sample: divided by the open beam's spectrum, then ``log``) or ``"none"`` (used as they are)."""
    if transform != "auto":
        return transform
    if image.signal in ("transmission", "absorbance"):
        return "log" if image.signal == "transmission" else "none"
    h = image.shape[0]
    rows = np.unique(np.linspace(0, h - 1, min(h, 16)).astype(int))
    sample = np.concatenate([np.asarray(image.data[r, :, channels], dtype=np.float64).ravel() for r in rows])
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return "log"
    mid, hi = np.nanpercentile(sample, [50, 99])
    # transmissions lie in 0..~1 and are not negative; an absorbance scatters around 0 where nothing absorbs
    # (an open beam), so many of its values are (-log of a transmission there: ARI 0.64 on make_tof)
    negative = float(np.mean(sample < 0))
    if negative == 0 and mid > BEAM_MEDIAN and np.all(sample == np.round(sample)):
        return "beam"  # whole numbers, most above a few: counts of neutrons, not yet divided by the open beam
    return "log" if negative < NEGATIVE_SHARE and 0 < mid <= 1.2 and hi < 5 else "none"


def _divide_by_open_beam(x, factor, width):
    """Counts ``x`` (n, C', means of ``factor`` channels; rows of ``width`` pixels) divided by the open beam's
    spectrum: the mean of the :data:`BEAM_SHARE` of pixels with the most counts, taken for the open beam when
    it is one spectrum all over the map: the summed spectra of its left and right halves (and of its top
    and bottom) agree within Poisson noise, a chi-square per channel under :data:`BEAM_CHI2` (0.7-1.2 on
    open beams at 30-10 000 neutrons per bin; 5-210 on the thinnest pieces of samples with no open beam at
    10-1000, which lie in different places). Else None: the map shows no open beam to divide by."""
    total = np.nansum(x, 1)
    bright = np.flatnonzero(total >= np.quantile(total, 1 - BEAM_SHARE))
    counts = np.nan_to_num(x) * factor
    for coord in np.divmod(bright, width):
        one, two = bright[coord <= np.median(coord)], bright[coord > np.median(coord)]
        if one.size == 0 or two.size == 0:
            continue
        s1, s2 = counts[one].sum(0), counts[two].sum(0)
        n1, n2 = max(float(s1.sum()), 1.0), max(float(s2.sum()), 1.0)
        p = (s1 + s2) / (n1 + n2)
        if np.mean((s1 / n1 - s2 / n2) ** 2 / np.maximum(p * (1 / n1 + 1 / n2), 1e-30)) >= BEAM_CHI2:
            return None
    beam = np.nanmean(x[bright], 0)
    return x / np.where(beam > 0, beam, np.nan)


def _shape_features(a):
    """Shape features of attenuations ``a`` (n, C'): float32 ``a / mean(a)`` shrunk to 0 where the mean is not
    above its noise, the mean attenuation and the shrink weight per pixel."""
    n, c = a.shape
    m = a.mean(1)
    var = np.mean(np.diff(a, axis=1) ** 2, axis=1) / 2 if c > 1 else np.zeros(n)  # noise of a channel, mean
    tau = SHAPE_SNR * np.sqrt(var / c)
    w = np.clip((m - tau) / np.where(tau > 0, tau, 1.0), 0, 1)
    w[(tau == 0) & (m > 0)] = 1.0
    f = a * (w / np.where(m > 0, m, 1.0))[:, None]
    return f.astype(np.float32), m, w, tau / SHAPE_SNR


def _open_beam_halo(amount, weight, sd, shape, *, reach=HALO_REACH, share=HALO_SHARE):
    """(n,) bool: pixels within ``reach`` of the open beam (no shape, ``weight`` 0) whose mean attenuation, plus
    two noise s.d. ``sd``, is under ``share`` of the largest of their neighbours not taken yet, and above twice
    their smallest neighbour's: on a ramp down to the open beam, mostly open beam (a 50 % rule, where the
    scale-free shape would make any trace of a piece the piece)."""
    from scipy import ndimage as ndi

    beam = (weight <= 0).reshape(shape)
    if not beam.any() or beam.all():
        return np.zeros(beam.size, bool)
    m, sd = amount.reshape(shape), sd.reshape(shape)
    # on a ramp down to the open beam: a neighbour under half of it (a thin piece beside a thick one is not)
    ramp = ndi.minimum_filter(m, size=3, mode="nearest") + 2 * sd < share * m
    near = ndi.binary_dilation(beam, np.ones((3, 3), bool), iterations=reach) & ~beam & ramp
    halo = np.zeros_like(beam)
    for _ in range(HALO_STEPS):  # from the open beam inward, against what is left
        out = beam | halo
        local = ndi.maximum_filter(np.where(out, 0, m), size=3, mode="nearest")
        new = near & ~halo & (m + 2 * sd < share * local)
        if not new.any():
            break
        halo |= new
    return halo.ravel()


def shape_pca(image, *, n_components=None, energy_range=None, transform="auto", bin_channels="auto",
              block_rows=None, client=None, progress=None) -> Decomposition:
    """PCA of each pixel's spectral shape, for ``signal="intensity"`` cubes.

    Each pixel is read in row blocks (a lazy map stays lazy); its values are averaged over
    groups of ``bin_channels`` channels, turned into attenuation ``a = -log T`` (``transform``),
    and divided by their mean over the axis. **Assumption**: a region is one material whose
    amount (thickness) changes from pixel to pixel, so that ``a = thickness * mu(lambda)``; its
    shape ``a / mean(a)`` does not depend on thickness. Pixels whose mean attenuation is within
    :data:`SHAPE_SNR` times its noise of zero are shrunk to the origin (open beam). The noise of
    each channel group is estimated from differences of neighbouring pixels (no count statistics
    assumed); the shapes are scaled by it, centred and decomposed (``X^T X`` eigenvectors). The noise line
    of the scree is the largest eigenvalue of the covariance of neighbouring-pixel differences.
    Dead channels are left out, groups with no finite value filled from the pixel's own shape, and an
    open beam normalised a few % off brought back to 0 (``_censor.py``; ``params`` ``dead_channels``,
    ``missing_values``, ``open_beam_level``).

    Parameters
    ----------
    image : SpectrumImage
    n_components : int, optional
        Default: 24, or fewer where the cube has fewer pixels or channels.
    energy_range : (float or None, float or None), optional
        Window of the signal axis, in its units (default: the whole axis).
    transform : {"auto", "log", "beam", "none"}
        ``log``: ``a = -log(max(x, 1e-3))`` (transmission, reflectance); ``beam``: counts of the neutrons
        through the sample, divided by the open beam's spectrum (the mean of the 10 % of pixels with the
        most counts: the map must show some open beam), then ``log``; ``none``: ``a = x``
        (absorbance, or any intensity proportional to the amount). ``auto``: from the image's
        ``signal`` (``transmission``: log, ``absorbance``: none); for ``intensity``, ``beam`` when the
        values are whole numbers, none negative, median above 5; ``log`` when the
        values look like a transmission (median in 0..1.2, 99th percentile below 5, under 2 % of
        them negative, sampled on 16 rows), else ``none``. A thin absorbance without an open beam
        looks like a transmission: say ``signal="absorbance"``.
    bin_channels : int or "auto"
        Channels averaged per group (``auto``: about :data:`SHAPE_CHANNELS` groups).
    block_rows : int, optional
    client : distributed.Client, optional
    progress : callable, optional

    Returns
    -------
    Decomposition
        ``loadings`` are the (centred) scores of the shapes, ``pixel_sums`` the mean attenuation
        of each pixel, ``params["signal"] == "intensity"``; :meth:`Decomposition.features` returns
        the scores as they are (no division by counts).
    """
    check_image(image)
    check_choice(transform, "transform", ("auto", "log", "beam", "none"))
    h, w, _ = image.shape
    channels = energy_channels(image, energy_range if energy_range is not None else (None, None))
    n_ch = channels.stop - channels.start
    factor = max(1, n_ch // SHAPE_CHANNELS) if bin_channels == "auto" else check_int(bin_channels, "bin_channels",
                                                                                       high=n_ch)
    c = n_ch // factor
    most = max(1, min(h * w - 1, c - 1))
    n = check_int(min(DEFAULT_N_COMPONENTS, most) if n_components is None else n_components, "n_components", high=most)
    step = progress or (lambda f, m: None)
    transform = _transform_of(image, channels, transform)
    no_beam = False
    live = ~dead_channels(image, channels, "log" if transform == "beam" else transform)
    if not live[: c * factor].any():
        raise ValueError("Every channel of the map is empty (0 or not finite in nearly every pixel).")
    parts = map_row_blocks(image, partial(group_block, channels=channels, factor=factor, live=live,
                                          spikes=transform != "none"),  # gamma hits raise counts, transmissions
                           block_rows=block_rows, client=client, progress=lambda f, m: step(0.7 * f, m),
                           message="spectral shapes")
    x, n_spikes = np.concatenate([p[0] for p in parts]), sum(p[1] for p in parts)
    groups = np.isfinite(x).any(0)  # channel groups with something in them
    x = x[:, groups]
    if transform == "beam":
        divided = _divide_by_open_beam(x, factor, w)
        x, transform, no_beam = (x, "none", True) if divided is None else (divided, "beam", False)
    # pixels with no data (no finite value; with transmissions or counts none but 0: a dead pixel, the beam blocked)
    # have no shape: the open beam's 0 attenuation, not a flat -log of the clipped zeros, nor filled
    empty = ~(np.isfinite(x) & ((x != 0) if transform != "none" else True)).any(1)
    a, missing = attenuation(np.where(empty[:, None], np.nan, x), "none" if transform == "none" else "log")
    del x
    missing[empty] = False
    if missing.any():
        fill(a, missing, _shape_features(a)[2] >= 1)
    levels = open_beam_levels(a, (h, w)) if transform != "none" else None
    if levels is not None:
        a -= levels[:, None].astype(a.dtype)
    f, amount, kept, sd = _shape_features(a)
    halo = _open_beam_halo(amount, kept, sd, (h, w))
    f[halo], kept[halo] = 0, 0
    kept = kept >= 1
    c = int(groups.sum())
    n = min(n, max(1, c - 1))
    noise = _channel_noise(f.reshape(h, w, c), kept.reshape(h, w))
    f /= noise.astype(np.float32)
    mean = f.mean(0, dtype=np.float64)
    gram = (f.T.astype(np.float64) @ f) / (h * w) - np.outer(mean, mean)
    vals, vecs = np.linalg.eigh((gram + gram.T) / 2)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0, None), vecs[:, order]
    signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(c)])
    vecs = vecs * np.where(signs == 0, 1, signs)
    scores = (f - mean.astype(np.float32)) @ vecs[:, :n].astype(np.float32)
    step(0.95, "projecting")
    edge = _noise_edge(f.reshape(h, w, c), kept.reshape(h, w))
    above = np.flatnonzero(vals <= SCREE_MARGIN * edge)
    suggested = max(1, int(above[0]) if above.size else int(vals.size))
    factors = np.zeros((n, image.n_channels), np.float32)
    full = np.zeros((n, groups.size), np.float32)
    full[:, groups] = (vecs[:, :n] * noise[:, None]).T
    factors[:, channels.start:channels.start + groups.size * factor] = np.repeat(full, factor, 1)
    total = float(vals.sum()) or 1.0
    step(1.0, "done")
    return Decomposition(
        "pca", factors, scores.reshape(h, w, n), vals[:n], vals[:n] / total, amount.reshape(h, w).astype(np.float64),
        channels, min(suggested, n), float(SCREE_MARGIN * edge),
        dict(n_components=n, poisson=False, signal="intensity", centred=True, transform=transform,
             bin_channels=factor, dead_channels=int((~live).sum()), counts_without_open_beam=no_beam,
             missing_values=int(missing.sum()), spikes=int(n_spikes), open_beam_level=None if levels is None else
             [round(float(v), 5) for v in (np.median(levels), levels.min(), levels.max())],
             energy_range=range_keV(image, channels), shape_pixels=int(kept.sum()), random_state=None,
             sample_fraction=1.0),
    )


def _neighbour_differences(f, kept):
    """``(f[y, x+1] - f[y, x]) / sqrt(2)`` for horizontal neighbours that both have a shape (else vertical ones,
    else all): noise with the covariance of the pixels' noise, where the signal changes slowly."""
    pairs = []
    for axis in (1, 0):
        d = np.diff(f, axis=axis).reshape(-1, f.shape[-1])
        both = (kept[:, 1:] & kept[:, :-1] if axis == 1 else kept[1:] & kept[:-1]).ravel()
        pairs += [(int(both.sum()), d[both]), (len(d), d)]
    # neighbours that both have a shape along rows, else columns; else any neighbours (a 1-row map: along it)
    d = next((d for n, d in pairs if n >= 16), max(pairs, key=lambda p: p[0])[1])
    if len(d) == 0:
        raise ValueError("The map must have at least two pixels side by side to estimate its noise.")
    if len(d) > 200_000:
        d = d[:: len(d) // 200_000 + 1]
    return d / np.sqrt(2)


def _noise_edge(f, kept):
    """Largest eigenvalue of the covariance of neighbouring-pixel differences: the top of the noise's
    scree (no count statistics assumed; heteroscedastic and correlated noise included)."""
    d = _neighbour_differences(f, kept).astype(np.float64)
    vals = np.linalg.eigvalsh(d.T @ d / max(len(d), 1))
    return float(vals[-1]) if vals.size else 0.0


def _channel_noise(f, kept):
    """Noise of each channel group: robust spread of differences of horizontally neighbouring pixels
    that both have a shape (``1.4826 MAD / sqrt(2)``)."""
    d = _neighbour_differences(f, kept)
    noise = 1.4826 * np.median(np.abs(d - np.median(d, 0)), 0)
    floor = max(float(np.median(noise)) * 1e-3, 1e-12)
    return np.maximum(noise, floor)
