"""phasedash: the Voilà dashboards of phaselib (widgets over :mod:`phaselib`, no analysis code)."""
from .app import STEPS, App, export, requested_map
from .state import SAMPLES, Session

__all__ = ["App", "SAMPLES", "STEPS", "Session", "export", "requested_map"]
