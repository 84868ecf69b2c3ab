"""Where a page's CPU goes: the server, its kernels and the browser, for N pages opened together.

Against a running server (``CLASS_SIZE=10 PORT=18877 ./scripts/serve.sh``, wait for its kernels)::

    python -m benchmarks.page_cpu --url http://127.0.0.1:18877 --pages 1

Opens N pages (one chromium context each) at ``?map=synthetic:200x300``, waits for the clusters of the
map (as ``bench_class`` does), and prints the CPU seconds used meanwhile by the server, the kernels that
were running before (the pages' ready kernels), kernels started meanwhile (refills) and chromium. CPU is
read with psutil from every process (user + system), before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psutil

from benchmarks.bench_class import first_map


def _cpu():
    out = {}
    for p in psutil.process_iter(["cmdline"]):
        c = " ".join(p.info["cmdline"] or [])
        if "ipykernel" in c or "chrom" in c or ("voila" in c and "--port" in c) or "panel serve" in c:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            kind = "browser" if "chrom" in c else "kernel" if "ipykernel" in c else "server"
            out[p.pid] = (kind, t.user + t.system)
    return out


def _diff(before, after):
    used = {}
    for pid, (kind, t) in after.items():
        if pid not in before:
            kind += " (new)"
        used[kind] = used.get(kind, 0.0) + t - before.get(pid, (kind, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(used.items())}


async def _run(url, pages, front, name):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium")
        ps = [await (await browser.new_context()).new_page() for _ in range(pages)]
        path = "/voila/render/phase_mapping.ipynb" if front == "voila" else "/panel_app"
        before, t0 = _cpu(), time.perf_counter()

        async def one(page):
            await page.goto(f"{url}{path}?map={name}")
            return await first_map(page, front)

        await asyncio.gather(*[one(p) for p in ps])
        print(f"{pages} page(s) to their first map in {time.perf_counter() - t0:.1f} s; CPU s:",
              _diff(before, _cpu()))
        await browser.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pages", type=int, default=1)
    ap.add_argument("--server", choices=("voila", "panel"), default="voila")
    ap.add_argument("--map", default="synthetic:200x300", help="the page's ?map= (default synthetic:200x300)")
    opts = ap.parse_args(argv)
    asyncio.run(_run(opts.url.rstrip("/"), opts.pages, opts.server, opts.map))


if __name__ == "__main__":
    main()
