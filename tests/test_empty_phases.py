"""A phase that the boundary steps leave with no pixel is taken out, never reported at 0 %."""

import numpy as np

from phaselib import datasets
from phaselib.pipeline import map_phases
from phaselib.refine import drop_empty


def test_drop_empty_renumbers_the_phases_left():
    labels = np.array([[0, 0, 2], [3, -1, 3]])
    lab, k, gone = drop_empty(labels, 5)
    assert k == 3 and lab.tolist() == [[0, 0, 1], [2, -1, 2]]
    assert [g["phase"] for g in gone] == [1, 4] and all(g["action"] == "emptied" for g in gone)
    same, k2, none = drop_empty(lab, 3)
    assert k2 == 3 and none == [] and same is lab


def test_a_tiny_map_reports_no_empty_phase():
    """7 x 5 pixels of a synthetic rock, 3 phases asked for: two chemistries are found, and the boundary steps
    gave every pixel of the second to the first (it was listed at 0 pixels before)."""
    rock = datasets.make_rock((60, 80), counts_per_pixel=100, seed=3)
    img = rock.image.__class__(np.ascontiguousarray(np.asarray(rock.image.data)[:7, :5]),
                               energy_offset=rock.image.energy_offset, energy_scale=rock.image.energy_scale,
                               beam_energy=rock.image.beam_energy)
    result = map_phases(img, n_phases=3)
    counts = np.bincount(result.labels[result.labels >= 0].ravel(), minlength=result.n_phases)
    assert result.n_phases == len(counts) and (counts > 0).all()
    assert [r["phase"] for r in result.table()] == list(range(result.n_phases)) + ["unassigned"]
    assert any(r["action"] == "emptied" for r in result.params["refinement"])
