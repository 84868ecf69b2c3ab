"""A real ``panel serve`` process of the Panel dashboard on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _voila import ROOT, _free_port

APP = ROOT / "dashboards" / "panel_app.py"


def panel_command(port, *, address="127.0.0.1", warm=True):
    """The ``panel serve`` command line of ``scripts/serve.sh --panel``, on ``port``."""
    return [sys.executable, "-m", "panel", "serve", str(APP), "--port", str(port), "--address", address,
            f"--allow-websocket-origin=127.0.0.1:{port}", f"--allow-websocket-origin=localhost:{port}",
            "--num-procs", "1", "--liveness"] + (["--warm"] if warm else [])


@contextlib.contextmanager
def panel_server(timeout=90, env=None):
    """Serve the Panel dashboard on a free port; yields the page's URL (``.../panel_app``).

    Waits for the liveness endpoint (``--warm`` has then computed the default map's first look).
    """
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="panel-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(panel_command(port), stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    t0 = time.time()
    try:
        while True:
            try:
                urllib.request.urlopen(f"{base}/liveness", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"panel serve exited: {log.read()[-2000:]}") from None
                if time.time() - t0 > timeout:
                    raise RuntimeError("panel serve did not start in time") from None
                time.sleep(0.3)
        yield f"{base}/panel_app"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        server_log = log.read()
        log.close()
        Path(log.name).unlink(missing_ok=True)
        if "Traceback" in server_log or os.environ.get("PANEL_TEST_LOG"):
            print(server_log[-4000:], file=sys.stderr)
