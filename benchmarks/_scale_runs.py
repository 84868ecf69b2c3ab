"""bench_scale's modes and runs: the maps each size needs, one watched run of a mode, why a run failed.

Each run is a fresh process watched by :func:`benchmarks._measure.run_watched` (memory of the
whole process tree, a memory cap, a time-out); a HyperSpy run is
``python -m benchmarks._scale_child``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
from pathlib import Path

from benchmarks._env import source_digest
from benchmarks._maps import (
    BEAM_ENERGY,
    CHUNK_ROWS,
    ENERGY_OFFSET,
    ENERGY_SCALE,
    rock_path,
    truth_of,
    write_rock_command,
    zspy_command,
)
from benchmarks._measure import GUARD_MB, STAGE_MARK, child_env, run_watched, wait_for_memory, wait_for_quiet
from benchmarks._paths import ROOT, WORK

SCALE_WORK = WORK / "scale"
FULL = (1295, 1820)
MODES = ("phaselib", "phaselib-lazy", "phaselib-dask", "hs-eager", "hs-lazy-svd", "hs-lazy-ipca")
HS_MODES = ("hs-eager", "hs-lazy-svd", "hs-lazy-ipca")
MODE_NAMES = {
    "phaselib": "phaselib (.npy, mmap)",
    "phaselib-lazy": "phaselib --lazy (.zspy)",
    "phaselib-dask": "phaselib --workers 2 (.npy)",
    "hs-eager": "HyperSpy eager SVD",
    "hs-lazy-svd": "HyperSpy lazy SVD (randomized)",
    "hs-lazy-ipca": "HyperSpy lazy IncrementalPCA",
}
HS_STAGES = ("import", "load", "change_dtype", "decomposition", "cluster")


# ====================================================================== failures
def _tail(log, n=3):
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in re.split(r"[\r\n]", text) if ln.strip() and not ln.startswith(STAGE_MARK)]
    return " | ".join(lines[-n:])[-300:]


def describe_failure(m, timeout, log, cap_label):
    """Why a watched run failed, in a few words (``m``: what :func:`run_watched` returned)."""
    if m["killed"] == "cap":
        return f"killed at {cap_label} cap"
    if m["killed"] == "timeout":
        return f"timeout ({timeout:g} s)"
    if m["killed"] == "low-memory":
        return f"killed: machine below {GUARD_MB / 1024:g} GB available (other processes' memory)"
    rc = m["rc"]
    if rc < 0:
        name = signal.Signals(-rc).name
        return f"killed by {name}" + (" (kernel OOM?)" if name == "SIGKILL" else "")
    tail = _tail(log)
    if "MemoryError" in tail or "Unable to allocate" in tail:
        return "MemoryError"
    return f"exit {rc}: {tail[-160:]}"


def _watch(cmd, log, args, timeout=3600):
    """A preparation step (writing a map or a copy), capped on anonymous memory."""
    return run_watched(cmd, log=log, timeout=timeout, cap_mb=args.cap_gb * 1024, cap_on="anon", poll=args.poll,
                       env=child_env())


# ====================================================================== maps
def _reuse_full_map(path, args):
    truth = truth_of(path)
    if not truth.exists():
        raise SystemExit(f"{truth} is missing (the full map's truth)")
    import numpy as np

    with np.load(truth) as t:
        opts = json.loads(str(t["options"]))
        if tuple(t["labels"].shape) != FULL or float(opts["counts_per_pixel"]) != float(args.counts):
            raise SystemExit(f"{path}: not a {FULL} map at {args.counts:g} counts/pixel")
    print(f"  reusing {path} (seed {opts.get('seed')}, {opts['counts_per_pixel']:g} counts/pixel)", flush=True)
    return path, truth, opts.get("seed")


def ensure_map(shape, args, created, prep):
    """The ``.npy`` map of ``shape`` and its truth: the given full map, or one written here."""
    if tuple(shape) == FULL and args.full_map and Path(args.full_map).exists():
        return _reuse_full_map(Path(args.full_map), args)
    h, w = shape
    path = rock_path(SCALE_WORK, shape, args.counts, args.seed)
    truth = truth_of(path)
    if not (path.exists() and truth.exists()):
        need = h * w * 2048 * 2 / 1e9
        free = shutil.disk_usage(SCALE_WORK).free / 1e9
        if need * 1.3 > free:
            raise SystemExit(f"{path.name} needs {need:.1f} GB; only {free:.1f} GB free")
        print(f"  writing {path.relative_to(ROOT)} ({need:.2f} GB) ...", flush=True)
        log = SCALE_WORK / "logs" / f"write_{h}x{w}.log"
        m = _watch(write_rock_command(path, shape, args.counts, args.seed), log, args)
        prep.append(dict(what="write_rock", size=f"{h}x{w}", path=str(path), ok=m["rc"] == 0,
                         **{k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb")}))
        if m["rc"] != 0:
            raise SystemExit(f"write_rock failed: see {log}")
        print(f"    {m['wall_s']:.1f} s, peak anon {m['peak_anon_mb']:.0f} MB", flush=True)
        created.update({path, truth})
    return path, truth, args.seed


def ensure_zspy(npy, shape, args, created, prep):
    """A row-chunked ``.zspy`` copy (``phaselib.io.save``), or None when it can't be written."""
    h, w = shape
    z = SCALE_WORK / f"{npy.stem}.zspy"
    if z.exists() and (z / ".zmetadata").exists():
        return z
    shutil.rmtree(z, ignore_errors=True)
    print(f"  writing {z.relative_to(ROOT)} (chunks ({CHUNK_ROWS}, {w}, 2048)) ...", flush=True)
    log = SCALE_WORK / "logs" / f"zspy_{h}x{w}.log"
    m = _watch(zspy_command(npy, z, w), log, args)
    size_gb = sum(f.stat().st_size for f in z.rglob("*") if f.is_file()) / 1e9 if z.exists() else 0.0
    ok = m["rc"] == 0
    prep.append(dict(what="zspy", size=f"{h}x{w}", path=str(z), ok=ok, disk_gb=size_gb,
                     error=None if ok else describe_failure(m, 3600, log, f"{args.cap_gb:g} GB"),
                     **{k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb")}))
    created.add(z)
    if not ok:
        print(f"    FAILED ({prep[-1]['error']}); HyperSpy's lazy runs use a dask array over the memmap", flush=True)
        shutil.rmtree(z, ignore_errors=True)
        return None
    print(f"    {m['wall_s']:.1f} s, peak anon {m['peak_anon_mb']:.0f} MB, peak RSS {m['peak_rss_mb']:.0f} MB, "
          f"{size_gb:.2f} GB on disk", flush=True)
    return z


# ====================================================================== phaselib runs
def _ari(labels, truth_labels):
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth_labels.ravel(), labels.ravel()))


def _phaselib_command(mode, src, out, args):
    cmd = [sys.executable, "-m", "phaselib", "map", str(src), "--out", str(out),
           "--energy-offset", str(ENERGY_OFFSET), "--energy-scale", str(ENERGY_SCALE),
           "--beam-energy", f"{BEAM_ENERGY:g}", "--quiet"]
    if mode == "phaselib-lazy":
        cmd.insert(5, "--lazy")
    elif mode == "phaselib-dask":
        cmd += ["--workers", str(args.workers)]
    return cmd


def _phaselib_results(rec, out, truth_labels, ref_labels):
    """Labels, ARI and phaselib's own summary of a successful run (and the comparison with the local run)."""
    import numpy as np

    labels = np.load(out / "labels.npy")
    summary = json.loads((out / "summary.json").read_text())
    rec.update(ok=True, status="ok", ari=_ari(labels, truth_labels), n_phases=summary.get("n_phases"),
               stage_times_s=summary.get("timings_s"), inner_wall_s=summary.get("wall_time_s"),
               inner_peak_memory_mb=summary.get("peak_memory_mb"),
               unassigned_fraction=summary.get("unassigned_fraction"))
    if ref_labels is not None:
        rec["labels_equal_local"] = bool(np.array_equal(labels, ref_labels))
        rec["labels_differ_px"] = int(np.count_nonzero(labels != ref_labels))
        rec["ari_vs_local"] = _ari(labels, ref_labels)
    return labels


def run_phaselib(mode, size, npy, zspy, truth_labels, args, i, ref_labels):
    """One ``phaselib map`` run of ``mode``; returns (record, labels or None)."""
    tag = f"{mode}_{size}_{i}"
    out = SCALE_WORK / "out" / tag
    shutil.rmtree(out, ignore_errors=True)
    cmd = _phaselib_command(mode, zspy if mode == "phaselib-lazy" else npy, out, args)
    rec = dict(mode=mode, size=size, run=i, command=" ".join(cmd[1:]), cap=f"anon > {args.cap_gb:g} GB",
               phaselib_sha256=source_digest()["sha256"])
    quiet = wait_for_quiet(args.wait_idle, log=print)
    rec["mem_available_before_mb"] = wait_for_memory(4096 + GUARD_MB, args.wait_memory)
    log = SCALE_WORK / "logs" / f"{tag}.log"
    m = run_watched(cmd, log=log, timeout=args.timeout, cap_mb=args.cap_gb * 1024, cap_on="anon",
                    poll=args.poll, env=child_env())
    rec.update({k: m[k] for k in ("wall_s", "peak_anon_mb", "peak_rss_mb", "polled_peak_rss_mb",
                                  "kernel_maxrss_mb", "other_cpus")}, busy_before=quiet)
    if m["rc"] != 0 or not (out / "labels.npy").exists():
        rec.update(ok=False, status=describe_failure(m, args.timeout, log, f"{args.cap_gb:g} GB anon"), log=str(log))
        return rec, None
    labels = _phaselib_results(rec, out, truth_labels, ref_labels)
    if not args.keep_outputs and not (mode == "phaselib" and i == 0):
        shutil.rmtree(out, ignore_errors=True)
    return rec, labels


# ====================================================================== HyperSpy runs
def _hyperspy_cap(args):
    """(available MB, cap MB, RLIMIT_AS MB, cap label) for a HyperSpy run.

    The child may grow to the cap: wait until the machine has that much to spare; if another
    user's processes keep holding memory, lower this run's cap (recorded) rather than risk the machine.
    """
    avail = wait_for_memory(args.cap_gb * 1024 + GUARD_MB + 512, args.wait_memory)
    cap_mb = min(args.cap_gb * 1024, avail - GUARD_MB - 512)
    as_mb = (cap_mb + (args.as_limit_gb - args.cap_gb) * 1024) if args.as_limit_gb > 0 else 0
    cap_label = f"{cap_mb / 1024:.3g} GB" + ("" if cap_mb >= args.cap_gb * 1024 else
                                            " (lowered: other processes held memory)")
    return avail, cap_mb, as_mb, cap_label


def _hyperspy_status(rec, m, child, args, log, cap_label):
    """``ok``/``status``/``failed_stage`` of a HyperSpy run, from the watcher and the child's record."""
    if m["rc"] == 0 and child.get("ok"):
        rec.update(ok=True, status="ok")
        return
    rec["ok"] = False
    rec["log"] = str(log)
    if m["killed"]:
        rec["status"] = describe_failure(m, args.timeout_hyperspy, log, cap_label)
        rec["failed_stage"] = m["killed_stage"]
    elif child.get("status") == "MemoryError":
        rec["status"] = "MemoryError" + (" (RLIMIT_AS)" if args.as_limit_gb > 0 else "")
        rec["failed_stage"] = child.get("failed_stage")
    elif child.get("status") == "error":
        rec["status"] = f"error: {child.get('error', '')[:160]}"
        rec["failed_stage"] = child.get("failed_stage")
    else:
        rec["status"] = describe_failure(m, args.timeout_hyperspy, log, cap_label)
        rec["failed_stage"] = child.get("current_stage")


def run_hyperspy(mode, size, npy, zspy, truth, k, args, i):
    """One HyperSpy run of ``mode`` (``python -m benchmarks._scale_child``); returns its record."""
    tag = f"{mode}_{size}_{i}"
    result = SCALE_WORK / "logs" / f"{tag}.json"
    result.unlink(missing_ok=True)
    quiet = wait_for_quiet(args.wait_idle, log=print)
    avail, cap_mb, as_mb, cap_label = _hyperspy_cap(args)
    cmd = [sys.executable, "-m", "benchmarks._scale_child", "--mode", mode, "--data", str(npy),
           "--truth", str(truth), "--k", str(k), "--result", str(result), "--n-init", str(args.hs_n_init),
           "--as-limit-mb", str(as_mb)]
    if zspy is not None and mode != "hs-eager":
        cmd += ["--zspy", str(zspy)]
    rec = dict(mode=mode, size=size, run=i, cap=f"RSS > {cap_label} (polled), RLIMIT_AS "
               + (f"{as_mb / 1024:.3g} GB" if as_mb > 0 else "off"), cap_mb=cap_mb, as_limit_mb=as_mb,
               mem_available_before_mb=avail, timeout_s=args.timeout_hyperspy)
    log = SCALE_WORK / "logs" / f"{tag}.log"
    m = run_watched(cmd, log=log, timeout=args.timeout_hyperspy, cap_mb=cap_mb, cap_on="rss",
                    poll=args.poll, env=child_env())
    rec.update({k_: m[k_] for k_ in ("wall_s", "peak_anon_mb", "peak_rss_mb", "polled_peak_rss_mb",
                                     "kernel_maxrss_mb", "other_cpus", "stage_peaks")}, busy_before=quiet)
    child = json.loads(result.read_text()) if result.exists() else {}
    rec["stages"] = child.get("stages", {})
    # the child resets its VmHWM at each stage (exact stage peaks), so wait4's maxrss is only the
    # last stage's: the whole run's peak RSS is the largest of the polled and the stage peaks
    rec["peak_rss_mb"] = max([m["polled_peak_rss_mb"]] + [v.get("peak_rss_mb") or 0 for v in rec["stages"].values()])
    for key in ("source", "signal_class", "decomposition_call", "ari", "as_limit_mb", "error"):
        if key in child:
            rec[key] = child[key]
    _hyperspy_status(rec, m, child, args, log, cap_label)
    return rec
