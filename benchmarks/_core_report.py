"""bench_core's stages and targets, and its summary: medians per stage, size and side, markdown tables."""

from __future__ import annotations

from benchmarks._maps import N_PCA
from benchmarks._measure import OTHER_LOAD_FLAG
from benchmarks._report import fmt, median

STAGES = ("pca", "cluster", "nmf", "process")
SIDES = ("phaselib", "hyperspy")
STAGE_NAMES = {"pca": "PCA", "cluster": "clustering", "nmf": "NMF", "process": "whole process"}
#: stage -> (minimum speed ratio, minimum memory ratio), HyperSpy / phaselib, classroom subset
TARGETS = {"pca": (20.0, None), "cluster": (20.0, None), "nmf": (20.0, None), "process": (5.0, 3.0)}


def _side_summary(recs):
    ok = [r for r in recs if r.get("ok")]
    return dict(
        runs=len(recs), ok=len(ok), time_s=median(r.get("time_s") for r in ok),
        stage_mb=median(r.get("stage_mb") for r in ok), process_peak_mb=median(r.get("process_peak_mb") for r in ok),
        ari=median(r.get("ari") for r in ok), spectra_cosine=median(r.get("spectra_cosine") for r in ok),
        errors=sorted({r["error"] for r in recs if not r.get("ok")}),
        times=[round(r["time_s"], 4) for r in ok],
        disturbed=sum(r.get("other_cpus", 0) > OTHER_LOAD_FLAG for r in ok),
    )


def summarise(runs, stages, sizes, sides):
    """One row per (size, stage): each side's medians, the ratios HyperSpy / phaselib, the targets met."""
    rows = []
    for size in sizes:
        for stage in stages:
            row = dict(stage=stage, size=size)
            for side in sides:
                row[side] = _side_summary([r for r in runs if r["stage"] == stage and r["size"] == size
                                           and r["side"] == side])
            pl, hs = row.get("phaselib"), row.get("hyperspy")
            if pl and hs and pl["time_s"] and hs["time_s"]:
                row["speed_ratio"] = hs["time_s"] / pl["time_s"]
            if pl and hs and pl["stage_mb"] and hs["stage_mb"]:
                row["memory_ratio"] = hs["stage_mb"] / max(pl["stage_mb"], 1e-9)
            t_speed, t_mem = TARGETS[stage]
            row["target_speed"], row["target_memory"] = t_speed, t_mem
            row["speed_met"] = None if "speed_ratio" not in row else row["speed_ratio"] >= t_speed
            row["memory_met"] = (None if t_mem is None or "memory_ratio" not in row
                                 else row["memory_ratio"] >= t_mem)
            rows.append(row)
    return rows


def _cell_time(side):
    if side is None or not side["runs"]:
        return "not run"
    if not side["ok"]:
        return "FAILED: " + "; ".join(side["errors"])
    t = side["time_s"]
    text = f"{t:.3f}" if t < 10 else f"{t:.1f}"
    text += f" (n={side['ok']})" + ("†" if side.get("disturbed") else "")
    if side["ok"] < side["runs"]:
        text += f", {side['runs'] - side['ok']} failed: " + "; ".join(side["errors"])
    return text


def _cell_mem(side):
    if side is None or not side["ok"]:
        return "–"
    return f"{side['stage_mb']:.0f}"


def _verdict(ratio, target, met):
    if ratio is None:
        return "–"
    s = f"{ratio:.1f}x"
    if target is None:
        return s
    return f"{s} ({'meets' if met else 'MISSES'} ≥{target:g}x)"


def markdown_table(rows):
    out = ["| stage | size | phaselib median s | HyperSpy median s | speed ratio (target) "
           "| phaselib peak MB | HyperSpy peak MB | memory ratio (target) | accuracy phaselib / HyperSpy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pl, hs = r.get("phaselib"), r.get("hyperspy")
        ari = "–"
        if r["stage"] in ("cluster", "process"):
            ari = f"ARI {fmt(pl and pl['ari'], '.3f')} / {fmt(hs and hs['ari'], '.3f')}"
        elif r["stage"] == "nmf":
            ari = (f"cos {fmt(pl and pl['spectra_cosine'], '.3f')} / "
                   f"{fmt(hs and hs['spectra_cosine'], '.3f')}")
        out.append(
            f"| {STAGE_NAMES[r['stage']]} | {r['size']} | {_cell_time(pl)} | {_cell_time(hs)} "
            f"| {_verdict(r.get('speed_ratio'), r['target_speed'], r['speed_met'])} "
            f"| {_cell_mem(pl)} | {_cell_mem(hs)} "
            f"| {_verdict(r.get('memory_ratio'), r['target_memory'], r['memory_met'])} | {ari} |"
        )
    return "\n".join(out)


def markdown_peaks(rows):
    out = ["| stage | size | phaselib child peak MB | HyperSpy child peak MB | phaselib runs (s) "
           "| HyperSpy runs (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["stage"] == "process":
            continue
        pl, hs = r.get("phaselib"), r.get("hyperspy")
        out.append(
            f"| {STAGE_NAMES[r['stage']]} | {r['size']} | {fmt(pl and pl['process_peak_mb'], '.0f')} "
            f"| {fmt(hs and hs['process_peak_mb'], '.0f')} | {pl['times'] if pl else '–'} "
            f"| {hs['times'] if hs else '–'} |"
        )
    return "\n".join(out)


def _params(runs, stage):
    """phaselib's parameters of a stage (from its first successful run), or None."""
    return next((r.get("phaselib_params") for r in runs
                 if r["stage"] == stage and r["side"] == "phaselib" and r.get("ok")), None)


def print_summary(rows, runs, args):
    """The results table, what its columns mean, and the per-run table."""
    print("\n## Results (medians)\n")
    print(markdown_table(rows))
    print()
    print("- time: wall time of the stage's call inside a fresh process (imports, np.load and the "
          "untimed set-up excluded); whole process: wall time of the command, imports included.")
    print("- peak MB: stage memory, peak RSS during the call minus RSS just before it "
          "(whole process: peak RSS of the command). Memory ratio = HyperSpy / phaselib.")
    print(f"- † = some of these runs shared the CPUs with other processes (> {OTHER_LOAD_FLAG} CPU busy "
          "elsewhere; see other_cpus in the JSON): less reliable.")
    print(f"- n = number of runs behind a median; HyperSpy NMF: {args.repeat_hyperspy_nmf} run(s) "
          "(--repeat-hyperspy-nmf).")
    print("- HyperSpy PCA/NMF stage = change_dtype('float32') + decomposition(True, ...) (the classroom "
          "sequence); clustering stage: cluster_analysis only, after an untimed decomposition on both sides.")
    print(f"- k = n = true number of phases; PCA computes {N_PCA} components on both sides "
          "(HyperSpy's eager SVD computes the full SVD whatever output_dimension).")
    print(f"- HyperSpy KMeans: n_init={args.hs_kmeans_n_init}, random_state=0, preprocessing="
          f"{args.hs_preprocessing}; phaselib kmeans (defaults, on count-normalised scores): "
          f"{_params(runs, 'cluster') or 'not run'}.")
    nmf_params = _params(runs, "nmf")
    if nmf_params:
        print(f"- NMF: HyperSpy runs scikit-learn's NMF (init nndsvda, cd solver, max_iter 200, tol 1e-4) "
              f"on the dense Poisson-weighted map; phaselib.decompose.nmf defaults: {nmf_params}.")
    print("- accuracy: adjusted Rand index of the labels vs the true phases (clustering, whole process); "
          "NMF: mean cosine similarity of the factors to the true phase spectra (best one-to-one match, "
          "0.1-20 keV).")
    print("- Targets (classroom subset 200x300): PCA, clustering, NMF ≥ 20x faster; "
          "whole process ≥ 5x faster and ≥ 3x less peak memory.\n")
    print("### Whole-child peak RSS (imports + data + stage) and individual run times\n")
    print(markdown_peaks(rows))
    shas = sorted({r["phaselib_sha256"] for r in runs})
    if len(shas) > 1:
        print(f"\nWARNING: phaselib's source changed during the benchmark ({', '.join(shas)}); "
              "see phaselib_sha256 of each run in the JSON.")
