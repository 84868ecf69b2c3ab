"""Supervised phase maps: every pixel classified from a few labelled ones.

When clustering fails (10-20 counts per pixel, minerals alike), painting a few pixels of each
phase gives the answer: :func:`classify` learns the classes from them and labels every pixel.

Classifiers
    ``"poisson"`` (default): the summed spectrum of each class's labelled pixels is its
    template; every pixel gets the exact Poisson (multinomial) log-likelihood under each
    template, a Potts spatial prior (:func:`phaselib.lowcount.potts_mean_field`) turns these
    into posteriors, and a few semi-supervised EM steps re-estimate the templates from all
    pixels (the labelled ones stay in their class). Twenty labelled pixels at 20 counts are 400
    counts per template; after EM, thousands. ``"knn"`` and ``"rf"``: k-nearest neighbours and
    a random forest (scikit-learn) on the Poisson-weighted PCA scores of
    :func:`phaselib.decompose.pca`, with Gaussian-smoothed copies of the score maps
    (``skimage.feature.multiscale_basic_features``).
Scores
    A stratified k-fold cross-validation on the labelled pixels (``min(5, smallest class)``
    folds) gives the confusion matrix and per-class precision, recall and F1
    (:attr:`Classification.confusion`, :meth:`Classification.scores`); for ``"poisson"`` each
    fold maps the whole image without the held-out labels, prior and EM included.

Examples
--------
>>> from phaselib import datasets
>>> rock = datasets.make_rock((60, 80), counts_per_pixel=20, seed=1)
>>> result = classify(rock.image, sample_labels(rock.labels, 20))
>>> result.labels.shape, result.confusion.shape
((60, 80), (6, 6))
"""

from ._core import (
                    CLASSIFIERS,
                    DEFAULT_BETA,
                    DEFAULT_CLASSIFIER,
                    Classification,
                    classify,
                    confusion_scores,
                    default_classifier,
                    sample_labels,
)
from ._save import RESULT_FILES, read_labels, save_classification, write_confusion

__all__ = ["CLASSIFIERS", "DEFAULT_BETA", "DEFAULT_CLASSIFIER", "RESULT_FILES", "Classification", "classify",
           "confusion_scores", "default_classifier", "read_labels", "sample_labels", "save_classification",
           "write_confusion"]
