"""Session files: the choices of a :class:`~phasedash.state.Session` as JSON, and their replay.

A session file holds the map's source and every setting chosen (no arrays): reopening it
loads the map again and redoes each step, so the same phaselib calls give the same results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

SESSION_FORMAT = "phasedash-session-1"
MAX_SESSION_BYTES = 16 * 2**20  # a session file is a few kB (painted pixels included); a bigger one is not one
#: what a session file may hold: field -> the JSON types it may take (None: null)
_FIELDS = dict(format=(str,), source=(str,), crop=(list, None), calibration=(list, None), axis=(str, None),
               algorithm=(str, None), n_components=(int, None), cluster_method=(str, None), n_clusters=(int, None),
               membership_threshold=(int, float, None), phase_source=(str, None), beta=(int, float, None),
               overrides=(dict, None), min_size=(int, None), has_decomposition=(bool,), has_clustering=(bool,),
               has_labels=(bool,), grain_options=(dict, None), has_grains=(bool,), paint=(dict, None),
               label_names=(list, None), classifier=(str, None), has_minerals=(bool,))
_NEEDS = dict(has_decomposition=("algorithm", "n_components"),
              has_clustering=("cluster_method", "n_clusters", "membership_threshold"),
              has_labels=("phase_source", "min_size"))


def whole(value, name):
    """``value`` as an int, or a ValueError naming ``name`` (NaN, infinite, not a number, beyond 10**9)."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, got {type(value).__name__}.") from None
    if not math.isfinite(f) or abs(f) > 1e9:
        raise ValueError(f"{name} must be a whole number up to 10**9, got {value!r}.")
    return int(f)


def pair(value, name):
    """``(a, b)`` of whole numbers, or a ValueError."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair of whole numbers (start, stop).")
    return whole(value[0], name), whole(value[1], name)


def mapping(value, name):
    """``value`` if it is a dict, or a ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must map component numbers to thresholds, got {type(value).__name__}.")
    return value


def _kind_ok(value, kinds):
    if value is None or isinstance(value, bool):
        return (None if value is None else bool) in kinds
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, tuple(k for k in kinds if k not in (None, bool)))


def check_state(state):
    """A session dict whose fields have the types and sizes a session file holds, else ValueError (one
    message: the file is damaged, and which field)."""
    def bad(field, why="has the wrong type"):
        return ValueError(f"Damaged session file: its '{field}' {why}.")

    if not isinstance(state, dict) or state.get("format") != SESSION_FORMAT:
        raise ValueError(f"Not a session file (expected format {SESSION_FORMAT!r}).")
    if "source" not in state:
        raise bad("source", "is missing")
    for field, value in state.items():
        if field in _FIELDS and not _kind_ok(value, _FIELDS[field]):
            raise bad(field)
    for flag, fields in _NEEDS.items():
        for field in fields if state.get(flag) else ():
            if state.get(field) is None:
                raise bad(field, f"is missing (it has {flag})")
    for field, n in (("crop", 4), ("calibration", 2)):
        v = state.get(field)
        if v is not None and (len(v) != n or not all(_kind_ok(x, (int, float)) for x in v)):
            raise bad(field, f"is not {n} numbers")
    for k, v in (state.get("overrides") or {}).items():
        if not (str(k).lstrip("-").isdigit() and _kind_ok(v, (int, float))):
            raise bad("overrides")
    for k, v in (state.get("grain_options") or {}).items():
        if k not in _grain_options() or not _kind_ok(v, (bool, int, float, None)):
            raise bad("grain_options", f"holds an unknown or damaged option {str(k)[:40]!r}")
    _check_paint(state, bad)
    return state


def _grain_options():
    """The options of ``grain_map`` a session file may hold: its numbers and switches (not the map, its pixel size,
    arrays, the phases)."""
    import inspect

    from phaselib.morphology import grain_map

    return set(inspect.signature(grain_map).parameters) - {"labels", "phases", "pixel_size", "footprint",
                                                           "boundary_image"}


def _check_paint(state, bad):
    painted = state.get("paint")
    if painted is None:
        return
    names = state.get("label_names") or []
    if not all(isinstance(n, str) for n in names):
        raise bad("label_names")
    shape, lists = painted.get("shape"), [painted.get(k) for k in ("rows", "cols", "classes")]
    if (not isinstance(shape, list) or len(shape) != 2 or not all(_kind_ok(x, (int,)) and 0 < x <= 10**5 for x in shape)
            or not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1):
        raise bad("paint", "is not a shape and three lists of one length")
    top = len(names) if names else 1000  # phaselib's MAX_CLASSES
    for v, hi in zip(lists, (*shape, top)):
        if not all(_kind_ok(x, (int,)) and 0 <= x < hi for x in v):
            raise bad("paint", "holds pixels or classes out of range")


class SessionFile:
    """Mixin of :class:`~phasedash.state.Session`: ``to_dict``, ``save_session`` and ``restore``."""

    def to_dict(self) -> dict:
        """What reopens this session: the source and every choice made (no arrays)."""
        from .sources import axis_key

        im = self.image
        return dict(format=SESSION_FORMAT, source=self.source, crop=self.crop_box,
                    calibration=None if im is None else [im.energy_offset, im.energy_scale], axis=axis_key(im),
                    algorithm=self.algorithm, n_components=self.n_components,
                    cluster_method=self.cluster_method, n_clusters=self.n_clusters,
                    membership_threshold=self.membership_threshold, phase_source=self.phase_source, beta=self.beta,
                    overrides={str(k): v for k, v in self.overrides.items()}, min_size=self.min_size,
                    has_decomposition=self.decomposition is not None, has_clustering=self.clustering is not None,
                    has_labels=self.labels is not None, grain_options=self.grain_options,
                    has_grains=self.grains is not None, has_minerals=_named(self), **_painted(self))

    def save_session(self, path) -> Path:
        from phaselib._atomic import atomic_file

        if self.image is None or not self.source:
            raise ValueError("Load a map first: a session file holds the steps taken on a map.")
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2)
        with atomic_file(path, overwrite=True) as tmp:  # an older session.json is replaced whole, never half-written
            tmp.write_text(text)
        return path

    def restore(self, state, progress=None):
        """Replay a session dict (or a path to a session file) on this session."""
        if isinstance(state, (str, Path)):
            from phaselib.io._checks import check_input_path, unreadable

            path = check_input_path(state, what="a session file")  # a FIFO would hang, a device never end
            if path.stat().st_size > MAX_SESSION_BYTES:
                raise ValueError(f"'{path.name}' is too big for a session file (a few kB).")
            try:
                state = json.loads(path.read_text())
            except PermissionError:
                raise unreadable(path) from None
            except (OSError, ValueError, RecursionError) as err:
                raise ValueError(f"'{path.name}' is not a session file ({type(err).__name__}).") from None
        state = check_state(state)
        cal = state.get("calibration") or (None, None)
        self.load(state["source"], energy_offset=cal[0], energy_scale=cal[1], axis=state.get("axis"))
        if state.get("crop"):
            r0, r1, c0, c1 = state["crop"]
            self.crop((r0, r1), (c0, c1))
        if cal[0] is not None:
            self.set_calibration(*cal)
        if state.get("has_decomposition"):
            from .pipeline import start_map

            start_map(self, progress)  # as a new map starts: the low-count start sets the phases tested as `auto`
            self.decompose(state["algorithm"], state["n_components"], progress)
        if state.get("has_clustering"):
            self.run_clustering(state["cluster_method"], state["n_clusters"], state["membership_threshold"])
        self.overrides = {int(k): float(v) for k, v in state.get("overrides", {}).items()}
        if state.get("has_labels"):
            self.phase_map(state["phase_source"], min_size=state["min_size"], beta=state.get("beta", 2.0))
            if state.get("has_minerals"):
                self.name_minerals()  # the phase spectra's names, as the saved page showed them
        if state.get("has_grains"):
            self.run_grains(**state.get("grain_options", {}))
        _repaint(self, state)
        return self


def _named(session) -> bool:
    """Whether the phases' minerals were named (one name per phase of the current map)."""
    return bool(session.minerals) and session.spectra is not None and len(session.minerals) == len(session.spectra.sums)


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
