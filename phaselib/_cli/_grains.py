"""Command line: ``python -m phaselib grains INPUT --out DIR [options]``.

Splits the touching grains of a phase map, measures them, and writes ``grains.csv``,
``grain_labels.npy``, ``size_stats.json``, ``csd.csv`` and ``size_distribution.png``.
Wired into :mod:`phaselib.__main__` with :func:`add_parser` and :func:`run`.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from .._atomic import atomic_folder, check_folder_target, is_result_folder, refuse_inputs
from .._serialize import dumps
from .._validate import MAX_PHASES

#: --outline-tol on a `map` folder whose boundary was relabelled under a beam spread (bench_map_grains, session 32)
MAP_OUTLINE_TOL = 1.5
_SUMMARY_MAX = 16 * 2**20  # bytes: a results folder's summary.json is a few kB

FIGURE = "size_distribution.png"
#: the files of a grains result folder (an existing folder holding only these is replaced)
GRAIN_FILES = ("grains.csv", "grain_labels.npy", "size_stats.json", "csd.csv", FIGURE)


_NUMPY_RULES = ("auto", "fd", "doane", "scott", "stone", "rice", "sturges", "sqrt")


def _bins(text):
    """A numpy bin rule, or a positive number (a width for the histogram, a count for the CSD)."""
    try:
        return float(text)
    except ValueError:
        return text


def add_parser(subparsers):
    """Add the ``grains`` subcommand to an argparse ``subparsers`` object; return its parser."""
    g = subparsers.add_parser(
        "grains", help="split touching grains of a phase map; grain table, size statistics and CSD",
        description="Separate the grains of each phase (distance transform + watershed, with cuts at the "
        "concave corners of touching crystals), measure them and describe their size distribution "
        "(GrainSizeTools statistics, crystal size distribution). Sizes are 2-D section sizes: no "
        "stereological correction.")
    g.add_argument("input", help="labels.npy (H x W phase indices, -1 unassigned) or a folder written by "
                   "`phaselib map`")
    g.add_argument("--out", required=True, help="output folder (created)")
    g.add_argument("--phase", type=int, help="only this phase (default: every phase)")
    g.add_argument("--pixel-size", type=float, metavar="UM",
                   help="micrometres per pixel (default: from the folder's summary.json, else 1)")
    g.add_argument("--min-distance", type=int, default=3, metavar="D", help="pixels between markers (default 3)")
    g.add_argument("--min-area", type=int, default=10, metavar="A",
                   help="drop grains smaller than A pixels (default 10)")
    g.add_argument("--exclude-border", action="store_true", help="drop grains that touch the map border")
    g.add_argument("--h-maxima", type=float, metavar="H", help="markers from the h-maxima of the distance map")
    g.add_argument("--smoothing", type=float, default=1.0, help="Gaussian sigma of the distance map, px")
    g.add_argument("--compactness", type=float, default=0.0, help="compact watershed (default 0)")
    g.add_argument("--no-concave-cuts", action="store_true", help="no concave-corner cuts")
    g.add_argument("--no-merge", action="store_true",
                   help="keep touching pieces whose union is convex apart (with --no-concave-cuts: the "
                        "classic watershed)")
    g.add_argument("--outline-tol", type=float, default=None, metavar="PX",
                   help="outlines are polygons within PX before concave corners are sought (default 1, or 1.5 on a "
                        "`map` folder whose summary.json records a beam spread; below 1.5, corners that vanish on "
                        "the outline within 1.5 px, the bumps and notches of a classified map's ragged outlines, "
                        "cut nothing)")
    g.add_argument("--no-inclusions", action="store_true",
                   help="cut from enclosed holes as from any concavity (holes of other pixels are "
                        "inclusions kept inside their host grain by default)")
    g.add_argument("--bin-size", type=_bins, default="auto",
                   help="histogram: numpy rule (auto, fd, scott, ...) or a width in um (default auto)")
    g.add_argument("--bandwidth", type=_bins, default="silverman",
                   help="KDE: silverman, scott or a width in um (default silverman)")
    g.add_argument("--csd-bins", type=_bins, default="auto", help="CSD: numpy rule or a number of bins")
    g.add_argument("--xp", metavar="IMAGE", help="a co-registered crossed-polars (or BSE) image of the map's "
                   "size or an integer multiple of it (the map is then repeated onto the image's grid and "
                   "its outlines snapped to the image's edges): touching crystals of one phase are split "
                   "again along its edges")
    g.add_argument("--growth-rate", type=float, metavar="UM_PER_S",
                   help="crystal growth rate G in um/s: gives the residence time tau = -1/(G slope)")
    return g


# ----------------------------------------------------------------- input
def read_labels(path, pixel_size=None):
    """The phase labels of INPUT, the pixel size and where it came from."""
    from ..io._checks import check_input_path

    path = Path(path)
    if path.is_dir():
        folder, file = path, path / "labels.npy"
        if not file.exists():
            raise FileNotFoundError(f"'{path.name}' has no labels.npy: give a labels.npy or a folder written by "
                                    "`phaselib map`.")
    else:
        if not path.exists():
            raise FileNotFoundError(f"'{path.name}' does not exist.")
        if path.suffix != ".npy":
            raise ValueError(f"'{path.name}' is not a .npy file: give a labels.npy or a folder written by "
                             "`phaselib map`.")
        folder, file = path.parent, path
    check_input_path(file)  # a regular file: never a FIFO or a device
    try:
        labels = np.load(file, allow_pickle=False)
    except Exception as err:  # never echo the file's contents
        raise ValueError(f"cannot read '{file.name}' as a .npy array ({type(err).__name__}).") from None
    if labels.ndim != 2 or min(labels.shape, default=0) < 1:
        raise ValueError(f"'{file.name}' must hold an (H, W) phase map, got shape {labels.shape}.")
    if labels.dtype.kind == "b":
        labels = np.where(labels, 0, -1)  # a boolean mask is one phase
    elif labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"'{file.name}' must hold integer phase indices (-1 unassigned); it has fractions "
                             "or NaN.")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"'{file.name}' must hold integer phase indices, got dtype {labels.dtype}.")
    if labels.size and (labels.min() < -1 or labels.max() >= MAX_PHASES):
        raise ValueError(f"'{file.name}' must hold phase indices from -1 (unassigned) to a few hundred, got "
                         f"{labels.min()} to {labels.max()}.")
    source = "--pixel-size"
    meta, denied = _summary(folder / "summary.json") if file.name == "labels.npy" else ({}, False)
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    spread = params.get("beam_spread").get("sigma") if isinstance(params.get("beam_spread"), dict) else None
    if pixel_size is None:
        pixel_size, source = 1.0, "default (unknown: 1 um per pixel)"
        if denied:  # said, not passed over: the sizes would silently be in pixels
            source = "default (summary.json is not readable: permission denied)"
        px = meta.get("image", {}).get("pixel_size") if isinstance(meta.get("image"), dict) else None
        if isinstance(px, (int, float)) and np.isfinite(px) and px > 0:
            pixel_size, source = float(px), "summary.json"
    elif not np.isfinite(pixel_size) or pixel_size <= 0:
        raise ValueError(f"--pixel-size must be a positive number of micrometres, got {pixel_size!r}.")
    spread = float(spread) if isinstance(spread, (int, float)) and np.isfinite(spread) else None
    return labels, float(pixel_size), source, spread


def _summary(path):
    """A map folder's summary.json as a dict, and whether it could not be read for want of permission
    ({} when missing, odd or too big: a regular file of a sane size only, as a FIFO would hang)."""
    from ..io._checks import check_input_path

    if not path.exists():
        return {}, False
    try:
        check_input_path(path, what="a summary.json")
        if path.stat().st_size > _SUMMARY_MAX:
            return {}, False
        meta = json.loads(path.read_text())
    except PermissionError:
        return {}, True
    except (ValueError, AttributeError, OSError):
        return {}, False
    return (meta if isinstance(meta, dict) else {}), False


def _xp_image(path):
    """The --xp image as an array (None without --xp); a bad file is one line naming it."""
    if path is None:
        return None
    from ..io._images import read_picture

    return read_picture(path, lambda im: im.convert("RGB") if im.mode not in ("L", "RGB") else im)


#: the largest factor between the --xp image's pixels and the map's (a map repeated more is a mistake)
MAX_REPEAT = 32


def to_image_grid(labels, pixel_size, shape):
    """Labels repeated ``k`` times along both axes to fill an image of ``shape`` ``k`` times their
    size, and the pixel size divided by ``k``; a shape that is not such a multiple is refused."""
    h, w = labels.shape
    if (h, w) == tuple(shape):
        return labels, pixel_size
    k = shape[0] // h
    if k < 2 or k > MAX_REPEAT or shape[0] != k * h or shape[1] != k * w:
        raise ValueError(f"the --xp image is {shape[0]} x {shape[1]} px and the map {h} x {w}: it must be the "
                         f"map's size or the same whole multiple of it (2 to {MAX_REPEAT}) along both axes.")
    print(f"phaselib: note: the map is repeated {k} x {k} onto the {shape[0]} x {shape[1]} px image; grain "
          f"sizes use its pixel of {pixel_size / k:.4g} um", file=sys.stderr)
    return np.repeat(np.repeat(labels, k, axis=0), k, axis=1), pixel_size / k


# ----------------------------------------------------------------- run
def run(args):
    """Run ``phaselib grains`` for parsed ``args``; errors are ValueError / FileNotFoundError."""
    from ..morphology import grain_map

    t0 = time.perf_counter()
    if args.growth_rate is not None and not (np.isfinite(args.growth_rate) and args.growth_rate > 0):
        raise ValueError(f"--growth-rate must be a positive number of um/s, got {args.growth_rate!r}.")
    _check_options(args)
    check_folder_target(args.out, is_result_folder(GRAIN_FILES))
    labels, px, px_source, spread = read_labels(args.input, args.pixel_size)
    if args.outline_tol is None:  # a map whose boundary was relabelled under a beam spread: smoother outlines
        args.outline_tol = MAP_OUTLINE_TOL if spread else 1.0
        args.outline_tol_source = f"auto: beam spread {spread:g} px in summary.json" if spread else "auto"
    source = Path(args.input) / "labels.npy" if Path(args.input).is_dir() else Path(args.input)
    refuse_inputs(args.out, [source, args.input], folder=True)
    if px_source.startswith("default"):
        why = px_source[len("default ("):-1] if "summary.json" in px_source else "unknown"
        print(f"phaselib: note: pixel size {why}; sizes are in pixels (give --pixel-size UM)", file=sys.stderr)
    xp = _xp_image(args.xp)
    if xp is not None:
        labels, px = to_image_grid(labels, px, xp.shape[:2])
    grains = grain_map(labels, phases=args.phase, pixel_size=px, min_distance=args.min_distance,
                       h=args.h_maxima, smoothing=args.smoothing, compactness=args.compactness,
                       split_concave=not args.no_concave_cuts, merge_convex=not args.no_merge,
                       inclusions=not args.no_inclusions, min_area=args.min_area,
                       exclude_border=args.exclude_border, boundary_image=xp, outline_tol=args.outline_tol)
    final = Path(args.out)
    with atomic_folder(final, replace=is_result_folder(GRAIN_FILES)) as out:  # renamed into place at the end
        results = _write(args, grains, labels, px, px_source, out)
    print(f"{grains.n_grains} grains in {len(results)} phase(s); written to {final} in "
          f"{time.perf_counter() - t0:.2f} s")
    for p, (e, _, _) in results.items():
        st, cs = e["size_statistics"], e["csd"]
        line = f"  phase {p}: {e['n_grains']} grains"
        if "median" in st:
            line += f", median diameter {st['median']:.3g} um, KDE peak {st['kde_peak']:.3g} um"
        if cs.get("slope") is not None:
            line += f", CSD slope {cs['slope']:.3g} +- {cs['slope_err'] or float('nan'):.2g} /um"
        if cs.get("residence_time") is not None:
            line += f", tau {cs['residence_time']:.3g} s"
        print(line)
    return final


def _check_options(args):
    for name, low in (("min_distance", 1), ("min_area", 0)):
        value = getattr(args, name)
        if value < low:
            raise ValueError(f"`{name}` (--{name.replace('_', '-')}) must be an integer >= {low}, got {value}.")
    for name in ("smoothing", "compactness", "h_maxima"):
        value = getattr(args, name)
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}.")
    if args.outline_tol is not None and not (np.isfinite(args.outline_tol) and 0.5 <= args.outline_tol <= 5):
        raise ValueError(f"--outline-tol must be a number of pixels from 0.5 to 5, got {args.outline_tol}.")
    if args.phase is not None and args.phase < 0:
        raise ValueError(f"--phase must be a phase index >= 0, got {args.phase}.")
    for name, rules in (("bin_size", _NUMPY_RULES), ("bandwidth", ("silverman", "scott")), ("csd_bins", _NUMPY_RULES)):
        value = getattr(args, name)
        if isinstance(value, float) and not (np.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number or a rule name, got {value}.")
        if isinstance(value, str) and value not in rules:  # else the run ends without its statistics
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number or one of {', '.join(rules)}, "
                             f"got {value[:40]!r}.")


def _write(args, grains, labels, px, px_source, out):
    """The grain table, labels, statistics, CSD and figure, written into ``out``."""
    from ..morphology import crystal_size_distribution, size_statistics

    table = grains.table()
    table.to_csv(out / "grains.csv")
    np.save(out / "grain_labels.npy", grains.labels)
    area = labels.size * px * px
    results, csv_rows = {}, []
    for p in grains.params["phases"]:
        d = table["equivalent_diameter_um"][table["phase"] == p]
        entry = {"n_grains": int(d.size), "spans_map": p in grains.spanning_phases}
        if entry["spans_map"]:
            print(f"phaselib: note: phase {p} forms one cluster across the map (a groundmass, a glass or "
                  f"crystals of one mineral packing the area): its grains are pieces of it, and boundaries "
                  f"between crystals of one mineral do not show in a phase map", file=sys.stderr)
        try:
            stats = size_statistics(d, binsize=args.bin_size, bandwidth=args.bandwidth, warn=False)
            entry["size_statistics"] = stats.to_dict()
            if stats.few_grains:
                print(f"phaselib: note: phase {p}: {stats.to_dict()['warning']}", file=sys.stderr)
        except ValueError as err:
            stats, entry["size_statistics"] = None, {"error": str(err)}
        try:
            csd = crystal_size_distribution(d, area, bins=args.csd_bins, growth_rate=args.growth_rate)
            entry["csd"] = csd.to_dict()
            if csd.residence_time is not None:
                entry["csd"]["residence_time_years"] = csd.residence_time / 3.15576e7
            csv_rows += [dict(phase=int(p), **row) for row in csd.rows()]
        except ValueError as err:
            csd, entry["csd"] = None, {"error": str(err)}
        results[str(p)] = (entry, stats, csd)
    _write_csd_csv(out / "csd.csv", csv_rows)
    summary = dict(
        input=str(args.input), pixel_size_um=px, pixel_size_source=px_source, map_shape=list(labels.shape),
        section_area_um2=area, n_grains=grains.n_grains, params=grains.params,
        outline_tol_source=getattr(args, "outline_tol_source", "--outline-tol"),
        growth_rate_um_per_s=args.growth_rate, diameters="equivalent circular diameter of the section, um",
        note="Sizes are 2-D section sizes (apparent diameters), not 3-D crystal sizes; no stereological "
        "correction is applied. CSD population density n = grains per um of size per um^2 of section; "
        "tau = -1 / (G * slope).",
        phases={p: e for p, (e, _, _) in results.items()})
    (out / "size_stats.json").write_text(dumps(summary, indent=2))
    figure = [(int(p), s, c) for p, (_, s, c) in results.items() if s is not None]
    if figure:
        save_figure(figure, out / FIGURE)
    return results



def _write_csd_csv(path, rows):
    names = ["phase", "size_min_um", "size_max_um", "size_um", "count", "population_density",
             "ln_population_density", "used_in_fit"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row[k] is None else row[k]) for k in names})


# ----------------------------------------------------------------- figure
def save_figure(panels, path):
    """One row per phase: size distribution and CSD. matplotlib if installed, else Pillow."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return _pillow_figure(panels, path)
    from ..morphology import plot_csd, plot_size_distribution

    fig = Figure(figsize=(10, 3.6 * len(panels)), layout="tight")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for (p, stats, csd), (a, b) in zip(panels, axes):
        plot_size_distribution(stats, ax=a)
        a.set_title(f"phase {p}: {a.get_title()}")
        if csd is not None:
            plot_csd(csd, ax=b)
            b.set_title(f"phase {p}: CSD (2-D section sizes)")
    fig.savefig(path, dpi=90)
    return path


def _pillow_figure(panels, path, width=420, height=260):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (2 * width, height * len(panels)), "white")
    draw = ImageDraw.Draw(img)
    for row, (p, stats, csd) in enumerate(panels):
        y0 = row * height
        e, c = stats.bin_edges, stats.counts
        dens = c / (c.sum() * np.diff(e))
        box = _axes_box(draw, 0, y0, width, height, f"phase {p}: {stats.n} grains, diameter (um)",
                        (e[0], e[-1]), (0, max(dens.max(), stats.kde_y.max())))
        for left, right, v in zip(e[:-1], e[1:], dens):
            (xa, ya), (xb, yb) = box(left, v), box(right, 0)
            draw.rectangle([xa, ya, xb, yb], fill=(128, 65, 157), outline=(197, 159, 215))
        draw.line([box(x, y) for x, y in zip(stats.kde_x, stats.kde_y)], fill=(47, 72, 88), width=2)
        for x, colour in ((stats.mean, (47, 72, 88)), (stats.median, (230, 159, 0)), (stats.kde_peak, (0, 114, 178))):
            draw.line([box(x, 0), box(x, max(dens.max(), stats.kde_y.max()))], fill=colour, width=1)
        if csd is not None and np.any(np.isfinite(csd.ln_density)):
            ok = np.isfinite(csd.ln_density)
            y = csd.ln_density[ok]
            box = _axes_box(draw, width, y0, width, height, "CSD: ln n vs L (um), 2-D sizes",
                            (csd.bin_edges[0], csd.bin_edges[-1]), (y.min() - 0.5, y.max() + 0.5))
            for x, v, used in zip(csd.sizes[ok], y, csd.used[ok]):
                (px, py) = box(x, v)
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], outline=(0, 114, 178),
                             fill=(0, 114, 178) if used else None)
            if np.isfinite(csd.slope):
                xs = csd.sizes[csd.used]
                draw.line([box(xs[0], csd.intercept + csd.slope * xs[0]),
                           box(xs[-1], csd.intercept + csd.slope * xs[-1])], fill=(213, 94, 0), width=2)
                draw.text((width + 60, y0 + 22), f"slope {csd.slope:.3g} /um", fill="black")
    img.save(path)
    return path


def _axes_box(draw, x0, y0, width, height, title, xr, yr):
    """Draw axes in a panel; return a function data -> pixel."""
    left, top, right, bottom = x0 + 50, y0 + 20, x0 + width - 15, y0 + height - 30
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text((left, y0 + 4), title, fill="black")
    draw.text((left, bottom + 4), f"{xr[0]:.3g}", fill="black")
    draw.text((right - 30, bottom + 4), f"{xr[1]:.3g}", fill="black")
    draw.text((x0 + 4, top), f"{yr[1]:.3g}", fill="black")
    draw.text((x0 + 4, bottom - 10), f"{yr[0]:.3g}", fill="black")
    sx = (right - left) / ((xr[1] - xr[0]) or 1.0)
    sy = (bottom - top) / ((yr[1] - yr[0]) or 1.0)
    return lambda x, y: (left + (x - xr[0]) * sx, bottom - (y - yr[0]) * sy)
