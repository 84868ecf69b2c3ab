"""Upload a big map through the dashboard's button in a real browser: time and kernel memory.

Serves ``dashboards/`` with Voilà, opens the practical in Debian's chromium (Playwright), uploads
a ``.npy`` map of ``--mb`` megabytes (a synthetic rock) and measures the time from choosing the
file to the last byte written on the server, and the peak resident memory of the page's kernel
while the bytes come in (``/proc``, polled every 20 ms; the map's analysis afterwards is not
counted). ``ChunkedUpload`` sends 8 MB pieces straight to disk; ipywidgets' ``FileUpload`` (the
widget used before) sent the file in one websocket message and kept it in the kernel.

Usage (from the repository root): ``python -m benchmarks.bench_upload [--mb 200] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks._measure import status_mb
from tests._voila import browser, voila_server


def _kernels():
    """PIDs of running ipykernel processes."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if b"ipykernel" in (p / "cmdline").read_bytes():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def _rss_mb(pid):
    return status_mb("VmRSS", pid) or 0.0


def _upload_folder_size(since):
    """Bytes in phasedash-upload-* folders made after ``since``."""
    total = 0
    for d in Path(tempfile.gettempdir()).glob("phasedash-upload-*"):
        if d.stat().st_mtime >= since:
            total += sum(f.stat().st_size for f in d.iterdir())
    return total


def run(mb, repeat):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_map.npy"
        h = max(int(mb * 2**20 / (200 * 1024 * 2)), 1)
        rng = np.random.default_rng(0)
        np.save(path, rng.poisson(0.1, (h, 200, 1024)).astype(np.uint16))
        size = path.stat().st_size
        with voila_server() as base, browser() as b:
            for _ in range(repeat):
                before = set(_kernels())
                page = b.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(f"{base}/voila/render/phase_mapping.ipynb")
                page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=120000)
                pid = (set(_kernels()) - before).pop()
                base_rss, peak, stop = _rss_mb(pid), [0.0], threading.Event()

                def poll(pid=pid, peak=peak, stop=stop):
                    while not stop.is_set():
                        peak[0] = max(peak[0], _rss_mb(pid))
                        time.sleep(0.02)

                threading.Thread(target=poll, daemon=True).start()
                with page.expect_file_chooser() as chooser:
                    page.get_by_role("button", name="Upload a map").click()
                t0, since = time.perf_counter(), time.time() - 1
                chooser.value.set_files(str(path))
                while _upload_folder_size(since) < size:
                    time.sleep(0.02)
                dt = time.perf_counter() - t0
                stop.set()
                rows.append((dt, peak[0] - base_rss, base_rss))
                print(f"  {size / 2**20:.0f} MB in {dt:.1f} s ({size / 2**20 / dt:.0f} MB/s); kernel RSS "
                      f"{base_rss:.0f} MB before, +{peak[0] - base_rss:.0f} MB at most while uploading",
                      file=sys.stderr, flush=True)
                page.close()
    t = [r[0] for r in rows]
    m = [r[1] for r in rows]
    print(f"| file | upload time, median (min-max) | kernel memory added while uploading, median |\n|---|---|---|\n"
          f"| {size / 2**20:.0f} MB .npy | {statistics.median(t):.1f} s ({min(t):.1f}-{max(t):.1f}) | "
          f"{statistics.median(m):.0f} MB |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    run(args.mb, args.repeat)


if __name__ == "__main__":
    main()
