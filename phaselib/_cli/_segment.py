"""Command line: ``python -m phaselib segment [train|evaluate] ...`` (deep segmentation).

``segment train`` trains a U-Net (needs torch), the bare ``segment`` segments images with a
model (the seed's underscore flags; ONNX Runtime or torch), ``segment evaluate`` scores models
and the random-forest baseline on labelled images. Dispatched on argv by ``_cli.main``.
Errors of the input: one line on stderr, status 2; in a folder, each bad set gets its line
and the rest are still processed (status 2 at the end).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .._atomic import atomic_file, check_writable, refuse_inputs
from .._serialize import dumps
from ._common import Parser, _int_at_least, _number, error_message, unexpected_message

_DEFAULT_MM = 0.00132  # the seed's default mm per pixel


def _error(msg):
    print(f"phaselib: error: {msg}", file=sys.stderr)
    return 2


#: option types of `segment train`: --threads far above the cores crashed OpenBLAS (a segmentation fault),
#: --max-shift tries every shift up to it, --max-minutes and --mm-per-pixel are positive and finite
_threads = _int_at_least(1, 64)
_shift = _int_at_least(0, 50)
_positive = _number(0, strict_low=True)
#: a pixel of at most a metre (as `segment --mm_per_pixel`): beyond, the netCDF's coordinates are absurd
MAX_MM = 1e3  # deep._meta.MAX_MM_PER_PIXEL (not imported here: the command line starts without phaselib.deep)
_mm = _number(0, MAX_MM, strict_low=True)
#: a tile side above 4096 px is a model no prediction opens (and a batch of them gigabytes); a seed is 32 bits
_tile = _int_at_least(16, 4096)
_seed = _int_at_least(0, 2**32 - 1)


def _train_parser():
    p = Parser(prog="python -m phaselib segment train",
                                description="Train a U-Net on images and label maps (needs phaselib[deep]).")
    p.add_argument("--images", required=True, help="folder of NAME_<pattern>.png and NAME_labels.npy/.png")
    p.add_argument("--out", required=True, help="model file (e.g. model.pt); MODEL.onnx is written beside it")
    p.add_argument("--pp-pattern", help="affix of the plane-polarised images (default _pp with --xp-pattern)")
    p.add_argument("--xp-pattern", help="affix of the cross-polarised images")
    p.add_argument("--bse-pattern", help="affix of the BSE images")
    p.add_argument("--epochs", type=_int_at_least(1), default=1200, help="passes over the images (default 1200)")
    p.add_argument("--tile", type=_tile, default=96, help="tile side, a multiple of 8, at most 4096 (default 96)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**32 - 1 (default 0)")
    p.add_argument("--width", type=_int_at_least(2, 128), default=8,
                   help="channels of the U-Net's first level (default 8)")
    p.add_argument("--mm-per-pixel", type=_mm, help="pixel size of the images in mm (at most 1000), recorded in "
                   "the model")
    p.add_argument("--max-minutes", type=_positive, default=8.0,
                   help="time budget of training (default 8): a longer run ends on time, its schedule compressed")
    p.add_argument("--threads", type=_threads, help="CPU threads (default 2, or 1 on a busy machine)")
    p.add_argument("--max-shift", type=_shift, default=5, metavar="PX",
                   help="register each label map to its images by up to PX pixels (default 5; 0: as given)")
    p.add_argument("--no-refine", action="store_true",
                   help="keep the labels of boundary pixels as given (default: moved to the phase they look like)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="no class offsets (default: fitted on the training images so that the predicted modal "
                        "fractions there are the labels')")
    p.add_argument("--no-equalise", action="store_true",
                   help="images at their own levels (default: each image divided by its mean per channel, an XP "
                        "image by its PP image's, so a brighter lamp or a colour cast does not change the result)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file (and its .onnx twin)")
    return p


def _infer_parser():
    p = Parser(prog="python -m phaselib segment",
                                description="Segment PP/XP (or BSE) images or netCDF files with a trained model; "
                                "`segment train --help`, `segment evaluate --help` for the other forms.")
    p.add_argument("--input_model", required=True, help="model file (.pt with its .onnx twin, or .onnx)")
    p.add_argument("--input_path", required=True, help="an image (its counterpart found by the patterns), "
                   "a netCDF file, or a folder of them")
    p.add_argument("--output_path", default="results", help="output .nc file (one input) or folder (default results)")
    p.add_argument("--pp_pattern", help="affix of PP images / netCDF variables (default: the model's)")
    p.add_argument("--px_pattern", help="affix of XP images / netCDF variables (default: the model's)")
    p.add_argument("--bse_pattern", help="affix of BSE images / netCDF variables (default: the model's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--mm_per_pixel", type=float, help=f"image scale (default: the model's, else {_DEFAULT_MM}); "
                   "netCDF inputs keep their own")
    p.add_argument("--tile", type=int, default=512, help="inference window side (default 512)")
    p.add_argument("--views", type=int, default=4, choices=(1, 2, 3, 4),
                   help="mean of the image and its mirror images (default 4; 1 is 4 times faster)")
    return p


def _evaluate_parser():
    p = Parser(prog="python -m phaselib segment evaluate",
                                description="Score models and a random-forest baseline on labelled images.")
    p.add_argument("--input_model", action="append", required=True, help="a model (repeat to compare)")
    p.add_argument("--input_path", required=True, help="folder of image sets with NAME_labels.npy/.png")
    p.add_argument("--output_path", default="evaluation", help="folder for scores.json and the PNG panels")
    p.add_argument("--baseline_images", help="training folder of the random-forest baseline (required "
                   "unless --no_baseline)")
    p.add_argument("--no_baseline", action="store_true", help="skip the random forest")
    p.add_argument("--merge", action="append", default=[], metavar="NAME=A,B",
                   help="also score with classes A, B merged into NAME (e.g. plagioclase=andesine,labradorite)")
    p.add_argument("--views", type=int, default=4, choices=(1, 2, 3, 4),
                   help="mean of the image and its mirror images (default 4; 1 is 4 times faster)")
    return p


def main(argv):
    """Run ``segment`` with ``argv`` (after the word ``segment``); returns the exit status."""
    argv = list(argv)
    try:
        if argv[:1] == ["train"]:
            return _train(_train_parser().parse_args(argv[1:]))
        if argv[:1] == ["evaluate"]:
            return _evaluate(_evaluate_parser().parse_args(argv[1:]))
        return _infer(_infer_parser().parse_args(argv))
    except BrokenPipeError:
        return 0
    except MemoryError:  # (the map commands' advice, --lazy, --crop or --bin, is not segment's)
        return _error("out of memory (try a smaller --tile" + (" or --width)" if argv[:1] == ["train"] else ")"))
    except (ValueError, FileNotFoundError, FileExistsError, TypeError, OSError, ImportError) as err:
        return _error(error_message(err))
    except Exception as err:  # noqa: BLE001 - one line, never a traceback (PHASELIB_DEBUG=1 shows it)
        if os.environ.get("PHASELIB_DEBUG"):
            raise
        return _error(unexpected_message(err))


#: what a training folder's images, label maps and class list are (never written over by a model)
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".csv", ".nc")


def _train(args):
    from ..deep import train
    from ..deep._runner import onnx_twin

    patterns = {"pp": args.pp_pattern, "xp": args.xp_pattern, "bse": args.bse_pattern}
    if not any(patterns.values()):
        patterns = {"pp": "_pp", "xp": "_xp"}
    if patterns["xp"] and not patterns["pp"]:  # the help's promise: _pp with --xp-pattern
        patterns["pp"] = "_pp"
    given = [v for v in patterns.values() if v]
    if len(set(given)) < len(given):
        raise ValueError(f"the patterns must differ from each other, got {', '.join(given)}.")
    out = Path(args.out)
    targets = (out.with_suffix(".pt") if out.suffix == ".onnx" else out, onnx_twin(out))  # `--out m.onnx` writes m.pt
    for target in targets:  # checked before minutes of training
        if (target.exists() or target.is_symlink()) and not args.overwrite:
            raise FileExistsError(f"'{target.name}' exists; pass --overwrite to replace it.")
        if target.is_dir():
            raise ValueError(f"'{target.name}' is a folder; give a model file name.")
    folder = Path(args.images)
    if folder.is_dir():  # the model and its ONNX twin are never written over an image, a label map, classes.csv
        inputs = [f for f in folder.iterdir() if f.suffix.lower() in INPUT_SUFFIXES]
        for target in targets:
            refuse_inputs(target, inputs)
    check_writable(args.out)
    res = train(args.images, args.out, patterns=patterns, epochs=args.epochs, tile=args.tile, seed=args.seed,
                width=args.width, mm_per_pixel=args.mm_per_pixel, threads=args.threads, max_shift=args.max_shift,
                refine_labels=not args.no_refine, calibrate=not args.no_calibrate, equalise_gains=not args.no_equalise,
                max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
                log=lambda line: print(line, flush=True))
    print(f"trained on {len(res.meta['trained_on'])} image sets in {res.seconds:.0f} s "
          f"({res.cpu_seconds:.0f} s of CPU): "
          f"{', '.join(res.meta['inputs'])} -> {len(res.meta['classes'])} classes; "
          f"loss {res.losses[0]:.3f} -> {res.losses[-1]:.3f}")
    print(f"model: {Path(res.model_path).name}" + (f", {Path(res.onnx_path).name}" if res.onnx_path else ""))
    return 0


def _patterns(args, meta):
    given = {"pp": args.pp_pattern, "xp": args.px_pattern, "bse": args.bse_pattern}
    patterns = {r: given.get(r) or meta["patterns"][r] for r in meta["inputs"]}
    if len(set(patterns.values())) < len(patterns):  # one image read as two (training refuses this too)
        shown = ", ".join(f"{r.upper()} {v!r}" for r, v in patterns.items())
        raise ValueError(f"the patterns must differ from each other, got {shown}; give each input its own "
                         "(--pp_pattern, --px_pattern).")
    return patterns


def _jobs(path, patterns):
    """``[(stem, kind, payload)]``: kind "nc" (a path) or "images" ({role: path}); and skipped names."""
    from ..deep import _data

    if path.is_dir():
        jobs = [(p.stem, "nc", p) for p in sorted(path.glob("*.nc")) if not p.name.startswith(".")]  # ._NAME.nc
        jobs += [(stem, "images", paths) for stem, paths in _data.find_sets(path, patterns).items()]
        return jobs
    if not path.exists():
        raise FileNotFoundError(f"no input {path.name}.")
    if path.suffix.lower() == ".nc":
        return [(path.stem, "nc", path)]
    role, key = _data.split_name(path, patterns)
    if role is None:
        raise ValueError(f"{path.name} matches none of the patterns {', '.join(patterns.values())}.")
    paths = {role: path}
    for other in patterns:
        if other != role:
            found = _data.counterpart(path, other, patterns, key)
            if found is not None:
                paths[other] = found
    return [(_data.output_stem(key), "images", paths)]


def _one(model, stem, kind, payload, patterns, out_file, args):
    from ..deep import _data, load_set, predict, read_netcdf, write_netcdf
    from ..deep._unknown import note, unexplained

    meta = model.meta
    base = ref = None
    if kind == "nc":
        images, mm, base, found = read_netcdf(payload, patterns)
        missing = [r for r in meta["inputs"] if r not in images]
        if missing:
            raise ValueError(f"no variable matching the {', '.join(patterns[r] for r in missing)} pattern(s).")
        x = _data.stack(images, meta["inputs"], {r: str(found[r]) for r in meta["inputs"]})
        mm = mm or args.mm_per_pixel or meta.get("mm_per_pixel") or _DEFAULT_MM
        ref = found[meta["inputs"][0]]
    else:
        missing = [r for r in meta["inputs"] if r not in payload]
        if missing:
            raise ValueError(f"no {'/'.join(m.upper() for m in missing)} counterpart "
                             f"({', '.join(patterns[m] for m in missing)}) found.")
        x = load_set(payload, meta)
        images = {r: _data.read_image(payload[r]) for r in meta["inputs"]}
        mm = args.mm_per_pixel or meta.get("mm_per_pixel") or _DEFAULT_MM
    labels = predict(model, x, tile=args.tile, views=args.views)
    for role, share in _data.overexposed({r: images[r] for r in meta["inputs"] if r in images}).items():
        print(f"phaselib: note: {stem}: {100 * share:.0f} % of the {role.upper()} image's pixels are at full scale "
              f"(overexposed): their levels are lost; minerals told apart by those levels may be confused.",
              file=sys.stderr)
    line = note(stem, unexplained(x, labels, meta))  # a mineral the model lacks was labelled as another, silently
    if line:
        print(line, file=sys.stderr)
    if meta.get("gains") and labels.size < SMALL_IMAGE:
        print(f"phaselib: note: {stem}: {labels.shape[0]} x {labels.shape[1]} pixels: each image's levels are "
              "divided by its own means, which a small crop of a few minerals moves (crops of 65 x 33 px agreed "
              "with their whole section on 9 % of pixels): segment the whole image and crop the result.",
              file=sys.stderr)
    write_netcdf(out_file, stem, labels, meta["classes"], meta["colors"], {} if base is not None else images, mm,
                 base=base, reference=ref, overwrite=args.overwrite)
    return labels


#: images of fewer pixels get a note: their own means set their gains (session 56: crops of a 256 x 256 granite,
#: 65 x 33 / 7 x 256 / 32 x 32 px agreed 0.09 / 0.12 / 0.69 with the whole image's labels; a 3000 x 20 strip 0.98)
SMALL_IMAGE = 128 * 128


def _infer(args):
    from ..deep import load_model

    if args.mm_per_pixel is not None and not (math.isfinite(args.mm_per_pixel) and 0 < args.mm_per_pixel <= MAX_MM):
        raise ValueError(f"--mm_per_pixel must be a number of mm, above 0 and at most 1000, got {args.mm_per_pixel}.")
    model = load_model(args.input_model)
    from ..deep._runner import MARGIN

    m = 2 ** int(model.meta["depth"])  # the windows' side: whole cells of the U-Net, around its overlap margin
    if args.tile % m or args.tile < 2 * MARGIN + m:
        raise ValueError(f"--tile must be a multiple of {m} of at least {2 * MARGIN + m} px for this model, got "
                         f"{args.tile}.")
    patterns = _patterns(args, model.meta)
    src = Path(args.input_path)
    jobs = _jobs(src, patterns)
    if not jobs:
        raise ValueError(f"no image set or netCDF file in {src.name}.")
    out = Path(args.output_path)
    single = out.suffix.lower() == ".nc"
    if single and len(jobs) > 1:
        raise ValueError(f"--output_path {out.name} is one file, the input holds {len(jobs)} sets: give a folder.")
    stems = [j[0] for j in jobs]
    failed = 0
    for stem, kind, payload in jobs:
        target = out if single else out / (f"{stem}_{kind}.nc" if stems.count(stem) > 1 else f"{stem}.nc")
        try:
            # never onto an input, --overwrite or not: the model, this set's images or netCDF, any other set's
            refuse_inputs(target, [args.input_model, *(p for _, _, pl in jobs
                                                       for p in (pl.values() if isinstance(pl, dict) else [pl]))])
            labels = _one(model, stem, kind, payload, patterns, target, args)
        except (ValueError, FileExistsError, OSError, MemoryError) as err:
            failed += 1
            _error(f"{stem}: " + ("out of memory (try a smaller --tile)" if isinstance(err, MemoryError) else
                                 error_message(err)))
            continue
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            if os.environ.get("PHASELIB_DEBUG"):
                raise
            failed += 1
            _error(f"{stem}: {unexpected_message(err)}")
            continue
        frac = np.bincount(labels.ravel(), minlength=len(model.classes)) / labels.size
        top = ", ".join(f"{model.classes[i]} {100 * frac[i]:.1f} %" for i in np.argsort(-frac)[:4] if frac[i] > 0)
        print(f"{stem}: {labels.shape[0]} x {labels.shape[1]} -> {target.name} ({top})", flush=True)
    print(json.dumps({"segmented": len(jobs) - failed, "failed": failed, "backend": model.backend}))
    return 2 if failed else 0


def _evaluate(args):
    from ..deep import load_model
    from ..deep._compare import compare

    models = {}
    for path in args.input_model:
        name = Path(path).stem
        while name in models:
            name += "'"
        models[name] = load_model(path)
    groups = {}
    for text in args.merge:
        name, _, members = text.partition("=")
        if not name or not members:
            raise ValueError(f"--merge must be NAME=A,B, got {text!r}.")
        groups[name.strip()] = [m.strip() for m in members.split(",")]
    known = {c for m in models.values() for c in m.meta["classes"]}
    unknown = sorted({m for members in groups.values() for m in members} - known)
    if unknown:  # else the merged table silently equals the plain one
        raise ValueError(f"--merge names classes the models do not have: {', '.join(unknown)[:200]} (they have "
                         f"{', '.join(sorted(known))[:200]}).")
    base = None
    if not args.no_baseline:
        base = args.baseline_images
        if base is None:
            raise ValueError("the random-forest baseline needs its training folder: --baseline_images DIR "
                             "(or --no_baseline).")
    check_writable(Path(args.output_path) / "scores.json")  # before the models run
    res = compare(models, args.input_path, baseline_folder=base, out=args.output_path, groups=groups,
                  views=args.views)
    for stem, why in res["skipped"].items():
        print(f"phaselib: note: {stem}: {why}.", file=sys.stderr)
    for stem, why in res["failed"].items():
        _error(f"{stem}: {why}")
    report = {}
    for title, table in (("", res["scores"]), ("merged ", res["merged"])):
        for name, sc in table.items():
            print(f"\n{title}{name}: accuracy {sc.accuracy:.3f}, largest modal error "
                  f"{100 * sc.max_fraction_error:.1f} points, {res['seconds'].get(name, 0):.1f} s")
            print(f"  {'class':<18}{'true %':>8}{'pred %':>8}{'prec':>7}{'recall':>7}{'IoU':>7}{'Dice':>7}")
            for row in sc.table():
                print(f"  {row[0]:<18}{row[1]:8.2f}{row[2]:8.2f}" + "".join(f"{v:7.3f}" for v in row[3:]))
            report[f"{title}{name}"] = dict(accuracy=sc.accuracy, max_fraction_error=sc.max_fraction_error,
                                            classes=list(sc.classes), confusion=sc.confusion.tolist(),
                                            rows=[list(r) for r in sc.table()])
    with atomic_file(Path(args.output_path) / "scores.json", overwrite=True) as tmp:
        tmp.write_text(dumps(report, indent=1))
    return 2 if res["failed"] else 0
