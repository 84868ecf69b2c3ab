"""The dashboard's plots before their first data: nothing bqplot cannot place (a console error each)."""

import bqplot as bq
import numpy as np
from phasedash.plots import CurveView, SpectrumView


def test_placeholder_lines_lie_on_their_log_scales():
    """The scree plot (step 2, log y) was made with a placeholder line at y = 0: log 0 gave NaN positions
    when bqplot first drew it, 7 console errors ("translate(295,NaN)") each time step 2 was first shown."""
    views = [CurveView("scree plot", log_y=True), CurveView("curve"), SpectrumView("spectra", log=True),
             SpectrumView("spectra")]
    checked = 0
    for view in views:
        if isinstance(view, CurveView):
            view.set_log(True)
        for mark in view.figure.marks:
            y = np.asarray(mark.y, float).ravel()
            if isinstance(mark.scales.get("y"), bq.LogScale) and y.size:
                checked += 1
                assert np.all(np.isfinite(np.log(y))), (view.figure.title, y)
    assert checked >= 3  # the scree plot's, a curve's turned to log, the log spectra's
