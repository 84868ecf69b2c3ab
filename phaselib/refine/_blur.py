"""Labels under the beam's spread: boundary pixels chosen knowing that a spectrum mixes its neighbours'.

The electron beam's interaction volume (and a pixel straddling a boundary) makes a pixel's
spectrum a mixture of its neighbours' phases. :mod:`._unmix` gives a boundary pixel the dominant
phase of the two-phase mixture that best explains it, pixel by pixel. This step models the
mixing itself, over the whole boundary at once:

* **model**: the expected spectrum of pixel ``i`` (its total given) is
  ``lambda_i = sum_d w(d) T[label(i + d)]``, ``w`` a Gaussian of standard deviation ``sigma``
  pixels (cut at ``~2.5 sigma``, renormalised), ``T`` each phase's spectrum (summed over its
  *inner* pixels, those whose 3 x 3 neighbourhood is all of it; all its pixels if none of them is
  inner); the pixel's counts are multinomial under ``lambda_i``;
* **sigma** is read from the data: the log-likelihood of the map's counts under the current labels,
  for each ``sigma`` of :data:`SIGMAS`; the best is kept. ``0`` (no mixing: the labels are left as
  they are) wins on maps without beam spread;
* **labels**: iterated conditional modes (ICM) on the boundary pixels: each takes, among the phases
  of its 3 x 3 neighbourhood, the one that maximises the likelihood of every pixel whose spectrum it
  enters, plus ``beta`` nats per 4-neighbour of the same phase (a Potts prior). Pixels far enough
  apart are updated together; at most :data:`SWEEPS` sweeps. Then a speck sweep: every pixel of the band may take
  any phase read on inner pixels somewhere (not one made of boundary pixels only, which may be a mixture: a 28-pixel
  phase of a basalt at 170 eV grew past the size at which it is dissolved), not only one of its neighbourhood's; the
  moves that gain most within their 3 x 3 neighbourhood are made, and ICM runs again near them. A speck of one pixel,
  or a crystal's tip that the start gave to its host, is otherwise out of reach (``make_rock`` with a glass of 64 % at
  200 counts/px: ICM from the true labels ended 3,450 nats of posterior above ICM from the clustering's, and half of
  the pixels that differed had no pixel of their true phase in their 3 x 3 neighbourhood; ARI 0.964 -> 0.969, 400 x
  600: 0.964 -> 0.970). Last, up to :data:`SWAP_ROUNDS` rounds of swaps (:mod:`._swap`): two touching pixels of
  different phases exchange them where that gains, and ICM runs again near them (a crystal's one-pixel tip drawn
  one pixel aside is out of reach of single-pixel moves; the same rock at 200 x 300: 0.969 -> 0.971).

A pixel one pixel inside a film of glass between two crystals is then glass, not the crystal whose
spectrum its mixture resembles most; the boundary of a lath is where the counts put it, not one pixel
out. Assumptions, stated: one spread for the whole map, isotropic; each phase one spectrum (zoning is
within-phase noise here); the spread is at most :data:`SIGMAS`' last value. The likelihood uses the
channels of the energy window merged into :data:`GROUPS` groups of channels whose intensities keep the
same proportions between the phases (merging such channels loses nothing of the phases' contrast).
Unassigned pixels stay so; their summed spectrum is their template.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage as ndi

import phaselib.refine._check as _check

from .._stream._blocks import sample_ranges
from .._stream._passes import _block_rows_of
from .._validate import check_choice, check_image, check_int, check_labels, check_number
from ..preprocess import energy_channels
from ._grouped import GROUPS, _from_counts, _gather, channel_groups, grouped_counts, stack_grouped  # noqa: F401
from ._swap import swap_pass

#: beam spreads tried (standard deviation, pixels); 0: no mixing
SIGMAS = (0.0, 0.4, 0.55, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0)
#: Potts weight (nats per 4-neighbour of the same phase) of the ICM: the spatial prior's (``lowcount.DEFAULT_BETA``).
#: Rich basalt / dacite at 200, granite at 60 counts/px (seeds 1, 2, 1): beta 0.5 0.960 / 0.936 / 0.972, 1 0.969 /
#: 0.951 / 0.979, 2 0.973 / 0.957 / 0.983, 3 0.970 / 0.954 / 0.982, 4 0.967 / 0.950 / 0.981
BETA = 2.0
#: most ICM sweeps over the boundary pixels
SWEEPS = 4
#: most rounds of swaps (:mod:`._swap`), each followed by ICM near the pixels swapped
SWAP_ROUNDS = 3
#: a move's gain is summed over the pixels its spectrum enters with at least this share of the largest weight
#: (the model itself keeps every tap): at 0.7 px the 3 x 3 pixels around it, 2.5 times faster than all 5 x 5,
#: and the same ARI within 0.0007 on three rich presets
MIN_TAP = 0.03
#: the step needs at least this share of the assigned pixels inside a grain (3 x 3 of one phase): the phases'
#: spectra are summed there. The real chevkinite map (30 x 30 px, 0.40 inside) would move 10 % of its pixels, and
#: its thinnings to 2070 counts/px would agree with it at ARI ~0.73 instead of ~0.82; P45 0.83, the rich presets
#: 0.63-0.81, the held-out rocks of bench_spread 0.54-0.65
MIN_INNER = 0.5
#: pixels of a map read to find the spread (rows spread over a bigger map)
SAMPLE_PIXELS = 250_000
#: pixels per chunk of the likelihoods' temporaries (a full map's boundary band is millions of pixels)
CHUNK = 65_536
#: what the step does, in one line (``params["beam_spread"]`` of a phase map)
RULE = ("boundary pixels relabelled under a model where each pixel's spectrum mixes its neighbours' phases "
        "by a Gaussian beam spread read from the data")


def kernel(sigma):
    """The beam's Gaussian along one axis: weights at ``-r .. r`` (``r = ceil(2.5 sigma)``, 1 to 3 px), sum 1.
    The 2-D kernel is their outer product (a pixel mixes ``w[dy] * w[dx]`` of its neighbour at ``(dy, dx)``)."""
    if sigma <= 0:
        return np.ones(1)
    r = int(min(3, max(1, np.ceil(2.5 * sigma))))
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2.0 * sigma ** 2))
    return g / g.sum()


def _taps(g):
    r = g.size // 2
    return [(dy - r, dx - r, float(g[dy] * g[dx])) for dy in range(g.size) for dx in range(g.size)]


def _templates(sums, fallback):
    """Normalised spectra of the phases from their inner pixels' sums (``fallback``: all their pixels' sums,
    for a phase with no inner pixel read; the last row, the unassigned pixels', has no fallback)."""
    fallback = np.vstack([fallback, sums[len(fallback):]])
    t = np.where((sums.sum(1) > 0)[:, None], sums, fallback) + 0.5
    return (t / t.sum(1, keepdims=True)).astype(np.float32)


def _shares(lab, k, g, rows, cols):
    """Each phase's share of the beam at the pixels (rows, cols): its indicator blurred by the kernel ``g``
    (edges repeated); column ``k``: the unassigned pixels'."""
    shares = np.empty((rows.size, k + 1), np.float32)
    for p in range(k + 1):
        plane = (lab == (p if p < k else -1)).astype(np.float32)
        if g.size > 1:
            plane = ndi.correlate1d(ndi.correlate1d(plane, g, axis=0, mode="nearest"), g, axis=1, mode="nearest")
        shares[:, p] = plane[rows, cols]
    return shares


def _lam(lab, k, g, rows, cols, t, out=None):
    """Expected (normalised) spectra of the pixels (rows, cols): the phases' shares times their spectra ``t``
    (-1 labels use row ``k``); written into ``out`` when given, in row chunks (no temporary of the band's size)."""
    shares = _shares(lab, k, g, rows, cols)
    out = np.empty((rows.size, t.shape[1]), np.float32) if out is None else out
    for a in range(0, rows.size, CHUNK):
        np.matmul(shares[a:a + CHUNK], t, out=out[a:a + CHUNK])
    return out


def _log_likelihood(y, lab, k, g, rows, cols, t):
    """Multinomial log-likelihood (up to a constant) of the counts ``y`` of the pixels (rows, cols), in row
    chunks."""
    shares = _shares(lab, k, g, rows, cols)
    return sum(float((y[a:a + CHUNK] * np.log(shares[a:a + CHUNK] @ t)).sum(dtype=np.float64))
               for a in range(0, rows.size, CHUNK))


def beam_spread_fit(image, labels, sums, *, energy_range=(0.1, None), sigmas=SIGMAS, beta=BETA, sweeps=SWEEPS,
                    relabel=True, block_rows=None, client=None, grouped=None):
    """Read the beam's spread from a phase map and relabel its boundary pixels under it.

    Parameters
    ----------
    image : SpectrumImage
        A map of counts.
    labels : (H, W) int ndarray
        Phase of each pixel, -1 unassigned (kept so).
    sums : (K, C) ndarray
        Summed counts of each phase on the image's channels (to group the channels).
    energy_range : (float, float or None)
        The energy window (keV) of the likelihoods.
    sigmas : sequence of float
        Spreads tried (pixels); ``0`` must be among them (the labels as they are).
    beta : float
        Potts weight of the ICM (nats per 4-neighbour of the same phase).
    sweeps : int
        Most ICM sweeps.
    relabel : bool
        False: only read the spread (no ICM).
    block_rows : int, optional
    client : distributed.Client, optional
    grouped : (merge, counts), optional
        The channels' groups and every pixel's grouped counts, (H * W, G), collected by another pass over
        the map (:func:`grouped_counts`, :func:`stack_grouped`): the map is then not read at all.

    Returns
    -------
    labels : (H, W) int16 ndarray
    info : dict
        ``sigma`` (the spread kept), ``log_likelihood`` (nats gained over ``sigma = 0`` by each spread
        tried, on the boundary pixels), ``moved`` (pixels relabelled), ``sweeps``; ``skipped`` (why) when
        fewer than :data:`MIN_INNER` of the pixels are inside a grain.
    """
    check_image(image)
    lab = check_labels(labels, "labels", shape=image.shape[:2]).astype(np.int64)
    sums = _check.phase_sums(sums, channels=image.n_channels)
    if lab.size and lab.max() >= sums.shape[0]:
        raise ValueError(f"`labels` hold phase {lab.max()}, but `sums` has {sums.shape[0]} phases.")
    sigmas = sorted({float(check_number(s, "sigma", low=0, high=5)) for s in sigmas} | {0.0})
    beta = check_number(beta, "beta", low=0)
    sweeps = check_int(sweeps, "sweeps", low=0, high=100)
    check_choice(relabel, "relabel", (True, False))
    k = sums.shape[0]
    h, w = lab.shape
    info = dict(sigma=0.0, log_likelihood={}, moved=0, sweeps=0)
    out = lab.astype(np.int16)
    if k < 2 or not (lab >= 0).any():
        return out, info
    r_max = max(kernel(s).size // 2 for s in sigmas)
    boundary = _varies(lab, 1)
    if not boundary.any():
        return out, info
    inner = ~boundary & (lab >= 0)
    share = np.count_nonzero(inner) / max(np.count_nonzero(lab >= 0), 1)
    if share < MIN_INNER:  # grains as small as the pixels: no spectrum per phase to trust, no spread to read
        info["skipped"] = f"{share:.0%} of the pixels are inside a grain (3 x 3 of one phase): under {MIN_INNER:.0%}"
        return out, info
    channels = energy_channels(image, energy_range)
    if grouped is None:
        merge = grouped_counts(image, sums, energy_range)[0]
        gather = partial(_gather, image, lab, inner, channels, merge, k, block_rows, client)
    else:
        merge, counts = grouped
        gather = partial(_from_counts, counts, lab, inner, k)
    fallback = sums[:, channels] @ merge
    # the spread: from the pixels whose expected spectrum depends on it (within r_max of another phase), on
    # rows spread over a big map (one read of the whole of a small one, kept for the relabelling)
    small = h * w <= SAMPLE_PIXELS
    depends = _varies(lab, r_max)
    band = _near(boundary, 2 * r_max + 2) if small else depends
    ranges = None if small else sample_ranges(h, _block_rows_of(image, block_rows), SAMPLE_PIXELS / (h * w))
    rows, cols, y, ypos, inner_sums = gather(band, ranges)
    t = _templates(inner_sums, fallback)
    dep = depends[rows, cols]
    ll = {s: _log_likelihood(y[ypos[dep]], lab, k, kernel(s), rows[dep], cols[dep], t) for s in sigmas}
    info["log_likelihood"] = {f"{s:g}": round(v - ll[0.0], 1) for s, v in ll.items()}
    best = max(sigmas, key=lambda s: ll[s])
    info["sigma"] = best
    if best == 0 or not relabel or sweeps == 0:
        return out, info
    g = kernel(best)
    band = _near(boundary, 2 * (g.size // 2) + 2)  # the boundary may move by a pixel or two in the sweeps
    if not small:
        rows, cols, y, ypos, inner_sums = gather(band, None)
        t = _templates(inner_sums, fallback)
    # a speck may take a phase read on pure pixels somewhere (one made of boundary pixels only may be a mixture)
    new, done = _icm(lab, y, ypos, rows, cols, band, t, g, beta, sweeps, k, specks=inner_sums[:k].sum(1) > 0)
    info.update(moved=int(np.count_nonzero(new != lab)), sweeps=done)
    return new.astype(np.int16), info


def inner_share(labels):
    """The share of the assigned pixels inside a grain (their 3 x 3 neighbourhood all of one phase): under
    :data:`MIN_INNER`, :func:`beam_spread_fit` skips the map."""
    lab = np.asarray(labels)
    inner = ~_varies(lab, 1) & (lab >= 0)
    return np.count_nonzero(inner) / max(np.count_nonzero(lab >= 0), 1)


def _varies(lab, r):
    """Pixels whose ``(2r + 1)`` square neighbourhood holds more than one label."""
    return ndi.maximum_filter(lab, 2 * r + 1, mode="nearest") != ndi.minimum_filter(lab, 2 * r + 1, mode="nearest")


def _near(mask, reach):
    return ndi.maximum_filter(mask.view(np.uint8), 2 * reach + 1, mode="constant").astype(bool)


def _icm(lab, y, ypos, rows, cols, band, t, g, beta, sweeps, k, chunk=4096, specks=True, swaps=SWAP_ROUNDS):
    """Iterated conditional modes on the band's pixels, then the speck sweep and ICM again, then up to ``swaps``
    rounds of swaps (:mod:`._swap`) and ICM again (see the module docstring); ``specks``: the phases a pixel may
    take in that sweep ((k,) bool; True: all, False: no sweep)."""
    h, w = lab.shape
    r = g.size // 2
    taps = _taps(g)
    dy = np.array([d[0] for d in taps])
    dx = np.array([d[1] for d in taps])
    wt = np.array([d[2] for d in taps], np.float32)[None, :, None]
    big = wt.ravel() >= MIN_TAP * wt.max()  # the taps a move's gain is summed over
    lab = lab.copy()
    index = np.full((h, w), -1, np.int64)
    index[rows, cols] = np.arange(rows.size)
    # a pixel may move if every pixel its spectrum enters is in the band (their counts are known)
    movable = ndi.binary_erosion(band, np.ones((2 * r + 1,) * 2, bool), border_value=1) & (lab >= 0)
    step = 2 * r + 1
    best_of = partial(_best, index=index, y=y, ypos=ypos, t=t, dy=dy[big], dx=dx[big], wt=wt[:, big], beta=beta, k=k)
    apply = partial(_apply, index=index, t=t, dy=dy, dx=dx, wt=wt)
    done = 0
    lam = None
    specks = np.broadcast_to(np.asarray(specks, bool), (k,))
    moves = ["icm"] + ["specks"] * bool(specks.any()) + ["swaps"] * int(swaps)
    for move in moves:
        active = movable
        if move == "swaps":
            lam = _lam(lab, k, g, rows, cols, t, out=lam)
            lab1 = np.pad(lab, 1, mode="edge")
            swapped = swap_pass(lab, lab1, lam, movable, index=index, y=y, ypos=ypos, t=t, dy=dy[big], dx=dx[big],
                                wt=wt[:, big], dy_all=dy, dx_all=dx, beta=beta, apply=apply)
            if not swapped.any():
                break
            done += 1
            active = movable & _near(swapped, 2 * r + 1)
        if move == "specks":  # every pixel may take any phase: the best gain of each 3 x 3 neighbourhood moves
            lam = _lam(lab, k, g, rows, cols, t, out=lam)
            lab1 = np.pad(lab, 1, mode="edge")
            ys, xs = np.nonzero(movable)
            gain = np.zeros((h, w))
            new = np.empty(ys.size, lab.dtype)
            for c0 in range(0, ys.size, chunk):
                sl = slice(c0, c0 + chunk)
                new[sl], gain[ys[sl], xs[sl]] = best_of(ys[sl], xs[sl], lab, lab1, lam=lam, anywhere=specks)
            top = (gain > 0) & (gain >= ndi.maximum_filter(gain, 3, mode="constant"))
            pick = np.flatnonzero(top[ys, xs])
            if pick.size == 0:
                continue
            before = lab.copy()
            apply(ys[pick], xs[pick], new[pick], lab, lab1, lam)
            done += 1
            active = movable & _near(lab != before, 2 * r + 1)
        for _ in range(sweeps):
            lam = _lam(lab, k, g, rows, cols, t, out=lam)
            lab1 = np.pad(lab, 1, mode="edge")
            before = lab.copy()
            mixed = active & _varies(lab, 1)
            changed = 0
            for oy in range(step):
                for ox in range(step):
                    sel = np.zeros_like(mixed)
                    sel[oy::step, ox::step] = True
                    ys, xs = np.nonzero(sel & mixed)
                    for c0 in range(0, ys.size, chunk):
                        cy, cx = ys[c0:c0 + chunk], xs[c0:c0 + chunk]
                        new = best_of(cy, cx, lab, lab1, lam=lam)[0]
                        move = np.flatnonzero(new != lab[cy, cx])
                        apply(cy[move], cx[move], new[move], lab, lab1, lam)
                        changed += move.size
            done += 1
            if changed == 0:
                break
            # a pixel's best phase depends on the labels within 2 r of it: only those near a change are tried again
            active = movable & _near(lab != before, 2 * r + 1)
    return lab, done


def _apply(my, mx, nw, lab, lab1, lam, *, index, t, dy, dx, wt):
    """Relabel the pixels (my, mx) to ``nw`` (in place), their spectra's shares in ``lam`` with them."""
    if my.size == 0:
        return
    h, w = lab.shape
    old = lab[my, mx]
    jy, jx = my[:, None] - dy[None, :], mx[:, None] - dx[None, :]
    inside = (jy >= 0) & (jy < h) & (jx >= 0) & (jx < w)
    j = index[np.clip(jy, 0, h - 1), np.clip(jx, 0, w - 1)]
    delta = wt * (t[nw] - t[old])[:, None, :]
    np.add.at(lam, j[inside], np.broadcast_to(delta, (my.size, dy.size, t.shape[1]))[inside])
    lab[my, mx] = nw
    lab1[my + 1, mx + 1] = nw


def _best(ys, xs, lab, lab1, *, index, y, ypos, lam, t, dy, dx, wt, beta, k, anywhere=None):
    """The best phase of each candidate pixel (ys, xs), given every other pixel's, among the phases of its 3 x 3
    neighbourhood and those of ``anywhere`` ((k,) bool), and its gain (nats; 0 where none is better than its own)."""
    h, w = lab.shape
    cur = lab[ys, xs]
    jy, jx = ys[:, None] - dy[None, :], xs[:, None] - dx[None, :]
    inside = ((jy >= 0) & (jy < h) & (jx >= 0) & (jx < w))[..., None]
    j = index[np.clip(jy, 0, h - 1), np.clip(jx, 0, w - 1)]
    yy = np.where(inside, y[ypos[j]], 0)
    ll = lam[j]
    base = (yy * np.log(ll)).sum((1, 2))
    nb4 = np.stack([lab1[ys + 1 + a, xs + 1 + b] for a, b in ((0, 1), (0, -1), (1, 0), (-1, 0))], 1)
    near = np.stack([lab1[ys + 1 + a, xs + 1 + b] for a in (-1, 0, 1) for b in (-1, 0, 1)], 1)
    best, gain_best = cur.copy(), np.zeros(ys.size)
    for p in range(k):
        go = np.flatnonzero(((near == p).any(1) | (anywhere is not None and bool(anywhere[p]))) & (cur != p))
        if go.size == 0:
            continue
        moved = ll[go] + wt * (t[p] - t[cur[go]])[:, None, :]
        gain = (yy[go] * np.log(np.maximum(moved, 1e-12))).sum((1, 2)) - base[go]
        gain += beta * ((nb4[go] == p).sum(1) - (nb4[go] == cur[go, None]).sum(1))
        better = gain > gain_best[go]
        gain_best[go[better]] = gain[better]
        best[go[better]] = p
    return best, gain_best
