"""phasedash: the Voilà dashboards of phaselib (widgets over :mod:`phaselib`, no analysis code)."""
from .app import STEPS, App, requested_map
from .panels import export
from .state import SAMPLES, Session

__all__ = ["App", "SAMPLES", "STEPS", "Session", "export", "requested_map"]
