"""``python -m phaselib map INPUT --out DIR``: the phases of a map, written to a folder."""

from __future__ import annotations

import resource
import sys
import time
import warnings

from .._validate import MAX_ASKED
from ._cluster import dask_client
from ._common import add_input_options, bar_cleared_on_error, open_input, spatial_prior

#: when the command started (the wall time in summary.json includes the imports)
T_START = time.perf_counter()


def add_parser(subparsers):
    """Add the ``map`` subcommand; return its parser."""
    from ..pipeline import DEFAULT_METHOD, METHODS

    m = subparsers.add_parser("map", help="find the phases of a map and write the results to a folder")
    add_input_options(m)
    m.add_argument("--out", required=True, help="output folder (created; an earlier result there is replaced "
                   "whole at the end, a folder holding other files is refused)")
    m.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    return m


def run(args):
    from dataclasses import replace

    from .._atomic import check_folder_target, is_result_folder, refuse_inputs
    from ..pipeline import RESULT_FILES, map_phases

    # the output is checked before the work, so that a long run does not fail at its end
    refuse_inputs(args.out, [args.input], folder=True)
    check_folder_target(args.out, is_result_folder(RESULT_FILES))
    t0 = time.perf_counter()
    image, bar, progress = open_input(args)
    t_load = time.perf_counter() - t0
    energy_range = tuple(args.energy_range) if args.energy_range else (0.1, None)
    check_against_map(args, image, energy_range)
    said, show = [], warnings.showwarning

    def keep(message, *rest, **kw):  # shown as it comes, and kept for summary.json
        said.append(str(message).strip())
        show(message, *rest, **kw)
    warnings.showwarning = keep
    with bar_cleared_on_error(bar), dask_client(args) as client:
        result = map_phases(image, method=args.method, n_phases=args.n_phases, n_components=args.n_components,
                            energy_range=energy_range, min_size=args.min_size,
                            membership_threshold=args.membership_threshold, random_state=args.seed,
                            block_rows=args.block_rows, sample_pixels=args.sample_pixels or None,
                            client=client, spatial_prior=spatial_prior(args), beta=args.beta,
                            refine_phases=not args.no_refine, mixed_pixels=not args.no_mixed_pixels,
                            beam_spread=not args.no_beam_spread,
                            name_minerals=not args.no_minerals, progress=progress)
    warnings.showwarning = show
    if bar is not None:
        bar.close()
    result = replace(result, timings={"load": t_load, **result.timings})
    result.save(args.out, summary_extra=dict(
        input=str(args.input), crop=[list(r) for r in args.crop] if args.crop else None, bin=args.bin,
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        wall_time_s=round(time.perf_counter() - T_START, 3), warnings=list(dict.fromkeys(said)),
    ))
    print(f"{result.n_phases} phases ({result.method}); unassigned {100 * result.unassigned_fraction:.2f} %; "
          f"written to {args.out}; {time.perf_counter() - t0:.2f} s from reading the map to the files written")
    for row in result.table()[:-1]:
        name = result.minerals[row["phase"]].text if result.minerals else ""
        print(f"  phase {row['phase']}: {100 * row['fraction']:6.2f} %  {row['main_elements']:<16} {name}")
    from ..identify import calibration_note
    from ..refine import describe_change

    if not result.minerals and image.is_eds and not image.beam_energy and not args.no_minerals:
        print("phaselib: note: no mineral names: the beam energy is not known (give --beam-energy KV)",
              file=sys.stderr)
    note = calibration_note(result.minerals) if result.minerals else ""
    if note:
        print("  " + note)
    if result.params.get("count_scale"):
        print("  " + result.params["count_scale"]["note"])
    if result.params.get("spatial_prior") and isinstance(args.n_components, int):
        print(f"phaselib: note: --n-components {args.n_components} is not used at these counts: the spatial prior "
              "starts from the components of a binned copy (--spatial-prior off to cluster on yours)", file=sys.stderr)
    if result.params.get("blank_pixels"):
        what = "counts (" if result.params.get("signal") != "intensity" else "data (no finite value or 0 throughout: "
        print(f"  {result.params['blank_pixels']} pixels hold no {what}an empty edge, gaps, dead pixels, a blocked "
              "beam): left unassigned and out of the clustering")
    inclusions = result.params.get("inclusions") or {}
    if inclusions.get("moved"):
        print(f"  {inclusions['moved']} small blobs ({inclusions['pixels']} px) were inclusions too small for the "
              "beam, mixed with their host: given to the inclusions' phase")
    spread = result.params.get("beam_spread") or {}
    if spread.get("moved"):
        print(f"  Beam spread read from the map: {spread['sigma']:g} px; {spread['moved']} boundary pixels relabelled "
              "under it (--no-beam-spread to leave them)")
    elif spread.get("skipped"):
        print(f"  Beam spread not read: {spread['skipped']}")

    changes = result.params.get("refinement", [])
    if changes:  # their numbers are the clustering's, not the table's above
        print("  Phases tested (numbers of the clustering's phases, before these changes):")
    for change in changes:
        print("    " + describe_change(change))


def check_against_map(args, image, energy_range, most=None):
    """The options that the map's size bounds, checked before the work: --min-size at most the map, and
    --n-phases / --n-components at most its pixels and channels in the energy window (and ``most``, the
    components a shared decomposition keeps) (else an internal name at the end, or no phase left)."""
    h, w = image.shape[:2]
    if args.min_size > h * w:
        raise ValueError(f"--min-size must be at most the map's {h * w} pixels ({h} x {w}), got {args.min_size}.")
    n_ch = channels_in_range(image, energy_range)
    limit = min(h * w, n_ch, most or h * w, MAX_ASKED)
    why = f"{h} x {w} pixels, {n_ch} channels in the energy range"
    why += f", {most} components in the decomposition precompute shares" if most and most == limit else ""
    why += f"; at most {MAX_ASKED} are tested, whatever the map" if limit == MAX_ASKED else ""
    for name in ("n_phases", "n_components"):
        value = getattr(args, name)
        if isinstance(value, int) and value > limit:
            raise ValueError(f"--{name.replace('_', '-')} must be at most {limit} for this map ({why}), got {value}.")


def channels_in_range(image, energy_range):
    """The channels the decomposition will use: those of the energy window (the whole axis of an intensity
    cube given the EDS default); all of them where the window is refused (the pipeline says why, in words)."""
    from ..preprocess import energy_channels

    if not image.is_counts and tuple(energy_range) == (0.1, None):
        energy_range = None
    try:
        sl = energy_channels(image, energy_range)
    except ValueError:
        return image.shape[2]
    return sl.stop - sl.start
