"""Rich synthetic rocks (:func:`make_rich_rock`): presets that make phase mapping hard.

A dominant phase over 50 %, an accessory at 0.1-0.5 %, zoned crystals, a glass groundmass
(volcanic rocks), mixed pixels along the boundaries and the detector's escape and sum
peaks, in one call, for tests that should not flatter the code.
"""

from __future__ import annotations

from .._validate import check_choice
from ._rock import make_rock

#: name -> (mineral, target fraction) pairs and the other options of each preset
_KINDS = {
    "basalt": dict(
        phases=(("labradorite", 0.52), ("augite", 0.14), ("olivine", 0.09),
                ("titanomagnetite", 0.03), ("ilmenite", 0.012), ("apatite", 0.003),
                ("basaltic glass", 0.205)),
        glass="basaltic glass", grain_size=14.0),
    "dacite": dict(
        phases=(("andesine", 0.53), ("quartz", 0.09), ("biotite", 0.08), ("K-feldspar", 0.03),
                ("magnetite", 0.025), ("apatite", 0.004), ("zircon", 0.0025),
                ("rhyolitic glass", 0.2385)),
        glass="rhyolitic glass", grain_size=14.0),
    "granite": dict(
        phases=(("K-feldspar", 0.52), ("quartz", 0.24), ("andesine", 0.15), ("biotite", 0.06),
                ("magnetite", 0.02), ("apatite", 0.004), ("zircon", 0.002)),
        glass=None, grain_size=18.0, matrix_fraction=0.0),
}
KINDS = tuple(_KINDS)


def rich_rock_options(kind="basalt"):
    """The :func:`make_rock` options of a preset (a new dict, to change or pass on).

    Parameters
    ----------
    kind : {"basalt", "dacite", "granite"}
        The rock (see :func:`make_rich_rock`).

    Returns
    -------
    dict
        ``minerals``, ``fractions``, ``glass``, ``grain_size`` (and ``matrix_fraction``),
        ``zoning=0.8``, ``beam_spread=0.7``, ``detector_artefacts=True``,
        ``exact_fractions=True``.
    """
    check_choice(kind, "kind", KINDS)
    spec = dict(_KINDS[kind])
    names, fractions = zip(*spec.pop("phases"))
    return dict(minerals=list(names), fractions=list(fractions), zoning=0.8, beam_spread=0.7,
                detector_artefacts=True, exact_fractions=True, **spec)


def make_rich_rock(shape=(200, 300), *, kind="basalt", counts_per_pixel=200.0, seed=0,
                   **options):
    """A synthetic rock with the features that make phase mapping hard, and its truth.

    Every preset has a dominant phase over 50 %, an accessory phase at 0.1-0.5 % (a 0.1 %
    phase is 60 pixels of a 200 x 300 map), zoned crystals (``zoning=0.8``), mixed pixels
    along every boundary (``beam_spread=0.7`` px) and the detector's Si escape and pile-up
    peaks (``detector_artefacts=True``):

    ``"basalt"``
        labradorite 52 % (An60 cores, An30 rims), augite 14 % and olivine 9 % (zoned to
        Fe-richer rims), titanomagnetite 3 %, ilmenite 1.2 %, apatite 0.3 %, in a basaltic
        glass (20.5 %).
    ``"dacite"``
        andesine 53 % (An40 to An20), quartz 9 %, biotite 8 %, K-feldspar 3 %, magnetite
        2.5 %, apatite 0.4 %, zircon 0.25 %, in a rhyolitic glass (23.9 %).
    ``"granite"``
        K-feldspar 52 %, quartz 24 %, andesine 15 % (zoned), biotite 6 %, magnetite 2 %,
        apatite 0.4 %, zircon 0.2 %; coarse (18 px grains), no groundmass.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` in pixels.
    kind : {"basalt", "dacite", "granite"}
        The rock.
    counts_per_pixel : float
        Mean total counts of a pixel.
    seed : int
        Random seed.
    **options
        Any other option of :func:`make_rock`; they replace the preset's (e.g.
        ``zoning=0`` to switch zoning off).

    Returns
    -------
    SyntheticRock
        As :func:`make_rock`; ``write_rock(path, shape, **rich_rock_options(kind))`` writes the
        same map to disk.

    Examples
    --------
    >>> rock = make_rich_rock((60, 80), kind="dacite", counts_per_pixel=50, seed=1)
    >>> rock.phase_names[0], rock.phase_names[-1]
    ('andesine', 'rhyolitic glass')
    """
    return make_rock(shape, **{**rich_rock_options(kind), "counts_per_pixel": counts_per_pixel,
                               "seed": seed, **options})
