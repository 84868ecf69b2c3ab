"""The guided phase-mapping app under Panel, for a class on one ``panel serve`` process.

=====================  ======================================================================
``shared.py``          what every session of the process shares: the worker pool, the checked
                       ``?map=`` names, the first look at each map (in ``pn.state.cache``)
``app.py``             :class:`PanelApp`, one per browser session: actions, run off the event loop
``steps.py``           the steps as Panel widgets: data, decomposition, clustering, phase map, export
``figures.py``         Bokeh figures: maps, spectra with named lines, curves, phase legends
``export.py``          the results as one zip file, made in memory for the student to download
=====================  ======================================================================

The analysis is the same :class:`~phasedash.state.Session` as the Voilà app's; this package holds
widgets only. ``panel serve dashboards/panel_app.py`` serves it (``scripts/serve.sh --panel``).
"""

from .app import STEPS, PanelApp, serve_page
from .shared import DEFAULT_MAP, check_map_name, clone, first_look, preheat

__all__ = ["DEFAULT_MAP", "STEPS", "PanelApp", "check_map_name", "clone", "first_look", "preheat", "serve_page"]
