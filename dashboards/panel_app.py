"""The guided phase-mapping dashboard under Panel: ``panel serve dashboards/panel_app.py``.

One process serves the whole class; ``?map=synthetic:200x300`` or ``?map=sample:P45`` (the default)
names the map. ``scripts/serve.sh --panel`` installs what is needed and starts it.
"""

import sys
from pathlib import Path

import panel as pn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the phasedash package beside this file

from phasedash.panelapp import DEFAULT_MAP, preheat, serve_page  # noqa: E402

pn.extension(throttled=True)  # sliders act when released, not at every step of a drag
if not pn.state.cache.get("phasedash-preheated"):  # once per process (``--warm`` runs this file at start)
    pn.state.cache["phasedash-preheated"] = preheat()  # the first looks of the bundled and classroom maps
serve_page(DEFAULT_MAP).page.servable(title="Phase mapping (Panel)")
