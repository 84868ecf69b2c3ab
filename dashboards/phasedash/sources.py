"""What the dashboard opens: ``sample:NAME``, ``synthetic:HxW[:counts]``, ``synthetic-tof:HxW`` (a neutron
time-of-flight transmission cube, ``signal="intensity"``) or a file on the server."""

from __future__ import annotations

import numpy as np

from phaselib import io

from .confine import PageError, input_path, quotes_file, shown_name, user_message

#: largest map the dashboard explores interactively (pixels x channels)
MAX_VALUES = 200_000_000
#: largest synthetic map: pixels, side, counts per pixel
MAX_SYNTHETIC_PIXELS = 400 * 400
MAX_SYNTHETIC_SIDE = 400
MAX_SYNTHETIC_COUNTS = 5000
#: what the axis and values of a ``.npy`` map are, the page's choice: (signal, axis name, units); "auto": X-ray
#: counts in keV, or intensities on an unnamed axis when the values cannot be counts
NPY_AXES = {"auto": None, "energy (keV), X-ray counts": ("counts", "Energy", "keV"),
            "wavelength (Å), intensity (ToF, transmission)": ("intensity", "Wavelength", "Å"),
            "time of flight (ms), intensity": ("intensity", "Time of flight", "ms"),
            "channel, intensity": ("intensity", "Channel", "")}


def open_source(source, *, energy_offset=None, energy_scale=None, axis=None):
    """The map named by ``source`` and, for a synthetic rock, its truth.

    Returns
    -------
    image : SpectrumImage
    truth, phase_names, grain_ids : ndarray, tuple, ndarray or None
        True labels, mineral names and grain ids of a synthetic rock (None for real maps).

    ``axis`` (a key of :data:`NPY_AXES`) says what a ``.npy`` map's axis and values are.

    Raises
    ------
    ValueError
        For an unknown name, a missing calibration of a ``.npy``, or a map too big to explore.
    """
    from phaselib import datasets  # generators and sample paths (skimage, scipy.spatial) only when asked

    source = str(source).strip()
    truth = names = true_grains = None
    if source.startswith("synthetic-tof:"):  # Bragg edges of Fe, Ni, Al, Cu pieces of varying thickness
        h, w, _ = synthetic_size(source.replace("synthetic-tof:", "synthetic:"))
        tof = datasets.make_tof((h, w), 661, seed=0)
        image, truth, names = tof.image, tof.labels, tof.names
    elif source.startswith("synthetic:"):
        h, w, counts = synthetic_size(source)
        rock = datasets.make_rock((h, w), counts_per_pixel=counts, seed=0)
        image, truth, names, true_grains = rock.image, rock.labels, rock.phase_names, rock.grain_ids
    else:
        if not source:
            raise ValueError("Choose a bundled map or give a file to load.")
        kw = {}
        if source.startswith("sample:"):
            path = datasets.sample_path(source.split(":", 1)[1])
        else:
            path = input_path(source)  # inside the data folder, a regular file: else a PageError
        if path.name.lower().endswith(".npy"):
            if energy_offset is None or energy_scale is None:
                raise ValueError("A .npy map needs its calibration: set the energy offset and scale first.")
            kw = dict(energy_offset=energy_offset, energy_scale=energy_scale)
        image = _load(path, kw)
        bare = kw or image.axis_name == "Channel"  # a .npy, a TIFF stack or FITS frames: no axis in the file
        chosen = NPY_AXES.get(axis or "auto", "unknown") if bare else None
        if chosen == "unknown":
            raise ValueError(f"Choose the map's axis among: {', '.join(NPY_AXES)}.")
        if chosen:
            image = image.replace(**chosen_axis(axis))
        elif kw and io.has_fractions(image.data):  # a .npy of values that cannot be counts
            image = image.replace(signal="intensity", axis_name="Signal axis", axis_units="")
        elif image.is_counts and not image.is_energy_axis and image.units != "eV":
            image = image.replace(signal="intensity")  # counts on a ToF axis: by their shapes (map refuses them)
        if image.is_lazy:
            raise ValueError("This map is too big to explore interactively here; run "
                             "`python -m phaselib precompute` on it and open the results.")
        if image.n_pixels * image.n_channels > MAX_VALUES:
            raise ValueError(f"This map ({image.shape[0]} x {image.shape[1]} x {image.n_channels}) is too big "
                             "for a dashboard; crop it first (phaselib.preprocess.crop) or precompute it.")
    return image, truth, names, true_grains


def caught(fn):
    """``(fn(), notes)``: the warnings ``fn`` gave (a reader's: a .npy that looks channels-first, a pixel size that
    is not plausible), as texts for the page, not only the kernel's log."""
    import warnings

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", UserWarning)
        try:
            out = fn()
        except (ValueError, OSError) as err:  # the warnings said first (a channels-first .npy) are the cause
            notes = [str(w.message) for w in said if issubclass(w.category, UserWarning)]
            if notes:
                err.args = (" ".join([*dict.fromkeys(notes), str(err)]),)
            raise
    return out, list(dict.fromkeys(str(w.message) for w in said if issubclass(w.category, UserWarning)))


def chosen_axis(axis):
    """``signal``, ``axis_name`` and ``axis_units`` of a key of :data:`NPY_AXES` (``{}`` for "auto" or None)."""
    kind = NPY_AXES.get(axis or "auto")
    return dict(zip(("signal", "axis_name", "axis_units"), kind)) if kind else {}


def axis_key(image):
    """The key of :data:`NPY_AXES` that gives this map's axis and values ("auto" when none does; None for no map)."""
    if image is None:
        return None
    kind = (image.signal, image.axis_name, image.axis_units)
    return next((k for k, v in NPY_AXES.items() if v == kind), "auto")


def named_lines(image, spectrum, **kw):
    """The strongest named X-ray lines of a spectrum (:func:`phaselib.quantify.identify_lines`); none for a map
    that is not EDS (another axis, or intensities)."""
    from phaselib import quantify

    if not image.is_eds:
        return []
    return quantify.lines_of(spectrum, image.energy_keV, beam_energy=image.beam_energy, **kw)


def summed(data, axis=0):
    """Sum over ``axis``: exact integers for counts, float64 for intensities (never truncated; values that are
    not finite, the dead channels of a cube, left out)."""
    if data.dtype.kind != "f":
        if data.dtype.itemsize >= 8 and data.size and data.sum(axis, dtype=np.float64).max() >= 2.0**62:
            # 64-bit integers whose sums pass int64's range: wrapped sums, read as a map of nothing
            raise ValueError("The map's counts are far too large to be counts (sums over 2**62): damaged, or not "
                             "a map of counts.")
        return data.sum(axis, dtype=np.int64)
    finite = np.isfinite(data)
    return data.sum(axis, dtype=np.float64) if finite.all() else np.where(finite, data, 0).sum(axis, dtype=np.float64)


def synthetic_size(source):
    """``(h, w, counts)`` of ``synthetic:HxW[:counts]``, within the dashboard's bounds, else ValueError."""
    parts = str(source).strip().split(":")
    try:
        h, w = (int(v) for v in parts[1].lower().split("x"))
        counts = float(parts[2]) if len(parts) > 2 else 200.0
        if len(parts) > 3 or not np.isfinite(counts):
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"Synthetic maps are named 'synthetic:HxW[:counts]', e.g. 'synthetic:200x300', "
                         f"got {str(source)[:40]!r}.") from None
    side = MAX_SYNTHETIC_SIDE
    if not (4 <= h <= side and 4 <= w <= side) or h * w > MAX_SYNTHETIC_PIXELS:
        raise ValueError(f"A synthetic map of {h} x {w} pixels is outside what a dashboard makes: each side "
                         f"4 to {side} pixels (max {side} x {side}).")
    if not 1 <= counts <= MAX_SYNTHETIC_COUNTS:
        raise ValueError(f"A synthetic map takes 1 to {MAX_SYNTHETIC_COUNTS} counts per pixel, got {counts:g}.")
    return h, w, counts


def _load(path, kw):
    """:func:`phaselib.load`, its errors told without server paths, raw Python text or the file's contents."""
    try:
        return io.load(str(path), **kw)
    except Exception as err:  # noqa: BLE001 - every failure to read becomes a message naming the file
        text = user_message(err, f"reading {shown_name(path)}")
        if text.startswith("Something went wrong (") or quotes_file(text, path):
            text = (f"{shown_name(path)}: could not be read as a map (the file is damaged or not in a format "
                    f"this page reads).")
        raise PageError(text) from None


def grain_score(grains, labels, true_grains, crop_box=None):
    """``morphology.score_grains`` of a GrainMap against a synthetic map's true grain ids, else None.

    Only the true grains on the pixels of the phases separated count (grains of 10 px and more).
    """
    if true_grains is None or grains is None or labels is None:
        return None
    from phaselib.morphology import score_grains

    true = true_grains
    if crop_box is not None:
        r0, r1, c0, c1 = crop_box
        true = true[r0:r1, c0:c1]
    if true.shape != grains.labels.shape:
        return None
    chosen = np.isin(labels, grains.params.get("phases", []))
    try:
        return score_grains(grains.labels, np.where(chosen, true, 0), min_area=10)
    except ValueError:  # no true grain there
        return None
