"""Spotty detector images from a generator independent of :mod:`phaselib.datasets` (its spot code is not used).

A stand-in for radiographs the spot detector was not tuned on. Each image is an open beam with a smooth
gradient times a sample's transmission, a detector blur (Gaussian PSF of 0.5-1 px), Poisson or Gaussian
noise at 200-5000 counts, and bright spots of several populations:

``single``  gamma hits on one pixel, amplitudes log-uniform from 0.05 to 8 times the open beam;
``cluster`` 2-8 touching pixels (a blob grown from a seed pixel, 8-connected);
``streak``  tracks 3-10 px long at a random angle, the charge shared between the two pixels nearest the line;
``faint``   single pixels or pairs at 2.5-5 times the local noise.

Spots are added after the blur (hits on the camera) or before it (hits in the scintillator, blurred with the
image), per kind. The truth: a pixel is a spot where the spots gave it at least twice the standard deviation of
the local noise (what a student sees and paints; a bright spot's blurred rim or a track's faint end included).

Kinds (:data:`KINDS`) differ in the sample, the spots and the labels:

``metal``     metal parts (rotated plates, bolts with holes: sharp edges, blurred), a thickness wedge, Poisson
              at 1500-5000 counts; singles, clusters, streaks added after the blur; flat-field corrected (the
              image divided by the open beam: a transmission of 0-1.2, not counts); the left half labelled whole.
``granular``  a granular region (grains of 2-5 px of random attenuation) beside a smooth one, Poisson at
              800-3000; singles, clusters, faint ones added before the blur, which is applied to the counted
              image (the noise is blurred: its variance is below the counts); a student's strokes.
``dark``      the labelled left half behind a thick absorber (transmission 0.12-0.3) or the right one (by seed),
              Gaussian noise (Poisson's variance plus a read noise of 6) at 200-1000 counts; mostly streaks,
              added after the blur; in a camera's units (gain 0.5-3, offset 100); the left half labelled whole.
``faint``     a smooth sample, Poisson at 2000-5000, half of the spots faint ones, the rest singles and clusters
              added after the blur; a student's strokes.

A student's strokes: a box (a fifth to a quarter of the image) whose every spot is painted 1, and 3-6 strokes
3 px wide across the image painted 0 where no spot is (a stroke outside the box skips the spots it crosses,
left -1); the rest -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

KINDS = ("metal", "granular", "dark", "faint")


@dataclass(frozen=True, eq=False)
class OtherSpotty:
    """An image, its spots (truth), the training mask, a description, what the spots added and the expected counts."""

    image: np.ndarray
    spots: np.ndarray
    mask: np.ndarray
    description: str
    added: np.ndarray
    expected: np.ndarray


def _open_beam(shape, level, rng):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w], float)[:, None, None]
    a, b = rng.uniform(-0.2, 0.2, 2)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    bump = 0.15 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.1)
    return level * (1 + a * (yy - 0.5) + b * (xx - 0.5) + bump)


def _metal(shape, rng):
    """Attenuation of rotated plates with round holes and a wedge."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    mu = 0.4 * rng.uniform(0.3, 1.0) * xx / w  # a wedge
    for _ in range(rng.integers(3, 6)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        th = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(th) + (xx - cx) * np.sin(th)
        v = -(yy - cy) * np.sin(th) + (xx - cx) * np.cos(th)
        plate = (np.abs(u) < rng.uniform(0.05, 0.25) * h) & (np.abs(v) < rng.uniform(0.1, 0.35) * w)
        mu = mu + np.where(plate, rng.uniform(0.4, 2.0), 0)
        for _ in range(rng.integers(0, 3)):  # holes drilled through it
            hy, hx = cy + rng.uniform(-10, 10), cx + rng.uniform(-10, 10)
            hole = (yy - hy) ** 2 + (xx - hx) ** 2 < rng.uniform(2, 6) ** 2
            mu = np.where(hole & plate, mu * 0.3, mu)
    return mu


def _granular(shape, rng):
    """A granular region (grains of 2-5 px, Voronoi cells of random attenuation) beside a smooth one."""
    h, w = shape
    n = int(h * w / rng.uniform(6, 20))
    seeds = np.zeros(shape, np.int32)
    seeds.flat[rng.choice(h * w, n, replace=False)] = np.arange(1, n + 1)
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[iy, ix]
    grain_mu = rng.uniform(0.1, 0.7, n + 1)
    mu = grain_mu[cells]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    edge = rng.uniform(0.35, 0.65) * w + 15 * np.sin(yy / h * rng.uniform(2, 6))
    region = xx < edge if rng.random() < 0.5 else xx > edge
    smooth = 0.3 + 0.3 * ndimage.gaussian_filter(rng.normal(size=shape), 20) * 20
    return np.where(region, mu, np.clip(smooth, 0, None))


def _dark(shape, rng):
    """One half behind a thick absorber (transmission 0.12-0.3), the other open, soft bodies in both."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    mu = np.zeros(shape)
    half = slice(0, w // 2) if rng.random() < 0.5 else slice(w // 2, w)
    mu[:, half] = -np.log(rng.uniform(0.12, 0.3))
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(10, 40)
        mu += rng.uniform(0.1, 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return mu


def _smooth(shape, rng):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    mu = 0.2 + 0.6 * yy / h
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(15, 50)
        mu += rng.uniform(0.2, 0.8) * ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)
    return ndimage.gaussian_filter(mu, 1.5)


def _event(kind, rng, sigma):
    """(rows, cols, weights) of one spot around (0, 0); weights sum to the amplitude factor."""
    if kind == "single":
        return np.array([0]), np.array([0]), np.array([1.0])
    if kind == "faint":
        if rng.random() < 0.7:
            return np.array([0]), np.array([0]), np.array([1.0])
        dr, dc = ((0, 1), (1, 0), (1, 1))[rng.integers(0, 3)]
        return np.array([0, dr]), np.array([0, dc]), np.array([1.0, rng.uniform(0.5, 1.0)])
    if kind == "cluster":
        pts = [(0, 0)]
        for _ in range(rng.integers(1, 8)):
            r, c = pts[rng.integers(0, len(pts))]
            nxt = (r + int(rng.integers(-1, 2)), c + int(rng.integers(-1, 2)))
            if nxt not in pts:
                pts.append(nxt)
        rr, cc = np.array(pts).T
        return rr, cc, np.r_[1.0, rng.uniform(0.2, 0.9, len(pts) - 1)]
    # a streak: points along a line, each shared between the two nearest pixels across it
    length, th = rng.uniform(3, 10), rng.uniform(0, np.pi)
    t = np.linspace(0, length, int(np.ceil(length)) * 3)
    y, x = t * np.sin(th), t * np.cos(th)
    energy = rng.uniform(0.5, 1.0) * (1 + 0.5 * np.sin(t / length * np.pi * rng.uniform(0.5, 2)))
    if abs(np.sin(th)) < abs(np.cos(th)):  # shallow: share across rows
        lo = np.floor(y)
        frac = y - lo
        rr = np.r_[lo, lo + 1].astype(int)
        cc = np.r_[np.round(x), np.round(x)].astype(int)
    else:
        lo = np.floor(x)
        frac = x - lo
        cc = np.r_[lo, lo + 1].astype(int)
        rr = np.r_[np.round(y), np.round(y)].astype(int)
    wts = np.r_[energy * (1 - frac), energy * frac]
    (rr, cc), inv = np.unique(np.stack([rr, cc]), axis=1, return_inverse=True)
    wsum = np.bincount(inv.ravel(), wts)
    return rr, cc, wsum / wsum.max()


def _spots(shape, expected, populations, spot_fraction, ob, blur_before, psf, rng):
    """(added before the blur, added after it, truth)."""
    h, w = shape
    before, after = np.zeros(shape), np.zeros(shape)
    truth = np.zeros(shape, bool)
    names, probs = zip(*populations.items())
    target = spot_fraction * h * w
    pad = 6
    while truth.sum() < target:
        kind = names[rng.choice(len(names), p=np.array(probs) / sum(probs))]
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        rr, cc, wts = _event(kind, rng, psf)
        rr, cc = rr + r0, cc + c0
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        if not ok.any():
            continue
        rr, cc, wts = rr[ok], cc[ok], wts[ok]
        noise = np.sqrt(np.maximum(expected[r0, c0], 1) + 36)
        if kind == "faint":
            amp = rng.uniform(2.5, 5.0) * noise
        else:
            amp = ob * np.exp(rng.uniform(np.log(0.05), np.log(8.0)))
        one = np.zeros((rr.max() - rr.min() + 1 + 2 * pad, cc.max() - cc.min() + 1 + 2 * pad))
        one[rr - rr.min() + pad, cc - cc.min() + pad] = amp * wts
        if blur_before:
            one = ndimage.gaussian_filter(one, psf)
        y0, x0 = rr.min() - pad, cc.min() - pad
        ys = slice(max(y0, 0), min(y0 + one.shape[0], h))
        xs = slice(max(x0, 0), min(x0 + one.shape[1], w))
        part = one[ys.start - y0: ys.stop - y0, xs.start - x0: xs.stop - x0]
        local_noise = np.sqrt(np.maximum(expected[ys, xs], 1) + 36)
        truth[ys, xs] |= part >= 2 * local_noise
        (before if blur_before else after)[ys, xs] += part
    return before, after, truth


def _strokes(truth, rng):
    """A box whose every spot is 1, and a few 3 px strokes of background 0; the rest -1."""
    h, w = truth.shape
    mask = np.full((h, w), -1, np.int8)
    bh, bw = int(h * rng.uniform(0.4, 0.5)), int(w * rng.uniform(0.45, 0.55))
    y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
    box = np.zeros((h, w), bool)
    box[y0:y0 + bh, x0:x0 + bw] = True
    line = np.zeros((h, w), bool)
    for _ in range(rng.integers(3, 7)):
        (ya, yb), (xa, xb) = rng.uniform(0, h, 2), rng.uniform(0, w, 2)
        n = int(np.hypot(yb - ya, xb - xa)) + 1
        line[np.linspace(ya, yb, n).astype(int).clip(0, h - 1), np.linspace(xa, xb, n).astype(int).clip(0, w - 1)] = 1
    line = ndimage.binary_dilation(line, np.ones((3, 3), bool))
    near_spot = ndimage.binary_dilation(truth, np.ones((3, 3), bool))  # a stroke stops short of a spot it crosses
    mask[line & ~near_spot] = 0
    mask[box & truth] = 1
    mask[box & line & ~truth] = 0
    return mask


def make_other_spotty(kind, shape=(192, 256), seed=0) -> OtherSpotty:
    """An image of ``kind`` (:data:`KINDS`), its spots and a student's training mask."""
    rng = np.random.default_rng([KINDS.index(kind), seed])
    psf = rng.uniform(0.5, 1.0)
    if kind == "metal":
        ob, mu, pops, before, noise, labels = rng.uniform(1500, 5000), _metal(shape, rng), dict(
            single=0.5, cluster=0.3, streak=0.2), False, "poisson", "half"
    elif kind == "granular":
        ob, mu, pops, before, noise, labels = rng.uniform(800, 3000), _granular(shape, rng), dict(
            single=0.4, cluster=0.3, faint=0.3), True, "poisson", "strokes"
    elif kind == "dark":
        ob, mu, pops, before, noise, labels = rng.uniform(200, 1000), _dark(shape, rng), dict(
            streak=0.6, single=0.25, faint=0.15), False, "gauss", "half"
    elif kind == "faint":
        ob, mu, pops, before, noise, labels = rng.uniform(2000, 5000), _smooth(shape, rng), dict(
            faint=0.5, single=0.3, cluster=0.2), False, "poisson", "strokes"
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    beam = _open_beam(shape, ob, rng)
    expected = ndimage.gaussian_filter(beam * np.exp(-mu), psf)
    add_before, add_after, truth = _spots(shape, expected, pops, rng.uniform(0.003, 0.008), ob, before, psf, rng)
    if noise == "poisson":
        img = rng.poisson(expected + add_before).astype(float)
    else:
        img = expected + add_before + rng.normal(size=shape) * np.sqrt(expected + add_before + 36)
    if kind == "granular":  # the blur applied to the counted image: the noise is blurred too
        img = ndimage.gaussian_filter(rng.poisson(beam * np.exp(-mu)).astype(float), psf) + add_before
    img = img + add_after
    if kind == "metal":  # flat-field corrected: the transmission, not counts
        img = img / beam
    elif kind == "dark":  # a camera's ADU: gain and offset
        img = rng.uniform(0.5, 3.0) * img + 100
    if labels == "half":
        mask = truth.astype(np.int8)
        mask[:, shape[1] // 2:] = -1
    else:
        mask = _strokes(truth, rng)
    desc = (f"{kind}: open beam {ob:.0f}, PSF {psf:.2f} px, {noise}, spots {'before' if before else 'after'} blur, "
            f"{truth.sum()} spot px, {labels} labels ({(mask >= 0).mean():.1%} px, {(mask == 1).sum()} spots)")
    return OtherSpotty(img.astype(np.float32), truth, mask, desc, add_before + add_after, expected)
