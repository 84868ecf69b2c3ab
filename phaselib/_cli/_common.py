"""What the subcommands share: input options, opening the input, a Dask client, the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import warnings

from .._image import SIGNAL_KINDS

#: most phases or components one may ask for
MAX_COUNT = 1000


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"phaselib: error: {message} (see {self.prog} --help)\n")


def parse_crop(text):
    try:
        rows, cols = text.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--crop wants ROW0:ROW1,COL0:COL1 (e.g. 0:200,500:800), got {text[:40]!r}") from None
    if min(r0, r1, c0, c1) < 0:
        raise argparse.ArgumentTypeError(f"--crop wants row and column indices >= 0, got {text[:40]!r}")
    return (r0, r1), (c0, c1)


def parse_count(text, least=1):
    if text == "auto":
        return text
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not least <= v <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected an integer from {least} to {MAX_COUNT} or 'auto', got "
                                         f"{text[:40]!r}")
    return v


def parse_phases(text):
    """--n-phases: 'auto' or 2 to MAX_COUNT (one phase needs no classification)."""
    return parse_count(text, least=2)


def _int_at_least(low, high=None):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if v < low or (high is not None and v > high):
            span = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {v}")
        return v
    return parse


def _number(low=-math.inf, high=math.inf, *, strict_low=False):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not math.isfinite(v) or v < low or v > high or (strict_low and v == low):
            span = ((f" > {low:g}" if strict_low else f" >= {low:g}") if high == math.inf else
                    f" above {low:g} and at most {high:g}" if strict_low else f" from {low:g} to {high:g}")
            raise argparse.ArgumentTypeError(f"expected a finite number{span if low > -math.inf else ''}, got "
                                             f"{text[:40]!r}")
        return v
    return parse


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)
finite = _number()
positive = _number(0, strict_low=True)
#: a beam energy (kV): SEM, EPMA and TEM beams are 0.1 to a few hundred kV (the library's check: at most 1000)
beam_kv = _number(0, 1000, strict_low=True)
#: a signal axis: its offset and channel width within +-1e9 (beyond, offset + width x channels overflows)
axis_value = _number(-1e9, 1e9)
axis_width = _number(0, 1e9, strict_low=True)
#: most local Dask workers: more would only exhaust the machine
MAX_WORKERS = max(64, 4 * (os.cpu_count() or 1))


def add_input_options(m):
    """Options shared by `map` and `precompute`."""
    m.add_argument("input", help='.bcf, .rpl, .hspy, .zspy, .msa, .emd, .npy, .fits or .tif spectrum image or cube '
                   '(a folder or quoted glob of FITS frames, one per bin), or "sample:P45" for the bundled real map')
    m.add_argument("--n-phases", type=parse_phases, default="auto")
    m.add_argument("--n-components", type=parse_count, default="auto")
    m.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0)
    m.add_argument("--energy-range", type=finite, nargs=2, metavar=("LOW", "HIGH"),
                   help="energy window in keV (default 0.1 to the beam energy)")
    m.add_argument("--crop", type=parse_crop, metavar="R0:R1,C0:C1", help="work on a subset of the map")
    m.add_argument("--bin", type=positive_int, default=1, help="sum BIN x BIN pixels first")
    m.add_argument("--min-size", type=nonnegative_int, default=0, help="smallest object/hole kept (nmf-otsu), pixels")
    m.add_argument("--membership-threshold", type=_number(0, 1, strict_low=True), default=0.5, help="fuzzy-cmeans")
    m.add_argument("--energy-offset", type=axis_value, help="keV; needed for .npy")
    m.add_argument("--energy-scale", type=axis_width, help="keV/channel; needed for .npy")
    m.add_argument("--axis-offset", type=axis_value, metavar="X",
                   help="any spectral cube: value of the signal axis at channel 0, in --axis-units (.npy)")
    m.add_argument("--axis-scale", type=axis_width, metavar="Y", help="any spectral cube: channel width (.npy)")
    m.add_argument("--axis-units", metavar="U", help="units of the signal axis (e.g. Å); default keV")
    m.add_argument("--axis-name", metavar="N", help="name of the signal axis (e.g. Wavelength); default Energy")
    m.add_argument("--signal", choices=SIGNAL_KINDS, help="counts (Poisson, the default for EDS); transmission "
                   "(T, clustered on the shapes of -log T), absorbance (-log T, optical density..., as it is) or "
                   "intensity (either, from its values: say which when you know)")
    m.add_argument("--beam-energy", type=beam_kv, help="kV, overrides the file's")
    lazy = m.add_mutually_exclusive_group()
    lazy.add_argument("--lazy", action="store_const", const=True, default=None,
                      help="always read the map lazily, by row blocks (default: when it is bigger than a "
                           "quarter of the available memory)")
    lazy.add_argument("--eager", "--no-lazy", dest="lazy", action="store_const", const=False,
                      help="always read the whole map into memory")
    m.add_argument("--block-rows", type=positive_int, help="rows per block in the passes over the map")
    m.add_argument("--sample-pixels", type=nonnegative_int, default=500_000,
                   help="fit PCA on row blocks holding about this many pixels on bigger maps (0: all)")
    m.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the passes on a Dask cluster: a scheduler address (tcp://host:8786)")
    m.add_argument("--workers", type=_int_at_least(1, MAX_WORKERS), metavar="N",
                   help="run the passes on a local Dask cluster of N worker processes")
    m.add_argument("--spatial-prior", choices=("auto", "on", "off"), default="auto",
                   help="Poisson mixture + Potts spatial prior for low-count maps (auto: pca-kmeans below "
                   "150 counts/pixel); for --signal intensity, a Potts prior over the clusters (auto: on)")
    m.add_argument("--beta", type=_number(0), default=2.0, help="strength of the spatial prior")
    m.add_argument("--no-refine", action="store_true",
                   help="keep the clustering's phases (no seeding of missed phases, no merging of alike ones)")
    m.add_argument("--no-mixed-pixels", action="store_true",
                   help="leave the boundary pixels in the clustering's phases (no reassignment to the dominant "
                   "phase of the mixture that explains them)")
    m.add_argument("--no-beam-spread", action="store_true",
                   help="do not read the beam's spread from the map nor relabel the boundary pixels under it")
    m.add_argument("--no-minerals", action="store_true", help="do not name the phases' minerals")
    m.add_argument("--quiet", action="store_true", help="no progress bar")


def error_message(err) -> str:
    """The one-line message of an error of the input: an OSError names its file, not its path."""
    if isinstance(err, MemoryError):
        return "out of memory (try --lazy, --crop or --bin)"
    if isinstance(err, OSError) and (err.errno == 28 or ("requested and" in str(err) and "written" in str(err))):
        # ENOSPC, or numpy's "120000 requested and 49088 written" of a short write
        return "no space left on the device: nothing was written (an earlier result there is kept)"
    if isinstance(err, OSError) and err.filename:
        from pathlib import Path

        return f"{err.strerror or type(err).__name__}: '{Path(str(err.filename)).name}'"
    from .._validate import plain_text

    text = _printable(str(err).strip())
    return plain_text(text) if text else type(err).__name__


def _printable(text):
    """``text`` on one line with its control characters as ``?``: a file name holding a newline cut the message
    there, and escape codes in one recoloured the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


@contextlib.contextmanager
def plain_warnings():
    """Warnings printed as one line each, ``phaselib: warning: ...``, once per text, without the
    source file and line that Python adds (they are paths inside the installation) and with any
    path in the text cut to its file name; NumPy's RuntimeWarnings (overflow, empty slices) are not
    shown: what they would mean is checked, and refused with a message of its own."""
    import re

    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        first = _printable(str(message).strip().split("\n")[0])
        text = re.sub(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+)+[\\/]", "", first) if first else category.__name__
        if text not in seen:
            seen.add(text)
            print(f"phaselib: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.showwarning = show
        yield


def unexpected_message(err) -> str:
    """One line for an error no check foresaw (its text is not shown: it may quote a file); a Dask cluster that
    went away is said so (not "the input may be damaged")."""
    if type(err).__module__.split(".")[0] in ("distributed", "tornado") or type(err).__name__ in (
            "ClosedClientError", "CommClosedError", "KilledWorker", "FutureCancelledError", "CancelledError"):
        return (f"the Dask cluster stopped during the run ({type(err).__name__}): check its scheduler and workers, "
                "or run without --scheduler / --workers.")
    return (f"could not complete ({type(err).__name__}); the input may be damaged. "
            "Set PHASELIB_DEBUG=1 to see the traceback.")


@contextlib.contextmanager
def bar_cleared_on_error(bar):
    """On an error, the progress bar is wiped from the terminal: the error stays one line."""
    try:
        yield
    except BaseException:
        if bar is not None:
            bar.leave = False
            bar.close()
        raise


def _units_need_an_axis(args, offset, scale, image=None):
    """Refuse --axis-units for a cube with no axis (a .npy; ``image``'s bins numbered) and no --axis-offset/scale: its
    channel numbers were taken for values in those units (661 bins: 0-660 Å)."""
    plain = image.axis_name == "Channel" if image else str(args.input).lower().endswith(".npy")
    if getattr(args, "axis_units", None) is not None and plain and offset is None and scale is None:
        raise ValueError(f"--axis-units {args.axis_units} names the units of the signal axis, but '"
                         f"{os.path.basename(str(args.input))}' holds no axis (its bins are numbered 0, 1, 2...): give "
                         "--axis-offset (the first bin's value) and --axis-scale (the bin width) in those units too.")


def open_input(args):
    """The input image (cropped/binned as asked), a progress bar and its callback."""
    from .. import io, preprocess

    if str(args.input).startswith("sample:"):
        from ..datasets import sample_path

        args.input = str(sample_path(args.input.split(":", 1)[1]))
    if args.energy_range and args.energy_range[0] >= args.energy_range[1]:
        raise ValueError(f"--energy-range wants LOW < HIGH, got {args.energy_range[0]} {args.energy_range[1]}.")
    offset, scale = _axis_value(args, "offset"), _axis_value(args, "scale")
    _units_need_an_axis(args, offset, scale)
    channels = {}
    if getattr(args, "signal", None) not in (None, "counts") and offset is None and scale is None \
            and str(args.input).lower().endswith(".npy"):
        # a bare array that is not EDS needs no calibration to be mapped: its axis is the channel number
        offset, scale, channels = 0.0, 1.0, {"axis_name": "Channel", "axis_units": ""}
    image = io.load(args.input, lazy=args.lazy, energy_offset=offset, energy_scale=scale,
                    beam_energy=args.beam_energy)
    axis = {k: v for k, v in dict(signal=getattr(args, "signal", None), axis_name=getattr(args, "axis_name", None),
                                  axis_units=getattr(args, "axis_units", None)).items() if v is not None}
    _units_need_an_axis(args, _axis_value(args, "offset"), _axis_value(args, "scale"), image)
    axis = {**channels, **axis}
    units = str(axis.get("axis_units", "keV")).strip()
    if "signal" not in axis and units not in ("keV", "eV") and image.signal == "counts":
        # another axis than an X-ray energy and no --signal: the spectra's shapes (the X-ray tests of counts read
        # lines in keV; a ToF cube of whole counts: ARI 1.00 so, 0.71 as counts)
        axis["signal"] = "intensity"
        print(f"phaselib: note: an axis in {units or 'channels'}: mapped as intensities, by the spectra's shapes "
              "(give --signal counts for X-ray-like Poisson counts, or transmission|absorbance)", file=sys.stderr)
    if axis:
        image = image.replace(**axis)
    h, w = image.shape[:2]
    if args.crop:  # said in the option's words (the library's name `rows` and `cols`)
        for (a, b), n, what in zip(args.crop, (h, w), ("rows", "columns")):
            lo, hi = (a + n if a < 0 else a), (b + n if b < 0 else b)
            if not 0 <= lo < hi <= n:
                raise ValueError(f"--crop: {what} {a}:{b} are empty or outside the map's {n} {what} (0 to {n}).")
        image = preprocess.crop(image, rows=args.crop[0], cols=args.crop[1])
    if args.bin > 1:
        if args.bin > min(image.shape[:2]):
            raise ValueError(f"--bin {args.bin} is larger than the map ({image.shape[0]} x {image.shape[1]} pixels).")
        left = (image.shape[0] % args.bin, image.shape[1] % args.bin)
        if any(left):  # the blocks' left-over edge is dropped: said, with where to crop instead
            print(f"phaselib: note: --bin {args.bin} leaves out the last {left[0]} row(s) and {left[1]} column(s) "
                  f"of the {image.shape[0]} x {image.shape[1]} map (whole {args.bin} x {args.bin} blocks only)",
                  file=sys.stderr)
        image = preprocess.bin_spatial(image, args.bin)
        if not image.is_counts:  # intensities (a transmission) are averaged, not summed
            image = image.replace(data=image.data / float(args.bin ** 2))
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        # disable=None: no bar when stderr is not a terminal (a log file or a pipe gets the one-line
        # result or error only)
        bar = tqdm(total=100, desc=f"phaselib {args.command}", unit="%", file=sys.stderr, disable=None,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def progress(frac, msg):
        if bar is not None:
            bar.n = int(100 * frac)
            bar.set_postfix_str(msg, refresh=True)

    return image, bar, progress


def _axis_value(args, what):
    """--axis-offset/--axis-scale, or their EDS names --energy-offset/--energy-scale (not both, unequal)."""
    energy, axis = getattr(args, f"energy_{what}", None), getattr(args, f"axis_{what}", None)
    if energy is not None and axis is not None and energy != axis:
        raise ValueError(f"--energy-{what} and --axis-{what} disagree ({energy:g} and {axis:g}); give one.")
    return axis if axis is not None else energy


def spatial_prior(args):
    return {"auto": "auto", "on": True, "off": False}[args.spatial_prior]
