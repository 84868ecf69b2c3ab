"""Command line: ``python -m phaselib map INPUT --out DIR [options]``."""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time

T_START = time.perf_counter()


def _crop(text):
    try:
        rows, cols = text.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
        return (r0, r1), (c0, c1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--crop wants ROW0:ROW1,COL0:COL1 (e.g. 0:200,500:800), got {text!r}") from None


def _n(text):
    if text == "auto":
        return text
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return v


def _add_common(m):
    """Options shared by `map` and `precompute`."""
    m.add_argument("input", help='.bcf, .rpl, .hspy, .zspy, .msa, .emd or .npy spectrum image, '
                   'or "sample:P45" for the bundled real map')
    m.add_argument("--n-phases", type=_n, default="auto")
    m.add_argument("--n-components", type=_n, default="auto")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--energy-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="energy window in keV (default 0.1 to the beam energy)")
    m.add_argument("--crop", type=_crop, metavar="R0:R1,C0:C1", help="work on a subset of the map")
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
    m.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser():
    from .pipeline import DEFAULT_METHOD, METHODS

    p = argparse.ArgumentParser(prog="python -m phaselib", description="Phase maps from EDS spectrum images.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("convert", help="convert a big .bcf to a row-chunked .zspy, a few rows at a time "
                   "(python -m phaselib convert MAP.bcf OUT.zspy --help)")
    m = sub.add_parser("map", help="find the phases of a map and write the results to a folder")
    _add_common(m)
    m.add_argument("--out", required=True, help="output folder (created)")
    m.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    from . import _grains_cli

    _grains_cli.add_parser(sub)
    pc = sub.add_parser("precompute", help="analyse a map once and write compact results (.npz) that the "
                        "dashboards and a Binder open without the raw map")
    _add_common(pc)
    pc.add_argument("--out", required=True, help="output .npz file")
    pc.add_argument("--methods", default="pca-kmeans,nmf-otsu,fuzzy-cmeans",
                    help="comma-separated methods (default: %(default)s)")
    pc.add_argument("--display-bin", type=int, default=1, metavar="B",
                    help="store loadings and the counts map averaged over B x B pixels (smaller file; "
                         "label maps keep full resolution)")
    pc.add_argument("--overwrite", action="store_true")
    return p


@contextlib.contextmanager
def _dask_client(args):
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


def _open(args):
    """The input image (cropped/binned as asked), a progress bar and its callback."""
    from . import io, preprocess

    if str(args.input).startswith("sample:"):
        from .datasets import sample_path

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


def _prior(args):
    return {"auto": "auto", "on": True, "off": False}[args.spatial_prior]


def run_map(args):
    from dataclasses import replace

    from .pipeline import map_phases

    t0 = time.perf_counter()
    image, bar, progress = _open(args)
    t_load = time.perf_counter() - t0
    energy_range = tuple(args.energy_range) if args.energy_range else (0.1, None)
    with _dask_client(args) as client:
        result = map_phases(image, method=args.method, n_phases=args.n_phases, n_components=args.n_components,
                            energy_range=energy_range, min_size=args.min_size,
                            membership_threshold=args.membership_threshold, random_state=args.seed,
                            block_rows=args.block_rows, sample_pixels=args.sample_pixels or None,
                            client=client, spatial_prior=_prior(args), beta=args.beta, progress=progress)
    if bar is not None:
        bar.close()
    t0 = time.perf_counter()
    result = replace(result, timings={"load": t_load, **result.timings})
    result.save(args.out, summary_extra=dict(
        input=str(args.input),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        wall_time_s=round(time.perf_counter() - T_START, 3),
    ))
    print(f"{result.n_phases} phases ({result.method}); unassigned {100 * result.unassigned_fraction:.2f} %; "
          f"written to {args.out} in {time.perf_counter() - t0:.2f} s")
    for row in result.table():
        print(f"  phase {row['phase']}: {100 * row['fraction']:6.2f} %  {row['main_elements']}")


def run_precompute(args):
    from .results import load_results, precompute

    image, bar, progress = _open(args)
    energy_range = tuple(args.energy_range) if args.energy_range else (0.1, None)
    with _dask_client(args) as client:
        path = precompute(image, args.out, methods=[m.strip() for m in args.methods.split(",") if m.strip()],
                          display_bin=args.display_bin, overwrite=args.overwrite, progress=progress,
                          n_phases=args.n_phases,
                          n_components=args.n_components, energy_range=energy_range, min_size=args.min_size,
                          membership_threshold=args.membership_threshold, random_state=args.seed,
                          block_rows=args.block_rows, sample_pixels=args.sample_pixels or None, client=client,
                          spatial_prior=_prior(args), beta=args.beta)
    if bar is not None:
        bar.close()
    res = load_results(path)
    size = path.stat().st_size / 2**20
    found = ", ".join(f"{k} {len(v.fractions)} phases" for k, v in res.methods.items())
    print(f"wrote {path} ({size:.1f} MB): {found}; "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["convert"]:  # python -m phaselib convert MAP.bcf OUT.zspy [...]
        from ._bcf_convert import main as convert

        return convert(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "map":
            run_map(args)
        elif args.command == "precompute":
            run_precompute(args)
        elif args.command == "grains":
            from . import _grains_cli

            _grains_cli.run(args)
    except BrokenPipeError:  # output piped into `head` and the like: not an error of the input
        return 0
    except (ValueError, FileNotFoundError, FileExistsError, TypeError, MemoryError, OSError) as err:
        print(f"phaselib: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
