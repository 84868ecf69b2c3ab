"""phasedash: the Voilà dashboards of phaselib (widgets over :mod:`phaselib`, no analysis code).

Names are imported on first use, so that the server-side modules (``phasedash.server``) load
without the widget code.
"""

__all__ = ["App", "SAMPLES", "STEPS", "Session", "export", "requested_map"]


def __getattr__(name):
    if name in ("App", "STEPS", "requested_map"):
        from . import app

        return getattr(app, name)
    if name in ("SAMPLES", "Session"):
        from . import state

        return getattr(state, name)
    if name == "export":
        from .panels import export

        return export
    raise AttributeError(f"module 'phasedash' has no attribute {name!r}")
