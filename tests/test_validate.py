"""The one validation style: TypeError for a wrong type, ValueError for a wrong value, one message form."""

import numpy as np
import pytest

from phaselib import SpectrumImage, cluster, decompose, lowcount, morphology, preprocess
from phaselib._validate import check_array, check_choice, check_image, check_int, check_number, check_positive


@pytest.mark.parametrize("call, error, message", [
    (lambda: check_number("3", "x"), TypeError, "`x` must be a number, got '3'."),
    (lambda: check_number(True, "x"), TypeError, "`x` must be a number, got True."),
    (lambda: check_number(np.nan, "x"), ValueError, "`x` must be a number, got nan."),
    (lambda: check_number(2.0, "x", low=0, high=1), ValueError, r"`x` must be a number in \[0, 1\], got 2.0."),
    (lambda: check_number(1.0, "x", low=0, high=1, high_open=True), ValueError, r"in \[0, 1\)"),
    (lambda: check_positive(0, "x"), ValueError, "`x` must be a positive number, got 0."),
    (lambda: check_positive(None, "x"), TypeError, "`x` must be a positive number, got None."),
    (lambda: check_int(2.0, "n"), TypeError, "`n` must be an integer >= 1, got 2.0."),
    (lambda: check_int(np.bool_(True), "n"), TypeError, "`n` must be an integer >= 1"),
    (lambda: check_int(0, "n"), ValueError, "`n` must be an integer >= 1, got 0."),
    (lambda: check_int("many", "n", allow_auto=True), TypeError, '`n` must be an integer >= 1 or "auto"'),
    (lambda: check_choice("x", "method", ("a", "b")), ValueError, "`method` must be one of 'a', 'b', got 'x'."),
    (lambda: check_choice(1, "flag", (True, False)), ValueError, "`flag` must be one of True, False, got 1."),
    (lambda: check_array(np.zeros(3), "a", ndim=2), ValueError, r"`a` must be a 2-D array, got shape \(3,\)."),
    (lambda: check_array(np.array(["a"]), "a", kind="iu"), TypeError, "`a` must hold integer values"),
    (lambda: check_image(np.zeros((2, 2, 2))), TypeError, "`image` must be a SpectrumImage"),
])
def test_messages_and_types(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_values_pass_through():
    assert check_number(np.float32(0.5), "x", low=0, high=1) == 0.5
    assert check_int(np.int64(3), "n") == 3 and check_int("auto", "n", allow_auto=True) == "auto"
    assert check_int(None, "n", allow_none=True) is None
    img = SpectrumImage(np.ones((2, 2, 4), np.uint8))
    assert check_image(img) is img


@pytest.mark.parametrize("call", [
    lambda img: preprocess.crop(img.data),
    lambda img: decompose.pca(img.data),
    lambda img: decompose.nmf(img.data, 2),
    lambda img: lowcount.map_lowcount(img.data),
    lambda img: lowcount.mean_counts(img.data),
])
def test_every_step_rejects_a_plain_array_alike(call):
    img = SpectrumImage(np.ones((4, 4, 8), np.uint8))
    with pytest.raises(TypeError, match="`image` must be a SpectrumImage"):
        call(img)


@pytest.mark.parametrize("call", [
    lambda: cluster.kmeans(np.zeros((10, 2)), 2.5),
    lambda: decompose.pca(SpectrumImage(np.ones((4, 4, 8), np.uint8), energy_scale=1.0), n_components=2.0),
    lambda: morphology.separate_grains(np.ones((5, 5), bool), min_distance=1.5),
    lambda: lowcount.map_lowcount(SpectrumImage(np.ones((4, 4, 8), np.uint8)), n_iter="3"),
    lambda: preprocess.bin_spatial(SpectrumImage(np.ones((4, 4, 8), np.uint8)), "2"),
])
def test_wrong_types_are_type_errors_everywhere(call):
    with pytest.raises(TypeError, match="must be an integer"):
        call()
