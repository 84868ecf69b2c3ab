"""The beam step's ICM may give a pixel any phase, not only one of its neighbourhood's: a speck of one pixel that
the start gave to its host (no pixel of the speck's phase in its 3 x 3 neighbourhood) was out of reach of the
single-pixel moves; ``make_rock`` with a glass of 64 % at 200 counts/px (400 x 600): ARI 0.964 -> 0.970."""

import numpy as np

from phaselib import datasets, quantify
from phaselib.refine import beam_spread_fit

MINERALS = ["rhyolitic glass", "andesine", "magnetite"]


def _specked(seed=2):
    """Glass with andesine and magnetite crystals (so that the spread and the phases' spectra can be read) and 24
    one-pixel magnetite specks in the glass, under a 0.7 px beam at 200 counts/px."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((64, 96), np.int16)
    for i, r in enumerate(range(4, 64, 16)):
        for j, c in enumerate(range(4, 96, 24)):
            truth[r:r + 8, c:c + 10] = 1 if (i + j) % 4 else 2  # magnetite crystals too: its spectrum, inside them
    specks = []
    while len(specks) < 24:
        r, c = rng.integers(3, 61), rng.integers(3, 93)
        if not truth[r - 2:r + 3, c - 2:c + 3].any():
            truth[r, c] = 2
            specks.append((r, c))
    ids = np.arange(truth.size, dtype=np.int32).reshape(truth.shape) + 1  # every pixel its own crystal
    rock = datasets.make_rock(truth.shape, counts_per_pixel=200, minerals=MINERALS, texture=(truth, ids),
                              beam_spread=0.7, seed=seed)
    return rock, np.array(specks)


def test_one_pixel_specks_that_the_start_lost_are_found():
    rock, specks = _specked()
    truth = rock.labels.astype(np.int64)
    start = truth.copy()
    start[specks[:, 0], specks[:, 1]] = 0  # the start gave them to the glass
    sums = quantify.phase_spectra(rock.image, truth, 3).sums
    new, info = beam_spread_fit(rock.image, start, sums)
    assert info["sigma"] > 0
    found = new[specks[:, 0], specks[:, 1]] == 2
    assert found.mean() >= 0.8, found.mean()
    false = (new == 2) & (truth != 2)
    assert false.sum() <= 3, false.sum()  # no speck where there is none
    assert np.mean(new[truth == 1] == 1) >= 0.97


def test_a_phase_of_boundary_pixels_only_takes_no_specks():
    """A basalt at 170 eV (100 counts/px): the seeding adds a 28-pixel phase of boundary pixels (a Ti-band excess,
    mixed pixels of five phases) that the refinement then dissolves (under 0.05 % of the map). A speck sweep free to
    give any phase grew it to 60 pixels, kept as an eighth "hornblende". A speck may take only a phase read on inner
    pixels somewhere."""
    from phaselib.pipeline import map_phases

    rock = datasets.make_rich_rock((200, 300), kind="basalt", counts_per_pixel=100, seed=4, energy_resolution_MnKa=170)
    result = map_phases(rock.image)
    assert result.n_phases == rock.n_phases
    assert "dissolved" in [c["action"] for c in result.params["refinement"]]
