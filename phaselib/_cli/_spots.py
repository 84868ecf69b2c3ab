"""``python -m phaselib spots IMAGE --train MASK --out DIR``: bright spots found and cleaned."""

from __future__ import annotations

import time
from pathlib import Path

from .._serialize import dumps
from ._common import _int_at_least

#: the files the command writes
RESULT_FILES = ("spots.npy", "cleaned.npy", "confusion.csv", "summary.json")


def add_parser(subparsers):
    """Add the ``spots`` subcommand; return its parser."""
    from ..spots import METHODS

    m = subparsers.add_parser("spots", help="find and clean bright spots (gamma hits) in a 2-D image")
    m.add_argument("image", help="2-D image: .npy, .tif/.tiff (tifffile), .fits (astropy) or .png")
    m.add_argument("--train", required=True, metavar="MASK",
                   help="(H, W) int .npy: 1 spot, 0 not a spot, -1 unlabelled; or a .png/.tif painted in two levels "
                   "(the brighter: spots), or the grey image with its spots painted in a colour; transparent pixels "
                   "unlabelled")
    m.add_argument("--out", required=True, help="output folder (created)")
    m.add_argument("--method", choices=METHODS, default="rf",
                   help="rf / knn: trained on local features; median: the 3 x 3 median baseline")
    m.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0,
                   help="random seed of the trained detector (0 to 2**32 - 1)")
    return m


def read_image(path):
    """A 2-D float32 image from .npy, .tif/.tiff, .fits/.fit or .png (first frame / HDU with data)."""
    import numpy as np

    from ..io._images import read_fits, read_npy, read_picture, read_tiff

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        a = read_npy(path)
    elif suffix in (".tif", ".tiff"):
        a = read_tiff(path)
    elif suffix in (".fits", ".fit", ".fts"):
        a = read_fits(path)[0]
    elif suffix == ".png":
        a = read_picture(path, lambda im: im.convert("I") if im.mode not in ("L", "I", "I;16", "F") else im)
    else:
        raise ValueError(f"The image must be .npy, .tif, .fits or .png, got '{path.name}'.")
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[-1] in (3, 4) and suffix in (".tif", ".tiff"):  # an RGB(A) TIFF: its grey, as a PNG's
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if a.ndim != 2 or a.dtype.kind not in "biuf":
        raise ValueError(f"'{path.name}' must be a 2-D numeric image, got shape {a.shape} ({a.dtype}).")
    return a.astype(np.float32)


#: a picture's pixel is coloured from this spread of its R, G, B (0-255), grey up to GREY_SPREAD
COLOUR_SPREAD, GREY_SPREAD = 48, 8


def read_mask(path):
    """``(mask, note)``: the training mask, an (H, W) int ``.npy`` (1 spot, 0 not, -1 unlabelled), or a picture painted
    in two levels (``.png``/``.tif``: the brighter level spots, the other not; pixels more transparent than opaque
    unlabelled), or, as the lecture annotates, a grey picture (the radiograph) with its spots painted in a colour (the
    coloured pixels spots, the grey ones not, the brush's blended edges unlabelled); ``note`` says how it was read."""
    import numpy as np

    from ..io._images import read_npy, read_picture

    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".npy", ".png", ".tif", ".tiff"):
        raise FileNotFoundError(f"--train must be an existing .npy mask or a picture of two levels (.png, .tif), "
                                f"got '{path.name}'.")
    if suffix == ".npy":
        return read_npy(path), ""
    rgba = np.asarray(read_picture(path, lambda im: im.convert("RGBA")))
    code = rgba[..., :3].astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    painted = rgba[..., 3] >= 128
    levels = np.unique(code[painted])
    if levels.size != 2:
        rgb = rgba[..., :3].astype(np.int16)
        spread = rgb.max(-1) - rgb.min(-1)
        colour, grey = painted & (spread >= COLOUR_SPREAD), painted & (spread <= GREY_SPREAD)
        if colour.any() and np.count_nonzero(grey) > np.count_nonzero(colour):
            between = int(np.count_nonzero(painted & ~colour & ~grey))
            return np.where(colour, 1, np.where(grey, 0, -1)).astype(np.int8), (
                f"'{path.name}': a grey picture with {int(colour.sum())} pixels painted in colour, read as the spots "
                f"(its {int(grey.sum())} grey pixels as not spots" + (f", {between} blended ones unlabelled)" if between
                                                                        else ")"))
        raise ValueError(f"The mask '{path.name}' must be painted in two levels (spots and the rest), or be a grey "
                         f"picture with its spots painted in a colour; got {levels.size} levels and "
                         f"{'no coloured pixels' if not colour.any() else 'more coloured pixels than grey'}; leave "
                         "unlabelled pixels transparent.")
    brightness = [(v >> 16) + (v >> 8 & 255) + (v & 255) for v in levels]
    spots = code == levels[int(np.argmax(brightness))]
    return np.where(painted, spots, -1).astype(np.int8), ""


def run(args):
    import numpy as np

    from .._atomic import atomic_folder, is_result_folder, refuse_inputs
    from ..spots import detect_spots

    t0 = time.perf_counter()
    image = read_image(args.image)
    mask_path = Path(args.train)
    mask, read_as = read_mask(mask_path)
    if mask.shape != image.shape:
        raise ValueError(f"The mask '{mask_path.name}' ({mask.shape}) must have the image's shape {image.shape}.")
    result = detect_spots(image, mask, method=args.method, random_state=args.seed)
    out = Path(args.out)
    refuse_inputs(out, [args.image, args.train], folder=True)
    summary = dict(method=result.method, threshold=result.threshold, n_spots=int(result.spots.sum()),
                   labelled=dict(confusion=result.confusion.tolist(), precision=round(result.precision, 4),
                                 recall=round(result.recall, 4), f1=round(result.f1, 4)),
                   params=result.params, image=Path(args.image).name, mask=mask_path.name,
                   wall_time_s=round(time.perf_counter() - t0, 3))
    with atomic_folder(out, replace=is_result_folder(RESULT_FILES)) as tmp:
        tmp = Path(tmp)
        np.save(tmp / "spots.npy", result.spots)
        np.save(tmp / "cleaned.npy", result.cleaned)
        cm = result.confusion
        (tmp / "confusion.csv").write_text("label \\ detected,not spot,spot\n"
                                           f"not spot,{cm[0, 0]},{cm[0, 1]}\nspot,{cm[1, 0]},{cm[1, 1]}\n")
        (tmp / "summary.json").write_text(dumps(summary, indent=2))
    scores = result.params.get("scores_note") or (f"on the labelled pixels precision {result.precision:.3f}, "
                                                  f"recall {result.recall:.3f}, F1 {result.f1:.3f}")
    print(f"{result.method}: {int(result.spots.sum())} spot pixels; {scores}; written to {args.out}")
    if read_as:
        print("  " + read_as)
    if "few_spots_note" in result.params:
        print("  note: " + result.params["few_spots_note"])
    if "spot_share" in result.params:
        share = result.params["spot_share"]
        print(f"  the labelled pixels hold {100 * share['labelled']:.2g} % spots, the rest about "
              f"{100 * share['unlabelled_estimate']:.2g} % (estimated): the detector's probabilities were moved to "
              "each share before its threshold")
