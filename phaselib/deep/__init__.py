"""Deep segmentation of cheap images (PP / XP optical, BSE) trained on EDS phase maps.

A small U-Net (plain PyTorch) learns, from images co-registered with an EDS (QEMSCAN-like)
phase map, to segment the images alone, so the few hours of an EDS map of a small area
label the minutes of optical or BSE imaging of a whole section:

=================  ==========================================================================
``_train``         :func:`train`: tiles, flips and rotations, brightness / colour shifts,
                   Dice + cross-entropy, a one-cycle schedule; writes the model (imports torch)
``_model``         the U-Net, the model file (state dict + JSON metadata), ONNX export (torch)
``_runner``        :func:`load_model` (ONNX Runtime, or torch) and :func:`predict`, tiled with
                   a margin above the receptive radius, so stitched windows equal one piece
``_data``          image sets found by file-name patterns, label maps, ``classes.csv``
``_netcdf``        netCDF in GeoSlicer's layout (xarray + h5netcdf)
``_evaluate``      per-class scores, modal fractions, the random-forest baseline, PNG panels
=================  ==========================================================================

Only ``_train`` and ``_model`` import torch (``pip install 'phaselib[deep]'``); prediction
from the ONNX twin needs ONNX Runtime only (``pip install 'phaselib[infer]'``), so this
package imports without torch. Synthetic images to learn from:
:func:`phaselib.datasets.make_thin_section`.
"""

from ._evaluate import Scores, predict_forest, score, train_forest
from ._netcdf import read_netcdf, write_netcdf
from ._runner import Segmenter, load_model, load_set, predict

__all__ = ["Scores", "Segmenter", "load_model", "load_set", "predict", "predict_forest", "read_netcdf",
           "score", "train", "train_forest", "write_netcdf"]


def train(images, out, **options):
    """Train a U-Net on a folder of images and label maps (see :func:`._train.train`; needs torch)."""
    try:
        from ._train import train as _train
    except ImportError as err:
        raise ImportError(f"training needs torch: pip install 'phaselib[deep]' ({err}).") from None
    return _train(images, out, **options)
