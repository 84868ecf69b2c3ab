"""Images and label maps on disk: patterns, pairs, classes, normalised stacks (no torch)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ._gains import GAIN_LEVEL, MIN_GAIN, _gain_factors, fit_gains, image_gains  # noqa: F401 (re-exported: the gains' constants)
from ._labels import read_classes, read_labels  # noqa: F401 (re-exported: _data's readers)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _busy_cores(interval=0.2):
    """Cores kept busy by all processes over ``interval`` seconds (``/proc/stat``), or the load average."""
    def ticks():
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(t) for t in fh.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # total, idle + iowait

    try:
        t0, i0 = ticks()
        time.sleep(interval)
        t1, i1 = ticks()
        return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / max(t1 - t0, 1))
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0


def default_threads():
    """2 threads, or 1 when the machine is busy right now (more than all cores but 1.5 in use).

    Measured over a short interval, not from the 1-minute load average, which still counts a
    process that has just ended (two threads on a loaded shared 2-core machine ran 5-10 times
    slower than one).
    """
    cores = os.cpu_count() or 1
    if cores < 2:
        return 1
    return 1 if _busy_cores() > cores - 1.5 else 2




def read_image(path):
    """(H, W, C) uint8 of an image file: RGB (alpha dropped) or one grey channel. A 16-bit grey image (a BSE
    detector's) is scaled to 8 bits (levels / 257: ``convert("L")`` clipped every level over 255 to 255), a float
    one from 0-1 to 0-255."""
    from ..io._images import read_8bit

    arr = read_8bit(path)
    return arr[..., None] if arr.ndim == 2 else arr


def split_name(path, patterns):
    """``(role, stem without the pattern)`` of an image file, or ``(None, None)``.

    ``patterns`` maps a role (``"pp"``, ``"xp"``, ``"bse"``) to the affix that marks it in a
    file name (its last occurrence in the stem; ``ABC_3200.5_pp.jpg`` -> ``("pp", "ABC_3200.5")``).
    """
    stem = Path(path).stem
    best = (None, None, -1)
    for role, pat in patterns.items():
        if pat:
            i = stem.rfind(pat)
            if i >= 0 and i > best[2]:
                key = (stem[:i] + "\0" + stem[i + len(pat):])
                best = (role, key, i)
    return best[0], best[1]


def counterpart(path, role, patterns, key):
    """The file of ``role`` that goes with ``path`` (same stem, the other affix), or None."""
    path = Path(path)
    name = key.replace("\0", patterns[role])
    for suffix in (path.suffix,) + tuple(s for s in IMAGE_SUFFIXES if s != path.suffix):
        for cand in (path.with_name(name + suffix), path.with_name(name + suffix.upper())):
            if cand.exists():
                return cand
    return None


def output_stem(key):
    """``NAME`` of an image set: the stem without its affix and the separator before it."""
    a, b = key.split("\0")
    return (a.rstrip("_-. ") + b).strip("_-. ") or "image"


def find_sets(folder, patterns):
    """Image sets of a folder: ``{stem: {role: path}}`` (every role of ``patterns`` found; hidden files left out)."""
    sets: dict = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue  # hidden files: macOS's ._NAME_pp.jpg beside each picture copied from a Mac is no image
        role, key = split_name(path, patterns)
        if role is not None:
            if role in sets.setdefault(key, {}):  # a_pp.png and a_pp.jpg: which is the picture meant?
                raise ValueError(f"{sets[key][role].name} and {path.name} are both the {role.upper()} image of one "
                                 "set: keep one of them in the folder.")
            sets[key][role] = path
    out, first = {}, {}
    for k, v in sets.items():
        stem = output_stem(k)
        if stem in out:  # S1_2_pp.png and S1_pp_2.png: one set silently replaced the other
            raise ValueError(f"{first[stem].name} and {next(iter(v.values())).name} belong to two sets whose name is "
                             f"{stem}: rename one of them.")
        out[stem], first[stem] = v, next(iter(v.values()))
    return out


def find_labels(folder, stem):
    for suffix in ("_labels.npy", "_labels.png"):
        p = Path(folder) / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def stack(images, roles, names=None):
    """(H, W, C) float32 in [0, 1] of the images of ``roles``, checked to share one shape (``names``: role -> the
    file or variable named in the message when they do not)."""
    arrays = [images[r] for r in roles]
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) != 1:
        if names:  # which picture is which size (a bare list of shapes left the user to open each file)
            sizes = ", ".join(f"{names.get(r, r.upper())} is {images[r].shape[0]} x {images[r].shape[1]}"
                              for r in roles)
            raise ValueError(f"the images of one set must share their size: {sizes} pixels.")
        raise ValueError(f"the images of one set must share their size, got {sorted(shapes)}.")
    return np.concatenate([a.astype(np.float32) / 255.0 for a in arrays], axis=-1)


def overexposed(images, share=0.05):
    """``{role: share}`` of the 8-bit images whose pixels at full scale (255 in any channel) are at least ``share``
    of the image: a lamp, an exposure or a detector so bright that the levels above are lost."""
    out = {}
    for role, a in images.items():
        a = np.asarray(a)
        if a.dtype == np.uint8 and a.size:
            f = float((a.reshape(a.shape[0], a.shape[1], -1) == 255).any(axis=-1).mean())
            if f >= share:
                out[role] = f
    return out


def gain_sources(roles, channels):
    """role -> the role whose image sets its gains (see :func:`equalise_gains`).

    Each image sets its own, but a cross-polarised image takes the plane-polarised one's when both
    have the same channels: one lamp and one camera take both, and the mean of an XP image is
    that of its few bright crystals (the extinct ones and any glass are black), a level that
    changes from section to section with the crystals' orientations.
    """
    roles, channels = list(roles), list(channels)
    src = {r: r for r in roles}
    if "xp" in src and "pp" in src and channels[roles.index("xp")] == channels[roles.index("pp")]:
        src["xp"] = "pp"
    return src


def equalise_gains(x, inputs, channels, sources):
    """A (H, W, C) stack with each channel divided by its gain, brought to a mean level of :data:`GAIN_LEVEL`.

    The gain of a channel is the whole image's mean of that channel of its source role
    (``sources``, from :func:`gain_sources`): a brighter lamp, a longer exposure, a colour cast
    or a BSE contrast setting multiplies an image and is divided out here, so a model reads the
    levels of its minerals relative to the rest of the image (a quartz 9 % darker than andesine
    in BSE) rather than absolute levels that such a shift moves. The mean depends a little on
    the modal composition, which the model learns with the rock.
    """
    x = np.asarray(x, np.float32)
    return x * _gain_factors(x, inputs, channels, sources)


def normalise(x, meta):
    """Standardise a (H, W, C) stack with the model's channel means and deviations (after the
    images' gains are divided out, for a model trained so: ``meta["gains"]``)."""
    mean = np.asarray(meta["mean"], np.float32)
    std = np.asarray(meta["std"], np.float32)
    if x.shape[-1] != mean.size:
        raise ValueError(f"the model takes {mean.size} channels ({', '.join(meta['inputs'])}), "
                         f"the images give {x.shape[-1]}.")
    if not meta.get("gains"):
        return (x - mean) / std
    if meta.get("class_levels"):  # a model of session 59 on: the means unless its classes' levels move them (_gains)
        factors = image_gains(x, meta)
    else:  # the image's means (its modal composition moves them)
        factors = _gain_factors(x, meta["inputs"], meta["channels"], meta["gains"])
    # the gains folded into the standardisation: one array of the image's size, not two
    out = x * (factors / std)
    out -= mean / std
    return out


#: how far (relative) a coarser label map's two scale factors to its images may differ: 86 x 86 labels of 3 px on
#: 256 x 256 images are 2.977 times coarser both ways; 64 x 32 labels on 64 x 64 images (1 and 2) were stretched
ASPECT_TOL = 0.05


def upsample_labels(lab, shape, name="the label map"):
    """A label map on the image grid: nearest neighbour from a coarser map of the images' aspect (unchanged if
    the same size); a map larger than its images, or of another aspect, is refused (it was stretched silently)."""
    if lab.shape == tuple(shape):
        return lab
    fy, fx = shape[0] / max(lab.shape[0], 1), shape[1] / max(lab.shape[1], 1)
    if fy < 1 or fx < 1 or abs(fy - fx) > ASPECT_TOL * max(fy, fx):
        raise ValueError(f"{name} is {lab.shape[0]} x {lab.shape[1]} for images of {shape[0]} x {shape[1]} pixels: a "
                         "label map must be the images' size, or coarser by one factor both ways.")
    ry = np.arange(shape[0]) * lab.shape[0] // shape[0]
    rx = np.arange(shape[1]) * lab.shape[1] // shape[1]
    return lab[ry[:, None], rx[None, :]]


def shift_labels(lab, dy, dx):
    """``lab`` moved by ``(dy, dx)`` whole pixels; ``-1`` where nothing moves in."""
    out = np.full_like(lab, -1)
    h, w = lab.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[dst_y, dst_x] = lab[src_y, src_x]
    return out


def _within_class_variance(x, lab):
    ok = lab >= 0
    cls, xs = lab[ok], x[ok]
    if cls.size == 0:
        return np.inf
    n = np.bincount(cls)
    has = n > 0
    total = 0.0
    for c in range(xs.shape[1]):
        s1 = np.bincount(cls, xs[:, c])[has]
        s2 = np.bincount(cls, xs[:, c] * xs[:, c])[has]
        total += float((s2 - s1 * s1 / n[has]).sum())
    return total / cls.size


def register_labels(x, lab, max_shift=5):
    """Align a label map with its images: the whole-pixel shift that best explains the images.

    A QEMSCAN or EDS phase map laid on optical / BSE images of the same area is off by a few
    pixels. Of the shifts within ``max_shift`` pixels, the one that minimises the within-class
    variance of the image channels (the labels' boundaries on the images' boundaries) is kept.
    Assumes a pure translation, and that the phases differ on average in at least one channel.

    Parameters
    ----------
    x : ndarray
        (H, W, C) float image stack.
    lab : ndarray
        (H, W) integer labels on the same grid (``-1`` unlabelled).
    max_shift : int
        Largest shift tried along each axis.

    Returns
    -------
    labels : ndarray
        The shifted labels (``-1`` where the shift leaves no label).
    shift : tuple of int
        ``(dy, dx)`` applied.
    """
    if max_shift <= 0:
        return lab, (0, 0)
    # the criterion on a subsample of rows and columns when the image is large (it is smooth in the shift)
    step = max(1, int(np.sqrt(lab.size / 250_000)))
    xs, ls = x[::step, ::step], lab
    shifts = sorted(((dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)),
                    key=lambda s: (abs(s[0]) + abs(s[1]), s))  # ties go to the smaller shift
    best = (np.inf, 0, 0)
    for dy, dx in shifts:
        v = _within_class_variance(xs, shift_labels(ls, dy, dx)[::step, ::step])
        if v < best[0]:
            best = (v, dy, dx)
    return shift_labels(lab, best[1], best[2]), (best[1], best[2])


def refine_labels(x, lab, sigma=2.0):
    """Move the labels of boundary pixels to the neighbouring phase they look like.

    A label map coarser than its images (a 3 px EDS pixel on 1 px optical pixels) is blocky:
    along every boundary, pixels carry the label of the coarse pixel they fall in. Each pixel
    whose 3 x 3 neighbourhood holds more than one label takes, of the labels present in its
    5 x 5 neighbourhood, the one whose nearby inner pixels (Gaussian weights of ``sigma``
    pixels, boundary pixels left out) have the mean colour closest to its own, each channel in
    units of its noise (the robust spread of its residual to a 1 px Gaussian), so that a small
    BSE step counts as much as a large XP one of the same significance. One pass.
    Assumes that each phase's colour varies little over a few pixels (one crystal) and that
    boundaries are sharper than the label pixel.

    Parameters
    ----------
    x : ndarray
        (H, W, C) float image stack.
    lab : ndarray
        (H, W) integer labels on the image grid, registered (``-1`` unlabelled).
    sigma : float
        Scale (pixels) of the local mean colours.

    Returns
    -------
    ndarray
        The refined labels (same dtype; unlabelled pixels stay unlabelled).
    """
    from scipy import ndimage

    # each channel in units of its own noise (the spread of its residual to a 1 px blur): a BSE level 0.03 apart
    # under a noise of 0.04 counts as much as an XP colour of the same contrast
    noise = np.empty(x.shape[-1])
    for c in range(x.shape[-1]):  # one channel at a time: a large image's residual is not held whole
        r = x[..., c] - ndimage.gaussian_filter(x[..., c], 1.0)
        noise[c] = 1.4826 * np.median(np.abs(r - np.median(r)))
    x = x / np.maximum(noise, 1e-3).astype(np.float32)
    valid = lab >= 0
    hi = ndimage.maximum_filter(lab, size=3)
    lo = ndimage.minimum_filter(np.where(valid, lab, np.iinfo(lab.dtype).max), size=3)
    band = valid & (hi != lo)
    inner = valid & ~band
    best = np.full(lab.shape, np.inf)
    out = lab.copy()
    for k in np.unique(lab[band]):
        w = (inner & (lab == k)).astype(np.float64)
        near = ndimage.gaussian_filter(w, sigma)
        cand = band & (near > 0.02) & ndimage.maximum_filter(lab == k, size=5)
        if not cand.any():
            continue
        mean = np.stack([ndimage.gaussian_filter(x[..., c] * w, sigma) for c in range(x.shape[-1])], -1)
        mean /= np.maximum(near, 1e-9)[..., None]
        d = ((x - mean) ** 2).sum(-1)
        take = cand & (d < best)
        best[take] = d[take]
        out[take] = k
    return out
