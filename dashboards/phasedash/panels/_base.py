"""What every panel shares: the panel base class, its guide text and widget tidying."""

from __future__ import annotations

import html

import ipywidgets as W


def _guide_html(text, questions):
    q = "".join(f"<li>{html.escape(x)}</li>" for x in questions)
    return (f"<div style='max-width:900px;color:#333'>{text}" + (f"<p><b>Questions</b></p><ul>{q}</ul>" if q else "")
            + "</div>")


def guide(text, questions=(), cube=None):
    """The step's explanation and its questions for the student, as HTML. ``cube``: ``(text, questions)`` for a
    map that is not an EDS spectrum image (a neutron ToF cube...), shown instead by :func:`match_kind`."""
    out = W.HTML(_guide_html(text, questions))
    if cube is not None:
        out.add_class("pd-guide")
        out.variants = (out.value, _guide_html(*cube))  # EDS, any other cube
    return out


def match_kind(widget, eds):
    """Show the EDS or the other-cube text of every guide under ``widget``."""
    variants = getattr(widget, "variants", None)
    if variants is not None:
        widget.value = variants[0 if eds else 1]
    for w in getattr(widget, "children", ()):
        match_kind(w, eds)


def tidy(widget):
    """Show whole descriptions and button labels (ipywidgets cuts them at a fixed width)."""
    for w in getattr(widget, "children", ()):
        tidy(w)
    if isinstance(widget, W.Button) and not widget.layout.width:
        widget.layout.width = "max-content"
    elif getattr(widget, "description", "") and hasattr(widget, "style") and hasattr(widget.style,
                                                                                     "description_width"):
        if not widget.style.description_width:
            widget.style.description_width = "initial"
    return widget


class Panel:
    """A step of the app: its widgets read the shared session; actions go through the app's runner."""

    def __init__(self, app):
        self.app, self.s = app, app.session

    def user(self, callback):
        """``callback(change)`` for changes made by the user, not by a refresh from the session."""
        return lambda change: None if self.app.updating else callback(change)
