"""``python -m phaselib precompute INPUT --out FILE.npz``: compact results for the dashboards."""

from __future__ import annotations

import resource

from ._cluster import dask_client
from ._common import add_input_options, bar_cleared_on_error, open_input, positive_int, spatial_prior
from ._map import channels_in_range, check_against_map


def add_parser(subparsers):
    """Add the ``precompute`` subcommand; return its parser."""
    pc = subparsers.add_parser("precompute", help="analyse a map once and write compact results (.npz) that "
                               "the dashboards and a Binder open without the raw map")
    add_input_options(pc)
    pc.add_argument("--out", required=True, help="output .npz file")
    pc.add_argument("--methods", default="pca-kmeans,nmf-otsu,fuzzy-cmeans",
                    help="comma-separated methods (default: %(default)s)")
    pc.add_argument("--display-bin", type=positive_int, default=1, metavar="B",
                    help="store loadings and the counts map averaged over B x B pixels (smaller file; "
                         "label maps keep full resolution)")
    pc.add_argument("--overwrite", action="store_true")
    return pc


def run(args):
    from pathlib import Path

    from .._atomic import check_writable, refuse_inputs
    from ..pipeline import METHODS
    from ..results import load_results, precompute

    # checked before the work, so that a long run does not fail at its end
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m[:40] for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown method(s) {unknown}; choose from {', '.join(METHODS)}.")
    refuse_inputs(args.out, [args.input])
    if Path(args.out).exists() and not args.overwrite:
        raise FileExistsError(f"'{Path(args.out).name}' exists; pass --overwrite to replace it.")
    if Path(args.out).suffix != ".npz":
        raise ValueError(f"--out must be a .npz file, got '{Path(args.out).name}'.")
    check_writable(args.out)  # a read-only folder was said after the whole run
    image, bar, progress = open_input(args)
    energy_range = tuple(args.energy_range) if args.energy_range else (0.1, None)
    _check_map_size(args, image, energy_range)
    with bar_cleared_on_error(bar), dask_client(args) as client:
        path = precompute(image, args.out, methods=methods,
                          display_bin=args.display_bin, overwrite=args.overwrite, progress=progress,
                          n_phases=args.n_phases,
                          n_components=args.n_components, energy_range=energy_range, min_size=args.min_size,
                          membership_threshold=args.membership_threshold, random_state=args.seed,
                          block_rows=args.block_rows, sample_pixels=args.sample_pixels or None, client=client,
                          spatial_prior=spatial_prior(args), beta=args.beta,
                          refine_phases=not args.no_refine, mixed_pixels=not args.no_mixed_pixels,
                          beam_spread=not args.no_beam_spread,
                          name_minerals=not args.no_minerals)
    if bar is not None:
        bar.close()
    res = load_results(path)
    size = path.stat().st_size / 2**20
    found = ", ".join(f"{k} {len(v.fractions)} phases" for k, v in res.methods.items())
    print(f"wrote {path} ({size:.1f} MB): {found}; "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _check_map_size(args, image, energy_range):
    """A map too small for precompute's shared PCA, a --display-bin bigger than the map (it stored empty
    loadings and counts), or phases and components beyond those the PCA keeps, refused before the work."""
    from ..decompose._base import DEFAULT_N_COMPONENTS

    keep = DEFAULT_N_COMPONENTS  # the components precompute's PCA computes
    h, w = image.shape[:2]
    n_ch = channels_in_range(image, energy_range)
    if h * w < keep or n_ch < keep:
        raise ValueError(f"the map ({h} x {w} pixels, {n_ch} channels in the energy range) is too small for "
                         f"precompute, which needs at least {keep} pixels and {keep} channels.")
    if args.display_bin > min(h, w):
        raise ValueError(f"--display-bin must be at most {min(h, w)}, the map's smaller side ({h} x {w} pixels), "
                         f"got {args.display_bin}.")
    check_against_map(args, image, energy_range, most=keep)
