"""The U-Net (plain PyTorch) and the model file: a state dict and JSON metadata in one file.

Imports torch: only :mod:`._train` and the torch route of :mod:`._runner` import this module.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

FORMAT = "phaselib-deep-1"


def _block(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A small U-Net: ``depth`` poolings, ``width * 2**level`` channels, logits out.

    Parameters
    ----------
    in_channels, n_classes : int
    width : int
        Channels of the first level.
    depth : int
        Number of 2 x 2 max poolings (the input sides must be multiples of ``2**depth``).
    """

    def __init__(self, in_channels, n_classes, width=12, depth=3):
        super().__init__()
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, chans[0])] +
                                  [_block(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(depth)])
        self.merge = nn.ModuleList([_block(2 * chans[i], chans[i]) for i in range(depth)])
        self.head = nn.Conv2d(chans[0], n_classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for i in reversed(range(len(self.up))):
            x = self.merge[i](torch.cat([skips.pop(), self.up[i](x)], dim=1))
        return self.head(x)


def build(meta):
    """The U-Net that ``meta`` describes (untrained)."""
    return UNet(sum(meta["channels"]), len(meta["classes"]), meta["width"], meta["depth"])


def save(path, model, meta):
    """Write ``{"meta": JSON text, "state_dict": ...}`` with :func:`torch.save`."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "meta": json.dumps(meta), "state_dict": model.state_dict()}, buf)
    Path(path).write_bytes(buf.getvalue())


def load(path):
    """``(model in eval mode, meta)`` from a file written by :func:`save`."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        ok = isinstance(blob, dict) and blob.get("format") == FORMAT
    except Exception:  # noqa: BLE001 - any unreadable file is the same error of the input
        ok = False
    if not ok:
        raise ValueError(f"{Path(path).name} is not a phaselib segmentation model.")
    from ._meta import check_meta

    try:
        meta = check_meta(json.loads(blob["meta"]), Path(path).name)
        model = build(meta)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError, json.JSONDecodeError):  # weights that do not fit the metadata
        raise ValueError(f"{Path(path).name} is a damaged phaselib segmentation model.") from None
    return model.eval(), meta


def export_onnx(path, model, meta):
    """Write the model as ONNX (dynamic batch and sides), its metadata in ``metadata_props``."""
    import onnx

    model = model.eval()
    x = torch.zeros(1, sum(meta["channels"]), 64, 64)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter on purpose: the new one needs onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (x,), buf, input_names=["image"], output_names=["logits"], dynamo=False,
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
                          opset_version=17)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = "phaselib", json.dumps(meta)
    onnx.save(proto, str(path))
