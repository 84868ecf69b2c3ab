"""Command line: ``python -m phaselib grains INPUT --out DIR [options]``.

Splits the touching grains of a phase map, measures them, and writes ``grains.csv``, ``grain_labels.npy``,
``size_stats.json``, ``csd.csv`` and ``size_distribution.png``. Wired into :mod:`phaselib.__main__`.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

from .._atomic import atomic_folder, check_folder_target, is_result_folder, refuse_inputs
from .._serialize import dumps
from ._grains_input import PIXEL_UM, given_grains, read_labels  # noqa: F401 (PIXEL_UM: the limits the options name)

#: most bins of a histogram or CSD (morphology's MAX_BINS; not imported: the CLI starts without scipy)
MAX_BINS = 100_000

#: --outline-tol on a `map` folder whose boundary was relabelled under a beam spread of at least MAP_SPREAD_MIN px
#: (bench_map_grains, session 32). Under a narrower spread 1 px: the found maps of the independent generator
#: (bench_othergen_grains, 0.7 px beam) lost thin crossing laths and small grains to merges at 1.5 (labradorite
#: matched 0.35-0.46 -> 0.19-0.22, granite quartz 0.55-0.61 -> 0.50-0.57), and this generator's 0.7 px rows are
#: level (session 41)
MAP_OUTLINE_TOL, MAP_SPREAD_MIN = 1.5, 1.0

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
    g.add_argument("input", help="labels.npy (H x W phase indices, -1 unassigned; a boolean mask is phase 0), a "
                   "mask or class map picture (.png, .tif, .bmp: grey levels as they are, level 0 the background; "
                   "two levels, e.g. ImageJ's 0 / 255, are a mask), a folder written by `phaselib map`, or a "
                   "netCDF written by `phaselib segment`")
    g.add_argument("--background", type=int, metavar="LEVEL",
                   help="the input's level that is no phase (default 0 in a picture or with --grain-ids, none in "
                        "a .npy: -1 is unassigned); e.g. 255 for a mask whose grains are black")
    g.add_argument("--grain-ids", action="store_true",
                   help="the input is a label image of grains already separated (each level one grain, 0 the "
                        "background): they are measured as they are (one phase, 0), not split")
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
def _xp_image(path):
    """The --xp image as an array (None without --xp; 16-bit and float grey images scaled: convert("RGB") clipped
    them to one level); a bad file or a uniform image is one line naming it."""
    from ..io._images import read_8bit

    arr = None if path is None else read_8bit(path)
    if arr is not None and arr.min() == arr.max():
        raise ValueError(f"--xp {Path(path).name}: a uniform image (every pixel {arr.flat[0]}), with no boundary.")
    return arr


#: the largest factor between the --xp image's pixels and the map's (a map repeated more is a mistake)
MAX_REPEAT = 32


def read_blank(path, labels):
    """The pixels that hold no counts of a `map` folder (its ``blank.npy``; None without one): grains beside them
    are cut there as at the map's border. One that is no (H, W) boolean mask of the labels' pixels, or that marks
    pixels the labels give a phase (`map` leaves them unassigned), is refused."""
    from ..io._images import read_npy

    file, shape = Path(path) / "blank.npy", labels.shape
    if not Path(path).is_dir() or not file.exists():
        return None
    if (blank := read_npy(file)).dtype.kind != "b" or blank.shape != tuple(shape):
        raise ValueError(f"'{Path(path).name}/blank.npy' must be a boolean mask of the map's {shape[0]} x {shape[1]} "
                         f"pixels (the pixels that hold no counts), got {blank.dtype} of shape {blank.shape}.")
    if (wrong := int(np.count_nonzero(labels[blank] >= 0))):
        raise ValueError(f"'{Path(path).name}/blank.npy' marks {wrong} pixels that labels.npy gives a phase: the two "
                         "files are not of one map.")
    if (n := int(np.count_nonzero(blank))):
        print(f"phaselib: note: {n} pixels hold no counts (blank.npy): grains beside them touch a border",
              file=sys.stderr)
    return blank if n else None


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
    labels, px, px_source, spread = read_labels(args.input, args.pixel_size, args.background, args.grain_ids)
    _check_widths(args, labels, px)
    if args.outline_tol is None:  # a map whose boundary was relabelled under a wide beam: smoother outlines
        wide = bool(spread) and spread >= MAP_SPREAD_MIN
        args.outline_tol = MAP_OUTLINE_TOL if wide else 1.0
        args.outline_tol_source = (f"auto: beam spread {spread:g} px in summary.json" +
                                   ("" if wide else f" (under {MAP_SPREAD_MIN:g} px)")) if spread else "auto"
    source = Path(args.input) / "labels.npy" if Path(args.input).is_dir() else Path(args.input)
    refuse_inputs(args.out, [source, args.input], folder=True)
    if px_source.startswith("default"):
        why = px_source[len("default ("):-1] if "summary.json" in px_source else "unknown"
        print(f"phaselib: note: pixel size {why}; sizes are in pixels (give --pixel-size UM)", file=sys.stderr)
    outside = read_blank(args.input, labels)
    xp = _xp_image(args.xp)
    if xp is not None:
        k = xp.shape[0] // labels.shape[0]
        labels, px = to_image_grid(labels, px, xp.shape[:2])
        outside = None if outside is None or k < 2 else np.repeat(np.repeat(outside, k, axis=0), k, axis=1)
    if args.grain_ids:
        grains = given_grains(labels, px, args.min_area, args.exclude_border, outside)
    else:
        grains = grain_map(labels, phases=args.phase, pixel_size=px, min_distance=args.min_distance,
                           h=args.h_maxima, smoothing=args.smoothing, compactness=args.compactness,
                           split_concave=not args.no_concave_cuts, merge_convex=not args.no_merge,
                           inclusions=not args.no_inclusions, min_area=args.min_area,
                           exclude_border=args.exclude_border, boundary_image=xp, outline_tol=args.outline_tol,
                           outside=outside)
    final = Path(args.out)
    with atomic_folder(final, replace=is_result_folder(GRAIN_FILES)) as out:  # renamed into place at the end
        results = _write(args, grains, labels, px, px_source, out)
    print(f"{grains.n_grains} grains in {len(results)} phase(s); written to {final} in "
          f"{time.perf_counter() - t0:.2f} s")
    unit = "px" if px_source.startswith("default") else "um"  # (the note above said the sizes are in pixels)
    for p, (e, _, _) in results.items():  # (a --grain-ids' phase is its grains)
        st, cs = e["size_statistics"], e["csd"]
        line = f"  phase {p}: {e['n_grains']} grains"
        if "median" in st:
            line += f", median diameter {st['median']:.3g} {unit}, KDE peak {st['kde_peak']:.3g} {unit}"
        if cs.get("slope") is not None:
            line += f", CSD slope {cs['slope']:.3g} +- {cs['slope_err'] or float('nan'):.2g} /{unit}"
        if cs.get("residence_time") is not None:
            line += f", tau {cs['residence_time']:.3g} s"
        print(line)
    return final


def _skipped(phase, n_grains, err, what):
    """Why a phase has no ``what`` (few grains, said in words; else the error), also said on stderr."""
    why = f"{n_grains} grain(s), too few" if n_grains < 2 else str(err)
    print(f"phaselib: note: phase {phase}: no {what} ({why})", file=sys.stderr)
    return why


def _check_options(args):
    for name, low in (("min_distance", 1), ("min_area", 0)):
        value = getattr(args, name)
        if value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value}.")
    for name in ("smoothing", "compactness", "h_maxima"):
        value = getattr(args, name)
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}.")
    if args.h_maxima is not None and args.h_maxima == 0:  # the library's `h` must be > 0
        raise ValueError("--h-maxima must be a number > 0 (a depth in pixels), got 0.")
    if args.smoothing > 100:  # the library's bound, said in the option's words
        raise ValueError(f"--smoothing must be a number of pixels from 0 to 100, got {args.smoothing:g}.")
    if args.outline_tol is not None and not (np.isfinite(args.outline_tol) and 0.5 <= args.outline_tol <= 5):
        raise ValueError(f"--outline-tol must be a number of pixels from 0.5 to 5, got {args.outline_tol}.")
    if args.grain_ids and (args.xp is not None or args.phase is not None):
        raise ValueError("--grain-ids measures the grains given as they are: --xp and --phase do not apply.")
    if args.phase is not None and args.phase < 0:
        raise ValueError(f"--phase must be a phase index >= 0, got {args.phase}.")
    for name, rules in (("bin_size", _NUMPY_RULES), ("bandwidth", ("silverman", "scott")), ("csd_bins", _NUMPY_RULES)):
        value = getattr(args, name)
        if isinstance(value, float) and not (np.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number or a rule name, got {value}.")
        if isinstance(value, str) and value not in rules:  # else the run ends without its statistics
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number or one of {', '.join(rules)}, "
                             f"got {value[:40]!r}.")
    if isinstance(args.csd_bins, float):  # a number of bins (numpy takes an int only)
        if args.csd_bins != int(args.csd_bins) or not 1 <= args.csd_bins <= MAX_BINS:
            raise ValueError(f"--csd-bins must be a whole number of bins from 1 to {MAX_BINS} or a rule name, "
                             f"got {args.csd_bins:g}.")
        args.csd_bins = int(args.csd_bins)


def _check_widths(args, labels, px):
    """--bin-size and --bandwidth (um) that would cut the largest diameter the map can hold (a grain filling
    it) into more than MAX_BINS bins are refused: millions of bins, or a KDE of no width, not an answer."""
    largest = px * np.sqrt(4 * labels.size / np.pi)
    for name in ("bin_size", "bandwidth"):
        value = getattr(args, name)
        if isinstance(value, float) and not largest / MAX_BINS <= value <= largest * MAX_BINS:
            raise ValueError(f"--{name.replace('_', '-')} must be from {largest / MAX_BINS:.3g} to "
                             f"{largest * MAX_BINS:.3g} um for this map (diameters up to {largest:.3g} um), got "
                             f"{value:g}.")


def _write(args, grains, labels, px, px_source, out):
    """The grain table, labels, statistics, CSD and figure, written into ``out``."""
    from ..morphology import crystal_size_distribution, size_statistics

    table = grains.table()
    unit = "px" if px_source.startswith("default") else "um"  # no pixel size: the files say pixels, not um
    table.to_csv(out / "grains.csv", unit=unit)
    np.save(out / "grain_labels.npy", grains.labels)
    blank = 0 if grains.outside is None else int(np.count_nonzero(grains.outside))
    area = grains.section_area_um2  # the specimen's area: pixels that hold no counts are not section
    growth = args.growth_rate if unit == "um" else None
    if args.growth_rate is not None and growth is None:  # um/s against pixel sizes: a tau off by px^-1
        print("phaselib: note: no residence time: the map has no pixel size (give --pixel-size UM)", file=sys.stderr)
    results, csv_rows = {}, []
    for p in grains.params["phases"]:
        d = table["equivalent_diameter_um"][table["phase"] == p]
        entry = {"n_grains": int(d.size), "spans_map": p in grains.spanning_phases,
                 "groundmass": p in grains.params.get("groundmass", ())}
        _border_and_left_out(entry, p, table, labels, grains, args)
        if entry["groundmass"]:
            print(f"phaselib: note: phase {p} is black in the --xp image and forms one network across the map "
                  f"(a glass or an isotropic groundmass): its connected pieces are its grains, not split",
                  file=sys.stderr)
        elif entry["spans_map"]:
            print(f"phaselib: note: phase {p} forms one cluster across the map (a groundmass, a glass or "
                  f"crystals of one mineral packing the area): its grains are pieces of it, and boundaries "
                  f"between crystals of one mineral do not show in a phase map", file=sys.stderr)
        try:
            stats = size_statistics(d, binsize=args.bin_size, bandwidth=args.bandwidth, warn=False)
            entry["size_statistics"] = stats.to_dict()
            if stats.few_grains:
                print(f"phaselib: note: phase {p}: {stats.to_dict()['warning']}", file=sys.stderr)
        except ValueError as err:
            stats, entry["size_statistics"] = None, {"skipped": _skipped(p, d.size, err, "size statistics")}
        try:
            csd = crystal_size_distribution(d, area, bins=args.csd_bins, growth_rate=growth)
            entry["csd"] = csd.to_dict()
            if csd.residence_time is not None:
                entry["csd"]["residence_time_years"] = csd.residence_time / 3.15576e7
            csv_rows += [dict(phase=int(p), **row) for row in csd.rows()]
        except ValueError as err:
            csd, entry["csd"] = None, {"skipped": _skipped(p, d.size, err, "crystal size distribution")}
        results[str(p)] = (entry, stats, csd)
    _write_csd_csv(out / "csd.csv", csv_rows, unit)
    summary = dict(
        input=str(args.input), pixel_size_um=px, pixel_size_source=px_source, map_shape=list(labels.shape),
        units=unit, blank_pixels=blank, n_grains=grains.n_grains, params=grains.params,
        outline_tol_source=getattr(args, "outline_tol_source", "--outline-tol"),
        growth_rate_um_per_s=growth, diameters=f"equivalent circular diameter of the section, {unit}",
        note="Sizes are 2-D section sizes (apparent diameters), not 3-D crystal sizes; no stereological "
        f"correction is applied. CSD population density n = grains per {unit} of size per {unit}^2 of section; "
        "tau = -1 / (G * slope)." + ("" if unit == "um" else " The pixel size is unknown: sizes are in pixels."),
        phases={p: e for p, (e, _, _) in results.items()})
    summary[f"section_area_{unit}2"] = area
    (out / "size_stats.json").write_text(dumps(summary, indent=2))
    figure = [(int(p), s, c) for p, (_, s, c) in results.items() if s is not None]
    if figure:
        from ..morphology._figure import save_figure

        save_figure(figure, out / FIGURE, unit="px" if px_source.startswith("default") else "um")
    return results


def _write_csd_csv(path, rows, unit="um"):
    names = ["phase", "size_min_um", "size_max_um", "size_um", "count", "population_density",
             "ln_population_density", "used_in_fit"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([k.replace("_um", f"_{unit}") for k in names])
        for row in rows:
            w.writerow(["" if row[k] is None else row[k] for k in names])


def _border_and_left_out(entry, p, table, labels, grains, args):
    """The grains of phase ``p`` cut by the map's border (or beside pixels of no data) and the pixels of ``p`` in no
    grain (pieces under --min-area; with --exclude-border, grains on the border), in ``entry`` and said."""
    mine = table["phase"] == p
    entry["n_touching_border"] = cut = int(np.count_nonzero(table["touches_border"][mine]))
    if cut:
        print(f"phaselib: note: phase {p}: {cut} of its {int(mine.sum())} grains touch the map's border (cut by it: "
              "smaller than their crystals; counted in the statistics and the CSD, `touches_border` in grains.csv, "
              "--exclude-border leaves them out)", file=sys.stderr)
    total = int(np.count_nonzero(labels == p))
    entry["pixels_in_no_grain"] = left = total - int(table["area_px"][mine].sum())
    if left and (left >= 0.05 * total or not mine.any()):
        why = f"pieces under --min-area {args.min_area} px" + (", grains on the border" if args.exclude_border else "")
        print(f"phaselib: note: phase {p}: {left} of its {total} pixels ({100 * left / total:.0f} %) are in no grain "
              f"({why})", file=sys.stderr)
