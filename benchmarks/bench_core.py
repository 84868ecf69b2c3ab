"""phaselib vs HyperSpy 2.5: time and peak memory of each stage, on the same synthetic maps.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_core                      # classroom subset 200x300
    .venv/bin/python -m benchmarks.bench_core --sizes 200x300,256x256,400x400
    .venv/bin/python -m benchmarks.bench_core --only phaselib --repeat 1   # quick

Every measured run is a fresh Python process: ``python -m benchmarks._core_child`` for the
stages (PCA, clustering, NMF), the real commands for the whole process (``python -m phaselib
map`` and ``python -m benchmarks.hyperspy_map``). Inside a stage child, wall time is taken
around the stage's call only (imports, ``np.load`` of the map and any untimed set-up
excluded), and the stage's memory is the peak RSS during the call minus the RSS just before
it (the peak is reset with ``/proc/self/clear_refs`` on Linux, or sampled every 2 ms with
psutil elsewhere). The whole process is timed by the parent around the child (imports
included), its peak RSS taken from ``os.wait4``.

The maps are written once to ``benchmarks/_work/`` with ``phaselib.datasets.write_rock``,
and both sides read the same ``.npy``. Results: a markdown table on stdout and JSON in
``benchmarks/results/<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

from benchmarks._core_report import SIDES, STAGES, TARGETS, print_summary, summarise
from benchmarks._env import environment, phaselib_kmeans_n_init, print_environment, source_digest
from benchmarks._maps import BEAM_ENERGY, ENERGY_OFFSET, ENERGY_SCALE, N_PCA, ensure_rock, parse_sizes, read_truth
from benchmarks._measure import OTHER_LOAD_FLAG, child_env, run_measured, wait_for_quiet
from benchmarks._paths import WORK
from benchmarks._report import command_line, write_results

CLASSROOM = (200, 300)
CALIBRATION = [f"--energy-offset={ENERGY_OFFSET}", f"--energy-scale={ENERGY_SCALE}", f"--beam-energy={BEAM_ENERGY}"]


# ====================================================================== one run
def _failure(rc, timed_out, log, timeout):
    """Why a run failed, in a few words (from its exit status and the end of its log)."""
    tail = Path(log).read_text(errors="replace")[-4000:] if Path(log).exists() else ""
    if timed_out:
        return f"timed out (> {timeout:g} s)"
    if rc < 0:
        name = signal.Signals(-rc).name
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    if "MemoryError" in tail:
        line = [ln for ln in tail.splitlines() if "MemoryError" in ln][-1].strip()
        return "MemoryError" + (f" ({line[-120:]})" if line not in ("MemoryError",) else "")
    lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
    return f"exit {rc}: {lines[-1][:200] if lines else 'no output'}"


def _ari_of(labels_path, truth_path):
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.load(truth_path)["labels"].ravel(), np.load(labels_path).ravel()))


def _process_command(side, data, out, k, args):
    """The whole-process command: ``phaselib map`` or its HyperSpy equivalent, same settings."""
    common = [str(data), "--out", str(out), *CALIBRATION, "--n-phases", str(k), "--n-components", str(k)]
    if side == "phaselib":
        return [sys.executable, "-m", "phaselib", "map", *common, "--quiet"]
    cmd = [sys.executable, "-m", "benchmarks.hyperspy_map", *common, "--output-dimension", str(N_PCA),
           "--kmeans-n-init", str(args.hs_kmeans_n_init)]
    return cmd + (["--preprocessing", args.hs_preprocessing] if args.hs_preprocessing else [])


def _stage_command(stage, side, data, truth, k, result, args):
    cmd = [sys.executable, "-m", "benchmarks._core_child", "--stage", stage, "--side", side,
           "--data", str(data), "--truth", str(truth), "--k", str(k), "--n", str(k),
           "--n-pca", str(N_PCA), "--result", str(result), "--hs-kmeans-n-init", str(args.hs_kmeans_n_init)]
    return cmd + (["--hs-preprocessing", args.hs_preprocessing] if args.hs_preprocessing else [])


def _measure(cmd, base, logfile, args, log):
    """Wait for a quiet machine, run ``cmd``; returns (rc, wall, peak, timed_out), ``base`` updated."""
    quiet = wait_for_quiet(args.wait_idle, log=log)
    rc, wall, peak, timed_out, other = run_measured(cmd, log=logfile, timeout=args.timeout, env=child_env())
    base.update(other_cpus=other, busy_before=quiet)
    return rc, wall, peak, timed_out


def _run_process(side, data, truth, k, args, tag, base, logfile, log):
    out = WORK / "out" / tag
    if out.exists():
        shutil.rmtree(out)
    cmd = _process_command(side, data, out, k, args)
    base["command"] = " ".join(cmd)
    rc, wall, peak, timed_out = _measure(cmd, base, logfile, args, log)
    if rc != 0:
        return {**base, "ok": False, "error": _failure(rc, timed_out, logfile, args.timeout), "log": str(logfile)}
    rec = {**base, "ok": True, "time_s": wall, "process_peak_mb": peak, "stage_mb": peak}
    try:
        rec["ari"] = _ari_of(out / "labels.npy", truth)
        rec["inner_timings_s"] = json.loads((out / "summary.json").read_text()).get("timings_s")
    except Exception as err:  # noqa: BLE001
        rec["check_error"] = repr(err)
    return rec


def _run_child(stage, side, data, truth, k, args, tag, base, logfile, log):
    result = WORK / "logs" / f"{tag}.json"
    result.unlink(missing_ok=True)
    rc, wall, _, timed_out = _measure(_stage_command(stage, side, data, truth, k, result, args), base, logfile,
                                      args, log)
    if rc != 0 or not result.exists():
        return {**base, "ok": False, "error": _failure(rc, timed_out, logfile, args.timeout),
                "log": str(logfile), "child_wall_s": wall}
    rec = json.loads(result.read_text())
    rec.update(base)
    rec["child_wall_s"] = wall
    return rec


def run_stage(stage, side, shape, data, truth, k, args, i, log):
    """One run of one stage on one side; returns a record (``ok`` False on failure)."""
    h, w = shape
    tag = f"{stage}_{side}_{h}x{w}_{i}"
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    logfile = WORK / "logs" / f"{tag}.log"
    base = dict(stage=stage, side=side, size=f"{h}x{w}", run=i, k=k, n=k, phaselib_sha256=source_digest()["sha256"])
    if stage == "process":
        return _run_process(side, data, truth, k, args, tag, base, logfile, log)
    return _run_child(stage, side, data, truth, k, args, tag, base, logfile, log)


# ====================================================================== all runs
def _run_undisturbed(stage, side, shape, data, truth, k, args, i):
    """A run, run again (up to ``--retry-disturbed`` times) while other processes disturbed it."""
    discarded = []
    rec = run_stage(stage, side, shape, data, truth, k, args, i, print)
    while rec.get("ok") and rec.get("other_cpus", 0) > OTHER_LOAD_FLAG and len(discarded) < args.retry_disturbed:
        print(f"    (run disturbed: other processes used {rec['other_cpus']:.1f} CPUs; running it again)", flush=True)
        discarded.append({k_: v for k_, v in rec.items() if k_ in ("time_s", "stage_mb", "other_cpus")})
        rec = run_stage(stage, side, shape, data, truth, k, args, i, print)
    if discarded:
        rec["discarded_disturbed_attempts"] = discarded
    return rec


def _show(rec, shape, i, n_runs):
    if rec["ok"]:
        msg = f"{rec['time_s']:8.3f} s  stage {rec['stage_mb']:7.0f} MB  peak {rec['process_peak_mb']:7.0f} MB"
        if rec.get("ari") is not None:
            msg += f"  ARI {rec['ari']:.3f}"
        if rec.get("spectra_cosine") is not None:
            msg += f"  spectra cos {rec['spectra_cosine']:.3f}"
        if rec.get("other_cpus", 0) > OTHER_LOAD_FLAG:
            msg += f"  [other processes used {rec['other_cpus']:.1f} CPUs]"
    else:
        msg = f"FAILED: {rec['error']}"
    print(f"  {rec['stage']:8s} {rec['side']:9s} {shape[0]}x{shape[1]}  run {i + 1}/{n_runs}: {msg}", flush=True)


def run_all(args, stages, sides, rep_hs):
    """Every run of every size, stage and side (stops early, keeping what ran, on Ctrl-C)."""
    runs = []
    try:
        for shape in args.sizes:
            data, truth = ensure_rock(shape, args.counts, args.seed)
            k = read_truth(truth)[1]
            for stage in stages:
                for side in sides:
                    n_runs = args.repeat if side == "phaselib" else (
                        args.repeat_hyperspy_nmf if stage == "nmf" else rep_hs)
                    for i in range(n_runs):
                        runs.append(_run_undisturbed(stage, side, shape, data, truth, k, args, i))
                        _show(runs[-1], shape, i, n_runs)
    except KeyboardInterrupt:
        print("\ninterrupted: summarising the runs done so far", flush=True)
    return runs


# ====================================================================== command line
def build_parser():
    p = argparse.ArgumentParser(description="phaselib vs HyperSpy: time and peak memory per stage.")
    p.add_argument("--sizes", type=parse_sizes, default=[CLASSROOM],
                   help="map sizes HxW, comma-separated (default 200x300, the classroom subset)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--repeat", type=int, default=3, help="runs per stage and side (medians quoted)")
    p.add_argument("--repeat-hyperspy", type=int, default=None,
                   help="runs of each HyperSpy stage (default: --repeat)")
    p.add_argument("--repeat-hyperspy-nmf", type=int, default=1,
                   help="runs of HyperSpy's NMF (default 1: about 2 min each on 60 000 px)")
    p.add_argument("--only", choices=SIDES, help="run one side only")
    p.add_argument("--counts", type=float, default=200.0, help="counts per pixel (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed to one run")
    p.add_argument("--hs-kmeans-n-init", default="match",
                   help="HyperSpy KMeans n_init (default 'match': phaselib.cluster.kmeans's default n_init; "
                        "'auto' = scikit-learn's default)")
    p.add_argument("--hs-preprocessing", default=None,
                   help="HyperSpy cluster_analysis preprocessing (default none, HyperSpy 2.5's default)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each run, wait up to SECONDS for other processes to use < 0.3 CPU "
                        "(default 0: don't wait; runs disturbed by other load are flagged anyway)")
    p.add_argument("--retry-disturbed", type=int, default=0, metavar="N",
                   help="run again (up to N times) a run that other processes disturbed (default 0)")
    p.add_argument("--json", type=Path, default=None,
                   help="where to write the results (default benchmarks/results/<date>.json)")
    return p


def _check_args(args):
    """(stages, sides, HyperSpy repeats) from the options; exits on bad ones."""
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise SystemExit(f"unknown stage(s) {bad}; choose from {STAGES}")
    rep_hs = args.repeat if args.repeat_hyperspy is None else args.repeat_hyperspy
    if min(args.repeat, rep_hs, args.repeat_hyperspy_nmf) < 1:
        raise SystemExit("repeat counts must be >= 1")
    if args.hs_kmeans_n_init == "match":
        args.hs_kmeans_n_init = str(phaselib_kmeans_n_init())
    return stages, [args.only] if args.only else list(SIDES), rep_hs


def print_header(env, args, rep_hs):
    print_environment("phaselib vs HyperSpy benchmark", env, cpus=f" ({env['cpu_affinity']} usable)")
    if env.get("blas"):
        print("- BLAS/OpenMP: " + "; ".join(
            f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in env["blas"]))
    print(f"- maps: phaselib.datasets.write_rock, {args.counts:g} counts/pixel, 2048 channels, seed "
          f"{args.seed}; sizes {', '.join(f'{h}x{w}' for h, w in args.sizes)}")
    print(f"- repeats: phaselib {args.repeat}, HyperSpy {rep_hs} (NMF {args.repeat_hyperspy_nmf}); "
          "each run a fresh process\n", flush=True)


def _payload(env, args, stages, sides, rep_hs, rows, runs):
    options = dict(sizes=[f"{h}x{w}" for h, w in args.sizes], stages=stages, sides=sides, repeat=args.repeat,
                   repeat_hyperspy=rep_hs, repeat_hyperspy_nmf=args.repeat_hyperspy_nmf,
                   counts_per_pixel=args.counts, seed=args.seed, n_pca=N_PCA,
                   hs_kmeans_n_init=args.hs_kmeans_n_init, hs_preprocessing=args.hs_preprocessing)
    return dict(environment=env, command=command_line(), options=options,
                targets={k: dict(speed=v[0], memory=v[1]) for k, v in TARGETS.items()}, summary=rows, runs=runs)


def main(argv=None):
    args = build_parser().parse_args(argv)
    stages, sides, rep_hs = _check_args(args)
    env = environment()
    print_header(env, args, rep_hs)
    t_all = time.perf_counter()
    runs = run_all(args, stages, sides, rep_hs)
    rows = summarise(runs, stages, [f"{h}x{w}" for h, w in args.sizes], sides)
    print_summary(rows, runs, args)
    print(f"\ntotal benchmark time {time.perf_counter() - t_all:.0f} s")
    write_results(_payload(env, args, stages, sides, rep_hs, rows, runs), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
