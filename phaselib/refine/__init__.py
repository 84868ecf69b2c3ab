"""Phases that mean something: merge phases a petrologist would call one, add the ones clustering missed.

Clustering with a fixed number of clusters splits big phases and merges small ones; the number
of PCA components above the noise counts directions of variation, not minerals (a zoned
plagioclase or a groundmass varying in K/Na adds components). After any clustering,
:func:`refine_phases` applies four tests, stated here so their limits are clear:

Seed (:func:`seed_phases`)
    In the count-normalised PCA feature space (:meth:`~phaselib.decompose.Decomposition.features`)
    a pixel's scatter around its phase's centre, scaled by ``sqrt(counts)``, is the Poisson noise
    plus the phase's own variation. Each phase's scatter is estimated robustly (its covariance,
    then again without its 2 % worst pixels); a pixel whose Mahalanobis distance to every phase
    passes the ``chi2(m)`` quantile at ``p_value`` is explained by none. Unexplained pixels are
    clustered; a cluster of at least ``min_pixels`` whose centre is not a mixture of two phases
    (a mixed pixel at a grain boundary lies on the segment between the two centres) seeds a new
    phase, which takes the pixels nearer its centre than their own.
Split (:func:`halves`, :func:`split_phases`)
    Each phase's pixels inside its regions are cut in two by k-means on their main axes of
    variation, and the phase is split when the halves' summed spectra are chemically distinct
    by the merge test below (a basalt's augite and glass in one k-means cluster; see
    :mod:`._split`).
Merge (:func:`merge_phases`)
    Each phase sum spectrum gives the net counts of the main line of every element seen
    (:func:`phaselib.quantify.line_intensities`); their shares (O and C left out: they are in
    every silicate and oxide, and strongly absorbed) describe its chemistry. Two phases are
    *distinct* when some element holds >= ``major`` (5 %) of one and at most a third of that
    share in the other, and that difference is significant (> ``z`` Poisson sigmas), or when such
    elements, each too minor alone, together hold >= ``major`` of one (a glass's K, Mg, Fe and Ti
    beside its plagioclase at 10 kV, where Fe K is barely excited). Zoning,
    Fe/Mg or Na/Ca exchange within a factor of 3, and pieces of one groundmass are therefore one
    phase; quartz / feldspar, albite / K-feldspar, augite / orthopyroxene, magnetite / ilmenite
    are two. Phases that are not distinct are merged, most alike first. With a number of phases
    asked for, the most alike pairs are merged until that number is reached instead.
Dissolve (:func:`boundary_phases`)
    A phase whose spectrum is a mixture of the others' and nearly all of whose pixels touch
    another phase is the mixed pixels along their boundaries, not a mineral; its pixels go to
    the phases around them (see :mod:`._mixed`).

After these, :func:`reassign_inclusions` gives to its phase each small blob that is an inclusion too small for
the beam mixed with its host (a magnetite inclusion in plagioclase clustered as "augite"; see :mod:`._inclusions`).
Then, on maps with counts enough per pixel, :func:`assign_mixed_pixels` gives each pixel of a
boundary to the dominant phase of the two-phase mixture (of the phases around it) that best explains
its counts, so that mixed pixels do not make rims of a third phase (see :mod:`._unmix`). Then
:func:`beam_spread_fit` reads the beam's spread from the map (the Gaussian mixing of neighbours' phases that
best explains the boundary pixels' counts) and relabels the boundary under it (see :mod:`._blur`);
:func:`relabel_boundaries` runs the three, the last two on one pass over the map.

Intensity cubes (transmission...) have no counts for these tests: their regions are tested on spectral-shape
scores by the dip of their 5 x 5 means (:func:`region_tests`, :mod:`._regions`).
"""

from ._asked import asked_map, asked_phases, merged_to
from ._blur import RULE as BEAM_RULE
from ._blur import beam_spread_fit
from ._boundary import relabel_boundaries
from ._inclusions import RULE as INCLUSION_RULE
from ._inclusions import reassign_inclusions
from ._merge import LIGHT, distinct_phases, merge_phases
from ._mixed import (
           boundary_phases,
           drop_empty,
           drop_specks,
           give_to_neighbours,
           mixes_two,
           own_element_phases,
           speck_phases,
)
from ._pixels import inside_pixels, is_thin
from ._refine import Refinement, describe_change, refine_phases
from ._regions import pair_dip, region_tests, split_dip, split_region
from ._seed import seed_phases
from ._split import halves, is_mixture, split_phases
from ._unmix import MIN_COUNTS as MIXED_MIN_COUNTS
from ._unmix import RULE as MIXED_RULE
from ._unmix import assign_mixed_phase_pixels, assign_mixed_pixels
from ._unmix import low_count_margin as mixed_margin

__all__ = ["BEAM_RULE", "INCLUSION_RULE", "LIGHT", "MIXED_MIN_COUNTS", "MIXED_RULE", "Refinement", "asked_map",
           "asked_phases", "assign_mixed_phase_pixels", "assign_mixed_pixels", "beam_spread_fit", "boundary_phases",
           "describe_change", "distinct_phases", "drop_empty", "drop_specks", "give_to_neighbours", "halves",
           "inside_pixels",
           "is_mixture", "is_thin", "merge_phases", "merged_to", "mixed_margin", "mixes_two", "own_element_phases",
           "pair_dip", "reassign_inclusions", "refine_phases", "region_tests", "relabel_boundaries", "seed_phases",
           "speck_phases", "split_dip", "split_phases", "split_region"]
