"""A trained model ready to run (ONNX Runtime, or torch when no ONNX file is at hand) and the
tiled prediction of an image of any size in bounded memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import phaselib.deep._data as _data
from phaselib.deep._meta import check_meta

#: context each side of a window that is not kept: more than the U-Net's receptive radius
#: (about 51 pixels at depth 3), so stitched windows equal the whole-image prediction
MARGIN = 64


class Segmenter:
    """A model: its metadata (``meta``) and ``logits(batch)`` on (N, C, h, w) float32."""

    def __init__(self, meta, run, backend, name="the model"):
        self.meta, self._run, self.backend = check_meta(meta, name), run, backend

    def logits(self, batch):
        out = self._run(np.ascontiguousarray(batch, np.float32))
        if out.ndim != 4 or out.shape[1] != len(self.meta["classes"]):
            raise ValueError(f"the model's network gives {out.shape[1] if out.ndim == 4 else '?'} classes and its "
                             f"metadata names {len(self.meta['classes'])}: a damaged model file.")
        return out

    @property
    def classes(self):
        return list(self.meta["classes"])

    def __repr__(self):
        return (f"<Segmenter {self.backend}: {', '.join(self.meta['inputs'])} -> "
                f"{len(self.meta['classes'])} classes>")


def _onnx_session(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _data.default_threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - a corrupt file, whatever ORT raises
        raise ValueError(f"{Path(path).name} is not a readable ONNX model.") from None
    meta = sess.get_modelmeta().custom_metadata_map.get("phaselib")
    if meta is None:
        raise ValueError(f"{Path(path).name} is an ONNX model without phaselib's metadata.")
    name = sess.get_inputs()[0].name
    try:
        meta = json.loads(meta)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        raise ValueError(f"{Path(path).name} holds damaged phaselib metadata.") from None
    return Segmenter(meta, lambda x: sess.run(None, {name: x})[0], "onnxruntime", Path(path).name)


def onnx_twin(path):
    """The ONNX file written beside a model file (``model.pt`` -> ``model.onnx``)."""
    path = Path(path)
    return path if path.suffix == ".onnx" else path.with_suffix(".onnx")


def load_model(path, *, backend="auto"):
    """Open a model file for prediction.

    Parameters
    ----------
    path : str or Path
        A ``.onnx`` file, or the model file of ``segment train`` (its ONNX twin,
        ``MODEL.onnx`` beside it, is used when ONNX Runtime is installed).
    backend : {"auto", "onnxruntime", "torch"}

    Returns
    -------
    Segmenter
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path.name}.")
    twin = onnx_twin(path)
    if backend in ("auto", "onnxruntime") and twin.is_file():
        try:
            return _onnx_session(twin)
        except ImportError:
            if backend == "onnxruntime" or path == twin:
                raise ImportError("ONNX Runtime is needed: pip install 'phaselib[infer]'.") from None
    if path.suffix == ".onnx" or backend == "onnxruntime":
        raise ValueError(f"no ONNX model for {path.name}.")
    try:
        import torch

        import phaselib.deep._model as _model
    except ImportError:
        raise ImportError(f"torch is needed to read {path.name} (pip install 'phaselib[deep]'), "
                          f"or its ONNX twin {twin.name}.") from None
    net, meta = _model.load(path)

    def run(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return Segmenter(meta, run, "torch", path.name)


def _windows(length, tile, margin):
    """``(start, keep_from, keep_to)`` of windows of ``tile`` covering ``length`` (both multiples of 8)."""
    if length <= tile:
        return [(0, 0, length)]
    step = tile - 2 * margin
    starts = list(range(0, length - tile, step)) + [length - tile]
    out = []
    for i, p in enumerate(starts):
        a = 0 if i == 0 else (starts[i - 1] + tile + p) // 2
        b = length if i == len(starts) - 1 else (p + tile + starts[i + 1]) // 2
        out.append((p, a, b))
    return out


_FLIPS = ((), (3,), (2,), (2, 3))  # identity, left-right, up-down, both (a half turn)


def _logits(model, stack, views):
    """Logits of a (N, C, H, W) stack, or the log of the mean softmax over ``views`` flips."""
    if views <= 1:
        return model.logits(stack)
    total = 0.0
    for axes in _FLIPS[:views]:
        lg = model.logits(np.ascontiguousarray(np.flip(stack, axes)) if axes else stack)
        lg = np.flip(lg, axes) if axes else lg
        e = np.exp(lg - lg.max(axis=1, keepdims=True))
        total = total + e / e.sum(axis=1, keepdims=True)
    return np.log(total / views + 1e-12)


def predict(model, image, *, tile=512, margin=MARGIN, batch=4, probabilities=False, views=1):
    """Segment an image stack window by window (bounded memory), exactly as in one piece.

    Parameters
    ----------
    model : Segmenter
    image : (H, W, C) array
        Channels in [0, 1] in the order of ``model.meta["inputs"]`` (not yet normalised).
    tile : int
        Window side (a multiple of ``2**depth``; at least ``2 * margin + 2**depth``).
    margin : int
        Context dropped each side of a window (default above the receptive radius).
    batch : int
        Windows per call of the network.
    probabilities : bool
        Also return the (H, W, K) float32 softmax.
    views : int
        1, 2, 3 or 4: the mean softmax of the image and of its mirror images (left-right,
        up-down, both), window by window; ``views`` times the time, usually a little more
        accurate (test-time augmentation).

    Returns
    -------
    labels : (H, W) ndarray of int16
    probabilities : (H, W, K) ndarray of float32, only with ``probabilities=True``
    """
    if int(views) not in (1, 2, 3, 4):
        raise ValueError(f"views must be 1, 2, 3 or 4, got {views}.")
    views = int(views)
    x = _data.normalise(np.asarray(image, np.float32), model.meta)
    h, w, _ = x.shape
    m = 2 ** int(model.meta["depth"])
    tile, margin = int(tile), int(margin)
    if tile % m or margin % m or tile < 2 * margin + m:
        raise ValueError(f"the tile ({tile} px) and its overlap margin ({margin} px) must be multiples of {m}, the "
                         f"tile at least twice the margin plus {m} ({2 * margin + m} px here).")
    hp, wp = -(-h // m) * m, -(-w // m) * m
    if (hp, wp) != (h, w):
        x = np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    k = len(model.meta["classes"])
    offsets = np.asarray(model.meta.get("class_offsets") or np.zeros(k), np.float32)[:, None, None]
    labels = np.empty((hp, wp), np.int16)
    prob = np.empty((hp, wp, k), np.float32) if probabilities else None
    jobs = [(r, c) for r in _windows(hp, tile, margin) for c in _windows(wp, tile, margin)]
    for i in range(0, len(jobs), batch):
        group = jobs[i:i + batch]
        shapes = {(min(tile, hp), min(tile, wp))}
        th, tw = shapes.pop()
        stack = np.stack([x[r[0]:r[0] + th, c[0]:c[0] + tw].transpose(2, 0, 1) for r, c in group])
        out = _logits(model, stack, views) + offsets  # the class offsets of the training (_calibrate.py)
        for (r, c), lg in zip(group, out):
            core = lg[:, r[1] - r[0]:r[2] - r[0], c[1] - c[0]:c[2] - c[0]]
            labels[r[1]:r[2], c[1]:c[2]] = core.argmax(axis=0)
            if prob is not None:
                e = np.exp(core - core.max(axis=0, keepdims=True))
                prob[r[1]:r[2], c[1]:c[2]] = (e / e.sum(axis=0, keepdims=True)).transpose(1, 2, 0)
    if probabilities:
        return labels[:h, :w], prob[:h, :w]
    return labels[:h, :w]


def load_set(paths, meta):
    """(H, W, C) stack of an image set ``{role: path}`` in the model's input order."""
    missing = [r for r in meta["inputs"] if r not in paths]
    if missing:
        raise ValueError(f"the model needs the {', '.join(missing)} image(s), not found.")
    images = {r: _data.read_image(paths[r]) for r in meta["inputs"]}
    for r, ch in zip(meta["inputs"], meta["channels"]):
        img = images[r]
        if img.shape[-1] == ch:
            continue
        if ch == 1 and (img == img[..., :1]).all():  # grey saved in colour channels
            images[r] = img[..., :1]
            continue
        # a grey picture repeated into a colour model's channels (or a colour one's red channel) was segmented
        # without a word: 0.41 of the pixels right where the colour picture gave 0.995
        raise ValueError(f"the model was trained on {'grey' if ch == 1 else 'colour'} {r.upper()} images; "
                         f"{Path(paths[r]).name} is {'a grey' if img.shape[-1] == 1 else 'a colour'} picture.")
    return _data.stack(images, meta["inputs"], {r: Path(paths[r]).name for r in meta["inputs"]})
