"""What a measured transmission cube holds besides its shapes: dead channels, values that are not finite,
and an open beam that is not at 0.

A transmission cube normalised by its open beam holds places where there is nothing to read: channels
where the detector counted nothing (the gaps between a ToF camera's shutters: 0 or NaN in every
pixel; 0/0 after the normalisation) and single values that are not finite (a pixel the open beam never
reached). Taken as they are (``-log`` of a value clipped at 1e-3) a dead channel turns the *amount* of
material into a shape (``6.9 / mean attenuation``): a thick piece of one material looks like another
material (``make_tof`` with 15 dead channels: ARI 0.79 and 0.91 instead of 1.0).

- a channel is **dead** when at least :data:`DEAD_SHARE` of the sampled pixels hold 0 or a non-finite
  value there (``log``) or a non-finite value (``none``); dead channels are left out of the groups;
- a value that is still not finite is **filled** from the pixel's own finite values: the pixel is fitted
  as ``thickness x (mean shape + FILL_RANK shape components)`` (the components of the pixels with no
  missing value, by least squares on its finite values) and the fit gives the rest;
- the **open beam's level** (transmissions normalised a few % off, an uneven flat field) is found,
  followed across the map and taken out of every pixel (:func:`open_beam_levels`).

Tried and not kept (session 20): censoring transmissions below 1-3 times their noise (read from
neighbouring pixels at each level) and filling them the same way: on noisy cubes the fill is noisier
than the values it replaces (``make_tof`` at 10 neutrons per bin: ARI 0.87 -> 0.74; 3 pieces at 50 per
bin: 0.90 -> 0.72).
"""

from __future__ import annotations

import numpy as np

#: a channel is dead when this share of the sampled pixels hold 0 or a non-finite value there
DEAD_SHARE = 0.9
#: share of the pixels, lowest mean attenuations first, tried for the open beam
OPEN_SHARE = 0.05
#: an open beam's mean spectrum deviates from flat by a chi-square per channel under this
FLAT_CHI2 = 20.0
#: pixels the flatness is tested on (at most): the test's power, and the chi-square, grow with them
FLAT_PIXELS = 4000
#: the open beam's level is followed across the map over about 1/LEVEL_WIDTH of its size
LEVEL_WIDTH = 16
#: the level is followed on a grid of at most this many cells a side
LEVEL_GRID = 128
#: steps of following it, at most (each reaches about that far further; it stops when nothing changes)
LEVEL_STEPS = 40
#: shape components a missing value is filled from (at most)
FILL_RANK = 8
#: a value this many noise s.d. above the median of its 5 spectral neighbours is a spike (a gamma hit in a frame)
SPIKE_SD = 8.0
#: ... looked for only where the noise per bin is under this share of the level (some 25 counts per bin or more)
SPIKE_NOISE = 0.2
_TINY = 1e-3


def dead_channels(image, channels, transform):
    """``(C,)`` bool over ``channels``: True where the channel carries nothing (sampled on 16 rows)."""
    h = image.shape[0]
    rows = np.unique(np.linspace(0, h - 1, min(h, 16)).astype(int))
    sample = np.concatenate([np.asarray(image.data[r, :, channels], dtype=np.float64) for r in rows])
    empty = ~np.isfinite(sample)
    if transform == "log":
        empty |= sample == 0
    return empty.mean(0) >= DEAD_SHARE


def group_block(r0, r1, block, *, channels, factor, live, spikes=False):
    """``(means, n_spikes)``: the mean of every group of ``factor`` live channels, (n, C') float32, NaN where a group
    has no finite value; with ``spikes``, of the values that are not :func:`spikes` (counted)."""
    x = np.asarray(block[..., channels], dtype=np.float64)
    n = x.shape[0] * x.shape[1]
    c = x.shape[2] // factor
    x = x[..., : c * factor].reshape(n, c * factor)
    use = live[: c * factor]
    hit = np.zeros(x.shape, bool)
    if spikes and use.sum() >= 5:
        hit[:, use] = spike_values(x[:, use])
    ok = (np.isfinite(x) & use & ~hit).reshape(n, c, factor)
    count = ok.sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(ok, x.reshape(n, c, factor), 0).sum(2) / count).astype(np.float32), int(hit.sum())


def spike_values(x):
    """(n, C) bool: values of spectra ``x`` (n, C: transmissions or counts) more than :data:`SPIKE_SD` noise s.d.
    above the median of their 5 neighbours along the axis: gamma hits in single frames (a step, a Bragg edge, keeps
    its median). The noise changes along the axis (the beam's spectrum) and between pixels (their transmission):
    1.4826 x the median absolute difference to that median at each channel (over up to 4000 pixels), times each
    pixel's median ratio to it (at least the median ratio: a nearly opaque pixel's few counts have next to none).
    None where that noise is over :data:`SPIKE_NOISE` of the pixels' level (a few counts per bin: Poisson's tail
    is as high as a hit)."""
    from scipy.ndimage import median_filter

    finite = np.isfinite(x)
    y = np.where(finite, x, 0.0).astype(np.float32)
    y = np.where(finite, y, y.sum(1, keepdims=True) / np.maximum(finite.sum(1, keepdims=True), 1))  # gaps: the mean
    d = y - median_filter(y, size=(1, 5), mode="nearest")
    a = np.abs(d)
    per_channel = np.median(a[:: max(1, len(a) // 4000)], axis=0)
    ratio = np.median(a / np.where(per_channel > 0, per_channel, np.inf), axis=1)
    sd = 1.4826 * np.median(per_channel) * ratio
    level = y.mean(1)
    if not (level > 0).any() or np.median(sd[level > 0] / level[level > 0]) > SPIKE_NOISE:
        return np.zeros(x.shape, bool)
    sd = 1.4826 * per_channel[None, :] * np.maximum(ratio, np.median(ratio))[:, None]
    return finite & (d > SPIKE_SD * sd) & (sd > 0)


def attenuation(x, transform):
    """``(a, missing)``: attenuation ``-log T`` (``log``, T clipped at 1e-3) or the values (``none``), (n, C'),
    and the values that are not finite (to fill; they hold 0 meanwhile)."""
    missing = ~np.isfinite(x)
    x = np.where(missing, 1.0 if transform == "log" else 0.0, x)
    return (-np.log(np.clip(x, _TINY, None)) if transform == "log" else x), missing


def fill(a, missing, shaped, *, rank=FILL_RANK, chunk=65536):
    """``a`` (n, C') with its ``missing`` values filled in place from the shape components of the complete
    pixels that have a shape (``shaped``, (n,) bool: mean attenuation above its noise), fitted to each
    pixel's finite values; a pixel with fewer finite values than twice the components gets its finite
    mean times the mean shape."""
    rows = np.flatnonzero(missing.any(1))
    if rows.size == 0:
        return a
    count = missing.sum(1)
    enough_complete = (shaped & (count == 0)).sum() >= 20 * rank
    ref = a[shaped & (count <= (0 if enough_complete else np.quantile(count[shaped], 0.2)))] if shaped.any() else a
    ref = ref / np.where(ref.mean(1) > 0, ref.mean(1), 1.0)[:, None]
    if len(ref) > 200_000:
        ref = ref[:: len(ref) // 200_000 + 1]
    mu = ref.mean(0) if len(ref) else np.ones(a.shape[1])
    vt = np.linalg.svd(ref - mu, full_matrices=False)[2][:rank] if len(ref) > rank + 1 else np.zeros((0, a.shape[1]))
    basis = np.vstack([mu, vt]).T  # (C', p): thickness, and thickness x score
    p = basis.shape[1]
    shape = mu / max(float(mu.mean()), 1e-12)
    for s in range(0, rows.size, chunk):
        r = rows[s:s + chunk]
        ok = ~missing[r]
        v = np.where(ok, a[r], 0.0)
        d = basis[None] * ok[..., None]  # (n, C', p)
        gram = np.einsum("ncp,ncq->npq", d, d)
        rhs = np.einsum("ncp,nc->np", d, v)
        enough = ok.sum(1) > 2 * p
        gram[~enough], rhs[~enough] = np.eye(p), 0.0
        fit = np.linalg.solve(gram + 1e-9 * np.eye(p), rhs[..., None])[..., 0] @ basis.T
        fit[~enough] = (v[~enough].sum(1) / np.maximum(ok[~enough].sum(1), 1))[:, None] * shape
        a[r] = np.where(ok, a[r], fit)
    return a


def _open_beam_band(a):
    """``(band, level, spread)``: the pixels taken for the open beam, their median mean attenuation and its
    robust spread, when their mean spectrum is flat; else None (see :func:`open_beam_levels`)."""
    n, c = a.shape
    if n < 50 or c < 4:
        return None
    m = a.mean(1)
    low = m <= np.quantile(m, OPEN_SHARE)
    level = float(np.median(m[low]))
    spread = 1.4826 * float(np.median(np.abs(m[low] - level)))
    for _ in range(5):
        band = np.abs(m - level) <= 2 * spread
        level = float(np.median(m[band]))
        spread = 1.4826 * float(np.median(np.abs(m[band] - level)))
    rows = np.flatnonzero(band)
    if rows.size < 50 or spread == 0:
        return None
    rows = rows[:: rows.size // FLAT_PIXELS + 1]
    mean = a[rows].mean(0)
    noise = np.maximum(a[rows].var(0) / rows.size, 1e-30)
    flat = np.sum(mean / noise) / np.sum(1 / noise)
    return (band, level, spread) if float(np.mean((mean - flat) ** 2 / noise)) < FLAT_CHI2 else None


def _smooth_level(m, mask, sigma, level):
    """The open beam's level at every pixel: a Gaussian-weighted mean of ``m`` over the ``mask`` pixels near it
    (width ``sigma``; 4 x wider where few are near; ``level`` where none are). Computed on a grid of at most
    :data:`LEVEL_GRID` cells a side (block sums), then repeated back to the pixels."""
    from scipy import ndimage

    h, w = m.shape
    b = max(1, -(-max(h, w) // LEVEL_GRID))
    ph, pw = -(-h // b) * b, -(-w // b) * b
    weight = np.zeros((ph, pw))
    weight[:h, :w] = mask
    total = np.zeros((ph, pw))
    total[:h, :w] = np.where(mask, m, 0.0)
    weight = weight.reshape(ph // b, b, pw // b, b).sum((1, 3))
    total = total.reshape(ph // b, b, pw // b, b).sum((1, 3))
    out = np.full(weight.shape, level)
    yy, xx = np.mgrid[: weight.shape[0], : weight.shape[1]].astype(np.float64)
    for s in (4 * sigma / b, sigma / b):  # the wide estimate first, the near one over it where it has enough pixels
        near = ndimage.gaussian_filter(weight, s, mode="nearest") > (0.01 if s > sigma / b else 0.05) * b * b
        out[near] = _local_plane(weight, total, xx, yy, s)[near]
    return np.repeat(np.repeat(out, b, 0), b, 1)[:h, :w]


def _local_plane(weight, total, xx, yy, s):
    """At every cell, the plane fitted by weighted least squares to the cells' mean levels (``total / weight``,
    weights ``weight`` times a Gaussian of width ``s`` around the cell), evaluated there: a slope is followed
    to the edge of the open beam and under the sample, where a Gaussian-weighted mean lags behind it."""
    from scipy import ndimage

    def g(v):
        return ndimage.gaussian_filter(v, s, mode="nearest")

    s0, sx, sy = g(weight), g(weight * xx), g(weight * yy)
    sxx, sxy, syy = g(weight * xx * xx), g(weight * xx * yy), g(weight * yy * yy)
    t0, tx, ty = g(total), g(total * xx), g(total * yy)
    ridge = 1e-3 * s0 * s * s  # a little: a line of open-beam cells fixes no slope across it
    a = np.stack([np.stack([s0, sx, sy], -1), np.stack([sx, sxx + ridge, sxy], -1),
                  np.stack([sy, sxy, syy + ridge], -1)], -2)
    rhs = np.stack([t0, tx, ty], -1)
    ok = s0 > 1e-12
    beta = np.zeros(rhs.shape)
    beta[ok] = np.linalg.solve(a[ok], rhs[ok][..., None])[..., 0]
    return beta[..., 0] + beta[..., 1] * xx + beta[..., 2] * yy


def open_beam_levels(a, shape):
    """The attenuation of the open beam at every pixel, (n,), when the map has an open beam that is not at 0,
    else None. A transmission normalised by a beam a few % brighter or dimmer than the sample's
    (``-log(0.98 T)`` is ``-log T + 0.02``), or by a flat field that is a little uneven, gives the open beam
    a small mean attenuation, and its shape is then its noise divided by that offset (``make_tof``
    normalised 2 % too bright: ARI 0.50; a gain from 0.99 to 1.01 across the map: 0.49, instead of 1.0).

    The open beam is looked for at the mode of the pixels' mean attenuations nearest the lowest
    :data:`OPEN_SHARE` of them (a mean shift within 2 robust spreads); those pixels (at most
    :data:`FLAT_PIXELS` of them) are taken for the open beam when their mean spectrum is flat: its
    channels' deviations from their weighted level, over their noise, give a chi-square per channel
    under :data:`FLAT_CHI2` (2-5 on open beams from 30 to 1000 neutrons per bin; 300-700 where the
    thinnest or only pieces of a sample with no open beam lie). The level is then followed across the map
    (a Gaussian-weighted mean over the open-beam pixels, width 1/:data:`LEVEL_WIDTH` of the map; the
    pixels within 3 robust spreads of it are the open beam of the next step, until they stay the same) and
    carried under the sample from the open beam around it. **Assumption**: the offset varies slowly
    across the map. Levels all within the open beam's spread of 0 are left (None).
    """
    found = _open_beam_band(a)
    if found is None:
        return None
    band, level, spread = found
    m = a.mean(1).reshape(shape)
    mask = band.reshape(shape)
    sigma = max(shape) / LEVEL_WIDTH
    for _ in range(LEVEL_STEPS):
        levels = _smooth_level(m, mask, sigma, level)
        resid = m - levels
        spread = 1.4826 * float(np.median(np.abs(resid[mask] - np.median(resid[mask]))))
        grown = np.abs(resid) <= 3 * spread
        if spread == 0 or not grown.any() or np.array_equal(grown, mask):
            break
        mask = grown
    levels = _smooth_level(m, mask, sigma, level)
    # offsets within the open beam's spread are left (moving them would move the noise of some open-beam
    # pixels over their shape threshold)
    return levels.ravel() if float(np.abs(levels).max()) > spread else None
