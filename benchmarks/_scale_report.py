"""bench_scale's summary: medians per size, mode and stage, the HyperSpy / phaselib ratios, the full-map bars."""

from __future__ import annotations

from benchmarks._measure import OTHER_LOAD_FLAG
from benchmarks._report import fmt, median
from benchmarks._scale_runs import HS_MODES, HS_STAGES, MODE_NAMES

BARS = dict(time_s=120.0, anon_mb=2000.0, ari=0.97)  # the full-map bars of the issue


def _status(ok, bad, recs):
    statuses = sorted({r["status"] + (f" during {r['failed_stage']}" if r.get("failed_stage") else "") for r in bad})
    if not bad:
        return "ok"
    return "; ".join(statuses) if not ok else f"ok ({len(bad)} of {len(recs)} failed: {'; '.join(statuses)})"


def _whole_row(size, mode, recs, ok, bad):
    whole = dict(size=size, mode=mode, stage="whole", n=len(ok), runs=len(recs),
                 time_s=median(r["wall_s"] for r in ok), anon_mb=median(r["peak_anon_mb"] for r in ok),
                 rss_mb=median(r["peak_rss_mb"] for r in ok), ari=median(r.get("ari") for r in ok),
                 status=_status(ok, bad, recs), times=[round(r["wall_s"], 2) for r in ok],
                 disturbed=sum(r.get("other_cpus", 0) > OTHER_LOAD_FLAG for r in ok))
    if not ok and bad:  # how far the failed run got
        r = bad[0]
        whole.update(time_s=None, failed_after_s=r["wall_s"], anon_mb=r["peak_anon_mb"], rss_mb=r["peak_rss_mb"])
    if mode in ("phaselib-dask", "phaselib-lazy"):
        whole["labels_equal_local"] = [r.get("labels_equal_local") for r in ok]
        whole["labels_differ_px"] = [r.get("labels_differ_px") for r in ok]
        whole["ari_vs_local"] = median(r.get("ari_vs_local") for r in ok)
    return whole


def _phaselib_stage_rows(size, mode, recs, ok):
    """phaselib's own stage timings (its summary.json), in the order they first appear."""
    names = []
    for r in ok:
        names += [s for s in (r.get("stage_times_s") or {}) if s not in names]
    return [dict(size=size, mode=mode, stage=s, n=len(ok), runs=len(recs),
                 time_s=median((r.get("stage_times_s") or {}).get(s) for r in ok),
                 anon_mb=None, rss_mb=None, ari=None, status="ok") for s in names]


def _hyperspy_stage_rows(size, mode, recs, ok, bad, whole_status):
    """HyperSpy's stages timed in the child; the memory polled during each (and its exact peak RSS)."""
    rows = []
    for s in HS_STAGES:
        done = [r for r in (ok or bad) if s in r.get("stages", {}) and "error" not in r["stages"][s]]
        failed_here = [r for r in bad if r.get("failed_stage") == s]
        if not done and not failed_here:
            continue
        pool = done or failed_here
        rows.append(dict(
            size=size, mode=mode, stage=s, n=len(done), runs=len(recs),
            time_s=median(r["stages"][s]["time_s"] for r in done) if done else None,
            anon_mb=median(r.get("stage_peaks", {}).get(s, {}).get("anon_mb") for r in pool),
            rss_mb=median(max(r.get("stages", {}).get(s, {}).get("peak_rss_mb") or 0,
                              r.get("stage_peaks", {}).get(s, {}).get("rss_mb") or 0) or None for r in pool),
            ari=None, status="ok" if done else whole_status))
    return rows


def summarise(runs, sizes, modes):
    """One row per (size, mode, stage), medians over the successful runs; each mode's 'whole' row last."""
    rows = []
    for size in sizes:
        for mode in modes:
            recs = [r for r in runs if r["size"] == size and r["mode"] == mode]
            if not recs:
                continue
            ok = [r for r in recs if r.get("ok")]
            bad = [r for r in recs if not r.get("ok")]
            whole = _whole_row(size, mode, recs, ok, bad)
            if mode.startswith("phaselib"):
                rows += _phaselib_stage_rows(size, mode, recs, ok)
            else:
                rows += _hyperspy_stage_rows(size, mode, recs, ok, bad, whole["status"])
            rows.append(whole)
    return rows


def _t(v):
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def markdown_main(rows):
    out = ["| size | tool/mode | stage | median s (n) | peak anon MB | peak RSS MB | ARI vs truth | status |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = _t(r["time_s"])
        if r["time_s"] is not None:
            t += f" (n={r['n']})" + ("†" if r.get("disturbed") else "")
        elif r.get("failed_after_s") is not None:
            t = f"failed after {r['failed_after_s']:.0f}"
        ari = fmt(r.get("ari"), ".4f")
        if r.get("ari_vs_local") is not None:
            eq = r.get("labels_equal_local") or []
            diff = [d for d in r.get("labels_differ_px") or [] if d]
            ari += (f" (vs local run: ARI {r['ari_vs_local']:.4f}, identical {sum(bool(e) for e in eq)}/{len(eq)}"
                    + (f", {max(diff)} px differ" if diff else "") + ")")
        stage = "**whole**" if r["stage"] == "whole" else r["stage"]
        out.append(f"| {r['size']} | {MODE_NAMES[r['mode']]} | {stage} | {t} | {fmt(r['anon_mb'], '.0f')} "
                   f"| {fmt(r['rss_mb'], '.0f')} | {ari} | {r['status']} |")
    return "\n".join(out)


def ratios(rows, sizes):
    """HyperSpy / phaselib, where both ran: whole run, and decomposition vs phaselib's pca stage."""
    get = {(r["size"], r["mode"], r["stage"]): r for r in rows}
    out = []
    for size in sizes:
        pl = get.get((size, "phaselib", "whole"))
        pl_pca = get.get((size, "phaselib", "pca"))
        if not pl or pl["time_s"] is None:
            continue
        for mode in HS_MODES:
            hs = get.get((size, mode, "whole"))
            if not hs or hs["time_s"] is None:
                continue
            dec = get.get((size, mode, "decomposition"))
            out.append(dict(
                size=size, mode=mode, hs_s=hs["time_s"], pl_s=pl["time_s"], speed=hs["time_s"] / pl["time_s"],
                dec_speed=(dec["time_s"] / pl_pca["time_s"]) if dec and pl_pca and dec["time_s"] and
                pl_pca["time_s"] else None,
                hs_rss=hs["rss_mb"], pl_anon=pl["anon_mb"], pl_rss=pl["rss_mb"],
                mem_rss=hs["rss_mb"] / pl["rss_mb"], mem_anon=hs["rss_mb"] / pl["anon_mb"],
                hs_ari=hs["ari"], pl_ari=pl["ari"]))
    return out


def markdown_ratios(rat):
    out = ["| size | HyperSpy mode | HyperSpy whole s | phaselib whole s | speed ratio (whole) "
           "| decomposition / phaselib pca | HyperSpy peak RSS MB | phaselib peak anon / RSS MB "
           "| memory ratio (RSS / RSS; RSS / phaselib anon) | ARI HyperSpy / phaselib |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rat:
        out.append(f"| {r['size']} | {MODE_NAMES[r['mode']]} | {_t(r['hs_s'])} | {_t(r['pl_s'])} "
                   f"| {r['speed']:.1f}x | {fmt(r['dec_speed'], '.1f')}x | {r['hs_rss']:.0f} "
                   f"| {r['pl_anon']:.0f} / {r['pl_rss']:.0f} | {r['mem_rss']:.1f}x; {r['mem_anon']:.1f}x "
                   f"| {fmt(r['hs_ari'], '.3f')} / {fmt(r['pl_ari'], '.4f')} |")
    return "\n".join(out)


def bars_check(rows):
    """The full-map bars, for each phaselib mode that ran on the full map."""
    get = {(r["size"], r["mode"], r["stage"]): r for r in rows}
    out = {}
    for mode in ("phaselib", "phaselib-lazy", "phaselib-dask"):
        r = get.get(("full", mode, "whole"))
        if not r or r["time_s"] is None:
            continue
        out[mode] = dict(time_s=r["time_s"], anon_mb=r["anon_mb"], ari=r["ari"],
                         time_ok=r["time_s"] < BARS["time_s"], anon_ok=r["anon_mb"] < BARS["anon_mb"],
                         ari_ok=(r["ari"] or 0) >= BARS["ari"])
        out[mode]["all_ok"] = out[mode]["time_ok"] and out[mode]["anon_ok"] and out[mode]["ari_ok"]
    return out


def _print_notes(args, k):
    print("- median s: wall time; `whole` = the child process from start to exit (imports, loading, "
          "writing included), other stages: phaselib's own `summary.json` timings, HyperSpy's timed "
          "inside the child. n = successful runs behind the median.")
    print(f"- peak anon / RSS MB: the process tree's RssAnon / VmRSS polled every {args.poll:g} s (per "
          "HyperSpy stage: attributed by stage markers; RSS also takes the kernel's exact VmHWM of the "
          "stage). RSS counts the page cache of memory-mapped files (phaselib's .npy input).")
    print("- failed runs: time = how long until the failure; memory = the peak until then.")
    print(f"- HyperSpy: k-means cluster_analysis (n_clusters = true k = {k}, number_of_components = k, "
          f"n_init={args.hs_n_init}, random_state=0); the runs do no per-phase spectra and write no files.")
    print("- † = other processes kept > 0.2 CPU busy during some of these runs.\n")


def print_report(rows, rat, bars, prep, args, k):
    """The tables on stdout: results, ratios, full-map bars, preparation steps."""
    print("## Results (medians)\n")
    print(markdown_main(rows))
    print()
    _print_notes(args, k)
    if rat:
        print("### HyperSpy / phaselib, where both ran\n")
        print(markdown_ratios(rat))
        print()
    if bars:
        print("### Full-map bars (< 120 s, < 2 GB peak anonymous, ARI >= 0.97)\n")
        for mode, b in bars.items():
            print(f"- {MODE_NAMES[mode]}: {b['time_s']:.1f} s ({'meets' if b['time_ok'] else 'MISSES'}), "
                  f"{b['anon_mb']:.0f} MB anon ({'meets' if b['anon_ok'] else 'MISSES'}), ARI {b['ari']:.4f} "
                  f"({'meets' if b['ari_ok'] else 'MISSES'})")
        print()
    if prep:
        print("### Preparation\n")
        for p in prep:
            extra = f", {p['disk_gb']:.2f} GB on disk" if "disk_gb" in p else ""
            print(f"- {p['what']} {p['size']}: {'ok' if p['ok'] else 'FAILED ' + str(p.get('error'))}, "
                  f"{p['wall_s']:.1f} s, peak anon {p['peak_anon_mb']:.0f} MB, RSS {p['peak_rss_mb']:.0f} MB{extra}")
        print()
