"""Texts both front ends (Voilà's ipywidgets, Panel) show the same way."""

from __future__ import annotations

import html

from phaselib.identify import calibration_note
from phaselib.refine import describe_change


def refinement_html(session) -> str:
    """What phaselib's tests did to the phases of the session's phase map (added, split, merged,
    dissolved, fewer than asked for), as a short HTML list; empty when nothing changed or the map
    is not made from clusters."""
    if session.phase_source not in ("clusters", "spatial") or not session.refinement:
        return ""
    items = "".join(f"<li>{html.escape(describe_change(c))}</li>" for c in session.refinement)
    return f"<div class='pd-refinement'><b>Phases tested</b> (cluster numbers):<ul>{items}</ul></div>"


def calibration_html(minerals, k) -> str:
    """The element readings that naming corrected on the map's own phases
    (:func:`phaselib.identify.calibration_note`), to show under the minerals table; empty when none
    or when the names are not of the ``k`` phases shown."""
    note = calibration_note(minerals) if len(minerals) == k else ""
    return f"<div class='pd-mineral-calibration' style='max-width:640px'>{html.escape(note)}</div>" if note else ""
