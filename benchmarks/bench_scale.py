"""phaselib vs HyperSpy 2.5 at increasing map sizes, up to the full 1295 x 1820 x 2048 map.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_scale                        # 256^2, 512^2, 1024^2, full
    .venv/bin/python -m benchmarks.bench_scale --sizes 256x256,512x512 --keep-maps
    .venv/bin/python -m benchmarks.bench_scale --sizes full --modes phaselib,phaselib-dask

For every size, on the same synthetic rock (``phaselib.datasets.write_rock``, 200 counts/pixel):

* ``phaselib``       ``python -m phaselib map MAP.npy --out DIR --energy-offset -0.2
  --energy-scale 0.01 --beam-energy 20 --quiet`` (memory-mapped ``.npy``);
* ``phaselib-lazy``  the same on a row-chunked ``.zspy`` with ``--lazy``;
* ``phaselib-dask``  the same ``.npy`` command with ``--workers 2`` (a local Dask cluster);
* ``hs-eager``       HyperSpy: ``np.load`` -> ``Signal1D`` (EDS_SEM) -> ``change_dtype("float32")``
  -> ``decomposition(True, algorithm="SVD", output_dimension=24)`` -> k-means
  ``cluster_analysis`` (true k, k components);
* ``hs-lazy-svd``    HyperSpy lazy: ``hs.load(MAP.zspy, lazy=True)`` -> ``change_dtype("float32")``
  -> ``decomposition(True, algorithm="SVD", output_dimension=24)`` (HyperSpy 2.5's lazy
  SVD: ``svd_solver="randomized"``, ``dask.array.linalg.svd_compressed``) -> k-means;
* ``hs-lazy-ipca``   the same with ``algorithm="PCA"`` (HyperSpy 2.5's lazy name for
  scikit-learn's ``IncrementalPCA``, fed one chunk of 16 rows at a time) -> k-means.

Every run is a fresh process (HyperSpy's: ``python -m benchmarks._scale_child``), watched by
this script every ``--poll`` seconds: the anonymous (``RssAnon``) and total (``VmRSS``)
resident memory of the whole process tree (``/proc/PID/task/*/children``, so Dask's worker
processes are counted). Memory caps, so that the machine never runs out:

* every child is killed (its whole process group) when its tree goes above ``--cap-gb``
  (HyperSpy: total RSS, as the data is read into anonymous memory; phaselib: anonymous
  memory, since the resident pages of a memory-mapped 9.7 GB ``.npy`` are page cache);
  reported as ``killed at 14 GB cap``;
* HyperSpy children also set ``RLIMIT_AS`` (``--as-limit-gb``, default cap + 2 GB: the
  address-space limit counts virtual reservations -- thread stacks, malloc arenas,
  OpenBLAS buffers -- about 1-1.5 GB above the RSS here, so a limit equal to the RSS cap
  would fail runs that fit); hitting it gives a ``MemoryError`` in the child;
* a wall-time limit (``--timeout-hyperspy``, ``--timeout``), reported as ``timeout``.

A HyperSpy mode that timed out at one size is not run at bigger sizes (reported as
skipped). Results: markdown tables on stdout, JSON in ``benchmarks/results/scale-<date>.json``.
Maps, ``.zspy`` copies, logs and outputs go to ``benchmarks/_work/scale/``; with the
default ``--cleanup`` the maps and outputs this script made are deleted once a size is
done (an existing full map given by ``--full-map`` is reused and never deleted).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._env import environment, phaselib_kmeans_n_init, print_environment
from benchmarks._maps import parse_sizes, read_truth
from benchmarks._measure import OTHER_LOAD_FLAG
from benchmarks._report import command_line, write_results
from benchmarks._scale_report import BARS, bars_check, print_report, ratios, summarise
from benchmarks._scale_runs import (
    FULL,
    HS_MODES,
    MODE_NAMES,
    MODES,
    SCALE_WORK,
    ensure_map,
    ensure_zspy,
    run_hyperspy,
    run_phaselib,
)

DEFAULT_FULL_MAP = Path("/work/bigmap/full_1295x1820_c200.npy")


@dataclass
class State:
    """What the runs have made so far."""

    runs: list = field(default_factory=list)
    prep: list = field(default_factory=list)  # maps and copies written (time, memory)
    created: set = field(default_factory=set)  # files to delete with --cleanup
    hs_timed_out: dict = field(default_factory=dict)  # HyperSpy mode -> size where it timed out
    k: int | None = None  # true number of phases of the last map


# ====================================================================== one size
def _retry(args, fn, *fn_args):
    """Run again a run killed because other processes left the machine short of memory."""
    out = fn(*fn_args)
    for _ in range(args.retry_low_memory):
        rec = out[0] if isinstance(out, tuple) else out
        if not str(rec.get("status", "")).startswith("killed: machine below"):
            break
        print(f"    ({rec['mode']} run killed: machine low on memory because of other processes; "
              "running it again)", flush=True)
        out = fn(*fn_args)
    return out


def _show(rec):
    if rec["ok"]:
        msg = (f"{rec['wall_s']:7.1f} s  anon {rec['peak_anon_mb']:6.0f} MB  RSS {rec['peak_rss_mb']:6.0f} MB"
               + (f"  ARI {rec['ari']:.4f}" if rec.get("ari") is not None else ""))
        if rec.get("stage_times_s"):
            msg += "  [" + ", ".join(f"{k_} {v:.1f}" for k_, v in rec["stage_times_s"].items()) + "]"
        if rec.get("stages"):
            msg += "  [" + ", ".join(f"{k_} {v['time_s']:.1f}" for k_, v in rec["stages"].items()) + "]"
        if "labels_equal_local" in rec:
            msg += f"  identical to local: {rec['labels_equal_local']} (ARI {rec['ari_vs_local']:.4f})"
        if rec.get("other_cpus", 0) > OTHER_LOAD_FLAG:
            msg += f"  [other processes used {rec['other_cpus']:.1f} CPUs]"
    else:
        msg = (f"FAILED: {rec['status']}" + (f" during {rec['failed_stage']}" if rec.get("failed_stage") else "")
               + f" after {rec['wall_s']:.0f} s (peak anon {rec['peak_anon_mb']:.0f} MB, "
               f"RSS {rec['peak_rss_mb']:.0f} MB)")
    print(f"  {MODE_NAMES[rec['mode']]:32s} {rec['size']} run {rec['run'] + 1}: {msg}", flush=True)


def _phaselib_runs(mode, n, size, npy, zspy, truth_labels, args, state, ref):
    """``n`` runs of a phaselib mode, the others compared with ``ref`` (the local run's labels);
    returns ``ref``, set from the first local run."""
    local = mode == "phaselib"
    for i in range(n):
        rec, labels = _retry(args, run_phaselib, mode, size, npy, zspy, truth_labels, args, i,
                             None if local else ref)
        state.runs.append(rec)
        _show(rec)
        if local and ref is None and labels is not None:
            ref = labels
    return ref


def _hyperspy_runs(modes, size, shape, npy, zspy, truth, args, state):
    big = shape[0] * shape[1] > 256 * 256
    for mode in (m for m in HS_MODES if m in modes):
        if mode in state.hs_timed_out:
            rec = dict(mode=mode, size=size, run=0, ok=False, skipped=True, wall_s=None,
                       status=f"skipped (timed out at {state.hs_timed_out[mode]})", peak_anon_mb=None,
                       peak_rss_mb=None)
            state.runs.append(rec)
            print(f"  {MODE_NAMES[mode]:32s} {size}: {rec['status']}", flush=True)
            continue
        for i in range(args.repeat_hyperspy if big else args.repeat_hyperspy_small):
            rec = _retry(args, run_hyperspy, mode, size, npy, zspy, truth, state.k, args, i)
            state.runs.append(rec)
            _show(rec)
            if not rec["ok"]:
                if rec["status"].startswith("timeout"):
                    state.hs_timed_out[mode] = size
                break  # no repeats of a failing run


def _cleanup(size, npy, zspy, args, state):
    for p in sorted(state.created):
        if p.exists() and (p == zspy or p.stem.startswith(npy.stem)):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    if not args.keep_outputs:
        for d in (SCALE_WORK / "out").glob(f"*_{size}_*"):
            shutil.rmtree(d, ignore_errors=True)


def run_size(shape, modes, args, state):
    """Every mode on one size: the map (and its .zspy copy if needed), phaselib's runs, HyperSpy's."""
    size = _size_name(shape)
    print(f"## {size} ({shape[0]}x{shape[1]} px x 2048 ch, {shape[0] * shape[1] * 4096 / 1e9:.2f} GB)", flush=True)
    npy, truth, _ = ensure_map(shape, args, state.created, state.prep)
    truth_labels, state.k = read_truth(truth)
    in_lazy = tuple(shape) in [tuple(s) for s in args.lazy_sizes]
    need_zspy = any(m in modes for m in ("hs-lazy-svd", "hs-lazy-ipca")) or ("phaselib-lazy" in modes and in_lazy)
    ref = None
    if "phaselib" in modes:
        n = args.repeat_full if tuple(shape) == FULL else args.repeat
        ref = _phaselib_runs("phaselib", n, size, npy, None, truth_labels, args, state, ref)
    if "phaselib-dask" in modes and in_lazy:
        _phaselib_runs("phaselib-dask", args.repeat_other, size, npy, None, truth_labels, args, state, ref)
    zspy = ensure_zspy(npy, shape, args, state.created, state.prep) if need_zspy else None
    if "phaselib-lazy" in modes and in_lazy and zspy is not None:
        _phaselib_runs("phaselib-lazy", args.repeat_other, size, npy, zspy, truth_labels, args, state, ref)
    _hyperspy_runs(modes, size, shape, npy, zspy, truth, args, state)
    if args.cleanup:
        _cleanup(size, npy, zspy, args, state)


# ====================================================================== the report
def merge_from(path, modes, sizes, state):
    """Adds the runs of ``path`` (an earlier result) of the modes not run now; returns (modes, merged info)."""
    old = json.loads(Path(path).read_text())
    keep = [r for r in old["runs"] if r["mode"] not in modes and r["size"] in sizes]
    for r in keep:
        r["merged_from"] = str(path)
    state.runs += keep
    state.prep += [dict(p, merged_from=str(path)) for p in old.get("preparation", [])
                   if not any(q["what"] == p["what"] and q["size"] == p["size"] for q in state.prep)]
    merged = dict(path=str(path), command=old.get("command"), date=old.get("environment", {}).get("date"),
                  phaselib_source=old.get("environment", {}).get("phaselib_source"), n_runs=len(keep))
    modes = [m for m in MODES if m in modes or any(r["mode"] == m for r in keep)]
    print(f"(merged {len(keep)} runs of {', '.join(sorted({r['mode'] for r in keep}))} from {path}, "
          f"run {merged['date']})\n")
    return modes, merged


def summary_rows(runs, sizes, modes):
    """The summary rows (skipped modes included), in size and mode order."""
    rows = summarise([r for r in runs if not r.get("skipped")], sizes, modes)
    rows += [dict(size=r["size"], mode=r["mode"], stage="whole", n=0, runs=0, time_s=None, anon_mb=None,
                  rss_mb=None, ari=None, status=r["status"]) for r in runs if r.get("skipped")]
    order = {s: i for i, s in enumerate(sizes)}
    rows.sort(key=lambda r: (order[r["size"]], MODES.index(r["mode"])))
    return rows


# ====================================================================== command line
def _parse_sizes(text):
    return parse_sizes(text, full=FULL)


def _size_name(shape):
    return "full" if tuple(shape) == FULL else f"{shape[0]}x{shape[1]}"


def build_parser():
    p = argparse.ArgumentParser(description="phaselib vs HyperSpy 2.5 at increasing map sizes.")
    p.add_argument("--sizes", type=_parse_sizes, default=_parse_sizes("256x256,512x512,1024x1024,full"),
                   help="HxW or 'full' (1295x1820), comma-separated (default 256x256,512x512,1024x1024,full)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--lazy-sizes", type=_parse_sizes, default=_parse_sizes("1024x1024,full"),
                   help="sizes for phaselib-lazy and phaselib-dask (default 1024x1024,full)")
    p.add_argument("--full-map", default=str(DEFAULT_FULL_MAP) if DEFAULT_FULL_MAP.exists() else None,
                   help="an existing full map (.npy + _truth.npz) to reuse (default %(default)s)")
    p.add_argument("--counts", type=float, default=200.0, help="counts per pixel (default 200)")
    p.add_argument("--seed", type=int, default=11, help="seed of the maps written here (default 11, as the "
                   "full map)")
    p.add_argument("--repeat", type=int, default=3, help="phaselib .npy runs per size up to 1024^2 (default 3)")
    p.add_argument("--repeat-full", type=int, default=2, help="phaselib .npy runs on the full map (default 2)")
    p.add_argument("--repeat-other", type=int, default=1, help="phaselib --lazy / --workers runs (default 1)")
    p.add_argument("--repeat-hyperspy-small", type=int, default=3,
                   help="HyperSpy runs per mode on maps up to 256x256 px (default 3)")
    p.add_argument("--repeat-hyperspy", type=int, default=1, help="HyperSpy runs per mode on bigger maps (default 1)")
    p.add_argument("--workers", type=int, default=2, help="Dask workers for phaselib-dask (default 2)")
    p.add_argument("--hs-n-init", default="match",
                   help="HyperSpy KMeans n_init (default: phaselib.cluster.kmeans's default, as bench_core)")
    p.add_argument("--cap-gb", type=float, default=14.0, help="kill a child above this memory (default 14)")
    p.add_argument("--as-limit-gb", type=float, default=None,
                   help="RLIMIT_AS of the HyperSpy children (default cap + 2; 0: none)")
    p.add_argument("--timeout-hyperspy", type=float, default=600.0, help="seconds per HyperSpy run (default 600)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per phaselib run (default 900)")
    p.add_argument("--poll", type=float, default=0.05, help="memory polling interval, s (default 0.05)")
    p.add_argument("--wait-idle", type=float, default=60.0, metavar="SECONDS",
                   help="before each run wait up to SECONDS for other processes to use < 0.3 CPU (default 60)")
    p.add_argument("--wait-memory", type=float, default=1800.0, metavar="SECONDS",
                   help="before a run wait up to SECONDS for cap + 1.5 GB of available memory (HyperSpy; "
                   "phaselib: 5 GB); then a HyperSpy run gets a lower cap (default 1800)")
    p.add_argument("--retry-low-memory", type=int, default=2,
                   help="runs again a run killed because the machine ran low (other processes) (default 2)")
    p.add_argument("--keep-maps", dest="cleanup", action="store_false",
                   help="keep the maps and .zspy copies written here (default: delete each size's when done)")
    p.add_argument("--keep-outputs", action="store_true", help="keep the phaselib output folders")
    p.add_argument("--json", type=Path, default=None, help="default benchmarks/results/scale-<date>.json")
    p.add_argument("--merge-from", type=Path, default=None, metavar="JSON",
                   help="an earlier result: its runs of the modes not run now (e.g. HyperSpy's, which do not "
                        "depend on phaselib's source) are merged into this one's tables and JSON")
    return p


def _check_args(args):
    """The modes to run; fills in the defaults that depend on other options, makes the work folders."""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown mode(s) {bad}; choose from {MODES}")
    if args.as_limit_gb is None:
        args.as_limit_gb = args.cap_gb + 2
    if args.hs_n_init == "match":
        args.hs_n_init = str(phaselib_kmeans_n_init())
    for sub in ("logs", "out"):
        (SCALE_WORK / sub).mkdir(parents=True, exist_ok=True)
    return modes


def print_header(env, args, modes):
    du = shutil.disk_usage(SCALE_WORK)
    print_environment("phaselib vs HyperSpy 2.5 at scale", env, machine=f"; disk free {du.free / 1e9:.0f} GB")
    print(f"- sizes {', '.join(_size_name(s) for s in args.sizes)}; modes {', '.join(modes)}; "
          f"lazy/dask sizes {', '.join(_size_name(s) for s in args.lazy_sizes)}")
    print(f"- caps: kill above {args.cap_gb:g} GB (HyperSpy: RSS; phaselib: anon), polled every {args.poll:g} s; "
          f"HyperSpy RLIMIT_AS {args.as_limit_gb:g} GB; timeouts: HyperSpy {args.timeout_hyperspy:g} s, "
          f"phaselib {args.timeout:g} s\n", flush=True)


def run_all(args, modes):
    """Every size in turn (stops early, keeping what ran, on Ctrl-C); returns the State."""
    state, t_all = State(), time.perf_counter()
    try:
        for shape in args.sizes:
            run_size(shape, modes, args, state)
            print(f"  (elapsed {time.perf_counter() - t_all:.0f} s)\n", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: summarising the runs done so far", flush=True)
    return state


def report(state, modes, args):
    """The summary (with the runs merged from ``--merge-from``), printed; returns the JSON's parts."""
    sizes = [_size_name(s) for s in args.sizes]
    merged = None
    if args.merge_from:
        modes, merged = merge_from(args.merge_from, modes, sizes, state)
    rows = summary_rows(state.runs, sizes, modes)
    rat, bars = ratios(rows, sizes), bars_check(rows)
    print_report(rows, rat, bars, state.prep, args, state.k)
    shas = sorted({r["phaselib_sha256"] for r in state.runs if not r.get("skipped") and "phaselib_sha256" in r})
    if len(shas) > 1:
        print(f"WARNING: phaselib's source changed during the benchmark ({', '.join(shas)}).\n")
    opts = {k: v for k, v in vars(args).items() if k != "modes"}
    opts["sizes"], opts["lazy_sizes"] = sizes, [_size_name(s) for s in args.lazy_sizes]
    return dict(command=command_line(), merged_from=merged, options=opts, modes=modes, bars=BARS,
                bars_check=bars, summary=rows, ratios=rat, preparation=state.prep, runs=state.runs)


def main(argv=None):
    args = build_parser().parse_args(argv)
    modes = _check_args(args)
    env = environment()
    print_header(env, args, modes)
    t_all = time.perf_counter()
    state = run_all(args, modes)
    parts = report(state, modes, args)
    total = time.perf_counter() - t_all
    print(f"total benchmark time {total:.0f} s")
    write_results(dict(environment=env, **parts, total_s=total), args.json, prefix="scale-")
    return 0

if __name__ == "__main__":
    sys.exit(main())
