"""Compute the bundled maps' first look into the shared cache before the class arrives:
``python -m phasedash.warm`` (run by ``scripts/serve.sh``)."""

from __future__ import annotations

import time

from .cache import folder


def warm(sources=None):
    """Compute the first look of the bundled maps now (``python -m phasedash.warm``), so that the
    first student of the day does not wait for it."""
    from .app import App
    from .state import SAMPLES

    for source in sources or SAMPLES.values():
        t0 = time.perf_counter()
        app = App(source, background=False)
        print(f"  {source}: {time.perf_counter() - t0:.1f} s {app.runner.message.value or ''}", flush=True)


if __name__ == "__main__":
    import sys

    if folder() is not None:
        print(f"Shared results of the bundled maps (cache: {folder()}):", flush=True)
        warm(sys.argv[1:])
