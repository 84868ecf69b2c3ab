"""Argument checks shared by every public function: one message style, one rule for errors.

A value of the wrong *type* raises :class:`TypeError`; a value of the right type that is out
of range (not finite, negative, too large, empty) raises :class:`ValueError`. Messages name
the argument in backquotes and end with what was given:
"`beta` must be a number >= 0, got -1.". Booleans are never accepted as numbers.
"""

from __future__ import annotations

import math
import os
import re
from numbers import Integral, Real

import numpy as np

from ._image import SpectrumImage

__all__ = ["check_image", "check_number", "check_positive", "check_int", "check_auto", "check_choice",
           "check_array", "check_labels", "check_path", "check_seed", "plain_text"]

#: Python's and NumPy's own phrases for a bad value, some quoting it (it may come from a file), in plain words
_RAW_PHRASES = (
    (re.compile(r"could not convert string to (?:float|complex): .*"), "a text where a number was expected"),
    (re.compile(r"invalid literal for int\(\) with base \d+: .*"), "a text where a whole number was expected"),
    (re.compile(r"(?:float|int|complex)\(\) argument must be .*"), "a value of another kind where a number was "
     "expected"),
    (re.compile(r"zero-size array to reduction operation .*"), "an empty array"),
)


def plain_text(text) -> str:
    """``text`` with Python's and NumPy's own phrases for a bad value replaced by plain words: the value
    they quote may be a file's content (``could not convert string to float: '<a line of the file>'``)."""
    text = str(text)
    for pattern, words in _RAW_PHRASES:
        text = pattern.sub(words, text)
    return text


def _given(value) -> str:
    return repr(value) if isinstance(value, (Real, str, type(None))) else f"{type(value).__name__} {value!r}"


def check_image(image, name="image") -> SpectrumImage:
    """``image`` itself, if it is a :class:`~phaselib.SpectrumImage`; else :class:`TypeError`."""
    if not isinstance(image, SpectrumImage):
        raise TypeError(f"`{name}` must be a SpectrumImage (use phaselib.load()), got {type(image).__name__}.")
    return image


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def check_number(value, name, *, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False) -> float | None:
    """A finite real number in ``[low, high]`` (ends excluded when ``low_open``/``high_open``).

    Raises
    ------
    TypeError
        If `value` is not a real number (or None when `allow_none`).
    ValueError
        If it is not finite or outside the range.
    """
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a number, got {_given(value)}.")
    v = float(value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or bad_low or bad_high:
        raise ValueError(f"`{name}` must be {_range_text('a number', low, high, low_open, high_open)}, "
                         f"got {value!r}.")
    return v


def check_positive(value, name, *, allow_zero=False, allow_none=False) -> float | None:
    """A finite number ``> 0`` (``>= 0`` with `allow_zero`); see :func:`check_number`."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a {'non-negative' if allow_zero else 'positive'} number, "
                        f"got {_given(value)}.")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be a {'non-negative' if allow_zero else 'positive'} number, "
                         f"got {value!r}.")
    return v


def check_int(value, name, *, low=1, high=None, allow_auto=False, allow_none=False):
    """An integer in ``[low, high]``; ``"auto"`` / None passed through when allowed.

    Raises
    ------
    TypeError
        If `value` is not an integer (booleans and floats included), nor an allowed
        ``"auto"`` / None.
    ValueError
        If it is outside the range.
    """
    if (value is None and allow_none) or (allow_auto and check_auto(value)):
        return value
    what = _range_text("an integer", low, high, False, False)
    if allow_auto:
        what += ' or "auto"'
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"`{name}` must be {what}, got {_given(value)}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"`{name}` must be {what}, got {value!r}.")
    return int(value)


def check_auto(value) -> bool:
    """Whether `value` is the string ``"auto"``."""
    return isinstance(value, str) and value == "auto"


def check_choice(value, name, choices):
    """`value` if it is one of `choices` (compared with ``==``), else :class:`ValueError`."""
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}, got {value!r}.")
    return value


def check_array(value, name, *, ndim=None, finite=True, kind=None) -> np.ndarray:
    """``np.asarray(value)`` with `ndim` dimensions, finite values and a dtype kind in `kind`.

    Raises
    ------
    TypeError
        If its dtype kind is not in `kind` (e.g. ``"biuf"``).
    ValueError
        If it has the wrong number of dimensions or holds NaN / infinite values.
    """
    a = np.asarray(value)
    if kind is not None and a.dtype.kind not in kind:
        raise TypeError(f"`{name}` must hold {_KINDS.get(kind, kind)} values, got dtype {a.dtype}.")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"`{name}` must be a {ndim}-D array, got shape {a.shape}.")
    if finite and a.dtype.kind in "fc" and not np.all(ok := np.isfinite(a)):
        first = tuple(int(i) for i in np.unravel_index(np.argmin(ok), a.shape))
        raise ValueError(f"`{name}` holds {a.size - int(np.count_nonzero(ok))} NaN or infinite values (the first at "
                         f"{first}); replace them first (numpy.nan_to_num, or a neighbour's value).")
    return a


#: class ids of any label map (classify, deep segmentation) are below this: -1 is unlabelled
MAX_CLASSES = 1000
#: the most phases or components asked of map_phases (a rock holds a few tens of phases at most; the tests between
#: phases grow with the cube of their number: a 40 x 50 map asked for 999 ran for hours)
MAX_ASKED = 64
#: phase ids of a phase map are below this (a bigger index is a damaged or foreign map, not a phase map)
MAX_PHASES = 10_000
#: iterations / sweeps of an iterative step above this are a typing slip, not a setting (each takes a pass
#: over the map: 10**9 of them is days)
MAX_ITER = 10_000


def check_labels(value, name, *, high=MAX_PHASES, low=-1, ndim=None, shape=None) -> np.ndarray:
    """An integer (or boolean) label array whose values lie in ``low .. high - 1`` (-1: unassigned; ``low=None``:
    any negative value is unassigned); unsigned integers come back signed.

    A label of 10**9 would size every per-label table (counts, matching, masks) at 10**9 entries: a
    ``MemoryError`` or hours, not a message. ``shape``: the shape it must have (another map's).
    """
    a = check_array(value, name, ndim=ndim, kind="biu")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"`{name}` must have the shape {tuple(shape)} of the map it goes with, got {a.shape}.")
    if a.size and a.dtype.kind != "b" and ((low is not None and a.min() < low) or a.max() >= high):
        first = "a negative number (unassigned)" if low is None else f"{low}" + (" (unassigned)" if low == -1 else "")
        raise ValueError(f"`{name}` must hold labels from {first} to {high - 1}, got {a.min()} to {a.max()}.")
    if a.dtype.kind == "u":  # signed, so that -1 (unassigned) set later stays -1: in uint8 it wrapped to 255
        a = a.astype(np.int32 if a.dtype.itemsize < 4 else np.int64)
    return a

_KINDS = {"biuf": "boolean or numeric", "iu": "integer", "biu": "integer or boolean", "iuf": "numeric",
          "f": "floating-point", "b": "boolean"}


def _range_text(what, low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return f"{what} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{what} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{what} {'<' if high_open else '<='} {high:g}"
    return what


def check_instance(value, cls, name, what=None):
    """``value`` if it is an instance of ``cls``; else :class:`TypeError` (``what``: how to get one)."""
    if not isinstance(value, cls):
        how = f" ({what})" if what else ""
        raise TypeError(f"`{name}` must be a {cls.__name__}{how}, got {type(value).__name__}.")
    return value


def check_seed(value, name="random_state"):
    """A seed for ``np.random.default_rng``: None, an integer in ``[0, 2**63)``, or a Generator / SeedSequence."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return value
    return check_int(value, name, low=0, high=2**63 - 1)


def check_path(value, name="path"):
    """``value`` if it is a path (str or ``os.PathLike``); else :class:`TypeError` (``Path(5)``'s own text is
    "expected str, bytes or os.PathLike object, not int")."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path, got {type(value).__name__}.")
    return value


def check_some_assigned(labels, method, *, membership_threshold=0.5, min_size=0):
    """Raise a ValueError saying which setting left no phase when every pixel of ``labels`` is unassigned (-1)
    after the clustering or thresholding of ``method`` (rather than an error about zero phases further on)."""
    if (np.asarray(labels) >= 0).any():
        return
    if method == "fuzzy-cmeans":
        why = (f"no pixel reaches the membership threshold {membership_threshold:g} of fuzzy c-means; give a lower "
               "threshold (the default is 0.5)")
    elif method == "nmf-otsu" and min_size:
        why = f"the minimum size {min_size} px removes every object of the Otsu masks; give a smaller one"
    else:
        why = "every pixel was left unassigned; ask for fewer phases or give a bigger map"
    raise ValueError(f"No phase is left: {why}.")
