"""Swap moves for the beam step's labels: two touching pixels of different phases exchange their phases.

Iterated conditional modes (:mod:`._blur`) moves one pixel at a time. A boundary drawn one pixel off along a
stretch is a local optimum of those moves: moving one pixel of a straight boundary costs two 4-neighbours of its
phase (``2 beta`` nats) before the likelihood gains anything, and its neighbour's move only pays once it has been
made. Exchanging the phases of two touching pixels moves the boundary by one pixel without making a bump. On
``make_rock`` with a glass of 64 % (200 x 300, 200 counts/px, 0.7 px beam), ICM from the true labels ended 633
nats of posterior above ICM from the clustering's; of the 141 patches where they differed, the 35 that gained on
their own held 602 of those nats, and 26 of them were two pixels whose phases were swapped.

A swap of ``a`` at ``i`` and ``b`` at ``j = i + o`` changes the expected spectrum of each pixel ``s`` near them by
``(w(s - i) - w(s - j)) (T[b] - T[a])``; its gain is the change of the multinomial log-likelihood of those pixels
plus ``beta`` per 4-neighbour (other than each other) of the same phase. Pairs far enough apart that no pixel's
spectrum depends on two of them are tried together; a pair is swapped when its gain is positive.
"""

from __future__ import annotations

import numpy as np

#: the two directions of a pair: (dy, dx) from its first pixel to its second
DIRECTIONS = ((0, 1), (1, 0))
_FOUR = ((0, 1), (0, -1), (1, 0), (-1, 0))


def swap_pass(lab, lab1, lam, movable, *, index, y, ypos, t, dy, dx, wt, dy_all, dx_all, beta, apply, chunk=4096):
    """Swap the phases of touching pixel pairs of the band where it gains (in place: ``lab``, ``lab1``, ``lam``).

    Parameters
    ----------
    lab, lab1 : (H, W) and (H + 2, W + 2) int ndarray
        The labels, and the same padded by one pixel (edges repeated).
    lam : (N, G) float32 ndarray
        The expected spectra of the band's pixels under ``lab``.
    movable : (H, W) bool ndarray
        Pixels that may change (every pixel their spectrum enters is in the band).
    index, y, ypos, t
        As in :func:`phaselib.refine._blur._best`: each pixel's row in ``lam`` (-1 outside the band), the band's
        grouped counts and their rows, the phases' normalised spectra.
    dy, dx, wt
        The taps a gain is summed over (``wt`` shaped (1, taps, 1)).
    dy_all, dx_all
        Every tap of the kernel (their reach sets how far apart the pairs tried together must be).
    beta : float
        Potts weight (nats per 4-neighbour of the same phase).
    apply : callable
        ``apply(ys, xs, new, lab, lab1, lam)``: relabels pixels and updates ``lam`` (:func:`._blur._apply`).

    Returns
    -------
    (H, W) bool ndarray
        The pixels swapped.
    """
    h, w = lab.shape
    r = int(max(np.abs(dy_all).max(), np.abs(dx_all).max()))
    step = 2 * r + 2  # two pairs this far apart share no pixel whose spectrum they enter, nor a 4-neighbour
    swapped = np.zeros((h, w), bool)
    for oy, ox in DIRECTIONS:
        first = np.zeros((h, w), bool)
        a, b = lab[:h - oy, :w - ox], lab[oy:, ox:]
        first[:h - oy, :w - ox] = (a != b) & (a >= 0) & (b >= 0) & movable[:h - oy, :w - ox] & movable[oy:, ox:]
        for sy in range(step):
            for sx in range(step):
                sel = np.zeros((h, w), bool)
                sel[sy::step, sx::step] = True
                ys, xs = np.nonzero(sel & first)
                for c0 in range(0, ys.size, chunk):
                    cy, cx = ys[c0:c0 + chunk], xs[c0:c0 + chunk]
                    gain = _gain(cy, cx, oy, ox, lab, lab1, index=index, y=y, ypos=ypos, lam=lam, t=t, dy=dy, dx=dx,
                                 wt=wt, beta=beta)
                    go = np.flatnonzero(gain > 0)
                    if go.size == 0:
                        continue
                    iy, ix, jy, jx = cy[go], cx[go], cy[go] + oy, cx[go] + ox
                    pa, pb = lab[iy, ix].copy(), lab[jy, jx].copy()
                    apply(iy, ix, pb, lab, lab1, lam)
                    apply(jy, jx, pa, lab, lab1, lam)
                    swapped[iy, ix] = swapped[jy, jx] = True
    return swapped


def _gain(ys, xs, oy, ox, lab, lab1, *, index, y, ypos, lam, t, dy, dx, wt, beta):
    """Nats gained by swapping the phases of each pixel (ys, xs) and its neighbour (ys + oy, xs + ox)."""
    h, w = lab.shape
    pa, pb = lab[ys, xs], lab[ys + oy, xs + ox]
    # the pixels whose spectrum either enters, as offsets from the first: i - d and j - d over the taps d
    taps = {(int(-a), int(-b)): float(v) for a, b, v in zip(dy, dx, wt.ravel())}
    taps_j = {(int(oy - a), int(ox - b)): float(v) for a, b, v in zip(dy, dx, wt.ravel())}
    offsets = sorted(set(taps) | set(taps_j))
    uy = np.array([o[0] for o in offsets])
    ux = np.array([o[1] for o in offsets])
    diff = np.array([taps.get(o, 0.0) - taps_j.get(o, 0.0) for o in offsets], np.float32)[None, :, None]
    sy, sx = ys[:, None] + uy[None, :], xs[:, None] + ux[None, :]
    inside = ((sy >= 0) & (sy < h) & (sx >= 0) & (sx < w))[..., None]
    j = index[np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)]
    yy = np.where(inside, y[ypos[j]], 0)
    ll = lam[j]
    moved = ll + diff * (t[pb] - t[pa])[:, None, :]
    gain = (yy * (np.log(np.maximum(moved, 1e-12)) - np.log(ll))).sum((1, 2))
    ends = (((oy, ox), (pa, pb), (ys, xs)), ((-oy, -ox), (pb, pa), (ys + oy, xs + ox)))
    for (ey, ex), (p_old, p_new), (cy, cx) in ends:
        for fy, fx in _FOUR:
            if (fy, fx) == (ey, ex):  # the pair's own edge: of different phases before and after
                continue
            nb = lab1[cy + 1 + fy, cx + 1 + fx]
            gain += beta * ((nb == p_new).astype(np.float64) - (nb == p_old))
    return gain
