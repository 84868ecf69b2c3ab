"""What the subcommands share: input options, opening the input, a Dask client, the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import sys


def parse_crop(text):
    try:
        rows, cols = text.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
        return (r0, r1), (c0, c1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--crop wants ROW0:ROW1,COL0:COL1 (e.g. 0:200,500:800), got {text!r}") from None


def parse_count(text):
    if text == "auto":
        return text
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return v


def add_input_options(m):
    """Options shared by `map` and `precompute`."""
    m.add_argument("input", help='.bcf, .rpl, .hspy, .zspy, .msa, .emd or .npy spectrum image, '
                   'or "sample:P45" for the bundled real map')
    m.add_argument("--n-phases", type=parse_count, default="auto")
    m.add_argument("--n-components", type=parse_count, default="auto")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--energy-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="energy window in keV (default 0.1 to the beam energy)")
    m.add_argument("--crop", type=parse_crop, metavar="R0:R1,C0:C1", help="work on a subset of the map")
    m.add_argument("--bin", type=int, default=1, help="sum BIN x BIN pixels first")
    m.add_argument("--min-size", type=int, default=0, help="smallest object/hole kept (nmf-otsu), pixels")
    m.add_argument("--membership-threshold", type=float, default=0.5, help="fuzzy-cmeans")
    m.add_argument("--energy-offset", type=float, help="keV; needed for .npy")
    m.add_argument("--energy-scale", type=float, help="keV/channel; needed for .npy")
    m.add_argument("--beam-energy", type=float, help="kV, overrides the file's")
    m.add_argument("--lazy", action="store_true", help="read the file lazily (big .hspy/.zspy maps)")
    m.add_argument("--block-rows", type=int, help="rows per block in the passes over the map")
    m.add_argument("--sample-pixels", type=int, default=500_000,
                   help="fit PCA on row blocks holding about this many pixels on bigger maps (0: all)")
    m.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the passes on a Dask cluster: a scheduler address (tcp://host:8786)")
    m.add_argument("--workers", type=int, metavar="N",
                   help="run the passes on a local Dask cluster of N worker processes")
    m.add_argument("--spatial-prior", choices=("auto", "on", "off"), default="auto",
                   help="Poisson mixture + Potts spatial prior for low-count maps (auto: pca-kmeans below "
                   "150 counts/pixel)")
    m.add_argument("--beta", type=float, default=1.0, help="strength of the spatial prior")
    m.add_argument("--no-refine", action="store_true",
                   help="keep the clustering's phases (no seeding of missed phases, no merging of alike ones)")
    m.add_argument("--no-minerals", action="store_true", help="do not name the phases' minerals")
    m.add_argument("--quiet", action="store_true", help="no progress bar")


@contextlib.contextmanager
def dask_client(args):
    """A dask.distributed client for --scheduler / --workers, else None."""
    if not (args.scheduler or args.workers):
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler/--workers need dask.distributed: pip install 'phaselib[cluster]'") from None
    if args.scheduler:
        with Client(args.scheduler) as client:
            yield client
    else:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client


def open_input(args):
    """The input image (cropped/binned as asked), a progress bar and its callback."""
    from .. import io, preprocess

    if str(args.input).startswith("sample:"):
        from ..datasets import sample_path

        args.input = str(sample_path(args.input.split(":", 1)[1]))
    image = io.load(args.input, lazy=args.lazy, energy_offset=args.energy_offset,
                    energy_scale=args.energy_scale, beam_energy=args.beam_energy)
    if args.crop:
        image = preprocess.crop(image, rows=args.crop[0], cols=args.crop[1])
    if args.bin > 1:
        image = preprocess.bin_spatial(image, args.bin)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=100, desc=f"phaselib {args.command}", unit="%", file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def progress(frac, msg):
        if bar is not None:
            bar.n = int(100 * frac)
            bar.set_postfix_str(msg, refresh=True)

    return image, bar, progress


def spatial_prior(args):
    return {"auto": "auto", "on": True, "off": False}[args.spatial_prior]
