"""HyperSpy in and out: signals to :class:`SpectrumImage`, phase maps and decompositions back to signals.

HyperSpy stays an optional dependency: it is imported only inside the functions that build
signals (:func:`phase_map_to_hyperspy`); reading a signal needs only its attributes.
"""

from __future__ import annotations

import numpy as np

from ._image import SpectrumImage

_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "μm": 1.0, "nm": 1e-3, "pm": 1e-6}


def is_signal(obj) -> bool:
    """True for a HyperSpy signal (anything with an ``axes_manager`` and ``data``), without importing HyperSpy."""
    return hasattr(obj, "axes_manager") and hasattr(obj, "data") and hasattr(obj, "metadata")


def one_spectrum_image(obj):
    """``obj``, or the one spectrum image of a list of HyperSpy signals (``hs.load("map.bcf")`` returns the BSE and
    SE images with it); a ValueError naming the signals when the list holds none or several."""
    if not isinstance(obj, (list, tuple)) or not obj or not all(is_signal(s) for s in obj):
        return obj
    maps = [s for s in obj if s.axes_manager.signal_dimension == 1 and s.axes_manager.navigation_dimension >= 1]
    if len(maps) == 1:
        return maps[0]
    shown = "; ".join(f"[{i}] {type(s).__name__} {s.data.shape}" for i, s in enumerate(obj))
    raise ValueError(f"The list holds {len(maps) or 'no'} spectrum images ({shown}): pass one signal, "
                     "e.g. phaselib.load(signals[i]).")


def _hyperspy():
    try:
        import hyperspy.api as hs
    except ImportError:
        raise ImportError("HyperSpy signals need HyperSpy: pip install 'hyperspy>=2.5,<3' (and exspy for "
                          "EDS signals).") from None
    return hs


def _text(value) -> str:
    """A HyperSpy axis' name or units as text: "" where it has none (traitlets' ``Undefined`` prints as
    "<undefined>", which went into the phase map's axes as a name and units of its own)."""
    text = str(value).strip() if value is not None else ""
    return "" if text in ("None", "<undefined>") else text


def _md(signal, path, default=None):
    node = signal.metadata
    for key in path.split("."):
        if not hasattr(node, "has_item") or not node.has_item(key):
            return default
        node = node.get_item(key)
    return node


#: keV: no X-ray line lies beyond; an X-ray map's axis that runs further is not in keV (channel numbers, eV)
MAX_KEV = 500.0


def _check_xray_axis(values, units, kind):
    """A ValueError saying how to calibrate an X-ray map's signal axis that cannot be in keV (an EDS signal whose
    axis was never calibrated runs 0, 1, 2... 2047 "keV"; the phase tests then failed deep inside with
    "`energy_keV` runs to 2047")."""
    top = float(np.nanmax(np.abs(values))) if values.size else 0.0
    if top <= MAX_KEV:
        return
    said = f"in {units}" if units else "without units"
    raise ValueError(f"The signal axis of this {kind} runs {said} from {values[0]:g} to {values[-1]:g}: an X-ray map's "
                     f"energy axis in keV stays under {MAX_KEV:g} (channel numbers? eV?). Calibrate it in keV "
                     "(ax = s.axes_manager.signal_axes[0]; ax.offset, ax.scale, ax.units = -0.47, 0.01, 'keV'), or "
                     "give phaselib.load(s, energy_offset=..., energy_scale=...) in keV.")


def from_hyperspy(signal, *, signal_kind=None, check_axis=True) -> SpectrumImage:
    """A HyperSpy ``Signal1D`` map (eager or lazy, ``EDSSEMSpectrum`` included) as a :class:`SpectrumImage`.

    No copy is made: ``data`` is the signal's array (a dask array for a lazy signal, read in row
    blocks later).

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D
        Navigation ``(x, y)``, ``(x,)`` or none; one signal axis.
    signal_kind : {"counts", "intensity"}, optional
        Default: ``counts`` for EDS/EELS signals and those whose ``Signal.quantity`` mentions
        counts, else ``intensity``.
    check_axis : bool
        Refuse an X-ray map (an EDS signal, or counts on an axis without units) whose signal axis runs beyond
        :data:`MAX_KEV` keV (never calibrated: channel numbers), saying how to calibrate it. False where the
        caller gives the calibration (``phaselib.load(s, energy_offset=..., energy_scale=...)``).

    Returns
    -------
    SpectrumImage
        ``metadata["hyperspy_axes"]`` keeps the navigation axes (name, scale, offset, units).
    """
    if not is_signal(signal):
        raise TypeError(f"`signal` must be a HyperSpy signal, got {type(signal).__name__}.")
    am = signal.axes_manager
    if am.signal_dimension != 1 or am.navigation_dimension > 2:
        raise ValueError(f"A spectrum image must be a Signal1D with at most 2 navigation axes; got "
                         f"{am.navigation_dimension} navigation and {am.signal_dimension} signal axes.")
    data = signal.data
    if data.ndim == 1:
        data = data.reshape(1, 1, -1)
    elif data.ndim == 2:
        data = data.reshape(1, *data.shape)
    ax = am.signal_axes[0]
    units = _text(ax.units)
    name = _text(ax.name) or "Signal"
    stype = str(_md(signal, "Signal.signal_type", "") or "")
    unnamed = name == "Signal"  # a plain Signal1D given only its calibration in keV
    eds = stype.startswith("EDS") or (units in ("keV", "eV") and (unnamed or name.lower() in ("energy", "e")))
    quantity = str(_md(signal, "Signal.quantity", "") or "").lower()
    kind = signal_kind or ("counts" if eds or stype.startswith("EELS") or "count" in quantity else "intensity")
    kw = {}
    if eds:
        to_kev = 1e-3 if units == "eV" else 1.0
        values = np.asarray(ax.axis, dtype=np.float64) * to_kev
    else:
        values = np.asarray(ax.axis, dtype=np.float64)
        kw = dict(axis_name=name, axis_units=units)
    if check_axis and (eds or (kind == "counts" and not units)):
        _check_xray_axis(values, units, type(signal).__name__)
    nav = [dict(name=_text(a.name), scale=float(getattr(a, "scale", 1.0)), offset=float(getattr(a, "offset", 0.0)),
                units=_text(a.units), size=int(a.size)) for a in am.navigation_axes]  # x first, then y
    px = [_um(a) for a in nav]
    beam = (_md(signal, "Acquisition_instrument.SEM.beam_energy")
            or _md(signal, "Acquisition_instrument.TEM.beam_energy"))
    elements = tuple(_md(signal, "Sample.elements", ()) or ())
    step = float(values[1] - values[0]) if values.size > 1 else 1.0
    offset = float(values[0])
    if getattr(ax, "is_uniform", False):  # the axis' own offset and scale, not their float products
        to_kev = 1e-3 if eds and units == "eV" else 1.0
        offset, step, values = float(ax.offset) * to_kev, float(ax.scale) * to_kev, values[:1]
    return SpectrumImage(
        data, energy_offset=offset, energy_scale=step if step > 0 else 1.0,
        beam_energy=float(beam) if beam else None, pixel_size=px[0] if px else None,
        pixel_size_y=px[1] if len(px) > 1 else (px[0] if px else None), elements=elements,
        metadata={"hyperspy_axes": nav, "signal_type": stype, "title": str(_md(signal, "General.title", "") or "")},
        source=str(_md(signal, "General.original_filename", "") or "") or None, signal=kind,
        axis_values=values if values.size > 1 else None, **kw,
    )


def other_axis(axis, md):
    """``axis_name``, ``axis_units`` and ``signal`` of a file's signal axis (a dict) named and in units other than
    an X-ray energy (a neutron ToF cube saved by :func:`phaselib.save`: "Wavelength" in Å): {} for an energy axis,
    or one unnamed or without units (read in keV). ``signal``: counts when ``Signal.quantity`` says so, else
    intensity."""
    units = str(axis.get("units") or "").strip()
    name = str(axis.get("name") or "").strip()
    sig = md.get("Signal", {}) or {}
    if str(sig.get("signal_type") or "").startswith("EDS") or units in ("", "<undefined>", "keV", "eV") \
            or name.lower() in ("", "<undefined>", "energy", "e"):
        return {}
    counts = "count" in str(sig.get("quantity") or "").lower()
    return dict(axis_name=name, axis_units=units, signal="counts" if counts else "intensity")


def nav_axes_of_file(nav):
    """A file's navigation axes (RosettaSciIO's dicts, in the data's order), x first, as :func:`navigation_axes`
    keeps them (their offsets and names go back out through ``PhaseMap.to_hyperspy``); None for a non-uniform
    axis."""
    out = []
    for ax in nav[::-1]:
        scale, offset = ax.get("scale"), ax.get("offset", 0.0)
        if scale is None or not np.isfinite(float(scale)) or not np.isfinite(float(offset or 0.0)):
            return None
        out.append(dict(name=_text(ax.get("name")), scale=float(scale), offset=float(offset or 0.0),
                        units=_text(ax.get("units")), size=int(ax.get("size", 0))))
    return out or None


def _um(axis):
    """The axis' pixel size in µm: its step's size (a negative step is an axis running the other way), or None
    when its units are not a length or its step is zero or not finite."""
    factor = _LENGTH_TO_UM.get(axis["units"].strip())
    um = abs(axis["scale"]) * factor if factor else None
    return um if um is not None and np.isfinite(um) and um > 0 else None


def image_of(obj, pixel_size=None, outside=None):
    """``(array, pixel size in µm, outside pixels)`` of a map given to the grain steps: a HyperSpy image (a
    ``Signal2D`` such as ``PhaseMap.to_hyperspy()``'s labels, or a mask of one: its data, the size of its pixels
    in µm from its axes), a ``PhaseMap`` (its labels, pixel size and pixels holding no counts) or an array as it
    is. A `pixel_size` or `outside` given wins; None where nothing says (the caller's default, 1 µm).

    Raises ValueError for a signal whose pixels are not square (x and y steps more than 1 % apart)."""
    if is_signal(obj):
        am = obj.axes_manager
        axes = am.signal_axes if am.signal_dimension == 2 else am.navigation_axes
        if pixel_size is None and len(axes) == 2:
            x, y = (_um(dict(units=_text(a.units), scale=float(a.scale))) for a in axes)
            if x is not None and y is not None and abs(x - y) > 0.01 * max(x, y):
                raise ValueError(f"The signal's pixels are {x:g} x {y:g} µm, not square: give `pixel_size` (µm) "
                                 "after resampling it to square pixels.")
            pixel_size = x
        return np.asarray(obj.data), pixel_size, outside
    if hasattr(obj, "labels") and hasattr(obj, "image_info") and hasattr(obj, "blank"):  # a PhaseMap
        return (obj.labels, obj.image_info.get("pixel_size") if pixel_size is None else pixel_size,
                obj.blank if outside is None else outside)
    return obj, pixel_size, outside


def navigation_axes(image: SpectrumImage) -> list[dict]:
    """The map's axes as dicts (name, scale, offset, units, size), x first: kept from a HyperSpy signal, else
    from the pixel size (µm) or in pixels."""
    h, w, _ = image.shape
    kept = (image.metadata or {}).get("hyperspy_axes")
    if kept and [a["size"] for a in kept] == ([w, h] if len(kept) == 2 else [w]):
        return [dict(a) for a in kept]
    axes = []
    for name, size, px in (("x", w, image.pixel_size), ("y", h, image.pixel_size_y or image.pixel_size)):
        axes.append(dict(name=name, size=size, offset=0.0, scale=float(px) if px else 1.0,
                         units="µm" if px else "px"))
    return axes


def file_axes(image: SpectrumImage) -> list[dict]:
    """The navigation axes :func:`phaselib.save` writes (y, x; RosettaSciIO's dicts): those kept from a HyperSpy
    signal or file (names, units, offsets: a crop's offsets were written as 0, the names as "y" and "x"), else y
    and x in µm from the pixel size (1 where it is unknown)."""
    h, w, _ = image.shape
    kept = (image.metadata or {}).get("hyperspy_axes")
    if kept and [a["size"] for a in kept] == [w, h]:
        return [dict({k: a[k] for k in ("name", "units") if _text(a[k])}, size=a["size"], scale=a["scale"],
                     offset=a["offset"], navigate=True) for a in kept[::-1]]
    return [dict(name="y", size=h, scale=image.pixel_size_y or image.pixel_size or 1.0, offset=0.0, units="µm",
                 navigate=True),
            dict(name="x", size=w, scale=image.pixel_size or 1.0, offset=0.0, units="µm", navigate=True)]


def phase_map_to_hyperspy(phase_map):
    """(labels, spectra) as HyperSpy signals: see :meth:`phaselib.pipeline.PhaseMap.to_hyperspy`."""
    hs = _hyperspy()
    info = phase_map.image_info
    h, w = phase_map.labels.shape
    nav = info.get("axes") or [dict(name="x", size=w, offset=0.0, scale=1.0, units="px"),
                                dict(name="y", size=h, offset=0.0, scale=1.0, units="px")]
    # y, x; a name or units the input lacked stay unset (HyperSpy's own "undefined"), not the text "<undefined>"
    axes2d = [{k: a[k] for k in ("name", "size", "offset", "scale", "units") if k in ("size", "offset", "scale")
               or _text(a[k])} for a in nav[::-1]]
    if len(axes2d) == 1:
        axes2d = [dict(name="y", size=1, offset=0.0, scale=1.0, units="px"), *axes2d]
    labels = hs.signals.Signal2D(phase_map.labels.copy(), axes=axes2d)
    labels.metadata.General.title = f"phases ({phase_map.method})"
    labels.metadata.Signal.quantity = "Phase index"
    means = np.asarray(phase_map.spectra.means, dtype=np.float64)
    k, c = means.shape
    eds = info.get("signal", "counts") == "counts" and "axis_units" not in info
    if eds:
        sig_axis = dict(name="Energy", size=c, offset=info["energy_offset"], scale=info["energy_scale"], units="keV")
    else:
        sig_axis = dict(name=info.get("axis_name", "Signal"), size=c, offset=info["energy_offset"],
                        scale=info["energy_scale"], units=info.get("axis_units", ""))
    axes1d = [dict(name="Phase", size=k, offset=0, scale=1, units="", navigate=True),
              {**sig_axis, "navigate": False}]
    spectra = hs.signals.Signal1D(means, axes=axes1d)
    spectra.metadata.General.title = "mean spectrum of each phase"
    if eds:
        spectra.set_signal_type("EDS_SEM")
        if info.get("beam_energy"):
            spectra.metadata.set_item("Acquisition_instrument.SEM.beam_energy", info["beam_energy"])
        # the elements of the lines named in the phases, so that ``spectra.plot(True)`` marks them (it said "No
        # elements defined"); the lines themselves as named (Si_Ka...), where HyperSpy knows them
        found = [f for phase in phase_map.lines for f in phase]
        if found:
            spectra.metadata.set_item("Sample.elements", sorted({f["element"] for f in found}))
            spectra.metadata.set_item("Sample.xray_lines", sorted({f["line"] for f in found}))
    return labels, spectra


def to_learning_results(decomposition, signal):
    """Fill ``signal.learning_results`` with a phaselib decomposition, as HyperSpy's own
    ``signal.decomposition()`` would: ``plot_explained_variance_ratio``, ``plot_decomposition_results``,
    ``get_decomposition_loadings``... then work on it.

    Parameters
    ----------
    decomposition : phaselib.decompose.Decomposition
        Of the same map as `signal` (same navigation shape and channels).
    signal : hyperspy.signals.Signal1D

    Returns
    -------
    hyperspy.learn.mva.LearningResults
        ``signal.learning_results`` (filled in place; nothing else of the signal changes).

    Notes
    -----
    To compare with HyperSpy's own decomposition, make the PCA as it does: every channel and converged to the
    noise, ``pca(image, energy_range=(None, None), n_iter=25)`` (with the defaults, P45's 5th component came out
    10 % low and HyperSpy's ``cluster_analysis`` on 5 components agreed ARI 0.55 with its clusters on its own
    PCA; 0.97 so). ``number_significant_components`` is phaselib's count above the Poisson noise, not
    HyperSpy's elbow.
    """
    if not is_signal(signal):
        raise TypeError(f"`signal` must be a HyperSpy signal, got {type(signal).__name__}.")
    if not all(hasattr(decomposition, a) for a in ("factors", "loadings", "explained_variance", "params")):
        raise TypeError(f"`decomposition` must be a Decomposition, got {type(decomposition).__name__}.")
    am = signal.axes_manager
    nav_shape = tuple(a.size for a in am.navigation_axes[::-1])
    h, w, n = decomposition.loadings.shape
    c = decomposition.factors.shape[1]
    if int(np.prod(nav_shape)) != h * w or am.signal_axes[0].size != c:
        raise ValueError(f"The decomposition ({h} x {w} pixels, {c} channels) is not of this signal "
                         f"(navigation {nav_shape}, {am.signal_axes[0].size} channels).")
    lr = signal.learning_results
    lr.factors = np.asarray(decomposition.factors, dtype=np.float64).T  # (C, n)
    lr.loadings = np.asarray(decomposition.loadings, dtype=np.float64).reshape(h * w, n)
    lr.explained_variance = np.asarray(decomposition.explained_variance, dtype=np.float64)
    lr.explained_variance_ratio = np.asarray(decomposition.explained_variance_ratio, dtype=np.float64)
    lr.number_significant_components = decomposition.suggested_n_components
    lr.decomposition_algorithm = f"phaselib.{decomposition.algorithm}"
    lr.poissonian_noise_normalized = bool(decomposition.params.get("poisson", False))
    lr.output_dimension = n
    lr.mean = None
    lr.centre = None
    lr.unfolded = False
    lr.navigation_mask = None
    lr.signal_mask = None
    return lr
