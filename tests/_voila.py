"""A real Voilà server and a real browser (Debian's chromium through Playwright), for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(str):
    """The base URL of a running Voilà server (a string), with its process as ``.proc``."""

    proc: subprocess.Popen


@contextlib.contextmanager
def voila_server(folder=ROOT / "dashboards", timeout=120, env=None, args=()):
    """Serve ``folder`` with Voilà on a free port, as ``scripts/serve.sh`` does (from ``folder``, with
    its ``voila.json``); ``env``: extra environment, ``args``: extra options (``--Class.trait=value``;
    two kernels kept ready for the guided page unless ``args`` says otherwise, not a class's worth).
    Yields the base URL (a :class:`Server`)."""
    if not any("class_size" in a for a in args):
        args = ["--ClassroomKernelManager.class_size=2", *args]
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="voila-", suffix=".log", delete=False)  # noqa: SIM115
    path = os.pathsep.join([str(folder)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    jp = os.pathsep.join([str(folder / "share")] + [p for p in [os.environ.get("JUPYTER_PATH")] if p])
    env = {"JUPYTER_PATH": jp, **(env or {})}  # the page template, as serve.sh gives it
    proc = subprocess.Popen([sys.executable, "-m", "voila", ".", "--template=phaselib", "--no-browser",
                             f"--port={port}", "--Voila.ip=127.0.0.1", "--ServerApp.log_level=WARN", *args],
                            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=folder,  # reads folder/voila.json
                            env={**os.environ, "PYTHONPATH": path, **env})
    url = Server(f"http://127.0.0.1:{port}")
    url.proc = proc
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"Voilà exited: {log.read()[-2000:]}") from None
            if time.time() - t0 > timeout:
                proc.kill()
                raise RuntimeError("Voilà did not start in time") from None
            time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def kernel_processes(pid):
    """``{kernel id: psutil.Process}`` of the kernels the server process ``pid`` runs."""
    import psutil

    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            for arg in child.cmdline():
                name = Path(arg).name
                if name.startswith("kernel-") and name.endswith(".json"):
                    found[name[len("kernel-"):-len(".json")]] = child
        except psutil.Error:
            continue
    return found


def wait_preheated(url, count, timeout=120):
    """Wait until the server at ``url`` runs ``count`` kernels, all idle (their notebooks run), at most
    ``timeout`` seconds for them to start and as long again to settle; returns ``{kernel id: process}``."""
    deadline = time.time() + timeout
    while len(kernel_processes(url.proc.pid)) < count and time.time() < deadline:
        time.sleep(0.5)
    while time.time() < deadline + timeout:
        if all(k.cpu_percent(interval=1.0) < 5 for k in kernel_processes(url.proc.pid).values()):
            break
    return kernel_processes(url.proc.pid)


def page_kernel_id(page):
    """The id of the kernel behind a Voilà page."""
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


@contextlib.contextmanager
def browser():
    """A headless Debian chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def image_href(page, css):
    """The (blob) address of the picture shown in the bqplot map with CSS class ``css``."""
    return page.evaluate("""css => { const i = document.querySelector(css + ' image');
        return i ? (i.getAttribute('href') || '') : '' }""", css)


def wait_image_change(page, css, before, timeout=30000):
    page.wait_for_function("""([css, before]) => { const i = document.querySelector(css + ' image');
        return !!i && (i.getAttribute('href') || '') !== before && (i.getAttribute('href') || '') !== '' }""",
                           arg=[css, before], timeout=timeout, polling="raf")


def timed_image_change(page, css, action, timeout=30000):
    """Seconds from ``action()`` to the new picture in the browser."""
    before = image_href(page, css)
    t = time.perf_counter()
    action()
    wait_image_change(page, css, before, timeout)
    return time.perf_counter() - t


def set_slider(page, css, value):
    """Type a value into an ipywidgets slider's readout, as a user can."""
    box = page.locator(f"{css} .widget-readout")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def open_tab(page, name, timeout=60000):
    """Show a step; its widgets are made on first showing: wait until they are there."""
    page.get_by_role("tab", name=name).click()
    page.wait_for_function("!document.querySelector('.phasedash-app').innerText.includes('opening this step')",
                           timeout=timeout, polling=100)
