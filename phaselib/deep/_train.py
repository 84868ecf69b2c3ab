"""Training of the U-Net on a folder of images and label maps (imports torch)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage import measure

import phaselib.deep._data as _data
import phaselib.deep._model as _model

from .._atomic import atomic_file
from .._validate import check_int, check_number
from ._gains import class_levels, training_gains
from ._meta import MAX_MM_PER_PIXEL, MAX_TILE
from ._runner import onnx_twin

#: the default tile side: always taken, even on images smaller than half of it
DEFAULT_TILE = 96


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: ``losses`` (mean loss of each epoch), ``meta``, wall ``seconds``,
    ``cpu_seconds`` (this process's CPU time: the wall time of a quiet machine at one thread), files."""

    losses: tuple
    meta: dict
    seconds: float
    model_path: str
    onnx_path: str | None
    cpu_seconds: float = float("nan")


def load_folder(folder, patterns, max_shift=5, refine=True, log=None):
    """``(stacks, labels, stems, roles, channels, shifts)`` of every labelled image set of ``folder``.

    Label maps coarser than their images are brought to the image grid (nearest neighbour), then
    registered to the images (:func:`._data.register_labels`, shifts up to ``max_shift`` pixels;
    0: as given); with ``refine``, the labels of boundary pixels are then moved to the
    neighbouring phase they look like (:func:`._data.refine_labels`). A set without its label map or one of its
    images is skipped, with a line to ``log`` (only the count of sets trained on said so).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder.name}.")
    roles = [r for r in ("pp", "xp", "bse") if patterns.get(r)]
    if not roles:
        raise ValueError("give at least one of --pp-pattern, --xp-pattern, --bse-pattern.")
    stacks, labels, stems, shifts, channels = [], [], [], [], None
    for stem, paths in _data.find_sets(folder, {r: patterns[r] for r in roles}).items():
        lab_path = _data.find_labels(folder, stem)
        lacking = [f"{r.upper()} image ({patterns[r]})" for r in roles if r not in paths]
        if lab_path is None:
            lacking.append(f"label map ({stem}_labels.npy/.png)")
        if lacking:
            if log is not None:
                log(f"note: {stem}: no {' and no '.join(lacking)}; skipped")
            continue
        images = {r: _data.read_image(paths[r]) for r in roles}
        ch = [images[r].shape[-1] for r in roles]
        if channels is None:
            channels = ch
        elif ch != channels:
            raise ValueError(f"the images of {stem} have {ch} channels, the others {channels}.")
        x = _data.stack(images, roles, {r: paths[r].name for r in roles})
        lab = _data.upsample_labels(_data.read_labels(lab_path), x.shape[:2], f"the label map {lab_path.name}")
        if not (lab >= 0).any():  # it was trained on: tiles of nothing to learn, listed among the sets trained on
            if log is not None:
                log(f"note: {stem}: its label map {lab_path.name} has no labelled pixel; skipped")
            continue
        lab, shift = _data.register_labels(x, lab, max_shift)
        if log is not None and max_shift > 0 and max(abs(v) for v in shift) >= max_shift:
            log(f"note: {stem}: its labels were moved by {shift[0]}, {shift[1]} px, the most --max-shift allows: "
                "they may be off by more (a larger --max-shift)")
        if refine:
            lab = _data.refine_labels(x, lab)
        stacks.append(x)
        labels.append(lab)
        stems.append(stem)
        shifts.append(shift)
    if not stacks:
        raise ValueError(f"no labelled image set in {folder.name} (NAME_<pattern>.png and NAME_labels.npy/.png).")
    return stacks, labels, stems, roles, channels, shifts


def _resample(x, y, zoom):
    """A tile and its labels zoomed by ``zoom`` (linear for the image, nearest for the labels)."""
    h, w = y.shape
    oh, ow = max(1, int(round(h * zoom))), max(1, int(round(w * zoom)))
    rr = np.clip((np.arange(oh) + 0.5) / zoom - 0.5, 0, h - 1)
    cc = np.clip((np.arange(ow) + 0.5) / zoom - 0.5, 0, w - 1)
    grid = np.meshgrid(rr, cc, indexing="ij")
    xo = np.stack([ndimage.map_coordinates(x[..., k], grid, order=1) for k in range(x.shape[-1])], -1)
    yo = y[np.rint(rr).astype(int)[:, None], np.rint(cc).astype(int)[None, :]]
    return xo, yo


#: the tiles' random gain (uniform, +-), per-channel gain (normal), offset (normal) and ceiling of the light / detector:
#: wide for images at their own levels, narrow once each image's gains are divided out: what is left is how the
#: images' means move with their modal composition (a mineral's level over its image's mean varies by ~1 % from
#: section to section), well under the levels that tell minerals apart (BSE: quartz 0.84 of the mean, andesine 0.92)
JITTER = {False: (0.2, 0.06, 0.03, 1.0), True: (0.02, 0.01, 0.008, None)}
#: half of the tiles are blurred by a Gaussian of sigma drawn in this range (pixels): a focus less sharp than the
#: training images'
BLUR = (0.3, 0.8)
#: the share of a tile's label regions drawn dark between crossed polars (its XP channels scaled by 0-0.1): any
#: crystal cut across its optic axis stays dark at every stage angle, like a glass; the network then learns such a
#: crystal from its PP and BSE levels, which a few training sections seldom show it (a dacite's andesine read as glass)
DARK_XP = 0.1


def _dark_xp(rng, xt, yt, xp, share=DARK_XP):
    """``xt`` with the XP channels (slice ``xp``) of a random ``share`` of ``yt``'s connected label regions dark."""
    parts = measure.label(yt + 1, background=0, connectivity=1)  # each region of one label; -1 (unlabelled): none
    pick = rng.random(parts.max() + 1) < share
    pick[0] = False
    hit = pick[parts]
    if not hit.any():
        return xt
    mask = ndimage.gaussian_filter(hit.astype(np.float32), 0.7)[..., None]  # the images' blur at the edge
    xt = xt.copy()
    xt[..., xp] *= 1.0 - mask * (1.0 - rng.uniform(0.0, 0.1))
    return xt


def _tiles(rng, stacks, labels, tile, batch, zoom_range=0.0, jitter=JITTER[False], blur=BLUR, xp=None):
    weights = np.array([lab.size for lab in labels], float)
    xs, ys = [], []
    for i in rng.choice(len(stacks), size=batch, p=weights / weights.sum()):
        x, y = stacks[i], labels[i]
        h, w = y.shape
        zoom = np.exp(rng.uniform(-zoom_range, zoom_range)) if zoom_range else 1.0
        side = int(round(tile / zoom))  # a window of the image resampled to the tile: other grain sizes
        th, tw = min(side, h), min(side, w)
        r, c = rng.integers(0, h - th + 1), rng.integers(0, w - tw + 1)
        xt, yt = x[r:r + th, c:c + tw], y[r:r + th, c:c + tw]
        if side != tile:
            xt, yt = _resample(xt, yt, tile / side)
            th, tw = yt.shape
        if (th, tw) != (tile, tile):
            xt = np.pad(xt, ((0, tile - th), (0, tile - tw), (0, 0)), mode="reflect")
            yt = np.pad(yt, ((0, tile - th), (0, tile - tw)), constant_values=-1)
        k = rng.integers(4)
        xt, yt = np.rot90(xt, k), np.rot90(yt, k)
        if rng.random() < 0.5:
            xt, yt = xt[:, ::-1], yt[:, ::-1]
        if xp is not None:
            xt = _dark_xp(rng, xt, yt, xp)
        if blur and rng.random() < 0.5:
            sig = rng.uniform(*blur)
            xt = ndimage.gaussian_filter(xt, (sig, sig, 0))
        # brightness and colour shifts of the light / detector, per image role channel
        gain = rng.uniform(1 - jitter[0], 1 + jitter[0]) * rng.normal(1.0, jitter[1], xt.shape[-1])
        xt = np.clip(xt * gain + rng.normal(0.0, jitter[2], xt.shape[-1]), 0, jitter[3])
        xs.append(xt)
        ys.append(yt)
    return np.stack(xs), np.stack(ys)


def _loss(logits, target, n_classes):
    if not bool((target >= 0).any()):  # a batch of unlabelled tiles (sparse strokes): cross-entropy of nothing is NaN,
        return logits.sum() * 0.0      # and one NaN step made every weight NaN
    ce = F.cross_entropy(logits, target, ignore_index=-1)
    valid = (target >= 0).unsqueeze(1)
    prob = torch.softmax(logits, dim=1) * valid
    onehot = F.one_hot(target.clamp(min=0), n_classes).permute(0, 3, 1, 2) * valid
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    dice = (2 * inter[present] + 1) / (denom[present] + 1)
    return ce + (1 - dice.mean())


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("phaselib")
    except PackageNotFoundError:
        return None


def one_cycle(progress, peak, warm=0.15):
    """Learning rate at ``progress`` (0-1) of a run: linear warm-up from ``peak / 25`` to ``peak``
    over the first ``warm``, then cosine annealing to ``peak / 1e4``."""
    if progress < warm:
        return peak / 25 + (peak - peak / 25) * progress / warm
    t = min(1.0, (progress - warm) / (1 - warm))
    return peak / 1e4 + (peak - peak / 1e4) * 0.5 * (1 + math.cos(math.pi * t))


def train(images, out, *, patterns=None, epochs=1200, tile=DEFAULT_TILE, seed=0, batch=8, width=8, depth=3,
          lr=3e-3, mm_per_pixel=None, max_shift=5, refine_labels=True, zoom_range=0.5, onnx=True, max_seconds=None,
          threads=None, log=None, calibrate=True, equalise_gains=True):
    """Train a U-Net on a folder of images and label maps; write the model (and its ONNX twin).

    Parameters
    ----------
    images : str or Path
        Folder of ``NAME_<pattern>.png`` images and ``NAME_labels.npy`` (or ``.png``) maps
        (integers, ``-1`` unlabelled), with an optional ``classes.csv`` (``Name,Index,Color``).
    out : str or Path
        The model file (torch state dict + JSON metadata); the ONNX twin goes beside it.
    patterns : dict, optional
        role (``"pp"``, ``"xp"``, ``"bse"``) -> file affix; default ``{"pp": "_pp", "xp": "_xp"}``.
    epochs : int
        Passes; one pass draws as many tiles as cover the images once.
    tile, batch : int
        Tile side (a multiple of ``2**depth``, at most 4096 and at most twice the largest image's
        side, or 96) and tiles per step.
    seed : int
        0 to ``2**32 - 1``.
    width, depth : int
        Channels of the first level and number of poolings of the U-Net.
    lr : float
        Peak learning rate (Adam, one-cycle schedule).
    mm_per_pixel : float, optional
        Pixel size of the images, recorded in the model (above 0, at most 1000 mm).
    max_shift : int
        Each label map is shifted by up to this many pixels to fit its images (the registration
        error of an EDS / QEMSCAN map); the shifts are recorded in the model. 0: labels as given.
    refine_labels : bool
        Give boundary pixels of a (coarse) label map the label of the neighbouring phase they
        look like before training.
    zoom_range : float
        Tiles are zoomed by a factor drawn log-uniformly in ``exp(+-zoom_range)`` (grains finer
        and coarser than the training images': 0.5, x0.6 to x1.65); 0: no zoom.
    onnx : bool
        Write the ONNX twin (needs the ``onnx`` package).
    max_seconds : float, optional
        Time budget of the training loop. The learning-rate schedule runs on the progress: the
        steps done, or the time spent once it leads them (by 2 % of the run), so a run that would
        take longer ends on time with its schedule compressed (a fully annealed model, fewer
        steps), and a run within its budget does not depend on timing.
    threads : int, optional
        torch CPU threads; default 2, or 1 when more than all cores but 1.5 are busy at the start
        (two threads on a shared, loaded 2-core machine ran 5-10 times slower than one here).
    log : callable, optional
        Called with a line of text per epoch.
    calibrate : bool
        Fit one offset per class on the training images so that the model's modal fractions there are those of
        the labels (``meta["class_offsets"]``, used by every prediction; see :mod:`._calibrate`).
    equalise_gains : bool
        Divide each image by its gains (its mean per channel; an XP image by its PP image's) before the
        network sees it, in training and in every prediction (``meta["gains"]``;
        :func:`._data.equalise_gains`), so the model does not depend on the lamp, the exposure, a colour cast or
        the BSE contrast. False: images at their own levels, learnt under wide random gains.

    Returns
    -------
    TrainResult
    """
    if onnx:  # before minutes of training, not after them
        try:
            import onnx as _onnx  # noqa: F401
        except ImportError:
            raise ImportError("the model's ONNX twin needs the onnx package: pip install 'phaselib[deep]' "
                              "(or train with onnx=False).") from None
    patterns = {"pp": "_pp", "xp": "_xp"} if patterns is None else dict(patterns)
    epochs = check_int(epochs, "epochs")
    tile = check_int(tile, "tile", low=16, high=MAX_TILE)
    depth = check_int(depth, "depth", high=5)
    width = check_int(width, "width", low=2, high=128)
    if tile % 2 ** depth:
        raise ValueError(f"tile must be a multiple of {2 ** depth}, got {tile}.")
    seed = check_int(seed, "seed", low=0, high=2**32 - 1)  # (torch and numpy seeds are 32 or 64 bits)
    lr = check_number(lr, "lr", low=0, low_open=True)
    mm_per_pixel = check_number(mm_per_pixel, "mm_per_pixel", low=0, low_open=True, high=MAX_MM_PER_PIXEL,
                                allow_none=True)  # (a model recording more would not open)
    Path(out).parent.mkdir(parents=True, exist_ok=True)  # before the training, not after
    threads = int(threads) if threads else _data.default_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stacks, labels, stems, roles, channels, shifts = load_folder(images, patterns, max_shift, refine_labels, log=log)
    side = max(max(lab.shape) for lab in labels)
    most = max(-(-2 * side // 2 ** depth) * 2 ** depth, DEFAULT_TILE)
    if tile > most:  # a tile mostly of mirrored padding; a batch of big ones exhausts the memory
        raise ValueError(f"the tile side ({tile} px) must be at most {most} px for these images (twice the largest "
                         f"image's side, {side} px, or {DEFAULT_TILE}).")
    sources = _data.gain_sources(roles, channels) if equalise_gains else None
    if "xp" in roles:
        at = sum(channels[:roles.index("xp")])
        xp = slice(at, at + channels[roles.index("xp")])
    else:
        xp = None
    n_classes = int(max(lab.max() for lab in labels)) + 1
    if n_classes < 2:
        raise ValueError("the label maps hold fewer than two classes.")
    if sources:  # each image's gains: its means, or fitted on its classes where its modal composition moves them
        factors = training_gains(stacks, labels, roles, channels, sources, n_classes)
        stacks = [x * f for x, f in zip(stacks, factors)]
    classes, colours = _data.read_classes(images, n_classes)
    n_classes = len(classes)  # classes.csv may name more than the label maps still hold (a speck refined away)
    levels = class_levels(stacks, labels, n_classes) if sources else None  # what predictions fit their gains to
    used = np.unique(np.concatenate([np.unique(lab[lab >= 0]) for lab in labels]))
    if log is not None and n_classes - used.size > max(2, used.size):  # ids 10, 20, 30, 40: 41 classes, 37 empty
        log(f"note: the label maps use {used.size} ids of 0 to {n_classes - 1}; the model has a class for each of "
            f"the {n_classes} (numbering the classes 0, 1, 2... keeps it small)")
    flat = np.concatenate([x.reshape(-1, x.shape[-1]) for x in stacks])
    meta = dict(format=_model.FORMAT, inputs=roles, patterns={r: patterns[r] for r in roles}, channels=channels,
                classes=classes, colors=colours, tile=tile, width=int(width), depth=depth,
                gains=sources, class_levels=levels, mean=flat.mean(axis=0).round(6).tolist(),
                std=np.maximum(flat.std(axis=0), 1e-3).round(6).tolist(),
                mm_per_pixel=mm_per_pixel, trained_on=stems, label_shifts=[list(v) for v in shifts], epochs=epochs,
                seed=seed)
    del flat
    net = _model.build(meta)
    mean, std = np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32)
    per_epoch = max(1, math.ceil(sum(lab.size for lab in labels) / tile ** 2 / batch))
    total = per_epoch * epochs
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t0, c0, losses, step = time.perf_counter(), time.process_time(), [], 0
    budget = float(max_seconds) if max_seconds is not None else math.inf
    progress = 0.0
    for epoch in range(epochs):
        net.train()
        acc, done = 0.0, 0
        for _ in range(per_epoch):
            # one-cycle rate on the progress: the steps done, or the time spent of the budget once it
            # leads by 2 % of the run (so that a run within its budget is reproducible step for step)
            spent = (time.perf_counter() - t0) / budget
            progress = spent if spent > step / total + 0.02 else step / total
            if progress >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = one_cycle(progress, lr)
            x, y = _tiles(rng, stacks, labels, tile, batch, zoom_range, JITTER[bool(sources)], xp=xp)
            xb = torch.from_numpy(((x - mean) / std).transpose(0, 3, 1, 2).astype(np.float32))
            loss = _loss(net(xb), torch.from_numpy(y.astype(np.int64)), n_classes)
            opt.zero_grad()
            loss.backward()
            opt.step()
            acc += loss.item()
            step += 1
            done += 1
        if done:
            losses.append(acc / done)
            if log:
                log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} ({time.perf_counter() - t0:.0f} s)")
        if progress >= 1.0:
            if log and step < total:
                log(f"time budget reached after {step} of {total} steps; the rate schedule was compressed to fit")
            break
    meta["steps"] = step
    # how the model was made (session 59: the options and threads were not recorded; a run within its budget is
    # reproducible with the same seed and threads, so both are needed to make it again)
    meta["training"] = dict(batch=int(batch), lr=float(lr), zoom_range=float(zoom_range), max_shift=int(max_shift),
                            refine_labels=bool(refine_labels), equalise_gains=bool(equalise_gains),
                            calibrate=bool(calibrate), max_seconds=None if max_seconds is None else float(max_seconds),
                            threads=threads, steps_planned=total, budget_reached=bool(step < total),
                            seconds=round(time.perf_counter() - t0, 1), phaselib=_version(), torch=torch.__version__)
    net.eval()
    if calibrate:
        from ._calibrate import training_offsets
        from ._runner import Segmenter

        def run(x):
            with torch.inference_mode():
                return net(torch.from_numpy(x)).numpy()
        # past its time budget, the training images are predicted in one view, not four (a 30 s budget took 173 s)
        views = 1 if time.perf_counter() - t0 >= budget else 4
        # the stacks are equalised already: predicted as the network saw them in training
        seen = {**meta, "gains": None, "class_levels": None}
        meta["class_offsets"] = training_offsets(Segmenter(seen, run, "torch"), stacks, labels, views=views)
    out = Path(out)
    model_path = out if out.suffix != ".onnx" else out.with_suffix(".pt")
    onnx_path = onnx_twin(model_path) if onnx else None
    # an earlier model's ONNX twin goes first: beside the new .pt it would be run in its place (`load_model` prefers
    # the twin) should the export fail; both files are written whole or not at all
    for old in (onnx_twin(model_path),) if onnx_twin(model_path) != model_path else ():
        if old.is_file() or old.is_symlink():
            old.unlink()
    with atomic_file(model_path, overwrite=True) as tmp:
        _model.save(tmp, net, meta)
    if onnx:
        with atomic_file(onnx_path, overwrite=True) as tmp:
            _model.export_onnx(tmp, net, meta)
    return TrainResult(tuple(losses), meta, time.perf_counter() - t0, str(model_path),
                       None if onnx_path is None else str(onnx_path), time.process_time() - c0)
