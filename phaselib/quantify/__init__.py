"""Measures of a phase map: phase spectra (``_spectra.py``: row blocks, never ``(K, H, W, C)``;
incremental updates), modal fractions, element lines and net line intensities (``_lines.py``), the
modal table ``phases.csv`` and MSA files (``_table.py``)."""

from ._axis import axis_warnings, phase_lines
from ._lines import fwhm_at, identify_lines, line_intensities, lines_of, main_elements
from ._spectra import PhaseSpectra, modal_fractions, phase_spectra, phase_spectra_many, update_phase_spectra
from ._table import PHASE_TABLE_COLUMNS, phase_table, save_msa, write_phase_table

__all__ = ["PHASE_TABLE_COLUMNS", "PhaseSpectra", "axis_warnings", "fwhm_at", "identify_lines", "line_intensities",
           "lines_of", "main_elements", "modal_fractions", "phase_lines", "phase_spectra", "phase_spectra_many",
           "phase_table", "save_msa", "update_phase_spectra", "write_phase_table"]
