"""A class on one server: N students arriving within a minute, in real browsers on loopback.

Starts the server as a teacher does (``PORT=N ./scripts/serve.sh [--panel]``), reads the first URL
it prints, appends ``?map=synthetic:200x300`` and sends N students (one chromium through
Playwright, one browser context each) arriving evenly over ``--spread`` seconds. For each student:

- first map: from arrival to the clusters of the map shown ("H x W pixels", then "K clusters");
- cluster change: the number of clusters moved one up (or, with ``--k-spread S``, by 1..S), from the
  action to the new map shown.

Meanwhile the server's memory (its process and every child: Voilà's kernels) is sampled: the sum of
RSS and the sum of PSS (shared pages, as the memory-mapped maps, counted once). At the end, even
students close their tab (the browser tells the server), odd ones lose it (context closed without a
word, as a crash or a sleeping laptop): the benchmark waits for their kernels to go (Voilà; with a
short culling time given to the server) and reports how many are left.

With Voilà the class arrives ``--settle`` seconds after the ready kernels are preheated (the server and
its kernels quiet for 4 s), as when a teacher starts the server before the class; ``--no-wait-ready``
counts from the server's first answer instead. The whole server log goes to ``benchmarks/_work/``.

The server gets a new, empty cache folder (``PHASEDASH_CACHE_DIR``) unless ``--cache`` names one: the
day's first class, with only what ``serve.sh`` computes before it opens. A cache kept from an earlier run
already holds what the students compute first (another number of clusters) and measures a later class.

Usage (from the repository root)::

    python -m benchmarks.bench_class --students 30 --spread 60 --server voila
    python -m benchmarks.bench_class --students 30 --spread 60 --server panel

Prints a table; writes ``benchmarks/results/class-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchmarks._paths import ROOT, WORK
from benchmarks._report import command_line, fmt, median, write_results

MAP = "synthetic:200x300"
#: per front-end: the text of the clusters shown (group 1: their number), and how to reach it
FRONTS = {
    "voila": {"clusters": r"(\d+) clusters \(", "tab": "3. Clustering"},
    "panel": {"clusters": r"(\d+) clusters", "tab": "3. Clustering"},
}
BARS = {"first map median": 15.0, "first map max": 30.0, "cluster change median": 2.0,
        "server memory voila": 8.0, "server memory panel": 2.0}


class Sampler(threading.Thread):
    """The server's memory (RSS and PSS summed over its process tree) and its kernels, every ``every`` s."""

    def __init__(self, pid, every=2.0):
        super().__init__(daemon=True)
        self.pid, self.every, self.stop = pid, every, threading.Event()
        self.samples = []  # (t, rss GB, pss GB, processes)
        self.cpu = {}  # pid -> CPU seconds used (user + system), the last seen
        self.clients = {}  # the same for the browsers and Playwright's driver (this process's other children)

    def run(self):
        import psutil

        while not self.stop.is_set():
            try:
                procs = [psutil.Process(self.pid)] + psutil.Process(self.pid).children(recursive=True)
            except psutil.Error:
                break
            rss = pss = 0
            for p in procs:
                try:
                    m, c = p.memory_full_info(), p.cpu_times()
                    rss, pss = rss + m.rss, pss + m.pss
                    self.cpu[p.pid] = c.user + c.system
                except psutil.Error:
                    continue
            self.samples.append((time.time(), rss / 2**30, pss / 2**30, len(procs)))
            server = {p.pid for p in procs}  # the server is this process's child too: left out
            for p in psutil.Process().children(recursive=True):
                if p.pid in server:
                    continue
                with contextlib.suppress(psutil.Error):
                    c = p.cpu_times()
                    self.clients[p.pid] = c.user + c.system
            self.stop.wait(self.every)


def start_server(front, port, extra, env):
    """``PORT=port ./scripts/serve.sh [--panel] extra...``; returns the process and the first URL it prints."""
    cmd = ["bash", "scripts/serve.sh"] + (["--panel"] if front == "panel" else []) + list(extra)
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env, "PORT": str(port)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url, log = None, []
    for line in proc.stdout:
        log.append(line)
        found = re.search(r"https?://\S+", line)
        if found:
            url = found.group(0).replace("localhost", "127.0.0.1")
            break
    if url is None:
        raise RuntimeError("serve.sh printed no URL:\n" + "".join(log[-30:]))
    threading.Thread(target=lambda: [log.append(x) for x in proc.stdout], daemon=True).start()
    base = re.match(r"https?://[^/]+", url).group(0)
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(base + ("/liveness" if front == "panel" else "/"), timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() - t0 > 1800:
                stop_server(proc)
                raise RuntimeError("the server did not start:\n" + "".join(log[-30:])) from None
            time.sleep(1)
    return proc, url.split("?")[0], log


def stop_server(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group serve.sh started (this benchmark's own)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def student(i, browser, url, arrival, front, opts, t0, done):
    """One student: arrive, wait for the map's clusters, move the number of clusters, wait for the new map."""
    r = {"student": i, "arrival_s": round(arrival, 2)}
    await asyncio.sleep(max(0.0, t0 + arrival - time.time()))
    t_arrive = time.time()
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(opts.timeout * 1000)
    page = await ctx.new_page()
    r["ctx"], r["page"], r["page_errors"] = ctx, page, []
    page.on("pageerror", lambda e: r["page_errors"].append(str(e)[:200]))
    try:
        await page.goto(f"{url}?map={opts.map}", wait_until="commit")
        k0 = await first_map(page, front)
        r["first_map_s"] = time.time() - t_arrive
        k1 = k0 + 1 + (i % opts.k_spread)
        r["k"] = [k0, k1]
        t = time.time()
        await change_clusters(page, front, k1 - k0, k1)
        await shown(page, front, k1)
        r["cluster_change_s"] = time.time() - t
        if front == "voila":
            r["kernel"] = await page.evaluate(
                "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
    except Exception as err:  # noqa: BLE001 - a student who never got there is a result
        r["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    print(f"  student {i:2d}: first map {fmt(r.get('first_map_s'))} s, cluster change "
          f"{fmt(r.get('cluster_change_s'))} s {r.get('error', '')} {r['page_errors'][:1]}", file=sys.stderr,
          flush=True)
    done.append(r)
    return r


async def first_map(page, front):
    """Wait for the first map and its clusters; their number. Panel draws inside shadow roots, which
    ``document.body.innerText`` does not see: its texts are found with locators."""
    spec = FRONTS[front]
    if front == "voila":
        await page.wait_for_function("!!document.body && /\\d+ x \\d+ pixels/.test(document.body.innerText)",
                                     polling=250)
        await page.get_by_role("tab", name=spec["tab"]).click()
        await page.wait_for_function("re => new RegExp(re).test(document.body.innerText)", arg=spec["clusters"],
                                     polling=250)
        return int(re.search(spec["clusters"], await page.inner_text("body")).group(1))
    await page.locator(".pd-summary").get_by_text(re.compile(r"\d+ x \d+ pixels")).first.wait_for()
    await page.locator(".bk-tab", has_text=spec["tab"]).click()
    title = page.locator(".pd-cluster-title").first
    await title.get_by_text(re.compile(r"\d+ clusters")).wait_for()
    return int(re.search(r"(\d+) clusters", await page.locator(".pd-cluster-title b").first.inner_text()).group(1))


async def shown(page, front, k1):
    """Wait until the map shows ``k1`` clusters."""
    if front == "voila":
        want = FRONTS[front]["clusters"].replace(r"(\d+)", str(k1))
        await page.wait_for_function("re => new RegExp(re).test(document.body.innerText)", arg=want, polling=100)
    else:
        await page.locator(".pd-cluster-title").first.get_by_text(f"{k1} clusters").wait_for()


async def change_clusters(page, front, steps, k1):
    if front == "voila":  # type the value into the slider's box, as a student can
        box = page.locator(".pd-n-clusters .widget-readout")
        await box.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.type(str(k1))
        await page.keyboard.press("Enter")
    else:  # Panel's slider: the handle moved with the arrow keys
        handle = page.locator(".pd-n-clusters .noUi-handle").first
        await handle.focus()
        for _ in range(steps):
            await page.keyboard.press("ArrowRight")


async def close_all(results, opts, server_pid, front):
    """Even students close their tab, odd ones lose it; then wait for their kernels to go."""
    from tests._voila import kernel_processes

    for r in results:
        try:
            if r["student"] % 2 == 0:
                await r["page"].close(run_before_unload=True)
            await r["ctx"].close()
        except Exception:  # noqa: BLE001, S110 - a page already gone is closed
            pass
    kernels = {r["kernel"] for r in results if r.get("kernel")}
    if front != "voila" or not kernels:
        return None, None
    t0 = time.time()
    while True:
        left = kernels & set(kernel_processes(server_pid))
        if not left or time.time() - t0 > opts.cull_wait:
            return len(left), time.time() - t0
        await asyncio.sleep(1)


async def run_class(url, opts, server_pid):
    from playwright.async_api import async_playwright

    from tests._voila import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        t0, done = time.time() + 2, []
        arrivals = [opts.spread * i / max(opts.students - 1, 1) for i in range(opts.students)]
        await asyncio.gather(*(student(i, browser, url, a, opts.server, opts, t0, done)
                               for i, a in enumerate(arrivals)))
        await asyncio.sleep(opts.hold)  # the class keeps its pages open a moment
        left, gone_after = await close_all(done, opts, server_pid, opts.server)
        await browser.close()
    for r in done:
        r.pop("ctx", None), r.pop("page", None)
    return sorted(done, key=lambda r: r["student"]), left, gone_after


def summary(results, sampler, left, gone_after, opts):
    first = [r.get("first_map_s") for r in results]
    change = [r.get("cluster_change_s") for r in results]
    ok = [v for v in first if v is not None]
    return {
        "students": opts.students, "reached the map": len(ok),
        "changed the clusters": sum(v is not None for v in change),
        "first map median s": median(first), "first map max s": max(ok) if ok else None,
        "cluster change median s": median(change),
        "cluster change max s": max((v for v in change if v is not None), default=None),
        "server peak RSS sum GB": max((s[1] for s in sampler.samples), default=None),
        "server peak PSS sum GB": max((s[2] for s in sampler.samples), default=None),
        "kernels left after closing": left, "kernels gone after s": gone_after,
        "server CPU s (server and kernels, during the class)": round(sum(sampler.cpu.values()) - sampler.cpu0, 1),
        "browsers CPU s (chromium and Playwright, during the class)": round(sum(sampler.clients.values()), 1),
    }


def table(s, opts):
    bar_mem = BARS[f"server memory {opts.server}"]
    server_cpu = s["server CPU s (server and kernels, during the class)"]
    client_cpu = s["browsers CPU s (chromium and Playwright, during the class)"]
    rows = [("students who reached the map", f"{s['reached the map']}/{s['students']}", f"{s['students']}/"
             f"{s['students']}"),
            ("students who changed the clusters", f"{s['changed the clusters']}/{s['students']}", ""),
            ("first map, median", f"{fmt(s['first map median s'], '.1f')} s", "<= 15 s"),
            ("first map, max", f"{fmt(s['first map max s'], '.1f')} s", "<= 30 s"),
            ("cluster change, median (max)", f"{fmt(s['cluster change median s'], '.2f')} s "
             f"({fmt(s['cluster change max s'], '.2f')} s)", "<= 2 s"),
            ("server memory, peak (PSS sum; RSS sum)", f"{fmt(s['server peak PSS sum GB'], '.2f')} GB; "
             f"{fmt(s['server peak RSS sum GB'], '.2f')} GB", f"<= {bar_mem:g} GB"),
            ("CPU during the class: server and kernels; browsers", f"{fmt(server_cpu, '.0f')} s; "
             f"{fmt(client_cpu, '.0f')} s", ""),
            ("kernels left after closing", f"{fmt(s['kernels left after closing'], 'd', 'n/a')} "
             f"(after {fmt(s['kernels gone after s'], '.0f', 'n/a')} s)", "0")]
    out = [f"| {opts.server}: {opts.students} students over {opts.spread:g} s | measured | bar |", "|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--spread", type=float, default=60.0, help="seconds over which the students arrive")
    ap.add_argument("--server", choices=sorted(FRONTS), default="voila")
    ap.add_argument("--port", type=int, default=18866)
    ap.add_argument("--k-spread", type=int, default=1, help="student i asks for k0 + 1 + (i %% S) clusters")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds a student waits for each step")
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds between the server's start (Voilà: its ready kernels all preheated) and the class")
    ap.add_argument("--no-wait-ready", action="store_true",
                    help="Voilà: count --settle from the server's first answer, not from its kernels being ready")
    ap.add_argument("--hold", type=float, default=10.0, help="seconds the pages stay open after the last change")
    ap.add_argument("--cull", type=int, default=60, help="culling time given to the Voilà server (s)")
    ap.add_argument("--cull-wait", type=float, default=180.0, help="seconds to wait for the kernels to go")
    ap.add_argument("--cache", default=None,
                    help="PHASEDASH_CACHE_DIR of the server (default: a new, empty one, removed after the run: "
                         "the day's first class, with only what serve.sh computes before it; a cache kept from "
                         "an earlier run holds the students' first steps and measures a later class)")
    ap.add_argument("--class-size", type=int, default=None,
                    help="Voilà: CLASS_SIZE given to serve.sh (kernels kept ready); default: serve.sh's own")
    ap.add_argument("--map", default=MAP,
                    help=f"the ?map= every student opens (default {MAP}; sample:P45: the real map)")
    ap.add_argument("--json", default=None)
    opts = ap.parse_args(argv)
    extra = [] if opts.server == "panel" else [f"--ClassroomKernelManager.cull_disconnected_timeout={opts.cull}",
                                               "--MappingKernelManager.cull_interval=5"]
    load_before = os.getloadavg()
    t = time.time()
    fresh = None
    if opts.cache is None:
        WORK.mkdir(parents=True, exist_ok=True)
        fresh = opts.cache = tempfile.mkdtemp(prefix="class-cache-", dir=WORK)
    env = {"PHASEDASH_CACHE_DIR": opts.cache}
    if opts.class_size is not None:
        env["CLASS_SIZE"] = str(opts.class_size)
    proc, url, log = start_server(opts.server, opts.port, extra, env)
    print(f"server up in {time.time() - t:.0f} s at {url}", file=sys.stderr)
    if opts.server == "voila" and not opts.no_wait_ready:  # as a teacher would: the kernels ready, then the class
        t1 = time.time()
        while not any("Kernel pool of phase_mapping.ipynb is filled" in line for line in log[-200:]):
            if time.time() - t1 > 900 or proc.poll() is not None:
                raise RuntimeError("the ready kernels were not all preheated in 15 minutes")
            time.sleep(1)
        # Voilà logs the pool "filled" when its kernels have started; they are ready once they wait, idle,
        # for their page (dashboard imported): the server and its kernels quiet for 4 s
        import psutil

        def tree_cpu():
            total = 0.0
            for p in [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = p.cpu_times()
                    total += c.user + c.system
            return total

        last = tree_cpu()
        while time.time() - t1 < 900:
            time.sleep(4)
            now = tree_cpu()
            if now - last < 0.4:  # under 0.1 core
                break
            last = now
        print(f"the guided page's kernels preheated {time.time() - t:.0f} s after the start", file=sys.stderr)
    print(f"the class arrives in {opts.settle:g} s", file=sys.stderr)
    time.sleep(opts.settle)
    sampler = Sampler(proc.pid)
    sampler.start()
    time.sleep(3)
    sampler.cpu0 = sum(sampler.cpu.values())  # what the server used before the class (start, warm, pool)
    try:
        results, left, gone_after = asyncio.run(run_class(url, opts, proc.pid))
    finally:
        sampler.stop.set()
        sampler.join(10)
        stop_server(proc)
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
    s = summary(results, sampler, left, gone_after, opts)
    load = {"before": load_before, "after": os.getloadavg(), "cpus": os.cpu_count(),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), **_machine()}
    print(table(s, opts))
    print(f"\nmachine load (1, 5, 15 min) before {load['before']}, after {load['after']} on {load['cpus']} CPUs")
    WORK.mkdir(parents=True, exist_ok=True)  # the whole server log, for what the tail does not show
    full_log = WORK / f"class-server-{time.strftime('%Y%m%d-%H%M%S')}.log"
    full_log.write_text("".join(log))
    print(f"server log: {full_log}")
    write_results({"command": command_line(), "options": vars(opts), "summary": s, "students": results,
                   "memory_samples": sampler.samples, "load": load, "server_log_tail": "".join(log[-40:]),
                   "server_log": str(full_log)}, opts.json, prefix="class-")
    return s



def _machine():
    """The browser's version and the CPU model: the class's figures depend on them (session 45: the same code gave a
    first map of 1.4 s on one 2-core machine and 16-40 s on an earlier one, its browsers using 2.5 times the CPU)."""
    from tests._voila import CHROMIUM

    out = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["browser"] = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
        out["cpu"] = next((ln.split(":", 1)[1] for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    return {k: v.strip() for k, v in out.items()}


if __name__ == "__main__":
    main()
