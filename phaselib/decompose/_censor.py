"""Values of an intensity cube that carry nothing: dead channels and values that are not finite.

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
  missing value, by least squares on its finite values) and the fit gives the rest.

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
#: shape components a missing value is filled from (at most)
FILL_RANK = 8
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


def group_block(r0, r1, block, *, channels, factor, live):
    """Mean of every group of ``factor`` live channels, (n, C') float32; NaN where a group has no finite value."""
    x = np.asarray(block[..., channels], dtype=np.float64)
    n = x.shape[0] * x.shape[1]
    c = x.shape[2] // factor
    x = x[..., : c * factor].reshape(n, c, factor)
    ok = np.isfinite(x) & live[: c * factor].reshape(1, c, factor)
    count = ok.sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(ok, x, 0).sum(2) / count).astype(np.float32)


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


def open_beam_level(a):
    """The attenuation of the open beam, ``c0``, when the map has one, else 0: a transmission normalised by
    a beam a few % brighter or dimmer than the sample's (``-log(0.98 T)`` is ``-log T + 0.02``) gives the
    open beam a small mean attenuation, and its shape is then its noise divided by that offset
    (``make_tof`` normalised 2 % too bright: ARI 0.50 instead of 1.0).

    The open beam is looked for at the mode of the pixels' mean attenuations nearest the lowest
    :data:`OPEN_SHARE` of them (a mean shift within 2 robust spreads); those pixels (at most
    :data:`FLAT_PIXELS` of them) are taken for the open beam when their mean spectrum is flat: its
    channels' deviations from their weighted level, over their noise, give a chi-square per channel
    under :data:`FLAT_CHI2` (2-5 on open beams from 30 to 1000 neutrons per bin; 300-700 where the
    thinnest or only pieces of a sample with no open beam lie). Then ``c0`` is that weighted level, if it
    is more than the robust spread of those pixels' mean attenuations away from 0.
    """
    n, c = a.shape
    if n < 50 or c < 4:
        return 0.0
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
        return 0.0
    rows = rows[:: rows.size // FLAT_PIXELS + 1]
    mean = a[rows].mean(0)
    noise = np.maximum(a[rows].var(0) / rows.size, 1e-30)
    flat = np.sum(mean / noise) / np.sum(1 / noise)
    # an offset within the spread of the open beam's mean attenuations is left (moving it would move the
    # noise of some open-beam pixels over their shape threshold)
    return flat if float(np.mean((mean - flat) ** 2 / noise)) < FLAT_CHI2 and abs(flat) > spread else 0.0
