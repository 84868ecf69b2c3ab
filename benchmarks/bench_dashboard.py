"""Time the dashboards in a real browser: first render and how fast each control redraws.

Serves ``dashboards/`` with Voilà, opens the pages in Debian's chromium (Playwright) and times,
from the user's action to the new picture in the page:

- first render: page request -> the map's data shown (P45, the 200 x 300 classroom-size synthetic
  subset, the full-map results);
- on the 200 x 300 subset: minimum size, Otsu threshold override, phase colour (target < 200 ms);
  number of components and number of clusters (target < 2 s).

Usage (from the repository root): ``python -m benchmarks.bench_dashboard [--repeat 5] [--json results/dashboard.json]``.
Prints a table of medians (min-max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tests._voila import browser, open_tab, set_slider, timed_image_change, voila_server

PAGES = {
    "first render: P45 (75 x 100)": ("phase_mapping.ipynb", "75 x 100 pixels"),
    "first render: classroom subset (200 x 300)": ("phase_mapping.ipynb?map=synthetic:200x300", "200 x 300 pixels"),
    "first render: full-map results (1295 x 1820)": ("full_map.ipynb", "1295 x 1820 pixels"),
}
TARGETS = {"first render": 10.0, "min size": 0.2, "threshold": 0.2, "colour": 0.2, "components": 2.0,
           "clusters": 2.0}


def _open(b, url, text):
    page = b.new_page(viewport={"width": 1400, "height": 1100})
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"document.body.innerText.includes('{text}')", timeout=120000)
    return page, time.perf_counter() - t


def _time_redraws(times, name, page, css, action, repeat):
    """``repeat`` times: ``action(i)``, then the time until the picture ``css`` changed."""
    for i in range(repeat):
        times.setdefault(name, []).append(timed_image_change(page, css, lambda i=i: action(i)))


def run(repeat):
    times = {}
    with voila_server() as base, browser() as b:
        for name, (nb, text) in PAGES.items():
            for _ in range(repeat):
                page, dt = _open(b, f"{base}/voila/render/{nb}", text)
                times.setdefault(name, []).append(dt)
                print(f"  {name}: {dt:.2f} s", file=sys.stderr, flush=True)
                page.close()
        page, _ = _open(b, f"{base}/voila/render/{PAGES['first render: classroom subset (200 x 300)'][0]}",
                        "200 x 300 pixels")
        open_tab(page, "4. Phase map")
        _time_redraws(times, "min size (phase map redraw)", page, ".pd-phase-map",
                      lambda i: set_slider(page, ".pd-min-size", 20 + 10 * i), repeat)
        set_slider(page, ".pd-min-size", 0)
        page.get_by_role("button", name="component maps + Otsu").click()
        page.wait_for_selector(".pd-threshold", state="visible")
        time.sleep(1.5)
        handle = page.locator(".pd-threshold .noUi-handle")
        lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
        # thresholds spread over the lower part of the loading range
        values = [round(lo + (hi - lo) * (0.15 + 0.3 * i / max(repeat, 1)), 4) for i in range(repeat)]
        _time_redraws(times, "threshold override (phase map redraw)", page, ".pd-phase-map",
                      lambda i: set_slider(page, ".pd-threshold", values[i]), repeat)
        colours = ["#ff00ff", "#00ffff", "#ff0000", "#00ff00", "#123456", "#654321", "#abcdef"]
        _time_redraws(times, "colour (phase map redraw)", page, ".pd-phase-map",
                      lambda i: page.locator(".pd-colour input[type=color]").fill(colours[i % 7]), repeat)
        open_tab(page, "2. Decomposition")
        _time_redraws(times, "components (loading + phase map)", page, ".pd-loading-map",
                      lambda i: set_slider(page, ".pd-n-components", 4 + i % 3), repeat)
        open_tab(page, "3. Clustering")
        _time_redraws(times, "clusters (cluster map redraw)", page, ".pd-cluster-map",
                      lambda i: set_slider(page, ".pd-n-clusters", 7 + i % 3), repeat)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    times = run(args.repeat)
    print(f"{'interaction':48s} {'median s':>9s} {'min-max s':>14s} {'target s':>9s}")
    rows = []
    for name, v in times.items():
        target = next(t for k, t in TARGETS.items() if name.startswith(k))
        med = statistics.median(v)
        print(f"{name:48s} {med:9.3f} {min(v):6.3f}-{max(v):6.3f} {target:9.2f} {'ok' if med < target else 'MISSED'}")
        rows.append(dict(interaction=name, median_s=med, all_s=v, target_s=target))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
