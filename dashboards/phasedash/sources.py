"""What the dashboard opens: ``sample:NAME``, ``synthetic:HxW[:counts]`` or a file on the server."""

from __future__ import annotations

import numpy as np

from phaselib import datasets, io

#: largest map the dashboard explores interactively (pixels x channels)
MAX_VALUES = 200_000_000
#: largest synthetic map (pixels)
MAX_SYNTHETIC_PIXELS = 400 * 400


def open_source(source, *, energy_offset=None, energy_scale=None):
    """The map named by ``source`` and, for a synthetic rock, its truth.

    Returns
    -------
    image : SpectrumImage
    truth, phase_names, grain_ids : ndarray, tuple, ndarray or None
        True labels, mineral names and grain ids of a synthetic rock (None for real maps).

    Raises
    ------
    ValueError
        For an unknown name, a missing calibration of a ``.npy``, or a map too big to explore.
    """
    source = str(source).strip()
    truth = names = true_grains = None
    if source.startswith("synthetic:"):
        parts = source.split(":")
        try:
            h, w = (int(v) for v in parts[1].lower().split("x"))
            counts = float(parts[2]) if len(parts) > 2 else 200.0
        except (ValueError, IndexError):
            raise ValueError(f"Synthetic maps are named 'synthetic:HxW[:counts]', got {source!r}.") from None
        if h * w > MAX_SYNTHETIC_PIXELS:
            raise ValueError(f"A synthetic map of {h} x {w} pixels is too big for a dashboard (max 400 x 400).")
        rock = datasets.make_rock((h, w), counts_per_pixel=counts, seed=0)
        image, truth, names, true_grains = rock.image, rock.labels, rock.phase_names, rock.grain_ids
    else:
        if not source:
            raise ValueError("Choose a bundled map or give a file to load.")
        kw = {}
        if source.startswith("sample:"):
            source = str(datasets.sample_path(source.split(":", 1)[1]))
        if source.lower().endswith(".npy"):
            if energy_offset is None or energy_scale is None:
                raise ValueError("A .npy map needs its calibration: set the energy offset and scale first.")
            kw = dict(energy_offset=energy_offset, energy_scale=energy_scale)
        image = io.load(source, **kw)
        if image.is_lazy:
            raise ValueError("This map is too big to explore interactively here; run "
                             "`python -m phaselib precompute` on it and open the results.")
        if image.n_pixels * image.n_channels > MAX_VALUES:
            raise ValueError(f"This map ({image.shape[0]} x {image.shape[1]} x {image.n_channels}) is too big "
                             "for a dashboard; crop it first (phaselib.preprocess.crop) or precompute it.")
    return image, truth, names, true_grains


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
