"""What every panel shares: the panel base class, its guide text and widget tidying."""

from __future__ import annotations

import html

import ipywidgets as W


def guide(text, questions=()):
    """The step's explanation and its questions for the student, as HTML."""
    q = "".join(f"<li>{html.escape(x)}</li>" for x in questions)
    return W.HTML(f"<div style='max-width:900px;color:#333'>{text}"
                  + (f"<p><b>Questions</b></p><ul>{q}</ul>" if q else "") + "</div>")


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
