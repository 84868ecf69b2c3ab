"""Synthetic SEM-EDS spectrum images of a rock, with ground truth.

A texture of touching mineral grains (a weighted Voronoi tessellation with a spread of
grain sizes), a fine-grained groundmass of the main minerals and small inclusions of the
minor ones; every pixel belongs to exactly one phase. Each phase has an expected EDS
spectrum computed from its formula (X-ray lines of eXSpy's database, overvoltage and
fluorescence yield, specimen absorption, detector resolution and window, a Kramers
background). Counts are Poisson samples, drawn with one random stream per image row, so a
map is the same whether it is made in memory (:func:`make_rock`) or written to disk block
by block (:func:`write_rock`). ``_rock.py``: the maps; ``_texture.py``: the textures and
touching discs; ``_minerals.py``: compositions and expected spectra. :func:`sample_path`: the
bundled real maps.

Examples
--------
>>> rock = make_rock((64, 80), counts_per_pixel=100, seed=1)
>>> rock.image.data.shape, rock.phase_names[0]
((64, 80, 2048), 'albite')
"""

from ._minerals import FORMULAS, GLASSES, MINERALS, RIMS
from ._phenocrysts import make_phenocrysts
from ._presets import make_rich_rock, rich_rock_options
from ._rock import DEFAULT_MINERALS, SyntheticRock, load_rock, make_rock, phase_spectra, sample_path, write_rock
from ._spots import SpottyImage, make_spotty_radiograph
from ._texture import make_discs, make_texture
from ._thinsection import ThinSection, make_thin_section, render_thin_section, write_training_folder
from ._tof import DEFAULT_TOF_MATERIALS, TOF_MATERIALS, SyntheticToF, bragg_edges, make_tof

__all__ = ["DEFAULT_MINERALS", "FORMULAS", "MINERALS", "SyntheticRock", "load_rock", "make_discs", "make_rock",
           "make_texture", "phase_spectra", "sample_path", "write_rock",
           "GLASSES", "RIMS", "make_rich_rock", "rich_rock_options", "make_phenocrysts",
           "SpottyImage", "make_spotty_radiograph"]
__all__ += ["ThinSection", "make_thin_section", "render_thin_section", "write_training_folder"]
__all__ += ["DEFAULT_TOF_MATERIALS", "TOF_MATERIALS", "SyntheticToF", "bragg_edges", "make_tof"]
