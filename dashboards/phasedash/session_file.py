"""Session files: the choices of a :class:`~phasedash.state.Session` as JSON, and their replay.

A session file holds the map's source and every setting chosen (no arrays): reopening it
loads the map again and redoes each step, so the same phaselib calls give the same results.
"""

from __future__ import annotations

import json
from pathlib import Path

SESSION_FORMAT = "phasedash-session-1"


class SessionFile:
    """Mixin of :class:`~phasedash.state.Session`: ``to_dict``, ``save_session`` and ``restore``."""

    def to_dict(self) -> dict:
        """What reopens this session: the source and every choice made (no arrays)."""
        im = self.image
        return dict(format=SESSION_FORMAT, source=self.source, crop=self.crop_box,
                    calibration=None if im is None else [im.energy_offset, im.energy_scale], axis=_axis(im),
                    algorithm=self.algorithm, n_components=self.n_components,
                    cluster_method=self.cluster_method, n_clusters=self.n_clusters,
                    membership_threshold=self.membership_threshold, phase_source=self.phase_source, beta=self.beta,
                    overrides={str(k): v for k, v in self.overrides.items()}, min_size=self.min_size,
                    has_decomposition=self.decomposition is not None, has_clustering=self.clustering is not None,
                    has_labels=self.labels is not None, grain_options=self.grain_options,
                    has_grains=self.grains is not None, **_painted(self))

    def save_session(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def restore(self, state, progress=None):
        """Replay a session dict (or a path to a session file) on this session."""
        if isinstance(state, (str, Path)):
            try:
                state = json.loads(Path(state).read_text())
            except (OSError, ValueError) as err:
                raise ValueError(f"Not a session file: {err}") from None
        if not isinstance(state, dict) or state.get("format") != SESSION_FORMAT:
            raise ValueError(f"Not a session file (expected format {SESSION_FORMAT!r}).")
        cal = state.get("calibration") or (None, None)
        self.load(state["source"], energy_offset=cal[0], energy_scale=cal[1], axis=state.get("axis"))
        if state.get("crop"):
            r0, r1, c0, c1 = state["crop"]
            self.crop((r0, r1), (c0, c1))
        if cal[0] is not None:
            self.set_calibration(*cal)
        if state.get("has_decomposition"):
            self.run_pca(progress)
            self.decompose(state["algorithm"], state["n_components"], progress)
        if state.get("has_clustering"):
            self.run_clustering(state["cluster_method"], state["n_clusters"], state["membership_threshold"])
        self.overrides = {int(k): float(v) for k, v in state.get("overrides", {}).items()}
        if state.get("has_labels"):
            self.phase_map(state["phase_source"], min_size=state["min_size"], beta=state.get("beta", 2.0))
        if state.get("has_grains"):
            self.run_grains(**state.get("grain_options", {}))
        _repaint(self, state)
        return self


def _axis(image):
    """The key of ``sources.NPY_AXES`` that gives this map's axis and values ("auto" when none does)."""
    from .sources import NPY_AXES

    if image is None:
        return None
    kind = (image.signal, image.axis_name, image.axis_units)
    return next((k for k, v in NPY_AXES.items() if v == kind), "auto")


def _painted(session) -> dict:
    """The Label step's painted pixels (rows, cols, classes), class names and classifier."""
    if session.paint is None or not (session.paint >= 0).any():
        return {}
    rows, cols = (session.paint >= 0).nonzero()
    return dict(paint=dict(shape=list(session.paint.shape), rows=rows.tolist(), cols=cols.tolist(),
                           classes=session.paint[rows, cols].tolist()),
                label_names=list(session.label_names),
                classifier=None if session.supervised is None else session.supervised[0].classifier)


def _repaint(session, state):
    """Put the painted pixels back, and train again if the session had been trained."""
    import numpy as np

    painted = state.get("paint")
    if not painted or session.image is None or tuple(painted["shape"]) != session.image.shape[:2]:
        return
    paint = np.full(tuple(painted["shape"]), -1, np.int16)
    paint[painted["rows"], painted["cols"]] = painted["classes"]
    session.paint, session.label_names = paint, list(state.get("label_names") or ())
    if state.get("classifier"):
        from .training import train

        # a ToF session saved with "poisson" (allowed before session 19) retrains with the cube's default
        poisson_on_intensity = state["classifier"] == "poisson" and not session.image.is_counts
        train(session, None if poisson_on_intensity else state["classifier"])
